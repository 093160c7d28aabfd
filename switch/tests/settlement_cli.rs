//! The settlement operator's day with the `harambee` CLI against a running
//! switch: close the window, create a settlement, advance every account to
//! SETTLED, write the net positions report to a CSV file.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use harambee_proto::v1::*;
use harambee_sim::client;

/// Runs `harambee <args>` against `switch`; returns stdout, panics on failure.
fn cli(switch: &Switch, args: &[&str]) -> String {
    let (code, stdout, stderr) = cli_status(switch, args);
    assert_eq!(code, Some(0), "harambee {args:?}: {stderr}");
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_settles_a_window_with_the_cli() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut switch = start(&dir.path().join("data"), &[]).await;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let members = onboard_two_banks(&mut switch, stop_rx).await;
    let (payer, credential, _) = members[0].clone();
    let mut api = client::connect(&switch.participant_url, &credential).expect("client");
    for amount in ["10", "20"] {
        let paid = pay(&mut api, &payer, msisdn(1), amount).await;
        assert!(paid.is_some(), "payment acknowledged");
    }

    let closed = cli(
        &switch,
        &["window", "close", CURRENCY, "--reason", "cut-off"],
    );
    assert!(closed.contains("transfer_count: 2"), "{closed}");
    let created = cli(&switch, &["settlement", "create", CURRENCY, "1"]);
    assert!(created.contains("settlement_id: 1"), "{created}");
    for target in ["recorded", "reserved", "committed", "settled"] {
        for (name, _, _) in &members {
            cli(
                &switch,
                &[
                    "settlement",
                    "advance",
                    "1",
                    name,
                    target,
                    "--external-reference",
                    "rtgs-1",
                ],
            );
        }
    }
    let report = dir.path().join("net.csv");
    let written = cli(
        &switch,
        &[
            "settlement",
            "report",
            "1",
            "net-positions",
            "--out",
            &report.display().to_string(),
        ],
    );
    assert!(
        written.contains("settlement-1-net-positions.csv"),
        "{written}"
    );
    let csv = std::fs::read_to_string(&report).expect("report file");
    assert!(
        csv.starts_with("fsp_id,currency,net_amount,state\n"),
        "{csv}"
    );
    assert_eq!(csv.matches(",SETTLED").count(), 2, "{csv}");

    let settled = switch
        .op
        .get_settlement(req(GetSettlementRequest { settlement_id: 1 }))
        .await
        .expect("settlement")
        .into_inner();
    assert_eq!(settled.state, SettlementState::Settled as i32);
    // A bad target is refused by the CLI before it reaches the switch.
    let out = Command::new(env!("CARGO_BIN_EXE_harambee"))
        .args(["settlement", "advance", "1", "x", "done"])
        .env("HARAMBEE_OPERATOR_URL", &switch.operator_url)
        .env("HARAMBEE_OPERATOR_TOKEN", TOKEN)
        .output()
        .expect("runs");
    assert!(!out.status.success());
    switch.stop_gracefully().await;
    let _ = stop_tx.send(true);
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// Runs `harambee <args>` against `switch`; returns its exit code, stdout and stderr.
fn cli_status(switch: &Switch, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_harambee"))
        .args(args)
        .env("HARAMBEE_OPERATOR_URL", &switch.operator_url)
        .env("HARAMBEE_OPERATOR_TOKEN", TOKEN)
        .output()
        .expect("harambee runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A misspelt choice on the command line is refused before anything is
/// sent: a participant kind "walet" must not create a bank.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misspelt_choice_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let switch = start(&dir.path().join("data"), &[]).await;
    let refused = [
        &["participant", "create", "bank-z", "--kind", "walet"][..],
        &[
            "settlement",
            "create",
            "KES",
            "1",
            "--model",
            "multilateralnet",
        ],
        &["settlement", "advance", "1", "bank-z", "setled"],
        &["settlement", "report", "1", "net-position"],
        &[
            "settlement",
            "report",
            "1",
            "net-positions",
            "--format",
            "xml",
        ],
    ];
    for args in refused {
        let (code, _, stderr) = cli_status(&switch, args);
        assert_eq!(code, Some(2), "harambee {args:?}: {stderr}");
        assert!(
            stderr.contains("invalid value"),
            "harambee {args:?}: {stderr}"
        );
        assert!(
            stderr.contains("possible values"),
            "harambee {args:?}: {stderr}"
        );
    }
    let listed = cli(&switch, &["participant", "list"]);
    assert!(!listed.contains("bank-z"), "nothing was created: {listed}");

    cli(
        &switch,
        &["participant", "create", "wallet-z", "--kind", "wallet"],
    );
    let shown = cli(&switch, &["participant", "show", "wallet-z"]);
    assert!(
        shown.contains("Wallet") || shown.contains("kind: 2"),
        "{shown}"
    );
    switch.stop_gracefully().await;
}
