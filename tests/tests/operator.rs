//! The Operator API: onboarding, credentials, funds in and out, limits,
//! accounts, and transfer queries from the SQL projection.

use std::time::Duration;

use harambee_proto::v1::*;
use harambee_tests::*;

fn funds(fsp: &str, amount: &str) -> FundsRequest {
    FundsRequest {
        funds_id: uuid::Uuid::new_v4().to_string(),
        fsp_id: fsp.into(),
        amount: Some(Money {
            amount: amount.into(),
            currency: CURRENCY.into(),
        }),
        reason: "test".into(),
    }
}

#[tokio::test]
async fn funds_in_and_out_with_reserve_commit_abort() {
    let mut s = TestSwitch::start().await;
    let _a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let request = funds("bank-a", "250");
    let first =
        s.op.funds_in(op_req(request.clone()))
            .await
            .expect("funds in")
            .into_inner();
    assert_eq!(first.state, FundsState::Committed as i32);
    assert_eq!(
        s.op.funds_in(op_req(request.clone()))
            .await
            .expect("retry")
            .into_inner(),
        first,
        "idempotent"
    );
    assert_eq!(
        s.position("bank-a").await.liquidity,
        "1250.00",
        "moved once"
    );
    let mut changed = request;
    changed.amount = Some(Money {
        amount: "251".into(),
        currency: CURRENCY.into(),
    });
    assert_eq!(
        code(&s.op.funds_in(op_req(changed)).await.expect_err("changed")),
        3106
    );

    let out = funds("bank-a", "200");
    let reserved =
        s.op.funds_out_reserve(op_req(out.clone()))
            .await
            .expect("reserve")
            .into_inner();
    assert_eq!(reserved.state, FundsState::Reserved as i32);
    assert_eq!(s.position("bank-a").await.liquidity, "1050.00");
    let action = FundsActionRequest {
        funds_id: out.funds_id.clone(),
        reason: String::new(),
    };
    let committed =
        s.op.funds_out_commit(op_req(action.clone()))
            .await
            .expect("commit")
            .into_inner();
    assert_eq!(committed.state, FundsState::Committed as i32);
    assert_eq!(
        code(
            &s.op
                .funds_out_abort(op_req(action))
                .await
                .expect_err("already committed")
        ),
        3106
    );

    let out = funds("bank-a", "50");
    s.op.funds_out_reserve(op_req(out.clone()))
        .await
        .expect("reserve");
    let aborted =
        s.op.funds_out_abort(op_req(FundsActionRequest {
            funds_id: out.funds_id,
            reason: String::new(),
        }))
        .await
        .expect("abort")
        .into_inner();
    assert_eq!(aborted.state, FundsState::Aborted as i32);
    assert_eq!(s.position("bank-a").await.liquidity, "1050.00");
    assert_eq!(
        code(
            &s.op
                .funds_out_reserve(op_req(funds("bank-a", "5000")))
                .await
                .expect_err("too much")
        ),
        4001
    );
    assert_eq!(
        code(
            &s.op
                .funds_in(op_req(funds("bank-z", "1")))
                .await
                .expect_err("unknown")
        ),
        3200
    );
    assert_eq!(
        code(
            &s.op
                .funds_in(op_req(funds("bank-a", "1.00001")))
                .await
                .expect_err("decimals")
        ),
        3100
    );

    // The hub's reconciliation account mirrors the movements.
    let hub =
        s.op.get_accounts(op_req(GetAccountsRequest {
            fsp_id: "hub".into(),
        }))
        .await
        .expect("hub")
        .into_inner();
    let recon = hub
        .accounts
        .iter()
        .find(|a| a.r#type == AccountType::HubReconciliation as i32)
        .expect("reconciliation");
    assert_eq!(
        (recon.debits_posted.as_str(), recon.credits_posted.as_str()),
        ("1250.00", "200.00")
    );
}

#[tokio::test]
async fn limits_credentials_and_listings() {
    let mut s = TestSwitch::start().await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let b = s
        .onboard("wallet-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let p =
        s.op.set_net_debit_cap(op_req(SetNetDebitCapRequest {
            fsp_id: "bank-a".into(),
            currency: CURRENCY.into(),
            net_debit_cap: "5".into(),
        }))
        .await
        .expect("cap")
        .into_inner();
    assert_eq!(
        (p.net_debit_cap.as_str(), p.available.as_str()),
        ("5.00", "5.00")
    );
    assert_eq!(
        code(
            &s.op
                .set_net_debit_cap(op_req(SetNetDebitCapRequest {
                    fsp_id: "bank-a".into(),
                    currency: CURRENCY.into(),
                    net_debit_cap: "-1".into()
                }))
                .await
                .expect_err("negative")
        ),
        3100
    );
    let q = quote(&mut a, &b, "10").await;
    let t = a
        .api
        .prepare_transfer(prepare_request(&q, 30_000))
        .await
        .expect("prepare")
        .into_inner();
    assert_eq!(t.error.map(|e| e.error_code), Some("4200".to_string()));

    let listed =
        s.op.list_participants(op_req(ListParticipantsRequest::default()))
            .await
            .expect("list")
            .into_inner();
    let names: Vec<&str> = listed
        .participants
        .iter()
        .map(|p| p.fsp_id.as_str())
        .collect();
    assert_eq!(names, ["bank-a", "wallet-b"]);
    assert_eq!(listed.participants[0].currencies, [CURRENCY]);
    let currencies =
        s.op.list_currencies(op_req(ListCurrenciesRequest {}))
            .await
            .expect("currencies")
            .into_inner();
    assert_eq!(
        currencies.currencies,
        [CurrencyInfo {
            currency: CURRENCY.into(),
            scale: 2
        }]
    );

    // A rotated credential replaces the old one.
    let rotated =
        s.op.rotate_credential(op_req(RotateCredentialRequest {
            fsp_id: "bank-a".into(),
        }))
        .await
        .expect("rotate")
        .into_inner();
    let get = GetTransferRequest {
        transfer_id: t.transfer_id.clone(),
    };
    assert_eq!(
        a.api
            .get_transfer(get.clone())
            .await
            .expect_err("old credential")
            .code(),
        tonic::Code::Unauthenticated
    );
    let mut fresh =
        harambee_sim::client::connect(&s.participant_url, &rotated.credential).expect("client");
    fresh.get_transfer(get).await.expect("new credential works");
    // Creating an existing participant again returns it, without a credential.
    let again =
        s.op.create_participant(op_req(CreateParticipantRequest {
            fsp_id: "bank-a".into(),
            kind: ParticipantKind::Bank as i32,
            name: "bank-a".into(),
        }))
        .await
        .expect("again")
        .into_inner();
    assert!(again.credential.is_empty());
    assert_eq!(
        code(
            &s.op
                .create_participant(op_req(CreateParticipantRequest {
                    fsp_id: "bank-a".into(),
                    kind: ParticipantKind::Wallet as i32,
                    name: "x".into()
                }))
                .await
                .expect_err("other kind")
        ),
        3106
    );
    assert_eq!(
        code(
            &s.op
                .create_participant(op_req(CreateParticipantRequest {
                    fsp_id: "Bank A".into(),
                    kind: ParticipantKind::Bank as i32,
                    name: "x".into()
                }))
                .await
                .expect_err("bad id")
        ),
        3100
    );
}

#[tokio::test]
async fn transfers_are_listed_from_the_projection_with_filters_and_pages() {
    let mut s = TestSwitch::start().await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let mut b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::RejectEvery(2))
        .await;
    let c = s
        .onboard("bank-c", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    for _ in 0..6 {
        let q = quote(&mut a, &b, "10").await;
        a.api
            .prepare_transfer(prepare_request(&q, 30_000))
            .await
            .expect("a to b");
    }
    for _ in 0..3 {
        let q = quote(&mut b, &c, "10").await;
        b.api
            .prepare_transfer(prepare_request(&q, 30_000))
            .await
            .expect("b to c");
    }
    let list = |fsp: &str, state: TransferState, token: &str, size: u32| ListTransfersRequest {
        fsp_id: fsp.into(),
        state: state as i32,
        page: Some(PageRequest {
            page_size: size,
            page_token: token.into(),
        }),
        ..Default::default()
    };
    // The projection follows the engine; wait for all nine.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let all =
            s.op.list_transfers(op_req(list("", TransferState::Unspecified, "", 100)))
                .await
                .expect("list")
                .into_inner();
        if all.transfers.len() == 9 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "projection has {} of 9",
            all.transfers.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let of_c =
        s.op.list_transfers(op_req(list("bank-c", TransferState::Unspecified, "", 100)))
            .await
            .expect("c")
            .into_inner();
    assert_eq!(of_c.transfers.len(), 3);
    let committed =
        s.op.list_transfers(op_req(list("bank-a", TransferState::Committed, "", 100)))
            .await
            .expect("committed")
            .into_inner();
    let aborted =
        s.op.list_transfers(op_req(list("bank-a", TransferState::Aborted, "", 100)))
            .await
            .expect("aborted")
            .into_inner();
    assert_eq!(committed.transfers.len() + aborted.transfers.len(), 6);
    assert_eq!(
        aborted.transfers.len(),
        3,
        "bank-b rejects every second transfer"
    );
    assert!(
        aborted
            .transfers
            .iter()
            .all(|t| t.error.as_ref().map(|e| e.error_code.as_str()) == Some("5104"))
    );
    // Pages of 4: 4 + 4 + 1, no overlap.
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page =
            s.op.list_transfers(op_req(list("", TransferState::Unspecified, &token, 4)))
                .await
                .expect("page")
                .into_inner();
        assert!(page.transfers.len() <= 4);
        seen.extend(page.transfers.iter().map(|t| t.transfer_id.clone()));
        token = page.page.map(|p| p.next_page_token).unwrap_or_default();
        if token.is_empty() {
            break;
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (9, 9));
    // The projection matches the ledger.
    for id in &seen {
        let live =
            s.op.get_transfer(op_req(GetTransferRequest {
                transfer_id: id.clone(),
            }))
            .await
            .expect("live")
            .into_inner();
        let listed =
            s.op.list_transfers(op_req(list("", TransferState::Unspecified, "", 100)))
                .await
                .expect("list")
                .into_inner();
        let row = listed
            .transfers
            .into_iter()
            .find(|t| &t.transfer_id == id)
            .expect("listed");
        assert_eq!(
            (row.state, row.amount, row.fulfilment),
            (live.state, live.amount, live.fulfilment)
        );
    }
}
