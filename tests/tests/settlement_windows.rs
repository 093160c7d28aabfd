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
    // Nothing committed yet: no window to close.
    let e = close(&mut s, CURRENCY).await.expect_err("nothing to close");
    assert_eq!(code(&e), 3100);
    assert!(e.message().contains("window is empty"), "{}", e.message());

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
    config.snapshot_interval_records = 3;
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
