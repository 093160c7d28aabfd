//! Settlement windows through the Operator API: every committed transfer
//! lands in the open window of its currency; closing it is a command in
//! the log that opens the next; an empty window cannot be closed; windows
//! survive a restart (replayed from the log or restored from a snapshot).

use harambee_proto::v1::*;
use harambee_tests::*;

async fn windows(s: &mut TestSwitch, state: SettlementWindowState) -> Vec<SettlementWindow> {
    s.op.list_settlement_windows(op_req(ListSettlementWindowsRequest {
        currency: CURRENCY.into(),
        state: state as i32,
        page: None,
    }))
    .await
    .expect("list windows")
    .into_inner()
    .windows
}

async fn close(s: &mut TestSwitch, currency: &str) -> Result<SettlementWindow, tonic::Status> {
    s.op.close_settlement_window(op_req(CloseSettlementWindowRequest {
        currency: currency.into(),
        reason: "end of day".into(),
    }))
    .await
    .map(|r| r.into_inner())
}

async fn pay(a: &mut Member, b: &Member, amount: &str) -> TransferResult {
    let q = quote(a, b, amount).await;
    a.api
        .prepare_transfer(prepare_request(&q, 30_000))
        .await
        .expect("prepare")
        .into_inner()
}

#[tokio::test]
async fn committed_transfers_fill_the_open_window_and_closing_opens_the_next() {
    let mut s = TestSwitch::start().await;
    // Nothing committed yet: the currency's first window is open from the
    // moment the currency was enabled, empty, and closing it is refused.
    let first = windows(&mut s, SettlementWindowState::Open).await;
    assert_eq!(first.len(), 1, "an OPEN window before any payment");
    assert_eq!(first[0].transfer_count, 0);
    let e = close(&mut s, CURRENCY).await.expect_err("nothing to close");
    assert_eq!(code(&e), 3100);
    assert!(
        e.message()
            .contains(&format!("Window {} is empty", first[0].window_id)),
        "{}",
        e.message()
    );

    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let mut b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let rejecting = s
        .onboard("bank-r", "1000", "1000", PayeeBehaviour::Reject(5104))
        .await;
    for (amount, from_a) in [("10", true), ("20.50", true), ("5", false)] {
        let t = if from_a {
            pay(&mut a, &b, amount).await
        } else {
            pay(&mut b, &a, amount).await
        };
        assert_eq!(t.state, TransferState::Committed as i32);
    }
    // An aborted transfer is in no window.
    let t = pay(&mut a, &rejecting, "7").await;
    assert_eq!(t.state, TransferState::Aborted as i32);

    let open = windows(&mut s, SettlementWindowState::Open).await;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].window_id, first[0].window_id);
    assert_eq!(open[0].transfer_count, 3);
    assert_eq!(open[0].transfer_amount, "35.50");
    assert!(open[0].closed.is_none());

    let closed = close(&mut s, CURRENCY).await.expect("close");
    assert_eq!(closed.window_id, open[0].window_id);
    assert_eq!(closed.state, SettlementWindowState::Closed as i32);
    assert_eq!(
        (closed.transfer_count, closed.reason.as_str()),
        (3, "end of day")
    );
    assert!(closed.closed.is_some());

    // The next window is open and empty; closing it is refused (3100) and
    // changes nothing.
    let next = windows(&mut s, SettlementWindowState::Open).await;
    assert_eq!(next.len(), 1);
    assert_ne!(next[0].window_id, closed.window_id);
    assert_eq!(next[0].transfer_count, 0);
    let e = close(&mut s, CURRENCY).await.expect_err("empty");
    assert_eq!(code(&e), 3100);
    assert!(e.message().contains("is empty"), "{}", e.message());
    assert_eq!(windows(&mut s, SettlementWindowState::Open).await, next);

    // Transfers go on into the new window.
    assert_eq!(
        pay(&mut a, &b, "3").await.state,
        TransferState::Committed as i32
    );
    let got =
        s.op.get_settlement_window(op_req(GetSettlementWindowRequest {
            window_id: next[0].window_id,
        }))
        .await
        .expect("get")
        .into_inner();
    assert_eq!(got.transfer_count, 1);
    let old =
        s.op.get_settlement_window(op_req(GetSettlementWindowRequest {
            window_id: closed.window_id,
        }))
        .await
        .expect("get")
        .into_inner();
    assert_eq!(old, closed);

    // Bad requests.
    let e = close(&mut s, "XYZ1").await.expect_err("bad currency");
    assert_eq!(code(&e), 3100);
    let e =
        s.op.get_settlement_window(op_req(GetSettlementWindowRequest { window_id: 999 }))
            .await
            .expect_err("unknown");
    assert_eq!(code(&e), 3100);

    // A restart replays the log to the same windows.
    let all = windows(&mut s, SettlementWindowState::Unspecified).await;
    assert_eq!(all.len(), 2);
    s.restart().await;
    assert_eq!(
        windows(&mut s, SettlementWindowState::Unspecified).await,
        all
    );
}

#[tokio::test]
async fn windows_are_restored_from_a_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = TestSwitch::config(dir.path());
    config.ledger.snapshot_interval_records = 3;
    let mut s = TestSwitch::start_with(dir, config).await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    for amount in ["2", "3", "4"] {
        pay(&mut a, &b, amount).await;
    }
    close(&mut s, CURRENCY).await.expect("close");
    pay(&mut a, &b, "5").await;
    let all = windows(&mut s, SettlementWindowState::Unspecified).await;
    s.restart().await;
    assert_eq!(
        windows(&mut s, SettlementWindowState::Unspecified).await,
        all
    );
}

async fn create(
    s: &mut TestSwitch,
    model: SettlementModel,
    window_ids: Vec<u64>,
) -> Result<Settlement, tonic::Status> {
    s.op.create_settlement(op_req(CreateSettlementRequest {
        currency: CURRENCY.into(),
        model: model as i32,
        window_ids,
        reason: "daily".into(),
    }))
    .await
    .map(|r| r.into_inner())
}

async fn report(s: &mut TestSwitch, id: u64, kind: ReportKind, format: ReportFormat) -> Report {
    s.op.get_settlement_report(op_req(GetSettlementReportRequest {
        settlement_id: id,
        kind: kind as i32,
        format: format as i32,
    }))
    .await
    .expect("report")
    .into_inner()
}

#[tokio::test]
async fn a_settlement_of_a_closed_window_nets_four_participants_and_reports_them() {
    let mut s = TestSwitch::start().await;
    let mut m = Vec::new();
    for name in ["bank-a", "bank-b", "wallet-c", "wallet-d"] {
        m.push(
            s.onboard(name, "10000", "10000", PayeeBehaviour::Honest)
                .await,
        );
    }
    // Both directions between several pairs.
    let flows = [
        (0, 1, "100"),
        (1, 0, "30"),
        (0, 2, "45.50"),
        (2, 3, "70"),
        (3, 0, "12"),
        (1, 3, "8"),
    ];
    for (from, to, amount) in flows {
        let payee = m[to].clone();
        let t = pay(&mut m[from], &payee, amount).await;
        assert_eq!(t.state, TransferState::Committed as i32);
    }
    let open = windows(&mut s, SettlementWindowState::Open).await[0].clone();

    // An open window cannot be settled; nor an unknown one; nor on gross.
    for (model, ids) in [
        (
            SettlementModel::DeferredMultilateralNet,
            vec![open.window_id],
        ),
        (SettlementModel::DeferredMultilateralNet, vec![999]),
        (SettlementModel::ImmediateGross, vec![open.window_id]),
        (SettlementModel::DeferredMultilateralNet, vec![]),
    ] {
        let e = create(&mut s, model, ids).await.expect_err("refused");
        assert_eq!(code(&e), 3100, "{}", e.message());
    }
    close(&mut s, CURRENCY).await.expect("close");
    let created = create(
        &mut s,
        SettlementModel::DeferredMultilateralNet,
        vec![open.window_id],
    )
    .await
    .expect("settle");
    assert_eq!(created.state, SettlementState::PendingSettlement as i32);
    assert_eq!(created.window_ids, [open.window_id]);
    assert_eq!(created.reason, "daily");
    // Each participant's net is what its position moved by in the window.
    let mut total = rust_decimal::Decimal::ZERO;
    for p in &created.participants {
        let net: rust_decimal::Decimal = p.net_amount.parse().expect("decimal");
        let position: rust_decimal::Decimal = s
            .position(&p.fsp_id)
            .await
            .position
            .parse()
            .expect("decimal");
        assert_eq!(net, position, "{}", p.fsp_id);
        assert_eq!(p.state, SettlementState::PendingSettlement as i32);
        total += net;
    }
    assert_eq!(total, rust_decimal::Decimal::ZERO);
    assert_eq!(created.participants.len(), 4);
    // The window is now pending settlement; settling it again is refused.
    let w =
        s.op.get_settlement_window(op_req(GetSettlementWindowRequest {
            window_id: open.window_id,
        }))
        .await
        .expect("window")
        .into_inner();
    assert_eq!(w.state, SettlementWindowState::PendingSettlement as i32);
    let e = create(
        &mut s,
        SettlementModel::DeferredBilateralNet,
        vec![open.window_id],
    )
    .await
    .expect_err("twice");
    assert_eq!(code(&e), 3100);
    // Listed and read back the same.
    let listed =
        s.op.list_settlements(op_req(ListSettlementsRequest::default()))
            .await
            .expect("list")
            .into_inner()
            .settlements;
    assert_eq!(listed, std::slice::from_ref(&created));

    // Reports. Net positions as CSV: one line per participant.
    let net = report(
        &mut s,
        created.settlement_id,
        ReportKind::NetPositions,
        ReportFormat::Csv,
    )
    .await;
    assert_eq!(net.content_type, "text/csv");
    assert!(net.file_name.ends_with("net-positions.csv"));
    let text = String::from_utf8(net.content).expect("utf-8");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("fsp_id,currency,net_amount,state"));
    assert_eq!(lines.count(), 4);
    assert!(text.contains("bank-a,KES,"), "{text}");
    // Bilateral matrix as JSON: a owes b 70 (100 - 30).
    let matrix = report(
        &mut s,
        created.settlement_id,
        ReportKind::BilateralMatrix,
        ReportFormat::Json,
    )
    .await;
    assert_eq!(matrix.content_type, "application/json");
    let json: serde_json::Value = serde_json::from_slice(&matrix.content).expect("json");
    let rows = json["rows"].as_array().expect("rows");
    assert!(
        rows.iter().any(|r| r["payer_fsp"] == "bank-a"
            && r["payee_fsp"] == "bank-b"
            && r["amount"] == "70.00"),
        "{json}"
    );
    assert_eq!(rows.len(), 5, "five pairs traded: {json}");
    // Transfers: every transfer of the window.
    let transfers = report(
        &mut s,
        created.settlement_id,
        ReportKind::Transfers,
        ReportFormat::Csv,
    )
    .await;
    let text = String::from_utf8(transfers.content).expect("utf-8");
    assert_eq!(text.lines().count(), 1 + flows.len());
    // Unknown settlement.
    let e =
        s.op.get_settlement(op_req(GetSettlementRequest { settlement_id: 77 }))
            .await
            .expect_err("unknown");
    assert_eq!(code(&e), 3100);
    // Settlements survive a restart.
    s.restart().await;
    let again =
        s.op.get_settlement(op_req(GetSettlementRequest {
            settlement_id: created.settlement_id,
        }))
        .await
        .expect("get")
        .into_inner();
    assert_eq!(again, created);
}

async fn advance(
    s: &mut TestSwitch,
    id: u64,
    fsp: &str,
    target: SettlementState,
) -> Result<Settlement, tonic::Status> {
    s.op.advance_settlement_participant(op_req(AdvanceSettlementParticipantRequest {
        settlement_id: id,
        fsp_id: fsp.into(),
        target: target as i32,
        reason: String::new(),
        external_reference: format!("rtgs-{id}-{fsp}"),
    }))
    .await
    .map(|r| r.into_inner())
}

/// POSITION and SETTLEMENT balances (debits - credits, posted) and pending
/// debits of a participant's accounts, or of the hub's.
async fn balances(
    s: &mut TestSwitch,
    fsp: &str,
) -> Vec<(i32, rust_decimal::Decimal, rust_decimal::Decimal)> {
    let accounts =
        s.op.get_accounts(op_req(GetAccountsRequest { fsp_id: fsp.into() }))
            .await
            .expect("accounts")
            .into_inner()
            .accounts;
    let d = |v: &str| v.parse::<rust_decimal::Decimal>().expect("decimal");
    let mut out: Vec<_> = accounts
        .iter()
        .filter(|a| a.currency == CURRENCY)
        .map(|a| {
            (
                a.r#type,
                d(&a.debits_posted) - d(&a.credits_posted),
                d(&a.debits_pending),
            )
        })
        .collect();
    out.sort();
    out
}

/// Four participants paying each other, one closed window, settled on
/// `model` through every state; POSITION ends where it was before the
/// window, SETTLEMENT moved by the net, the hub's account back to zero.
async fn full_cycle(model: SettlementModel) {
    let mut s = TestSwitch::start().await;
    let names = ["bank-a", "bank-b", "wallet-c", "wallet-d"];
    let mut m = Vec::new();
    for name in names {
        m.push(
            s.onboard(name, "10000", "10000", PayeeBehaviour::Honest)
                .await,
        );
    }
    let flows = [
        (0, 1, "100"),
        (1, 0, "30"),
        (0, 2, "45.50"),
        (2, 3, "70"),
        (3, 0, "12"),
        (1, 3, "8"),
    ];
    for (from, to, amount) in flows {
        let payee = m[to].clone();
        assert_eq!(
            pay(&mut m[from], &payee, amount).await.state,
            TransferState::Committed as i32
        );
    }
    let mut before = Vec::new();
    for name in names {
        before.push(balances(&mut s, name).await);
    }
    let window = windows(&mut s, SettlementWindowState::Open).await[0].window_id;
    close(&mut s, CURRENCY).await.expect("close");
    let created = create(&mut s, model, vec![window]).await.expect("settle");
    let id = created.settlement_id;
    let nets: Vec<(String, rust_decimal::Decimal)> = created
        .participants
        .iter()
        .map(|p| (p.fsp_id.clone(), p.net_amount.parse().expect("decimal")))
        .collect();

    // Skipping a state is refused; so is an account not in the settlement.
    let e = advance(&mut s, id, "bank-a", SettlementState::PsTransfersReserved)
        .await
        .expect_err("skip");
    assert_eq!(code(&e), 3100);
    let steps = [
        SettlementState::PsTransfersRecorded,
        SettlementState::PsTransfersReserved,
        SettlementState::PsTransfersCommitted,
        SettlementState::Settled,
    ];
    for (i, step) in steps.into_iter().enumerate() {
        for (j, name) in names.iter().enumerate() {
            let after = advance(&mut s, id, name, step).await.expect("advance");
            let expect = if j + 1 == names.len() {
                step
            } else {
                steps
                    .get(i.wrapping_sub(1))
                    .copied()
                    .unwrap_or(SettlementState::PendingSettlement)
            };
            assert_eq!(after.state, expect as i32, "{name} at {step:?}");
        }
        if step == SettlementState::PsTransfersReserved {
            // A payer's liquidity is reserved: its SETTLEMENT account has the
            // net pending.
            for (name, net) in &nets {
                if *net > rust_decimal::Decimal::ZERO {
                    let b = balances(&mut s, name).await;
                    assert!(
                        b.iter().any(|(_, _, pending)| pending == net),
                        "{name}: {b:?}"
                    );
                }
            }
        }
    }
    let done =
        s.op.get_settlement(op_req(GetSettlementRequest { settlement_id: id }))
            .await
            .expect("get")
            .into_inner();
    assert_eq!(done.state, SettlementState::Settled as i32);
    for p in &done.participants {
        assert_eq!(p.external_reference, format!("rtgs-{id}-{}", p.fsp_id));
    }
    let w =
        s.op.get_settlement_window(op_req(GetSettlementWindowRequest { window_id: window }))
            .await
            .expect("window")
            .into_inner();
    assert_eq!(w.state, SettlementWindowState::Settled as i32);
    for (k, (name, net)) in nets.iter().enumerate() {
        let after = balances(&mut s, name).await;
        let was = &before[names.iter().position(|n| n == name).expect("name")];
        for ((kind, balance, pending), (_, was_balance, _)) in after.iter().zip(was) {
            assert_eq!(
                *pending,
                rust_decimal::Decimal::ZERO,
                "{name}: nothing pending"
            );
            if *kind == AccountType::Position as i32 {
                // Back to zero: the window moved it by the net.
                assert_eq!(
                    *balance,
                    rust_decimal::Decimal::ZERO,
                    "{name} position ({k})"
                );
                assert_eq!(*was_balance, *net, "{name}: the window moved it by the net");
            } else {
                // SETTLEMENT: a payer's liquidity down by its net.
                assert_eq!(*balance - *was_balance, *net, "{name} settlement");
            }
        }
    }
    let hub = balances(&mut s, "hub").await;
    let mls = hub
        .iter()
        .find(|(kind, _, _)| *kind == AccountType::HubMultilateralSettlement as i32)
        .expect("hub multilateral account");
    assert_eq!(
        (mls.1, mls.2),
        (rust_decimal::Decimal::ZERO, rust_decimal::Decimal::ZERO)
    );
    let digest = s.digest().await;
    assert!(digest.balanced);
    // Settled: no more steps, no abort.
    let e = advance(&mut s, id, "bank-a", SettlementState::Settled)
        .await
        .expect_err("done");
    assert_eq!(code(&e), 3100);
    let e =
        s.op.abort_settlement(op_req(AbortSettlementRequest {
            settlement_id: id,
            reason: String::new(),
        }))
        .await
        .expect_err("settled");
    assert_eq!(code(&e), 3100);
    // The settlement's postings are in the projection, and replay gives
    // the same state.
    s.restart().await;
    assert_eq!(s.digest().await.digest, digest.digest);
}

#[tokio::test]
async fn a_multilateral_net_settlement_goes_through_every_state_to_settled() {
    full_cycle(SettlementModel::DeferredMultilateralNet).await;
}

#[tokio::test]
async fn a_bilateral_net_settlement_goes_through_every_state_to_settled() {
    full_cycle(SettlementModel::DeferredBilateralNet).await;
}

#[tokio::test]
async fn an_aborted_settlement_releases_reservations_and_can_be_redone() {
    let mut s = TestSwitch::start().await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    pay(&mut a, &b, "40").await;
    let window = windows(&mut s, SettlementWindowState::Open).await[0].window_id;
    close(&mut s, CURRENCY).await.expect("close");
    let id = create(
        &mut s,
        SettlementModel::DeferredMultilateralNet,
        vec![window],
    )
    .await
    .expect("settle")
    .settlement_id;
    for name in ["bank-a", "bank-b"] {
        advance(&mut s, id, name, SettlementState::PsTransfersRecorded)
            .await
            .expect("recorded");
        advance(&mut s, id, name, SettlementState::PsTransfersReserved)
            .await
            .expect("reserved");
    }
    let reserved = balances(&mut s, "bank-a").await;
    assert!(
        reserved
            .iter()
            .any(|(_, _, p)| *p == "40".parse::<rust_decimal::Decimal>().expect("d"))
    );
    let aborted =
        s.op.abort_settlement(op_req(AbortSettlementRequest {
            settlement_id: id,
            reason: "bank holiday".into(),
        }))
        .await
        .expect("abort")
        .into_inner();
    assert_eq!(aborted.state, SettlementState::Aborted as i32);
    for name in ["bank-a", "bank-b"] {
        assert!(
            balances(&mut s, name)
                .await
                .iter()
                .all(|(_, _, p)| p.is_zero()),
            "{name}"
        );
    }
    // The window can be settled again; once an account is committed the
    // settlement can no longer be aborted.
    let again = create(
        &mut s,
        SettlementModel::DeferredMultilateralNet,
        vec![window],
    )
    .await
    .expect("again")
    .settlement_id;
    for step in [
        SettlementState::PsTransfersRecorded,
        SettlementState::PsTransfersReserved,
        SettlementState::PsTransfersCommitted,
    ] {
        advance(&mut s, again, "bank-a", step)
            .await
            .expect("advance");
    }
    let e =
        s.op.abort_settlement(op_req(AbortSettlementRequest {
            settlement_id: again,
            reason: String::new(),
        }))
        .await
        .expect_err("committed");
    assert_eq!(code(&e), 3100);
}

#[tokio::test]
async fn immediate_gross_settles_each_transfer_at_commit_and_stays_out_of_the_nets() {
    let mut s = TestSwitch::start().await;
    let mut a = s
        .onboard("bank-a", "10000", "10000", PayeeBehaviour::Honest)
        .await;
    let b = s
        .onboard("bank-b", "10000", "10000", PayeeBehaviour::Honest)
        .await;
    let mut g = s
        .onboard("wallet-g", "30", "10000", PayeeBehaviour::Honest)
        .await;
    let set = |fsp: &str, model: SettlementModel| SetSettlementModelRequest {
        fsp_id: fsp.into(),
        currency: CURRENCY.into(),
        model: model as i32,
    };
    s.op.set_settlement_model(op_req(set("wallet-g", SettlementModel::ImmediateGross)))
        .await
        .expect("gross");
    let e =
        s.op.set_settlement_model(op_req(set("wallet-g", SettlementModel::Unspecified)))
            .await
            .expect_err("model required");
    assert_eq!(code(&e), 3100);

    // Gross: a pays g 50; a's liquidity falls and g's rises at once, no
    // position moves.
    assert_eq!(
        pay(&mut a, &g, "50").await.state,
        TransferState::Committed as i32
    );
    let (pa, pg) = (s.position("bank-a").await, s.position("wallet-g").await);
    assert_eq!(
        (pa.position.as_str(), pa.liquidity.as_str()),
        ("0.00", "9950.00")
    );
    assert_eq!(
        (pg.position.as_str(), pg.liquidity.as_str()),
        ("0.00", "80.00")
    );
    // Net: a pays b 20; positions move as usual.
    assert_eq!(
        pay(&mut a, &b, "20").await.state,
        TransferState::Committed as i32
    );
    assert_eq!(s.position("bank-a").await.position, "20.00");
    // Liquidity is checked at prepare for gross: g holds 80, cannot pay 90
    // (its cap of 10000 does not matter).
    let refused = pay(&mut g, &a, "90").await;
    assert_eq!(refused.state, TransferState::Aborted as i32);
    assert_eq!(
        refused.error.as_ref().map(|e| e.error_code.as_str()),
        Some("4001")
    );

    // The window holds both transfers; the settlement nets only the net one.
    let window = windows(&mut s, SettlementWindowState::Open).await[0].clone();
    assert_eq!(window.transfer_count, 2);
    close(&mut s, CURRENCY).await.expect("close");
    let created = create(
        &mut s,
        SettlementModel::DeferredMultilateralNet,
        vec![window.window_id],
    )
    .await
    .expect("settle");
    let nets: Vec<(&str, &str)> = created
        .participants
        .iter()
        .map(|p| (p.fsp_id.as_str(), p.net_amount.as_str()))
        .collect();
    assert_eq!(nets, [("bank-a", "20.00"), ("bank-b", "-20.00")]);
    assert!(s.digest().await.balanced);
    // Replay gives the same state, gross transfers included.
    let digest = s.digest().await.digest;
    s.restart().await;
    assert_eq!(s.digest().await.digest, digest);
}
