//! A headless Chromium for one test: chromedriver on a free port, a fresh
//! profile, and the few steps the tests take (go, click, type, wait, read,
//! screenshot, console errors).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const WAIT: Duration = Duration::from_secs(15);

pub struct Browser {
    pub client: Client,
    /// `http://127.0.0.1:PORT` of the hookd under test.
    pub base: String,
    driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

/// Whether a missing browser must fail the test instead of skipping it.
fn required() -> bool {
    std::env::var("HOOKD_REQUIRE_BROWSER").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// A browser for `base`, or `None` (after saying so) when there is none here.
pub async fn start(base: &str) -> Option<Browser> {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if !missing.is_empty() {
        let why = format!(
            "{} not installed (apt-get install chromium chromium-driver)",
            missing.join(" and ")
        );
        assert!(!required(), "HOOKD_REQUIRE_BROWSER=1 but {why}");
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "SKIPPED: browser tests: {why}");
        return None;
    }
    let port = crate::support::free_port();
    let driver = tokio::process::Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("cannot start chromedriver");
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    crate::support::wait_until(WAIT, "chromedriver to answer", || async {
        http.get(format!("{url}/status"))
            .send()
            .await
            .ok()
            .filter(|r| r.status().is_success())
            .map(|_| ())
    })
    .await;
    let profile = tempfile::tempdir().expect("profile directory");
    let caps = json!({
        "browserName": "chrome",
        "goog:loggingPrefs": {"browser": "ALL"},
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            // The machine has no network beyond loopback: keep Chromium
            // from trying (background updates, sync, QUIC).
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,900",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        },
    });
    let caps = match caps {
        Value::Object(m) => m,
        _ => unreachable!(),
    };
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&url)
        .await
        .expect("cannot start a Chromium session");
    Some(Browser {
        client,
        base: base.to_string(),
        driver,
        _profile: profile,
    })
}

/// chromedriver's log of the page's console (`goog:loggingPrefs`).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or("")))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        (
            axum::http::Method::POST,
            Some(r#"{"type":"browser"}"#.into()),
        )
    }
}

impl Browser {
    pub async fn goto(&self, path: &str) {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        self.client.goto(&url).await.expect("navigation failed");
    }

    pub async fn click(&self, css: &str) {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let el = self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"));
        el.clear().await.expect("clear");
        el.send_keys(text).await.expect("type");
    }

    /// The visible text of the page's `main`.
    pub async fn text(&self) -> String {
        match self.client.find(Locator::Css("main")).await {
            Ok(el) => el.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Waits until the page's text contains `needle`; returns the text.
    pub async fn wait_text(&self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let t = self.text().await;
            if t.contains(needle) {
                return t;
            }
            assert!(
                start.elapsed() < WAIT,
                "the page never showed {needle:?}; it shows:\n{t}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("url")
            .path()
            .to_string()
    }

    /// Whether an element matching `css` is on the page.
    pub async fn has(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    /// Saves a screenshot as `name.png` (see the suite's doc).
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let mut dirs: Vec<PathBuf> = vec![tmp.parent().unwrap_or(tmp).join("screenshots")];
        if std::env::var("HOOKD_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
            dirs.push(root.join("docs/screenshots"));
        }
        for d in dirs {
            std::fs::create_dir_all(&d).expect("screenshot directory");
            std::fs::write(d.join(format!("{name}.png")), &png).expect("write screenshot");
        }
    }

    /// Errors the pages logged to the console since the last call.
    pub async fn console_errors(&self) -> Vec<String> {
        let log = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .unwrap_or(Value::Null);
        log.as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| e["level"] == "SEVERE")
                    .map(|e| e["message"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether the page fits `width` CSS pixels without scrolling sideways.
    pub async fn fits(&self, width: u32) -> bool {
        self.client
            .set_window_size(width, 900)
            .await
            .expect("window size");
        let v = self
            .client
            .execute(
                "return document.documentElement.scrollWidth <= window.innerWidth + 1",
                vec![],
            )
            .await
            .expect("script");
        self.client
            .set_window_size(1280, 900)
            .await
            .expect("window size");
        v == Value::Bool(true)
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill().await;
    }
}
