//! What operators read: a run's summary, a recorded run's report and a
//! revert's outcome, as a table or as one JSON object.

use std::fmt::Write as _;

use clap::ValueEnum;
use identity_link_ports::{ResolutionStatus, RevertOutcome, RunId, RunReport, StatusCounts};
use serde_json::{json, Map, Value};

use crate::usecases::backfill::RunSummary;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

fn counts_json(counts: &StatusCounts) -> Value {
    let object: Map<String, Value> = ResolutionStatus::ALL
        .iter()
        .map(|status| {
            let count = counts.get(status).copied().unwrap_or(0);
            (status.as_str().to_owned(), Value::from(count))
        })
        .collect();
    Value::Object(object)
}

fn counts_table(out: &mut String, counts: &StatusCounts) {
    let _ = writeln!(out, "{:<16}{:>12}", "status", "users");
    for status in ResolutionStatus::ALL {
        let count = counts.get(&status).copied().unwrap_or(0);
        let _ = writeln!(out, "{:<16}{count:>12}", status.as_str());
    }
    let _ = writeln!(out, "{:<16}{:>12}", "total", counts.values().sum::<u64>());
}

/// A finished run's summary.
pub fn summary(summary: &RunSummary, format: Format) -> String {
    match format {
        Format::Json => {
            let value = json!({
                "run_id": summary.run.to_string(),
                "dry_run": summary.dry_run,
                "strategy": summary.strategy.as_str(),
                "state": "finished",
                "started_at": summary.started_at.to_rfc3339(),
                "elapsed_ms": summary.elapsed.as_millis() as u64,
                "identities": summary.identities,
                "examined": summary.examined(),
                "counts": counts_json(&summary.counts),
            });
            format!("{value}\n")
        }
        Format::Table => {
            let mut out = String::new();
            let _ = writeln!(
                out,
                "backfill run {} ({}{})",
                summary.run,
                summary.strategy.as_str(),
                if summary.dry_run {
                    ", dry run: nothing was written"
                } else {
                    ""
                }
            );
            if let Some(identities) = summary.identities {
                let _ = writeln!(out, "identities listed: {identities}");
            }
            counts_table(&mut out, &summary.counts);
            let _ = writeln!(out, "finished in {:.1} s", summary.elapsed.as_secs_f64());
            out
        }
    }
}

/// A recorded run, or the lack of any.
pub fn report(report: Option<&RunReport>, format: Format) -> String {
    let Some(report) = report else {
        return match format {
            Format::Json => format!(
                "{}\n",
                json!({"run_id": null, "examined": 0, "counts": counts_json(&StatusCounts::new())})
            ),
            Format::Table => "no backfill run is recorded yet\n".to_owned(),
        };
    };
    match format {
        Format::Json => {
            let value = json!({
                "run_id": report.run.to_string(),
                "strategy": report.strategy.as_str(),
                "state": report.state.as_str(),
                "started_at": report.started_at.to_rfc3339(),
                "finished_at": report.finished_at.map(|at| at.to_rfc3339()),
                "failure": report.failure,
                "options": report.options,
                "examined": report.counts.values().sum::<u64>(),
                "counts": counts_json(&report.counts),
                "reverted": report.reverted,
            });
            format!("{value}\n")
        }
        Format::Table => {
            let mut out = String::new();
            let _ = writeln!(out, "backfill run {}", report.run);
            let _ = writeln!(out, "strategy  {}", report.strategy.as_str());
            let _ = writeln!(out, "state     {}", report.state.as_str());
            let _ = writeln!(out, "started   {}", report.started_at.to_rfc3339());
            if let Some(finished) = report.finished_at {
                let _ = writeln!(out, "finished  {}", finished.to_rfc3339());
            }
            if let Some(failure) = &report.failure {
                let _ = writeln!(out, "failure   {failure}");
            }
            let _ = writeln!(out, "options   {}", report.options);
            counts_table(&mut out, &report.counts);
            if report.reverted > 0 {
                let _ = writeln!(out, "{:<16}{:>12}", "reverted", report.reverted);
            }
            out
        }
    }
}

/// Users named by a revert whose links changed, at most.
const NAMED: usize = 20;

/// What a revert did.
pub fn revert(run: RunId, outcome: &RevertOutcome) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "revert of backfill run {run}");
    let _ = writeln!(out, "reverted:         {}", outcome.reverted);
    let _ = writeln!(out, "already reverted: {}", outcome.already_reverted);
    let _ = writeln!(
        out,
        "left as they are: {} (their link changed since the run)",
        outcome.changed.len()
    );
    for user in outcome.changed.iter().take(NAMED) {
        let _ = writeln!(out, "  user {user}");
    }
    if outcome.changed.len() > NAMED {
        let _ = writeln!(out, "  …");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use identity_link_ports::Strategy;
    use std::time::Duration;

    #[test]
    fn json_summaries_carry_the_run_id_and_every_status() {
        let mut counts = StatusCounts::new();
        counts.insert(ResolutionStatus::Linked, 3);
        counts.insert(ResolutionStatus::Missing, 1);
        let run = RunSummary {
            run: RunId::generate(),
            strategy: Strategy::List,
            dry_run: true,
            counts,
            identities: Some(9),
            started_at: chrono::Utc::now(),
            elapsed: Duration::from_millis(1500),
        };
        let value: Value = serde_json::from_str(&summary(&run, Format::Json)).unwrap();
        assert_eq!(value["run_id"], json!(run.run.to_string()));
        assert_eq!(value["examined"], json!(4));
        assert_eq!(value["counts"]["linked"], json!(3));
        assert_eq!(value["counts"]["error"], json!(0));
        let table = summary(&run, Format::Table);
        assert!(table.contains("dry run"), "{table}");
        assert!(table
            .lines()
            .any(|l| l.starts_with("total") && l.ends_with('4')));
    }
}
