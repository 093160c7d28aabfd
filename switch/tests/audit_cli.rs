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

/// The binary, run beside the switch of the test (which serves on this
/// test's runtime: the child is awaited, not waited on).
async fn harambee_err(args: &[&str]) -> (i32, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_harambee"))
        .args(args)
        .output()
        .await
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `harambee pki` makes the PKI and the operators file; the switch's
/// Operator API on TLS takes each operator from its certificate (the CLI
/// on mTLS); `harambee audit operators` lists who did what.
#[tokio::test]
async fn operators_by_certificate_act_in_their_roles_and_audit_lists_who_did_what() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = dir.path().join("pki");
    let pki_arg = pki.to_string_lossy().into_owned();
    let (status, out, err) = harambee_err(&[
        "pki",
        "--dir",
        &pki_arg,
        "--participant",
        "bank-a",
        "--operator",
        "hub-ops=hub-operator",
        "--operator",
        "inspector=auditor",
        "--days",
        "2",
    ])
    .await;
    assert_eq!(status, 0, "{out}{err}");
    for file in [
        "ca.pem",
        "ca.key",
        "switch.pem",
        "switch.key",
        "participants/bank-a.pem",
        "operators/hub-ops.pem",
        "operators/inspector.key",
        "operators.toml",
    ] {
        assert!(pki.join(file).exists(), "{file} not made: {out}");
    }
    assert!(out.contains("made"), "{out}");
    // Run again: everything is kept.
    let (status, again, _) =
        harambee_err(&["pki", "--dir", &pki_arg, "--participant", "bank-a"]).await;
    assert_eq!(status, 0);
    assert!(again.starts_with("kept "), "{again}");
    assert!(!again.contains(" made "), "{again}");

    let mut config = Config {
        data_dir: dir.path().join("data"),
        ..Config::default()
    };
    config.api.participant_listen = "127.0.0.1:0".into();
    config.api.operator_listen = "127.0.0.1:0".into();
    config.api.metrics_listen = String::new();
    config.fspiop.admin_listen = String::new();
    config.fspiop.listen = String::new();
    config.api.operator_token = String::new();
    config.api.operators_file = pki.join("operators.toml").to_string_lossy().into_owned();
    config.tls.cert_file = pki.join("switch.pem").to_string_lossy().into_owned();
    config.tls.key_file = pki.join("switch.key").to_string_lossy().into_owned();
    config.tls.ca_file = pki.join("ca.pem").to_string_lossy().into_owned();
    config.tls.operator_api = true;
    let running = harambee_switch::server::start(config.clone())
        .await
        .expect("start");
    let url = format!("https://localhost:{}", running.operator_addr.port());
    let ca = pki.join("ca.pem").to_string_lossy().into_owned();
    let as_operator = async |name: &str, args: &[&str]| {
        let cert = pki.join(format!("operators/{name}.pem"));
        let key = pki.join(format!("operators/{name}.key"));
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.extend(
            [
                "--url",
                &url,
                "--ca",
                &ca,
                "--cert",
                &cert.to_string_lossy(),
                "--key",
                &key.to_string_lossy(),
            ]
            .map(String::from),
        );
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        harambee_err(&refs).await
    };
    // The auditor by its certificate reads, and may not onboard.
    let (status, _, err) = as_operator("inspector", &["participant", "create", "bank-a"]).await;
    assert_ne!(status, 0);
    assert!(err.contains("error 3000"), "{err}");
    let (status, out, err) = as_operator("inspector", &["digest"]).await;
    assert_eq!(status, 0, "{out}{err}");
    // The hub operator onboards and registers the participant's
    // certificate.
    let (status, out, err) = as_operator("hub-ops", &["currency", "UGX"]).await;
    assert_eq!(status, 0, "{out}{err}");
    let (status, out, err) = as_operator("hub-ops", &["participant", "create", "bank-a"]).await;
    assert_eq!(status, 0, "{out}{err}");
    let bank_a = pki
        .join("participants/bank-a.pem")
        .to_string_lossy()
        .into_owned();
    let (status, out, err) = as_operator(
        "hub-ops",
        &["participant", "add-certificate", "bank-a", &bank_a],
    )
    .await;
    assert_eq!(status, 0, "{out}{err}");
    let (status, out, _) =
        as_operator("inspector", &["participant", "certificates", "bank-a"]).await;
    assert_eq!(status, 0);
    assert!(out.contains("bank-a"), "{out}");
    // Without a certificate of the scheme (a token nobody has), nothing.
    let (status, _, _) = harambee_err(&[
        "digest",
        "--url",
        &url,
        "--ca",
        &ca,
        "--token",
        "no-such-operator-token",
    ])
    .await;
    assert_ne!(status, 0);
    running.stop().await;

    let data = config.data_dir.to_string_lossy().into_owned();
    let (status, out, err) = harambee_err(&["audit", "operators", "--data-dir", &data]).await;
    assert_eq!(status, 0, "{err}");
    let lines: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(
        lines.len(),
        4,
        "currency, participant (and its credential), certificate: {out}"
    );
    assert!(
        lines
            .iter()
            .all(|l| l.contains("hub-ops") && l.contains("hub-operator")),
        "{out}"
    );
    for action in ["enable_currency", "create_participant", "add_certificate"] {
        assert!(out.contains(action), "{action} not in {out}");
    }
    assert!(
        !out.contains("inspector"),
        "the auditor changed nothing: {out}"
    );
    let (status, out, _) = harambee_err(&[
        "audit",
        "operators",
        "--data-dir",
        &data,
        "--operator",
        "inspector",
        "--json",
    ])
    .await;
    assert_eq!((status, out.as_str()), (0, ""));
    let (_, out, _) = harambee_err(&["audit", "operators", "--data-dir", &data, "--json"]).await;
    let first: serde_json::Value =
        serde_json::from_str(out.lines().next().expect("a line")).expect("JSON");
    assert_eq!(first["operator"], "hub-ops");
    assert_eq!(first["action"], "enable_currency");
    assert_eq!(first["details"]["currency"], "UGX");
}
