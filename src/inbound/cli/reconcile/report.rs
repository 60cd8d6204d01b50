//! Rendering a reconcile report: a table for people, one JSON object for tools.

use std::io::{self, Write};

use crate::usecases::reconcile::{DriftedUser, ExternalIdMismatch, Report, SyncOutcome};

/// Writes the report as one pretty-printed JSON object.
///
/// # Errors
/// When `out` cannot be written.
pub fn render_json(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)
}

const ID: usize = 36;

fn or_none(value: Option<&str>) -> &str {
    value.unwrap_or("(none)")
}

/// Writes the report as aligned text: a summary, then one section per finding kind.
///
/// # Errors
/// When `out` cannot be written.
pub fn render_table(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let counts = &report.counts;
    writeln!(
        out,
        "reconcile run {} ({:.1} s): identities: {}, linked users: {}, Kratos list calls: {}",
        report.run_id,
        (report.finished_at - report.started_at).as_seconds_f64(),
        counts.identities,
        counts.linked_users,
        counts.kratos_pages,
    )?;
    if counts.not_compared > 0 {
        writeln!(
            out,
            "{} linked users not compared: their identity has no usable email",
            counts.not_compared
        )?;
    }
    if !report.has_findings() {
        writeln!(out, "\nno findings: users and identities agree")?;
        return Ok(());
    }

    writeln!(
        out,
        "\nusers linked to identities Kratos no longer has: {}",
        report.orphaned_users.len()
    )?;
    if !report.orphaned_users.is_empty() {
        writeln!(out, "  {:<ID$}  {:<ID$}  EMAIL", "USER ID", "IDENTITY ID")?;
    }
    for orphan in &report.orphaned_users {
        writeln!(
            out,
            "  {:<ID$}  {:<ID$}  {}",
            orphan.user_id.to_string(),
            orphan.identity_id.to_string(),
            orphan.email
        )?;
    }

    writeln!(
        out,
        "\nactive identities with no user: {}",
        report.unlinked_identities.len()
    )?;
    if !report.unlinked_identities.is_empty() {
        writeln!(out, "  {:<ID$}  EMAIL", "IDENTITY ID")?;
    }
    for identity in &report.unlinked_identities {
        let note = identity
            .note
            .as_deref()
            .map(|note| format!("  ({note})"))
            .unwrap_or_default();
        writeln!(
            out,
            "  {:<ID$}  {}{note}",
            identity.identity_id.to_string(),
            or_none(identity.email.as_deref()),
        )?;
    }

    writeln!(
        out,
        "\nlinked users whose email or names differ from Kratos: {}",
        report.drifted_users.len()
    )?;
    if !report.drifted_users.is_empty() {
        let sync = if report.sync_profiles { "  SYNC" } else { "" };
        writeln!(
            out,
            "  {:<ID$}  {:<ID$}  {:<10}  APP VALUE -> KRATOS VALUE{sync}",
            "USER ID", "IDENTITY ID", "FIELD"
        )?;
    }
    for drifted in &report.drifted_users {
        drift_rows(drifted, out)?;
    }
    if report.sync_profiles {
        writeln!(
            out,
            "\nprofiles synced: {}, refused: {}",
            counts.synced, counts.sync_refused
        )?;
    }
    if !report.external_id_mismatches.is_empty() {
        render_mismatches(&report.external_id_mismatches, out)?;
    }
    Ok(())
}

fn drift_rows(drifted: &DriftedUser, out: &mut dyn Write) -> io::Result<()> {
    let differences = &drifted.differences;
    let mut rows: Vec<(&str, String)> = Vec::new();
    if let Some(email) = &differences.email {
        let case = if email.case_only { " (case only)" } else { "" };
        rows.push((
            "email",
            format!(
                "{} -> {}{case}",
                email.user.as_str(),
                email.identity.as_str()
            ),
        ));
    }
    for (field, name) in [
        ("first_name", &differences.first_name),
        ("last_name", &differences.last_name),
    ] {
        if let Some(name) = name {
            rows.push((
                field,
                format!(
                    "{} -> {}",
                    or_none(name.user.as_deref()),
                    or_none(name.identity.as_deref())
                ),
            ));
        }
    }
    let sync = match &drifted.sync {
        None => String::new(),
        Some(SyncOutcome::EmailTaken {
            held_by: Some(holder),
        }) => format!("  email_taken (held by user {holder})"),
        Some(outcome) => format!("  {}", outcome.code()),
    };
    for (field, change) in rows {
        writeln!(
            out,
            "  {:<ID$}  {:<ID$}  {field:<10}  {change}{sync}",
            drifted.user_id.to_string(),
            drifted.identity_id.to_string(),
        )?;
    }
    Ok(())
}

/// The table section of the external-id mismatches.
fn render_mismatches(mismatches: &[ExternalIdMismatch], out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "\nlinked identities whose external_id is not their user's id: {}",
        mismatches.len()
    )?;
    for mismatch in mismatches {
        writeln!(
            out,
            "  {:<36}  {:<36}  {}{}",
            mismatch.user_id.to_string(),
            mismatch.identity_id.to_string(),
            mismatch.external_id.as_deref().unwrap_or("(none)"),
            mismatch
                .repair
                .map(|repair| format!("  {repair}"))
                .unwrap_or_default(),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::usecases::reconcile::tests::{person, world};
    use crate::usecases::reconcile::{reconcile, ReconcileOptions};

    #[tokio::test]
    async fn a_clean_state_says_no_findings() {
        let world = world();
        let identity = world.kratos_has(person("ada@example.com", "Ada", "L"));
        world
            .user("ada@example.com", "Ada", "L", Some(identity.id))
            .await;
        let report = reconcile(&world.app, ReconcileOptions::default())
            .await
            .unwrap();
        let mut table = Vec::new();
        render_table(&report, &mut table).unwrap();
        let table = String::from_utf8(table).unwrap();
        assert!(table.contains("no findings"), "{table}");
    }

    #[tokio::test]
    async fn the_table_lists_each_kind_with_its_values() {
        let world = world();
        let identity = world.kratos_has(person("Ada@example.com", "Ada", "L"));
        world
            .user("ada@example.com", "Ada", "L", Some(identity.id))
            .await;
        let unlinked = world.kratos_has(json!({"email": 42}));
        let report = reconcile(&world.app, ReconcileOptions::default())
            .await
            .unwrap();
        let mut table = Vec::new();
        render_table(&report, &mut table).unwrap();
        let table = String::from_utf8(table).unwrap();
        assert!(
            table.contains("users linked to identities Kratos no longer has: 0"),
            "{table}"
        );
        assert!(
            table.contains("active identities with no user: 1"),
            "{table}"
        );
        assert!(table.contains(&unlinked.id.to_string()), "{table}");
        assert!(
            table.contains("email       ada@example.com -> Ada@example.com (case only)"),
            "{table}"
        );
        assert!(!table.contains("SYNC"), "{table}");
    }
}
