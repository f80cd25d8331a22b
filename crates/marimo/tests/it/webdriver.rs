//! A small W3C WebDriver client over reqwest, enough to drive headless
//! Chromium through chromedriver like a person: open a page, find by CSS,
//! type, click, read text, take screenshots.

use std::{path::PathBuf, process::Stdio, time::Duration};

use base64::Engine;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Whether the browser can run here. Under `CI=true` its absence fails.
pub fn available() -> bool {
    let there =
        std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists();
    if !there {
        assert!(
            !marimo_testkit::is_ci(),
            "CI=true but {CHROMIUM} / {CHROMEDRIVER} are missing (apt-get install chromium chromium-driver)"
        );
        eprintln!("skipping the browser walk: install chromium and chromium-driver to run it");
    }
    there
}

pub struct Driver {
    _process: Child,
    base: String,
    http: reqwest::Client,
}

impl Driver {
    pub async fn start() -> Driver {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            l.local_addr().unwrap().port()
        };
        let process = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            // Its own process group, so the browsers it starts go with it.
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        let driver = Driver {
            _process: process,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        marimo_testkit::eventually("chromedriver to be ready", || async {
            let res = driver
                .http
                .get(format!("{}/status", driver.base))
                .send()
                .await
                .ok()?;
            let v: Value = res.json().await.ok()?;
            v["value"]["ready"].as_bool()?.then_some(())
        })
        .await;
        driver
    }

    /// A new browser with `lang` as its language (Accept-Language too).
    pub async fn browser(&self, lang: &str) -> Browser {
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,1100", format!("--lang={lang}")],
                "prefs": {"intl.accept_languages": lang},
            }
        }}});
        let v: Value = self
            .http
            .post(format!("{}/session", self.base))
            .json(&caps)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session JSON");
        let id = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_owned();
        Browser {
            http: self.http.clone(),
            session: format!("{}/session/{id}", self.base),
        }
    }
}

impl Drop for Driver {
    /// Ends chromedriver and every browser it started, also when a test
    /// fails half-way (a browser left running would outlive the test).
    fn drop(&mut self) {
        if let Some(pid) = self._process.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status();
        }
    }
}

pub struct Browser {
    http: reqwest::Client,
    session: String,
}

impl Browser {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.session));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("webdriver answers");
        res.json::<Value>().await.expect("webdriver JSON")
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> Value {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    /// The first element matching `css`, if any.
    pub async fn try_find(&self, css: &str) -> Option<String> {
        let v = self
            .post("/element", json!({"using": "css selector", "value": css}))
            .await;
        v["value"][ELEMENT].as_str().map(str::to_owned)
    }

    /// Waits (bounded) for an element matching `css`.
    pub async fn find(&self, css: &str) -> String {
        marimo_testkit::eventually(&format!("element {css}"), || self.try_find(css)).await
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        self.post(&format!("/element/{el}/clear"), json!({})).await;
        self.post(&format!("/element/{el}/value"), json!({ "text": text }))
            .await;
    }

    pub async fn click(&self, css: &str) {
        let el = self.find(css).await;
        self.post(&format!("/element/{el}/click"), json!({})).await;
    }

    pub async fn text(&self, css: &str) -> String {
        let el = self.find(css).await;
        self.get(&format!("/element/{el}/text")).await["value"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Selects the `<option>` with `value` in the `<select>` at `css`.
    pub async fn select(&self, css: &str, value: &str) {
        self.click(&format!("{css} option[value=\"{value}\"]"))
            .await;
    }

    /// Reloads `url` until `css` is on the page (bounded): for figures
    /// that arrive through events.
    pub async fn goto_until(&self, url: &str, css: &str) {
        marimo_testkit::eventually(&format!("{css} on {url}"), || async {
            self.goto(url).await;
            self.try_find(css).await
        })
        .await;
    }

    /// Resizes the window (e.g. to a phone's width).
    pub async fn resize(&self, width: u32, height: u32) {
        self.post("/window/rect", json!({"width": width, "height": height}))
            .await;
    }

    /// Saves a PNG of the viewport under `target/ui-screenshots/`.
    pub async fn screenshot(&self, name: &str) {
        let v = self.get("/screenshot").await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v["value"].as_str().unwrap_or_default())
            .expect("screenshot is base64");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("screenshot written");
    }

    pub async fn quit(self) {
        let _ = self
            .http
            .delete(&self.session)
            .timeout(Duration::from_secs(10))
            .send()
            .await;
    }
}

pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target")));
    target.join("ui-screenshots")
}
