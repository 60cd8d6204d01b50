//! The admin console: GraphiQL on `GET /graphql`, started by
//! `assets/console/console.js` (example queries, headers editor, same-origin
//! credentials).

use std::sync::LazyLock;

use poem::Response;

use super::{asset, AssetsEndpoint, Page, Rendered};

/// Where the console's assets are served.
pub const ASSETS_PATH: &str = "/graphql/assets";

/// The one style sheet GraphiQL writes into the page: the scroll lock its
/// menus and dialogs set while open (react-remove-scroll-bar). Its text
/// depends only on the scroll bar's width and the body's margins, which are
/// zero on this full-window page (`console.css`), so it is fixed, and it only
/// hides overflow: allowing it by digest admits nothing else. A GraphiQL
/// refresh that changes it makes the browser test fail on a blocked style.
pub const SCROLL_LOCK_STYLE: &str = concat!(
    "\n  .with-scroll-bars-hidden {\n   overflow: hidden !important;\n",
    "   padding-right: 0px !important;\n  }\n",
    "  body {\n    overflow: hidden !important;\n    overscroll-behavior: contain;\n",
    "    position: relative !important;\n    padding-left: 0px;\n    padding-top: 0px;\n",
    "    padding-right: 0px;\n    margin-left:0;\n    margin-top:0;\n",
    "    margin-right: 0px !important;\n    \n  }\n  \n",
    "  .right-scroll-bar-position {\n    right: 0px !important;\n  }\n  \n",
    "  .width-before-scroll-bar {\n    margin-right: 0px !important;\n  }\n  \n",
    "  .right-scroll-bar-position .right-scroll-bar-position {\n    right: 0 !important;\n  }\n  \n",
    "  .width-before-scroll-bar .width-before-scroll-bar {\n    margin-right: 0 !important;\n  }\n  \n",
    "  body {\n    --removed-body-scroll-bar-size: 0px;\n  }\n",
);

pub static PAGE: Page = Page {
    title: "identity-link admin console",
    assets_path: ASSETS_PATH,
    styles: &[
        asset!("vendor/graphiql/graphiql.min.css"),
        asset!("console/console.css"),
    ],
    scripts: &[
        asset!("vendor/react/react.production.min.js"),
        asset!("vendor/react-dom/react-dom.production.min.js"),
        asset!("vendor/graphiql/graphiql.min.js"),
        asset!("console/console.js"),
    ],
    inline_styles: &[SCROLL_LOCK_STYLE],
    body: "<div id=\"graphiql\">Loading…</div>\n\
           <noscript>The admin console needs JavaScript.</noscript>",
};

static RENDERED: LazyLock<Rendered> = LazyLock::new(|| PAGE.render());

/// The console page.
pub fn page() -> Response {
    RENDERED.page()
}

/// Its assets, to nest at [`ASSETS_PATH`].
pub fn assets() -> AssetsEndpoint {
    RENDERED.assets_endpoint()
}
