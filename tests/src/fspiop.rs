//! A Mojaloop DFSP on the FSPIOP API, for the tests: a real HTTP client
//! for its requests and callbacks, and a real HTTP server for the
//! switch's callbacks to it.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Uri};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::{CURRENCY, OPERATOR_TOKEN, TestSwitch};

/// An ILP packet (Mojaloop's sample) for transfers whose payee is the
/// test itself: the switch carries it and never reads it.
pub const ILP_PACKET: &str = "AYIBgQAAAAAAAASwNGxldmVsb25lLmRmc3AxLm1lci45T2RTOF81MDdqUUZERmZlakgyOVc4bXFmNEpLMHlGTFGCAUBQU0svMS4wCk5vbmNlOiB1SXlweUYzY3pYSXBFdzVVc05TYWh3CkVuY3J5cHRpb246IG5vbmUKUGF5bWVudC1JZDogMTMyMzZhM2ItOGZhOC00MTYzLTg0NDctNGMzZWQzZGE5OGE3CgpDb250ZW50LUxlbmd0aDogMTM1CkNvbnRlbnQtVHlwZTogYXBwbGljYXRpb24vanNvbgpTZW5kZXItSWRlbnRpZmllcjogOTI4MDYzOTEKCiJ7XCJmZWVcIjowLFwidHJhbnNmZXJDb2RlXCI6XCJpbnZvaWNlXCIsXCJkZWJpdE5hbWVcIjpcImFsaWNlIGNvb3BlclwiLFwiY3JlZGl0TmFtZVwiOlwibWVyIGNoYW50XCIsXCJkZWJpdElkZW50aWZpZXJcIjpcIjkyODA2MzkxXCJ9IgA";

/// One callback the DFSP received.
#[derive(Debug)]
pub struct Received {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
    /// The body as it came.
    pub raw: String,
}

/// A DFSP's callback server: records every request, answers 200.
pub async fn callback_server() -> (String, mpsc::Receiver<Received>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    callback_server_on(listener)
}

/// [`callback_server`] on a listener of the caller's.
pub fn callback_server_on(listener: tokio::net::TcpListener) -> (String, mpsc::Receiver<Received>) {
    let (tx, rx) = mpsc::channel(64);
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            async move {
                let raw = String::from_utf8_lossy(&body).to_string();
                let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let _ = tx
                    .send(Received {
                        method,
                        path: uri.path().to_string(),
                        headers,
                        body,
                        raw,
                    })
                    .await;
                axum::http::StatusCode::OK
            }
        },
    );
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), rx)
}

pub async fn next(rx: &mut mpsc::Receiver<Received>) -> Received {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a callback within 10 s")
        .expect("the callback server runs")
}

#[derive(Clone)]
pub struct Dfsp {
    pub http: reqwest::Client,
    pub api: String,
    pub name: String,
    pub credential: String,
}

impl Dfsp {
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        resource: &str,
        version: &str,
        body: Option<Value>,
        credential: Option<&str>,
    ) -> (u16, Value) {
        let media = format!("application/vnd.interoperability.{resource}+json;version={version}");
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.api))
            .header("accept", &media)
            .header("date", "Tue, 01 Dec 2026 19:00:00 GMT")
            .header("fspiop-source", &self.name)
            .header("fspiop-signature", self.signature());
        if let Some(c) = credential
            .or(Some(self.credential.as_str()))
            .filter(|c| !c.is_empty())
        {
            request = request.bearer_auth(c);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", &media)
                .body(body.to_string());
        }
        let response = request.send().await.expect("the FSPIOP API answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

impl Dfsp {
    /// The `FSPIOP-Signature` this DFSP puts on its messages: not a real
    /// JWS, but the switch must pass it on untouched all the same.
    pub fn signature(&self) -> String {
        format!(
            "{{\"signature\":\"signed-by-{}\",\"protectedHeader\":\"e30\"}}",
            self.name
        )
    }

    /// A callback of this DFSP to the switch, for `destination`.
    pub async fn callback(
        &self,
        path: &str,
        resource: &str,
        destination: &str,
        body: Value,
    ) -> u16 {
        let (status, answer) = self
            .callback_to(path, resource, Some(destination), body)
            .await;
        if status >= 300 {
            eprintln!("callback refused: {answer}");
        }
        status
    }

    /// A callback of this DFSP to the switch, for `destination` (none:
    /// without `FSPIOP-Destination`): the status and the answer's body.
    pub async fn callback_to(
        &self,
        path: &str,
        resource: &str,
        destination: Option<&str>,
        body: Value,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .put(format!("{}{path}", self.api))
            .bearer_auth(&self.credential)
            .header(
                "content-type",
                format!("application/vnd.interoperability.{resource}+json;version=1.1"),
            )
            .header("date", "Tue, 01 Dec 2026 19:00:00 GMT")
            .header("fspiop-source", &self.name)
            .header("fspiop-signature", self.signature());
        if let Some(to) = destination {
            request = request.header("fspiop-destination", to);
        }
        let response = request
            .body(body.to_string())
            .send()
            .await
            .expect("the FSPIOP API answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

/// An FSPIOP participant onboarded through the admin API, its callbacks
/// at `callbacks`.
pub async fn fspiop_participant(s: &TestSwitch, name: &str, callbacks: &str) -> Dfsp {
    let http = reqwest::Client::new();
    let admin = format!("http://{}", s.running().admin_addr.expect("admin API"));
    // The hub's accounts in the currency come first, as in central-ledger.
    let status = http
        .post(format!(
            "{admin}/participants/{}/accounts",
            s.config.fspiop.hub_name
        ))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&json!({"type": "HUB_RECONCILIATION", "currency": CURRENCY}))
        .send()
        .await
        .expect("admin")
        .status();
    assert_eq!(status.as_u16(), 201, "the hub's accounts");
    let created: Value = http
        .post(format!("{admin}/participants"))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&json!({"name": name, "currency": CURRENCY}))
        .send()
        .await
        .expect("admin")
        .json()
        .await
        .expect("json");
    let credential = created["credential"]
        .as_str()
        .expect("a credential")
        .to_string();
    for (kind, path) in [
        (
            "FSPIOP_CALLBACK_URL_PARTICIPANT_PUT",
            "/participants/{{partyIdType}}/{{partyIdentifier}}",
        ),
        (
            "FSPIOP_CALLBACK_URL_PARTICIPANT_PUT_ERROR",
            "/participants/{{partyIdType}}/{{partyIdentifier}}/error",
        ),
        (
            "FSPIOP_CALLBACK_URL_PARTICIPANT_SUB_ID_PUT_ERROR",
            "/participants/{{partyIdType}}/{{partyIdentifier}}/{{partySubIdOrType}}/error",
        ),
        (
            "FSPIOP_CALLBACK_URL_PARTIES_GET",
            "/parties/{{partyIdType}}/{{partyIdentifier}}",
        ),
        (
            "FSPIOP_CALLBACK_URL_PARTIES_PUT",
            "/parties/{{partyIdType}}/{{partyIdentifier}}",
        ),
        ("FSPIOP_CALLBACK_URL_QUOTES", ""),
        (
            "FSPIOP_CALLBACK_URL_TRANSFER_ERROR",
            "/transfers/{{transferId}}/error",
        ),
        (
            "FSPIOP_CALLBACK_URL_TRANSFER_PUT",
            "/transfers/{{transferId}}",
        ),
        ("FSPIOP_CALLBACK_URL_TRANSFER_POST", "/transfers"),
        (
            "FSPIOP_CALLBACK_URL_PARTIES_PUT_ERROR",
            "/parties/{{partyIdType}}/{{partyIdentifier}}/error",
        ),
    ] {
        let status = http
            .post(format!("{admin}/participants/{name}/endpoints"))
            .bearer_auth(OPERATOR_TOKEN)
            .json(&json!({"type": kind, "value": format!("{callbacks}{path}")}))
            .send()
            .await
            .expect("admin")
            .status();
        assert_eq!(status.as_u16(), 201);
    }
    Dfsp {
        http,
        api: format!("http://{}", s.running().fspiop_addr.expect("FSPIOP API")),
        name: name.to_string(),
        credential,
    }
}

/// Gives an FSPIOP participant a net debit cap and settlement funds of
/// `amount`, through the admin API.
/// The participant `name`'s account of `kind` (`POSITION`, `SETTLEMENT`)
/// as the admin API shows it.
pub async fn account(s: &TestSwitch, name: &str, kind: &str) -> Value {
    let admin = format!("http://{}", s.running().admin_addr.expect("admin API"));
    let accounts: Value = reqwest::Client::new()
        .get(format!("{admin}/participants/{name}/accounts"))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .expect("admin")
        .json()
        .await
        .expect("json");
    accounts
        .as_array()
        .and_then(|a| a.iter().find(|a| a["ledgerAccountType"] == kind))
        .cloned()
        .unwrap_or_else(|| panic!("{name} has no {kind} account: {accounts}"))
}

pub async fn fund(s: &TestSwitch, name: &str, amount: &str) {
    let http = reqwest::Client::new();
    let admin = format!("http://{}", s.running().admin_addr.expect("admin API"));
    let status = http
        .post(format!(
            "{admin}/participants/{name}/initialPositionAndLimits"
        ))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&json!({
            "currency": CURRENCY,
            "limit": {"type": "NET_DEBIT_CAP", "value": amount},
            "initialPosition": 0,
        }))
        .send()
        .await
        .expect("admin")
        .status();
    assert_eq!(status.as_u16(), 201);
    let id = account(s, name, "SETTLEMENT").await["id"]
        .as_u64()
        .expect("a settlement account");
    let status = http
        .post(format!("{admin}/participants/{name}/accounts/{id}"))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&json!({
            "transferId": uuid::Uuid::new_v4().to_string(),
            "action": "recordFundsIn",
            "reason": "opening deposit",
            "amount": {"amount": amount, "currency": CURRENCY},
        }))
        .send()
        .await
        .expect("admin")
        .status();
    assert_eq!(status.as_u16(), 202);
}

/// `../shared/ttk`: Mojaloop's tools as this project runs them.
pub fn shared_ttk() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/ttk")
}

/// Where `scripts/test setup` installs Mojaloop's tools
/// (`~/.cache/harambee-ttk`, or `$TTK_DIR`).
pub fn ttk_dir() -> std::path::PathBuf {
    std::env::var_os("TTK_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/harambee-ttk")
        })
}
