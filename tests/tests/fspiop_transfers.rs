//! Transfers over the FSPIOP v1.1 API, both directions, on one ledger:
//! an FSPIOP payer paying a gRPC payee, and a gRPC payer paying an FSPIOP
//! payee that answers with the v1.1 commit notification (RESERVED, then
//! the hub's PATCH).

use axum::http::Method;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use harambee_proto::v1::{
    AmountType, Money, Party, PartyIdType, PartyIdentifier, QuoteRequest, QuoteResponse,
    TransferState,
};
use harambee_sim::network::Member;
use harambee_tests::fspiop::*;
use harambee_tests::*;
use serde_json::json;
use sha2::{Digest, Sha256};

#[tokio::test]
async fn an_fspiop_payer_pays_a_grpc_payee() {
    let mut s = TestSwitch::start().await;
    let wallet = s
        .onboard("wallet-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let (callbacks, mut rx) = callback_server().await;
    let dfsp = fspiop_participant(&s, "fsp-a", &callbacks).await;
    fund(&s, "fsp-a", "1000").await;

    // The quote, from the gRPC payee.
    let quote = quoted_by_grpc_payee(&dfsp, &mut rx, &wallet.customer(0).id).await;

    // The transfer: reserved, fulfilled by the gRPC payee, committed, and
    // told to the payer by PUT /transfers/{ID}.
    let transfer_id = uuid::Uuid::new_v4().to_string();
    let transfer = json!({
        "transferId": transfer_id,
        "payerFsp": "fsp-a",
        "payeeFsp": "wallet-b",
        "amount": quote["transferAmount"],
        "ilpPacket": quote["ilpPacket"],
        "condition": quote["condition"],
        "expiration": harambee_fspiop::convert::format_datetime_ms(now_ms() + 30_000),
    });
    let (status, body) = dfsp
        .send(
            reqwest::Method::POST,
            "/transfers",
            "transfers",
            "1.1",
            Some(transfer.clone()),
            None,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let put = next(&mut rx).await;
    assert_eq!(
        (put.method, put.path.clone()),
        (Method::PUT, format!("/transfers/{transfer_id}"))
    );
    assert_eq!(put.body["transferState"], "COMMITTED", "{}", put.body);
    assert_eq!(put.headers["fspiop-source"], "wallet-b");
    let fulfilment = put.body["fulfilment"]
        .as_str()
        .expect("a fulfilment")
        .to_string();
    let condition = URL_SAFE_NO_PAD.encode(Sha256::digest(
        URL_SAFE_NO_PAD.decode(&fulfilment).expect("b64"),
    ));
    assert_eq!(condition, quote["condition"].as_str().expect("a condition"));
    assert!(
        put.body["completedTimestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    // One ledger: the payer's position moved by the amount.
    let moved = s.position("fsp-a").await;
    assert_eq!(moved.position, "100.00", "{moved:?}");

    // The same transfer again: its state, not a second payment; GET too.
    let (status, _) = dfsp
        .send(
            reqwest::Method::POST,
            "/transfers",
            "transfers",
            "1.1",
            Some(transfer.clone()),
            None,
        )
        .await;
    assert_eq!(status, 202);
    let again = next(&mut rx).await;
    assert_eq!(again.body["transferState"], "COMMITTED");
    // Resent by the hub, which knows the state.
    assert_eq!(again.headers["fspiop-source"], "Hub");
    assert_eq!(s.position("fsp-a").await.position, "100.00");
    let (status, _) = dfsp
        .send(
            reqwest::Method::GET,
            &format!("/transfers/{transfer_id}"),
            "transfers",
            "1",
            None,
            None,
        )
        .await;
    assert_eq!(status, 202);
    assert_eq!(next(&mut rx).await.body["fulfilment"], fulfilment.as_str());
    // Other content under the same id: 3106.
    let mut changed = transfer;
    changed["amount"]["amount"] = json!("99");
    let (status, _) = dfsp
        .send(
            reqwest::Method::POST,
            "/transfers",
            "transfers",
            "1.1",
            Some(changed),
            None,
        )
        .await;
    assert_eq!(status, 202);
    let error = next(&mut rx).await;
    assert_eq!(error.path, format!("/transfers/{transfer_id}/error"));
    assert_eq!(
        error.body["errorInformation"]["errorCode"], "3106",
        "{}",
        error.body
    );
}

#[tokio::test]
async fn a_grpc_payer_pays_an_fspiop_payee_that_asks_for_the_commit_notification() {
    let mut s = TestSwitch::start().await;
    let mut bank = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let (callbacks, mut rx) = callback_server().await;
    let payee = fspiop_participant(&s, "fsp-b", &callbacks).await;
    fund(&s, "fsp-b", "1000").await;
    let fulfilment = [7u8; 32];
    let condition = URL_SAFE_NO_PAD.encode(Sha256::digest(fulfilment));
    let quote = quoted_by_fspiop_payee(&bank, &payee, &mut rx, &condition).await;

    // The transfer: the switch POSTs it to the payee and the gRPC payer
    // waits; the payee answers RESERVED with its fulfilment, the switch
    // commits and PATCHes the payee.
    let transfer_id = uuid::Uuid::new_v4().to_string();
    let mut prepare = prepare_request(&quote, 30_000);
    prepare.transfer_id = transfer_id.clone();
    let preparing = tokio::spawn(async move { bank.api.prepare_transfer(prepare).await });
    let post = next(&mut rx).await;
    assert_eq!(
        (post.method, post.path.as_str()),
        (Method::POST, "/transfers")
    );
    assert_eq!(post.headers["fspiop-source"], "bank-a");
    assert_eq!(post.headers["fspiop-destination"], "fsp-b");
    assert_eq!(post.body["transferId"], transfer_id.as_str());
    assert_eq!(post.body["condition"], condition.as_str());
    assert_eq!(
        post.body["amount"],
        json!({"amount": "40", "currency": CURRENCY})
    );
    let status = payee
        .callback(
            &format!("/transfers/{transfer_id}"),
            "transfers",
            "bank-a",
            json!({
                "fulfilment": URL_SAFE_NO_PAD.encode(fulfilment),
                "completedTimestamp": harambee_fspiop::convert::format_datetime_ms(now_ms()),
                "transferState": "RESERVED",
            }),
        )
        .await;
    assert_eq!(status, 200);
    let result = preparing
        .await
        .expect("task")
        .expect("prepare")
        .into_inner();
    assert_eq!(result.state, TransferState::Committed as i32, "{result:?}");
    let patch = next(&mut rx).await;
    assert_eq!(
        (patch.method, patch.path.clone()),
        (Method::PATCH, format!("/transfers/{transfer_id}"))
    );
    assert_eq!(patch.body["transferState"], "COMMITTED", "{}", patch.body);
    assert_eq!(patch.headers["fspiop-source"], "Hub");
    // The money moved on the one ledger.
    assert_eq!(s.position("bank-a").await.position, "40.00");
    assert_eq!(s.position("fsp-b").await.position, "-40.00");
}

#[tokio::test]
async fn a_transfer_an_fspiop_payee_leaves_unanswered_expires_with_3303_to_both_sides() {
    let mut s = TestSwitch::start().await;
    let mut bank = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let (callbacks, mut rx) = callback_server().await;
    let payee = fspiop_participant(&s, "fsp-b", &callbacks).await;
    fund(&s, "fsp-b", "1000").await;
    let condition = URL_SAFE_NO_PAD.encode(Sha256::digest([9u8; 32]));
    let quote = quoted_by_fspiop_payee(&bank, &payee, &mut rx, &condition).await;

    // The payee takes the POST /transfers and never answers.
    let transfer_id = uuid::Uuid::new_v4().to_string();
    let mut prepare = prepare_request(&quote, 1_500);
    prepare.transfer_id = transfer_id.clone();
    let preparing = tokio::spawn(async move { bank.api.prepare_transfer(prepare).await });
    let post = next(&mut rx).await;
    assert_eq!(
        (post.method, post.path.as_str()),
        (Method::POST, "/transfers")
    );

    // A PUT with transferState ABORTED is no answer in FSPIOP v1.1: taken
    // (200), and nothing changes.
    let status = payee
        .callback(
            &format!("/transfers/{transfer_id}"),
            "transfers",
            "bank-a",
            json!({"transferState": "ABORTED", "completedTimestamp": harambee_fspiop::convert::format_datetime_ms(now_ms())}),
        )
        .await;
    assert_eq!(status, 200);

    // At expiry: the payer hears 3303, and so does the payee, from Hub.
    let result = preparing
        .await
        .expect("task")
        .expect("prepare")
        .into_inner();
    assert_eq!(result.state, TransferState::Aborted as i32, "{result:?}");
    assert_eq!(
        result.error.as_ref().map(|e| e.error_code.as_str()),
        Some("3303"),
        "{result:?}"
    );
    let expired = next(&mut rx).await;
    assert_eq!(
        (expired.method, expired.path.clone()),
        (Method::PUT, format!("/transfers/{transfer_id}/error"))
    );
    assert_eq!(
        expired.body["errorInformation"]["errorCode"], "3303",
        "{}",
        expired.body
    );
    assert_eq!(expired.headers["fspiop-source"], "Hub");
    assert_eq!(expired.headers["fspiop-destination"], "fsp-b");
    // Asked for later, the transfer is ABORTED with its cause.
    let (status, _) = payee
        .send(
            reqwest::Method::GET,
            &format!("/transfers/{transfer_id}"),
            "transfers",
            "1.1",
            None,
            None,
        )
        .await;
    assert_eq!(status, 202);
    let state = next(&mut rx).await;
    assert_eq!(state.path, format!("/transfers/{transfer_id}"));
    assert_eq!(state.body["transferState"], "ABORTED", "{}", state.body);
    assert_eq!(state.body["extensionList"]["extension"][0]["key"], "cause");
    assert!(
        state.body["extensionList"]["extension"][0]["value"]
            .as_str()
            .is_some_and(|v| v.starts_with("3303: ")),
        "{}",
        state.body
    );
    // Nothing moved.
    assert_eq!(s.position("fsp-b").await.position, "0.00");
}

#[tokio::test]
async fn a_transfer_is_put_again_to_an_fspiop_payee_that_cannot_be_reached_until_its_expiry() {
    let mut s = TestSwitch::start().await;
    let mut bank = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let (callbacks, mut rx) = callback_server().await;
    let payee = fspiop_participant(&s, "fsp-b", &callbacks).await;
    fund(&s, "fsp-b", "1000").await;
    let fulfilment = [5u8; 32];
    let condition = URL_SAFE_NO_PAD.encode(Sha256::digest(fulfilment));
    let quote = quoted_by_fspiop_payee(&bank, &payee, &mut rx, &condition).await;
    // The payee's transfer endpoint is down when the transfer comes.
    let down = harambee_sim::scenario::closed_port_url().expect("a free port");
    let admin = format!("http://{}", s.running().admin_addr.expect("admin API"));
    let status = reqwest::Client::new()
        .post(format!("{admin}/participants/fsp-b/endpoints"))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&json!({"type": "FSPIOP_CALLBACK_URL_TRANSFER_POST", "value": format!("{down}/transfers")}))
        .send()
        .await
        .expect("admin")
        .status();
    assert_eq!(status.as_u16(), 201);
    let transfer_id = uuid::Uuid::new_v4().to_string();
    let mut prepare = prepare_request(&quote, 20_000);
    prepare.transfer_id = transfer_id.clone();
    let preparing = tokio::spawn(async move { bank.api.prepare_transfer(prepare).await });
    // It comes up a little later, and the transfer reaches it.
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let listener = tokio::net::TcpListener::bind(down.trim_start_matches("http://"))
        .await
        .expect("the payee's port");
    let (_, mut late) = callback_server_on(listener);
    let post = next(&mut late).await;
    assert_eq!(
        (post.method, post.path.as_str()),
        (Method::POST, "/transfers")
    );
    assert_eq!(post.body["transferId"], transfer_id.as_str());
    let status = payee
        .callback(
            &format!("/transfers/{transfer_id}"),
            "transfers",
            "bank-a",
            json!({
                "fulfilment": URL_SAFE_NO_PAD.encode(fulfilment),
                "completedTimestamp": harambee_fspiop::convert::format_datetime_ms(now_ms()),
                "transferState": "COMMITTED",
            }),
        )
        .await;
    assert_eq!(status, 200);
    let result = preparing
        .await
        .expect("task")
        .expect("prepare")
        .into_inner();
    assert_eq!(result.state, TransferState::Committed as i32, "{result:?}");
}

#[tokio::test]
async fn the_outcome_is_put_again_to_an_fspiop_payer_that_cannot_be_reached_until_the_transfer_expires()
 {
    let mut s = TestSwitch::start().await;
    let wallet = s
        .onboard("wallet-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let (callbacks, mut rx) = callback_server().await;
    let dfsp = fspiop_participant(&s, "fsp-a", &callbacks).await;
    fund(&s, "fsp-a", "1000").await;
    let quote = quoted_by_grpc_payee(&dfsp, &mut rx, &wallet.customer(0).id).await;
    // The payer's transfer endpoint is down when the outcome comes.
    let down = harambee_sim::scenario::closed_port_url().expect("a free port");
    let admin = format!("http://{}", s.running().admin_addr.expect("admin API"));
    let status = reqwest::Client::new()
        .post(format!("{admin}/participants/fsp-a/endpoints"))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&json!({"type": "FSPIOP_CALLBACK_URL_TRANSFER_PUT", "value": format!("{down}/transfers/{{{{transferId}}}}")}))
        .send()
        .await
        .expect("admin")
        .status();
    assert_eq!(status.as_u16(), 201);
    let transfer_id = uuid::Uuid::new_v4().to_string();
    let (status, body) = dfsp
        .send(
            reqwest::Method::POST,
            "/transfers",
            "transfers",
            "1.1",
            Some(json!({
                "transferId": transfer_id,
                "payerFsp": "fsp-a",
                "payeeFsp": "wallet-b",
                "amount": quote["transferAmount"],
                "ilpPacket": quote["ilpPacket"],
                "condition": quote["condition"],
                "expiration": harambee_fspiop::convert::format_datetime_ms(now_ms() + 60_000),
            })),
            None,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    // It comes up after the least number of attempts (0.2 + 0.4 + 0.8 +
    // 1.6 s of pauses) has passed, well before the transfer expires: the
    // outcome still reaches it.
    tokio::time::sleep(std::time::Duration::from_millis(4_000)).await;
    let listener = tokio::net::TcpListener::bind(down.trim_start_matches("http://"))
        .await
        .expect("the payer's port");
    let (_, mut late) = callback_server_on(listener);
    let put = next(&mut late).await;
    assert_eq!(
        (put.method, put.path.clone()),
        (Method::PUT, format!("/transfers/{transfer_id}"))
    );
    assert_eq!(put.body["transferState"], "COMMITTED", "{}", put.body);
}

/// A quote of 100 from the gRPC payee wallet-b, for its party `party`, to
/// the FSPIOP payer `dfsp` (fsp-a; its callbacks arrive on `rx`).
async fn quoted_by_grpc_payee(
    dfsp: &Dfsp,
    rx: &mut tokio::sync::mpsc::Receiver<Received>,
    party: &str,
) -> serde_json::Value {
    let (status, _) = dfsp
        .send(
            reqwest::Method::POST,
            "/quotes",
            "quotes",
            "1.1",
            Some(json!({
                "quoteId": uuid::Uuid::new_v4().to_string(),
                "transactionId": uuid::Uuid::new_v4().to_string(),
                "payee": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": party, "fspId": "wallet-b"}},
                "payer": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": "254711000009", "fspId": "fsp-a"}},
                "amountType": "SEND",
                "amount": {"amount": "100", "currency": CURRENCY},
                "transactionType": {"scenario": "TRANSFER", "initiator": "PAYER", "initiatorType": "CONSUMER"},
            })),
            None,
        )
        .await;
    assert_eq!(status, 202);
    next(rx).await.body
}

/// A quote of 40 from the FSPIOP payee `payee` (its callbacks arrive on
/// `rx`) to the gRPC payer `bank`, under `condition`.
async fn quoted_by_fspiop_payee(
    bank: &Member,
    payee: &Dfsp,
    rx: &mut tokio::sync::mpsc::Receiver<Received>,
    condition: &str,
) -> QuoteResponse {
    let quote_id = uuid::Uuid::new_v4().to_string();
    let request = QuoteRequest {
        quote_id: quote_id.clone(),
        transaction_id: uuid::Uuid::new_v4().to_string(),
        payee: Some(Party {
            identifier: Some(PartyIdentifier {
                r#type: PartyIdType::Msisdn as i32,
                id: "254722000002".into(),
                sub_id: String::new(),
            }),
            fsp_id: "fsp-b".into(),
            ..Default::default()
        }),
        payer: Some(Party {
            fsp_id: "bank-a".into(),
            ..Default::default()
        }),
        amount_type: AmountType::Send as i32,
        amount: Some(Money {
            amount: "40".into(),
            currency: CURRENCY.into(),
        }),
        ..Default::default()
    };
    let mut api = bank.api.clone();
    let quoting = tokio::spawn(async move { api.request_quote(request).await });
    let post = next(rx).await;
    assert_eq!(post.path, "/quotes");
    let expiration = harambee_fspiop::convert::format_datetime_ms(now_ms() + 60_000);
    let status = payee
        .callback(
            &format!("/quotes/{quote_id}"),
            "quotes",
            "bank-a",
            json!({
                "transferAmount": {"amount": "40", "currency": CURRENCY},
                "expiration": expiration,
                "ilpPacket": ILP_PACKET,
                "condition": condition,
            }),
        )
        .await;
    assert_eq!(status, 200);
    quoting.await.expect("task").expect("quote").into_inner()
}

#[tokio::test]
async fn a_participant_reads_its_funds_in_and_out_as_transfers_and_a_reserved_funds_out_shows_in_its_settlement_value()
 {
    let s = TestSwitch::start().await;
    let (callbacks, mut rx) = callback_server().await;
    let dfsp = fspiop_participant(&s, "fsp-a", &callbacks).await;
    fund(&s, "fsp-a", "1000").await;
    let http = reqwest::Client::new();
    let admin = format!("http://{}", s.running().admin_addr.expect("admin API"));
    let settlement = || account(&s, "fsp-a", "SETTLEMENT");
    let account = settlement().await;
    let id = account["id"].as_u64().expect("an id");
    assert_eq!(account["value"], json!(-1000), "{account}");
    let state_of = |transfer_id: String| {
        let dfsp = dfsp.clone();
        async move {
            let (status, _) = dfsp
                .send(
                    reqwest::Method::GET,
                    &format!("/transfers/{transfer_id}"),
                    "transfers",
                    "1.1",
                    None,
                    None,
                )
                .await;
            assert_eq!(status, 202);
        }
    };
    let reserve = |funds_id: String| {
        let http = http.clone();
        let admin = admin.clone();
        async move {
            let status = http
                .post(format!("{admin}/participants/fsp-a/accounts/{id}"))
                .bearer_auth(OPERATOR_TOKEN)
                .json(&json!({
                    "transferId": funds_id,
                    "action": "recordFundsOutPrepareReserve",
                    "reason": "withdrawal",
                    "amount": {"amount": "10", "currency": CURRENCY},
                }))
                .send()
                .await
                .expect("admin")
                .status();
            assert_eq!(status.as_u16(), 202);
        }
    };
    let finish = |funds_id: String, action: &'static str| {
        let http = http.clone();
        let admin = admin.clone();
        async move {
            let status = http
                .put(format!(
                    "{admin}/participants/fsp-a/accounts/{id}/transfers/{funds_id}"
                ))
                .bearer_auth(OPERATOR_TOKEN)
                .json(&json!({"action": action, "reason": "done"}))
                .send()
                .await
                .expect("admin")
                .status();
            assert_eq!(status.as_u16(), 202);
        }
    };
    // A funds out reserved: RESERVED, and the settlement value moves now.
    let out = uuid::Uuid::new_v4().to_string();
    reserve(out.clone()).await;
    assert_eq!(settlement().await["value"], json!(-990));
    state_of(out.clone()).await;
    let put = next(&mut rx).await;
    assert_eq!(
        (put.method, put.path.clone()),
        (Method::PUT, format!("/transfers/{out}"))
    );
    assert_eq!(put.body["transferState"], "RESERVED", "{}", put.body);
    assert_eq!(put.headers["fspiop-source"], "Hub");
    // Committed: COMMITTED, the value stays where the reserve put it.
    finish(out.clone(), "recordFundsOutCommit").await;
    assert_eq!(settlement().await["value"], json!(-990));
    state_of(out.clone()).await;
    assert_eq!(next(&mut rx).await.body["transferState"], "COMMITTED");
    // Another, aborted: ABORTED, as a state (not an error), and the value
    // is back.
    let aborted = uuid::Uuid::new_v4().to_string();
    reserve(aborted.clone()).await;
    assert_eq!(settlement().await["value"], json!(-980));
    finish(aborted.clone(), "recordFundsOutAbort").await;
    assert_eq!(settlement().await["value"], json!(-990));
    state_of(aborted.clone()).await;
    let put = next(&mut rx).await;
    assert_eq!(put.path, format!("/transfers/{aborted}"));
    assert_eq!(put.body["transferState"], "ABORTED", "{}", put.body);
    // Nobody else's: not found.
    let other = fspiop_participant(&s, "fsp-b", &callbacks).await;
    let (status, _) = other
        .send(
            reqwest::Method::GET,
            &format!("/transfers/{out}"),
            "transfers",
            "1.1",
            None,
            None,
        )
        .await;
    assert_eq!(status, 202);
    let error = next(&mut rx).await;
    assert_eq!(error.path, format!("/transfers/{out}/error"));
    assert_eq!(error.body["errorInformation"]["errorCode"], "3208");
}

#[tokio::test]
async fn an_operator_deactivates_a_participants_account_and_it_neither_receives_nor_sends_in_its_currency()
 {
    let mut s = TestSwitch::start().await;
    let (a_url, mut a_rx) = callback_server().await;
    let (b_url, mut b_rx) = callback_server().await;
    let a = fspiop_participant(&s, "fsp-a", &a_url).await;
    let _b = fspiop_participant(&s, "fsp-b", &b_url).await;
    fund(&s, "fsp-a", "1000").await;
    fund(&s, "fsp-b", "1000").await;
    let http = reqwest::Client::new();
    let admin = format!("http://{}", s.running().admin_addr.expect("admin API"));
    let position = account(&s, "fsp-b", "POSITION").await["id"]
        .as_u64()
        .expect("a position account");
    let set = |active: bool| {
        let http = http.clone();
        let admin = admin.clone();
        async move {
            let response = http
                .put(format!("{admin}/participants/fsp-b/accounts/{position}"))
                .bearer_auth(OPERATOR_TOKEN)
                .json(&json!({"isActive": active}))
                .send()
                .await
                .expect("admin");
            assert_eq!(response.status().as_u16(), 200);
            let account: serde_json::Value = response.json().await.expect("json");
            assert_eq!(account["isActive"], u8::from(active), "{account}");
        }
    };
    let transfer = |id: &str| {
        json!({
            "transferId": id,
            "payerFsp": "fsp-a",
            "payeeFsp": "fsp-b",
            "amount": {"amount": "5", "currency": CURRENCY},
            "ilpPacket": ILP_PACKET,
            "condition": URL_SAFE_NO_PAD.encode(Sha256::digest([3u8; 32])),
            "expiration": harambee_fspiop::convert::format_datetime_ms(now_ms() + 30_000),
        })
    };
    set(false).await;
    let id = uuid::Uuid::new_v4().to_string();
    let (status, body) = a
        .send(
            reqwest::Method::POST,
            "/transfers",
            "transfers",
            "1.1",
            Some(transfer(&id)),
            None,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let error = next(&mut a_rx).await;
    assert_eq!(error.path, format!("/transfers/{id}/error"));
    assert_eq!(
        error.body["errorInformation"]["errorCode"], "3201",
        "{}",
        error.body
    );
    assert_eq!(s.position("fsp-a").await.position, "0.00");
    // Active again: the next transfer reaches fsp-b.
    set(true).await;
    let id = uuid::Uuid::new_v4().to_string();
    let (status, body) = a
        .send(
            reqwest::Method::POST,
            "/transfers",
            "transfers",
            "1.1",
            Some(transfer(&id)),
            None,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let post = next(&mut b_rx).await;
    assert_eq!(
        (post.method, post.path.as_str()),
        (Method::POST, "/transfers")
    );
    let reserved = s.position("fsp-a").await;
    assert_eq!(reserved.reserved, "5.00", "{reserved:?}");
    // Not an account of fsp-b's: 3200.
    let status = http
        .put(format!("{admin}/participants/fsp-b/accounts/999999"))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&json!({"isActive": false}))
        .send()
        .await
        .expect("admin")
        .status();
    assert_eq!(status.as_u16(), 400);
}

#[tokio::test]
async fn the_hub_names_itself_as_configured_in_its_messages_and_in_the_admin_apis_paths() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = TestSwitch::config(dir.path());
    config.fspiop.hub_name = "switch".into();
    let s = TestSwitch::start_with(dir, config).await;
    let http = reqwest::Client::new();
    let admin = format!("http://{}", s.running().admin_addr.expect("admin API"));
    // The hub's accounts are at its name; `Hub` is nobody here.
    let status = http
        .post(format!("{admin}/participants/switch/accounts"))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&json!({"type": "HUB_RECONCILIATION", "currency": CURRENCY}))
        .send()
        .await
        .expect("admin")
        .status();
    assert_eq!(status.as_u16(), 201);
    let status = http
        .get(format!("{admin}/participants/Hub/accounts"))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .expect("admin")
        .status();
    assert_eq!(status.as_u16(), 400);
    // No participant may take the hub's name.
    let status = http
        .post(format!("{admin}/participants"))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&json!({"name": "switch", "currency": CURRENCY}))
        .send()
        .await
        .expect("admin")
        .status();
    assert_eq!(status.as_u16(), 400);
    let (callbacks, mut rx) = callback_server().await;
    let dfsp = fspiop_participant(&s, "fsp-a", &callbacks).await;
    let id = uuid::Uuid::new_v4().to_string();
    let (status, _) = dfsp
        .send(
            reqwest::Method::GET,
            &format!("/transfers/{id}"),
            "transfers",
            "1.1",
            None,
            None,
        )
        .await;
    assert_eq!(status, 202);
    let error = next(&mut rx).await;
    assert_eq!(error.body["errorInformation"]["errorCode"], "3208");
    assert_eq!(error.headers["fspiop-source"], "switch");
}
