//! Between two FSPIOP participants the switch passes messages on as they
//! came, as the FSPIOP signature specification (v1.1) asks of a hub: the
//! body byte for byte, with `FSPIOP-Source`, `Date` and
//! `FSPIOP-Signature` untouched, and `FSPIOP-HTTP-Method` / `FSPIOP-URI`
//! naming the hop. A signed message thus verifies at the other end.

use axum::http::Method;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use harambee_tests::fspiop::*;
use harambee_tests::*;
use serde_json::json;
use sha2::{Digest, Sha256};

/// Checks that `got` is `from`'s message `sent` as it came, on the hop
/// `method` `uri`.
fn passed_on(got: &Received, from: &Dfsp, sent: &str, method: &str, uri: &str) {
    assert_eq!(got.raw, sent, "the body, byte for byte");
    assert_eq!(got.headers["fspiop-source"], from.name.as_str());
    assert_eq!(got.headers["fspiop-signature"], from.signature().as_str());
    assert_eq!(got.headers["date"], "Tue, 01 Dec 2026 19:00:00 GMT");
    assert_eq!(got.headers["fspiop-http-method"], method);
    assert_eq!(got.headers["fspiop-uri"], uri);
    // One media type: the sender's on a relayed callback.
    assert_eq!(got.headers.get_all("content-type").iter().count(), 1);
    // A request asks for its answer's version; a callback has no Accept.
    assert_eq!(got.headers.get("accept").is_some(), method != "PUT");
}

#[tokio::test]
async fn messages_between_fspiop_participants_are_passed_on_as_they_came() {
    let s = TestSwitch::start().await;
    let (a_url, mut a_rx) = callback_server().await;
    let (b_url, mut b_rx) = callback_server().await;
    let a = fspiop_participant(&s, "fsp-a", &a_url).await;
    let b = fspiop_participant(&s, "fsp-b", &b_url).await;
    fund(&s, "fsp-a", "1000").await;
    fund(&s, "fsp-b", "1000").await;
    let party = "254733000001";
    let (status, _) = b
        .send(
            reqwest::Method::POST,
            &format!("/participants/MSISDN/{party}"),
            "participants",
            "1.1",
            Some(json!({"fspId": "fsp-b", "currency": CURRENCY})),
            None,
        )
        .await;
    assert_eq!(status, 202);
    assert_eq!(
        next(&mut b_rx).await.path,
        format!("/participants/MSISDN/{party}")
    );

    // The lookup: the owner's PUT /parties goes to the requester as it came.
    let (status, _) = a
        .send(
            reqwest::Method::GET,
            &format!("/parties/MSISDN/{party}"),
            "parties",
            "1.1",
            None,
            None,
        )
        .await;
    assert_eq!(status, 202);
    let get = next(&mut b_rx).await;
    assert_eq!(
        (get.method, get.path.as_str()),
        (Method::GET, &*format!("/parties/MSISDN/{party}"))
    );
    let party_body = json!({"party": {
        "partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": party, "fspId": "fsp-b"},
        "name": "Wanjiru Kamau",
    }});
    let status = b
        .callback(
            &format!("/parties/MSISDN/{party}"),
            "parties",
            "fsp-a",
            party_body.clone(),
        )
        .await;
    assert_eq!(status, 200);
    let put = next(&mut a_rx).await;
    assert_eq!(put.path, format!("/parties/MSISDN/{party}"));
    passed_on(
        &put,
        &b,
        &party_body.to_string(),
        "PUT",
        &format!("/parties/MSISDN/{party}"),
    );

    // The quote: POST /quotes to the payee and its PUT /quotes/{ID} back,
    // both as they came.
    let quote_id = uuid::Uuid::new_v4().to_string();
    let quote_request = json!({
        "quoteId": quote_id,
        "transactionId": uuid::Uuid::new_v4().to_string(),
        "payee": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": party, "fspId": "fsp-b"}},
        "payer": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": "254711000009", "fspId": "fsp-a"}},
        "amountType": "SEND",
        "amount": {"amount": "25", "currency": CURRENCY},
        "transactionType": {"scenario": "TRANSFER", "initiator": "PAYER", "initiatorType": "CONSUMER"},
    });
    let (status, _) = a
        .send(
            reqwest::Method::POST,
            "/quotes",
            "quotes",
            "1.1",
            Some(quote_request.clone()),
            None,
        )
        .await;
    assert_eq!(status, 202);
    let post = next(&mut b_rx).await;
    assert_eq!(
        (post.method.clone(), post.path.as_str()),
        (Method::POST, "/quotes")
    );
    passed_on(&post, &a, &quote_request.to_string(), "POST", "/quotes");
    let fulfilment = [3u8; 32];
    let condition = URL_SAFE_NO_PAD.encode(Sha256::digest(fulfilment));
    let quote = json!({
        "transferAmount": {"amount": "25", "currency": CURRENCY},
        "expiration": harambee_fspiop::convert::format_datetime_ms(now_ms() + 60_000),
        "ilpPacket": ILP_PACKET,
        "condition": condition,
    });
    let status = b
        .callback(
            &format!("/quotes/{quote_id}"),
            "quotes",
            "fsp-a",
            quote.clone(),
        )
        .await;
    assert_eq!(status, 200);
    let put = next(&mut a_rx).await;
    assert_eq!(put.path, format!("/quotes/{quote_id}"));
    passed_on(
        &put,
        &b,
        &quote.to_string(),
        "PUT",
        &format!("/quotes/{quote_id}"),
    );

    // The transfer: POST /transfers to the payee and its PUT back.
    let transfer_id = uuid::Uuid::new_v4().to_string();
    let transfer = json!({
        "transferId": transfer_id,
        "payerFsp": "fsp-a",
        "payeeFsp": "fsp-b",
        "amount": {"amount": "25", "currency": CURRENCY},
        "ilpPacket": ILP_PACKET,
        "condition": condition,
        "expiration": harambee_fspiop::convert::format_datetime_ms(now_ms() + 30_000),
    });
    let (status, _) = a
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
    let post = next(&mut b_rx).await;
    assert_eq!(
        (post.method.clone(), post.path.as_str()),
        (Method::POST, "/transfers")
    );
    passed_on(&post, &a, &transfer.to_string(), "POST", "/transfers");
    let fulfil = json!({
        "fulfilment": URL_SAFE_NO_PAD.encode(fulfilment),
        "completedTimestamp": harambee_fspiop::convert::format_datetime_ms(now_ms()),
        "transferState": "COMMITTED",
    });
    let status = b
        .callback(
            &format!("/transfers/{transfer_id}"),
            "transfers",
            "fsp-a",
            fulfil.clone(),
        )
        .await;
    assert_eq!(status, 200);
    let put = next(&mut a_rx).await;
    assert_eq!(put.path, format!("/transfers/{transfer_id}"));
    passed_on(
        &put,
        &b,
        &fulfil.to_string(),
        "PUT",
        &format!("/transfers/{transfer_id}"),
    );

    // The payee's answer again: the hub resends the transfer's state to
    // it; another fulfilment under the same id is 3106.
    let status = b
        .callback(
            &format!("/transfers/{transfer_id}"),
            "transfers",
            "fsp-a",
            fulfil.clone(),
        )
        .await;
    assert_eq!(status, 200);
    let again = next(&mut b_rx).await;
    assert_eq!(
        (again.method.clone(), again.path.clone()),
        (Method::PUT, format!("/transfers/{transfer_id}"))
    );
    assert_eq!(again.body["transferState"], "COMMITTED", "{}", again.body);
    assert_eq!(again.body["fulfilment"], fulfil["fulfilment"]);
    assert_eq!(again.headers["fspiop-source"], "Hub");
    assert!(
        again.headers.get("accept").is_none(),
        "a callback has no Accept"
    );
    let mut other = fulfil.clone();
    other["fulfilment"] = json!(URL_SAFE_NO_PAD.encode([4u8; 32]));
    let status = b
        .callback(
            &format!("/transfers/{transfer_id}"),
            "transfers",
            "fsp-a",
            other,
        )
        .await;
    assert_eq!(status, 200);
    let modified = next(&mut b_rx).await;
    assert_eq!(modified.path, format!("/transfers/{transfer_id}/error"));
    assert_eq!(
        modified.body["errorInformation"]["errorCode"], "3106",
        "{}",
        modified.body
    );
    assert_eq!(
        modified.body["errorInformation"]["errorDescription"],
        "Modified request"
    );
}
