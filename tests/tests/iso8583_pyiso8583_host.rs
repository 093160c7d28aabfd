//! A legacy host written with pyiso8583 alone (no code of ours:
//! `tests/iso8583/pyiso8583_host.py`) signs on, pays an MSISDN owned by a
//! gRPC wallet through the gateway (its repeat moves nothing), and is paid
//! by the wallet: it approves the switch's 0200 credit and the transfer
//! commits.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use harambee_proto::v1::{SetEndpointRequest, TransferState};
use harambee_tests::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_written_with_pyiso8583_alone_pays_a_grpc_wallet_and_is_paid_by_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = TestSwitch::config(dir.path());
    config.iso8583.listen = "127.0.0.1:0".into();
    config.iso8583.hosts = vec!["60001=legacy-bank@127.0.0.1".into()];
    let mut s = TestSwitch::start_with(dir, config).await;
    let legacy = s
        .onboard("legacy-bank", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    s.op.set_endpoint(op_req(SetEndpointRequest {
        fsp_id: "legacy-bank".into(),
        url: "iso8583:60001".into(),
    }))
    .await
    .expect("the legacy bank is reached through the gateway");
    let mut wallet = s
        .onboard("wallet-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let port = s.running().iso8583_addr.expect("the gateway").port();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("iso8583/pyiso8583_host.py");
    let mut child = Command::new("python3")
        .arg(script)
        .args([
            "127.0.0.1",
            &port.to_string(),
            "60001",
            &wallet.customer(0).id,
            "1",
            "1050",
            "250",
        ])
        // From /, so that this repository's iso8583/ directory is not
        // imported in place of pyiso8583.
        .current_dir("/")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let stdout = child.stdout.take().expect("stdout");
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<Value>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str(&line) {
                let _ = lines_tx.send(v);
            }
        }
    });
    let mut next = async || {
        tokio::time::timeout(std::time::Duration::from_secs(30), lines.recv())
            .await
            .expect("the host answers in time")
            .expect("the host prints a line (see its stderr if not)")
    };

    // It paid: a sign-on, two 0200s and the repeat of the first.
    let mut answers = Vec::new();
    loop {
        let v = next().await;
        if v["ready"] == true {
            break;
        }
        answers.push(v);
    }
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
    assert_eq!(
        answers[1]["38"], answers[2]["38"],
        "the repeat: the same approval"
    );
    assert_eq!(s.position("legacy-bank").await.position, "13.00");
    assert_eq!(s.position("wallet-b").await.position, "-13.00");

    // It is paid: the wallet pays its customer 4.00 KES.
    let q = quote(&mut wallet, &legacy, "4").await;
    let t = wallet
        .api
        .prepare_transfer(prepare_request(&q, 30_000))
        .await
        .expect("prepare")
        .into_inner();
    assert_eq!(t.state, TransferState::Committed as i32, "{t:?}");
    let credit = next().await;
    assert_eq!(credit["t"], "0200", "{credit}");
    assert_eq!(credit["4"], "000000000400");
    assert_eq!(credit["103"], legacy.customer(0).id.as_str());
    assert_eq!(s.position("legacy-bank").await.position, "9.00");
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("joins")
        .expect("the host exits");
    assert!(status.success(), "the host ends well");
}
