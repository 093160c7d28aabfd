//! The tamper-evident log: every record carries the hash of the one before;
//! editing one stored record is found, at that record, by an offline audit,
//! and a switch refuses to start on such a log.

use std::io::BufReader;

use harambee_log::audit;
use harambee_log::sqlite::AuditError;
use harambee_proto::v1::*;
use harambee_tests::*;

async fn switch_with_traffic() -> TestSwitch {
    let mut s = TestSwitch::start().await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    for amount in ["10", "20", "30"] {
        let q = quote(&mut a, &b, amount).await;
        a.api
            .prepare_transfer(prepare_request(&q, 30_000))
            .await
            .expect("prepare");
    }
    s
}

#[tokio::test]
async fn an_edited_record_is_found_where_it_was_edited() {
    let mut s = switch_with_traffic().await;
    let logged = s.digest().await.log_offset;
    if let Some(r) = s.running.take() {
        r.stop().await;
    }
    let data = s.config.data_dir.clone();
    let verified = audit::verify_data_dir(&data).await.expect("intact");
    assert_eq!(verified.records, logged);

    // The export verifies the same way, and an edit in it is found.
    let mut export = Vec::new();
    audit::export(&data, &mut export).await.expect("export");
    let from_export = audit::verify_export(BufReader::new(export.as_slice()))
        .expect("read")
        .expect("intact export");
    assert_eq!(from_export, verified);
    let text = String::from_utf8(export).expect("utf-8");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let victim = lines.len() / 2;
    let mut record: harambee_log::chain::ChainedRecord =
        serde_json::from_str(&lines[victim]).expect("json line");
    record.record.push(' ');
    lines[victim] = serde_json::to_string(&record).expect("json");
    let edited = audit::verify_export(BufReader::new(lines.join("\n").as_bytes())).expect("read");
    assert_eq!(edited.map_err(|b| b.offset()), Err(victim as u64));

    // Edit one stored record in the database itself: say a funds-in of 1000
    // had been 9000.
    let url = format!("sqlite://{}", data.join("log.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.expect("open log");
    let row: (i64, String) = sqlx::query_as("SELECT log_offset, record FROM event_log WHERE record LIKE '%funds_in%' ORDER BY log_offset LIMIT 1")
        .fetch_one(&pool)
        .await
        .expect("a funds-in record");
    let forged = row.1.replacen("\"1000\"", "\"9000\"", 1);
    assert_ne!(forged, row.1, "the forgery changes the record");
    sqlx::query("UPDATE event_log SET record = ? WHERE log_offset = ?")
        .bind(&forged)
        .bind(row.0)
        .execute(&pool)
        .await
        .expect("forge");
    pool.close().await;
    match audit::verify_data_dir(&data).await {
        Err(AuditError::Break(b)) => assert_eq!(b.offset(), row.0 as u64),
        other => panic!("the forgery went unnoticed: {other:?}"),
    }
    // And the switch will not run on it.
    assert!(
        harambee_switch::server::start(s.config.clone())
            .await
            .is_err()
    );
}

/// The running switch's own check (the Operator API's `VerifyLogChain`,
/// the console's audit page): the records appended since the start are
/// verified as the chain grows, an edit among them is found at its
/// record, and the operator actions found on the way are listed.
#[tokio::test]
async fn a_running_switch_verifies_what_it_appended_and_finds_an_edit() {
    let mut s = switch_with_traffic().await;
    let chain =
        s.op.verify_log_chain(op_req(VerifyLogChainRequest {}))
            .await
            .expect("verify")
            .into_inner();
    assert!(
        chain.available && chain.intact && chain.complete,
        "{chain:?}"
    );
    let logged = s.digest().await.log_offset;
    assert_eq!(chain.records, logged);
    let actions =
        s.op.list_operator_actions(op_req(ListOperatorActionsRequest {
            operator: "operator".into(),
            limit: 1000,
        }))
        .await
        .expect("actions")
        .into_inner();
    assert!(
        actions
            .actions
            .iter()
            .any(|a| a.action == "create_participant" && a.role == "hub-operator"),
        "{actions:?}"
    );
    assert!(
        actions
            .actions
            .windows(2)
            .all(|w| w[0].log_offset > w[1].log_offset),
        "the most recent first"
    );

    // A funds in, then its record edited in the database under the
    // running switch: the next verification stops there.
    s.op.funds_in(op_req(FundsRequest {
        funds_id: uuid::Uuid::new_v4().to_string(),
        fsp_id: "bank-a".into(),
        amount: Some(Money {
            amount: "1000".into(),
            currency: CURRENCY.into(),
        }),
        reason: "deposit".into(),
    }))
    .await
    .expect("funds in");
    let url = format!("sqlite://{}", s.config.data_dir.join("log.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.expect("open log");
    let row: (i64, String) = sqlx::query_as(
        "SELECT log_offset, record FROM event_log WHERE log_offset >= ? AND record LIKE '%funds_in%' ORDER BY log_offset LIMIT 1",
    )
    .bind(logged as i64)
    .fetch_one(&pool)
    .await
    .expect("the funds-in record");
    let forged = row.1.replacen("\"1000\"", "\"9000\"", 1);
    assert_ne!(forged, row.1);
    sqlx::query("UPDATE event_log SET record = ? WHERE log_offset = ?")
        .bind(&forged)
        .bind(row.0)
        .execute(&pool)
        .await
        .expect("forge");
    pool.close().await;
    let chain =
        s.op.verify_log_chain(op_req(VerifyLogChainRequest {}))
            .await
            .expect("verify")
            .into_inner();
    assert!(!chain.intact, "{chain:?}");
    assert_eq!(chain.break_offset, row.0 as u64);
    assert!(chain.break_description.contains("changed"), "{chain:?}");
}
