//! `external_id_mismatch`: with `WRITE_BACK_EXTERNAL_ID` on, a linked user
//! whose identity's `external_id` is missing or is not the user's id. Found
//! while identities are listed; `--sync-external-ids` repairs each one at once
//! by writing it to Kratos, and queues for `serve`'s worker what Kratos refuses
//! then (retried with backoff).

use identity_link_ports::{AuditOutcome, AuthId, KratosIdentity, User, UserId};
use serde::Serialize;
use serde_json::json;

use crate::usecases::app::App;
use crate::usecases::call::CallContext;
use crate::usecases::writeback;

/// A linked user whose identity does not name it as `external_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExternalIdMismatch {
    pub user_id: UserId,
    pub identity_id: AuthId,
    /// The identity's `external_id` now (`null`: none).
    pub external_id: Option<String>,
    /// What `--sync-external-ids` did: `written`, or `queued` (Kratos refused
    /// it now; the worker retries).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repair: Option<&'static str>,
}

/// The mismatch of `user` and its `identity`, if any.
pub fn mismatch(user: &User, identity: &KratosIdentity) -> Option<ExternalIdMismatch> {
    let wanted = user.id.to_string();
    (identity.external_id.as_deref() != Some(wanted.as_str())).then(|| ExternalIdMismatch {
        user_id: user.id,
        identity_id: identity.id,
        external_id: identity.external_id.clone(),
        repair: None,
    })
}

/// Writes each mismatch's `external_id`; what Kratos refuses is queued for the
/// worker. Returns how many were written now.
pub async fn repair(
    app: &App,
    context: &CallContext,
    mismatches: &mut [ExternalIdMismatch],
) -> u64 {
    let mut written = 0;
    for mismatch in mismatches.iter_mut() {
        match app
            .identities
            .set_external_id(mismatch.identity_id, mismatch.user_id)
            .await
        {
            Ok(()) => {
                written += 1;
                mismatch.repair = Some("written");
                app.audit.record(context.event(
                    "external_id_written",
                    AuditOutcome::Ok,
                    Some(mismatch.identity_id),
                    Some(mismatch.user_id),
                    json!({ "was": mismatch.external_id }),
                ));
            }
            Err(error) => {
                tracing::warn!(%error, identity_id = %mismatch.identity_id, "cannot write the external_id now; queued for the worker");
                mismatch.repair = Some("queued");
                writeback::after_link(app, mismatch.user_id, mismatch.identity_id, context).await;
            }
        }
    }
    written
}

#[cfg(test)]
mod tests {

    use identity_link_ports::{IdentityProvider, IdentityState};
    use uuid::Uuid;

    use super::*;
    use crate::usecases::app::Rules;
    use crate::usecases::reconcile::{reconcile, ReconcileOptions};
    use crate::usecases::test_support::{memory_world, seed_user};

    fn linked_identity(external_id: Option<String>) -> KratosIdentity {
        KratosIdentity {
            id: AuthId::new(Uuid::new_v4()),
            state: IdentityState::Active,
            traits: json!({"email": format!("{}@example.com", Uuid::new_v4())}),
            verifiable_addresses: Vec::new(),
            credential_identifiers: Vec::new(),
            external_id,
        }
    }

    #[tokio::test]
    async fn missing_or_wrong_external_ids_are_reported_and_repaired_on_request() {
        let world = memory_world(Rules {
            write_back_external_id: true,
            ..Rules::default()
        });
        let missing = linked_identity(None);
        let wrong = linked_identity(Some("someone-else".into()));
        let mut right = linked_identity(None);
        let mut users = Vec::new();
        for identity in [&missing, &wrong, &right] {
            let email = identity.traits["email"].as_str().unwrap_or_default();
            users.push(seed_user(world.users.as_ref(), email, Some(identity.id)).await);
        }
        right.external_id = Some(users[2].id.to_string());
        for identity in [&missing, &wrong, &right] {
            world.kratos.upsert(identity.clone());
        }

        let report = reconcile(&world.app, ReconcileOptions::default())
            .await
            .unwrap();
        let mut found: Vec<_> = report
            .external_id_mismatches
            .iter()
            .map(|m| (m.identity_id, m.external_id.clone()))
            .collect();
        found.sort();
        let mut wanted = vec![
            (missing.id, None),
            (wrong.id, Some("someone-else".to_owned())),
        ];
        wanted.sort();
        assert_eq!(found, wanted);
        assert_eq!(report.counts.external_id_mismatches, 2);
        assert!(report.has_findings());

        let repaired = reconcile(
            &world.app,
            ReconcileOptions {
                sync_external_ids: true,
                ..ReconcileOptions::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(repaired.counts.external_ids_written, 2);
        for (identity, user) in [(&missing, &users[0]), (&wrong, &users[1])] {
            let stored = world.kratos.get_identity(identity.id).await.unwrap();
            assert_eq!(stored.external_id, Some(user.id.to_string()));
        }
        let after = reconcile(&world.app, ReconcileOptions::default())
            .await
            .unwrap();
        assert!(after.external_id_mismatches.is_empty());
    }

    #[tokio::test]
    async fn external_ids_are_not_looked_at_without_write_back() {
        let world = memory_world(Rules::default());
        let identity = linked_identity(None);
        let email = identity.traits["email"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        seed_user(world.users.as_ref(), &email, Some(identity.id)).await;
        world.kratos.upsert(identity);
        let report = reconcile(&world.app, ReconcileOptions::default())
            .await
            .unwrap();
        assert!(report.external_id_mismatches.is_empty());
    }
}
