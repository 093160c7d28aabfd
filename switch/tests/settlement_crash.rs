//! A settlement taken through every state with the switch killed (SIGKILL)
//! right after each step, then the projections rebuilt from the log into an
//! empty store. Whichever path wrote them (the live projector across the
//! crashes, or `harambee projections rebuild`), the postings, transfers,
//! positions and notices are the same, and the postings add up to every
//! account's balances.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use common::*;
use harambee_proto::v1::*;
use rust_decimal::Decimal;
use sqlx::{Connection, Row, SqliteConnection};

/// Every posting the Operator API lists, in log order.
async fn all_postings(switch: &mut Switch) -> Vec<PostingEntry> {
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let page = switch
            .op
            .list_postings(req(ListPostingsRequest {
                page: Some(PageRequest {
                    page_size: 1_000,
                    page_token: token.clone(),
                }),
                ..Default::default()
            }))
            .await
            .expect("postings")
            .into_inner();
        out.extend(page.postings);
        token = page.page.map(|p| p.next_page_token).unwrap_or_default();
        if token.is_empty() {
            return out;
        }
    }
}

/// Rows of a table of a projections file, as text, sorted.
async fn table(path: &Path, sql: &str) -> Vec<Vec<String>> {
    let url = format!("sqlite://{}?mode=ro", path.display());
    let mut conn = SqliteConnection::connect(&url)
        .await
        .expect("open projections");
    let rows = sqlx::query(sql).fetch_all(&mut conn).await.expect("query");
    let mut out: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            (0..r.len())
                .map(|i| {
                    r.try_get::<String, _>(i)
                        .or_else(|_| r.try_get::<i64, _>(i).map(|v| v.to_string()))
                        .or_else(|_| r.try_get::<Vec<u8>, _>(i).map(|v| format!("{v:?}")))
                        .expect("a text, integer or blob column")
                })
                .collect()
        })
        .collect();
    out.sort();
    out
}

/// Balances of one account as its postings give them: (debits posted,
/// credits posted, debits pending, credits pending).
type Balances = (Decimal, Decimal, Decimal, Decimal);

fn balances_from_postings(postings: &[PostingEntry]) -> BTreeMap<u32, Balances> {
    let mut out: BTreeMap<u32, Balances> = BTreeMap::new();
    let zero = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    for p in postings {
        let amount = Decimal::from_str(&p.amount).expect("decimal");
        let phase = PostingPhase::try_from(p.phase).expect("phase");
        let debit = out.entry(p.debit_account).or_insert(zero);
        match phase {
            PostingPhase::Posted => debit.0 += amount,
            PostingPhase::Pending => debit.2 += amount,
            PostingPhase::PostPending => {
                debit.0 += amount;
                debit.2 -= amount;
            }
            PostingPhase::VoidPending => debit.2 -= amount,
            PostingPhase::Unspecified => panic!("a posting without a phase"),
        }
        let credit = out.entry(p.credit_account).or_insert(zero);
        match phase {
            PostingPhase::Posted => credit.1 += amount,
            PostingPhase::Pending => credit.3 += amount,
            PostingPhase::PostPending => {
                credit.1 += amount;
                credit.3 -= amount;
            }
            PostingPhase::VoidPending => credit.3 -= amount,
            PostingPhase::Unspecified => {}
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_after_each_settlement_step_loses_no_posting_and_a_rebuild_gives_the_same_projections()
 {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut switch = start(&data, &[]).await;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let names = ["bank-a", "bank-b", "bank-c"];
    let members = onboard_banks(&mut switch, stop_rx, &names).await;

    // Payments around the ring, different amounts: every bank has a net.
    for i in 0..30 {
        let (payer, credential, _) = &members[i % 3];
        let mut api =
            harambee_sim::client::connect(&switch.participant_url, credential).expect("client");
        let amount = format!("{}.{:02}", 10 + (i % 3) * 7, i);
        pay(&mut api, payer, msisdn((i + 1) % 3), &amount).await;
    }
    let window = switch
        .op
        .close_settlement_window(req(CloseSettlementWindowRequest {
            currency: CURRENCY.into(),
            reason: "end of day".into(),
        }))
        .await
        .expect("close")
        .into_inner();
    let settlement = switch
        .op
        .create_settlement(req(CreateSettlementRequest {
            currency: CURRENCY.into(),
            model: SettlementModel::DeferredMultilateralNet as i32,
            window_ids: vec![window.window_id],
            reason: "daily".into(),
        }))
        .await
        .expect("settlement")
        .into_inner();

    // Each step for every bank, then SIGKILL at once.
    for target in [
        SettlementState::PsTransfersRecorded,
        SettlementState::PsTransfersReserved,
        SettlementState::PsTransfersCommitted,
        SettlementState::Settled,
    ] {
        for name in names {
            switch
                .op
                .advance_settlement_participant(req(AdvanceSettlementParticipantRequest {
                    settlement_id: settlement.settlement_id,
                    fsp_id: name.into(),
                    target: target as i32,
                    reason: "settlement bank confirmed".into(),
                    external_reference: format!("{name}-{}", target as i32),
                }))
                .await
                .expect("advance");
        }
        switch.child.start_kill().expect("SIGKILL");
        let _ = switch.child.wait().await;
        switch = start(&data, &[]).await;
    }
    let done = switch
        .op
        .get_settlement(req(GetSettlementRequest {
            settlement_id: settlement.settlement_id,
        }))
        .await
        .expect("settlement")
        .into_inner();
    assert_eq!(done.state, SettlementState::Settled as i32);

    // The live projection, after the crashes: every account's postings add
    // up to its balances.
    let mut accounts = Vec::new();
    for owner in names.iter().copied().chain(["hub"]) {
        accounts.extend(
            switch
                .op
                .get_accounts(req(GetAccountsRequest {
                    fsp_id: owner.into(),
                }))
                .await
                .expect("accounts")
                .into_inner()
                .accounts,
        );
    }
    let settlement_postings =
        |p: &[PostingEntry]| p.iter().filter(|p| p.event == "SettlementPosted").count();
    let want: BTreeMap<u32, Balances> = accounts
        .iter()
        .map(|a| {
            let d = |t: &str| Decimal::from_str(t).expect("decimal");
            (
                a.account_id,
                (
                    d(&a.debits_posted),
                    d(&a.credits_posted),
                    d(&a.debits_pending),
                    d(&a.credits_pending),
                ),
            )
        })
        .collect();
    // The projector catches up from its checkpoint after each crash.
    let deadline = Instant::now() + Duration::from_secs(30);
    let live = loop {
        let live = all_postings(&mut switch).await;
        let got = balances_from_postings(&live);
        let matches = want
            .iter()
            .all(|(id, w)| got.get(id).copied().unwrap_or_default() == *w);
        if matches {
            break live;
        }
        assert!(
            Instant::now() < deadline,
            "the postings add up to every account's balances: {want:?} != {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        settlement_postings(&live) >= names.len() * 3,
        "the settlement's postings are projected: {}",
        settlement_postings(&live)
    );
    switch.stop_gracefully().await;

    // A rebuild into an empty store gives the same rows.
    let rebuilt = dir.path().join("rebuilt");
    std::fs::create_dir_all(&rebuilt).expect("dir");
    for file in ["log.db", "log.db-wal"] {
        if data.join(file).exists() {
            std::fs::copy(data.join(file), rebuilt.join(file)).expect("copy the log");
        }
    }
    let output = std::process::Command::new(binary())
        .args(["projections", "rebuild", "--data-dir"])
        .arg(&rebuilt)
        .env("HARAMBEE_OPERATOR_TOKEN", TOKEN)
        .output()
        .expect("rebuild runs");
    assert!(
        output.status.success(),
        "rebuild: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let live_db = data.join("projections.db");
    let rebuilt_db = rebuilt.join("projections.db");
    for (what, sql) in [
        ("postings", "SELECT * FROM postings"),
        (
            "transfers",
            "SELECT transfer_id, payer, payee, currency, amount, state, reason, condition, fulfilment, expires_at_ms, prepared_at_ms, resolved_at_ms FROM transfers",
        ),
        (
            "positions",
            "SELECT fsp_id, currency, position, reserved, liquidity, net_debit_cap FROM positions",
        ),
        (
            "notices",
            "SELECT participant, sequence, log_offset, time_ms, notification FROM notices",
        ),
    ] {
        let live_rows = table(&live_db, sql).await;
        let rebuilt_rows = table(&rebuilt_db, sql).await;
        assert!(!live_rows.is_empty(), "{what}: some rows");
        assert_eq!(live_rows.len(), rebuilt_rows.len(), "{what}: as many rows");
        assert_eq!(live_rows, rebuilt_rows, "{what}: the same rows");
    }
    let _ = stop_tx.send(true);
}
