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
