//! `harambee audit verify` and `export` as an auditor runs them: offline,
//! on a data directory or an export file, exit status 1 on a broken chain.

use std::process::Command;

use harambee_proto::v1::operator_api_client::OperatorApiClient;
use harambee_proto::v1::*;
use harambee_switch::config::Config;

const TOKEN: &str = "audit-cli-operator-token-0123";

fn req<T>(m: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(m);
    r.metadata_mut().insert(
        "authorization",
        format!("Bearer {TOKEN}").parse().expect("ascii"),
    );
    r
}

fn harambee(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_harambee"))
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test]
async fn verify_reports_the_first_break_and_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config {
        data_dir: dir.path().join("data"),
        ..Config::default()
    };
    config.api.participant_listen = "127.0.0.1:0".into();
    config.api.operator_listen = "127.0.0.1:0".into();
    config.api.metrics_listen = String::new();
    config.fspiop.admin_listen = String::new();
    config.fspiop.listen = String::new();
    config.api.operator_token = TOKEN.into();
    let running = harambee_switch::server::start(config.clone())
        .await
        .expect("start");
    let mut op = OperatorApiClient::connect(format!("http://{}", running.operator_addr))
        .await
        .expect("connect");
    op.add_currency(req(AddCurrencyRequest {
        currency: "UGX".into(),
    }))
    .await
    .expect("currency");
    for name in ["bank-a", "bank-b", "bank-c"] {
        op.create_participant(req(CreateParticipantRequest {
            fsp_id: name.into(),
            kind: ParticipantKind::Bank as i32,
            name: name.into(),
        }))
        .await
        .expect("participant");
    }
    drop(op);
    running.stop().await;
    let data = config.data_dir.to_string_lossy().into_owned();

    let (status, out) = harambee(&["audit", "verify", "--data-dir", &data]);
    assert_eq!(status, 0, "{out}");
    assert!(out.starts_with("verified 7 records; head hash "), "{out}");
    let export = dir.path().join("log.jsonl");
    let (status, _) = harambee(&[
        "audit",
        "export",
        "--data-dir",
        &data,
        "--out",
        &export.to_string_lossy(),
    ]);
    assert_eq!(status, 0);
    let (status, out) = harambee(&["audit", "verify", "--file", &export.to_string_lossy()]);
    assert_eq!(
        (status, out.starts_with("verified 7 records")),
        (0, true),
        "{out}"
    );

    // Forge record 4 (bank-b's credential) in the database.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}/log.db", data))
        .await
        .expect("open");
    sqlx::query(
        "UPDATE event_log SET record = replace(record, 'bank-b', 'bank-z') WHERE log_offset = 4",
    )
    .execute(&pool)
    .await
    .expect("forge");
    pool.close().await;
    let (status, out) = harambee(&["audit", "verify", "--data-dir", &data]);
    assert_eq!(status, 1, "{out}");
    assert!(out.starts_with("BROKEN at offset 4:"), "{out}");
}
