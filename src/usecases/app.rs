//! The application state every inbound adapter shares: ports, policy, audit,
//! metrics. Built once by `wiring` (or a test), handed around as `Arc<App>`.

use std::sync::Arc;

use identity_link_ports::{
    AuditLog, BackfillStore, IdentityProvider, SessionVerifier, UserStore, WebhookDeliveries,
    WriteBackQueue,
};

use crate::usecases::audit::AuditSink;
use crate::usecases::link::LinkPolicy;
use crate::usecases::metrics::Metrics;

/// Every port the use cases speak through, chosen by `wiring` (or a test).
pub struct Ports {
    pub users: Arc<dyn UserStore>,
    pub identities: Arc<dyn IdentityProvider>,
    pub audit_log: Arc<dyn AuditLog>,
    /// Kratos webhook deliveries already answered (idempotency by trigger id).
    pub deliveries: Arc<dyn WebhookDeliveries>,
    /// The outbox of Kratos `external_id` write-backs.
    pub write_backs: Arc<dyn WriteBackQueue>,
    /// Backfill runs; `None` without a database, where no backfill can run.
    pub backfill: Option<Arc<dyn BackfillStore>>,
    /// The Kratos session check of admin logins; `None` without `KRATOS_PUBLIC_URL`.
    pub sessions: Option<Arc<dyn SessionVerifier>>,
}

/// How the use cases behave, beyond the ports.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub policy: LinkPolicy,
    /// Queue a Kratos `external_id` write-back with every link (`WRITE_BACK_EXTERNAL_ID`).
    pub write_back_external_id: bool,
}

pub struct App {
    pub users: Arc<dyn UserStore>,
    pub identities: Arc<dyn IdentityProvider>,
    pub audit_log: Arc<dyn AuditLog>,
    pub deliveries: Arc<dyn WebhookDeliveries>,
    pub write_backs: Arc<dyn WriteBackQueue>,
    pub backfill: Option<Arc<dyn BackfillStore>>,
    pub sessions: Option<Arc<dyn SessionVerifier>>,
    /// Audit events queued off the request path (the audit log behind it).
    pub audit: AuditSink,
    pub policy: LinkPolicy,
    pub write_back_external_id: bool,
    pub metrics: Metrics,
}

impl App {
    /// Assembles the state and starts the audit writer (needs a Tokio runtime).
    pub fn new(ports: Ports, rules: Rules, metrics: Metrics) -> Self {
        let Ports {
            users,
            identities,
            audit_log,
            deliveries,
            write_backs,
            backfill,
            sessions,
        } = ports;
        let audit = AuditSink::spawn(
            audit_log.clone(),
            metrics.audit_dropped.clone(),
            metrics.audit_failed.clone(),
        );
        Self {
            users,
            identities,
            audit_log,
            deliveries,
            write_backs,
            backfill,
            sessions,
            audit,
            policy: rules.policy,
            write_back_external_id: rules.write_back_external_id,
            metrics,
        }
    }
}
