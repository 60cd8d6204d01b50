//! The users list of admin search, written for the search index in use
//! (`search_index`): with the trigram index, a fragment anywhere in the email
//! or a name; with the prefix indexes, the start of either. Keyset pagination
//! by id either way.

use identity_link_ports::text::email_key;

/// The query and the patterns for `search`; `trigram` says which index serves it.
pub struct SearchQuery {
    pub sql: String,
    /// Pattern for the names.
    pub names: String,
    /// Pattern for the normalised email.
    pub email: String,
}

/// `$1` the id to list after, `$2` linked or not (null: both), `$3` the limit.
pub fn list_sql(columns: &str, condition: Option<&str>) -> String {
    format!(
        "SELECT {columns} FROM users
          WHERE id > $1 AND ($2::bool IS NULL OR (auth_id IS NOT NULL) = $2){}
          ORDER BY id LIMIT $3",
        condition.map_or(String::new(), |condition| format!(" AND ({condition})"))
    )
}

/// The least `LIMIT` a search is planned with; the rows beyond the page are
/// dropped. With a very small limit (`first: 1`) the planner expects the few
/// matches it needs early in id order and walks the primary key, filtering,
/// instead of the search index: at a million users, `first: 1` with a
/// fragment matching 11 users read 104,963 rows (169 ms) where the index
/// takes 11 ms. The page query reads its matches through the index and sorts
/// them once the limit makes the walk look dear, which 51 does with a margin
/// (the plan flips between 2 and 11 at a million users).
pub const LIMIT_FLOOR: i64 = 51;

/// The list with a search: `$4` the names pattern, `$5` the email pattern.
pub fn search(columns: &str, search: &str, trigram: bool) -> SearchQuery {
    let (names, email) = patterns(search, trigram);
    SearchQuery {
        sql: list_sql(columns, Some(&condition(trigram, "$4", "$5"))),
        names,
        email,
    }
}

/// The patterns of `search` for the index in use: the names', the email's.
pub fn patterns(search: &str, trigram: bool) -> (String, String) {
    let key = email_key(search);
    if trigram {
        (
            format!("%{}%", escape(search)),
            format!("%{}%", escape(&key)),
        )
    } else {
        (format!("{}%", escape(search)), format!("{}%", escape(&key)))
    }
}

/// The search condition, the names pattern at placeholder `names`, the
/// email's at `email`: a fragment anywhere with trigrams, else the start.
fn condition(trigram: bool, names: &str, email: &str) -> String {
    if trigram {
        format!(
            "email_normalized LIKE {email} OR first_name ILIKE {names} OR last_name ILIKE {names}"
        )
    } else {
        format!(
            "email_normalized LIKE {email} OR lower(first_name) LIKE lower({names}) \
             OR lower(last_name) LIKE lower({names})"
        )
    }
}

/// The rows of the list's filter: `$1` linked or not (null: both); with a
/// search (`Some(trigram)`), `$first` the names pattern and the next the email's.
fn filtered(search: Option<bool>, first: u8) -> String {
    let linked = "SELECT 1 FROM users WHERE ($1::bool IS NULL OR (auth_id IS NOT NULL) = $1)";
    match search {
        None => linked.to_owned(),
        Some(trigram) => format!(
            "{linked} AND ({})",
            condition(trigram, &format!("${first}"), &format!("${}", first + 1))
        ),
    }
}

/// Counts the users of the list's filter, reading at most `$2` rows: `$1`
/// linked or not (null: both); with a search (`Some(trigram)`), `$3` the names
/// pattern, `$4` the email's.
pub fn bounded_count_sql(search: Option<bool>) -> String {
    format!(
        "SELECT count(*) FROM ({} LIMIT $2) AS bounded",
        filtered(search, 3)
    )
}

/// The planner's plan (JSON) of the list's filter, whose row estimate counts
/// without reading: `$1` linked or not; with a search, `$2` and `$3` the patterns.
pub fn estimate_sql(search: Option<bool>) -> String {
    format!("EXPLAIN (FORMAT JSON) {}", filtered(search, 2))
}

/// Escapes `%`, `_` and `\` so that `raw` matches literally inside (I)LIKE.
pub fn escape(raw: &str) -> String {
    let mut escaped = String::with_capacity(raw.len());
    for c in raw.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_patterns_match_wildcards_literally() {
        assert_eq!(escape("a%b_c\\"), "a\\%b\\_c\\\\");
        let query = search("id", " Ädа%", true);
        assert_eq!(query.names, "% Ädа\\%%");
        assert_eq!(query.email, "%ädа\\%%");
    }

    #[test]
    fn without_trigrams_search_matches_the_start() {
        let query = search("id", "Ada", false);
        assert_eq!(
            (query.names.as_str(), query.email.as_str()),
            ("Ada%", "ada%")
        );
        assert!(query.sql.contains("lower(first_name) LIKE lower($4)"));
    }

    #[test]
    fn counts_read_at_most_the_bound_and_estimates_plan_the_same_filter() {
        let count = bounded_count_sql(Some(true));
        assert!(count.ends_with("LIMIT $2) AS bounded"), "{count}");
        assert!(count.contains("first_name ILIKE $3"), "{count}");
        assert!(count.contains("email_normalized LIKE $4"), "{count}");
        let estimate = estimate_sql(Some(false));
        assert!(estimate.starts_with("EXPLAIN (FORMAT JSON) SELECT 1 FROM users"));
        assert!(
            estimate.contains("lower(first_name) LIKE lower($2)"),
            "{estimate}"
        );
        assert!(estimate.contains("email_normalized LIKE $3"), "{estimate}");
        assert!(!estimate_sql(None).contains("LIKE"));
    }
}
