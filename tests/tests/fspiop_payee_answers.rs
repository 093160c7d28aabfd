//! How the switch takes an FSPIOP payee's answers that are not a plain
//! fulfilment, as Mojaloop's hub collections check them: a missing
//! fulfilment, a completion time still to come, a v1.0 RESERVED, and
//! transfers nobody knows.

use axum::http::Method;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use harambee_tests::fspiop::*;
use harambee_tests::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// fsp-a's transfer `id` of 20 to fsp-b.
fn transfer_body(id: &str) -> Value {
    json!({
        "transferId": id,
        "payerFsp": "fsp-a",
        "payeeFsp": "fsp-b",
        "amount": {"amount": "20", "currency": CURRENCY},
        "ilpPacket": ILP_PACKET,
        "condition": URL_SAFE_NO_PAD.encode(Sha256::digest([6u8; 32])),
        "expiration": harambee_fspiop::convert::format_datetime_ms(now_ms() + 30_000),
    })
}

struct Pair {
    s: TestSwitch,
    a: Dfsp,
    b: Dfsp,
    a_rx: tokio::sync::mpsc::Receiver<Received>,
    b_rx: tokio::sync::mpsc::Receiver<Received>,
}

async fn pair() -> Pair {
    let s = TestSwitch::start().await;
    let (a_url, a_rx) = callback_server().await;
    let (b_url, b_rx) = callback_server().await;
    let a = fspiop_participant(&s, "fsp-a", &a_url).await;
    let b = fspiop_participant(&s, "fsp-b", &b_url).await;
    fund(&s, "fsp-a", "1000").await;
    fund(&s, "fsp-b", "1000").await;
    Pair {
        s,
        a,
        b,
        a_rx,
        b_rx,
    }
}

impl Pair {
    /// fsp-a's transfer of 20 to fsp-b, reserved and put to fsp-b.
    async fn prepared(&mut self) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        self.prepared_as(&id, &transfer_body(&id)).await;
        id
    }

    /// fsp-a's `POST /transfers` of `body`, answered 202.
    async fn post(&self, body: &Value) {
        let (status, answer) = self
            .a
            .send(
                reqwest::Method::POST,
                "/transfers",
                "transfers",
                "1.1",
                Some(body.clone()),
                None,
            )
            .await;
        assert_eq!(status, 202, "{answer}");
    }

    /// [`Pair::prepared`] with the transfer `body` of id `id`.
    async fn prepared_as(&mut self, id: &str, body: &Value) {
        self.post(body).await;
        let post = next(&mut self.b_rx).await;
        assert_eq!(
            (post.method, post.path.as_str()),
            (Method::POST, "/transfers")
        );
        assert_eq!(post.body["transferId"], id);
    }

    /// fsp-b's `PUT /transfers/{id}` with `body`, as `version`.
    async fn answer(&self, id: &str, version: &str, body: Value) -> u16 {
        self.answer_to(id, version, body, "fsp-a").await
    }

    /// [`Pair::answer`] addressed (`FSPIOP-Destination`) to `to`.
    async fn answer_to(&self, id: &str, version: &str, body: Value, to: &str) -> u16 {
        let response = reqwest::Client::new()
            .put(format!("{}/transfers/{id}", self.b.api))
            .bearer_auth(&self.b.credential)
            .header(
                "content-type",
                format!("application/vnd.interoperability.transfers+json;version={version}"),
            )
            .header("date", "Tue, 01 Dec 2026 19:00:00 GMT")
            .header("fspiop-source", "fsp-b")
            .header("fspiop-destination", to)
            .body(body.to_string())
            .send()
            .await
            .expect("the FSPIOP API answers");
        response.status().as_u16()
    }

    /// The transfer's state as `dfsp` is told it (GET, then its callback).
    async fn state(&mut self, id: &str) -> Received {
        let (status, _) = self
            .a
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
        next(&mut self.a_rx).await
    }
}

#[tokio::test]
async fn a_committed_answer_without_a_fulfilment_aborts_the_transfer_with_3100_to_both_sides() {
    let mut p = pair().await;
    let id = p.prepared().await;
    let status = p
        .answer(
            &id,
            "1.1",
            json!({"transferState": "COMMITTED", "completedTimestamp": harambee_fspiop::convert::format_datetime_ms(now_ms())}),
        )
        .await;
    assert_eq!(status, 200, "taken, then answered by callbacks");
    for rx in [&mut p.a_rx, &mut p.b_rx] {
        let error = next(rx).await;
        assert_eq!(error.path, format!("/transfers/{id}/error"));
        assert_eq!(
            error.body["errorInformation"]["errorCode"], "3100",
            "{}",
            error.body
        );
        assert_eq!(error.headers["fspiop-source"], "Hub");
    }
    let state = p.state(&id).await;
    assert_eq!(state.body["transferState"], "ABORTED", "{}", state.body);
    // Nothing moved.
    assert_eq!(p.s.position("fsp-a").await.position, "0.00");
    assert_eq!(p.s.position("fsp-b").await.position, "0.00");
}

#[tokio::test]
async fn a_wrong_fulfilment_aborts_the_transfer_and_its_state_says_why_in_mojaloops_words() {
    let mut p = pair().await;
    let id = p.prepared().await;
    let status = p
        .answer(
            &id,
            "1.1",
            json!({
                "transferState": "COMMITTED",
                "fulfilment": URL_SAFE_NO_PAD.encode([7u8; 32]),
                "completedTimestamp": harambee_fspiop::convert::format_datetime_ms(now_ms()),
            }),
        )
        .await;
    assert_eq!(status, 200);
    let error = next(&mut p.a_rx).await;
    assert_eq!(error.path, format!("/transfers/{id}/error"));
    assert_eq!(
        error.body["errorInformation"]["errorDescription"],
        "Generic validation error - invalid fulfilment"
    );
    // The payee hears the same words.
    let told = next(&mut p.b_rx).await;
    assert_eq!(told.path, format!("/transfers/{id}/error"));
    assert_eq!(
        told.body["errorInformation"]["errorDescription"],
        "Generic validation error - invalid fulfilment"
    );
    let state = p.state(&id).await;
    assert_eq!(state.body["transferState"], "ABORTED", "{}", state.body);
    assert_eq!(
        state.body["extensionList"]["extension"][0]["value"],
        "3100: Generic validation error - invalid fulfilment"
    );
}

#[tokio::test]
async fn an_answer_addressed_to_someone_other_than_the_payer_aborts_the_transfer() {
    let mut p = pair().await;
    let fulfilment = URL_SAFE_NO_PAD.encode([6u8; 32]);
    // COMMITTED, to a participant that does not exist: both sides hear
    // 3100 from the hub, nothing is passed on, nothing moves.
    let id = p.prepared().await;
    let status = p
        .answer_to(
            &id,
            "1.1",
            json!({
                "transferState": "COMMITTED",
                "fulfilment": fulfilment,
                "completedTimestamp": harambee_fspiop::convert::format_datetime_ms(now_ms()),
            }),
            "doesnotexistfsp",
        )
        .await;
    assert_eq!(status, 200);
    for rx in [&mut p.a_rx, &mut p.b_rx] {
        let error = next(rx).await;
        assert_eq!(error.path, format!("/transfers/{id}/error"));
        assert_eq!(
            error.body["errorInformation"]["errorCode"], "3100",
            "{}",
            error.body
        );
        assert_eq!(error.headers["fspiop-source"], "Hub");
    }
    assert_eq!(p.state(&id).await.body["transferState"], "ABORTED");
    // RESERVED (the v1.1 commit notification): the payee is told ABORTED
    // by PATCH.
    let id = p.prepared().await;
    let status = p
        .answer_to(
            &id,
            "1.1",
            json!({
                "transferState": "RESERVED",
                "fulfilment": fulfilment,
                "completedTimestamp": harambee_fspiop::convert::format_datetime_ms(now_ms()),
            }),
            "doesnotexistfsp",
        )
        .await;
    assert_eq!(status, 200);
    let error = next(&mut p.a_rx).await;
    assert_eq!(error.path, format!("/transfers/{id}/error"));
    assert_eq!(error.body["errorInformation"]["errorCode"], "3100");
    let patch = next(&mut p.b_rx).await;
    assert_eq!(
        (patch.method, patch.path.clone()),
        (Method::PATCH, format!("/transfers/{id}"))
    );
    assert_eq!(patch.body["transferState"], "ABORTED", "{}", patch.body);
    assert_eq!(p.s.position("fsp-a").await.position, "0.00");
    assert_eq!(p.s.position("fsp-b").await.position, "0.00");
}

#[tokio::test]
async fn answers_that_are_not_answers_change_nothing() {
    let mut p = pair().await;
    let id = p.prepared().await;
    let fulfilment = URL_SAFE_NO_PAD.encode([6u8; 32]);
    // Completed in the future: refused at once.
    let status = p
        .answer(
            &id,
            "1.1",
            json!({
                "transferState": "COMMITTED",
                "fulfilment": fulfilment,
                "completedTimestamp": harambee_fspiop::convert::format_datetime_ms(now_ms() + 10_000),
            }),
        )
        .await;
    assert_eq!(status, 400);
    // RESERVED from a v1.0 payee: v1.0 has no commit notification.
    let status = p
        .answer(
            &id,
            "1.0",
            json!({
                "transferState": "RESERVED",
                "fulfilment": fulfilment,
                "completedTimestamp": harambee_fspiop::convert::format_datetime_ms(now_ms()),
            }),
        )
        .await;
    assert_eq!(status, 200);
    let state = p.state(&id).await;
    assert_eq!(state.body["transferState"], "RESERVED", "{}", state.body);
    // Its fulfilment, as it should be: committed.
    let status = p
        .answer(
            &id,
            "1.1",
            json!({
                "transferState": "COMMITTED",
                "fulfilment": fulfilment,
                "completedTimestamp": harambee_fspiop::convert::format_datetime_ms(now_ms()),
            }),
        )
        .await;
    assert_eq!(status, 200);
    let done = next(&mut p.a_rx).await;
    assert_eq!(done.body["transferState"], "COMMITTED", "{}", done.body);
    assert_eq!(p.s.position("fsp-a").await.position, "20.00");
}

#[tokio::test]
async fn a_transfer_nobody_knows_is_3208_in_mojaloops_words() {
    let mut p = pair().await;
    let id = uuid::Uuid::new_v4().to_string();
    let error = p.state(&id).await;
    assert_eq!(error.path, format!("/transfers/{id}/error"));
    assert_eq!(error.body["errorInformation"]["errorCode"], "3208");
    assert_eq!(
        error.body["errorInformation"]["errorDescription"],
        "Transfer ID not found - Provided Transfer ID was not found on the server."
    );
    // The hub signs what it writes itself, by default with the key it
    // made on its first start.
    assert!(
        error.headers.contains_key("fspiop-signature"),
        "{:?}",
        error.headers
    );
    // A blank id names no resource: 404, 3002.
    let response = reqwest::Client::new()
        .put(format!("{}/transfers/%20", p.b.api))
        .bearer_auth(&p.b.credential)
        .header(
            "content-type",
            "application/vnd.interoperability.transfers+json;version=1.1",
        )
        .header("date", "Tue, 01 Dec 2026 19:00:00 GMT")
        .header("fspiop-source", "fsp-b")
        .body("{}")
        .send()
        .await
        .expect("the FSPIOP API answers");
    assert_eq!(response.status().as_u16(), 404);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["errorInformation"]["errorCode"], "3002", "{body}");
}

#[tokio::test]
async fn a_repeat_of_a_transfer_in_progress_is_ignored_and_its_outcome_goes_once() {
    let mut p = pair().await;
    let id = uuid::Uuid::new_v4().to_string();
    let body = transfer_body(&id);
    p.prepared_as(&id, &body).await;
    // The payer asks again while the payee has not answered: nothing is
    // said back, and nothing is put to the payee again.
    p.post(&body).await;
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(500), p.a_rx.recv())
            .await
            .is_err(),
        "no answer to a repeat of a transfer in progress"
    );
    assert!(p.b_rx.try_recv().is_err(), "nothing put to the payee again");
    let status = p
        .answer(
            &id,
            "1.1",
            json!({
                "transferState": "COMMITTED",
                "fulfilment": URL_SAFE_NO_PAD.encode([6u8; 32]),
                "completedTimestamp": harambee_fspiop::convert::format_datetime_ms(now_ms()),
            }),
        )
        .await;
    assert_eq!(status, 200);
    let done = next(&mut p.a_rx).await;
    assert_eq!(done.body["transferState"], "COMMITTED", "{}", done.body);
    // The outcome went once.
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(500), p.a_rx.recv())
            .await
            .is_err(),
        "one outcome"
    );
    // Other content under the same id is still 3106.
    let mut other = body.clone();
    other["amount"]["amount"] = json!("21");
    p.post(&other).await;
    let error = next(&mut p.a_rx).await;
    assert_eq!(
        error.body["errorInformation"]["errorCode"], "3106",
        "{}",
        error.body
    );
}

/// As Mojaloop's hub takes them (its bug-fix collection #949): a quote and
/// a transfer of an amount with four decimals, in a currency of two, agree
/// and commit, and the ledger moves exactly that amount.
#[tokio::test]
async fn an_amount_with_four_decimals_is_quoted_and_transferred_in_a_currency_of_two() {
    let mut p = pair().await;
    let amount = "60.1234";
    let quote_id = uuid::Uuid::new_v4().to_string();
    let quote = json!({
        "quoteId": quote_id,
        "transactionId": uuid::Uuid::new_v4().to_string(),
        "payee": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": "254722000001", "fspId": "fsp-b"}},
        "payer": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": "254711000009", "fspId": "fsp-a"}},
        "amountType": "RECEIVE",
        "amount": {"amount": amount, "currency": CURRENCY},
        "transactionType": {"scenario": "TRANSFER", "initiator": "PAYER", "initiatorType": "CONSUMER"},
    });
    let (status, answer) =
        p.a.send(
            reqwest::Method::POST,
            "/quotes",
            "quotes",
            "1.1",
            Some(quote),
            None,
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    let asked = next(&mut p.b_rx).await;
    assert_eq!(asked.path, "/quotes");
    assert_eq!(asked.body["amount"]["amount"], amount);
    let condition = URL_SAFE_NO_PAD.encode(Sha256::digest([6u8; 32]));
    let expiration = harambee_fspiop::convert::format_datetime_ms(now_ms() + 30_000);
    let (status, _) =
        p.b.callback_to(
            &format!("/quotes/{quote_id}"),
            "quotes",
            Some("fsp-a"),
            json!({
                "transferAmount": {"amount": amount, "currency": CURRENCY},
                "payeeReceiveAmount": {"amount": amount, "currency": CURRENCY},
                "expiration": expiration,
                "ilpPacket": ILP_PACKET,
                "condition": condition,
            }),
        )
        .await;
    assert_eq!(status, 200);
    let quoted = next(&mut p.a_rx).await;
    assert_eq!(quoted.path, format!("/quotes/{quote_id}"));
    assert_eq!(
        quoted.body["transferAmount"]["amount"], amount,
        "{}",
        quoted.body
    );

    let id = uuid::Uuid::new_v4().to_string();
    let mut body = transfer_body(&id);
    body["amount"]["amount"] = json!(amount);
    p.prepared_as(&id, &body).await;
    let status = p
        .answer(
            &id,
            "1.1",
            json!({
                "transferState": "COMMITTED",
                "fulfilment": URL_SAFE_NO_PAD.encode([6u8; 32]),
                "completedTimestamp": harambee_fspiop::convert::format_datetime_ms(now_ms()),
            }),
        )
        .await;
    assert_eq!(status, 200);
    let done = next(&mut p.a_rx).await;
    assert_eq!(done.body["transferState"], "COMMITTED", "{}", done.body);
    assert_eq!(p.s.position("fsp-a").await.position, amount);
    assert_eq!(p.s.position("fsp-b").await.position, "-60.1234");
    // A fifth decimal is more than the ledger keeps: refused at once.
    let mut five = transfer_body(&uuid::Uuid::new_v4().to_string());
    five["amount"]["amount"] = json!("1.00001");
    let (status, answer) =
        p.a.send(
            reqwest::Method::POST,
            "/transfers",
            "transfers",
            "1.1",
            Some(five),
            None,
        )
        .await;
    assert_eq!(status, 400, "{answer}");
}
