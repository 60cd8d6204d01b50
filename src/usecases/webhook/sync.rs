//! Profile sync of an already-linked user from Kratos, and the check that
//! refuses an email change to an address another user holds.

use identity_link_ports::{
    AuditOutcome, ChangeRecord, KratosIdentity, LinkError, Profile, User, UserId,
};
use serde_json::json;

use super::refusal::Refusal;
use crate::usecases::app::App;
use crate::usecases::link::{Journal, ResolveError};

/// What a sync did.
#[derive(Debug)]
pub enum Synced {
    /// The user now mirrors Kratos; `changed` names the fields written (empty: none).
    Done {
        user_id: UserId,
        changed: Vec<&'static str>,
    },
    Refused(Refusal),
}

fn changed_fields(user: &User, wanted: &Profile) -> Vec<&'static str> {
    let mut changed = Vec::new();
    if user.email.as_str() != wanted.email.as_str() {
        changed.push("email");
    }
    if user.first_name != wanted.first_name {
        changed.push("first_name");
    }
    if user.last_name != wanted.last_name {
        changed.push("last_name");
    }
    changed
}

/// Brings `user` (linked to `identity`) in line with Kratos.
///
/// # Errors
/// `DatabaseUnavailable` or `Internal`; an email held by another user is a refusal.
pub async fn sync_profile(
    app: &App,
    user: User,
    identity: &KratosIdentity,
    journal: &Journal<'_>,
) -> Result<Synced, ResolveError> {
    let Ok(kratos) = identity.profile(&app.policy.traits) else {
        return Ok(Synced::Refused(Refusal::TraitsMissing));
    };
    let wanted = user.synced_with(&kratos);
    let changed = changed_fields(&user, &wanted);
    if changed.is_empty() {
        return Ok(Synced::Done {
            user_id: user.id,
            changed,
        });
    }
    let record = ChangeRecord::audit(journal.context.event(
        "profile_synced",
        AuditOutcome::Ok,
        Some(identity.id),
        Some(user.id),
        super::with(journal.detail.clone(), json!({ "changed": changed })),
    ));
    match app
        .users
        .update_profile_recorded(user.id, &wanted, &record)
        .await
    {
        Ok(user) => Ok(Synced::Done {
            user_id: user.id,
            changed,
        }),
        Err(LinkError::EmailTaken) => Ok(Synced::Refused(Refusal::Duplicate)),
        Err(LinkError::Store(error)) => Err(error.into()),
        Err(other) => Err(ResolveError::Internal(anyhow::anyhow!(
            "profile sync of user {} failed: {other}",
            user.id
        ))),
    }
}

/// The user other than the one linked to `identity` who holds the email the
/// delivery says the identity is changing to, if any.
///
/// A settings hook that may interrupt runs before Kratos saves the change, so
/// Kratos still answers with the old email while the delivery carries the new
/// one: this is the only use of the delivery's traits for a saved identity,
/// and it can only refuse, never write.
///
/// # Errors
/// `DatabaseUnavailable` or `Internal`.
pub async fn email_change_conflict(
    app: &App,
    hint: &KratosIdentity,
    identity: &KratosIdentity,
) -> Result<Option<UserId>, ResolveError> {
    let Ok(hinted) = hint.profile(&app.policy.traits) else {
        return Ok(None);
    };
    let unchanged = identity
        .profile(&app.policy.traits)
        .is_ok_and(|current| current.email.matches(&hinted.email));
    if unchanged {
        return Ok(None);
    }
    Ok(app
        .users
        .find_by_email(&hinted.email)
        .await?
        .filter(|holder| holder.auth_id != Some(identity.id))
        .map(|holder| holder.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use identity_link_ports::Email;

    fn user(first: Option<&str>) -> User {
        User {
            id: UserId::generate(),
            email: Email::new("ada@example.com").unwrap(),
            first_name: first.map(str::to_owned),
            last_name: Some("Lovelace".into()),
            avatar_url: Some("https://example.com/ada.png".into()),
            auth_id: None,
            created_at: Utc::now(),
            linked_at: None,
        }
    }

    #[test]
    fn email_and_names_come_from_kratos_and_missing_names_and_the_avatar_are_kept() {
        let stored = user(Some("Ada"));
        let kratos = Profile {
            email: Email::new("Ada.King@example.com").unwrap(),
            first_name: Some("Augusta".into()),
            last_name: None,
            avatar_url: None,
        };
        let wanted = stored.synced_with(&kratos);
        assert_eq!(wanted.email.as_str(), "Ada.King@example.com");
        assert_eq!(wanted.first_name.as_deref(), Some("Augusta"));
        assert_eq!(wanted.last_name.as_deref(), Some("Lovelace"));
        assert_eq!(wanted.avatar_url, stored.avatar_url);
        assert_eq!(changed_fields(&stored, &wanted), ["email", "first_name"]);
    }

    #[test]
    fn an_identical_profile_changes_nothing() {
        let stored = user(None);
        let kratos = Profile {
            email: stored.email.clone(),
            first_name: None,
            last_name: None,
            avatar_url: None,
        };
        assert!(changed_fields(&stored, &stored.synced_with(&kratos)).is_empty());
    }
}
