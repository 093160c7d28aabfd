//! Projections on PostgreSQL. NEEDS PostgreSQL on 127.0.0.1:5432 with
//! trust authentication for user `postgres` (or `HARAMBEE_TEST_POSTGRES`);
//! each test creates its own database and drops it.

use std::time::Duration;

use harambee_proto::v1::*;
use harambee_switch::config::StoreKind;
use harambee_tests::*;
use sqlx::Connection;

#[tokio::test]
async fn transfers_are_projected_into_postgres_and_rebuilt_after_a_restart() {
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = TestSwitch::config(dir.path());
    config.store = StoreKind::Postgres;
    config.postgres_url = db.url.clone();
    let mut s = TestSwitch::start_with(dir, config).await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Reject(5104))
        .await;
    let mut ids = Vec::new();
    for amount in ["10.50", "20", "30.25"] {
        let q = quote(&mut a, &b, amount).await;
        ids.push(
            a.api
                .prepare_transfer(prepare_request(&q, 30_000))
                .await
                .expect("prepare")
                .into_inner()
                .transfer_id,
        );
    }
    let listed = |s: &mut TestSwitch| {
        let mut op = s.op.clone();
        async move {
            op.list_transfers(op_req(ListTransfersRequest {
                fsp_id: "bank-a".into(),
                ..Default::default()
            }))
            .await
            .expect("list")
            .into_inner()
            .transfers
        }
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while listed(&mut s).await.len() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "projection did not reach PostgreSQL"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rows = listed(&mut s).await;
    assert!(
        rows.iter()
            .all(|t| t.error.as_ref().map(|e| e.error_code.as_str()) == Some("5104"))
    );
    let mut amounts: Vec<String> = rows
        .iter()
        .filter_map(|t| t.amount.as_ref().map(|m| m.amount.clone()))
        .collect();
    amounts.sort();
    assert_eq!(amounts, ["10.50", "20.00", "30.25"]);

    // The rows are real PostgreSQL rows, amounts NUMERIC.
    let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    let total: String = sqlx::query_scalar("SELECT SUM(amount)::text FROM transfers")
        .fetch_one(&mut conn)
        .await
        .expect("sum");
    assert_eq!(total, "60.75");

    // Wipe the projection; a restart rebuilds it from the log.
    sqlx::query("DELETE FROM transfers")
        .execute(&mut conn)
        .await
        .expect("wipe");
    s.restart().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while listed(&mut s).await.len() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "projection not rebuilt"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut again: Vec<String> = listed(&mut s)
        .await
        .into_iter()
        .map(|t| t.transfer_id)
        .collect();
    again.sort();
    ids.sort();
    assert_eq!(again, ids);
    drop(conn);
    if let Some(r) = s.running.take() {
        r.stop().await;
    }
    db.drop_database().await;
}

/// Positions, parties of the built-in oracle and quotes, projected by the
/// writer into `store`, match what the switch answers.
async fn state_tables_follow_the_switch(config_store: StoreKind, postgres_url: String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = TestSwitch::config(dir.path());
    config.store = config_store;
    config.postgres_url = postgres_url;
    let mut s = TestSwitch::start_with(dir, config).await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let q = quote(&mut a, &b, "12.34").await;
    let done = a
        .api
        .prepare_transfer(prepare_request(&q, 30_000))
        .await
        .expect("prepare")
        .into_inner();
    assert_eq!(done.state, TransferState::Committed as i32);
    let store = s.running().ctx.projections.clone();

    // Positions: what bank-a owes and bank-b is owed.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let rows = store.positions().await.expect("positions");
        let of = |name: &str| {
            rows.iter()
                .find(|r| r.fsp_id == name)
                .map(|r| (r.position.clone(), r.reserved.clone(), r.liquidity.clone()))
        };
        if let (Some((pa, ra, la)), Some((pb, _, _))) = (of("bank-a"), of("bank-b"))
            && pa == "12.34"
            && pb == "-12.34"
        {
            assert_eq!(ra, "0.00");
            assert_eq!(la, "1000.00");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "positions not projected: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The payee's customer is in the parties table, owned by bank-b.
    let party = b.customer(0);
    let kind = PartyIdType::try_from(party.r#type)
        .expect("party type")
        .as_str_name()
        .trim_start_matches("PARTY_ID_TYPE_")
        .to_string();
    assert_eq!(
        store
            .party_owner(&kind, &party.id, &party.sub_id)
            .await
            .expect("party"),
        Some("bank-b".to_string())
    );
    // A deregistered party keeps its row with no owner.
    a.api
        .deregister_party(DeregisterPartyRequest {
            party: Some(a.customer(1)),
        })
        .await
        .expect("deregister");
    let gone = a.customer(1);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while store
        .party_owner(&kind, &gone.id, &gone.sub_id)
        .await
        .expect("party")
        .is_some()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "deregistration not projected"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The quote, with its parties.
    let row = store
        .quote(&q.quote_id)
        .await
        .expect("quote")
        .expect("projected");
    assert_eq!(
        (row.payer.as_str(), row.payee.as_str()),
        ("bank-a", "bank-b")
    );
    if let Some(r) = s.running.take() {
        r.stop().await;
    }
}

#[tokio::test]
async fn positions_parties_and_quotes_are_projected_into_postgres() {
    let db = TestDatabase::create().await;
    state_tables_follow_the_switch(StoreKind::Postgres, db.url.clone()).await;
    db.drop_database().await;
}

#[tokio::test]
async fn positions_parties_and_quotes_are_projected_into_sqlite() {
    state_tables_follow_the_switch(StoreKind::Sqlite, String::new()).await;
}
