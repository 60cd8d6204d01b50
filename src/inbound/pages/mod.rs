//! The browser pages (CONTRACT §7.5): the admin console (GraphiQL at
//! `/graphql`) and the API docs (Swagger UI at `/docs`).
//!
//! Every script and style sheet a page loads is embedded in the binary and
//! served by the service under a name carrying a digest of its content, so it
//! can be cached for good and a new build never meets a stale copy. The pages
//! allow nothing else: their `Content-Security-Policy` permits scripts and
//! styles from the service only and no inline script, which is why each page
//! is started by a script file of its own; a page may name an inline style
//! sheet it allows by digest (see [`console`]). The third-party files come
//! from `assets/vendor/` (see `scripts/refresh-console-assets.sh`).

pub mod console;
pub mod docs;

use std::collections::HashMap;
use std::fmt::Write;
use std::io::Read;

use base64::Engine;
use poem::http::{header, Method, StatusCode};
use poem::{Endpoint, Request, Response};
use sha2::{Digest, Sha256};

/// What a page may load: scripts, styles and requests from the service only
/// (and the inline style sheets of `inline_styles`, by digest); images and
/// fonts also from `data:` URLs, which the style sheets embed; no frames, no
/// plugins, no inline script.
fn content_security_policy(inline_styles: &[&str]) -> String {
    let mut styles = String::from("'self'");
    for style in inline_styles {
        let digest = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(style));
        let _ = write!(styles, " 'sha256-{digest}'");
    }
    format!(
        "default-src 'none'; script-src 'self'; style-src {styles}; img-src 'self' data:; \
         font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    )
}

/// Assets are named by content: a year, and never revalidated.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// How many hex digits of the SHA-256 digest go into an asset's name.
const DIGEST_CHARS: usize = 12;

/// One embedded file; `path` is relative to `assets/`. The binary holds it
/// compressed (gzip, by `build.rs`): every browser takes it so, and the rare
/// client that does not accept gzip gets it inflated.
pub struct Asset {
    pub path: &'static str,
    pub gzip: &'static [u8],
}

/// An embedded file of `assets/` (path relative to it), compressed.
macro_rules! asset {
    ($path:literal) => {
        $crate::inbound::pages::Asset {
            path: $path,
            gzip: include_bytes!(concat!(env!("OUT_DIR"), "/assets/", $path, ".gz")),
        }
    };
}
use asset;

impl Asset {
    /// The file name with the content's digest before the extension:
    /// `graphiql.min.js` is served as `graphiql.min.<digest>.js`.
    fn served_name(&self) -> String {
        let file = self.path.rsplit('/').next().unwrap_or(self.path);
        let (stem, extension) = file.rsplit_once('.').unwrap_or((file, ""));
        let digest = Sha256::digest(self.gzip);
        let mut hex = String::with_capacity(DIGEST_CHARS);
        for byte in digest.iter().take(DIGEST_CHARS / 2) {
            let _ = write!(hex, "{byte:02x}");
        }
        format!("{stem}.{hex}.{extension}")
    }

    /// The file's content, inflated.
    pub fn bytes(&self) -> std::io::Result<Vec<u8>> {
        let mut bytes = Vec::with_capacity(self.gzip.len() * 4);
        flate2::read::GzDecoder::new(self.gzip).read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    fn content_type(&self) -> &'static str {
        match self.path.rsplit_once('.').map(|(_, extension)| extension) {
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            _ => "application/octet-stream",
        }
    }
}

/// A page: its style sheets and scripts (loaded in order, deferred) and the
/// markup of its body.
pub struct Page {
    pub title: &'static str,
    /// Where its assets are served, e.g. `/graphql/assets`.
    pub assets_path: &'static str,
    pub styles: &'static [Asset],
    pub scripts: &'static [Asset],
    /// Style sheets its scripts write into the page, allowed by digest.
    pub inline_styles: &'static [&'static str],
    pub body: &'static str,
}

/// A page ready to serve: its HTML, policy and assets by served name.
pub struct Rendered {
    html: String,
    policy: String,
    assets: HashMap<String, &'static Asset>,
}

impl Page {
    /// Names the assets by content and writes the HTML referencing them.
    pub fn render(&'static self) -> Rendered {
        let mut assets = HashMap::new();
        let mut url = |asset: &'static Asset| {
            let name = asset.served_name();
            let url = format!("{}/{name}", self.assets_path);
            assets.insert(name, asset);
            url
        };
        let mut head = String::new();
        for style in self.styles {
            let _ = write!(head, "\n<link rel=\"stylesheet\" href=\"{}\">", url(style));
        }
        for script in self.scripts {
            let _ = write!(head, "\n<script src=\"{}\" defer></script>", url(script));
        }
        let html = format!(
            "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{}</title>\n<link rel=\"icon\" href=\"data:,\">{head}\n</head>\n\
             <body>\n{}\n</body>\n</html>\n",
            self.title, self.body
        );
        Rendered {
            html,
            policy: content_security_policy(self.inline_styles),
            assets,
        }
    }
}

impl Rendered {
    /// The page, with the headers that confine it.
    pub fn page(&self) -> Response {
        Response::builder()
            .content_type("text/html; charset=utf-8")
            .header(header::CONTENT_SECURITY_POLICY, self.policy.as_str())
            .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
            .header(header::REFERRER_POLICY, "no-referrer")
            .header(header::CACHE_CONTROL, "no-cache")
            .body(self.html.clone())
    }

    /// The asset served as `name`, compressed when the client accepts gzip;
    /// 404 for any other name.
    fn asset(&self, name: &str, accepts_gzip: bool) -> Response {
        let Some(asset) = self.assets.get(name) else {
            return StatusCode::NOT_FOUND.into();
        };
        let response = Response::builder()
            .content_type(asset.content_type())
            .header(header::CACHE_CONTROL, IMMUTABLE)
            .header(header::VARY, "accept-encoding")
            .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
            .header(header::REFERRER_POLICY, "no-referrer");
        if accepts_gzip {
            return response
                .header(header::CONTENT_ENCODING, "gzip")
                .body(asset.gzip);
        }
        match asset.bytes() {
            Ok(bytes) => response.body(bytes),
            Err(error) => {
                tracing::error!(asset = asset.path, %error, "an embedded asset does not inflate");
                StatusCode::INTERNAL_SERVER_ERROR.into()
            }
        }
    }

    /// Serves the assets; nest it at the page's `assets_path`.
    pub fn assets_endpoint(&'static self) -> AssetsEndpoint {
        AssetsEndpoint(self)
    }
}

/// The assets of one page, by served name (the request's last path segment).
pub struct AssetsEndpoint(&'static Rendered);

impl Endpoint for AssetsEndpoint {
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Response> {
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return Err(poem::Error::from_status(StatusCode::METHOD_NOT_ALLOWED));
        }
        let name = request.uri().path().trim_start_matches('/');
        let accepts_gzip = accepts_gzip(
            request
                .headers()
                .get_all(header::ACCEPT_ENCODING)
                .iter()
                .filter_map(|value| value.to_str().ok()),
        );
        Ok(self.0.asset(name, accepts_gzip))
    }
}

/// Whether `Accept-Encoding` values admit gzip: `gzip` (or `x-gzip`) with a
/// non-zero weight, else `*` with a non-zero weight (RFC 9110, 12.5.3).
fn accepts_gzip<'a>(values: impl Iterator<Item = &'a str>) -> bool {
    let (mut gzip, mut any) = (None, None);
    for coding in values.flat_map(|value| value.split(',')) {
        let mut parts = coding.split(';').map(str::trim);
        let name = parts.next().unwrap_or_default();
        let weight = parts
            .find_map(|parameter| parameter.strip_prefix("q="))
            .map_or(1.0, |q| q.parse::<f32>().unwrap_or(0.0));
        if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
            gzip = Some(weight);
        } else if name == "*" {
            any = Some(weight);
        }
    }
    gzip.or(any).is_some_and(|weight| weight > 0.0)
}

#[cfg(test)]
mod tests;
