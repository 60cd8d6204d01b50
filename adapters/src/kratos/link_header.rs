//! RFC 8288 `Link` header parsing, as far as Kratos's pagination needs it.
//!
//! Kratos sends one header with comma-joined entries
//! (`<…?page_token=a>; rel="first",<…?page_token=b>; rel="next"`); older
//! releases sent one header per entry. Both shapes are read.

use url::Url;

/// The `page_token` of the `rel="next"` entry among all `Link` header values.
pub fn next_page_token<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<String> {
    values
        .into_iter()
        .flat_map(entries)
        .find(|(_, params)| has_rel(params, "next"))
        .and_then(|(target, _)| page_token(target))
}

/// Splits one header value into `(target, parameters)` entries. Commas inside
/// `<…>` or quotes do not split.
fn entries(value: &str) -> Vec<(&str, &str)> {
    let mut found = Vec::new();
    let mut rest = value;
    while let Some(open) = rest.find('<') {
        let after_open = &rest[open + 1..];
        let Some(close) = after_open.find('>') else {
            break;
        };
        let target = &after_open[..close];
        let tail = &after_open[close + 1..];
        let mut in_quotes = false;
        let end = tail
            .char_indices()
            .find(|&(_, c)| {
                if c == '"' {
                    in_quotes = !in_quotes;
                }
                c == ',' && !in_quotes
            })
            .map_or(tail.len(), |(index, _)| index);
        found.push((target, &tail[..end]));
        rest = &tail[end..];
    }
    found
}

fn has_rel(params: &str, wanted: &str) -> bool {
    params.split(';').any(|param| {
        let Some((name, value)) = param.split_once('=') else {
            return false;
        };
        name.trim().eq_ignore_ascii_case("rel")
            && value
                .trim()
                .trim_matches('"')
                .split_ascii_whitespace()
                .any(|rel| rel.eq_ignore_ascii_case(wanted))
    })
}

fn page_token(target: &str) -> Option<String> {
    // Targets may be relative ("/admin/identities?page_token=…").
    let base = Url::parse("http://relative.invalid/").ok()?;
    let url = base.join(target).ok()?;
    url.query_pairs()
        .find(|(name, _)| name == "page_token")
        .map(|(_, value)| value.into_owned())
        .filter(|token| !token.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_next_from_one_comma_joined_header() {
        let header = r#"</admin/identities?page_size=2&page_token=first>; rel="first",</admin/identities?page_size=2&page_token=eyJpZCI6Ind4In0%3D>; rel="next""#;
        assert_eq!(
            next_page_token([header]).as_deref(),
            Some("eyJpZCI6Ind4In0=")
        );
    }

    #[test]
    fn reads_next_from_separate_headers() {
        let first = r#"<http://kratos:4434/admin/identities?page_token=a>; rel="first""#;
        let next =
            r#"<http://kratos:4434/admin/identities?page_token=b&page_size=500>; rel="next""#;
        assert_eq!(next_page_token([first, next]).as_deref(), Some("b"));
    }

    #[test]
    fn the_last_page_has_no_next() {
        let header = r#"</admin/identities?page_token=a>; rel="first""#;
        assert_eq!(next_page_token([header]), None);
        assert_eq!(next_page_token([]), None);
        assert_eq!(next_page_token(["garbage, <unterminated"]), None);
    }

    #[test]
    fn commas_inside_quoted_parameters_do_not_split_entries() {
        let header = r#"<?page_token=x>; title="a, b"; rel="next", <?page_token=y>; rel="first""#;
        assert_eq!(next_page_token([header]).as_deref(), Some("x"));
    }
}
