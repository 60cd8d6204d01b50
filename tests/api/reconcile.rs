//! Reconcile on Postgres against a paginated wiremock Kratos.
//! (Over 300 lines: each scenario seeds users and Kratos pages in full and reads best whole.)

use identity_link::usecases::reconcile::{
    reconcile, ReconcileError, ReconcileOptions, SyncOutcome,
};
use identity_link_ports::{AuthId, Email, NewUser, Profile, User, UserId};
use serde_json::{json, Value};
use uuid::Uuid;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::kratos::{self, serve_identity_pages};
use crate::helpers::{spawn_app, TestApp};

pub fn person(id: Uuid, email: &str, first: &str, last: &str) -> Value {
    let mut identity = kratos::identity(id, email, true);
    identity["traits"]["name"] = json!({"first": first, "last": last});
    identity
}

pub async fn user(app: &TestApp, email: &str, first: &str, last: &str, link: Option<Uuid>) -> User {
    app.app
        .users
        .create_linked(NewUser {
            id: UserId::generate(),
            profile: Profile {
                email: Email::new(email).expect("valid email"),
                first_name: Some(first.into()),
                last_name: Some(last.into()),
                avatar_url: None,
            },
            auth_id: link.map(AuthId::new),
        })
        .await
        .expect("create the user")
}

fn gauge(app: &TestApp, kind: &str) -> i64 {
    app.app
        .metrics
        .reconcile_findings
        .with_label_values(&[kind])
        .get()
}

fn ids<T>(items: &[T], id: impl Fn(&T) -> Uuid) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = items.iter().map(id).collect();
    ids.sort();
    ids
}

fn sorted(mut ids: Vec<Uuid>) -> Vec<Uuid> {
    ids.sort();
    ids
}

#[tokio::test]
async fn each_finding_kind_is_found_across_kratos_pages() {
    let app = spawn_app().await;
    let [a, b, c, d, e, f, g] = [(); 7].map(|()| Uuid::new_v4());
    let mut inactive = person(e, "inactive@example.com", "In", "Active");
    inactive["state"] = json!("inactive");
    let listed = [
        person(a, "ada@example.com", "Ada", "Lovelace"),
        person(b, "grace.hopper@example.com", "Grace", "Hopper"),
        person(c, "alan@example.com", "Alan", "Turing"),
        person(d, "new@example.com", "New", "Person"),
        inactive,
        json!({"id": f, "state": "active", "traits": {"name": {"first": "No", "last": "Email"}}}),
        person(g, "Edsger@example.com", "Edsger", "Dijkstra"),
    ];
    assert_eq!(serve_identity_pages(&app.kratos, &listed, 2).await, 4);
    user(&app, "ada@example.com", "Ada", "Lovelace", Some(a)).await;
    let grace = user(&app, "grace@example.com", "Grace", "Hopper", Some(b)).await;
    let alan = user(&app, "alan@example.com", "Alan", "Turin", Some(c)).await;
    user(&app, "Edsger@example.com", "Edsger", "Dijkstra", Some(g)).await;
    user(&app, "unlinked@example.com", "Un", "Linked", None).await;

    // Linked long before the run: not listed means deleted, no need to ask Kratos.
    let (gone_long_ago, gone_lately, created_lately) =
        (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let old_orphan = user(
        &app,
        "old@example.com",
        "Old",
        "Orphan",
        Some(gone_long_ago),
    )
    .await;
    app.db()
        .await
        .execute(
            "UPDATE users SET linked_at = now() - interval '1 hour' WHERE id = $1",
            &[&old_orphan.id.as_uuid()],
        )
        .await
        .expect("age the link");
    kratos::serve_not_found(&app.kratos, gone_long_ago, 0).await;
    // Linked during the run: Kratos is asked whether the identity still exists.
    let new_orphan = user(&app, "recent@example.com", "Re", "Cent", Some(gone_lately)).await;
    kratos::serve_not_found(&app.kratos, gone_lately, 1).await;
    user(
        &app,
        "late@example.com",
        "Late",
        "Comer",
        Some(created_lately),
    )
    .await;
    kratos::serve_identity(
        &app.kratos,
        &person(created_lately, "late@example.com", "Late", "Comer"),
        1,
    )
    .await;

    let report = reconcile(&app.app, ReconcileOptions::default())
        .await
        .expect("the run completes");

    assert_eq!(
        ids(&report.orphaned_users, |o| o.user_id.as_uuid()),
        sorted(vec![old_orphan.id.as_uuid(), new_orphan.id.as_uuid()])
    );
    assert_eq!(
        ids(&report.unlinked_identities, |u| u.identity_id.as_uuid()),
        sorted(vec![d, f]),
        "inactive identities are not reported"
    );
    let no_email = report
        .unlinked_identities
        .iter()
        .find(|u| u.identity_id.as_uuid() == f)
        .expect("listed");
    assert!(no_email.note.is_some() && no_email.email.is_none());
    assert_eq!(
        ids(&report.drifted_users, |d| d.user_id.as_uuid()),
        sorted(vec![grace.id.as_uuid(), alan.id.as_uuid()])
    );
    let grace_drift = report
        .drifted_users
        .iter()
        .find(|d| d.user_id == grace.id)
        .expect("drifted");
    assert_eq!(grace_drift.differences.fields(), ["email"]);
    assert_eq!(grace_drift.identity_id.as_uuid(), b);
    let alan_drift = report
        .drifted_users
        .iter()
        .find(|d| d.user_id == alan.id)
        .expect("drifted");
    assert_eq!(alan_drift.differences.fields(), ["last_name"]);
    assert_eq!(report.counts.identities, 7);
    assert_eq!(report.counts.kratos_pages, 4);
    assert_eq!(report.counts.linked_users, 7);
    assert_eq!(gauge(&app, "orphaned_user"), 2);
    assert_eq!(gauge(&app, "unlinked_identity"), 2);
    assert_eq!(gauge(&app, "drifted_user"), 2);
}

#[tokio::test]
async fn a_clean_state_reports_no_findings_in_one_list_call_per_page() {
    let app = spawn_app().await;
    let mut listed = Vec::new();
    for n in 0..5 {
        let id = Uuid::new_v4();
        let email = format!("user{n}@example.com");
        listed.push(person(id, &email, "Clean", "State"));
        user(&app, &email, "Clean", "State", Some(id)).await;
    }
    serve_identity_pages(&app.kratos, &listed, 2).await;

    let report = reconcile(&app.app, ReconcileOptions::default())
        .await
        .expect("run");

    assert!(!report.has_findings(), "{report:?}");
    assert_eq!(
        (report.counts.identities, report.counts.linked_users),
        (5, 5)
    );
    assert_eq!(report.counts.kratos_pages, 3);
    for kind in [
        "orphaned_user",
        "unlinked_identity",
        "drifted_user",
        "sync_refused",
    ] {
        assert_eq!(gauge(&app, kind), 0, "{kind}");
    }
    assert_eq!(app.count("SELECT count(*) FROM identity_audit").await, 0);
}

#[tokio::test]
async fn sync_profiles_fixes_drift_and_refuses_an_email_held_by_another_user() {
    let app = spawn_app().await;
    let (moved, clash) = (Uuid::new_v4(), Uuid::new_v4());
    serve_identity_pages(
        &app.kratos,
        &[
            person(moved, "Ada.King@example.com", "Ada", "King"),
            person(clash, "taken@example.com", "Bob", "Builder"),
        ],
        1,
    )
    .await;
    let ada = user(&app, "ada@example.com", "Ada", "Lovelace", Some(moved)).await;
    let bob = user(&app, "bob@example.com", "Bob", "Builder", Some(clash)).await;
    let holder = user(&app, "TAKEN@example.com", "Tak", "En", None).await;

    let report = reconcile(
        &app.app,
        ReconcileOptions {
            sync_profiles: true,
            ..ReconcileOptions::default()
        },
    )
    .await
    .expect("run");
    app.app.audit.flush().await;

    let outcome = |id: UserId| {
        report
            .drifted_users
            .iter()
            .find(|d| d.user_id == id)
            .and_then(|d| d.sync.clone())
    };
    assert_eq!(outcome(ada.id), Some(SyncOutcome::Updated));
    assert_eq!(
        outcome(bob.id),
        Some(SyncOutcome::EmailTaken {
            held_by: Some(holder.id)
        })
    );
    let row = app
        .db()
        .await
        .query_one(
            "SELECT email, last_name, auth_id FROM users WHERE id = $1",
            &[&ada.id.as_uuid()],
        )
        .await
        .expect("ada");
    assert_eq!(row.get::<_, String>(0), "Ada.King@example.com");
    assert_eq!(row.get::<_, String>(1), "King");
    assert_eq!(row.get::<_, Uuid>(2), moved);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM users WHERE id = '{}' AND email = 'bob@example.com'",
            bob.id
        ))
        .await,
        1,
        "the refused sync changed nothing"
    );
    let audit = app
        .db()
        .await
        .query(
            "SELECT user_id, action, outcome, correlation_id FROM identity_audit WHERE source = 'reconcile' ORDER BY action",
            &[],
        )
        .await
        .expect("audit rows");
    let rows: Vec<(Uuid, String, String, Uuid)> = audit
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(
        rows,
        [
            (
                bob.id.as_uuid(),
                "profile_sync".into(),
                "email_taken".into(),
                report.run_id
            ),
            (
                ada.id.as_uuid(),
                "profile_synced".into(),
                "ok".into(),
                report.run_id
            ),
        ]
    );
    assert_eq!(gauge(&app, "sync_refused"), 1);
}

#[tokio::test]
async fn a_kratos_listing_that_fails_after_retries_aborts_the_run() {
    let app = spawn_app().await;
    app.app
        .metrics
        .reconcile_findings
        .with_label_values(&["orphaned_user"])
        .set(3);
    let first = [person(Uuid::new_v4(), "a@example.com", "A", "B")];
    Mock::given(method("GET"))
        .and(path("/admin/identities"))
        .and(query_param("page_token", "broken"))
        .respond_with(ResponseTemplate::new(500).set_body_json(kratos::error(
            500,
            "Internal Server Error",
            "db down",
        )))
        .expect(3)
        .mount(&app.kratos)
        .await;
    Mock::given(method("GET"))
        .and(path("/admin/identities"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header(
                    "link",
                    r#"</admin/identities?page_size=500&page_token=x>; rel="first",</admin/identities?page_size=500&page_token=broken>; rel="next""#,
                )
                .set_body_json(first),
        )
        .expect(1)
        .mount(&app.kratos)
        .await;

    let error = reconcile(
        &app.app,
        ReconcileOptions {
            sync_profiles: true,
            ..ReconcileOptions::default()
        },
    )
    .await
    .expect_err("the run cannot complete");

    assert!(
        matches!(error, ReconcileError::ListIdentities { page: 2, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("db down"), "{error}");
    assert_eq!(
        gauge(&app, "orphaned_user"),
        3,
        "an incomplete run leaves the gauges alone"
    );
}
