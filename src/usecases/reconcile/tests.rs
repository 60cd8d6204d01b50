use identity_link_ports::{
    AuditOutcome, AuditSource, AuthId, Email, IdentityState, KratosIdentity, NewUser, Profile,
    User, UserId, UserStore,
};
use serde_json::{json, Value};
use uuid::Uuid;

use super::*;
use crate::usecases::app::Rules;
use crate::usecases::test_support::{memory_world, MemoryWorld};

pub(crate) type World = MemoryWorld;

pub(crate) fn world() -> World {
    memory_world(Rules::default())
}

fn identity(traits: Value, state: IdentityState) -> KratosIdentity {
    KratosIdentity {
        id: AuthId::new(Uuid::new_v4()),
        state,
        traits,
        verifiable_addresses: Vec::new(),
        credential_identifiers: Vec::new(),
        external_id: None,
    }
}

pub(crate) fn person(email: &str, first: &str, last: &str) -> Value {
    json!({"email": email, "name": {"first": first, "last": last}})
}

impl World {
    pub(crate) fn kratos_has(&self, traits: Value) -> KratosIdentity {
        self.kratos_has_in(traits, IdentityState::Active)
    }

    fn kratos_has_in(&self, traits: Value, state: IdentityState) -> KratosIdentity {
        let identity = identity(traits, state);
        self.kratos.upsert(identity.clone());
        identity
    }

    pub(crate) async fn user(
        &self,
        email: &str,
        first: &str,
        last: &str,
        link: Option<AuthId>,
    ) -> User {
        self.users
            .create_linked(NewUser {
                id: UserId::generate(),
                profile: Profile {
                    email: Email::new(email).unwrap(),
                    first_name: Some(first.into()),
                    last_name: Some(last.into()),
                    avatar_url: None,
                },
                auth_id: link,
            })
            .await
            .unwrap()
    }

    fn gauge(&self, kind: &str) -> i64 {
        self.app
            .metrics
            .reconcile_findings
            .with_label_values(&[kind])
            .get()
    }
}

#[tokio::test]
async fn one_pass_reports_every_kind_of_finding_and_nothing_else() {
    let world = world();
    let in_sync = world.kratos_has(person("ada@example.com", "Ada", "Lovelace"));
    world
        .user("ada@example.com", "Ada", "Lovelace", Some(in_sync.id))
        .await;
    let renamed = world.kratos_has(person("grace@example.com", "Grace", "Hopper"));
    let drifted = world
        .user("grace@example.com", "Grace", "Murray", Some(renamed.id))
        .await;
    let unlinked = world.kratos_has(person("new@example.com", "New", "Person"));
    world.kratos_has_in(
        person("gone@example.com", "In", "Active"),
        IdentityState::Inactive,
    );
    let no_email = world.kratos_has(json!({"name": {"first": "No"}}));
    let linked_no_email = world.kratos_has(json!({"email": "not an address"}));
    world
        .user("odd@example.com", "Odd", "One", Some(linked_no_email.id))
        .await;
    let deleted = AuthId::new(Uuid::new_v4());
    let orphan = world
        .user("orphan@example.com", "Or", "Phan", Some(deleted))
        .await;
    world
        .user("unlinked-user@example.com", "U", "L", None)
        .await;

    let report = reconcile(&world.app, ReconcileOptions::default())
        .await
        .expect("the run completes");

    assert_eq!(
        report.orphaned_users,
        [OrphanedUser {
            user_id: orphan.id,
            identity_id: deleted,
            email: "orphan@example.com".into(),
            linked_at: orphan.linked_at,
        }]
    );
    let unlinked_ids: Vec<_> = report
        .unlinked_identities
        .iter()
        .map(|found| found.identity_id)
        .collect();
    assert_eq!(unlinked_ids.len(), 2, "{unlinked_ids:?}");
    assert!(unlinked_ids.contains(&unlinked.id) && unlinked_ids.contains(&no_email.id));
    let without_email = report
        .unlinked_identities
        .iter()
        .find(|found| found.identity_id == no_email.id)
        .unwrap();
    assert_eq!(without_email.email, None);
    assert!(without_email.note.as_deref().unwrap().contains("no email"));
    assert_eq!(report.drifted_users.len(), 1);
    assert_eq!(report.drifted_users[0].user_id, drifted.id);
    assert_eq!(report.drifted_users[0].differences.fields(), ["last_name"]);
    assert_eq!(report.drifted_users[0].sync, None);
    assert_eq!(report.counts.identities, 6);
    assert_eq!(report.counts.linked_users, 4);
    assert_eq!(report.counts.not_compared, 1);
    assert_eq!(report.counts.kratos_pages, 1);

    assert_eq!(world.gauge("orphaned_user"), 1);
    assert_eq!(world.gauge("unlinked_identity"), 2);
    assert_eq!(world.gauge("drifted_user"), 1);
    assert_eq!(world.gauge("sync_refused"), 0);
    world.app.audit.flush().await;
    assert!(world.audit.events().is_empty(), "a report writes nothing");
}

#[tokio::test]
async fn a_clean_state_has_no_findings_and_zeroes_the_gauges() {
    let world = world();
    world
        .app
        .metrics
        .reconcile_findings
        .with_label_values(&["orphaned_user"])
        .set(7);
    for n in 0..3 {
        let email = format!("user{n}@example.com");
        let identity = world.kratos_has(person(&email, "A", "B"));
        world.user(&email, "A", "B", Some(identity.id)).await;
    }
    let report = reconcile(&world.app, ReconcileOptions::default())
        .await
        .unwrap();
    assert!(!report.has_findings());
    assert_eq!(report.counts.linked_users, 3);
    for kind in KINDS {
        assert_eq!(world.gauge(kind), 0, "{kind}");
    }
}

#[tokio::test]
async fn sync_profiles_fixes_drift_refuses_a_taken_email_and_audits_both() {
    let world = world();
    let moved = world.kratos_has(person("Ada.New@example.com", "Ada", "King"));
    let ada = world
        .user("ada@example.com", "Ada", "Lovelace", Some(moved.id))
        .await;
    let clash = world.kratos_has(person("taken@example.com", "Bob", "B"));
    let bob = world
        .user("bob@example.com", "Bob", "B", Some(clash.id))
        .await;
    let holder = world.user("TAKEN@example.com", "T", "H", None).await;

    let report = reconcile(
        &world.app,
        ReconcileOptions {
            sync_profiles: true,
            ..ReconcileOptions::default()
        },
    )
    .await
    .unwrap();
    world.app.audit.flush().await;

    let outcome = |user: UserId| {
        report
            .drifted_users
            .iter()
            .find(|drifted| drifted.user_id == user)
            .and_then(|drifted| drifted.sync.clone())
    };
    assert_eq!(outcome(ada.id), Some(SyncOutcome::Updated));
    assert_eq!(
        outcome(bob.id),
        Some(SyncOutcome::EmailTaken {
            held_by: Some(holder.id)
        })
    );
    assert_eq!((report.counts.synced, report.counts.sync_refused), (1, 1));
    assert_eq!(world.gauge("sync_refused"), 1);

    let ada_now = world.users.find_by_id(ada.id).await.unwrap().unwrap();
    assert_eq!(ada_now.email.as_str(), "Ada.New@example.com");
    assert_eq!(ada_now.last_name.as_deref(), Some("King"));
    assert_eq!(ada_now.auth_id, Some(moved.id), "the link is kept");
    let bob_now = world.users.find_by_id(bob.id).await.unwrap().unwrap();
    assert_eq!(bob_now, bob, "a refused sync changes nothing");

    let events = world.audit.events();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events.iter().all(
        |event| event.source == AuditSource::Reconcile && event.correlation_id == report.run_id
    ));
    let synced = events.iter().find(|e| e.user_id == Some(ada.id)).unwrap();
    assert_eq!(synced.action, "profile_synced");
    assert_eq!(synced.outcome, AuditOutcome::Ok);
    assert_eq!(synced.detail["fields"], json!(["email", "last_name"]));
    assert_eq!(synced.detail["from"]["email"], "ada@example.com");
    let refused = events.iter().find(|e| e.user_id == Some(bob.id)).unwrap();
    assert_eq!(refused.outcome, AuditOutcome::Failed("email_taken".into()));
    assert_eq!(refused.detail["held_by"], json!(holder.id));

    let again = reconcile(
        &world.app,
        ReconcileOptions {
            sync_profiles: true,
            ..ReconcileOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(again.drifted_users.len(), 1, "only the refused one remains");
    assert_eq!(again.drifted_users[0].user_id, bob.id);
}

#[tokio::test]
async fn a_sync_skips_a_user_relinked_since_the_scan() {
    let world = world();
    let identity = world.kratos_has(person("new@example.com", "A", "B"));
    let user = world
        .user("old@example.com", "A", "B", Some(identity.id))
        .await;
    let mut drifted = vec![DriftedUser {
        user_id: user.id,
        identity_id: identity.id,
        differences: Differences::between(
            &user,
            &identity.profile(&world.app.policy.traits).unwrap(),
        )
        .unwrap(),
        sync: None,
    }];
    world
        .users
        .set_link(user.id, None, Some(identity.id))
        .await
        .unwrap();
    let context = CallContext::new(AuditSource::Reconcile);
    let counts = sync::sync_profiles(&world.app, &context, &mut drifted)
        .await
        .unwrap();
    assert_eq!(counts, (0, 1));
    assert_eq!(drifted[0].sync, Some(SyncOutcome::LinkChanged));
    let unchanged = world.users.find_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(unchanged.email.as_str(), "old@example.com");
}
