//! How many users match the admin list's filter, bounded: the matching rows
//! are counted up to a bound; beyond it the planner's row estimate answers,
//! so a count never reads millions of rows.

use identity_link_ports::{StoreError, UserCount, UserFilter};
use serde_json::Value;
use tokio_postgres::types::Type;

use super::sql::{Param, Sql, Target};
use super::{store_error, user_search};

/// Counts the users matching `filter`, exactly when at most `exact_up_to` do;
/// `trigram` says which search index is in use (asked only with a search).
/// Statements go out as `sql` says, a search's unnamed so that it is planned
/// with its patterns.
pub async fn count<C: Target>(
    sql: &Sql,
    client: &C,
    filter: &UserFilter,
    trigram: Option<bool>,
    exact_up_to: u64,
) -> Result<UserCount, StoreError> {
    let search = filter.search.as_deref().zip(trigram);
    let (names, email) = search
        .map(|(text, trigram)| user_search::patterns(text, trigram))
        .unzip();
    let trigram = search.map(|(_, trigram)| trigram);
    let bound = i64::try_from(exact_up_to.saturating_add(1)).unwrap_or(i64::MAX);
    let sql = if trigram.is_some() {
        sql.unnamed()
    } else {
        sql.clone()
    };

    let mut params: Vec<Param<'_>> = vec![(&filter.linked, Type::BOOL), (&bound, Type::INT8)];
    params.extend(names.iter().map(|names| (names as _, Type::TEXT)));
    params.extend(email.iter().map(|email| (email as _, Type::TEXT)));
    let counted: i64 = first(
        &sql,
        client,
        &user_search::bounded_count_sql(trigram),
        &params,
    )
    .await?;
    let counted = u64::try_from(counted).unwrap_or(0);
    if counted <= exact_up_to {
        return Ok(UserCount {
            count: counted,
            estimated: false,
        });
    }

    params.remove(1);
    let matching = planned(&sql, client, &user_search::estimate_sql(trigram), &params).await?;
    let everyone = planned(
        &sql,
        client,
        "EXPLAIN (FORMAT JSON) SELECT 1 FROM users",
        &[],
    )
    .await?;
    let analyzed: f32 = first(
        &sql,
        client,
        "SELECT reltuples FROM pg_class WHERE oid = 'users'::regclass",
        &[],
    )
    .await?;
    Ok(UserCount {
        count: estimate(matching, everyone, f64::from(analyzed)).max(counted),
        estimated: true,
    })
}

/// The first column of the first row of `statement`.
async fn first<C: Target, T: for<'a> tokio_postgres::types::FromSql<'a>>(
    sql: &Sql,
    client: &C,
    statement: &str,
    params: &[Param<'_>],
) -> Result<T, StoreError> {
    let rows = sql
        .query(client, statement, params)
        .await
        .map_err(store_error)?;
    let row = rows
        .first()
        .ok_or_else(|| StoreError::Unknown(anyhow::anyhow!("no row from {statement}")))?;
    row.try_get(0).map_err(store_error)
}

/// The planner's row estimate of the query `explain` (an `EXPLAIN (FORMAT JSON)`).
async fn planned<C: Target>(
    sql: &Sql,
    client: &C,
    explain: &str,
    params: &[Param<'_>],
) -> Result<u64, StoreError> {
    let plan: Value = first(sql, client, explain, params).await?;
    Ok(planned_rows(&plan))
}

/// The planner's share of matching rows times the rows the last `ANALYZE`
/// (or `VACUUM`) counted. The planner alone scales that count by the
/// table's pages, which dead row versions inflate: right after a backfill
/// rewrote every user it would say twice as many until vacuumed. Never
/// analyzed (`reltuples` -1 or 0): the planner's figure as it is.
fn estimate(matching: u64, everyone: u64, analyzed: f64) -> u64 {
    if analyzed <= 0.0 || everyone == 0 {
        return matching;
    }
    // Row estimates are far below 2^53: the conversions are exact enough.
    let share = (matching as f64 / everyone as f64).min(1.0);
    (share * analyzed).round() as u64
}

/// The row estimate of the top plan node of an `EXPLAIN (FORMAT JSON)`.
fn planned_rows(plan: &Value) -> u64 {
    plan.pointer("/0/Plan/Plan Rows")
        .and_then(Value::as_f64)
        // A non-negative row estimate, far below 2^53: the cast is exact enough.
        .map_or(0, |rows| rows.max(0.0).round() as u64)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{estimate, planned_rows};

    #[test]
    fn the_estimate_is_the_top_plan_rows() {
        let plan = json!([{ "Plan": { "Node Type": "Seq Scan", "Plan Rows": 1_234_567.0 } }]);
        assert_eq!(planned_rows(&plan), 1_234_567);
        assert_eq!(planned_rows(&json!([])), 0);
    }

    #[test]
    fn the_planners_share_is_taken_of_the_analyzed_row_count() {
        // A table rewritten once: twice the pages, the same users.
        assert_eq!(estimate(2_000_000, 2_000_000, 1_000_000.0), 1_000_000);
        assert_eq!(estimate(500_000, 2_000_000, 1_000_000.0), 250_000);
        assert_eq!(estimate(42_000, 80_000, -1.0), 42_000, "never analyzed");
        assert_eq!(estimate(42_000, 0, 10.0), 42_000);
    }
}
