//! What the backfill suites share: the fake Kratos serving identities the way
//! Kratos does (keyset pages, ONE comma-joined `Link` header with rel="first"
//! and rel="next", `credentials_identifier` lookups), and a store for a test app.

use std::collections::HashMap;
use std::time::Duration;

use identity_link::usecases::backfill::{self, BackfillOptions, RunSummary, Silent};
use identity_link_adapters::postgres::{self, PostgresSettings};
use identity_link_adapters::postgres_backfill::PostgresBackfillStore;
use identity_link_ports::UserId;
use identity_link_testing::FakeKratos;
use serde_json::Value;
use uuid::Uuid;
use wiremock::matchers::{method, path, query_param_is_missing};
use wiremock::{Mock, MockServer};

use crate::helpers::TestApp;

/// Kratos's `GET /admin/identities` over a fixed list of identities: the shared
/// fake Kratos, mounted with the calls a test expects.
#[derive(Clone)]
pub struct Identities {
    fake: FakeKratos,
}

impl Identities {
    pub fn new(identities: Vec<Value>) -> Self {
        Self {
            fake: FakeKratos::listed(identities),
        }
    }

    /// Every answer waits this long first.
    pub fn slow(self, delay: Duration) -> Self {
        Self {
            fake: self.fake.answer_delay(delay),
        }
    }

    /// Serves pages, expecting `list_calls` list calls and `lookups` lookups.
    pub async fn mount(
        &self,
        kratos: &MockServer,
        list_calls: impl Into<wiremock::Times>,
        lookups: impl Into<wiremock::Times>,
    ) {
        Mock::given(method("GET"))
            .and(path("/admin/identities"))
            .and(query_param_is_missing("credentials_identifier"))
            .respond_with(self.fake.clone())
            .expect(list_calls)
            .named("list identities")
            .mount(kratos)
            .await;
        Mock::given(method("GET"))
            .and(path("/admin/identities"))
            .and(wiremock::matchers::query_param_contains(
                "credentials_identifier",
                "@",
            ))
            .respond_with(self.fake.clone())
            .expect(lookups)
            .named("credentials_identifier lookups")
            .mount(kratos)
            .await;
    }
}

/// An identity in Kratos's format with these traits/identifiers.
pub fn identity(email: &str, verified: bool) -> (Uuid, Value) {
    let id = Uuid::new_v4();
    (id, crate::helpers::kratos::identity(id, email, verified))
}

/// A backfill store on the test app's database.
pub fn store(app: &TestApp) -> PostgresBackfillStore {
    let pool = postgres::pool(&PostgresSettings {
        url: app.database_url.clone(),
        pool_size: 8,
        acquire_timeout: Duration::from_secs(5),
        statement_cache: app.settings.database_statement_cache,
    })
    .expect("pool");
    PostgresBackfillStore::new(pool, app.database_url.clone())
        .with_write_back(app.settings.write_back_external_id)
}

/// Adds an unlinked user (or a linked one with `auth_id`).
pub async fn user(app: &TestApp, email: &str, auth_id: Option<Uuid>) -> UserId {
    crate::helpers::seed_user(app, email, auth_id).await.id
}

/// Runs a backfill in process.
pub async fn run(app: &TestApp, options: &BackfillOptions) -> RunSummary {
    backfill::run(&app.app, &store(app), options, &Silent)
        .await
        .expect("backfill run")
}

/// The user's link now.
pub use crate::helpers::stored_link as link_of;

/// The audit row of `user` in `run`: (status, auth_id, detail).
pub async fn audit_of(
    app: &TestApp,
    run: &RunSummary,
    user: UserId,
) -> (String, Option<Uuid>, Option<String>) {
    let row = app
        .db()
        .await
        .query_one(
            "SELECT resolution_status, auth_id, detail FROM user_authid_backfill_audit
              WHERE run_id = $1 AND user_id = $2",
            &[&run.run.as_uuid(), &user.as_uuid()],
        )
        .await
        .expect("one audit row for the user in the run");
    (row.get(0), row.get(1), row.get(2))
}

/// `SELECT resolution_status, COUNT(*) … GROUP BY resolution_status`, verbatim.
pub async fn operators_query(app: &TestApp) -> HashMap<String, i64> {
    app.db()
        .await
        .query(
            "SELECT resolution_status, COUNT(*) FROM user_authid_backfill_audit GROUP BY resolution_status;",
            &[],
        )
        .await
        .expect("the operators' query")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}
