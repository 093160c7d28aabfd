//! The operator console over HTTP, as a browser speaks to it (issue 16):
//! sign-in and sessions, the overview's numbers against the Operator
//! API's, a net debit cap set and a payment refused for it, a funds in
//! through its confirmation, forms without the session's CSRF token
//! refused, a role that may not refused, French, and a session that
//! expires. (The browser tests drive the same pages in Chromium.)

use harambee_proto::v1::*;
use harambee_tests::*;
use reqwest::StatusCode;
use reqwest::redirect::Policy;

const AUDITOR_TOKEN: &str = "auditor-token-0123456789";
const HUB_TOKEN: &str = "hub-operator-token-0123456789";

/// A browser without a cookie jar: the session cookie is carried by hand.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

impl Browser {
    fn new(addr: std::net::SocketAddr) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .expect("client"),
            base: format!("http://{addr}"),
            cookie: None,
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let mut r = self.http.get(format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            r = r.header("cookie", c);
        }
        let response = r.send().await.expect("GET");
        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = response.text().await.expect("body");
        (
            status,
            if status.is_redirection() {
                location
            } else {
                body
            },
        )
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
        let mut r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("origin", self.base.clone())
            .form(form);
        if let Some(c) = &self.cookie {
            r = r.header("cookie", c);
        }
        let response = r.send().await.expect("POST");
        let status = response.status();
        if let Some(set) = response
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
        {
            let pair = set.split(';').next().unwrap_or_default().to_string();
            self.cookie = (!pair.ends_with('=')).then_some(pair);
        }
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = response.text().await.expect("body");
        (
            status,
            if status.is_redirection() {
                location
            } else {
                body
            },
        )
    }

    async fn login(&mut self, token: &str, lang: &str) -> (StatusCode, String) {
        self.post("/login", &[("token", token), ("lang", lang)])
            .await
    }

    /// The CSRF token of the session, as its pages carry it.
    async fn csrf(&self) -> String {
        let (_, page) = self.get("/").await;
        let marker = "name=\"csrf\" value=\"";
        let at = page.find(marker).expect("a form with the token") + marker.len();
        page[at..at + 64].to_string()
    }
}

/// The text of the cell `field` in the overview's row of `fsp`.
fn cell(page: &str, fsp: &str, field: &str) -> String {
    let row = page
        .find(&format!("data-fsp=\"{fsp}\""))
        .unwrap_or_else(|| panic!("no row of {fsp}"));
    let rest = &page[row..];
    let at = rest
        .find(&format!("data-field=\"{field}\">"))
        .unwrap_or_else(|| panic!("no {field} for {fsp}"));
    let rest = &rest[at + field.len() + 14..];
    rest[..rest.find('<').expect("cell end")].to_string()
}

fn operators_file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("operators.toml");
    std::fs::write(
        &path,
        format!(
            "[[operators]]\nname = \"hub-ops\"\nroles = [\"hub-operator\"]\ntoken_sha256 = \"{}\"\n\n[[operators]]\nname = \"inspector\"\nroles = [\"auditor\"]\ntoken_sha256 = \"{}\"\n",
            sha256_hex(HUB_TOKEN),
            sha256_hex(AUDITOR_TOKEN)
        ),
    )
    .expect("operators file");
    path
}

#[tokio::test]
async fn an_operator_signs_in_reads_positions_sets_a_cap_and_records_funds_in_through_the_console()
{
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = TestSwitch::config(dir.path());
    config.console.listen = "127.0.0.1:0".into();
    config.api.operators_file = operators_file(dir.path()).display().to_string();
    let mut s = TestSwitch::start_with(dir, config).await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let addr = s.running().console_addr.expect("console");
    let mut web = Browser::new(addr);

    // Not signed in: every page sends to the sign-in page.
    let (status, to) = web.get("/").await;
    assert_eq!(
        (status, to.as_str()),
        (StatusCode::SEE_OTHER, "/login?expired=1")
    );
    let (status, page) = web.get("/login").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Operator token"), "{page}");
    // A wrong token opens no session.
    let (status, page) = web.login("not-an-operator-token", "en").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("not an operator"), "{page}");
    assert!(web.cookie.is_none());

    let (status, to) = web.login(HUB_TOKEN, "en").await;
    assert_eq!((status, to.as_str()), (StatusCode::SEE_OTHER, "/"));
    assert!(web.cookie.is_some(), "a session cookie");
    let (status, page) = web.get("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Signed in as hub-ops"), "{page}");
    // The overview's numbers are the Operator API's.
    for fsp in ["bank-a", "bank-b"] {
        let p = s.position(fsp).await;
        let shown = cell(&page, fsp, "liquidity");
        assert_eq!(
            shown,
            harambee_console::money::format(
                &p.liquidity,
                CURRENCY,
                2,
                harambee_console::catalog::Lang::En
            )
        );
        assert_eq!(
            cell(&page, fsp, "net_debit_cap"),
            harambee_console::money::format(
                &p.net_debit_cap,
                CURRENCY,
                2,
                harambee_console::catalog::Lang::En
            )
        );
    }
    let csrf = web.csrf().await;

    // A form without the session's token changes nothing.
    let (status, _) = web
        .post(
            "/participants/bank-a/net-debit-cap",
            &[
                ("csrf", "0".repeat(64).as_str()),
                ("currency", CURRENCY),
                ("amount", "5"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(s.position("bank-a").await.net_debit_cap, "1000.00");

    // The cap set to 5: a payment of 10 is refused for it (4200).
    let (status, page) = web
        .post(
            "/participants/bank-a/net-debit-cap",
            &[
                ("csrf", csrf.as_str()),
                ("currency", CURRENCY),
                ("amount", "5"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains(&format!("is now {CURRENCY} 5.00")), "{page}");
    assert_eq!(s.position("bank-a").await.net_debit_cap, "5.00");
    let q = quote(&mut a, &b, "10").await;
    let refused = a.api.prepare_transfer(prepare_request(&q, 30_000)).await;
    let state = refused.map(|r| r.into_inner().state);
    assert!(
        matches!(&state, Err(status) if code(status) == 4200)
            || matches!(state, Ok(s) if s == TransferState::Aborted as i32),
        "the payment fails for the cap: {state:?}"
    );

    // Funds in: the confirmation shows amount and currency and moves
    // nothing; confirming records it, once even if sent twice.
    let before = s.position("bank-a").await.liquidity;
    let (status, page) = web
        .post(
            "/participants/bank-a/funds/in",
            &[
                ("csrf", csrf.as_str()),
                ("currency", CURRENCY),
                ("amount", "1250.5"),
                ("reason", "deposit 42"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains(&format!(
            "Record funds in of {CURRENCY} 1,250.50 for bank-a?"
        )),
        "{page}"
    );
    assert_eq!(
        s.position("bank-a").await.liquidity,
        before,
        "nothing moved yet"
    );
    let marker = "name=\"funds_id\" value=\"";
    let at = page.find(marker).expect("funds id") + marker.len();
    let funds_id = page[at..at + 36].to_string();
    let confirmed = [
        ("csrf", csrf.as_str()),
        ("currency", CURRENCY),
        ("amount", "1250.5"),
        ("reason", "deposit 42"),
        ("funds_id", funds_id.as_str()),
    ];
    for _ in 0..2 {
        let (status, page) = web
            .post("/participants/bank-a/funds/in/confirmed", &confirmed)
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(
            page.contains(&format!("{CURRENCY} 1,250.50 recorded for bank-a")),
            "{page}"
        );
    }
    let after: rust_decimal::Decimal = s
        .position("bank-a")
        .await
        .liquidity
        .parse()
        .expect("decimal");
    let before: rust_decimal::Decimal = before.parse().expect("decimal");
    assert_eq!(
        after - before,
        rust_decimal::Decimal::new(125050, 2),
        "recorded once"
    );

    // The participant page shows the new cap.
    let (status, page) = web.get("/participants/bank-a").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&format!("{CURRENCY} 5.00")), "{page}");

    // Signing out ends the session.
    let (status, to) = web.post("/logout", &[("csrf", csrf.as_str())]).await;
    assert_eq!((status, to.as_str()), (StatusCode::SEE_OTHER, "/login"));
    let (status, _) = web.get("/").await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    // An auditor reads, in French, and may not change the cap.
    let mut auditor = Browser::new(addr);
    let (status, _) = auditor.login(AUDITOR_TOKEN, "fr").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, page) = auditor.get("/").await;
    assert!(page.contains("Connecté en tant que inspector"), "{page}");
    assert!(page.contains("Plafond de débit net"), "{page}");
    let csrf = auditor.csrf().await;
    let (status, page) = auditor
        .post(
            "/participants/bank-a/net-debit-cap",
            &[
                ("csrf", csrf.as_str()),
                ("currency", CURRENCY),
                ("amount", "900"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(page.contains("3000"), "{page}");
    assert!(!page.contains(AUDITOR_TOKEN), "the credential never shows");
    assert_eq!(
        s.position("bank-a").await.net_debit_cap,
        "5.00",
        "unchanged"
    );
    assert!(s.digest().await.balanced);
}

#[tokio::test]
async fn a_session_ends_when_it_expires() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = TestSwitch::config(dir.path());
    config.console.listen = "127.0.0.1:0".into();
    config.console.session_ttl_ms = 1_000;
    let s = TestSwitch::start_with(dir, config).await;
    let mut web = Browser::new(s.running().console_addr.expect("console"));
    let (status, _) = web.login(OPERATOR_TOKEN, "en").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _) = web.get("/").await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(1_300)).await;
    let (status, to) = web.get("/").await;
    assert_eq!(
        (status, to.as_str()),
        (StatusCode::SEE_OTHER, "/login?expired=1")
    );
    let (_, page) = web.get("/login?expired=1").await;
    assert!(page.contains("Your session has ended"), "{page}");
}

/// One server-sent event: its name and its data (lines joined by `\n`).
struct SseEvent {
    name: String,
    data: String,
}

/// Reads server-sent events off a streaming response, a frame at a time.
struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    /// The next named event (comments and `retry` skipped), within
    /// `timeout_ms`; `None` if the stream ends first.
    async fn next(&mut self, timeout_ms: u64) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(timeout_ms);
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent {
                    name: String::new(),
                    data: String::new(),
                };
                for line in frame.lines() {
                    if let Some(name) = line.strip_prefix("event:") {
                        event.name = name.trim_start().to_string();
                    } else if let Some(data) = line.strip_prefix("data:") {
                        if !event.data.is_empty() {
                            event.data.push('\n');
                        }
                        event.data.push_str(data.strip_prefix(' ').unwrap_or(data));
                    }
                }
                if !event.name.is_empty() {
                    return Some(event);
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .expect("an event in time")
                .expect("the stream");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk?));
        }
    }
}

impl Browser {
    /// Opens the overview's live stream with the session's cookie.
    async fn live(&self) -> Events {
        let mut r = self.http.get(format!("{}/live", self.base));
        if let Some(c) = &self.cookie {
            r = r.header("cookie", c);
        }
        let response = r.send().await.expect("GET /live");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("text/event-stream")
        );
        Events {
            response,
            buffer: String::new(),
        }
    }
}

/// How long the next overview may take to come (it comes every 5 s).
const LIVE_EVENT_TIMEOUT_MS: u64 = 20_000;

#[tokio::test]
async fn the_overview_stays_live_over_server_sent_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = TestSwitch::config(dir.path());
    config.console.listen = "127.0.0.1:0".into();
    config.api.operators_file = operators_file(dir.path()).display().to_string();
    let mut s = TestSwitch::start_with(dir, config).await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let mut web = Browser::new(s.running().console_addr.expect("console"));

    // Not signed in: no stream, the sign-in page instead.
    let (status, to) = web.get("/live").await;
    assert_eq!(
        (status, to.as_str()),
        (StatusCode::SEE_OTHER, "/login?expired=1")
    );
    let (status, _) = web.login(HUB_TOKEN, "en").await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    // The page asks for the script, from its own origin only, and
    // reloads itself where scripts do not run.
    let (_, page) = web.get("/").await;
    assert!(page.contains("<script src=\"/live.js\" defer>"), "{page}");
    assert!(
        page.contains("<noscript><meta http-equiv=\"refresh\" content=\"5\">"),
        "{page}"
    );
    assert!(page.contains("<div id=\"live\">"), "{page}");
    assert_eq!(page.matches("<script").count(), 1, "no inline script");
    // The policy lets the page run that script and open its stream, and
    // nothing else: no other origin, no inline script, no framing.
    let response = web
        .http
        .get(format!("{}/", web.base))
        .header("cookie", web.cookie.clone().expect("signed in"))
        .send()
        .await
        .expect("GET /");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let policy = header("content-security-policy");
    let directives: Vec<&str> = policy.split(';').map(str::trim).collect();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(directives.contains(&directive), "{policy}");
    }
    assert!(!policy.contains("unsafe-eval"), "{policy}");
    assert!(
        !policy.contains("script-src 'self' 'unsafe-inline'"),
        "{policy}"
    );
    assert_eq!(header("x-frame-options"), "DENY");
    assert_eq!(header("cache-control"), "no-store");
    let script = reqwest::get(format!("{}/live.js", web.base))
        .await
        .expect("GET /live.js");
    assert_eq!(
        script
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/javascript; charset=utf-8")
    );
    assert!(script.text().await.expect("script").contains("EventSource"));

    // The stream sends the overview's tables, then the next ones with a
    // payment made in between.
    let mut events = web.live().await;
    let first = events.next(LIVE_EVENT_TIMEOUT_MS).await.expect("an event");
    assert_eq!(first.name, "overview");
    let before = s.position("bank-a").await;
    assert_eq!(
        cell(&first.data, "bank-a", "position"),
        harambee_console::money::format(
            &before.position,
            CURRENCY,
            2,
            harambee_console::catalog::Lang::En
        )
    );
    assert!(!first.data.contains("<html"), "a part, not a page");
    assert!(first.data.contains("As of "), "{}", first.data);
    let q = quote(&mut a, &b, "25").await;
    let done = a
        .api
        .prepare_transfer(prepare_request(&q, 30_000))
        .await
        .expect("prepare")
        .into_inner();
    assert_eq!(done.state, TransferState::Committed as i32);
    let after = s.position("bank-a").await;
    assert_ne!(after.position, before.position);
    let next = events.next(LIVE_EVENT_TIMEOUT_MS).await.expect("an event");
    assert_eq!(next.name, "overview");
    assert_eq!(
        cell(&next.data, "bank-a", "position"),
        harambee_console::money::format(
            &after.position,
            CURRENCY,
            2,
            harambee_console::catalog::Lang::En
        )
    );

    // Signed out, the stream says it has ended (the page then reloads
    // to the sign-in page) and stops.
    let csrf = web.csrf().await;
    let (status, _) = web.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let ended = events.next(LIVE_EVENT_TIMEOUT_MS).await.expect("an event");
    assert_eq!(ended.name, "ended");
    assert!(events.next(LIVE_EVENT_TIMEOUT_MS).await.is_none());
}
