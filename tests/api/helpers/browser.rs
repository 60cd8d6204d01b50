//! A headless Chromium driven through chromedriver (Debian's `chromium` and
//! `chromium-driver`), on a fresh profile, that can reach nothing but a
//! service on 127.0.0.1: every host name fails to resolve.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "chromedriver";
const INSTALL: &str = "install Debian's Chromium and its WebDriver: \
     `apt-get install chromium chromium-driver` (.ci/run does)";
/// How long a page may take to show what a test waits for.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// One browser session; closed by [`Browser::close`], killed with its
/// driver when dropped.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium. Panics, saying how to
    /// install them, when they are missing.
    pub async fn start() -> Self {
        assert!(
            std::path::Path::new(CHROMIUM).is_file(),
            "{CHROMIUM} is missing: {INSTALL}"
        );
        let mut driver = Command::new(CHROMEDRIVER)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot run {CHROMEDRIVER} ({error}): {INSTALL}"));
        let port = driver_port(&mut driver).await;
        let profile = tempfile::tempdir().expect("a profile directory");
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-dev-shm-usage",
                    "--window-size=1600,1100",
                    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("an object literal")
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|error| panic!("cannot start Chromium ({error}): {INSTALL}"));
        Self {
            client,
            driver,
            _profile: profile,
        }
    }

    /// Opens `url`.
    pub async fn open(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|error| panic!("cannot open {url}: {error}"));
    }

    /// Waits up to [`PATIENCE`] for an element, then clicks it.
    pub async fn click(&self, locator: Locator<'_>) {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(locator)
            .await
            .unwrap_or_else(|error| panic!("no {locator:?} within {PATIENCE:?}: {error}"))
            .click()
            .await
            .unwrap_or_else(|error| panic!("cannot click {locator:?}: {error}"));
    }

    /// Waits up to [`PATIENCE`] for an element.
    pub async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|error| panic!("no `{css}` within {PATIENCE:?}: {error}"))
    }

    /// Waits up to [`PATIENCE`] until the text of `css` contains `wanted`;
    /// returns the text.
    pub async fn wait_for_text(&self, css: &str, wanted: &str) -> String {
        let element = self.wait_for(css).await;
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let text = element.text().await.expect("the element's text");
            if text.contains(wanted) {
                return text;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "`{css}` never showed {wanted:?}; it shows:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The browser console's messages since the last call (chromedriver's
    /// log endpoint), as `(source, level, message)`.
    pub async fn console_log(&self) -> Vec<(String, String, String)> {
        let entries = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .expect("the browser's console log");
        entries
            .as_array()
            .expect("a list of log entries")
            .iter()
            .map(|entry| {
                let field = |name: &str| entry[name].as_str().unwrap_or_default().to_owned();
                (field("source"), field("level"), field("message"))
            })
            .collect()
    }

    /// Fails on Content-Security-Policy violations, resources that did not
    /// load and script errors the page logged so far.
    pub async fn assert_console_clean(&self) {
        let problems: Vec<_> = self
            .console_log()
            .await
            .into_iter()
            .filter(|(source, level, message)| {
                source == "security"
                    || source == "network"
                    || message.contains("Content Security Policy")
                    || (source == "javascript" && level == "SEVERE")
            })
            .collect();
        assert!(problems.is_empty(), "the browser console: {problems:#?}");
    }

    /// Saves a screenshot of the window as `name` under the test artifacts
    /// directory; returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("a screenshot");
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
        std::fs::create_dir_all(&dir).expect("the artifacts directory");
        let path = dir.join(name);
        std::fs::write(&path, png).expect("write the screenshot");
        path
    }

    /// Ends the browser session and its driver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A failed test leaves the session open: end Chromium with its driver
        // (they share the driver's process group).
        if let Some(id) = self.driver.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{id}")])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Reads the port chromedriver chose from its start-up line.
async fn driver_port(driver: &mut Child) -> u16 {
    let stdout = driver.stdout.take().expect("chromedriver's stdout");
    let mut lines = BufReader::new(stdout).lines();
    let read = async {
        while let Some(line) = lines.next_line().await.expect("chromedriver's output") {
            if let Some(rest) = line.split("started successfully on port ").nth(1) {
                return rest.trim_end_matches('.').parse::<u16>().ok();
            }
        }
        None
    };
    tokio::time::timeout(PATIENCE, read)
        .await
        .ok()
        .flatten()
        .expect("chromedriver reports the port it listens on")
}

/// chromedriver's extension command for the browser console log.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (poem::http::Method, Option<String>) {
        (
            poem::http::Method::POST,
            Some(json!({ "type": "browser" }).to_string()),
        )
    }
}
