//! Conformance suite of the audit log.

use std::sync::Arc;

use chrono::Utc;
use identity_link_ports::{AuditEvent, AuditLog, AuditOutcome, AuditQuery, AuditSource, UserId};
use serde_json::json;
use uuid::Uuid;

use super::auth_id;

/// Runs every audit-log check against `log`.
pub async fn audit_log(log: Arc<dyn AuditLog>) {
    let user = UserId::generate();
    let identity = auth_id();
    let event = |action: &str, user_id, auth_id| AuditEvent {
        correlation_id: Uuid::new_v4(),
        occurred_at: Utc::now(),
        source: AuditSource::Admin,
        action: action.into(),
        outcome: AuditOutcome::Ok,
        auth_id,
        user_id,
        actor: Some("admin:test".into()),
        detail: json!({"note": action}),
    };
    log.append(&[event("first", Some(user), None)])
        .await
        .expect("append");
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    log.append(&[
        event("second", None, Some(identity)),
        event("unrelated", Some(UserId::generate()), None),
    ])
    .await
    .expect("append");
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let mut failed = event("third", Some(user), Some(identity));
    failed.outcome = AuditOutcome::Failed("conflict".into());
    log.append(&[failed]).await.expect("append");

    let found = log
        .query(&AuditQuery {
            user_id: Some(user),
            auth_id: Some(identity),
            limit: 10,
        })
        .await
        .expect("query");
    let actions: Vec<_> = found.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["third", "second", "first"],
        "newest first, either key"
    );
    assert_eq!(found[0].outcome, AuditOutcome::Failed("conflict".into()));
    assert_eq!(found[0].actor.as_deref(), Some("admin:test"));
    assert_eq!(found[0].detail, json!({"note": "third"}));
    assert_eq!(found[0].source, AuditSource::Admin);

    let limited = log
        .query(&AuditQuery {
            user_id: Some(user),
            auth_id: None,
            limit: 1,
        })
        .await
        .expect("query");
    assert_eq!(limited.len(), 1);
    assert_eq!(limited[0].action, "third");
}
