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
//! `User` / `{n}`. A full page links a next page, even when that one turns out
//! empty. Routes: `GET /admin/identities` (`page_size`, `page_token`,
//! `credentials_identifier`), `GET` and `PATCH /admin/identities/{id}` (a patch
//! of `/external_id` is kept), `GET /admin/identities/by/external/{id}`,
//! `GET /health/alive`, `GET /health/ready`, and `GET /fake/stats` (request
//! counts per route, to check how many calls a client made).
//!
//! The fake itself is `identity_link_testing::fake_kratos`, shared with the
//! tests and the backfill benchmark; this is its command line.

use std::time::Duration;

use clap::Parser;
use identity_link_testing::FakeKratos;

#[derive(Debug, Clone, Parser)]
#[command(about = "A fake Kratos admin API serving generated identities.")]
struct Args {
    /// How many identities to serve.
    #[arg(long, default_value_t = 1000)]
    identities: usize,
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

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let fake = match FakeKratos::numbered(args.identities, &args.email_pattern) {
        Ok(fake) => fake
            .page_delay(Duration::from_millis(args.page_delay_ms))
            .next_after_full_page(),
        Err(_) => {
            eprintln!("error: --email-pattern must contain {{n}}");
            std::process::exit(2);
        }
    };
    let running = fake.serve(args.port).await?;
    println!(
        "fake Kratos serving {} identities at {}",
        args.identities,
        running.uri()
    );
    running.wait().await
}
