//! The Notifications stream: numbered per participant from the log, so a
//! participant that reconnects with `from_sequence` misses nothing, across
//! a disconnect and across a restart of the switch, and the numbers go on
//! where they were. The settlement and liquidity notices the proto promises
//! are there.

use std::time::Duration;

use harambee_proto::v1::notification::Kind;
use harambee_proto::v1::*;
use harambee_tests::*;

type Stream = tonic::Streaming<Notification>;

async fn subscribe(member: &mut Member, from_sequence: u64) -> Stream {
    member
        .api
        .notifications(NotificationsRequest { from_sequence })
        .await
        .expect("notifications")
        .into_inner()
}

/// The next `n` notifications of a stream.
async fn take(stream: &mut Stream, n: usize) -> Vec<Notification> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let next = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .unwrap_or_else(|_| {
                panic!("notification {} of {n} in time; got {out:?}", out.len() + 1)
            })
            .expect("stream")
            .expect("a notification");
        out.push(next);
    }
    out
}

/// Reads notifications until one matches `want`, at most 10 s.
async fn until(stream: &mut Stream, what: &str, want: impl Fn(&Kind) -> bool) -> Notification {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let next = tokio::time::timeout_at(deadline, stream.message())
            .await
            .unwrap_or_else(|_| panic!("{what}: no such notification"))
            .expect("stream")
            .expect("a notification");
        if next.kind.as_ref().is_some_and(&want) {
            return next;
        }
    }
}

fn committed_id(n: &Notification) -> String {
    match &n.kind {
        Some(Kind::TransferCommitted(t)) => t.transfer_id.clone(),
        other => panic!("expected a commit notification, got {other:?}"),
    }
}

async fn pay(a: &mut Member, b: &Member, amount: &str) -> String {
    let q = quote(a, b, amount).await;
    let t = a
        .api
        .prepare_transfer(prepare_request(&q, 30_000))
        .await
        .expect("prepare")
        .into_inner();
    assert_eq!(t.state, TransferState::Committed as i32);
    t.transfer_id
}

#[tokio::test]
async fn notifications_resume_from_a_sequence_across_a_disconnect_and_a_restart() {
    let mut s = TestSwitch::start().await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let mut b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;

    // Connected: three commits, numbered one after the other.
    let mut live = subscribe(&mut b, 0).await;
    let mut paid = Vec::new();
    for amount in ["10", "20", "30"] {
        paid.push(pay(&mut a, &b, amount).await);
    }
    let first = take(&mut live, 3).await;
    assert_eq!(first.iter().map(committed_id).collect::<Vec<_>>(), paid);
    let last_seen = first[2].sequence;
    assert_eq!(
        first.iter().map(|n| n.sequence).collect::<Vec<_>>(),
        [last_seen - 2, last_seen - 1, last_seen],
        "numbered 1 by 1"
    );

    // Disconnected: what happens meanwhile is delivered on reconnection.
    drop(live);
    for amount in ["40", "50", "60"] {
        paid.push(pay(&mut a, &b, amount).await);
    }
    let mut resumed = subscribe(&mut b, last_seen + 1).await;
    let missed = take(&mut resumed, 3).await;
    assert_eq!(
        missed.iter().map(committed_id).collect::<Vec<_>>(),
        paid[3..]
    );
    assert_eq!(
        missed.iter().map(|n| n.sequence).collect::<Vec<_>>(),
        [last_seen + 1, last_seen + 2, last_seen + 3]
    );
    drop(resumed);
    let before: Vec<Notification> = {
        let mut all = subscribe(&mut b, 1).await;
        take(&mut all, (last_seen + 3) as usize).await
    };
    assert_eq!(
        before.iter().map(|n| n.sequence).collect::<Vec<_>>(),
        (1..=last_seen + 3).collect::<Vec<_>>(),
        "from 1, every notification, once, in order"
    );

    // Restarted: the same notifications under the same numbers, and new ones
    // go on from there.
    s.restart().await;
    s.reconnect(&mut a);
    s.reconnect(&mut b);
    let mut again = subscribe(&mut b, 1).await;
    let after = take(&mut again, before.len()).await;
    assert_eq!(
        after, before,
        "the same numbers and content after a restart"
    );
    let next = pay(&mut a, &b, "70").await;
    let n = take(&mut again, 1).await.remove(0);
    assert_eq!((committed_id(&n), n.sequence), (next, last_seen + 4));
}

#[tokio::test]
async fn settlement_and_liquidity_notices_reach_the_participants() {
    let mut s = TestSwitch::start().await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let mut b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let mut to_a = subscribe(&mut a, 0).await;
    let mut to_b = subscribe(&mut b, 0).await;

    // Funds in.
    s.op.funds_in(op_req(FundsRequest {
        funds_id: uuid::Uuid::new_v4().to_string(),
        fsp_id: "bank-a".into(),
        amount: Some(Money {
            amount: "200".into(),
            currency: CURRENCY.into(),
        }),
        reason: "deposit".into(),
    }))
    .await
    .expect("funds in");
    let funds = until(&mut to_a, "funds in", |k| matches!(k, Kind::Funds(_))).await;
    let Some(Kind::Funds(f)) = funds.kind else {
        unreachable!()
    };
    assert_eq!(f.action, "FUNDS_IN");
    assert_eq!(f.amount.map(|m| m.amount), Some("200.00".into()));

    // A new net debit cap.
    s.op.set_net_debit_cap(op_req(SetNetDebitCapRequest {
        fsp_id: "bank-a".into(),
        currency: CURRENCY.into(),
        net_debit_cap: "500".into(),
    }))
    .await
    .expect("cap");
    let cap = until(&mut to_a, "net debit cap", |k| {
        matches!(k, Kind::NetDebitCapChanged(_))
    })
    .await;
    let Some(Kind::NetDebitCapChanged(c)) = cap.kind else {
        unreachable!()
    };
    assert_eq!(c.net_debit_cap, "500.00");

    // A payment that takes bank-a past 80% of its limit (500).
    pay(&mut a, &b, "450").await;
    let alert = until(&mut to_a, "position alert", |k| {
        matches!(k, Kind::PositionAlert(_))
    })
    .await;
    let Some(Kind::PositionAlert(p)) = alert.kind else {
        unreachable!()
    };
    assert_eq!(
        (p.net_debit_cap.as_str(), p.currency.as_str()),
        ("500.00", CURRENCY)
    );

    // The window closes; a settlement is created and advanced.
    let window =
        s.op.close_settlement_window(op_req(CloseSettlementWindowRequest {
            currency: CURRENCY.into(),
            reason: "end of day".into(),
        }))
        .await
        .expect("close")
        .into_inner();
    for stream in [&mut to_a, &mut to_b] {
        let closed = until(stream, "window closed", |k| {
            matches!(k, Kind::WindowClosed(_))
        })
        .await;
        let Some(Kind::WindowClosed(w)) = closed.kind else {
            unreachable!()
        };
        assert_eq!(w.window_id, window.window_id);
    }
    let settlement =
        s.op.create_settlement(op_req(CreateSettlementRequest {
            currency: CURRENCY.into(),
            model: SettlementModel::DeferredMultilateralNet as i32,
            window_ids: vec![window.window_id],
            reason: "daily".into(),
        }))
        .await
        .expect("settlement")
        .into_inner();
    let created = until(&mut to_a, "settlement created", |k| {
        matches!(k, Kind::SettlementChanged(_))
    })
    .await;
    let Some(Kind::SettlementChanged(n)) = created.kind else {
        unreachable!()
    };
    assert_eq!(
        (n.settlement_id, n.state.as_str(), n.net_amount.as_str()),
        (settlement.settlement_id, "PENDING_SETTLEMENT", "450.00")
    );
    s.op.advance_settlement_participant(op_req(AdvanceSettlementParticipantRequest {
        settlement_id: settlement.settlement_id,
        fsp_id: "bank-b".into(),
        target: SettlementState::PsTransfersRecorded as i32,
        reason: "recorded".into(),
        external_reference: String::new(),
    }))
    .await
    .expect("advance");
    let _pending = until(
        &mut to_b,
        "settlement created",
        |k| matches!(k, Kind::SettlementChanged(n) if n.state == "PENDING_SETTLEMENT"),
    )
    .await;
    let recorded = until(&mut to_b, "settlement step", |k| {
        matches!(k, Kind::SettlementChanged(_))
    })
    .await;
    let Some(Kind::SettlementChanged(n)) = recorded.kind else {
        unreachable!()
    };
    assert_eq!(
        (n.state.as_str(), n.net_amount.as_str()),
        ("PS_TRANSFERS_RECORDED", "-450.00")
    );
}
