//! Conformance suites of the webhook-delivery store and the write-back outbox.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use identity_link_ports::{
    AuditSource, AuthId, DeliveryRecord, TriggerId, UserId, WebhookDeliveries, WriteBackQueue,
};
use uuid::Uuid;

const LONG: Duration = Duration::from_secs(3600);

fn trigger() -> TriggerId {
    TriggerId::new(&Uuid::new_v4().to_string()).expect("a UUID is a trigger id")
}

/// Runs every webhook-delivery check against `store`, which must start empty.
pub async fn webhook_deliveries(store: Arc<dyn WebhookDeliveries>) {
    let first = trigger();
    assert_eq!(store.redelivered(&first).await.expect("lookup"), None);
    let answer = DeliveryRecord {
        outcome: "created".into(),
        refused: false,
        auth_id: Some(AuthId::new(Uuid::new_v4())),
        user_id: Some(UserId::generate()),
    };
    assert!(store.record(&first, &answer).await.expect("record"));
    let later = DeliveryRecord {
        outcome: "email_taken".into(),
        refused: true,
        auth_id: None,
        user_id: None,
    };
    assert!(
        !store.record(&first, &later).await.expect("record again"),
        "the first answer wins"
    );
    assert_eq!(
        store.redelivered(&first).await.expect("lookup"),
        Some(answer.clone())
    );

    let concurrent = trigger();
    let races = (0..8).map(|n| {
        let store = store.clone();
        let concurrent = concurrent.clone();
        let record = DeliveryRecord {
            outcome: format!("outcome-{n}"),
            ..later.clone()
        };
        async move { store.record(&concurrent, &record).await.expect("record") }
    });
    let stored = futures::future::join_all(races)
        .await
        .into_iter()
        .filter(|stored| *stored)
        .count();
    assert_eq!(stored, 1, "exactly one concurrent answer is stored");

    assert_eq!(
        store
            .prune(Utc::now() - chrono::Duration::hours(1))
            .await
            .expect("prune nothing"),
        0
    );
    assert_eq!(
        store
            .prune(Utc::now() + chrono::Duration::seconds(1))
            .await
            .expect("prune all"),
        2
    );
    assert_eq!(store.redelivered(&first).await.expect("lookup"), None);
}

/// Runs every write-back-queue check against `queue`, which must start empty.
pub async fn write_back_queue(queue: Arc<dyn WriteBackQueue>) {
    claims_are_leases_and_settling_is_final(queue.as_ref()).await;
    a_newer_link_wins_over_an_older_claim(queue.as_ref()).await;
    concurrent_claims_hand_out_each_write_back_once(queue).await;
}

async fn claims_are_leases_and_settling_is_final(queue: &dyn WriteBackQueue) {
    let auth_id = AuthId::new(Uuid::new_v4());
    let user = UserId::generate();
    let correlation = Uuid::new_v4();
    queue
        .enqueue(auth_id, user, correlation, AuditSource::Webhook)
        .await
        .expect("enqueue");

    let claimed = queue.claim_due(10, LONG).await.expect("claim");
    assert_eq!(claimed.len(), 1);
    let item = &claimed[0];
    assert_eq!(
        (
            item.auth_id,
            item.user_id,
            item.attempts,
            item.correlation_id,
            item.source
        ),
        (auth_id, user, 1, correlation, AuditSource::Webhook)
    );
    assert!(
        queue.claim_due(10, LONG).await.expect("claim").is_empty(),
        "a leased write-back is not handed out twice"
    );

    assert!(queue
        .retry_later(item, Duration::ZERO, "kratos_unavailable")
        .await
        .expect("retry"));
    let again = queue.claim_due(10, Duration::ZERO).await.expect("claim");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2, "every claim counts an attempt");
    let expired = queue.claim_due(10, LONG).await.expect("claim");
    assert_eq!(expired.len(), 1, "an ended lease makes it due again");

    assert!(queue
        .retry_later(&expired[0], LONG, "external_id_taken")
        .await
        .expect("retry"));
    assert!(queue.claim_due(10, LONG).await.expect("claim").is_empty());

    assert!(queue
        .abandon(&expired[0], "gave up")
        .await
        .expect("abandon"));
    assert!(
        queue
            .claim_due(10, Duration::ZERO)
            .await
            .expect("claim")
            .is_empty(),
        "an abandoned write-back is never claimed again"
    );

    let other = AuthId::new(Uuid::new_v4());
    queue
        .enqueue(other, user, correlation, AuditSource::Resolve)
        .await
        .expect("enqueue");
    let done = queue.claim_due(10, LONG).await.expect("claim");
    assert_eq!(done.len(), 1);
    assert!(queue.complete(&done[0]).await.expect("complete"));
    assert!(
        !queue.complete(&done[0]).await.expect("complete again"),
        "a completed write-back is gone"
    );
    // Queueing an abandoned identity anew makes it due again.
    queue
        .enqueue(auth_id, user, correlation, AuditSource::Admin)
        .await
        .expect("enqueue");
    let requeued = queue.claim_due(10, LONG).await.expect("claim");
    assert_eq!(requeued.len(), 1);
    assert_eq!(
        (
            requeued[0].auth_id,
            requeued[0].attempts,
            requeued[0].source
        ),
        (auth_id, 1, AuditSource::Admin)
    );
    assert!(queue.complete(&requeued[0]).await.expect("complete"));
}

async fn a_newer_link_wins_over_an_older_claim(queue: &dyn WriteBackQueue) {
    let auth_id = AuthId::new(Uuid::new_v4());
    let (old, new) = (UserId::generate(), UserId::generate());
    queue
        .enqueue(auth_id, old, Uuid::new_v4(), AuditSource::Resolve)
        .await
        .expect("enqueue");
    let stale = queue.claim_due(10, LONG).await.expect("claim");
    assert_eq!(stale.len(), 1);
    queue
        .enqueue(auth_id, new, Uuid::new_v4(), AuditSource::Admin)
        .await
        .expect("enqueue the newer link");

    assert!(!queue.complete(&stale[0]).await.expect("complete"));
    assert!(!queue.abandon(&stale[0], "x").await.expect("abandon"));
    assert!(!queue
        .retry_later(&stale[0], LONG, "x")
        .await
        .expect("retry"));
    let current = queue.claim_due(10, LONG).await.expect("claim");
    assert_eq!(current.len(), 1);
    assert_eq!(current[0].user_id, new);
    assert!(current[0].version > stale[0].version);
    assert!(queue.complete(&current[0]).await.expect("complete"));
}

async fn concurrent_claims_hand_out_each_write_back_once(queue: Arc<dyn WriteBackQueue>) {
    for _ in 0..20 {
        queue
            .enqueue(
                AuthId::new(Uuid::new_v4()),
                UserId::generate(),
                Uuid::new_v4(),
                AuditSource::Backfill,
            )
            .await
            .expect("enqueue");
    }
    let claims = (0..6).map(|_| {
        let queue = queue.clone();
        async move { queue.claim_due(5, LONG).await.expect("claim") }
    });
    let mut claimed: Vec<AuthId> = futures::future::join_all(claims)
        .await
        .into_iter()
        .flatten()
        .map(|item| item.auth_id)
        .collect();
    let total = claimed.len();
    claimed.sort();
    claimed.dedup();
    assert_eq!(claimed.len(), total, "no write-back was claimed twice");
    assert_eq!(total, 20);
}
