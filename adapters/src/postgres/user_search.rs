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

/// The list with a search: `$4` the names pattern, `$5` the email pattern.
pub fn search(columns: &str, search: &str, trigram: bool) -> SearchQuery {
    let key = email_key(search);
    if trigram {
        SearchQuery {
            sql: list_sql(
                columns,
                Some("email_normalized LIKE $5 OR first_name ILIKE $4 OR last_name ILIKE $4"),
            ),
            names: format!("%{}%", escape(search)),
            email: format!("%{}%", escape(&key)),
        }
    } else {
        SearchQuery {
            sql: list_sql(
                columns,
                Some(
                    "email_normalized LIKE $5 OR lower(first_name) LIKE lower($4) \
                     OR lower(last_name) LIKE lower($4)",
                ),
            ),
            names: format!("{}%", escape(search)),
            email: format!("{}%", escape(&key)),
        }
    }
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
}
