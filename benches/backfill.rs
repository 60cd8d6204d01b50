//! Benchmark of `identity-link backfill` against a bare SQL bulk update.
//!
//! Serves N identities from a fake Kratos admin API on loopback (keyset pages,
//! one comma-joined `Link` header), then per round, each on a fresh database
//! holding the same N unlinked users:
//! - baseline: COPY N (email, identity id) pairs into a temporary table and
//!   link them with one `UPDATE … FROM` (one transaction);
//! - backfill: the release binary `identity-link backfill` from start to exit.
//!
//! Prints wall times, their ratio, Kratos list calls and the backfill's peak
//! RSS. Run through `scripts/bench-backfill.sh`.
//!
//! Flags: `--users N` (100000), `--rounds R` (3), `--server URL`
//! (`BENCH_DATABASE_URL`, default postgres://postgres@127.0.0.1:5432/postgres),
//! and any further arguments are passed on to `backfill`.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::SinkExt;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::{Data, Query};
use poem::{get, handler, EndpointExt, Response, Route};
use serde_json::json;
use tokio_postgres::NoTls;
use uuid::Uuid;

const BIN: &str = env!("CARGO_BIN_EXE_identity-link");

struct Args {
    users: usize,
    rounds: usize,
    server: String,
    backfill: Vec<String>,
}

fn args() -> Args {
    let mut parsed = Args {
        users: 100_000,
        rounds: 3,
        server: std::env::var("BENCH_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
        backfill: Vec::new(),
    };
    let mut raw = std::env::args().skip(1);
    while let Some(arg) = raw.next() {
        match arg.as_str() {
            "--users" => {
                parsed.users = raw
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(parsed.users)
            }
            "--rounds" => {
                parsed.rounds = raw
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(parsed.rounds)
            }
            "--server" => parsed.server = raw.next().unwrap_or(parsed.server),
            // cargo bench passes --bench to harness-less benchmarks.
            "--bench" => {}
            _ => parsed.backfill.push(arg),
        }
    }
    parsed
}

/// The fake Kratos: identities serialized once, pages joined per request.
struct Kratos {
    identities: Vec<Vec<u8>>,
    list_calls: AtomicU64,
}

#[handler]
fn list_identities(
    Query(query): Query<HashMap<String, String>>,
    Data(kratos): Data<&Arc<Kratos>>,
) -> Response {
    kratos.list_calls.fetch_add(1, Ordering::Relaxed);
    let size = query
        .get("page_size")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(250)
        .clamp(1, 500);
    let offset = query
        .get("page_token")
        .and_then(|t| t.strip_prefix('p'))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0);
    let end = (offset + size).min(kratos.identities.len());
    let page = kratos.identities.get(offset..end).unwrap_or_default();
    let mut body = Vec::with_capacity(page.iter().map(Vec::len).sum::<usize>() + page.len() + 2);
    body.push(b'[');
    for (n, identity) in page.iter().enumerate() {
        if n > 0 {
            body.push(b',');
        }
        body.extend_from_slice(identity);
    }
    body.push(b']');
    let link = |token: usize, rel: &str| {
        format!("</admin/identities?page_size={size}&page_token=p{token}>; rel=\"{rel}\"")
    };
    let mut header = link(0, "first");
    if end < kratos.identities.len() {
        header.push(',');
        header.push_str(&link(end, "next"));
    }
    Response::builder()
        .header("link", header)
        .content_type("application/json")
        .body(body)
}

fn identity(id: Uuid, n: usize) -> Vec<u8> {
    let email = format!("User{n}@Example.com");
    serde_json::to_vec(&json!({
        "id": id,
        "schema_id": "default",
        "schema_url": "http://127.0.0.1/schemas/ZGVmYXVsdA",
        "state": "active",
        "state_changed_at": "2026-01-01T00:00:00Z",
        "traits": {"email": email, "name": {"first": "First", "last": "Last"}},
        "verifiable_addresses": [{
            "id": Uuid::new_v4(), "value": email.to_lowercase(), "verified": true,
            "via": "email", "status": "completed"
        }],
        "recovery_addresses": [{"id": Uuid::new_v4(), "value": email.to_lowercase(), "via": "email"}],
        "metadata_public": null,
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z"
    }))
    .unwrap_or_default()
}

async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

fn with_database(server: &str, name: &str) -> String {
    match server.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => format!("{server}/{name}"),
    }
}

/// A fresh database with `users` unlinked users, vacuumed and checkpointed.
async fn prepare(server: &str, name: &str, users: usize) -> anyhow::Result<String> {
    let admin = connect(server).await?;
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await?;
    let url = with_database(server, name);
    identity_link_adapters::postgres::migrate(&url).await?;
    let db = connect(&url).await?;
    db.execute(
        "INSERT INTO users (id, email, first_name, last_name)
         SELECT gen_random_uuid(), 'user' || g || '@example.com', 'First', 'Last'
           FROM generate_series(1, $1) g",
        &[&(users as i32)],
    )
    .await?;
    db.batch_execute("VACUUM ANALYZE users").await?;
    db.batch_execute("CHECKPOINT").await?;
    Ok(url)
}

async fn drop_database(server: &str, name: &str) -> anyhow::Result<()> {
    connect(server)
        .await?
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    Ok(())
}

/// COPY + one UPDATE … FROM, in one transaction.
async fn baseline(url: &str, ids: &[Uuid]) -> anyhow::Result<Duration> {
    let mut csv = String::with_capacity(ids.len() * 64);
    for (n, id) in ids.iter().enumerate() {
        csv.push_str(&format!("user{}@example.com,{id}\n", n + 1));
    }
    let mut db = connect(url).await?;
    let started = Instant::now();
    let tx = db.transaction().await?;
    tx.batch_execute("CREATE TEMP TABLE links (email text, auth_id uuid) ON COMMIT DROP")
        .await?;
    let sink = tx.copy_in("COPY links FROM STDIN (FORMAT csv)").await?;
    futures::pin_mut!(sink);
    sink.send(bytes::Bytes::from(csv)).await?;
    sink.finish().await?;
    let updated = tx
        .execute(
            "UPDATE users SET auth_id = l.auth_id, linked_at = now(), updated_at = now()
               FROM links l WHERE users.email_normalized = l.email AND users.auth_id IS NULL",
            &[],
        )
        .await?;
    tx.commit().await?;
    let elapsed = started.elapsed();
    anyhow::ensure!(updated as usize == ids.len(), "baseline linked {updated}");
    Ok(elapsed)
}

/// The peak resident set of a process so far, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
}

struct RunResult {
    elapsed: Duration,
    list_calls: u64,
    peak_rss_kib: u64,
    summary: serde_json::Value,
}

async fn backfill(
    url: &str,
    kratos: &str,
    extra: &[String],
    fake: &Kratos,
) -> anyhow::Result<RunResult> {
    fake.list_calls.store(0, Ordering::Relaxed);
    let started = Instant::now();
    let mut child = tokio::process::Command::new(BIN)
        .args([
            "--database-url",
            url,
            "--kratos-admin-url",
            kratos,
            "backfill",
            "--format",
            "json",
        ])
        .args(extra)
        .env("LOG_FORMAT", "json")
        .env(
            "RUST_LOG",
            std::env::var("BENCH_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let pid = child.id().unwrap_or_default();
    let mut peak = 0;
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let reader = tokio::spawn(async move {
        let mut out = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut stdout, &mut out)
            .await
            .map(|_| out)
    });
    let status = loop {
        if let Some(rss) = peak_rss_kib(pid) {
            peak = peak.max(rss);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let elapsed = started.elapsed();
    anyhow::ensure!(status.success(), "backfill exited with {status}");
    let out = reader.await??;
    Ok(RunResult {
        elapsed,
        list_calls: fake.list_calls.load(Ordering::Relaxed),
        peak_rss_kib: peak,
        summary: serde_json::from_slice(&out)?,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args();
    let ids: Vec<Uuid> = (0..args.users).map(|_| Uuid::new_v4()).collect();
    let fake = Arc::new(Kratos {
        identities: ids
            .iter()
            .enumerate()
            .map(|(n, id)| identity(*id, n + 1))
            .collect(),
        list_calls: AtomicU64::new(0),
    });
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await?;
    let address = acceptor
        .local_addr()
        .first()
        .and_then(|addr| addr.as_socket_addr().copied())
        .ok_or_else(|| anyhow::anyhow!("no local address"))?;
    let app = Route::new()
        .at("/admin/identities", get(list_identities))
        .data(fake.clone());
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    let kratos = format!("http://{address}");

    println!(
        "backfill benchmark: {} users, {} identities, {} rounds, binary {BIN}",
        args.users, args.users, args.rounds
    );
    println!("round  baseline_ms  backfill_ms  ratio  list_calls  peak_rss_mib  linked");
    let mut ratios = Vec::new();
    for round in 1..=args.rounds {
        let base_db = format!("bench_backfill_baseline_{round}");
        let run_db = format!("bench_backfill_run_{round}");
        let base_url = prepare(&args.server, &base_db, args.users).await?;
        let base = baseline(&base_url, &ids).await?;
        drop_database(&args.server, &base_db).await?;
        let run_url = prepare(&args.server, &run_db, args.users).await?;
        let run = backfill(&run_url, &kratos, &args.backfill, &fake).await?;
        drop_database(&args.server, &run_db).await?;
        let ratio = run.elapsed.as_secs_f64() / base.as_secs_f64();
        ratios.push(ratio);
        println!(
            "{round:>5}  {:>11}  {:>11}  {ratio:>5.2}  {:>10}  {:>12.1}  {}",
            base.as_millis(),
            run.elapsed.as_millis(),
            run.list_calls,
            run.peak_rss_kib as f64 / 1024.0,
            run.summary["counts"]["linked"],
        );
    }
    ratios.sort_by(f64::total_cmp);
    if let Some(median) = ratios.get(ratios.len() / 2) {
        println!("median ratio backfill/baseline: {median:.2}");
    }
    Ok(())
}
