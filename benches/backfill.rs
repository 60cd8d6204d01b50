//! Benchmark of `identity-link backfill` against a bare SQL bulk update.
//!
//! Serves N identities from the fake Kratos admin API of identity-link-testing
//! on loopback (keyset pages, one comma-joined `Link` header; identity `n` has
//! the email `User{n}@Example.com`), then per round, each on a fresh database
//! holding the same N unlinked users (`user{n}@example.com`, n from 0):
//! - baseline: the bare work: read every page of the identity list (500 per
//!   page, following the `Link` header over one connection, the bodies read
//!   but not parsed), then COPY the N (email, identity id) pairs into a
//!   temporary table and link them with one `UPDATE … FROM` (one
//!   transaction);
//! - backfill: the release binary `identity-link backfill` from start to exit.
//!
//! Prints wall times, their ratio, Kratos list calls and the backfill's peak
//! RSS. Run through `scripts/bench-backfill.sh`.
//!
//! Flags: `--users N` (100000), `--rounds R` (3), `--server URL`
//! (`BENCH_DATABASE_URL`, default postgres://postgres@127.0.0.1:5432/postgres),
//! and any further arguments are passed on to `backfill`.

use std::process::Stdio;
use std::time::{Duration, Instant};

use futures::SinkExt;
use identity_link_testing::kratos_json::numbered_id;
use identity_link_testing::FakeKratos;
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
           FROM generate_series(0, $1 - 1) g",
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

/// The `rel="next"` target of a `Link` header, if any.
fn next_link(header: &str) -> Option<&str> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params
            .contains("rel=\"next\"")
            .then(|| target.trim().trim_start_matches('<').trim_end_matches('>'))
    })
}

/// Reads every page of the identity list; returns the identities' bytes.
async fn read_every_page(kratos: &str) -> anyhow::Result<u64> {
    let client = reqwest::Client::new();
    let base = kratos.trim_end_matches('/');
    let mut path = "/admin/identities?page_size=500".to_owned();
    let mut bytes = 0;
    loop {
        let response = client
            .get(format!("{base}{path}"))
            .send()
            .await?
            .error_for_status()?;
        let next = response
            .headers()
            .get(reqwest::header::LINK)
            .and_then(|value| value.to_str().ok())
            .and_then(next_link)
            .map(str::to_owned);
        let body = response.bytes().await?;
        bytes += body.len() as u64;
        match next {
            Some(next) if body.len() > 2 => path = next,
            _ => return Ok(bytes),
        }
    }
}

/// Every Kratos page read, then COPY + one UPDATE … FROM in one transaction.
async fn baseline(url: &str, kratos: &str, ids: &[Uuid]) -> anyhow::Result<Duration> {
    let mut csv = String::with_capacity(ids.len() * 64);
    for (n, id) in ids.iter().enumerate() {
        csv.push_str(&format!("user{n}@example.com,{id}\n"));
    }
    let mut db = connect(url).await?;
    let started = Instant::now();
    let listed = read_every_page(kratos).await?;
    anyhow::ensure!(listed > 0, "the identity list was empty");
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
    fake: &FakeKratos,
) -> anyhow::Result<RunResult> {
    let listed_before = fake.stats().list_calls;
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
        list_calls: fake.stats().list_calls - listed_before,
        peak_rss_kib: peak,
        summary: serde_json::from_slice(&out)?,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args();
    let ids: Vec<Uuid> = (0..args.users as u64).map(numbered_id).collect();
    let fake = FakeKratos::numbered(args.users, "User{n}@Example.com")?;
    let running = fake.serve(0).await?;
    let kratos = running.uri();

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
        let base = baseline(&base_url, &kratos, &ids).await?;
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
