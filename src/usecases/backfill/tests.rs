//! Runs end to end over the in-memory stores and the fixture Kratos.

mod raced;

use identity_link_adapters::memory::MemoryBackfillStore;
use identity_link_ports::{AuditSource, AuthId, KratosIdentity, RunPlan, UserId, UserStore};
use serde_json::json;

use super::*;
use crate::usecases::app::Rules;
use crate::usecases::test_support::{identity, memory_world, seed_user, MemoryWorld};

/// Kratos holds `identity`; returns its id.
fn kratos_has(world: &MemoryWorld, identity: KratosIdentity) -> AuthId {
    let id = identity.id;
    world.kratos.upsert(identity);
    id
}

fn options(strategy: Strategy) -> BackfillOptions {
    BackfillOptions {
        strategy,
        page_size: 2,
        batch_size: 2,
        concurrency: 2,
        ..BackfillOptions::default()
    }
}

async fn run_with(app: &App, store: &MemoryBackfillStore, options: &BackfillOptions) -> RunSummary {
    run(app, store, options, &Silent)
        .await
        .expect("backfill run")
}

async fn link_of(world: &MemoryWorld, user: UserId) -> Option<AuthId> {
    let found = world.users.find_by_id(user).await.expect("find");
    found.expect("the user exists").auth_id
}

/// One user per outcome of the link rule, and the identity the linkable one matches.
struct Population {
    linked: UserId,
    linked_auth: AuthId,
    missing: UserId,
    duplicate: UserId,
    unverified: UserId,
    conflict: UserId,
}

async fn population(world: &MemoryWorld) -> Population {
    let linked_auth = kratos_has(world, identity("  Ada@EXAMPLE.com ", true));
    kratos_has(world, identity("twin@example.com", true));
    kratos_has(world, identity("Twin@Example.com", true));
    kratos_has(world, identity("late@example.com", false));
    let taken = kratos_has(world, identity("taken@example.com", true));
    let users = world.users.as_ref();
    seed_user(users, "owner@example.com", Some(taken)).await;
    Population {
        linked: seed_user(users, "ada@example.com", None).await.id,
        linked_auth,
        missing: seed_user(users, "nobody@example.com", None).await.id,
        duplicate: seed_user(users, "twin@example.com", None).await.id,
        unverified: seed_user(users, "late@example.com", None).await.id,
        conflict: seed_user(users, "taken@example.com", None).await.id,
    }
}

fn counted(summary: &RunSummary) -> Vec<(ResolutionStatus, u64)> {
    let mut counts: Vec<_> = summary.counts.iter().map(|(s, n)| (*s, *n)).collect();
    counts.retain(|(_, count)| *count > 0);
    counts
}

#[tokio::test]
async fn every_user_gets_its_decision_and_only_the_one_verified_unique_match_is_linked() {
    for strategy in [Strategy::List, Strategy::Lookup] {
        let world = memory_world(Rules::default());
        let store = MemoryBackfillStore::new(&world.users);
        let people = population(&world).await;

        let summary = run_with(&world.app, &store, &options(strategy)).await;

        use ResolutionStatus::{Conflict, Duplicate, Linked, Missing, Unverified};
        let expected = [
            (Linked, 1),
            (Missing, 1),
            (Duplicate, 1),
            (Conflict, 1),
            (Unverified, 1),
        ];
        assert_eq!(counted(&summary), expected, "{strategy:?}");
        assert_eq!(
            link_of(&world, people.linked).await,
            Some(people.linked_auth)
        );
        for user in [
            people.missing,
            people.duplicate,
            people.unverified,
            people.conflict,
        ] {
            assert_eq!(link_of(&world, user).await, None, "{strategy:?}");
        }
        let report = store.report(Some(summary.run)).await.expect("report");
        assert_eq!(report.expect("the run").counts, summary.counts);
        let linked = world
            .app
            .metrics
            .backfill_users
            .with_label_values(&["linked"]);
        assert_eq!(linked.get(), 1);
        assert!(world
            .audit
            .events()
            .iter()
            .any(|event| event.source == AuditSource::Backfill
                && event.action == "linked"
                && event.user_id == Some(people.linked)
                && event.correlation_id == summary.run.as_uuid()));
    }
}

#[tokio::test]
async fn an_unverified_match_is_linked_with_allow_unverified() {
    let world = memory_world(Rules::default());
    let store = MemoryBackfillStore::new(&world.users);
    let people = population(&world).await;
    let options = BackfillOptions {
        allow_unverified: true,
        ..options(Strategy::List)
    };

    let summary = run_with(&world.app, &store, &options).await;

    assert_eq!(summary.count(ResolutionStatus::Unverified), 0);
    assert_eq!(summary.count(ResolutionStatus::Linked), 2);
    assert!(link_of(&world, people.unverified).await.is_some());
}

#[tokio::test]
async fn a_dry_run_writes_nothing_and_predicts_the_real_run() {
    let world = memory_world(Rules::default());
    let store = MemoryBackfillStore::new(&world.users);
    let people = population(&world).await;
    let dry_options = BackfillOptions {
        dry_run: true,
        ..options(Strategy::List)
    };

    let dry = run_with(&world.app, &store, &dry_options).await;

    assert!(dry.dry_run);
    assert_eq!(link_of(&world, people.linked).await, None);
    assert_eq!(store.report(None).await.expect("report"), None);
    assert!(store.status_counts(None).await.expect("counts").is_empty());
    assert!(world.audit.events().is_empty());
    let real = run_with(&world.app, &store, &options(Strategy::List)).await;
    assert_eq!(dry.counts, real.counts);
}

#[tokio::test]
async fn a_rerun_links_nothing_new_and_examines_only_users_still_unlinked() {
    let world = memory_world(Rules::default());
    let store = MemoryBackfillStore::new(&world.users);
    let people = population(&world).await;
    let first = run_with(&world.app, &store, &options(Strategy::List)).await;

    let second = run_with(&world.app, &store, &options(Strategy::List)).await;

    assert_eq!(first.count(ResolutionStatus::Linked), 1);
    assert_eq!(second.count(ResolutionStatus::Linked), 0);
    assert_eq!(second.examined(), first.examined() - 1);
    assert_eq!(
        link_of(&world, people.linked).await,
        Some(people.linked_auth)
    );
    let all = store.status_counts(None).await.expect("counts");
    let linked = all.iter().find(|count| count.status == "linked");
    assert_eq!(linked.map(|count| count.count), Some(1), "linked once");
}

#[tokio::test]
async fn a_revert_unlinks_what_the_run_linked_and_a_later_run_links_it_again() {
    let world = memory_world(Rules::default());
    let store = MemoryBackfillStore::new(&world.users);
    let people = population(&world).await;
    let first = run_with(&world.app, &store, &options(Strategy::List)).await;

    let outcome = store.revert(first.run, 10).await.expect("revert");

    assert_eq!((outcome.reverted, outcome.changed.len()), (1, 0));
    assert_eq!(link_of(&world, people.linked).await, None);
    let again = run_with(&world.app, &store, &options(Strategy::List)).await;
    assert_eq!(again.count(ResolutionStatus::Linked), 1);
    assert_eq!(
        link_of(&world, people.linked).await,
        Some(people.linked_auth)
    );
}

#[tokio::test]
async fn a_run_while_another_holds_the_lock_is_busy_and_does_nothing() {
    let world = memory_world(Rules::default());
    let store = MemoryBackfillStore::new(&world.users);
    let people = population(&world).await;
    let holder = RunPlan {
        id: RunId::generate(),
        strategy: Strategy::List,
        dry_run: false,
        options: json!({}),
    };
    let session = store.begin(&holder).await.expect("begin");

    let refused = run(&world.app, &store, &options(Strategy::List), &Silent).await;

    assert!(
        matches!(refused, Err(BackfillError::Busy(_))),
        "{refused:?}"
    );
    assert_eq!(link_of(&world, people.linked).await, None);
    session.finish(RunEnd::Finished).await.expect("finish");
}
