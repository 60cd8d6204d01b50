//! The API docs: Swagger UI on `GET /docs`, reading `/openapi.json`, started
//! by `assets/docs/docs.js`.

use std::sync::LazyLock;

use poem::endpoint::make_sync;
use poem::{Endpoint, EndpointExt, Route};

use super::{asset, Page, Rendered};

/// Where the docs' assets are served.
pub const ASSETS_PATH: &str = "/docs/assets";

pub static PAGE: Page = Page {
    title: "identity-link API",
    assets_path: ASSETS_PATH,
    styles: &[asset!("vendor/swagger-ui-dist/swagger-ui.css")],
    scripts: &[
        asset!("vendor/swagger-ui-dist/swagger-ui-bundle.js"),
        asset!("docs/docs.js"),
    ],
    inline_styles: &[],
    body: "<div id=\"swagger-ui\">Loading…</div>\n\
           <noscript>The API docs need JavaScript; the document is at /openapi.json.</noscript>",
};

static RENDERED: LazyLock<Rendered> = LazyLock::new(|| PAGE.render());

/// The page at `/` and its assets under `/assets`; nest it at `/docs`.
pub fn endpoint() -> impl Endpoint {
    Route::new()
        .at("/", make_sync(|_| RENDERED.page()))
        .nest("/assets", RENDERED.assets_endpoint())
        .map_to_response()
}
