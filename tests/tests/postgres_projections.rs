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
    config.store.kind = StoreKind::Postgres;
    config.store.postgres_url = db.url.clone();
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
    // Each transfer is projected RESERVED, then ABORTED: wait for the last.
    let aborted = |rows: &[TransferResult]| {
        rows.len() == 3
            && rows
                .iter()
                .all(|t| t.state == TransferState::Aborted as i32)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !aborted(&listed(&mut s).await) {
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

    // Wipe the projection (its rows and its checkpoint); a restart
    // projects the log again from its start.
    for table in ["transfers", "checkpoints"] {
        sqlx::query(&format!("DELETE FROM {table}"))
            .execute(&mut conn)
            .await
            .expect("wipe");
    }
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
    config.store.kind = config_store;
    config.store.postgres_url = postgres_url;
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
    let store = s.running().projections.clone();

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

/// Every posting of a participant's accounts, through the Operator API,
/// page by page.
async fn all_postings(s: &mut TestSwitch, fsp_id: &str, reference: &str) -> Vec<PostingEntry> {
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let page =
            s.op.list_postings(op_req(ListPostingsRequest {
                fsp_id: fsp_id.into(),
                reference: reference.into(),
                page: Some(PageRequest {
                    page_size: 3,
                    page_token: token.clone(),
                }),
            }))
            .await
            .expect("list postings")
            .into_inner();
        out.extend(page.postings);
        token = page.page.map(|p| p.next_page_token).unwrap_or_default();
        if token.is_empty() {
            return out;
        }
    }
}

/// The four balances of each account, summed from its postings the way the
/// ledger applies them (minor units, two decimals here).
fn balances_from_postings(
    postings: &[PostingEntry],
) -> std::collections::BTreeMap<u32, [rust_decimal::Decimal; 4]> {
    use rust_decimal::Decimal;
    let mut b: std::collections::BTreeMap<u32, [Decimal; 4]> = Default::default();
    for p in postings {
        let amount: Decimal = p.amount.parse().expect("amount");
        // [debits_posted, credits_posted, debits_pending, credits_pending]
        let phase = PostingPhase::try_from(p.phase).expect("phase");
        let (d, c) = (p.debit_account, p.credit_account);
        match phase {
            PostingPhase::Posted => {
                b.entry(d).or_default()[0] += amount;
                b.entry(c).or_default()[1] += amount;
            }
            PostingPhase::Pending => {
                b.entry(d).or_default()[2] += amount;
                b.entry(c).or_default()[3] += amount;
            }
            PostingPhase::PostPending => {
                b.entry(d).or_default()[2] -= amount;
                b.entry(d).or_default()[0] += amount;
                b.entry(c).or_default()[3] -= amount;
                b.entry(c).or_default()[1] += amount;
            }
            PostingPhase::VoidPending => {
                b.entry(d).or_default()[2] -= amount;
                b.entry(c).or_default()[3] -= amount;
            }
            PostingPhase::Unspecified => panic!("posting without a phase: {p:?}"),
        }
    }
    b
}

/// Postings projected into `store`: one per money-moving event, in log
/// order, that sum to the ledger's own account balances; and rebuilt from
/// the log after the table is wiped.
async fn postings_follow_the_switch(config_store: StoreKind, postgres_url: String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = TestSwitch::config(dir.path());
    config.store.kind = config_store;
    config.store.postgres_url = postgres_url;
    let mut s = TestSwitch::start_with(dir, config).await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Reject(5104))
        .await;
    let mut c = s
        .onboard("bank-c", "500", "500", PayeeBehaviour::Honest)
        .await;
    // Committed a -> c twice, c -> a once; a -> b aborted by the payee.
    let mut committed = Vec::new();
    for (a_pays, amount) in [(true, "12.34"), (true, "2"), (false, "7.50")] {
        let (from, to) = if a_pays { (&mut a, &c) } else { (&mut c, &a) };
        let q = quote(from, to, amount).await;
        let done = from
            .api
            .prepare_transfer(prepare_request(&q, 30_000))
            .await
            .expect("prepare")
            .into_inner();
        assert_eq!(done.state, TransferState::Committed as i32);
        committed.push(done.transfer_id);
    }
    let q = quote(&mut a, &b, "3").await;
    let aborted = a
        .api
        .prepare_transfer(prepare_request(&q, 30_000))
        .await
        .expect("prepare")
        .into_inner();
    assert_eq!(aborted.state, TransferState::Aborted as i32);

    // The aborted transfer was the last: once its postings are there, all
    // are (batches are projected in log order). Reserved, then voided.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let of_aborted = loop {
        let p = all_postings(&mut s, "", &aborted.transfer_id).await;
        if p.len() == 2 {
            break p;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "postings not projected: {p:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let phases: Vec<i32> = of_aborted.iter().map(|p| p.phase).collect();
    assert_eq!(
        phases,
        [
            PostingPhase::Pending as i32,
            PostingPhase::VoidPending as i32
        ]
    );
    // One committed transfer: reserved (pending), then posted.
    let of_one = all_postings(&mut s, "", &committed[0]).await;
    assert_eq!(of_one.len(), 2, "{of_one:?}");
    assert_eq!(of_one[0].event, "TransferReserved");
    assert_eq!(of_one[0].phase, PostingPhase::Pending as i32);
    assert_eq!(of_one[1].event, "TransferCommitted");
    assert_eq!(of_one[1].phase, PostingPhase::PostPending as i32);
    for p in &of_one {
        assert_eq!(
            (p.debit_owner.as_str(), p.credit_owner.as_str()),
            ("bank-a", "bank-c")
        );
        assert_eq!(p.debit_type, AccountType::Position as i32);
        assert_eq!(p.credit_type, AccountType::Position as i32);
        assert_eq!((p.currency.as_str(), p.amount.as_str()), ("KES", "12.34"));
        assert!(p.time.is_some());
    }
    assert!(of_one[0].log_offset < of_one[1].log_offset);
    // Every account of every participant: its postings sum to the balances
    // the ledger reports.
    let mut everything = Vec::new();
    for fsp in ["bank-a", "bank-b", "bank-c"] {
        let postings = all_postings(&mut s, fsp, "").await;
        // In log order, no duplicates.
        assert!(
            postings
                .windows(2)
                .all(|w| (w[0].log_offset, w[0].index) < (w[1].log_offset, w[1].index)),
            "{fsp}: postings out of order"
        );
        let sums = balances_from_postings(&postings);
        let accounts =
            s.op.get_accounts(op_req(GetAccountsRequest { fsp_id: fsp.into() }))
                .await
                .expect("accounts")
                .into_inner()
                .accounts;
        assert_eq!(accounts.len(), 2, "{fsp}: POSITION and SETTLEMENT");
        for account in accounts {
            let want: [rust_decimal::Decimal; 4] = [
                &account.debits_posted,
                &account.credits_posted,
                &account.debits_pending,
                &account.credits_pending,
            ]
            .map(|v| v.parse().expect("decimal"));
            assert_eq!(
                sums.get(&account.account_id).copied().unwrap_or_default(),
                want,
                "{fsp} account {} ({:?})",
                account.account_id,
                AccountType::try_from(account.r#type)
            );
        }
        everything.extend(postings);
    }
    everything.sort_by_key(|p| (p.log_offset, p.index));
    everything.dedup_by_key(|p| (p.log_offset, p.index));
    // 3 funds in, 3 committed x 2, 1 aborted x 2.
    assert_eq!(everything.len(), 3 + 6 + 2);

    // Wiped, then rebuilt from the log with the switch stopped: the same
    // postings come back.
    let config = s.config.clone();
    if let Some(r) = s.running.take() {
        r.stop().await;
    }
    let (store, _) = harambee_switch::server::open_stores(&config)
        .await
        .expect("stores");
    let before = store
        .postings(&harambee_read::projection::PostingQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .expect("postings");
    assert_eq!(before.len(), everything.len());
    wipe_postings(&config).await;
    assert!(
        store
            .postings(&harambee_read::projection::PostingQuery {
                limit: 1000,
                ..Default::default()
            })
            .await
            .expect("postings")
            .is_empty()
    );
    let log = harambee_switch::server::open_log(&config)
        .await
        .expect("log");
    let rebuilt = harambee_read::projection::rebuild_from_log(log.as_ref(), store.as_ref(), |_| {})
        .await
        .expect("rebuild");
    assert_eq!(rebuilt.postings, before.len());
    assert_eq!(rebuilt.transfers, 4);
    let after = store
        .postings(&harambee_read::projection::PostingQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .expect("postings");
    assert_eq!(after, before);
}

/// Deletes every posting from the configured store.
async fn wipe_postings(config: &harambee_switch::config::Config) {
    match config.store.kind {
        StoreKind::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&config.store.postgres_url)
                .await
                .expect("connect");
            sqlx::query("DELETE FROM postings")
                .execute(&mut conn)
                .await
                .expect("wipe");
        }
        StoreKind::Sqlite => {
            let url = format!(
                "sqlite://{}",
                config.data_dir.join("projections.db").display()
            );
            let mut conn = sqlx::SqliteConnection::connect(&url)
                .await
                .expect("connect");
            sqlx::query("DELETE FROM postings")
                .execute(&mut conn)
                .await
                .expect("wipe");
        }
    }
}

#[tokio::test]
async fn postings_are_projected_into_postgres_and_rebuilt_from_the_log() {
    let db = TestDatabase::create().await;
    postings_follow_the_switch(StoreKind::Postgres, db.url.clone()).await;
    db.drop_database().await;
}

#[tokio::test]
async fn postings_are_projected_into_sqlite_and_rebuilt_from_the_log() {
    postings_follow_the_switch(StoreKind::Sqlite, String::new()).await;
}

/// Snapshots in PostgreSQL: the newest of a log comes back, another log's
/// are not mixed in, and only the newest few are kept.
#[tokio::test]
async fn snapshots_are_kept_in_postgres_per_log() {
    use harambee_core::state::State;
    use harambee_engine::snapshots::{PgSnapshots, SNAPSHOTS_KEPT, SnapshotStore};
    let db = TestDatabase::create().await;
    // Connecting migrates the database.
    let pg = harambee_read::projection::PgProjections::connect(&db.url)
        .await
        .expect("connect");
    let one = PgSnapshots::new(pg.pool(), "kafka:one");
    let two = PgSnapshots::new(pg.pool(), "kafka:two");
    assert!(one.latest().await.expect("latest").is_none());
    let mut state = State::default();
    for offset in [10u64, 20, 30, 40] {
        state.next_offset = offset;
        one.save(&state.snapshot()).await.expect("save");
        // The same offset again (another node of a cluster): kept once.
        one.save(&state.snapshot()).await.expect("save again");
    }
    state.next_offset = 5;
    two.save(&state.snapshot()).await.expect("save");
    assert_eq!(
        one.latest().await.expect("latest").map(|s| s.next_offset),
        Some(40)
    );
    assert_eq!(
        two.latest().await.expect("latest").map(|s| s.next_offset),
        Some(5)
    );
    let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    let kept: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM snapshots WHERE log_name = 'kafka:one'")
            .fetch_one(&mut conn)
            .await
            .expect("count");
    assert_eq!(kept, SNAPSHOTS_KEPT);
    drop(conn);
    db.drop_database().await;
}

/// A switch on PostgreSQL saves its snapshots there, under its log's name,
/// and restarts from them to the same state.
#[tokio::test]
async fn a_switch_on_postgres_saves_snapshots_there_and_restarts_from_them() {
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = TestSwitch::config(dir.path());
    config.store.kind = StoreKind::Postgres;
    config.store.postgres_url = db.url.clone();
    config.ledger.snapshot_interval_records = 5;
    let mut s = TestSwitch::start_with(dir, config).await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    for amount in ["5", "6", "7"] {
        let q = quote(&mut a, &b, amount).await;
        a.api
            .prepare_transfer(prepare_request(&q, 30_000))
            .await
            .expect("prepare");
    }
    let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let (log_name, offset): (String, i64) = loop {
        if let Some(row) = sqlx::query_as(
            "SELECT log_name, next_offset FROM snapshots ORDER BY next_offset DESC LIMIT 1",
        )
        .fetch_optional(&mut conn)
        .await
        .expect("snapshots")
        {
            break row;
        }
        assert!(std::time::Instant::now() < deadline, "no snapshot saved");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(log_name.starts_with("sqlite:") && log_name.ends_with("log.db"));
    assert!(offset >= 5);
    // No snapshot file next to the log: they are in PostgreSQL only.
    assert!(!s.config.data_dir.join("snapshots.db").exists());
    let digest = |s: &mut TestSwitch| {
        let mut op = s.op.clone();
        async move {
            op.get_ledger_digest(op_req(GetLedgerDigestRequest {}))
                .await
                .expect("digest")
                .into_inner()
        }
    };
    let before = digest(&mut s).await;
    s.restart().await;
    let after = digest(&mut s).await;
    assert_eq!(
        (after.log_offset, after.digest),
        (before.log_offset, before.digest)
    );
    drop(conn);
    if let Some(r) = s.running.take() {
        r.stop().await;
    }
    db.drop_database().await;
}

/// Notices as a store keeps them for resuming streams: written once,
/// read from a sequence on, and the old ones deleted by time, per
/// participant.
async fn notices_are_stored_and_pruned(store: &dyn harambee_read::projection::ProjectionStore) {
    use harambee_read::projection::{NoticeRow, ProjectionWrite};
    let row = |participant: &str, sequence: i64, time_ms: i64| NoticeRow {
        participant: participant.into(),
        sequence,
        log_offset: sequence * 10,
        time_ms,
        kind: "WHOLE".into(),
        transfer_id: String::new(),
        notification: vec![sequence as u8],
    };
    let mut write = ProjectionWrite::default();
    write.notices = (1..=5)
        .map(|n| row("bank-a", n, n * 1_000))
        .chain((1..=3).map(|n| row("bank-b", n, n * 1_000)))
        .collect();
    store.write(&write).await.expect("write");
    // Written again: nothing changes.
    store.write(&write).await.expect("write again");
    let from_3: Vec<i64> = store
        .notices("bank-a", 3, 100)
        .await
        .expect("read")
        .iter()
        .map(|r| r.sequence)
        .collect();
    assert_eq!(from_3, [3, 4, 5]);
    assert_eq!(
        store.prune_notices("bank-a", 3_500).await.expect("prune"),
        3
    );
    let kept: Vec<i64> = store
        .notices("bank-a", 1, 100)
        .await
        .expect("read")
        .iter()
        .map(|r| r.sequence)
        .collect();
    assert_eq!(kept, [4, 5], "the oldest are gone");
    assert_eq!(
        store.prune_notices("bank-b", 10_000).await.expect("prune"),
        3
    );
    assert!(
        store
            .notices("bank-b", 1, 100)
            .await
            .expect("read")
            .is_empty()
    );
    assert_eq!(
        store.notices("bank-a", 1, 100).await.expect("read").len(),
        2
    );
}

#[tokio::test]
async fn notices_are_stored_and_pruned_in_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = harambee_read::projection::SqliteProjections::open(&dir.path().join("p.db"))
        .await
        .expect("store");
    notices_are_stored_and_pruned(&store).await;
}

#[tokio::test]
async fn notices_are_stored_and_pruned_in_postgres() {
    let db = TestDatabase::create().await;
    let store = harambee_read::projection::PgProjections::connect(&db.url)
        .await
        .expect("store");
    notices_are_stored_and_pruned(&store).await;
    drop(store);
    db.drop_database().await;
}
