//! Backfill: what each user ends up with, under both strategies.
//! (Over 300 lines: the cases of both strategies share one fake Kratos and read side by side.)

use std::sync::Arc;

use async_trait::async_trait;
use identity_link::usecases::app::{App, Ports, Rules};
use identity_link::usecases::backfill::BackfillOptions;
use identity_link::usecases::metrics::Metrics;
use identity_link_ports::{
    AuthId, IdentityError, IdentityPage, IdentityProvider, KratosIdentity, PageToken,
    ResolutionStatus, Strategy, UserId, UserStore,
};
use serde_json::json;
use uuid::Uuid;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

use crate::backfill_fake::{audit_of, identity, link_of, operators_query, run, user, Identities};
use crate::helpers::{kratos, spawn_app};

fn list(page_size: u32, allow_unverified: bool) -> BackfillOptions {
    BackfillOptions {
        page_size,
        allow_unverified,
        batch_size: 3,
        concurrency: 2,
        ..BackfillOptions::default()
    }
}

#[tokio::test]
async fn the_list_strategy_records_every_status_once_per_user_and_pages_through_kratos_once() {
    let app = spawn_app().await;
    let (ada_id, ada) = identity("  Ada.Lovelace@EXAMPLE.com ", true);
    let (twin_a_id, twin_a) = identity("twin@example.com", true);
    let (twin_b_id, twin_b) = identity("Twin@Example.com", true);
    let (taken_id, taken) = identity("taken@example.com", true);
    let (_, unverified) = identity("unverified@example.com", false);
    let (inactive_id, mut inactive) = identity("inactive@example.com", true);
    inactive["state"] = json!("inactive");
    let (cred_id, mut by_identifier) = identity("someone-else@example.org", true);
    by_identifier["credentials"]["password"]["identifiers"] = json!(["cred-only@example.com"]);
    by_identifier["verifiable_addresses"][0]["value"] = json!("cred-only@example.com");
    let (shared_id, mut shared) = identity("shared1@example.com", true);
    shared["credentials"]["password"]["identifiers"] = json!(["shared2@example.com"]);
    let (_, stranger) = identity("stranger@example.com", true);
    // The twins sit on different pages (page size 2).
    let identities = vec![
        twin_a,
        ada,
        taken,
        unverified,
        inactive,
        by_identifier,
        shared,
        stranger,
        twin_b,
    ];
    let calls = identities.len().div_ceil(2) as u64;
    Identities::new(identities)
        .mount(&app.kratos, 1..=calls + 1, 0)
        .await;

    let ada_user = user(&app, "ada.lovelace@example.com", None).await;
    let nobody = user(&app, "nobody@example.com", None).await;
    let twin = user(&app, "twin@example.com", None).await;
    user(&app, "owner@example.com", Some(taken_id)).await;
    let taken_user = user(&app, "Taken@example.com", None).await;
    let unverified_user = user(&app, "unverified@example.com", None).await;
    let inactive_user = user(&app, "inactive@example.com", None).await;
    let cred_user = user(&app, "cred-only@example.com", None).await;
    let shared_1 = user(&app, "shared1@example.com", None).await;
    let shared_2 = user(&app, "shared2@example.com", None).await;

    let summary = run(&app, &list(2, false)).await;

    let expect = [
        (ada_user, "linked", Some(ada_id)),
        (nobody, "missing", None),
        (twin, "duplicate", None),
        (taken_user, "conflict", Some(taken_id)),
        (unverified_user, "unverified", None),
        (inactive_user, "missing", Some(inactive_id)),
        (cred_user, "linked", Some(cred_id)),
        // A credentials identifier is no address: shared2 never matches.
        (shared_1, "linked", Some(shared_id)),
        (shared_2, "missing", None),
    ];
    for (user, status, auth_id) in expect {
        let (recorded, recorded_auth, detail) = audit_of(&app, &summary, user).await;
        assert_eq!(recorded, status, "user {user}: {detail:?}");
        if let Some(auth_id) = auth_id {
            assert_eq!(recorded_auth, Some(auth_id), "user {user}");
        }
        let linked = link_of(&app, user).await;
        assert_eq!(linked.is_some(), status == "linked", "user {user}");
        if status == "linked" {
            assert_eq!(linked, auth_id);
        }
    }
    let (_, _, twin_detail) = audit_of(&app, &summary, twin).await;
    let twin_detail = twin_detail.expect("duplicates say which identities");
    assert!(
        twin_detail.contains(&twin_a_id.to_string())
            && twin_detail.contains(&twin_b_id.to_string())
    );
    let (_, _, inactive_detail) = audit_of(&app, &summary, inactive_user).await;
    assert!(inactive_detail
        .unwrap_or_default()
        .contains("identity_inactive"));

    assert_eq!(summary.examined(), 9);
    assert_eq!(summary.identities, Some(9));
    assert_eq!(summary.count(ResolutionStatus::Linked), 3);
    assert_eq!(summary.count(ResolutionStatus::Duplicate), 1);
    let counts = operators_query(&app).await;
    for status in ResolutionStatus::ALL {
        let recorded = counts.get(status.as_str()).copied().unwrap_or(0) as u64;
        assert_eq!(recorded, summary.count(status), "{}", status.as_str());
    }
    let metered = app
        .app
        .metrics
        .backfill_users
        .with_label_values(&["linked"])
        .get();
    assert_eq!(metered, 3);
    app.kratos.verify().await;
}

#[tokio::test]
async fn emails_match_trimmed_and_case_insensitively() {
    let app = spawn_app().await;
    let (upper_id, upper) = identity("MIXED.case@EXAMPLE.COM", true);
    let (padded_id, padded) = identity("   padded@example.com\t", true);
    Identities::new(vec![upper, padded])
        .mount(&app.kratos, 1..=2, 0)
        .await;
    let mixed = user(&app, "Mixed.Case@example.com", None).await;
    let padded_user = user(&app, "PADDED@Example.com", None).await;

    let summary = run(&app, &list(500, false)).await;

    assert_eq!(summary.count(ResolutionStatus::Linked), 2);
    assert_eq!(link_of(&app, mixed).await, Some(upper_id));
    assert_eq!(link_of(&app, padded_user).await, Some(padded_id));
}

#[tokio::test]
async fn unverified_matches_are_reported_by_default_and_linked_with_allow_unverified() {
    let app = spawn_app().await;
    let (id, unverified) = identity("late@example.com", false);
    Identities::new(vec![unverified])
        .mount(&app.kratos, 1..=4, 0)
        .await;
    let late = user(&app, "late@example.com", None).await;

    let strict = run(&app, &list(500, false)).await;
    assert_eq!(strict.count(ResolutionStatus::Unverified), 1);
    assert_eq!(strict.count(ResolutionStatus::Linked), 0);
    assert_eq!(link_of(&app, late).await, None);

    let summary = run(&app, &list(500, true)).await;

    assert_eq!(summary.count(ResolutionStatus::Linked), 1);
    assert_eq!(link_of(&app, late).await, Some(id));
}

#[tokio::test]
async fn a_credentials_identifier_never_takes_over_the_user_holding_that_email() {
    let app = spawn_app().await;
    // The squatter verified their own address and picked the victim's email as
    // password identifier (Kratos lets anyone pick any identifier).
    let (_, mut squatter) = identity("squatter@example.com", true);
    squatter["credentials"]["password"]["identifiers"] = json!(["victim@example.com"]);
    Identities::new(vec![squatter])
        .mount(&app.kratos, 1..=4, 0)
        .await;
    let victim = user(&app, "victim@example.com", None).await;

    for allow_unverified in [false, true] {
        let summary = run(&app, &list(500, allow_unverified)).await;
        assert_eq!(summary.count(ResolutionStatus::Linked), 0);
        let (status, auth_id, detail) = audit_of(&app, &summary, victim).await;
        assert_eq!(status, "missing", "{detail:?}");
        assert_eq!(auth_id, None);
        assert_eq!(link_of(&app, victim).await, None);
    }
}

#[tokio::test]
async fn the_lookup_strategy_asks_once_per_user_and_a_failing_lookup_is_an_error_for_that_user_only(
) {
    let app = spawn_app().await;
    let (ada_id, ada) = identity("ada@example.com", true);
    let (_, twin_a) = identity("twin@example.com", true);
    let (_, twin_b) = identity("twin@example.com", true);
    Mock::given(method("GET"))
        .and(path("/admin/identities"))
        .and(query_param("credentials_identifier", "broken@example.com"))
        .respond_with(ResponseTemplate::new(500).set_body_json(kratos::error(
            500,
            "Internal Server Error",
            "boom",
        )))
        .with_priority(1)
        .expect(3)
        .mount(&app.kratos)
        .await;
    Identities::new(vec![ada, twin_a, twin_b])
        .mount(&app.kratos, 0, 3)
        .await;
    let ada_user = user(&app, "ADA@example.com", None).await;
    let twin = user(&app, "twin@example.com", None).await;
    let nobody = user(&app, "nobody@example.com", None).await;
    let broken = user(&app, "broken@example.com", None).await;

    let options = BackfillOptions {
        strategy: Strategy::Lookup,
        batch_size: 2,
        ..BackfillOptions::default()
    };
    let summary = run(&app, &options).await;

    assert_eq!(audit_of(&app, &summary, ada_user).await.0, "linked");
    assert_eq!(link_of(&app, ada_user).await, Some(ada_id));
    assert_eq!(audit_of(&app, &summary, twin).await.0, "duplicate");
    assert_eq!(audit_of(&app, &summary, nobody).await.0, "missing");
    let (status, _, detail) = audit_of(&app, &summary, broken).await;
    assert_eq!(status, "error");
    assert!(detail.unwrap_or_default().contains("boom"));
    assert_eq!(summary.examined(), 4);
    app.kratos.verify().await;
}

/// Kratos as seen through a lookup that another writer races: the user is
/// linked (as a resolve would) just before Kratos answers.
struct RacedKratos {
    users: Arc<dyn UserStore>,
    victim: UserId,
    other: AuthId,
}

#[async_trait]
impl IdentityProvider for RacedKratos {
    async fn get_identity(&self, _: AuthId) -> Result<KratosIdentity, IdentityError> {
        Err(IdentityError::NotFound)
    }

    async fn find_by_identifier(&self, email: &str) -> Result<Vec<KratosIdentity>, IdentityError> {
        if email == "raced@example.com" {
            self.users
                .set_link(self.victim, Some(self.other), None)
                .await
                .map_err(|error| IdentityError::Unavailable(error.to_string()))?;
        }
        let found = identity_link_adapters::kratos::identity_from_json(kratos::identity(
            Uuid::new_v4(),
            email,
            true,
        ))?;
        Ok(vec![found])
    }

    async fn list_page(&self, _: u32, _: Option<PageToken>) -> Result<IdentityPage, IdentityError> {
        Err(IdentityError::Unavailable("not listed".into()))
    }

    async fn set_external_id(&self, _: AuthId, _: UserId) -> Result<(), IdentityError> {
        Ok(())
    }

    async fn find_by_external_id(&self, _: &str) -> Result<Option<KratosIdentity>, IdentityError> {
        Ok(None)
    }

    async fn clear_external_id(&self, _: AuthId) -> Result<(), IdentityError> {
        Ok(())
    }

    async fn ping(&self) -> Result<(), IdentityError> {
        Ok(())
    }

    fn describe(&self) -> String {
        "raced Kratos".into()
    }
}

#[tokio::test]
async fn a_user_linked_while_the_run_examines_it_is_already_linked_and_keeps_its_link() {
    let app = spawn_app().await;
    let victim = user(&app, "raced@example.com", None).await;
    let calm = user(&app, "calm@example.com", None).await;
    let other = AuthId::new(Uuid::new_v4());
    let ports = Ports {
        users: app.app.users.clone(),
        identities: Arc::new(RacedKratos {
            users: app.app.users.clone(),
            victim,
            other,
        }),
        audit_log: app.app.audit_log.clone(),
        deliveries: app.app.deliveries.clone(),
        write_backs: app.app.write_backs.clone(),
        backfill: app.app.backfill.clone(),
        sessions: None,
    };
    let rules = Rules {
        policy: app.settings.policy.clone(),
        write_back_external_id: app.settings.write_back_external_id,
    };
    let raced = App::new(ports, rules, Metrics::new());
    let options = BackfillOptions {
        strategy: Strategy::Lookup,
        ..BackfillOptions::default()
    };
    let store = crate::backfill_fake::store(&app);
    let summary = identity_link::usecases::backfill::run(
        &raced,
        &store,
        &options,
        &identity_link::usecases::backfill::Silent,
    )
    .await
    .expect("run");

    let (status, auth_id, _) = audit_of(&app, &summary, victim).await;
    assert_eq!(status, "already_linked");
    assert_eq!(auth_id, Some(other.as_uuid()));
    assert_eq!(link_of(&app, victim).await, Some(other.as_uuid()));
    assert_eq!(audit_of(&app, &summary, calm).await.0, "linked");
}
