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
