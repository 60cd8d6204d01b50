//! A fake Kratos admin API serving N generated identities, shaped like Kratos's
//! (pages of `page_size` ≤ 500 in id order, ONE comma-joined `Link` header with
//! `rel="first"` and `rel="next"`, `{"error": {…}}` bodies), for benchmarks
//! and manual runs:
//!
//! ```sh
//! cargo run --release --example fake_kratos -- --identities 100000 --port 4434
//! identity-link --kratos-admin-url http://127.0.0.1:4434 … reconcile
//! ```
//!
//! Identity `n` (0-based) has id `1d000000-0000-4000-8000-{n as 12 hex digits}`
//! (so id order is `n` order, and SQL can compute it), the email `--email-pattern`
//! with `{n}` replaced (verified, also the password identifier) and the names
//! `User` / `{n}`. Routes: `GET /admin/identities` (`page_size`, `page_token`,
//! `credentials_identifier`), `GET` and `PATCH /admin/identities/{id}`,
//! `GET /health/alive`, `GET /health/ready`, and `GET /fake/stats` (request
//! counts per route, to check how many calls a client made).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use poem::http::StatusCode;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::{Data, Json, Path, Query};
use poem::{get, handler, EndpointExt, IntoResponse, Response, Route, Server};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

const ID_PREFIX: &str = "1d000000-0000-4000-8000-";

#[derive(Debug, Clone, Parser)]
#[command(about = "A fake Kratos admin API serving generated identities.")]
struct Args {
    /// How many identities to serve.
    #[arg(long, default_value_t = 1000)]
    identities: u64,
    /// Port on 127.0.0.1 (0: any free port; the address is printed).
    #[arg(long, default_value_t = 4434)]
    port: u16,
    /// Email of identity n, `{n}` replaced by n.
    #[arg(long, default_value = "user{n}@example.com")]
    email_pattern: String,
    /// Delay before answering each list call, in milliseconds (a slower Kratos).
    #[arg(long, default_value_t = 0)]
    page_delay_ms: u64,
}

#[derive(Default)]
struct Stats {
    list: AtomicU64,
    lookup: AtomicU64,
    get: AtomicU64,
    patch: AtomicU64,
}

struct Fake {
    args: Args,
    stats: Stats,
}

impl Fake {
    fn id(n: u64) -> String {
        format!("{ID_PREFIX}{n:012x}")
    }

    fn index(&self, id: &str) -> Option<u64> {
        let n = u64::from_str_radix(id.strip_prefix(ID_PREFIX)?, 16).ok()?;
        (id.len() == 36 && n < self.args.identities).then_some(n)
    }

    fn email(&self, n: u64) -> String {
        self.args.email_pattern.replace("{n}", &n.to_string())
    }

    /// The `n` whose email is `identifier`, when the pattern has one `{n}`.
    fn index_of_email(&self, identifier: &str) -> Option<u64> {
        let (prefix, suffix) = self.args.email_pattern.split_once("{n}")?;
        let lower = identifier.to_lowercase();
        let digits = lower
            .strip_prefix(&prefix.to_lowercase())?
            .strip_suffix(&suffix.to_lowercase())?;
        let n: u64 = digits.parse().ok()?;
        (n.to_string() == digits && n < self.args.identities).then_some(n)
    }

    fn identity(&self, n: u64) -> Value {
        let email = self.email(n);
        json!({
            "id": Self::id(n),
            "schema_id": "default",
            "schema_url": "http://127.0.0.1/schemas/ZGVmYXVsdA",
            "state": "active",
            "state_changed_at": "2026-01-01T00:00:00Z",
            "traits": {"email": email, "name": {"first": "User", "last": n.to_string()}},
            "verifiable_addresses": [{
                "id": Uuid::from_u128(u128::from(n) << 1),
                "value": email, "verified": true, "via": "email", "status": "completed",
                "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"
            }],
            "recovery_addresses": [{"id": Uuid::from_u128((u128::from(n) << 1) | 1), "value": email, "via": "email"}],
            "credentials": {"password": {"type": "password", "identifiers": [email.to_lowercase()], "version": 0}},
            "metadata_public": null,
            "organization_id": null,
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z"
        })
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    let body = json!({"error": {
        "code": status.as_u16(),
        "status": status.canonical_reason().unwrap_or_default(),
        "message": message
    }});
    Json(body).with_status(status).into_response()
}

#[derive(Deserialize)]
struct ListQuery {
    page_size: Option<i64>,
    page_token: Option<String>,
    credentials_identifier: Option<String>,
}

#[handler]
async fn list(Query(query): Query<ListQuery>, fake: Data<&Arc<Fake>>) -> Response {
    if let Some(identifier) = &query.credentials_identifier {
        fake.stats.lookup.fetch_add(1, Ordering::Relaxed);
        let found: Vec<Value> = fake
            .index_of_email(identifier)
            .map(|n| fake.identity(n))
            .into_iter()
            .collect();
        return Json(found).into_response();
    }
    fake.stats.list.fetch_add(1, Ordering::Relaxed);
    let size = query.page_size.unwrap_or(250);
    if !(1..=500).contains(&size) {
        return error(
            StatusCode::BAD_REQUEST,
            "page_size must be between 1 and 500",
        );
    }
    let size = size.unsigned_abs();
    let start = match query.page_token.as_deref() {
        None | Some("") => 0,
        Some(token) => match token.strip_prefix('p').and_then(|n| n.parse::<u64>().ok()) {
            Some(start) => start,
            None => return error(StatusCode::BAD_REQUEST, "invalid page_token"),
        },
    };
    if fake.args.page_delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(fake.args.page_delay_ms)).await;
    }
    let end = start.saturating_add(size).min(fake.args.identities);
    let page: Vec<Value> = (start..end).map(|n| fake.identity(n)).collect();
    let link = |token: u64| format!("</admin/identities?page_size={size}&page_token=p{token}>");
    let mut header = format!("{}; rel=\"first\"", link(0));
    // Like Kratos's keyset pagination: a full page has a next link, even when
    // the next page turns out empty.
    if end > start && end - start == size {
        header.push_str(&format!(",{}; rel=\"next\"", link(end)));
    }
    Json(page).with_header("Link", header).into_response()
}

#[handler]
async fn get_identity(Path(id): Path<String>, fake: Data<&Arc<Fake>>) -> Response {
    fake.stats.get.fetch_add(1, Ordering::Relaxed);
    match fake.index(&id) {
        Some(n) => Json(fake.identity(n)).into_response(),
        None => error(StatusCode::NOT_FOUND, "Unable to locate the resource"),
    }
}

#[handler]
async fn patch_identity(Path(id): Path<String>, fake: Data<&Arc<Fake>>) -> Response {
    fake.stats.patch.fetch_add(1, Ordering::Relaxed);
    match fake.index(&id) {
        Some(n) => Json(fake.identity(n)).into_response(),
        None => error(StatusCode::NOT_FOUND, "Unable to locate the resource"),
    }
}

#[handler]
fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

#[handler]
fn stats(fake: Data<&Arc<Fake>>) -> Json<Value> {
    let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    Json(json!({
        "list_calls": read(&fake.stats.list),
        "identifier_lookups": read(&fake.stats.lookup),
        "get_calls": read(&fake.stats.get),
        "patch_calls": read(&fake.stats.patch),
    }))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    if !args.email_pattern.contains("{n}") {
        eprintln!("error: --email-pattern must contain {{n}}");
        std::process::exit(2);
    }
    let fake = Arc::new(Fake {
        args: args.clone(),
        stats: Stats::default(),
    });
    let app = Route::new()
        .at("/admin/identities", get(list))
        .at(
            "/admin/identities/:id",
            get(get_identity).patch(patch_identity),
        )
        .at("/health/alive", get(health))
        .at("/health/ready", get(health))
        .at("/fake/stats", get(stats))
        .data(fake);
    let acceptor = TcpListener::bind(format!("127.0.0.1:{}", args.port))
        .into_acceptor()
        .await?;
    for address in acceptor.local_addr() {
        if let Some(address) = address.as_socket_addr() {
            println!(
                "fake Kratos serving {} identities at http://{address}",
                args.identities
            );
        }
    }
    Server::new_with_acceptor(acceptor).run(app).await
}
