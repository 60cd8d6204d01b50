use std::path::Path;

use super::*;

fn pages() -> [&'static Page; 2] {
    [&console::PAGE, &docs::PAGE]
}

fn assets_of(page: &'static Page) -> impl Iterator<Item = &'static Asset> {
    page.styles.iter().chain(page.scripts)
}

#[test]
fn an_asset_is_served_under_its_name_with_a_digest_of_its_content() {
    let asset = Asset {
        path: "vendor/x/graphiql.min.js",
        gzip: b"one",
    };
    let name = asset.served_name();
    let parts: Vec<&str> = name.split('.').collect();
    assert_eq!(parts.len(), 4, "{name}");
    assert_eq!((parts[0], parts[1], parts[3]), ("graphiql", "min", "js"));
    assert_eq!(parts[2].len(), DIGEST_CHARS);
    assert!(parts[2].chars().all(|c| c.is_ascii_hexdigit()), "{name}");
    let changed = Asset {
        path: asset.path,
        gzip: b"two",
    };
    assert_ne!(changed.served_name(), name, "new content, new name");
}

#[test]
fn every_page_references_its_assets_in_order_and_serves_only_those() {
    for page in pages() {
        let rendered = page.render();
        let mut at = 0;
        for asset in assets_of(page) {
            let name = asset.served_name();
            let url = format!("{}/{name}", page.assets_path);
            let found = rendered.html[at..]
                .find(&url)
                .unwrap_or_else(|| panic!("{url} after position {at}"));
            at += found + url.len();
            assert_eq!(rendered.asset(&name, true).status(), StatusCode::OK);
        }
        assert_eq!(rendered.assets.len(), assets_of(page).count());
        assert_eq!(
            rendered.asset("console.js", true).status(),
            StatusCode::NOT_FOUND
        );
        assert!(!rendered.html.contains("<script>"), "no inline script");
    }
}

#[test]
fn assets_are_typed_by_extension() {
    let of = |path| Asset { path, gzip: b"" }.content_type();
    assert!(of("console/console.js").starts_with("text/javascript"));
    assert!(of("vendor/graphiql/graphiql.min.css").starts_with("text/css"));
    assert_eq!(of("vendor/x/LICENSE"), "application/octet-stream");
}

#[test]
fn the_embedded_third_party_files_are_those_the_refresh_script_recorded() {
    let vendor = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/vendor");
    let sums = std::fs::read_to_string(vendor.join("SHA256SUMS")).expect("SHA256SUMS");
    let recorded: HashMap<&str, &str> = sums
        .lines()
        .filter_map(|line| line.split_once("  "))
        .map(|(sum, file)| (file, sum))
        .collect();
    let mut checked = 0;
    for asset in pages().into_iter().flat_map(assets_of) {
        let Some(file) = asset.path.strip_prefix("vendor/") else {
            continue;
        };
        let bytes = asset.bytes().expect("the embedded asset inflates");
        let sum: String = Sha256::digest(&bytes)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        assert_eq!(recorded.get(file), Some(&sum.as_str()), "{file}");
        let package = file.split('/').next().unwrap_or_default();
        assert!(
            recorded.contains_key(format!("{package}/LICENSE").as_str()),
            "{package} keeps its licence beside it"
        );
        checked += 1;
    }
    assert_eq!(checked, 6, "GraphiQL (2), React, ReactDOM, Swagger UI (2)");
}

#[test]
fn the_console_allows_graphiqls_scroll_lock_style_by_the_digest_a_browser_computes() {
    // The digest Chromium names when it blocks that style sheet.
    let digest = "'sha256-Y/huXlwoYkVyQlxwSVcCi1RCDGDCSVBzDt0hYP9qlTc='";
    let console = console::PAGE.render().policy;
    assert!(
        console.contains(&format!("style-src 'self' {digest};")),
        "{console}"
    );
    let docs = docs::PAGE.render().policy;
    assert!(docs.contains("style-src 'self';"), "{docs}");
    for policy in [console, docs] {
        assert!(policy.contains("script-src 'self';"), "{policy}");
        assert!(!policy.contains("unsafe"), "{policy}");
    }
}

#[test]
fn assets_are_embedded_compressed_and_inflate_to_the_files_in_assets() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    let (mut embedded, mut original) = (0, 0);
    for asset in pages().into_iter().flat_map(assets_of) {
        let file = std::fs::read(root.join(asset.path)).expect("the asset's file");
        assert_eq!(asset.bytes().expect("inflates"), file, "{}", asset.path);
        embedded += asset.gzip.len();
        original += file.len();
    }
    assert!(
        embedded * 3 < original,
        "compressed {embedded} bytes of {original}"
    );
}

#[test]
fn gzip_is_sent_only_to_clients_that_accept_it() {
    let accepts = |values: &[&str]| accepts_gzip(values.iter().copied());
    assert!(accepts(&["gzip, deflate, br"]));
    assert!(accepts(&["br;q=1.0, GZIP;q=0.5"]));
    assert!(accepts(&["identity", "x-gzip"]));
    assert!(accepts(&["*"]));
    assert!(!accepts(&[]));
    assert!(!accepts(&["identity"]));
    assert!(!accepts(&["br, deflate"]));
    assert!(!accepts(&["gzip;q=0"]));
    assert!(
        !accepts(&["gzip;q=0, *"]),
        "an explicit refusal beats the wildcard"
    );
    assert!(!accepts(&["*;q=0"]));
}

#[test]
fn an_asset_is_served_compressed_or_inflated_as_the_client_accepts() {
    let page = &docs::PAGE;
    let rendered = page.render();
    let asset = &page.scripts[0];
    let name = asset.served_name();
    let compressed = rendered.asset(&name, true);
    assert_eq!(
        compressed
            .headers()
            .get(header::CONTENT_ENCODING)
            .map(|v| v.as_bytes()),
        Some(&b"gzip"[..])
    );
    let plain = rendered.asset(&name, false);
    assert_eq!(plain.status(), StatusCode::OK);
    assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
    for response in [&compressed, &plain] {
        assert_eq!(
            response.headers().get(header::VARY).map(|v| v.as_bytes()),
            Some(&b"accept-encoding"[..])
        );
    }
}
