//! Prometheus metrics, one registry per process (or per test app).

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub resolutions: IntCounterVec,
    pub resolve_seconds: HistogramVec,
    pub kratos_calls: IntCounterVec,
    pub backfill_users: IntCounterVec,
    pub webhook_calls: IntCounterVec,
    pub webhook_failures: IntCounterVec,
    pub write_backs: IntCounterVec,
    pub reconcile_findings: IntGaugeVec,
    pub audit_dropped: IntCounter,
    pub audit_failed: IntCounter,
}

impl Metrics {
    /// # Panics
    /// Never: the metric definitions are static and distinct.
    #[allow(clippy::expect_used)]
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("identity_link".into()), None)
            .expect("a valid metrics prefix");
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let metric = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(metric.clone()))
                .expect("unique metric");
            metric
        };
        let resolutions = counter(
            "resolutions_total",
            "Identity resolutions by outcome (resolved, linked, created or the error code).",
            &["outcome"],
        );
        let kratos_calls = counter(
            "kratos_requests_total",
            "HTTP attempts against Kratos by operation and status.",
            &["operation", "status"],
        );
        let backfill_users = counter(
            "backfill_users_total",
            "Users examined by backfill, by resolution status.",
            &["status"],
        );
        let webhook_calls = counter(
            "webhook_calls_total",
            "Kratos webhook calls by kind and outcome.",
            &["kind", "outcome"],
        );
        let webhook_failures = counter(
            "webhook_failures_total",
            "Kratos webhook calls that failed to be processed (any answer but 200 or a refusal), \
             by hook (the URL's hook parameter) and HTTP status. Kratos does not deliver a \
             background hook again: reconcile reports what it left undone.",
            &["hook", "status"],
        );
        let write_backs = counter(
            "writeback_attempts_total",
            "Kratos external_id write-back attempts by outcome (written, skipped or the error code).",
            &["outcome"],
        );
        let resolve_seconds = HistogramVec::new(
            HistogramOpts::new(
                "resolve_duration_seconds",
                "Latency of identity resolutions.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ]),
            &["outcome"],
        )
        .expect("valid histogram");
        registry
            .register(Box::new(resolve_seconds.clone()))
            .expect("unique metric");
        let reconcile_findings = IntGaugeVec::new(
            Opts::new(
                "reconcile_findings",
                "Findings of the last reconcile run in this process, by kind.",
            ),
            &["kind"],
        )
        .expect("valid gauge");
        registry
            .register(Box::new(reconcile_findings.clone()))
            .expect("unique metric");
        let single = |name: &str, help: &str| {
            let metric = IntCounter::new(name, help).expect("valid metric");
            registry
                .register(Box::new(metric.clone()))
                .expect("unique metric");
            metric
        };
        let audit_dropped = single(
            "audit_dropped_total",
            "Audit events dropped because the queue was full.",
        );
        let audit_failed = single(
            "audit_failed_total",
            "Audit events lost because the store refused them after retries.",
        );
        Self {
            registry,
            resolutions,
            resolve_seconds,
            kratos_calls,
            backfill_users,
            webhook_calls,
            webhook_failures,
            write_backs,
            reconcile_findings,
            audit_dropped,
            audit_failed,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::error!(%error, "cannot encode metrics");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
