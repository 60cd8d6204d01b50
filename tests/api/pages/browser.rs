//! The pages in a real browser (headless Chromium) that can reach nothing but
//! the service: they render, the console runs the example queries with the
//! admin's credentials, and the Content-Security-Policy is never violated.

use fantoccini::key::Key;
use fantoccini::Locator;
use identity_link_ports::User;
use serde_json::json;
use uuid::Uuid;

use crate::graphql::{serve_session, spawn_admin_app, ADMIN_IDENTITY, ADMIN_TOKEN};
use crate::helpers::browser::Browser;
use crate::helpers::{seed_user, TestApp};

const EMAIL: &str = "grace.hopper@example.com";

/// Opens the console and waits until GraphiQL shows the example tab.
async fn open_console(browser: &Browser, app: &TestApp) {
    browser.open(&format!("{}/graphql", app.address)).await;
    browser
        .wait_for_text(".graphiql-query-editor", "query UserByEmail")
        .await;
}

/// An admin app with a user linked to a fresh identity, and a browser on its
/// console.
async fn console_with_a_linked_user() -> (TestApp, Browser, User) {
    let app = spawn_admin_app().await;
    let user = seed_user(&app, EMAIL, Some(Uuid::new_v4())).await;
    let browser = Browser::start().await;
    open_console(&browser, &app).await;
    (app, browser, user)
}

/// Types the variables of the `UserByAuthId` example: the user's identity.
async fn type_auth_id(browser: &Browser, user: &User) {
    let auth_id = user.auth_id.expect("a linked user").as_uuid();
    let variables = json!({ "authId": auth_id }).to_string();
    type_into_tool(browser, "Variables", &variables).await;
}

/// Replaces the text of the visible editor in the editor tools pane
/// (`Variables` or `Headers`) by typing, as a person would.
async fn type_into_tool(browser: &Browser, tool: &str, text: &str) {
    browser
        .click(Locator::XPath(&format!(
            "//div[contains(@class, 'graphiql-editor-tools')]//button[normalize-space() = '{tool}']"
        )))
        .await;
    let editor = browser
        .wait_for(".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror")
        .await;
    editor.click().await.expect("focus the editor");
    let input = browser
        .client
        .active_element()
        .await
        .expect("the editor input");
    input
        .send_keys(&(Key::Control + "a"))
        .await
        .expect("select all");
    input
        .send_keys(&Key::Backspace.to_string())
        .await
        .expect("delete");
    input.send_keys(text).await.expect("type");
    let mut typed = String::new();
    for line in editor
        .find_all(Locator::Css("pre.CodeMirror-line"))
        .await
        .expect("the editor's lines")
    {
        typed.push_str(&line.text().await.expect("a line's text"));
    }
    let compact = |text: &str| text.split_whitespace().collect::<String>();
    assert_eq!(compact(&typed), compact(text), "the {tool} editor");
}

/// Presses the run button and picks `operation` from its menu; returns the
/// result pane's text once it shows `wanted`.
async fn run_from_menu(browser: &Browser, operation: &str, wanted: &str) -> String {
    browser
        .click(Locator::Css(".graphiql-execute-button"))
        .await;
    browser
        .click(Locator::XPath(&format!(
            "//*[@role = 'menuitem' and normalize-space() = '{operation}']"
        )))
        .await;
    browser.wait_for_text(".graphiql-response", wanted).await
}

/// Puts the cursor in the example's `field` in the query editor and runs it
/// with Ctrl-Enter; returns the result pane's text once it shows `wanted`.
async fn run_at_cursor(browser: &Browser, field: &str, wanted: &str) -> String {
    let name = browser
        .client
        .find(Locator::XPath(&format!(
            "//*[contains(@class, 'graphiql-query-editor')]//span[text() = '{field}']"
        )))
        .await
        .unwrap_or_else(|error| panic!("`{field}` in the examples: {error}"));
    browser
        .client
        .execute(
            "arguments[0].scrollIntoView({ block: 'center' });",
            vec![serde_json::to_value(&name).expect("an element reference")],
        )
        .await
        .expect("scroll to the operation");
    name.click().await.expect("put the cursor in the operation");
    let input = browser
        .client
        .active_element()
        .await
        .expect("the query input");
    input
        .send_keys(&(Key::Control + &Key::Enter))
        .await
        .expect("Ctrl-Enter");
    browser.wait_for_text(".graphiql-response", wanted).await
}

/// Opens the docs explorer and waits until it shows the schema.
async fn assert_schema_loaded(browser: &Browser) {
    browser
        .click(Locator::Css(
            "button[aria-label='Show Documentation Explorer']",
        ))
        .await;
    browser
        .wait_for_text(".graphiql-doc-explorer", "Query")
        .await;
}

/// Every resource the page loaded came from the service.
async fn assert_loaded_from(browser: &Browser, app: &TestApp) {
    let loaded = browser
        .client
        .execute(
            "return performance.getEntriesByType('resource').map(entry => entry.name);",
            vec![],
        )
        .await
        .expect("the page's resources");
    let loaded = loaded.as_array().expect("a list of URLs");
    assert!(loaded.len() >= 4, "scripts and styles: {loaded:?}");
    for url in loaded {
        let url = url.as_str().unwrap_or_default();
        assert!(url.starts_with(&app.address), "{url} is not the service");
    }
}

#[tokio::test]
async fn an_admin_with_the_token_runs_an_example_query_in_a_browser_that_reaches_only_the_service()
{
    let (app, browser, user) = console_with_a_linked_user().await;
    type_auth_id(&browser, &user).await;
    let headers = json!({ "Authorization": format!("Bearer {ADMIN_TOKEN}") }).to_string();
    type_into_tool(&browser, "Headers", &headers).await;
    let result = run_from_menu(&browser, "UserByAuthId", EMAIL).await;
    assert!(result.contains(&user.id.as_uuid().to_string()), "{result}");

    let screenshot = browser.screenshot("console.png").await;
    assert!(
        std::fs::metadata(&screenshot)
            .expect("the screenshot")
            .len()
            > 10_000
    );

    // With the token entered, the schema loads for the docs explorer.
    browser
        .click(Locator::Css("button[aria-label='Re-fetch GraphQL schema']"))
        .await;
    assert_schema_loaded(&browser).await;
    assert_loaded_from(&browser, &app).await;
    browser.assert_console_clean().await;
    browser.close().await;
}

#[tokio::test]
async fn an_admin_signed_in_to_kratos_needs_no_header_in_the_console() {
    let (app, browser, user) = console_with_a_linked_user().await;
    let secret = "browser-session-secret";
    serve_session(&app, secret, ADMIN_IDENTITY).await;
    browser
        .client
        .execute(
            "document.cookie = `ory_kratos_session=${arguments[0]}; path=/`;",
            vec![json!(secret)],
        )
        .await
        .expect("sign in");
    browser.client.refresh().await.expect("reload signed in");
    open_console(&browser, &app).await;
    type_auth_id(&browser, &user).await;
    run_at_cursor(&browser, "adminUserByAuthId", EMAIL).await;
    // The cookie also let the console load the schema when it opened.
    assert_schema_loaded(&browser).await;
    browser.assert_console_clean().await;
    browser.close().await;
}

#[tokio::test]
async fn the_api_docs_render_in_a_browser_that_reaches_only_the_service() {
    let app = spawn_admin_app().await;
    let browser = Browser::start().await;
    browser.open(&format!("{}/docs", app.address)).await;
    browser
        .wait_for_text(".swagger-ui .info", "identity-link")
        .await;
    browser
        .wait_for_text(".swagger-ui", "/rest/internal/identity/resolve")
        .await;
    browser.screenshot("docs.png").await;
    assert_loaded_from(&browser, &app).await;
    browser.assert_console_clean().await;
    browser.close().await;
}
