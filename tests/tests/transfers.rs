//! Transfers through a real switch and real simulated payees over gRPC:
//! every outcome, duplicates, identity.

use std::time::Duration;

use harambee_proto::v1::*;
use harambee_tests::*;

fn state(t: &TransferResult) -> TransferState {
    TransferState::try_from(t.state).unwrap_or(TransferState::Unspecified)
}

fn error_code(t: &TransferResult) -> Option<u16> {
    t.error
        .as_ref()
        .and_then(|e| harambee_proto::fspiop::parse_code(&e.error_code))
}

#[tokio::test]
async fn a_fulfilled_transfer_commits_and_the_payee_is_told() {
    let mut s = TestSwitch::start().await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let q = quote(&mut a, &b, "100").await;
    assert_eq!(
        q.transfer_amount.as_ref().map(|m| m.amount.as_str()),
        Some("100")
    );
    assert_eq!(
        q.payee_receive_amount.as_ref().map(|m| m.amount.as_str()),
        Some("99"),
        "the payee's fee of 1"
    );
    let t = a
        .api
        .prepare_transfer(prepare_request(&q, 30_000))
        .await
        .expect("prepare")
        .into_inner();
    assert_eq!(state(&t), TransferState::Committed);
    assert_eq!(t.fulfilment.len(), 43);
    assert_eq!(
        (t.payer_fsp.as_str(), t.payee_fsp.as_str()),
        ("bank-a", "bank-b")
    );
    assert_eq!(s.position("bank-a").await.position, "100.00");
    assert_eq!(s.position("bank-b").await.position, "-100.00");
    let dfsp = b.dfsp.clone();
    eventually("the payee's commit notification", Duration::from_secs(5), || {
        dfsp.notifications().iter().any(|n| matches!(&n.kind, Some(notification::Kind::TransferCommitted(c)) if c.transfer_id == t.transfer_id))
    })
    .await;
    let d = s.digest().await;
    assert!(d.balanced);
}

#[tokio::test]
async fn a_rejection_aborts_with_the_payees_code() {
    let mut s = TestSwitch::start().await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Reject(5104))
        .await;
    let q = quote(&mut a, &b, "100").await;
    let t = a
        .api
        .prepare_transfer(prepare_request(&q, 30_000))
        .await
        .expect("prepare")
        .into_inner();
    assert_eq!(
        (state(&t), error_code(&t)),
        (TransferState::Aborted, Some(5104))
    );
    let p = s.position("bank-a").await;
    assert_eq!(
        (p.position.as_str(), p.reserved.as_str()),
        ("0.00", "0.00"),
        "nothing moved, nothing left reserved"
    );
}

#[tokio::test]
async fn a_wrong_fulfilment_aborts_with_3100() {
    let mut s = TestSwitch::start().await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::WrongFulfilment)
        .await;
    let q = quote(&mut a, &b, "100").await;
    let t = a
        .api
        .prepare_transfer(prepare_request(&q, 30_000))
        .await
        .expect("prepare")
        .into_inner();
    assert_eq!(
        (state(&t), error_code(&t)),
        (TransferState::Aborted, Some(3100))
    );
    assert_eq!(s.position("bank-a").await.reserved, "0.00");
}

#[tokio::test]
async fn no_answer_before_expiry_aborts_with_3303_and_both_sides_are_told() {
    let mut s = TestSwitch::start().await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Silent)
        .await;
    let q = quote(&mut a, &b, "100").await;
    let mut feed = a
        .api
        .notifications(NotificationsRequest { from_sequence: 0 })
        .await
        .expect("feed")
        .into_inner();
    let t = a
        .api
        .prepare_transfer(prepare_request(&q, 1_000))
        .await
        .expect("prepare")
        .into_inner();
    assert_eq!(
        (state(&t), error_code(&t)),
        (TransferState::Aborted, Some(3303))
    );
    assert_eq!(s.position("bank-a").await.reserved, "0.00");
    // The payer's notification feed and the payee's callback both hear of it.
    let notice = tokio::time::timeout(Duration::from_secs(5), feed.message())
        .await
        .expect("in time")
        .expect("stream")
        .expect("a notice");
    assert!(
        matches!(notice.kind, Some(notification::Kind::TransferAborted(x)) if x.transfer_id == t.transfer_id)
    );
    let dfsp = b.dfsp.clone();
    eventually("the payee's abort notification", Duration::from_secs(5), || {
        dfsp.notifications().iter().any(|n| matches!(&n.kind, Some(notification::Kind::TransferAborted(x)) if x.transfer_id == t.transfer_id))
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_payee_aborts_with_1001() {
    let mut s = TestSwitch::start().await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let q = quote(&mut a, &b, "100").await;
    // The payee's endpoint now points at a port where nothing listens.
    let url = harambee_sim::scenario::closed_port_url().expect("a free port");
    s.op.set_endpoint(op_req(SetEndpointRequest {
        fsp_id: "bank-b".into(),
        url,
    }))
    .await
    .expect("endpoint");
    let t = a
        .api
        .prepare_transfer(prepare_request(&q, 30_000))
        .await
        .expect("prepare")
        .into_inner();
    assert_eq!(
        (state(&t), error_code(&t)),
        (TransferState::Aborted, Some(1001))
    );
}

#[tokio::test]
async fn limits_refuse_with_4001_and_4200_and_the_refusal_is_final() {
    let mut s = TestSwitch::start().await;
    let mut a = s
        .onboard("bank-a", "100", "1000", PayeeBehaviour::Honest)
        .await;
    let mut b = s
        .onboard("bank-b", "1000", "50", PayeeBehaviour::Honest)
        .await;
    let q = quote(&mut a, &b, "150").await;
    let request = prepare_request(&q, 30_000);
    let t = a
        .api
        .prepare_transfer(request.clone())
        .await
        .expect("prepare")
        .into_inner();
    assert_eq!(
        (state(&t), error_code(&t)),
        (TransferState::Aborted, Some(4001))
    );
    // Retried after liquidity arrives: the same answer, it was recorded.
    s.op.funds_in(op_req(FundsRequest {
        funds_id: uuid::Uuid::new_v4().to_string(),
        fsp_id: "bank-a".into(),
        amount: Some(Money {
            amount: "500".into(),
            currency: CURRENCY.into(),
        }),
        reason: String::new(),
    }))
    .await
    .expect("funds in");
    let again = a
        .api
        .prepare_transfer(request)
        .await
        .expect("prepare")
        .into_inner();
    assert_eq!(again, t);

    let q = quote(&mut b, &a, "60").await;
    let t = b
        .api
        .prepare_transfer(prepare_request(&q, 30_000))
        .await
        .expect("prepare")
        .into_inner();
    assert_eq!(
        (state(&t), error_code(&t)),
        (TransferState::Aborted, Some(4200))
    );
}

#[tokio::test]
async fn duplicates_return_the_recorded_outcome_and_never_move_money_twice() {
    let mut s = TestSwitch::start().await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let q = quote(&mut a, &b, "100").await;
    let request = prepare_request(&q, 30_000);
    let first = a
        .api
        .prepare_transfer(request.clone())
        .await
        .expect("prepare")
        .into_inner();
    for _ in 0..3 {
        let again = a
            .api
            .prepare_transfer(request.clone())
            .await
            .expect("retry")
            .into_inner();
        assert_eq!(again, first);
    }
    assert_eq!(s.position("bank-a").await.position, "100.00");
    let mut changed = request.clone();
    changed.amount = Some(Money {
        amount: "99".into(),
        currency: CURRENCY.into(),
    });
    let err = a
        .api
        .prepare_transfer(changed)
        .await
        .expect_err("changed content");
    assert_eq!(code(&err), 3106);
    assert_eq!(err.code(), tonic::Code::AlreadyExists);
    assert_eq!(s.position("bank-a").await.position, "100.00");
    // Concurrent retries of a new transfer: one transfer, one outcome.
    let q = quote(&mut a, &b, "10").await;
    let request = prepare_request(&q, 30_000);
    let mut calls = Vec::new();
    for _ in 0..5 {
        let mut api = a.api.clone();
        let r = request.clone();
        calls.push(tokio::spawn(async move {
            api.prepare_transfer(r).await.map(|x| x.into_inner())
        }));
    }
    let mut results = Vec::new();
    for c in calls {
        results.push(c.await.expect("task").expect("prepare"));
    }
    assert!(results.iter().all(|r| state(r) == TransferState::Committed));
    assert_eq!(s.position("bank-a").await.position, "110.00");
}

#[tokio::test]
async fn only_the_payer_and_payee_may_read_a_transfer() {
    let mut s = TestSwitch::start().await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let mut b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let mut c = s
        .onboard("bank-c", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let q = quote(&mut a, &b, "100").await;
    let t = a
        .api
        .prepare_transfer(prepare_request(&q, 30_000))
        .await
        .expect("prepare")
        .into_inner();
    let get = || GetTransferRequest {
        transfer_id: t.transfer_id.clone(),
    };
    assert_eq!(
        a.api.get_transfer(get()).await.expect("payer").into_inner(),
        t
    );
    assert_eq!(
        b.api.get_transfer(get()).await.expect("payee").into_inner(),
        t
    );
    let err = c.api.get_transfer(get()).await.expect_err("third party");
    assert_eq!(code(&err), 3000);
    let err = a
        .api
        .get_transfer(GetTransferRequest {
            transfer_id: uuid::Uuid::new_v4().to_string(),
        })
        .await
        .expect_err("unknown");
    assert_eq!(code(&err), 3208);
}

#[tokio::test]
async fn every_call_is_authenticated() {
    let s = TestSwitch::start().await;
    let mut anonymous = harambee_proto::v1::participant_api_client::ParticipantApiClient::connect(
        s.participant_url.clone(),
    )
    .await
    .expect("connect");
    let err = anonymous
        .get_transfer(GetTransferRequest {
            transfer_id: uuid::Uuid::new_v4().to_string(),
        })
        .await
        .expect_err("no credential");
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    let mut forged =
        harambee_sim::client::connect(&s.participant_url, "not-a-credential").expect("client");
    let err = forged
        .get_transfer(GetTransferRequest {
            transfer_id: uuid::Uuid::new_v4().to_string(),
        })
        .await
        .expect_err("bad credential");
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    let mut op = harambee_proto::v1::operator_api_client::OperatorApiClient::connect(format!(
        "http://{}",
        s.running().operator_addr
    ))
    .await
    .expect("connect");
    let mut r = tonic::Request::new(GetLedgerDigestRequest {});
    r.metadata_mut().insert(
        "authorization",
        "Bearer wrong-operator-token".parse().expect("ascii"),
    );
    assert_eq!(
        op.get_ledger_digest(r)
            .await
            .expect_err("bad operator token")
            .code(),
        tonic::Code::Unauthenticated
    );
}

#[tokio::test]
async fn the_payer_is_always_the_authenticated_participant() {
    let mut s = TestSwitch::start().await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    // bank-a quotes with bank-b named as payer: refused.
    let mut r = quote_request(&a, &b, "10");
    r.payer = Some(Party {
        fsp_id: "bank-b".into(),
        ..Default::default()
    });
    assert_eq!(
        code(&a.api.request_quote(r).await.expect_err("impersonation")),
        3000
    );
    // A prepare always debits the caller: bank-a pays, not bank-b.
    let q = quote(&mut a, &b, "10").await;
    a.api
        .prepare_transfer(prepare_request(&q, 30_000))
        .await
        .expect("prepare");
    assert_eq!(s.position("bank-a").await.position, "10.00");
    assert_eq!(s.position("bank-b").await.position, "-10.00");
}

#[tokio::test]
async fn inactive_participants_can_neither_send_nor_receive() {
    let mut s = TestSwitch::start().await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let mut b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let q = quote(&mut a, &b, "10").await;
    let back = quote(&mut b, &a, "10").await;
    s.op.set_participant_active(op_req(SetParticipantActiveRequest {
        fsp_id: "bank-b".into(),
        active: false,
    }))
    .await
    .expect("deactivate");
    let t = a
        .api
        .prepare_transfer(prepare_request(&q, 30_000))
        .await
        .expect("prepare")
        .into_inner();
    assert_eq!(
        (state(&t), error_code(&t)),
        (TransferState::Aborted, Some(3201))
    );
    let t = b
        .api
        .prepare_transfer(prepare_request(&back, 30_000))
        .await
        .expect("prepare")
        .into_inner();
    assert_eq!(
        (state(&t), error_code(&t)),
        (TransferState::Aborted, Some(3202))
    );
    assert_eq!(
        code(
            &a.api
                .request_quote(quote_request(&a, &b, "10"))
                .await
                .expect_err("inactive payee")
        ),
        3201
    );
}

/// Waits until the payee holds a transfer it answered `accepted`.
async fn deferred(payee: &harambee_sim::network::Member) -> CallbackTransferRequest {
    for _ in 0..500 {
        if let Some(r) = payee.dfsp.take_deferred().pop() {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the payee was never asked");
}

type Prepared = tokio::task::JoinHandle<Result<tonic::Response<TransferResult>, tonic::Status>>;

/// A switch, a payer, and a payee that answers later: the payer's prepare
/// of 100 (expiring in `expires_in_ms`) waits in the background, and the
/// payee holds the request it answered `accepted`.
async fn deferred_payment(
    expires_in_ms: i64,
) -> (
    TestSwitch,
    Member,
    Member,
    Prepared,
    CallbackTransferRequest,
) {
    let mut s = TestSwitch::start().await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Deferred)
        .await;
    let q = quote(&mut a, &b, "100").await;
    let mut payer = a.api.clone();
    let request = prepare_request(&q, expires_in_ms);
    let prepared = tokio::spawn(async move { payer.prepare_transfer(request).await });
    let asked = deferred(&b).await;
    (s, a, b, prepared, asked)
}

fn reject_request(r: &CallbackTransferRequest, code: &str) -> FulfilTransferRequest {
    FulfilTransferRequest {
        transfer_id: r.transfer_id.clone(),
        result: Some(fulfil_transfer_request::Result::Error(ErrorInformation {
            error_code: code.into(),
            error_description: "the payee's account is closed".into(),
            ..Default::default()
        })),
    }
}

fn fulfil_request(r: &CallbackTransferRequest, fulfilment: String) -> FulfilTransferRequest {
    FulfilTransferRequest {
        transfer_id: r.transfer_id.clone(),
        result: Some(fulfil_transfer_request::Result::Fulfilment(Fulfilment {
            fulfilment,
            completed: Some(timestamp(now_ms())),
            extensions: vec![],
        })),
    }
}

#[tokio::test]
async fn a_payee_that_answers_later_commits_with_its_own_fulfil_transfer() {
    let (mut s, mut a, mut b, prepared, asked) = deferred_payment(30_000).await;
    // Reserved, and waiting for the payee's own answer.
    let t = a
        .api
        .get_transfer(GetTransferRequest {
            transfer_id: asked.transfer_id.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(state(&t), TransferState::Reserved);
    assert_eq!(s.position("bank-a").await.reserved, "100.00");
    let fulfilment = b.dfsp.fulfilment_for(&asked).expect("the payee fulfils");
    // Only the payee may answer: the payer's try is refused and changes
    // nothing.
    let refused = a
        .api
        .fulfil_transfer(fulfil_request(&asked, fulfilment.clone()))
        .await
        .expect_err("the payer may not fulfil");
    assert_eq!(code(&refused), 3000);
    // A malformed fulfilment is refused and changes nothing.
    let malformed = b
        .api
        .fulfil_transfer(fulfil_request(&asked, "not base64url!".into()))
        .await
        .expect_err("malformed");
    assert_eq!(code(&malformed), 3100);
    assert_eq!(s.position("bank-a").await.reserved, "100.00");
    let done = b
        .api
        .fulfil_transfer(fulfil_request(&asked, fulfilment.clone()))
        .await
        .expect("the payee fulfils")
        .into_inner();
    assert_eq!(state(&done), TransferState::Committed);
    assert_eq!(done.fulfilment, fulfilment);
    // The payer, who waited for the final state, gets it.
    let t = prepared
        .await
        .expect("the payer's call")
        .expect("prepare")
        .into_inner();
    assert_eq!(state(&t), TransferState::Committed);
    assert_eq!(s.position("bank-a").await.position, "100.00");
    assert_eq!(s.position("bank-b").await.position, "-100.00");
    // The same answer again is answered with the outcome.
    let again = b
        .api
        .fulfil_transfer(fulfil_request(&asked, fulfilment.clone()))
        .await
        .expect("idempotent")
        .into_inner();
    assert_eq!(state(&again), TransferState::Committed);
    // A different answer to a final transfer is refused and changes nothing.
    let changed = b
        .api
        .fulfil_transfer(reject_request(&asked, "5105"))
        .await
        .expect_err("a commit stands");
    assert_eq!(code(&changed), 3106);
    assert_eq!(s.position("bank-a").await.position, "100.00");
    s.reconnect(&mut b);
    let unknown = b
        .api
        .fulfil_transfer(FulfilTransferRequest {
            transfer_id: uuid::Uuid::new_v4().to_string(),
            ..fulfil_request(&asked, fulfilment)
        })
        .await
        .expect_err("unknown");
    assert_eq!(code(&unknown), 3208);
    assert!(s.digest().await.balanced);
}

#[tokio::test]
async fn a_payee_that_answers_later_can_reject_and_the_payer_hears_its_code() {
    let (mut s, _, mut b, prepared, asked) = deferred_payment(30_000).await;
    let rejected = b
        .api
        .fulfil_transfer(reject_request(&asked, "5105"))
        .await
        .expect("the payee rejects")
        .into_inner();
    assert_eq!(
        (state(&rejected), error_code(&rejected)),
        (TransferState::Aborted, Some(5105))
    );
    let t = prepared
        .await
        .expect("the payer's call")
        .expect("prepare")
        .into_inner();
    assert_eq!(
        (state(&t), error_code(&t)),
        (TransferState::Aborted, Some(5105))
    );
    assert_eq!(s.position("bank-a").await.reserved, "0.00");
    assert_eq!(s.position("bank-a").await.position, "0.00");
}

#[tokio::test]
async fn after_a_restart_the_payee_of_a_reserved_unanswered_transfer_is_asked_again() {
    let (mut s, mut a, b, prepared, asked) = deferred_payment(60_000).await;
    let transfer_id = asked.transfer_id.clone();
    assert_eq!(s.position("bank-a").await.reserved, "100.00");
    // The switch stops before the payee answers; the payee now answers at
    // once, as it would to a callback it gets again.
    b.dfsp.set_behaviour(PayeeBehaviour::Honest);
    // A graceful stop does not wait for the transfer: the waiting payer is
    // answered 2003 (repeat the request) at once.
    s.restart().await;
    let answered = tokio::time::timeout(Duration::from_secs(10), prepared)
        .await
        .expect("the payer is answered when the switch stops")
        .expect("the payer's call");
    assert_eq!(code(&answered.expect_err("2003, not a final state")), 2003);
    s.reconnect(&mut a);
    let mut committed = None;
    for _ in 0..500 {
        let t = a
            .api
            .get_transfer(GetTransferRequest {
                transfer_id: transfer_id.clone(),
            })
            .await
            .expect("get")
            .into_inner();
        if state(&t) != TransferState::Reserved {
            committed = Some(t);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let t = committed.expect("the transfer is resolved after the restart");
    assert_eq!(state(&t), TransferState::Committed, "{t:?}");
    assert_eq!(s.position("bank-a").await.position, "100.00");
    assert_eq!(s.position("bank-a").await.reserved, "0.00");
    assert_eq!(s.position("bank-b").await.position, "-100.00");
    // The payee was asked again with the packet the payer sent: it could
    // fulfil from it.
    assert_eq!(
        b.dfsp
            .stats
            .transfers_fulfilled
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert!(s.digest().await.balanced);
}

/// One credential check serves every API, and a credential is good only
/// for its own: a participant's is refused by the Operator API, the
/// operator's by the participant API.
#[tokio::test]
async fn a_credential_is_good_only_for_its_own_api() {
    let mut s = TestSwitch::start().await;
    let a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let mut op = harambee_proto::v1::operator_api_client::OperatorApiClient::connect(format!(
        "http://{}",
        s.running().operator_addr
    ))
    .await
    .expect("connect");
    let mut r = tonic::Request::new(GetLedgerDigestRequest {});
    r.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", a.credential).parse().expect("ascii"),
    );
    let err = op
        .get_ledger_digest(r)
        .await
        .expect_err("a participant is not the operator");
    assert_eq!(code(&err), 3105);
    let mut as_operator =
        harambee_sim::client::connect(&s.participant_url, OPERATOR_TOKEN).expect("client");
    let err = as_operator
        .get_transfer(GetTransferRequest {
            transfer_id: uuid::Uuid::new_v4().to_string(),
        })
        .await
        .expect_err("the operator is not a participant");
    assert_eq!(code(&err), 3105);
    assert!(s.digest().await.balanced, "the operator's own call works");
}
