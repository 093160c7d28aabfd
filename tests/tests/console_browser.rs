//! The operator console in a real browser (issue 16): headless Chromium
//! (Debian's, driven over WebDriver by ChromeDriver) against a switch
//! with simulated banks, on a small laptop's screen (1366 × 768). It
//! signs in from the keyboard, reads the positions and checks them
//! against the Operator API, watches a payment show in the live overview
//! without a reload, sets a net debit cap and sees a payment
//! fail for it, records funds in through its confirmation, closes the
//! window, settles it multilateral net through every state to SETTLED,
//! downloads the reports and compares them with the Operator API's,
//! reads the audit page, and sees an auditor refused a change. It saves
//! screenshots on the way (`HARAMBEE_SCREENSHOTS`, or the test's
//! target directory); docs/CONSOLE.md shows some of them.

use std::path::PathBuf;

use harambee_console::catalog::Lang;
use harambee_console::money;
use harambee_proto::v1::*;
use harambee_tests::webdriver::Browser;
use harambee_tests::*;

const OPS_TOKEN: &str = "console-ops-token-0123456789";
const AUDITOR_TOKEN: &str = "console-auditor-token-0123456789";
/// How long the live overview may take to show a payment (it is sent
/// every 5 s).
const LIVE_TIMEOUT_MS: u64 = 20_000;
/// How long a download may take to land.
const DOWNLOAD_TIMEOUT_MS: u64 = 15_000;

fn operators_file(dir: &std::path::Path) -> PathBuf {
    let path = dir.join("operators.toml");
    std::fs::write(
        &path,
        format!(
            "[[operators]]\nname = \"ops\"\nroles = [\"hub-operator\", \"settlement-operator\"]\ntoken_sha256 = \"{}\"\n\n[[operators]]\nname = \"inspector\"\nroles = [\"auditor\"]\ntoken_sha256 = \"{}\"\n",
            sha256_hex(OPS_TOKEN),
            sha256_hex(AUDITOR_TOKEN)
        ),
    )
    .expect("operators file");
    path
}

fn screenshots() -> PathBuf {
    std::env::var_os("HARAMBEE_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots"))
}

fn kes(amount: &str) -> String {
    money::format(amount, CURRENCY, 2, Lang::En)
}

/// A payment of `amount` from `payer` to `payee`: its final state, or
/// the FSPIOP code it was refused with.
async fn pay(payer: &mut Member, payee: &Member, amount: &str) -> Result<i32, u16> {
    let q = quote(payer, payee, amount).await;
    match payer
        .api
        .prepare_transfer(prepare_request(&q, 30_000))
        .await
    {
        Ok(t) => {
            let t = t.into_inner();
            match t.error {
                Some(e) => Err(e.error_code.parse().unwrap_or(0)),
                None => Ok(t.state),
            }
        }
        Err(status) => Err(code(&status)),
    }
}

/// Signs in with `token` from the keyboard: typed into the token field,
/// Tab to the language, Tab to the button, Enter.
async fn sign_in(web: &Browser, base: &str, token: &str) {
    web.goto(&format!("{base}/login")).await;
    web.fill("#token", token).await;
    web.press("\u{E004}").await;
    assert_eq!(web.focused_attribute("id", 5_000).await, "lang");
    web.press("\u{E004}").await;
    assert_eq!(web.focused_attribute("type", 5_000).await, "submit");
    web.press("\u{E007}").await;
}

/// Clicks the confirmation page's Confirm and returns the answer.
async fn confirm(web: &Browser) -> String {
    web.click("main form button[type=submit]").await;
    web.text("main p.msg").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_settles_the_day_in_the_console_in_a_real_browser() {
    let shots = screenshots();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = TestSwitch::config(dir.path());
    config.console.listen = "127.0.0.1:0".into();
    config.api.operators_file = operators_file(dir.path()).display().to_string();
    let mut s = TestSwitch::start_with(dir, config).await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let mut b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let committed = TransferState::Committed as i32;
    assert_eq!(pay(&mut a, &b, "120").await, Ok(committed));
    assert_eq!(pay(&mut a, &b, "30.5").await, Ok(committed));
    assert_eq!(pay(&mut b, &a, "40").await, Ok(committed));
    let base = format!("http://{}", s.running().console_addr.expect("console"));
    let web = Browser::start(1366, 768).await;

    // 1. Sign in, from the keyboard.
    sign_in(&web, &base, OPS_TOKEN).await;
    web.wait_for_url(&format!("{base}/"), 10_000).await;
    assert_eq!(web.text("header .who").await, "Signed in as ops");

    // 2. The positions shown are the Operator API's.
    for fsp in ["bank-a", "bank-b"] {
        let p = s.position(fsp).await;
        for (field, value) in [
            ("position", &p.position),
            ("reserved", &p.reserved),
            ("liquidity", &p.liquidity),
            ("net_debit_cap", &p.net_debit_cap),
            ("available", &p.available),
        ] {
            assert_eq!(
                web.text(&format!(
                    "tr[data-fsp=\"{fsp}\"] td[data-field=\"{field}\"]"
                ))
                .await,
                kes(value),
                "{fsp} {field}"
            );
        }
    }
    web.screenshot(&shots.join("overview.png")).await;

    // The overview stays live: a payment shows in it without a reload,
    // and the link the operator is on keeps the focus.
    web.execute("window.notReloaded = true;").await;
    web.execute("document.querySelector('a[href=\"/participants/bank-b\"]').focus();")
        .await;
    assert_eq!(pay(&mut a, &b, "10").await, Ok(committed));
    let moved = kes(&s.position("bank-a").await.position);
    let started = std::time::Instant::now();
    while web
        .text("tr[data-fsp=\"bank-a\"] td[data-field=\"position\"]")
        .await
        != moved
    {
        assert!(
            started.elapsed() < std::time::Duration::from_millis(LIVE_TIMEOUT_MS),
            "the overview did not show the payment:\n{}",
            web.source().await
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(
        web.execute("return window.notReloaded === true;").await,
        serde_json::Value::Bool(true),
        "updated in place, not reloaded"
    );
    assert_eq!(
        web.focused_attribute("href", 5_000).await,
        "/participants/bank-b"
    );

    // 3. A net debit cap of 5 on bank-a; a payment of 10 fails for it.
    web.goto(&format!("{base}/participants/bank-a")).await;
    web.fill(&format!("#ndc-{CURRENCY}"), "5").await;
    web.click("form[action=\"/participants/bank-a/net-debit-cap\"] button")
        .await;
    assert!(
        web.text("main p.msg")
            .await
            .contains(&format!("is now {}", kes("5"))),
    );
    assert_eq!(s.position("bank-a").await.net_debit_cap, "5.00");
    assert_eq!(
        pay(&mut a, &b, "10").await,
        Err(4200),
        "refused for the cap"
    );
    web.goto(&format!("{base}/transfers?fsp=bank-a&code=4200"))
        .await;
    assert_eq!(web.text("td[data-field=\"code\"]").await, "4200");
    assert_eq!(web.text("td[data-field=\"state\"]").await, "ABORTED");
    web.screenshot(&shots.join("transfers.png")).await;
    // Its detail shows it, and no money moved for it.
    web.click("tr[data-transfer] a").await;
    assert!(
        web.text("td[data-field=\"error\"]")
            .await
            .starts_with("4200")
    );

    // 4. Funds in: the confirmation shows amount and currency, and
    // nothing moves before it is confirmed.
    let before: rust_decimal::Decimal = s
        .position("bank-a")
        .await
        .liquidity
        .parse()
        .expect("decimal");
    web.goto(&format!("{base}/participants/bank-a")).await;
    web.fill(&format!("#in-{CURRENCY}"), "1250.5").await;
    web.fill(&format!("#in-{CURRENCY}-reason"), "deposit 42")
        .await;
    web.click("form[action=\"/participants/bank-a/funds/in\"] button")
        .await;
    assert_eq!(
        web.text("main p.msg").await,
        format!("Record funds in of {} for bank-a?", kes("1250.50"))
    );
    web.screenshot(&shots.join("confirm-funds-in.png")).await;
    let unchanged: rust_decimal::Decimal = s
        .position("bank-a")
        .await
        .liquidity
        .parse()
        .expect("decimal");
    assert_eq!(unchanged, before, "nothing moved yet");
    assert!(confirm(&web).await.contains("recorded for bank-a"));
    let after: rust_decimal::Decimal = s
        .position("bank-a")
        .await
        .liquidity
        .parse()
        .expect("decimal");
    assert_eq!(after - before, rust_decimal::Decimal::new(125050, 2));

    // 5. Close the window.
    web.goto(&format!("{base}/settlement")).await;
    web.screenshot(&shots.join("settlement-windows.png")).await;
    web.click("form[action=\"/settlement/windows/close\"] button")
        .await;
    assert!(web.text("main p.msg").await.contains("is closed"));

    // 6. Settle it, multilateral net, through every state to SETTLED.
    web.goto(&format!("{base}/settlement")).await;
    web.click_here("input[name=window]").await;
    web.click("form[action=\"/settlement/create\"] button[type=submit]")
        .await;
    let created = web.text("main p.msg").await;
    let id: u64 = created
        .trim_start_matches("Settlement ")
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a settlement id in {created:?}"));
    let page = format!("{base}/settlement/{id}");
    for step in [
        "PS_TRANSFERS_RECORDED",
        "PS_TRANSFERS_RESERVED",
        "PS_TRANSFERS_COMMITTED",
        "SETTLED",
    ] {
        web.goto(&page).await;
        if step == "PS_TRANSFERS_COMMITTED" {
            web.screenshot(&shots.join("settlement.png")).await;
        }
        web.click("#advance-all button").await;
        let question = web.text("main p.msg").await;
        assert!(question.contains(&format!("to {step}")), "{question}");
        let answer = confirm(&web).await;
        assert!(answer.contains("2 participants advanced"), "{answer}");
    }
    web.goto(&page).await;
    assert_eq!(web.text("span[data-field=\"state\"]").await, "SETTLED");
    let settled =
        s.op.get_settlement(op_req(GetSettlementRequest { settlement_id: id }))
            .await
            .expect("settlement")
            .into_inner();
    assert_eq!(settled.state, SettlementState::Settled as i32);
    for p in &settled.participants {
        assert_eq!(
            web.text(&format!(
                "tr[data-fsp=\"{}\"] td[data-field=\"net\"]",
                p.fsp_id
            ))
            .await,
            kes(&p.net_amount)
        );
    }

    // 7. The reports, downloaded, are the Operator API's.
    for (kind, report_kind, format, report_format, ext) in [
        (
            "net-positions",
            ReportKind::NetPositions,
            "csv",
            ReportFormat::Csv,
            "csv",
        ),
        (
            "bilateral-matrix",
            ReportKind::BilateralMatrix,
            "json",
            ReportFormat::Json,
            "json",
        ),
    ] {
        web.click_here(&format!(
            "a[href=\"/settlement/{id}/report?kind={kind}&format={format}\"]"
        ))
        .await;
        let downloaded = web
            .download(
                &format!("settlement-{id}-{kind}.{ext}"),
                DOWNLOAD_TIMEOUT_MS,
            )
            .await;
        let api =
            s.op.get_settlement_report(op_req(GetSettlementReportRequest {
                settlement_id: id,
                kind: report_kind as i32,
                format: report_format as i32,
            }))
            .await
            .expect("report")
            .into_inner();
        assert_eq!(downloaded, api.content, "{kind}.{ext}");
    }

    // The audit page: the chain intact, and what ops did.
    web.goto(&format!("{base}/audit")).await;
    assert!(
        web.text("p[data-field=\"chain\"]")
            .await
            .starts_with("Intact")
    );
    assert_eq!(
        web.text("td[data-field=\"digest\"]").await,
        s.digest().await.digest
    );
    assert_eq!(
        web.text("tr[data-action=\"close_window\"] td[data-field=\"operator\"]")
            .await,
        "ops"
    );
    web.screenshot(&shots.join("audit.png")).await;

    // The overview's traffic: the payments made, by outcome, from the
    // switch's own metrics (this test's process counts only its own).
    web.goto(&format!("{base}/")).await;
    let count = |text: String| text.parse::<u64>().unwrap_or(0);
    assert!(
        count(web.text("tr[data-outcome=\"committed\"] td.num").await) >= 3,
        "three payments committed"
    );
    assert!(count(web.text("tr[data-outcome=\"4200\"] td.num").await) >= 1);
    web.screenshot(&shots.join("overview-traffic.png")).await;

    // 8. An auditor may read, not change: the cap form is refused.
    web.click("header form button").await;
    assert_eq!(web.url().await, format!("{base}/login"));
    web.fill("#token", AUDITOR_TOKEN).await;
    web.click("form[action=\"/login\"] button[type=submit]")
        .await;
    assert_eq!(web.text("header .who").await, "Signed in as inspector");
    web.goto(&format!("{base}/participants/bank-a")).await;
    web.fill(&format!("#ndc-{CURRENCY}"), "900").await;
    web.click("form[action=\"/participants/bank-a/net-debit-cap\"] button")
        .await;
    let refused = web.text("main p.msg").await;
    assert!(
        refused.starts_with("Your role does not allow this (3000)"),
        "{refused}"
    );
    web.screenshot(&shots.join("refused.png")).await;
    assert_eq!(
        s.position("bank-a").await.net_debit_cap,
        "5.00",
        "unchanged"
    );
    assert!(s.digest().await.balanced);
    web.close().await;
}
