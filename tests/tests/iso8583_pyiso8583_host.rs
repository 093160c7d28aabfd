//! A legacy host written with pyiso8583 alone (no code of ours:
//! `tests/iso8583/pyiso8583_host.py`) signs on and pays an MSISDN owned by
//! a gRPC wallet through the gateway; its repeat moves nothing.

use std::path::PathBuf;
use std::process::Command;

use harambee_tests::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_written_with_pyiso8583_alone_signs_on_and_pays_a_grpc_wallet() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = TestSwitch::config(dir.path());
    config.iso8583.listen = "127.0.0.1:0".into();
    config.iso8583.hosts = vec!["60001=legacy-bank@127.0.0.1".into()];
    let mut s = TestSwitch::start_with(dir, config).await;
    s.onboard("legacy-bank", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let wallet = s
        .onboard("wallet-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let port = s.running().iso8583_addr.expect("the gateway").port();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("iso8583/pyiso8583_host.py");
    let msisdn = wallet.customer(0).id.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .args([
                "127.0.0.1",
                &port.to_string(),
                "60001",
                &msisdn,
                "1050",
                "250",
            ])
            // From /, so that this repository's iso8583/ directory is not
            // imported in place of pyiso8583.
            .current_dir("/")
            .output()
            .expect("python3 runs")
    })
    .await
    .expect("joins");
    assert!(
        output.status.success(),
        "the pyiso8583 host failed (scripts/test setup installs pyiso8583): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answers: Vec<Value> = String::from_utf8(output.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(answers.len(), 4, "{answers:?}");
    assert_eq!(
        (answers[0]["t"].as_str(), answers[0]["39"].as_str()),
        (Some("0810"), Some("00"))
    );
    for a in &answers[1..] {
        assert_eq!(a["t"], "0210", "{a}");
        assert_eq!(a["39"], "00", "{a}");
        assert_eq!(a["38"].as_str().map(str::len), Some(6), "{a}");
    }
    // The repeat of the first 0200: the same approval, no second payment.
    assert_eq!(answers[1]["38"], answers[2]["38"]);
    assert_eq!(answers[1]["11"], "000100");
    assert_eq!(answers[3]["11"], "000101");
    assert_eq!(s.position("legacy-bank").await.position, "13.00");
    assert_eq!(s.position("wallet-b").await.position, "-13.00");
}
