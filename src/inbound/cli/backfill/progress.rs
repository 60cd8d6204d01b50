//! Progress of a backfill run: a bar on a terminal (users examined, linked, rate, ETA),
//! plain log lines every few seconds otherwise.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use identity_link_ports::{ResolutionStatus, Verdict};
use indicatif::{ProgressBar, ProgressStyle};

use crate::process::terminal;
use crate::usecases::backfill::RunProgress;

/// How often a log line is written when no terminal shows a bar.
const LOG_EVERY: Duration = Duration::from_secs(2);
/// How often the bar redraws by itself.
const TICK: Duration = Duration::from_millis(120);

#[derive(Default)]
struct Counters {
    identities: u64,
    pages: u64,
    total: u64,
    examined: u64,
    linked: u64,
    started: Option<Instant>,
    logged: Option<Instant>,
}

/// Reports progress; shared by the batches in flight.
pub struct Progress {
    bar: Option<ProgressBar>,
    counters: Mutex<Counters>,
}

impl Progress {
    /// A bar when the terminal shows progress ([`terminal`]), else log lines.
    pub fn for_command() -> Self {
        // The bar starts ticking with the first news, after the start-up logs.
        let bar = terminal::shows_progress().then(|| {
            let bar = terminal::show(ProgressBar::new_spinner());
            bar.set_style(ProgressStyle::default_spinner());
            bar
        });
        Self {
            bar,
            counters: Mutex::new(Counters::default()),
        }
    }

    fn counters(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.counters.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn due(counters: &mut Counters) -> bool {
        let now = Instant::now();
        match counters.logged {
            Some(last) if now.duration_since(last) < LOG_EVERY => false,
            _ => {
                counters.logged = Some(now);
                true
            }
        }
    }
}

impl RunProgress for Progress {
    fn listed(&self, identities: usize) {
        let mut counters = self.counters();
        counters.identities += identities as u64;
        counters.pages += 1;
        let message = format!(
            "listing Kratos identities: {} identities, {} pages",
            counters.identities, counters.pages
        );
        if let Some(bar) = &self.bar {
            bar.set_message(message);
            bar.enable_steady_tick(TICK);
        } else if Self::due(&mut counters) {
            tracing::info!(
                identities = counters.identities,
                pages = counters.pages,
                "backfill: listing identities"
            );
        }
    }

    fn start_users(&self, total: u64) {
        let mut counters = self.counters();
        counters.total = total;
        counters.started = Some(Instant::now());
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.set_position(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed}] {bar:20} {human_pos}/{human_len} users · {msg} · ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_message("0 linked");
            bar.reset_eta();
            bar.enable_steady_tick(TICK);
        } else {
            tracing::info!(unlinked_users = total, "backfill: examining users");
        }
    }

    fn recorded(&self, verdicts: &[Verdict]) {
        let mut counters = self.counters();
        counters.examined += verdicts.len() as u64;
        counters.linked += verdicts
            .iter()
            .filter(|verdict| verdict.status == ResolutionStatus::Linked)
            .count() as u64;
        let elapsed = counters
            .started
            .map_or(0.0, |started| started.elapsed().as_secs_f64());
        let rate = if elapsed > 0.0 {
            counters.examined as f64 / elapsed
        } else {
            0.0
        };
        if let Some(bar) = &self.bar {
            bar.set_position(counters.examined);
            bar.set_message(format!("{} linked · {rate:.0}/s", counters.linked));
        } else if Self::due(&mut counters) {
            let remaining = counters.total.saturating_sub(counters.examined) as f64;
            let eta = if rate > 0.0 { remaining / rate } else { 0.0 };
            tracing::info!(
                examined = counters.examined,
                total = counters.total,
                linked = counters.linked,
                users_per_second = rate.round() as u64,
                eta_seconds = eta.round() as u64,
                "backfill: progress"
            );
        }
    }

    /// The bar goes away (the summary follows).
    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
