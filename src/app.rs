//! The application state every inbound adapter shares: ports, policy, audit,
//! metrics. Built once by `wiring`, handed around as `Arc<App>`.

use std::sync::Arc;

use chrono::Utc;
use identity_link_adapters::backfill_report::NoBackfillReports;
use identity_link_adapters::memory::{MemoryWebhookDeliveries, MemoryWriteBackQueue};
use identity_link_ports::{
    AuditEvent, AuditLog, AuditOutcome, AuditSource, AuthId, BackfillReports, IdentityProvider,
    UserId, UserStore, WebhookDeliveries, WriteBackQueue,
};
use serde_json::Value;
use uuid::Uuid;

use crate::audit::AuditSink;
use crate::config::Settings;
use crate::link::LinkPolicy;
use crate::metrics::Metrics;

pub struct App {
    pub users: Arc<dyn UserStore>,
    pub identities: Arc<dyn IdentityProvider>,
    pub audit_log: Arc<dyn AuditLog>,
    pub audit: AuditSink,
    pub policy: LinkPolicy,
    pub metrics: Metrics,
    /// The validated configuration (secrets stay wrapped).
    pub settings: Settings,
    /// Kratos webhook deliveries already answered (idempotency by trigger id).
    pub deliveries: Arc<dyn WebhookDeliveries>,
    /// The outbox of Kratos `external_id` write-backs.
    pub write_backs: Arc<dyn WriteBackQueue>,
    /// Counts of backfill runs (empty without a database: no backfill can run).
    pub backfill_reports: Arc<dyn BackfillReports>,
}

impl App {
    /// Assembles the state and starts the audit writer (needs a Tokio runtime).
    pub fn new(
        users: Arc<dyn UserStore>,
        identities: Arc<dyn IdentityProvider>,
        audit_log: Arc<dyn AuditLog>,
        settings: Settings,
        metrics: Metrics,
    ) -> Self {
        let audit = AuditSink::spawn(
            audit_log.clone(),
            metrics.audit_dropped.clone(),
            metrics.audit_failed.clone(),
        );
        Self {
            users,
            identities,
            audit_log,
            audit,
            policy: settings.policy.clone(),
            metrics,
            settings,
            deliveries: Arc::new(MemoryWebhookDeliveries::new()),
            write_backs: Arc::new(MemoryWriteBackQueue::new()),
            backfill_reports: Arc::new(NoBackfillReports),
        }
    }

    /// Replaces the in-memory webhook-delivery store and write-back outbox
    /// [`App::new`] starts with (durable ones when there is a database).
    pub fn with_webhook_stores(
        mut self,
        deliveries: Arc<dyn WebhookDeliveries>,
        write_backs: Arc<dyn WriteBackQueue>,
    ) -> Self {
        self.deliveries = deliveries;
        self.write_backs = write_backs;
        self
    }

    /// Replaces the empty backfill reports [`App::new`] starts with.
    pub fn with_backfill_reports(mut self, reports: Arc<dyn BackfillReports>) -> Self {
        self.backfill_reports = reports;
        self
    }
}

/// Who is calling and under which correlation id: what every audit record names.
#[derive(Debug, Clone)]
pub struct CallContext {
    pub correlation_id: Uuid,
    pub source: AuditSource,
    /// The calling service (`X-Caller`), or the admin acting.
    pub actor: Option<String>,
}

impl CallContext {
    pub fn new(source: AuditSource) -> Self {
        Self {
            correlation_id: Uuid::new_v4(),
            source,
            actor: None,
        }
    }

    /// An audit event of this call.
    pub fn event(
        &self,
        action: &str,
        outcome: AuditOutcome,
        auth_id: Option<AuthId>,
        user_id: Option<UserId>,
        detail: Value,
    ) -> AuditEvent {
        AuditEvent {
            correlation_id: self.correlation_id,
            occurred_at: Utc::now(),
            source: self.source,
            action: action.to_owned(),
            outcome,
            auth_id,
            user_id,
            actor: self.actor.clone(),
            detail,
        }
    }
}
