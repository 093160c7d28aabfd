//! The README's first command: `harambee demo` runs a switch with
//! simulated banks and wallets, makes real payments and a settlement, and
//! prints what happened. Run on the binary itself (built with the `demo`
//! feature, as a workspace build of the tests has it).

use std::process::Command;

#[test]
fn the_demo_pays_settles_and_reports_a_balanced_ledger() {
    let out = Command::new(env!("CARGO_BIN_EXE_harambee"))
        .args(["demo", "--seed", "7"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "Ledger balanced:   yes",
        "every account -> SETTLED",
        "settlement 1: SETTLED",
        "ledger balanced:   yes",
        "to or from wallet-e over FSPIOP",
        "wallet-e ",
        "to or from bank-f over ISO 8583",
        "a legacy host on ISO 8583 (institution 60001, signed on)",
        "(they agree)",
        "harambee demo --console",
    ] {
        assert!(stdout.contains(expected), "{expected:?} not in:\n{stdout}");
    }
}

/// `harambee demo --tls`: the same run on mTLS, on a development PKI made
/// for it (every member and the operator identified by its certificate).
#[test]
fn the_demo_runs_whole_on_mtls() {
    let out = Command::new(env!("CARGO_BIN_EXE_harambee"))
        .args(["demo", "--seed", "11", "--tls"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo --tls failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "on mTLS (a development PKI made for the run)",
        "participant API  https://localhost:",
        "FSPIOP API       https://localhost:",
        "operator         demo-operator, by its certificate",
        "callback https://localhost:",
        "HTTPS callbacks",
        "ISO 8583 gateway 127.0.0.1:",
        "(institution 60001, signed on, on TLS)",
        "to or from bank-f over ISO 8583",
        "to or from wallet-e over FSPIOP",
        "settlement 1: SETTLED",
        "Ledger balanced:   yes",
        "(they agree)",
    ] {
        assert!(stdout.contains(expected), "{expected:?} not in:\n{stdout}");
    }
}

/// `harambee demo --console`: after the payments the switch keeps
/// running with the console on; the URL and a login are printed, the
/// login opens a session, the window is there to settle, and Ctrl-C
/// (SIGINT) stops it cleanly.
#[tokio::test]
async fn the_demo_with_the_console_keeps_running_for_a_newcomer_to_settle() {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_harambee"))
        .args(["demo", "--seed", "5", "--console"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("runs");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let (mut url, mut token) = (String::new(), String::new());
    let read = async {
        while let Some(line) = lines.next_line().await.expect("line") {
            if let Some(u) = line.strip_prefix("The operator console: ") {
                url = u.trim().to_string();
            }
            if let Some(t) = line.trim().strip_prefix("sign in with the operator token ") {
                token = t.trim().to_string();
                return;
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(120), read)
        .await
        .expect("the console's URL and login are printed");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let signed_in = http
        .post(format!("{url}login"))
        .form(&[("token", token.as_str()), ("lang", "en")])
        .send()
        .await
        .expect("sign in");
    assert_eq!(signed_in.status(), reqwest::StatusCode::SEE_OTHER);
    let cookie = signed_in
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("a session")
        .to_string();
    let page = http
        .get(format!("{url}settlement"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("settlement page")
        .text()
        .await
        .expect("body");
    assert!(page.contains("Close the KES window"), "{page}");
    // Ctrl-C: the switch stops and the demo ends well.
    let pid = child.id().expect("pid");
    let killed = tokio::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .await
        .expect("kill");
    assert!(killed.success());
    let status = tokio::time::timeout(std::time::Duration::from_secs(60), child.wait())
        .await
        .expect("stops")
        .expect("status");
    assert!(status.success(), "{status:?}");
}
