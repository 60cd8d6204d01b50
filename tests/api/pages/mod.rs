//! The browser pages: the admin console (GraphiQL at `/graphql`) and the API
//! docs (Swagger UI at `/docs`) load everything from the service itself.

mod browser;
mod served;

/// The opening tags named `name` in `html` (`<script …>`, `<link …>`).
pub fn tags<'a>(html: &'a str, name: &str) -> Vec<&'a str> {
    let open = format!("<{name}");
    html.match_indices(&open)
        .filter(|(at, _)| {
            html[at + open.len()..]
                .chars()
                .next()
                .is_some_and(|next| next.is_whitespace() || next == '>')
        })
        .map(|(at, _)| {
            let end = html[at..].find('>').map_or(html.len(), |end| at + end + 1);
            &html[at..end]
        })
        .collect()
}

/// The value of attribute `name` in an opening tag.
pub fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let end = tag[start..].find('"')? + start;
    Some(&tag[start..end])
}

/// Whether a URL reference leaves the page's origin (a scheme or `//host`).
pub fn leaves_the_origin(reference: &str) -> bool {
    let reference = reference.trim().trim_matches(|c| c == '"' || c == '\'');
    reference.starts_with("//")
        || reference
            .split_once(':')
            .is_some_and(|(scheme, _)| !scheme.is_empty() && !scheme.contains('/'))
}

#[test]
fn references_with_a_scheme_or_a_host_leave_the_origin() {
    assert!(leaves_the_origin("https://unpkg.com/react.js"));
    assert!(leaves_the_origin("//cdn.example/graphiql.css"));
    assert!(leaves_the_origin("'http://fonts.example/font.woff2'"));
    assert!(leaves_the_origin("data:font/woff2;base64,AAAA"));
    assert!(!leaves_the_origin("/graphql/assets/graphiql.min.0123.js"));
    assert!(!leaves_the_origin("assets/x.css"));
}

#[test]
fn tags_and_attributes_are_read_from_html() {
    let html = r#"<head><link rel="stylesheet" href="/a.css"><script src="/b.js" defer></script><scripts></head>"#;
    let scripts = tags(html, "script");
    assert_eq!(scripts, vec![r#"<script src="/b.js" defer>"#]);
    assert_eq!(attribute(scripts[0], "src"), Some("/b.js"));
    assert_eq!(attribute(tags(html, "link")[0], "href"), Some("/a.css"));
    assert_eq!(attribute(tags(html, "link")[0], "src"), None);
}
