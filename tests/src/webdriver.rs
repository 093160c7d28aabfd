//! A small W3C WebDriver client for the browser tests: it starts
//! Debian's ChromeDriver on a free 127.0.0.1 port, opens a headless
//! Chromium session, and drives it (navigate, find, type, click, read,
//! screenshot, downloads). Every wait is bounded.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// The key under which WebDriver names an element.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long a command may take.
const COMMAND_TIMEOUT_MS: u64 = 30_000;
/// How often an element replaced under a read is looked for again.
const STALE_TRIES_MAX: u32 = 5;
/// How long to wait for ChromeDriver to listen.
const START_TIMEOUT_MS: u64 = 20_000;

/// Where Debian puts them (packages `chromium`, `chromium-driver`).
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A headless Chromium driven over WebDriver; closed on drop.
pub struct Browser {
    http: reqwest::Client,
    driver: Child,
    base: String,
    session: String,
    /// Where the browser saves downloads.
    pub downloads: PathBuf,
    _profile: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

impl Browser {
    /// Starts ChromeDriver and a headless Chromium with a window of
    /// `width` × `height` (a small laptop's screen, say). Panics with
    /// what to install when they are missing: the browser tests are not
    /// skipped.
    pub async fn start(width: u32, height: u32) -> Browser {
        for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: apt-get install {package} (scripts/test setup does)"
            );
        }
        let port = free_port();
        use std::os::unix::process::CommandExt as _;
        let driver = Command::new(CHROMEDRIVER)
            // Its own process group, with the browsers it starts: all of
            // them end together (see Drop).
            .process_group(0)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(COMMAND_TIMEOUT_MS))
            .no_proxy()
            .build()
            .expect("client");
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            if let Ok(r) = http.get(format!("{base}/status")).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_millis(START_TIMEOUT_MS),
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().expect("profile");
        let downloads = profile.path().join("downloads");
        std::fs::create_dir_all(&downloads).expect("downloads");
        let capabilities = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": CHROMIUM,
                    "args": [
                        "--headless=new",
                        "--no-sandbox",
                        "--disable-gpu",
                        "--disable-dev-shm-usage",
                        "--no-first-run",
                        "--disable-extensions",
                        format!("--window-size={width},{height}"),
                        format!("--user-data-dir={}", profile.path().join("chrome").display()),
                    ],
                    "prefs": {
                        "download.default_directory": downloads.display().to_string(),
                        "download.prompt_for_download": false,
                    },
                },
            } }
        });
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session json");
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_string();
        let browser = Browser {
            http,
            driver,
            base,
            session,
            downloads,
            _profile: profile,
        };
        // Headless Chromium saves downloads only when told where.
        browser
            .command(
                "POST",
                "/chromium/send_command",
                json!({
                    "cmd": "Browser.setDownloadBehavior",
                    "params": {
                        "behavior": "allow",
                        "downloadPath": browser.downloads.display().to_string(),
                    },
                }),
            )
            .await;
        browser
    }

    async fn command(&self, method: &str, path: &str, body: Value) -> Value {
        self.try_command(method, path, body)
            .await
            .unwrap_or_else(|error| panic!("{method} {path}: {error}"))
    }

    /// A command's value, or the WebDriver error it answered (its name
    /// and message).
    async fn try_command(&self, method: &str, path: &str, body: Value) -> Result<Value, String> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let request = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body),
        };
        let answer: Value = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        if let Some(error) = answer["value"].get("error") {
            return Err(format!(
                "{}: {}",
                error.as_str().unwrap_or_default(),
                answer["value"]["message"].as_str().unwrap_or_default()
            ));
        }
        Ok(answer["value"].clone())
    }

    /// Runs `script` in the page as a function body; what it returns.
    pub async fn execute(&self, script: &str) -> Value {
        self.command(
            "POST",
            "/execute/sync",
            json!({ "script": script, "args": [] }),
        )
        .await
    }

    /// Opens `url` and waits for it to load.
    pub async fn goto(&self, url: &str) {
        self.command("POST", "/url", json!({ "url": url })).await;
    }

    /// The page's URL.
    pub async fn url(&self) -> String {
        self.command("GET", "/url", Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Waits (at most `timeout_ms`) for the page's URL to be `url`: a
    /// key press that submits a form does not wait for the next page.
    pub async fn wait_for_url(&self, url: &str, timeout_ms: u64) {
        let started = Instant::now();
        loop {
            let now = self.url().await;
            if now == url {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_millis(timeout_ms),
                "still on {now}, not {url}:\n{}",
                self.source().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The page's HTML as the browser has it.
    pub async fn source(&self) -> String {
        self.command("GET", "/source", Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The element `css` selects (the first), if any.
    pub async fn find(&self, css: &str) -> Option<String> {
        let url = format!("{}/session/{}/element", self.base, self.session);
        let answer: Value = self
            .http
            .post(url)
            .json(&json!({ "using": "css selector", "value": css }))
            .send()
            .await
            .expect("find")
            .json()
            .await
            .expect("find json");
        answer["value"][ELEMENT].as_str().map(str::to_string)
    }

    async fn element(&self, css: &str) -> String {
        match self.find(css).await {
            Some(e) => e,
            None => panic!(
                "no element {css} on {}:\n{}",
                self.url().await,
                self.source().await
            ),
        }
    }

    /// The visible text of the element `css` selects. A page that
    /// replaces its elements in place (the live overview) may do so
    /// between finding one and reading it: then it is found again.
    pub async fn text(&self, css: &str) -> String {
        let mut tries = 0;
        loop {
            let e = self.element(css).await;
            match self
                .try_command("GET", &format!("/element/{e}/text"), Value::Null)
                .await
            {
                Ok(text) => return text.as_str().unwrap_or_default().to_string(),
                Err(error)
                    if error.starts_with("stale element reference") && tries < STALE_TRIES_MAX =>
                {
                    tries += 1;
                }
                Err(error) => panic!("text of {css}: {error}"),
            }
        }
    }

    /// Types `text` into the field `css` selects, after clearing it.
    pub async fn fill(&self, css: &str, text: &str) {
        let e = self.element(css).await;
        self.command("POST", &format!("/element/{e}/clear"), json!({}))
            .await;
        self.command(
            "POST",
            &format!("/element/{e}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    /// Clicks the element `css` selects, on the page (a checkbox, a
    /// download link): nothing waits for a next page.
    pub async fn click_here(&self, css: &str) {
        let e = self.element(css).await;
        self.command("POST", &format!("/element/{e}/click"), json!({}))
            .await;
    }

    /// Clicks the link or button `css` selects and waits (at most
    /// [`COMMAND_TIMEOUT_MS`]) for the page it loads: the document
    /// element is a new one once the next page is there.
    pub async fn click(&self, css: &str) {
        let before = self.element("html").await;
        self.click_here(css).await;
        let started = Instant::now();
        loop {
            if let Some(now) = self.find("html").await
                && now != before
            {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_millis(COMMAND_TIMEOUT_MS),
                "clicking {css} loaded no page"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Presses `keys` one after the other on the keyboard, wherever the
    /// focus is (WebDriver key codes, e.g. "\u{E004}" for Tab and
    /// "\u{E007}" for Enter).
    pub async fn press(&self, keys: &str) {
        let actions: Vec<Value> = keys
            .chars()
            .flat_map(|k| {
                [
                    json!({ "type": "keyDown", "value": k.to_string() }),
                    json!({ "type": "keyUp", "value": k.to_string() }),
                ]
            })
            .collect();
        self.command(
            "POST",
            "/actions",
            json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": actions }] }),
        )
        .await;
    }

    /// The focused element's attribute `name`, once an element has the
    /// focus (autofocus applies just after the page loads): waits at
    /// most `timeout_ms`.
    pub async fn focused_attribute(&self, name: &str, timeout_ms: u64) -> String {
        let started = Instant::now();
        let e = loop {
            let active = self.command("GET", "/element/active", Value::Null).await;
            if let Some(e) = active.get(ELEMENT).and_then(Value::as_str) {
                break e.to_string();
            }
            assert!(
                started.elapsed() < Duration::from_millis(timeout_ms),
                "no element has the focus on {}",
                self.url().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        self.command(
            "GET",
            &format!("/element/{e}/attribute/{name}"),
            Value::Null,
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// Saves a PNG of the window to `path`.
    pub async fn screenshot(&self, path: &Path) {
        let png = self.command("GET", "/screenshot", Value::Null).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .expect("png");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(path, bytes).expect("screenshot");
    }

    /// Waits (at most `timeout_ms`) for a finished download named
    /// `name` and returns its bytes.
    pub async fn download(&self, name: &str, timeout_ms: u64) -> Vec<u8> {
        let path = self.downloads.join(name);
        let started = Instant::now();
        loop {
            if let Ok(bytes) = std::fs::read(&path) {
                return bytes;
            }
            assert!(
                started.elapsed() < Duration::from_millis(timeout_ms),
                "no download {name} in {}: {:?}",
                self.downloads.display(),
                std::fs::read_dir(&self.downloads).map(|d| d
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name())
                    .collect::<Vec<_>>())
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Browser {
    /// Ends the session (the browser quits), then the driver.
    pub async fn close(self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.base, self.session))
            .send()
            .await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The driver's process group: the driver and any browser it left.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
