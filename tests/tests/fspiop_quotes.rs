//! Quotes over the FSPIOP v1.1 API, both directions: an FSPIOP payer
//! quoting a gRPC payee, and a gRPC payer quoting an FSPIOP payee, with a
//! real HTTP client and server standing for the Mojaloop DFSP.

use axum::http::Method;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use harambee_proto::v1::{AmountType, Money, Party, PartyIdType, PartyIdentifier, QuoteRequest};
use harambee_tests::fspiop::*;
use harambee_tests::*;
use serde_json::{Value, json};

fn quote_body(quote_id: &str, payer: &str, payee: &str, payee_party: &str, amount: &str) -> Value {
    json!({
        "quoteId": quote_id,
        "transactionId": uuid::Uuid::new_v4().to_string(),
        "payee": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": payee_party, "fspId": payee}},
        "payer": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": "254711000009", "fspId": payer}},
        "amountType": "SEND",
        "amount": {"amount": amount, "currency": CURRENCY},
        "transactionType": {"scenario": "TRANSFER", "initiator": "PAYER", "initiatorType": "CONSUMER"},
    })
}

#[tokio::test]
async fn an_fspiop_payer_quotes_a_grpc_payee_once_per_quote_id() {
    let mut s = TestSwitch::start().await;
    let wallet = s
        .onboard("wallet-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let (callbacks, mut rx) = callback_server().await;
    let dfsp = fspiop_participant(&s, "fsp-a", &callbacks).await;
    let quote_id = uuid::Uuid::new_v4().to_string();
    let body = quote_body(
        &quote_id,
        "fsp-a",
        "wallet-b",
        &wallet.customer(0).id,
        "100",
    );
    let (status, answer) = dfsp
        .send(
            reqwest::Method::POST,
            "/quotes",
            "quotes",
            "1.1",
            Some(body.clone()),
            None,
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    let put = next(&mut rx).await;
    assert_eq!(
        (put.method, put.path.clone()),
        (Method::PUT, format!("/quotes/{quote_id}"))
    );
    assert_eq!(put.headers["fspiop-source"], "wallet-b");
    assert_eq!(put.headers["fspiop-destination"], "fsp-a");
    assert_eq!(
        put.body["transferAmount"]["currency"], CURRENCY,
        "{}",
        put.body
    );
    assert!(
        put.body["ilpPacket"]
            .as_str()
            .is_some_and(|p| !p.is_empty())
    );
    assert_eq!(put.body["condition"].as_str().map(str::len), Some(43));
    assert!(
        put.body["expiration"]
            .as_str()
            .is_some_and(|e| e.ends_with('Z'))
    );
    let first = put.body.clone();

    // The same request again: the same quote.
    let (status, _) = dfsp
        .send(
            reqwest::Method::POST,
            "/quotes",
            "quotes",
            "1.1",
            Some(body.clone()),
            None,
        )
        .await;
    assert_eq!(status, 202);
    assert_eq!(next(&mut rx).await.body, first);
    // The same id with other content: 3106, on the error callback.
    let mut changed = body;
    changed["amount"]["amount"] = json!("101");
    let (status, _) = dfsp
        .send(
            reqwest::Method::POST,
            "/quotes",
            "quotes",
            "1.1",
            Some(changed),
            None,
        )
        .await;
    assert_eq!(status, 202);
    let error = next(&mut rx).await;
    assert_eq!(error.path, format!("/quotes/{quote_id}/error"));
    assert_eq!(
        error.body["errorInformation"]["errorCode"], "3106",
        "{}",
        error.body
    );
    // Read back.
    let (status, _) = dfsp
        .send(
            reqwest::Method::GET,
            &format!("/quotes/{quote_id}"),
            "quotes",
            "1",
            None,
            None,
        )
        .await;
    assert_eq!(status, 202);
    assert_eq!(next(&mut rx).await.body, first);
    // A malformed id is refused at once.
    let (status, answer) = dfsp
        .send(
            reqwest::Method::GET,
            "/quotes/not-a-uuid",
            "quotes",
            "1",
            None,
            None,
        )
        .await;
    assert_eq!(
        (status, &answer["errorInformation"]["errorCode"]),
        (400, &json!("3100"))
    );
}

#[tokio::test]
async fn a_grpc_payer_quotes_an_fspiop_payee() {
    let mut s = TestSwitch::start().await;
    let bank = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let (callbacks, mut rx) = callback_server().await;
    let payee = fspiop_participant(&s, "fsp-b", &callbacks).await;
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
            amount: "250".into(),
            currency: CURRENCY.into(),
        }),
        ..Default::default()
    };
    let mut api = bank.api.clone();
    let quoting = tokio::spawn(async move { api.request_quote(request).await });
    let post = next(&mut rx).await;
    assert_eq!((post.method, post.path.as_str()), (Method::POST, "/quotes"));
    assert_eq!(post.headers["fspiop-source"], "bank-a");
    assert_eq!(post.headers["fspiop-destination"], "fsp-b");
    assert_eq!(post.body["quoteId"], quote_id.as_str());
    assert_eq!(
        post.body["amount"],
        json!({"amount": "250", "currency": CURRENCY})
    );
    assert_eq!(post.body["payee"]["partyIdInfo"]["fspId"], "fsp-b");
    let expiration = harambee_fspiop_datetime(now_ms() + 60_000);
    let status = payee
        .callback(
            &format!("/quotes/{quote_id}"),
            "quotes",
            "bank-a",
            json!({
                "transferAmount": {"amount": "250", "currency": CURRENCY},
                "payeeReceiveAmount": {"amount": "250", "currency": CURRENCY},
                "expiration": expiration,
                "ilpPacket": "AYIBgQAAAAAAAASwNGxldmVsb25lLmRmc3AxLm1lci45T2RTOF81MDdqUUZERmZlakgyOVc4bXFmNEpLMHlGTFGCAUBQU0svMS4wCk5vbmNlOiB1SXlweUYzY3pYSXBFdzVVc05TYWh3CkVuY3J5cHRpb246IG5vbmUKUGF5bWVudC1JZDogMTMyMzZhM2ItOGZhOC00MTYzLTg0NDctNGMzZWQzZGE5OGE3CgpDb250ZW50LUxlbmd0aDogMTM1CkNvbnRlbnQtVHlwZTogYXBwbGljYXRpb24vanNvbgpTZW5kZXItSWRlbnRpZmllcjogOTI4MDYzOTEKCiJ7XCJmZWVcIjowLFwidHJhbnNmZXJDb2RlXCI6XCJpbnZvaWNlXCIsXCJkZWJpdE5hbWVcIjpcImFsaWNlIGNvb3BlclwiLFwiY3JlZGl0TmFtZVwiOlwibWVyIGNoYW50XCIsXCJkZWJpdElkZW50aWZpZXJcIjpcIjkyODA2MzkxXCJ9IgA",
                "condition": "GRzLaTP7DJ9t4P-a_BA0WA9wzzlsugf00-Tn6kESAfM",
            }),
        )
        .await;
    assert_eq!(status, 200);
    let quote = quoting
        .await
        .expect("the quote task")
        .expect("the quote")
        .into_inner();
    assert_eq!(quote.quote_id, quote_id);
    assert_eq!(quote.payee_fsp, "fsp-b");
    assert_eq!(
        quote.condition,
        "GRzLaTP7DJ9t4P-a_BA0WA9wzzlsugf00-Tn6kESAfM"
    );
    assert_eq!(quote.transfer_amount.map(|m| m.amount), Some("250".into()));
}

/// An FSPIOP DateTime.
fn harambee_fspiop_datetime(ms: i64) -> String {
    harambee_fspiop::convert::format_datetime_ms(ms)
}

#[tokio::test]
async fn a_quote_request_without_a_valid_payer_is_refused_at_once() {
    let s = TestSwitch::start().await;
    let (callbacks, _rx) = callback_server().await;
    let dfsp = fspiop_participant(&s, "fsp-a", &callbacks).await;
    // An empty identifier: 3100, naming it.
    let mut body = quote_body(
        &uuid::Uuid::new_v4().to_string(),
        "fsp-a",
        "fsp-b",
        "254722000001",
        "10",
    );
    body["payer"]["partyIdInfo"]["partyIdentifier"] = json!("");
    let (status, answer) = dfsp
        .send(
            reqwest::Method::POST,
            "/quotes",
            "quotes",
            "1.1",
            Some(body.clone()),
            None,
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["errorInformation"]["errorCode"], "3100", "{answer}");
    assert!(
        answer["errorInformation"]["errorDescription"]
            .as_str()
            .is_some_and(|d| d.contains("partyIdentifier")),
        "{answer}"
    );
    // No payer at all: FSPIOP requires it (3102).
    body.as_object_mut().map(|b| b.remove("payer"));
    let (status, answer) = dfsp
        .send(
            reqwest::Method::POST,
            "/quotes",
            "quotes",
            "1.1",
            Some(body),
            None,
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["errorInformation"]["errorCode"], "3102", "{answer}");
}

#[tokio::test]
async fn a_party_whose_names_or_date_of_birth_break_the_schema_is_refused_at_once_naming_them() {
    let s = TestSwitch::start().await;
    let (callbacks, _rx) = callback_server().await;
    let dfsp = fspiop_participant(&s, "fsp-a", &callbacks).await;
    let send = |personal: Value| {
        let mut body = quote_body(
            &uuid::Uuid::new_v4().to_string(),
            "fsp-a",
            "fsp-b",
            "254722000001",
            "10",
        );
        body["payer"]["personalInfo"] = personal;
        let dfsp = dfsp.clone();
        async move {
            dfsp.send(
                reqwest::Method::POST,
                "/quotes",
                "quotes",
                "1.1",
                Some(body),
                None,
            )
            .await
        }
    };
    for (personal, named) in [
        (
            json!({"complexName": {"firstName": "Ann", "lastName": "@#4768"}}),
            "lastName",
        ),
        (
            json!({"complexName": {"firstName": "Mats12@#$3"}}),
            "firstName",
        ),
        (json!({"dateOfBirth": "1983-25-25"}), "dateOfBirth"),
        (json!({"dateOfBirth": null}), "dateOfBirth"),
        (json!({"dateOfBirth": "1980/05/05"}), "dateOfBirth"),
    ] {
        let (status, answer) = send(personal.clone()).await;
        assert_eq!(status, 400, "{personal}: {answer}");
        assert_eq!(answer["errorInformation"]["errorCode"], "3100", "{answer}");
        assert!(
            answer["errorInformation"]["errorDescription"]
                .as_str()
                .is_some_and(|d| d.contains(named)),
            "{personal}: {answer}"
        );
    }
    // Names of any script, absent parts and keys the schema does not know
    // are accepted.
    for personal in [
        json!({"complexName": {"firstName": "Zoë", "lastName": "မောင်"}, "dateOfBirth": "1984-01-01"}),
        json!({"complexName": {"FirstName": "M@ts"}}),
        json!({}),
    ] {
        let (status, answer) = send(personal.clone()).await;
        assert_eq!(status, 202, "{personal}: {answer}");
    }
}

#[tokio::test]
async fn a_payees_quote_answer_without_its_mandatory_fields_is_refused_and_one_to_nobody_is_dropped()
 {
    let s = TestSwitch::start().await;
    let (callbacks, _rx) = callback_server().await;
    let dfsp = fspiop_participant(&s, "fsp-b", &callbacks).await;
    let id = uuid::Uuid::new_v4().to_string();
    let answer = json!({
        "transferAmount": {"amount": "10", "currency": CURRENCY},
        "expiration": harambee_fspiop::convert::format_datetime_ms(now_ms() + 60_000),
        "ilpPacket": ILP_PACKET,
    });
    let (status, body) = dfsp
        .callback_to(
            &format!("/quotes/{id}"),
            "quotes",
            Some("fsp-a"),
            answer.clone(),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errorInformation"]["errorCode"], "3102", "{body}");
    assert!(
        body["errorInformation"]["errorDescription"]
            .as_str()
            .is_some_and(|d| d.contains("condition")),
        "{body}"
    );
    let mut whole = answer;
    whole["condition"] = json!(URL_SAFE_NO_PAD.encode([1u8; 32]));
    let (status, body) = dfsp
        .callback_to(&format!("/quotes/{id}"), "quotes", None, whole)
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_quote_goes_where_its_destination_header_says_and_nobody_there_is_an_unsupported_participant()
 {
    let s = TestSwitch::start().await;
    let (callbacks, mut rx) = callback_server().await;
    let dfsp = fspiop_participant(&s, "fsp-a", &callbacks).await;
    let _b = fspiop_participant(&s, "fsp-b", &callbacks).await;
    let id = uuid::Uuid::new_v4().to_string();
    let media = "application/vnd.interoperability.quotes+json;version=1.1";
    // The body names fsp-b, which exists; the header names nobody.
    let response = reqwest::Client::new()
        .post(format!("{}/quotes", dfsp.api))
        .bearer_auth(&dfsp.credential)
        .header("accept", media)
        .header("content-type", media)
        .header("date", "Tue, 01 Dec 2026 19:00:00 GMT")
        .header("fspiop-source", "fsp-a")
        .header("fspiop-destination", "fspNOTFOUND")
        .body(quote_body(&id, "fsp-a", "fsp-b", "254722000001", "10").to_string())
        .send()
        .await
        .expect("the FSPIOP API answers");
    assert_eq!(response.status().as_u16(), 202);
    let error = next(&mut rx).await;
    assert_eq!(error.path, format!("/quotes/{id}/error"));
    assert_eq!(
        error.body["errorInformation"]["errorCode"], "3201",
        "{}",
        error.body
    );
    assert!(
        error.body["errorInformation"]["errorDescription"]
            .as_str()
            .is_some_and(|d| d.starts_with("Destination FSP Error - Unsupported participant")),
        "{}",
        error.body
    );
}
