//! What reconcile reports: one type per finding kind, and the profile
//! comparison that decides drift.

use chrono::{DateTime, Utc};
use identity_link_ports::{AuthId, Email, Profile, User, UserId};
use serde::{Serialize, Serializer};

/// A user linked to an identity Kratos no longer has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrphanedUser {
    pub user_id: UserId,
    pub identity_id: AuthId,
    pub email: String,
    pub linked_at: Option<DateTime<Utc>>,
}

/// An active identity no user is linked to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnlinkedIdentity {
    pub identity_id: AuthId,
    /// The email trait; the raw value when it is not a usable address, `null` when absent.
    pub email: Option<String>,
    /// Set when the traits lack a usable email (such an identity cannot be provisioned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A linked user whose email or names differ from the identity's traits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriftedUser {
    pub user_id: UserId,
    pub identity_id: AuthId,
    pub differences: Differences,
    /// What `--sync-profiles` did; absent without it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncOutcome>,
}

/// The differing fields only; `user` is the application's value, `identity` Kratos's.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Differences {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailDifference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<NameDifference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<NameDifference>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmailDifference {
    #[serde(serialize_with = "email_text")]
    pub user: Email,
    #[serde(serialize_with = "email_text")]
    pub identity: Email,
    /// Same mailbox, different letter case: syncing can never collide with another user.
    pub case_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NameDifference {
    pub user: Option<String>,
    pub identity: Option<String>,
}

/// What `--sync-profiles` did to one drifted user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum SyncOutcome {
    /// The user now has Kratos's email and names.
    Updated,
    /// Another user holds Kratos's email: nothing was changed.
    EmailTaken { held_by: Option<UserId> },
    /// The user was unlinked or relinked since the scan: nothing was changed.
    LinkChanged,
}

impl SyncOutcome {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Updated => "updated",
            Self::EmailTaken { .. } => "email_taken",
            Self::LinkChanged => "link_changed",
        }
    }
}

fn email_text<S: Serializer>(email: &Email, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(email.as_str())
}

/// A stored name as the comparison sees it: trimmed, empty meaning absent
/// (how `KratosIdentity::profile` reads names from traits).
fn name(raw: Option<&str>) -> Option<&str> {
    raw.map(str::trim).filter(|name| !name.is_empty())
}

fn name_difference(user: Option<&str>, identity: Option<&str>) -> Option<NameDifference> {
    let (user, identity) = (name(user), name(identity));
    (user != identity).then(|| NameDifference {
        user: user.map(str::to_owned),
        identity: identity.map(str::to_owned),
    })
}

impl Differences {
    /// How `user` differs from what a profile sync with the identity's
    /// `profile` would make it ([`User::synced_with`]); `None` when in sync.
    ///
    /// Emails compare exactly (both are trimmed): a difference in letter case
    /// only is still drift, since the address is shown and mailed as stored.
    /// Names compare exactly after trimming; a name Kratos lacks is kept, so it
    /// is no drift. The avatar is not compared.
    pub fn between(user: &User, profile: &Profile) -> Option<Self> {
        let profile = &user.synced_with(profile);
        let email = (user.email.as_str() != profile.email.as_str()).then(|| EmailDifference {
            user: user.email.clone(),
            identity: profile.email.clone(),
            case_only: user.email.matches(&profile.email),
        });
        let differences = Self {
            email,
            first_name: name_difference(user.first_name.as_deref(), profile.first_name.as_deref()),
            last_name: name_difference(user.last_name.as_deref(), profile.last_name.as_deref()),
        };
        (differences != Self::default()).then_some(differences)
    }

    /// The profile a sync writes: Kratos's value for each differing field, the
    /// user's own for the rest (the avatar included).
    pub fn apply_to(&self, user: &User) -> Profile {
        let pick = |difference: &Option<NameDifference>, own: &Option<String>| match difference {
            Some(difference) => difference.identity.clone(),
            None => own.clone(),
        };
        Profile {
            email: self
                .email
                .as_ref()
                .map_or_else(|| user.email.clone(), |email| email.identity.clone()),
            first_name: pick(&self.first_name, &user.first_name),
            last_name: pick(&self.last_name, &user.last_name),
            avatar_url: user.avatar_url.clone(),
        }
    }

    /// The names of the differing fields, for audit records and tables.
    pub fn fields(&self) -> Vec<&'static str> {
        [
            self.email.as_ref().map(|_| "email"),
            self.first_name.as_ref().map(|_| "first_name"),
            self.last_name.as_ref().map(|_| "last_name"),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn user(email: &str, first: Option<&str>, last: Option<&str>) -> User {
        User {
            id: UserId::generate(),
            email: Email::new(email).unwrap(),
            first_name: first.map(str::to_owned),
            last_name: last.map(str::to_owned),
            avatar_url: Some("https://example.com/a.png".into()),
            auth_id: Some(AuthId::new(Uuid::new_v4())),
            created_at: Utc::now(),
            linked_at: Some(Utc::now()),
        }
    }

    fn profile(email: &str, first: Option<&str>, last: Option<&str>) -> Profile {
        Profile {
            email: Email::new(email).unwrap(),
            first_name: first.map(str::to_owned),
            last_name: last.map(str::to_owned),
            avatar_url: None,
        }
    }

    #[test]
    fn identical_profiles_are_in_sync_whatever_the_avatar_or_blank_names() {
        let stored = user("ada@example.com", Some(" Ada "), Some(""));
        assert_eq!(
            Differences::between(&stored, &profile("ada@example.com", Some("Ada"), None)),
            None
        );
    }

    #[test]
    fn a_case_only_email_change_is_drift_marked_as_such() {
        let stored = user("ada@example.com", Some("Ada"), None);
        let differences =
            Differences::between(&stored, &profile("Ada@Example.com", Some("Ada"), None))
                .expect("drift");
        assert_eq!(differences.fields(), ["email"]);
        let email = differences.email.expect("email differs");
        assert!(email.case_only);
        assert_eq!(email.identity.as_str(), "Ada@Example.com");
    }

    #[test]
    fn name_changes_name_both_values_and_sync_keeps_the_rest() {
        let stored = user("ada@example.com", Some("Ada"), Some("Byron"));
        let kratos = profile("new@example.com", Some("Ada"), Some("Lovelace"));
        let differences = Differences::between(&stored, &kratos).expect("drift");
        assert!(!differences.email.as_ref().expect("email").case_only);
        assert_eq!(differences.first_name, None);
        assert_eq!(
            differences.last_name,
            Some(NameDifference {
                user: Some("Byron".into()),
                identity: Some("Lovelace".into()),
            })
        );
        let synced = differences.apply_to(&stored);
        assert_eq!(synced.email.as_str(), "new@example.com");
        assert_eq!(synced.first_name.as_deref(), Some("Ada"));
        assert_eq!(synced.last_name.as_deref(), Some("Lovelace"));
        assert_eq!(synced.avatar_url, stored.avatar_url, "the avatar is kept");
    }

    #[test]
    fn a_name_kratos_lacks_is_kept_so_it_is_no_drift() {
        let stored = user("ada@example.com", Some("Ada"), None);
        assert_eq!(
            Differences::between(&stored, &profile("ada@example.com", None, None)),
            None
        );
        let renamed = profile("ada@example.com", None, Some("Lovelace"));
        let differences = Differences::between(&stored, &renamed).expect("drift");
        assert_eq!(differences.fields(), ["last_name"]);
        assert_eq!(
            differences.apply_to(&stored).first_name.as_deref(),
            Some("Ada")
        );
    }

    #[test]
    fn findings_serialize_with_only_the_differing_fields() {
        let stored = user("ada@example.com", Some("Ada"), None);
        let drifted = DriftedUser {
            user_id: stored.id,
            identity_id: stored.auth_id.unwrap(),
            differences: Differences::between(
                &stored,
                &profile("ADA@example.com", Some("Ada"), None),
            )
            .unwrap(),
            sync: Some(SyncOutcome::EmailTaken { held_by: None }),
        };
        let json = serde_json::to_value(&drifted).unwrap();
        assert_eq!(json["user_id"], stored.id.to_string());
        assert_eq!(
            json["differences"],
            serde_json::json!({"email": {"user": "ada@example.com", "identity": "ADA@example.com", "case_only": true}})
        );
        assert_eq!(
            json["sync"],
            serde_json::json!({"outcome": "email_taken", "held_by": null})
        );
    }
}
