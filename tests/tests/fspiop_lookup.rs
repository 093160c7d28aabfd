//! The FSPIOP v1.1 API's account lookup, as a Mojaloop DFSP uses it: a
//! real HTTP client sends the requests, and a real HTTP server stands for
//! the DFSP's callback endpoints. The owner of the party looked up is a
//! gRPC participant: both protocols on one directory.

use std::time::Duration;

use axum::http::Method;
use harambee_tests::fspiop::*;
use harambee_tests::*;
use serde_json::{Value, json};

#[tokio::test]
async fn an_fspiop_dfsp_registers_a_party_and_finds_a_grpc_participants_party() {
    let mut s = TestSwitch::start().await;
    let wallet = s
        .onboard("wallet-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let (callbacks, mut rx) = callback_server().await;
    let dfsp = fspiop_participant(&s, "fsp-a", &callbacks).await;

    // ALS: the DFSP registers its customer, and finds it again.
    let (status, body) = dfsp
        .send(
            reqwest::Method::POST,
            "/participants/MSISDN/254711000001",
            "participants",
            "1.1",
            Some(json!({"fspId": "fsp-a", "currency": CURRENCY})),
            None,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let put = next(&mut rx).await;
    assert_eq!(
        (put.method, put.path.as_str()),
        (Method::PUT, "/participants/MSISDN/254711000001")
    );
    assert_eq!(put.body, json!({"fspId": "fsp-a"}));
    assert_eq!(put.headers["fspiop-source"], "Hub");
    assert_eq!(put.headers["fspiop-destination"], "fsp-a");
    assert_eq!(
        put.headers["content-type"],
        "application/vnd.interoperability.participants+json;version=1.1"
    );
    assert!(put.headers.contains_key("date"));
    let (status, _) = dfsp
        .send(
            reqwest::Method::GET,
            "/participants/MSISDN/254711000001",
            "participants",
            "1",
            None,
            None,
        )
        .await;
    assert_eq!(status, 202);
    let put = next(&mut rx).await;
    assert_eq!(put.body, json!({"fspId": "fsp-a"}));

    // A gRPC participant's customer, found through the same directory and
    // described by its owner.
    let customer = wallet.customer(1);
    let (status, _) = dfsp
        .send(
            reqwest::Method::GET,
            &format!("/parties/MSISDN/{}", customer.id),
            "parties",
            "1.0",
            None,
            None,
        )
        .await;
    assert_eq!(status, 202);
    let put = next(&mut rx).await;
    assert_eq!(put.path, format!("/parties/MSISDN/{}", customer.id));
    let party = &put.body["party"];
    assert_eq!(party["partyIdInfo"]["fspId"], "wallet-b", "{}", put.body);
    assert_eq!(party["partyIdInfo"]["partyIdType"], "MSISDN");
    assert_eq!(
        party["partyIdInfo"]["partyIdentifier"],
        customer.id.as_str()
    );
    assert_eq!(party["name"], "wallet-b customer 1");

    // Nobody owns it: the error callback, 3204.
    let (status, _) = dfsp
        .send(
            reqwest::Method::GET,
            "/parties/MSISDN/254799999999",
            "parties",
            "1",
            None,
            None,
        )
        .await;
    assert_eq!(status, 202);
    let error = next(&mut rx).await;
    assert_eq!(error.path, "/parties/MSISDN/254799999999/error");
    assert_eq!(
        error.body["errorInformation"]["errorCode"], "3204",
        "{}",
        error.body
    );

    // Deregistered, it is gone.
    let (status, _) = dfsp
        .send(
            reqwest::Method::DELETE,
            "/participants/MSISDN/254711000001",
            "participants",
            "1.1",
            None,
            None,
        )
        .await;
    assert_eq!(status, 202);
    assert_eq!(next(&mut rx).await.body, json!({"fspId": "fsp-a"}));
    let (status, _) = dfsp
        .send(
            reqwest::Method::GET,
            "/participants/MSISDN/254711000001",
            "participants",
            "1",
            None,
            None,
        )
        .await;
    assert_eq!(status, 202);
    let error = next(&mut rx).await;
    assert_eq!(error.path, "/participants/MSISDN/254711000001/error");
    assert_eq!(error.body["errorInformation"]["errorCode"], "3204");
}

#[tokio::test]
async fn bad_requests_are_refused_at_once_and_call_nothing_back() {
    let s = TestSwitch::start().await;
    let (callbacks, mut rx) = callback_server().await;
    let dfsp = fspiop_participant(&s, "fsp-a", &callbacks).await;
    let code = |body: &Value| {
        body["errorInformation"]["errorCode"]
            .as_str()
            .map(str::to_string)
    };

    // An unsupported version: 406, 3001.
    let (status, body) = dfsp
        .send(
            reqwest::Method::GET,
            "/parties/MSISDN/254711000001",
            "parties",
            "2.0",
            None,
            None,
        )
        .await;
    assert_eq!(
        (status, code(&body).as_deref()),
        (406, Some("3001")),
        "{body}"
    );
    // No credential, or another participant's name in FSPIOP-Source: 3105.
    let anonymous = Dfsp {
        credential: String::new(),
        ..dfsp.clone()
    };
    let (status, body) = anonymous
        .send(
            reqwest::Method::GET,
            "/parties/MSISDN/254711000001",
            "parties",
            "1",
            None,
            None,
        )
        .await;
    assert_eq!(
        (status, code(&body).as_deref()),
        (400, Some("3105")),
        "{body}"
    );
    let impostor = Dfsp {
        name: "fsp-z".into(),
        ..dfsp.clone()
    };
    let (status, body) = impostor
        .send(
            reqwest::Method::GET,
            "/parties/MSISDN/254711000001",
            "parties",
            "1",
            None,
            None,
        )
        .await;
    assert_eq!(
        (status, code(&body).as_deref()),
        (400, Some("3105")),
        "{body}"
    );
    // A bad party type: 3100; an id with braces (a template left
    // unfilled) or blanks: 3101, "Invalid ID".
    for (path, resource) in [
        ("/parties/MSISDN/%7BID%7D", "parties"),
        ("/parties/MSISDN/2547%2011", "parties"),
        ("/participants/MSISDN/%7BID%7D", "participants"),
    ] {
        let (status, body) = dfsp
            .send(reqwest::Method::GET, path, resource, "1", None, None)
            .await;
        assert_eq!(
            (status, code(&body).as_deref()),
            (400, Some("3101")),
            "{path}: {body}"
        );
        assert!(
            body["errorInformation"]["errorDescription"]
                .as_str()
                .is_some_and(|d| d.contains("Invalid ID")),
            "{body}"
        );
    }
    let (status, body) = dfsp
        .send(
            reqwest::Method::GET,
            "/parties/PHONE/1",
            "parties",
            "1",
            None,
            None,
        )
        .await;
    assert_eq!(
        (status, code(&body).as_deref()),
        (400, Some("3100")),
        "{body}"
    );
    // Not JSON: 3101.
    let (status, body) = dfsp
        .send(
            reqwest::Method::POST,
            "/participants/MSISDN/254711000001",
            "participants",
            "1.1",
            Some(Value::String("{not json".into())),
            None,
        )
        .await;
    assert_eq!(
        (status, code(&body).as_deref()),
        (400, Some("3101")),
        "{body}"
    );
    // None of them made a callback.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), rx.recv())
            .await
            .is_err(),
        "no callback for a refused request"
    );
}

#[tokio::test]
async fn a_grpc_participant_finds_a_party_an_fspiop_dfsp_owns() {
    let mut s = TestSwitch::start().await;
    let bank = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let (callbacks, mut rx) = callback_server().await;
    let owner = fspiop_participant(&s, "fsp-b", &callbacks).await;
    let (status, _) = owner
        .send(
            reqwest::Method::POST,
            "/participants/MSISDN/254722000002",
            "participants",
            "1.1",
            Some(json!({"fspId": "fsp-b"})),
            None,
        )
        .await;
    assert_eq!(status, 202);
    assert_eq!(next(&mut rx).await.body, json!({"fspId": "fsp-b"}));

    let customer = harambee_proto::v1::PartyIdentifier {
        r#type: harambee_proto::v1::PartyIdType::Msisdn as i32,
        id: "254722000002".into(),
        sub_id: String::new(),
    };
    let mut api = bank.api.clone();
    let asked = customer.clone();
    let lookup = tokio::spawn(async move {
        api.lookup_party(harambee_proto::v1::LookupPartyRequest {
            party: Some(asked),
            currency: String::new(),
        })
        .await
    });
    // The switch asks the owner, on its PARTIES_GET endpoint, for the
    // requester.
    let get = next(&mut rx).await;
    assert_eq!(
        (get.method, get.path.as_str()),
        (Method::GET, "/parties/MSISDN/254722000002")
    );
    assert_eq!(get.headers["fspiop-source"], "bank-a");
    assert_eq!(get.headers["fspiop-destination"], "fsp-b");
    assert!(
        get.headers["accept"]
            .to_str()
            .is_ok_and(|a| a.contains("parties+json"))
    );
    let status = owner
        .callback(
            "/parties/MSISDN/254722000002",
            "parties",
            "bank-a",
            json!({"party": {
                "partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": "254722000002", "fspId": "fsp-b"},
                "name": "Amani Otieno",
                "personalInfo": {"complexName": {"firstName": "Amani", "lastName": "Otieno"}, "dateOfBirth": "1990-01-31"},
            }}),
        )
        .await;
    assert_eq!(status, 200);
    let found = lookup
        .await
        .expect("the lookup task")
        .expect("the lookup")
        .into_inner()
        .party
        .expect("a party");
    assert_eq!(found.fsp_id, "fsp-b");
    assert_eq!(found.display_name, "Amani Otieno");
    assert_eq!(found.name.map(|n| n.first_name), Some("Amani".into()));
    assert_eq!(found.date_of_birth, "1990-01-31");

    // The owner says it does not know the party: its error, passed on.
    let mut api = bank.api.clone();
    let lookup = tokio::spawn(async move {
        api.lookup_party(harambee_proto::v1::LookupPartyRequest {
            party: Some(customer),
            currency: String::new(),
        })
        .await
    });
    let get = next(&mut rx).await;
    assert_eq!(get.path, "/parties/MSISDN/254722000002");
    let status = owner
        .callback(
            "/parties/MSISDN/254722000002/error",
            "parties",
            "bank-a",
            json!({"errorInformation": {"errorCode": "3204", "errorDescription": "closed account"}}),
        )
        .await;
    assert_eq!(status, 200);
    let refused = lookup.await.expect("the lookup task").expect_err("refused");
    assert_eq!(code(&refused), 3204);
    assert!(
        refused.message().contains("closed account"),
        "{}",
        refused.message()
    );
}

#[tokio::test]
async fn callbacks_to_the_switch_that_name_nobody_are_taken_and_participant_answers_are_passed_on()
{
    let s = TestSwitch::start().await;
    let (a_url, mut a_rx) = callback_server().await;
    let (b_url, _b_rx) = callback_server().await;
    let _a = fspiop_participant(&s, "fsp-a", &a_url).await;
    let b = fspiop_participant(&s, "fsp-b", &b_url).await;
    // PUT /parties without FSPIOP-Destination: 200, and nothing follows.
    let (status, body) = b
        .callback_to(
            "/parties/MSISDN/254700000001",
            "parties",
            None,
            json!({"party": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": 254700000001u64}}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // PUT /participants/{Type}/{ID}/error (and with a sub-id) for fsp-a:
    // 200, and fsp-a gets it as it came, at its registered URL.
    for path in [
        "/participants/MSISDN/254700000001/error",
        "/participants/MSISDN/254700000001/home/error",
    ] {
        let error = json!({"errorInformation": {"errorCode": "5100", "errorDescription": "no"}});
        let (status, body) = b
            .callback_to(path, "participants", Some("fsp-a"), error.clone())
            .await;
        assert_eq!(status, 200, "{path}: {body}");
        let got = next(&mut a_rx).await;
        assert_eq!(got.body, error, "{path}");
        assert_eq!(got.headers["fspiop-source"], "fsp-b");
    }
    // A transfer id that is not a UUID is malformed, in Mojaloop's words.
    let (status, body) = b
        .send(
            reqwest::Method::POST,
            "/transfers",
            "transfers",
            "1.1",
            Some(json!({
                "transferId": "not-a-uuid",
                "payerFsp": "fsp-b",
                "payeeFsp": "fsp-a",
                "amount": {"amount": "1", "currency": CURRENCY},
                "ilpPacket": ILP_PACKET,
                "condition": "GRzLaTP7DJ9t4P-a_BA0WA9wzzlsugf00-Tn6kESAfM",
                "expiration": harambee_fspiop::convert::format_datetime_ms(now_ms() + 30_000),
            })),
            None,
        )
        .await;
    assert_eq!(
        (status, &body["errorInformation"]["errorCode"]),
        (400, &json!("3101")),
        "{body}"
    );
    assert!(
        body["errorInformation"]["errorDescription"]
            .as_str()
            .is_some_and(|d| d.starts_with("Malformed syntax") && d.contains("Transfer Id")),
        "{body}"
    );
}

#[tokio::test]
async fn ids_of_the_wrong_form_for_their_type_and_registrations_for_others_are_refused_by_the_error_callback()
 {
    let s = TestSwitch::start().await;
    let (callbacks, mut rx) = callback_server().await;
    let dfsp = fspiop_participant(&s, "fsp-a", &callbacks).await;
    for (path, named) in [
        ("/parties/MSISDN/not-a-phone", "MSISDN"),
        ("/parties/EMAIL/not-an-email", "EMAIL"),
        ("/parties/IBAN/notaniban", "IBAN"),
    ] {
        let (status, body) = dfsp
            .send(reqwest::Method::GET, path, "parties", "1.1", None, None)
            .await;
        assert_eq!(status, 202, "{path}: {body}");
        let error = next(&mut rx).await;
        assert_eq!(error.path, format!("{path}/error"));
        assert_eq!(
            error.body["errorInformation"]["errorCode"], "3101",
            "{}",
            error.body
        );
        assert!(
            error.body["errorInformation"]["errorDescription"]
                .as_str()
                .is_some_and(|d| d.contains(named)),
            "{}",
            error.body
        );
    }
    // A party registered for someone else: 202, then 3000.
    let (status, body) = dfsp
        .send(
            reqwest::Method::POST,
            "/participants/MSISDN/254711000001",
            "participants",
            "1.1",
            Some(json!({"fspId": "fsp-z"})),
            None,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let error = next(&mut rx).await;
    assert_eq!(error.path, "/participants/MSISDN/254711000001/error");
    assert_eq!(
        error.body["errorInformation"]["errorCode"], "3000",
        "{}",
        error.body
    );
    // Of the right forms, the lookup goes on (nobody owns them: 3204).
    for path in [
        "/parties/EMAIL/ann@example.org",
        "/parties/IBAN/KE12ABCD0001234567",
    ] {
        let (status, body) = dfsp
            .send(reqwest::Method::GET, path, "parties", "1.1", None, None)
            .await;
        assert_eq!(status, 202, "{path}: {body}");
        let error = next(&mut rx).await;
        assert_eq!(
            error.body["errorInformation"]["errorCode"], "3204",
            "{path}: {}",
            error.body
        );
    }
}
