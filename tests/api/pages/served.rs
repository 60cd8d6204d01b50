//! What the pages and their assets are served with.

use reqwest::header::HeaderMap;

use super::{attribute, leaves_the_origin, tags};
use crate::helpers::{spawn_app, TestApp};

const PAGES: [&str; 2] = ["/graphql", "/docs"];

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .expect("a visible header value")
}

/// The scripts and style sheets a page references, checking on the way that
/// it has no inline script or style.
fn references(html: &str) -> Vec<String> {
    assert!(!html.contains("<style"), "no inline style element: {html}");
    assert!(!html.contains(" style=\""), "no style attribute: {html}");
    let mut found = Vec::new();
    for script in tags(html, "script") {
        let src = attribute(script, "src")
            .unwrap_or_else(|| panic!("an inline script: {script}"))
            .to_owned();
        assert!(
            html.contains(&format!("{script}</script>")),
            "a script with a src has no inline body: {script}"
        );
        found.push(src);
    }
    for link in tags(html, "link") {
        if attribute(link, "rel") == Some("stylesheet") {
            found.push(
                attribute(link, "href")
                    .expect("a style sheet's href")
                    .to_owned(),
            );
        }
    }
    found
}

/// The `url(…)` and `@import` references of a style sheet, data URLs aside.
fn css_references(css: &str) -> Vec<String> {
    let urls = css
        .split("url(")
        .skip(1)
        .map(|rest| rest.split(')').next().unwrap_or_default().trim().to_owned());
    let imports = css
        .split("@import")
        .skip(1)
        .map(|rest| rest.split(';').next().unwrap_or_default().trim().to_owned());
    urls.chain(imports)
        .filter(|reference| {
            !reference
                .trim_start_matches(['"', '\''])
                .starts_with("data:")
        })
        .collect()
}

async fn page(app: &TestApp, path: &str) -> (HeaderMap, String) {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "{path}");
    let headers = response.headers().clone();
    (headers, response.text().await.expect("the page"))
}

#[tokio::test]
async fn the_console_and_the_docs_reference_scripts_and_styles_of_the_service_only() {
    let app = spawn_app().await;
    for path in PAGES {
        let (headers, html) = page(&app, path).await;
        assert!(header(&headers, "content-type").starts_with("text/html"));
        let references = references(&html);
        assert!(
            references.iter().any(|src| src.ends_with(".js")),
            "{path} loads its scripts: {references:?}"
        );
        assert!(
            references.iter().any(|href| href.ends_with(".css")),
            "{path} loads its styles: {references:?}"
        );
        for reference in &references {
            assert!(!leaves_the_origin(reference), "{path}: {reference}");
            assert!(
                reference.starts_with(&format!("{path}/assets/")),
                "{path}: {reference}"
            );
        }
    }
}

#[tokio::test]
async fn every_asset_a_page_references_is_served_with_its_type_and_cached_for_long() {
    let app = spawn_app().await;
    for path in PAGES {
        let (_, html) = page(&app, path).await;
        for reference in references(&html) {
            let response = app.get(&reference).await;
            assert_eq!(response.status(), 200, "{reference}");
            let headers = response.headers().clone();
            let wanted = if reference.ends_with(".js") {
                "text/javascript"
            } else {
                "text/css"
            };
            assert!(
                header(&headers, "content-type").starts_with(wanted),
                "{reference}: {:?}",
                headers.get("content-type")
            );
            let cache = header(&headers, "cache-control");
            assert!(
                cache.contains("max-age=31536000") && cache.contains("immutable"),
                "{reference}: {cache}"
            );
            assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
            let body = response.text().await.expect("the asset");
            assert!(!body.is_empty(), "{reference}");
            if wanted == "text/css" {
                for inner in css_references(&body) {
                    assert!(
                        !leaves_the_origin(&inner),
                        "{reference} loads {inner} (a font or image from elsewhere)"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn the_pages_allow_scripts_and_styles_from_the_service_only() {
    let app = spawn_app().await;
    for path in PAGES {
        let (headers, _) = page(&app, path).await;
        let policy = header(&headers, "content-security-policy");
        let directives: Vec<&str> = policy.split(';').map(str::trim).collect();
        for wanted in [
            "default-src 'none'",
            "script-src 'self'",
            "font-src 'self' data:",
            "connect-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(directives.contains(&wanted), "{path}: {wanted} in {policy}");
        }
        let styles = directives
            .iter()
            .find_map(|directive| directive.strip_prefix("style-src "))
            .unwrap_or_else(|| panic!("{path}: no style-src in {policy}"));
        let mut sources = styles.split_whitespace();
        assert_eq!(sources.next(), Some("'self'"), "{path}: {policy}");
        assert!(
            sources.all(|source| source.starts_with("'sha256-")),
            "{path}: other styles only by digest: {policy}"
        );
        assert!(!policy.contains("unsafe"), "{path}: {policy}");
        assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
        assert_eq!(header(&headers, "referrer-policy"), "no-referrer");
        assert_eq!(header(&headers, "cache-control"), "no-cache");
    }
}

#[tokio::test]
async fn an_asset_name_without_the_current_content_hash_is_not_found() {
    let app = spawn_app().await;
    let (_, html) = page(&app, "/graphql").await;
    let script = references(&html)
        .into_iter()
        .find(|src| src.contains("graphiql"))
        .expect("the page loads GraphiQL");
    assert_eq!(app.get(&script).await.status(), 200);
    for stale in [
        "/graphql/assets/graphiql.min.js",
        "/graphql/assets/graphiql.min.000000000000.js",
        "/docs/assets/swagger-ui.css",
    ] {
        assert_eq!(app.get(stale).await.status(), 404, "{stale}");
    }
}

#[tokio::test]
async fn a_browser_gets_the_assets_compressed_and_any_other_client_gets_them_plain() {
    let app = spawn_app().await;
    let (_, html) = page(&app, "/docs").await;
    for reference in references(&html) {
        let url = format!("{}{reference}", app.address);
        let compressed = app
            .http
            .get(&url)
            .header("accept-encoding", "gzip, deflate, br")
            .send()
            .await
            .expect("the asset, compressed");
        assert_eq!(compressed.status(), 200, "{reference}");
        assert_eq!(header(compressed.headers(), "content-encoding"), "gzip");
        assert_eq!(header(compressed.headers(), "vary"), "accept-encoding");
        let gzip = compressed.bytes().await.expect("the compressed body");
        let mut inflated = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gzip[..]), &mut inflated)
            .expect("a gzip stream");

        let plain = app.get(&reference).await;
        assert!(
            plain.headers().get("content-encoding").is_none(),
            "{reference}"
        );
        let plain = plain.bytes().await.expect("the plain body");
        assert_eq!(inflated, plain.to_vec(), "{reference}: the same content");
        assert!(
            gzip.len() < plain.len(),
            "{reference}: compressed is smaller"
        );
    }
}
