//! A simulated DFSP on FSPIOP v1.1 over HTTP, as a Mojaloop DFSP's
//! connector is: it serves the requests the switch makes of it (`GET
//! /parties`, `POST /quotes`, `POST /transfers`) with the same customers,
//! quotes and fulfilments as the gRPC [`Dfsp`], answering each with its
//! callback to the switch, and pays as a payer does (lookup, quote and
//! transfer, each answered by the switch's callback to it).
//!
//! It writes its FSPIOP messages itself, from the specification, and
//! shares no code with the switch's FSPIOP adapter: it checks it from
//! outside.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post, put};
use harambee_proto::v1::{
    AmountType, CallbackTransferRequest, Money, Party, PartyIdType, PartyIdentifier, QuoteRequest,
    QuoteTerms,
};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::client::{Outcome, TRANSFER_EXPIRY_MS};
use crate::dfsp::{Customer, Dfsp};

/// Longest wait for the switch's callback to one of the DFSP's requests.
pub const CALLBACK_WAIT_MS: u64 = 30_000;

/// Requests waiting for their callback at once; beyond, a payment fails
/// at once rather than let the table grow.
pub const WAITING_MAX: usize = 100_000;

/// What a callback brought: its body, or its error code.
type Answer = Result<Value, u16>;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// An FSPIOP `DateTime` (ISO 8601, UTC, milliseconds).
pub fn date_time(ms: i64) -> String {
    harambee_core::text::utc_datetime_ms(ms)
}

/// An HTTP `Date` (IMF-fixdate).
fn http_date(ms: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let (y, m, d) = harambee_core::text::civil_from_days(days);
    let rem = secs.rem_euclid(86_400);
    format!(
        "{}, {d:02} {} {y:04} {:02}:{:02}:{:02} GMT",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1).clamp(0, 11) as usize],
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

fn party_type_name(kind: i32) -> &'static str {
    PartyIdType::try_from(kind)
        .unwrap_or(PartyIdType::Unspecified)
        .as_str_name()
        .trim_start_matches("PARTY_ID_TYPE_")
}

fn text(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn money_json(m: Option<&Money>) -> Value {
    m.map(|m| json!({"amount": m.amount, "currency": m.currency}))
        .unwrap_or(Value::Null)
}

fn error_json(code: u16, description: &str) -> Value {
    json!({"errorInformation": {"errorCode": format!("{code:04}"), "errorDescription": description}})
}

/// A quote a payer holds: the payee's DFSP, the transaction and the
/// payee's terms (its `PUT /quotes` body).
#[derive(Clone, Debug)]
pub struct Quoted {
    pub payee_fsp: String,
    pub transaction_id: String,
    pub terms: Value,
}

/// A simulated DFSP on FSPIOP.
pub struct FspiopDfsp {
    /// Customers, quotes and fulfilments, as the gRPC simulator's.
    pub dfsp: Arc<Dfsp>,
    /// The switch's FSPIOP API, `http://host:port`.
    hub: String,
    /// Its bearer credential with the switch.
    credential: String,
    http: reqwest::Client,
    /// By what the callback names; several requests may wait for the
    /// same one (two payments to one party look it up at once).
    waiting: Mutex<HashMap<String, Vec<oneshot::Sender<Answer>>>>,
}

impl FspiopDfsp {
    pub fn new(dfsp: Arc<Dfsp>, hub: &str, credential: &str) -> FspiopDfsp {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()
            .unwrap_or_default();
        FspiopDfsp::with_client(dfsp, hub, credential, http)
    }

    /// A DFSP whose requests go out on `http` (on mTLS: a client on its
    /// certificate, `credential` empty).
    pub fn with_client(
        dfsp: Arc<Dfsp>,
        hub: &str,
        credential: &str,
        http: reqwest::Client,
    ) -> FspiopDfsp {
        FspiopDfsp {
            dfsp,
            hub: hub.trim_end_matches('/').to_string(),
            credential: credential.to_string(),
            http,
            waiting: Mutex::new(HashMap::new()),
        }
    }

    pub fn name(&self) -> &str {
        &self.dfsp.name
    }

    /// A request or callback to the switch.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        resource: &str,
        destination: Option<&str>,
        body: Option<Value>,
    ) -> Result<u16, String> {
        let media = format!("application/vnd.interoperability.{resource}+json;version=1.1");
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.hub))
            .header("date", http_date(now_ms()))
            .header("fspiop-source", self.name());
        if !self.credential.is_empty() {
            request = request.bearer_auth(&self.credential);
        }
        if method != reqwest::Method::PUT {
            request = request.header("accept", &media);
        }
        if let Some(d) = destination {
            request = request.header("fspiop-destination", d);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", &media)
                .body(body.to_string());
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        Ok(response.status().as_u16())
    }

    /// Waits for the callback `key` names, after `request` is sent.
    async fn ask(
        &self,
        key: String,
        request: impl std::future::Future<Output = Result<u16, String>>,
    ) -> Answer {
        let (tx, rx) = oneshot::channel();
        {
            let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
            if waiting.len() >= WAITING_MAX {
                return Err(2003);
            }
            waiting.entry(key.clone()).or_default().push(tx);
        }
        // Gives up this request's wait (others for the same key stay).
        let forget = || {
            let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(list) = waiting.get_mut(&key) {
                list.retain(|w| !w.is_closed());
                if list.is_empty() {
                    waiting.remove(&key);
                }
            }
        };
        match request.await {
            Ok(status) if (200..300).contains(&status) => {}
            Ok(_) | Err(_) => {
                drop(rx);
                forget();
                return Err(1001);
            }
        }
        match tokio::time::timeout(Duration::from_millis(CALLBACK_WAIT_MS), rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) | Err(_) => {
                forget();
                Err(2004)
            }
        }
    }

    fn complete(&self, key: &str, answer: Answer) {
        let waiters = self
            .waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
        for w in waiters.into_iter().flatten() {
            let _ = w.send(answer.clone());
        }
    }

    /// A full payment from the DFSP's customer `payer` to `payee`: lookup,
    /// quote and transfer, each answered by the switch's callback.
    pub async fn pay(
        &self,
        payer: &Customer,
        payee: &PartyIdentifier,
        amount: &str,
        currency: &str,
    ) -> Outcome {
        let quoted = match self.quote(payer, payee, amount, currency).await {
            Ok(q) => q,
            Err(failed) => return failed,
        };
        // The transfer of a quoted transaction carries its id.
        let id = quoted.transaction_id.clone();
        self.transfer(&quoted, &id).await
    }

    /// Finds `payee`'s DFSP and gets its quote for `amount`.
    pub async fn quote(
        &self,
        payer: &Customer,
        payee: &PartyIdentifier,
        amount: &str,
        currency: &str,
    ) -> Result<Quoted, Outcome> {
        let party_type = party_type_name(payee.r#type);
        let key = format!("parties|{party_type}|{}", payee.id);
        let path = format!("/parties/{party_type}/{}", payee.id);
        let party = self
            .ask(
                key,
                self.send(reqwest::Method::GET, &path, "parties", None, None),
            )
            .await
            .map_err(|code| Outcome::Failed("lookup", code))?;
        let payee_fsp = text(&party["party"]["partyIdInfo"], "fspId");
        let quote_id = uuid::Uuid::new_v4().to_string();
        let transaction_id = uuid::Uuid::new_v4().to_string();
        let quote_request = json!({
            "quoteId": quote_id,
            "transactionId": transaction_id,
            "payee": {"partyIdInfo": {"partyIdType": party_type, "partyIdentifier": payee.id, "fspId": payee_fsp}},
            "payer": {"partyIdInfo": {
                "partyIdType": party_type_name(payer.party_type as i32),
                "partyIdentifier": payer.id,
                "fspId": self.name(),
            }, "name": payer.display_name},
            "amountType": "SEND",
            "amount": {"amount": amount, "currency": currency},
            "transactionType": {"scenario": "TRANSFER", "initiator": "PAYER", "initiatorType": "CONSUMER"},
        });
        let terms = self
            .ask(
                format!("quotes|{quote_id}"),
                self.send(
                    reqwest::Method::POST,
                    "/quotes",
                    "quotes",
                    Some(&payee_fsp),
                    Some(quote_request),
                ),
            )
            .await
            .map_err(|code| Outcome::Failed("quote", code))?;
        Ok(Quoted {
            payee_fsp,
            transaction_id,
            terms,
        })
    }

    /// Transfers what `quoted` agreed, as transfer `transfer_id`.
    pub async fn transfer(&self, quoted: &Quoted, transfer_id: &str) -> Outcome {
        let transfer = json!({
            "transferId": transfer_id,
            "payerFsp": self.name(),
            "payeeFsp": quoted.payee_fsp,
            "amount": quoted.terms["transferAmount"],
            "ilpPacket": quoted.terms["ilpPacket"],
            "condition": quoted.terms["condition"],
            "expiration": date_time(now_ms() + TRANSFER_EXPIRY_MS),
        });
        match self
            .ask(
                format!("transfers|{transfer_id}"),
                self.send(
                    reqwest::Method::POST,
                    "/transfers",
                    "transfers",
                    Some(&quoted.payee_fsp),
                    Some(transfer),
                ),
            )
            .await
        {
            Ok(body) if body["transferState"] == "COMMITTED" => Outcome::Committed,
            Ok(_) => Outcome::Aborted(2001),
            Err(code) => Outcome::Aborted(code),
        }
    }

    /// Serves the DFSP's FSPIOP endpoints on `listen` (port 0: any free
    /// port) until `shutdown`.
    pub async fn serve(
        self: Arc<Self>,
        listen: &str,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<SocketAddr> {
        self.serve_tls(listen, None, shutdown).await
    }

    /// [`FspiopDfsp::serve`], over HTTPS when `tls` is given.
    pub async fn serve_tls(
        self: Arc<Self>,
        listen: &str,
        tls: Option<harambee_tls::Acceptor>,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let app = Router::new()
            .route("/parties/{party_type}/{id}", get(get_party).put(put_party))
            .route("/parties/{party_type}/{id}/error", put(put_party_error))
            .route("/quotes", post(post_quote))
            .route("/quotes/{id}", put(put_quote))
            .route("/quotes/{id}/error", put(put_quote_error))
            .route("/transfers", post(post_transfer))
            .route(
                "/transfers/{id}",
                put(put_transfer).patch(|| async { StatusCode::OK }),
            )
            .route("/transfers/{id}/error", put(put_transfer_error))
            .route("/participants/{party_type}/{id}", put(put_participant))
            .route(
                "/participants/{party_type}/{id}/error",
                put(put_participant_error),
            )
            // Callbacks it has no use for.
            .fallback(|| async { StatusCode::OK })
            .with_state(self);
        match tls {
            Some(acceptor) => {
                tokio::spawn(crate::tls::serve_https(listener, acceptor, app, shutdown));
            }
            None => {
                tokio::spawn(async move {
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(shutdown)
                        .await;
                });
            }
        }
        Ok(addr)
    }
}

type Dfsp_ = State<Arc<FspiopDfsp>>;

fn source(headers: &HeaderMap) -> String {
    headers
        .get("fspiop-source")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn error_code(body: &Value) -> u16 {
    body["errorInformation"]["errorCode"]
        .as_str()
        .and_then(|c| c.parse().ok())
        .unwrap_or(2001)
}

/// The switch asks for one of its customers: `PUT /parties` back.
async fn get_party(
    State(d): Dfsp_,
    Path((party_type, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> StatusCode {
    let requester = source(&headers);
    tokio::spawn(async move {
        let kind = PartyIdType::from_str_name(&format!("PARTY_ID_TYPE_{party_type}"))
            .unwrap_or(PartyIdType::Unspecified);
        let path = format!("/parties/{party_type}/{id}");
        match d.dfsp.customer_of(kind, &id) {
            Some(c) => {
                let body = json!({"party": {
                    "partyIdInfo": {"partyIdType": party_type, "partyIdentifier": id, "fspId": d.name()},
                    "name": c.display_name,
                }});
                let _ = d
                    .send(
                        reqwest::Method::PUT,
                        &path,
                        "parties",
                        Some(&requester),
                        Some(body),
                    )
                    .await;
            }
            None => {
                let body = error_json(3204, "Party not found");
                let _ = d
                    .send(
                        reqwest::Method::PUT,
                        &format!("{path}/error"),
                        "parties",
                        Some(&requester),
                        Some(body),
                    )
                    .await;
            }
        }
    });
    StatusCode::ACCEPTED
}

async fn put_party(
    State(d): Dfsp_,
    Path((party_type, id)): Path<(String, String)>,
    bytes: Bytes,
) -> StatusCode {
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    d.complete(&format!("parties|{party_type}|{id}"), Ok(body));
    StatusCode::OK
}

async fn put_party_error(
    State(d): Dfsp_,
    Path((party_type, id)): Path<(String, String)>,
    bytes: Bytes,
) -> StatusCode {
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    d.complete(
        &format!("parties|{party_type}|{id}"),
        Err(error_code(&body)),
    );
    StatusCode::OK
}

/// The switch's answer to a registration of one of its parties.
async fn put_participant(
    State(d): Dfsp_,
    Path((party_type, id)): Path<(String, String)>,
    bytes: Bytes,
) -> StatusCode {
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    d.complete(&format!("participants|{party_type}|{id}"), Ok(body));
    StatusCode::OK
}

async fn put_participant_error(
    State(d): Dfsp_,
    Path((party_type, id)): Path<(String, String)>,
    bytes: Bytes,
) -> StatusCode {
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    d.complete(
        &format!("participants|{party_type}|{id}"),
        Err(error_code(&body)),
    );
    StatusCode::OK
}

/// The canonical request of a `POST /quotes`, for the simulator's quote
/// logic.
fn quote_request_of(body: &Value) -> QuoteRequest {
    let id_info = &body["payee"]["partyIdInfo"];
    let kind =
        PartyIdType::from_str_name(&format!("PARTY_ID_TYPE_{}", text(id_info, "partyIdType")))
            .unwrap_or(PartyIdType::Unspecified);
    QuoteRequest {
        quote_id: text(body, "quoteId"),
        transaction_id: text(body, "transactionId"),
        payee: Some(Party {
            identifier: Some(PartyIdentifier {
                r#type: kind as i32,
                id: text(id_info, "partyIdentifier"),
                sub_id: String::new(),
            }),
            fsp_id: text(id_info, "fspId"),
            ..Default::default()
        }),
        payer: Some(Party {
            fsp_id: text(&body["payer"]["partyIdInfo"], "fspId"),
            ..Default::default()
        }),
        amount_type: if text(body, "amountType") == "RECEIVE" {
            AmountType::Receive as i32
        } else {
            AmountType::Send as i32
        },
        amount: Some(Money {
            amount: text(&body["amount"], "amount"),
            currency: text(&body["amount"], "currency"),
        }),
        ..Default::default()
    }
}

fn quote_body(t: &QuoteTerms) -> Value {
    let expiration = t
        .expiration
        .as_ref()
        .map(|e| e.seconds * 1000 + i64::from(e.nanos / 1_000_000))
        .unwrap_or_else(|| now_ms() + 60_000);
    json!({
        "transferAmount": money_json(t.transfer_amount.as_ref()),
        "payeeReceiveAmount": money_json(t.payee_receive_amount.as_ref()),
        "payeeFspFee": money_json(t.payee_fsp_fee.as_ref()),
        "payeeFspCommission": money_json(t.payee_fsp_commission.as_ref()),
        "expiration": date_time(expiration),
        "ilpPacket": t.ilp_packet,
        "condition": t.condition,
    })
}

/// The switch puts a payer's quote request to it: `PUT /quotes/{ID}`.
async fn post_quote(State(d): Dfsp_, headers: HeaderMap, bytes: Bytes) -> StatusCode {
    let Ok(body) = serde_json::from_slice::<Value>(&bytes) else {
        return StatusCode::BAD_REQUEST;
    };
    let payer = source(&headers);
    tokio::spawn(async move {
        let request = quote_request_of(&body);
        let path = format!("/quotes/{}", request.quote_id);
        let (path, answer) = match d.dfsp.quote_for(&request) {
            Ok(terms) => (path, quote_body(&terms)),
            Err(e) => (
                format!("{path}/error"),
                error_json(e.error_code.parse().unwrap_or(2001), &e.error_description),
            ),
        };
        let _ = d
            .send(
                reqwest::Method::PUT,
                &path,
                "quotes",
                Some(&payer),
                Some(answer),
            )
            .await;
    });
    StatusCode::ACCEPTED
}

async fn put_quote(State(d): Dfsp_, Path(id): Path<String>, bytes: Bytes) -> StatusCode {
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    d.complete(&format!("quotes|{id}"), Ok(body));
    StatusCode::OK
}

async fn put_quote_error(State(d): Dfsp_, Path(id): Path<String>, bytes: Bytes) -> StatusCode {
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    d.complete(&format!("quotes|{id}"), Err(error_code(&body)));
    StatusCode::OK
}

/// The switch puts a transfer to it: its fulfilment, `PUT
/// /transfers/{ID}` COMMITTED, or why not.
async fn post_transfer(State(d): Dfsp_, headers: HeaderMap, bytes: Bytes) -> StatusCode {
    let Ok(body) = serde_json::from_slice::<Value>(&bytes) else {
        return StatusCode::BAD_REQUEST;
    };
    let payer = source(&headers);
    tokio::spawn(async move {
        let id = text(&body, "transferId");
        let request = CallbackTransferRequest {
            transfer_id: id.clone(),
            payer_fsp: text(&body, "payerFsp"),
            payee_fsp: text(&body, "payeeFsp"),
            amount: Some(Money {
                amount: text(&body["amount"], "amount"),
                currency: text(&body["amount"], "currency"),
            }),
            ilp_packet: text(&body, "ilpPacket"),
            condition: text(&body, "condition"),
            ..Default::default()
        };
        let path = format!("/transfers/{id}");
        let (path, answer) = match d.dfsp.fulfilment_for(&request) {
            Ok(fulfilment) => (
                path,
                json!({
                    "fulfilment": fulfilment,
                    "completedTimestamp": date_time(now_ms()),
                    "transferState": "COMMITTED",
                }),
            ),
            Err(e) => (
                format!("{path}/error"),
                error_json(e.error_code.parse().unwrap_or(5100), &e.error_description),
            ),
        };
        let _ = d
            .send(
                reqwest::Method::PUT,
                &path,
                "transfers",
                Some(&payer),
                Some(answer),
            )
            .await;
    });
    StatusCode::ACCEPTED
}

async fn put_transfer(State(d): Dfsp_, Path(id): Path<String>, bytes: Bytes) -> StatusCode {
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    d.complete(&format!("transfers|{id}"), Ok(body));
    StatusCode::OK
}

async fn put_transfer_error(State(d): Dfsp_, Path(id): Path<String>, bytes: Bytes) -> StatusCode {
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    d.complete(&format!("transfers|{id}"), Err(error_code(&body)));
    StatusCode::OK
}

/// The endpoint types the simulated DFSP registers, and their paths after
/// its base URL.
pub const ENDPOINTS: &[(&str, &str)] = &[
    (
        "FSPIOP_CALLBACK_URL_PARTICIPANT_PUT",
        "/participants/{{partyIdType}}/{{partyIdentifier}}",
    ),
    (
        "FSPIOP_CALLBACK_URL_PARTICIPANT_PUT_ERROR",
        "/participants/{{partyIdType}}/{{partyIdentifier}}/error",
    ),
    (
        "FSPIOP_CALLBACK_URL_PARTIES_GET",
        "/parties/{{partyIdType}}/{{partyIdentifier}}",
    ),
    (
        "FSPIOP_CALLBACK_URL_PARTIES_PUT",
        "/parties/{{partyIdType}}/{{partyIdentifier}}",
    ),
    (
        "FSPIOP_CALLBACK_URL_PARTIES_PUT_ERROR",
        "/parties/{{partyIdType}}/{{partyIdentifier}}/error",
    ),
    ("FSPIOP_CALLBACK_URL_QUOTES", ""),
    ("FSPIOP_CALLBACK_URL_TRANSFER_POST", "/transfers"),
    (
        "FSPIOP_CALLBACK_URL_TRANSFER_PUT",
        "/transfers/{{transferId}}",
    ),
    (
        "FSPIOP_CALLBACK_URL_TRANSFER_ERROR",
        "/transfers/{{transferId}}/error",
    ),
];

/// Where a simulated FSPIOP DFSP joins: the switch's admin API (with the
/// operator credential) and its FSPIOP API.
#[derive(Clone, Debug)]
pub struct Hub {
    pub admin: String,
    pub fspiop: String,
    /// Empty on mTLS (the operator's certificate is its credential).
    pub operator_token: String,
    /// On mTLS: the operator (its certificate, for the admin API, and the
    /// scheme that issues the DFSP's) and the Operator API it registers
    /// the DFSP's certificate through.
    pub tls: Option<HubTls>,
    /// The name the switch's admin API gives the hub in paths
    /// (`/participants/{hub_name}/accounts`; `fspiop.hub_name`).
    pub hub_name: String,
}

/// The operator's side of an FSPIOP onboarding on mTLS.
#[derive(Clone)]
pub struct HubTls {
    pub operator: crate::network::Operator,
    pub identity: crate::tls::Identity,
}

impl std::fmt::Debug for HubTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubTls")
            .field("operator", &self.identity.issued.name)
            .finish_non_exhaustive()
    }
}

/// Onboards `dfsp` on the switch as a Mojaloop operator does, through the
/// admin API: the participant in `currency`, its net debit cap, its
/// FSPIOP endpoints (served here, on 127.0.0.1), a deposit of
/// `liquidity`; then registers its customers with the switch's oracle
/// over FSPIOP.
pub async fn onboard(
    hub: &Hub,
    dfsp: Arc<Dfsp>,
    currency: &str,
    liquidity: &str,
    net_debit_cap: &str,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Arc<FspiopDfsp>> {
    let http = match &hub.tls {
        Some(tls) => tls.identity.https_client()?,
        None => reqwest::Client::new(),
    };
    let admin = hub.admin.trim_end_matches('/');
    let authorized = |request: reqwest::RequestBuilder| {
        if hub.operator_token.is_empty() {
            request
        } else {
            request.bearer_auth(&hub.operator_token)
        }
    };
    let call = |method: reqwest::Method, path: String, body: Value| {
        authorized(http.request(method, format!("{admin}{path}")))
            .json(&body)
            .send()
    };
    let name = dfsp.name.clone();
    // The hub's accounts in the currency come first, as in central-ledger.
    call(
        reqwest::Method::POST,
        format!("/participants/{}/accounts", hub.hub_name),
        json!({"type": "HUB_RECONCILIATION", "currency": currency}),
    )
    .await?
    .error_for_status()?;
    let created: Value = call(
        reqwest::Method::POST,
        "/participants".into(),
        json!({"name": name, "currency": currency}),
    )
    .await?
    .error_for_status()?
    .json()
    .await?;
    let credential = created["credential"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("{name} exists already: no credential was issued"))?
        .to_string();
    call(
        reqwest::Method::POST,
        format!("/participants/{name}/initialPositionAndLimits"),
        json!({"currency": currency, "limit": {"type": "NET_DEBIT_CAP", "value": net_debit_cap}, "initialPosition": 0}),
    )
    .await?
    .error_for_status()?;
    // On mTLS the operator registers the DFSP's certificate, which is
    // then its only credential, and the DFSP serves its callbacks on it.
    let (me, base) = match &hub.tls {
        Some(tls) => {
            let scheme = tls
                .operator
                .scheme
                .clone()
                .ok_or_else(|| anyhow::anyhow!("the operator on mTLS has no scheme PKI"))?;
            let identity = scheme.participant(&name)?;
            let mut operator = tls.operator.clone();
            operator
                .client
                .add_participant_certificate(operator.req(
                    harambee_proto::v1::AddParticipantCertificateRequest {
                        fsp_id: name.clone(),
                        certificate_pem: identity.cert_text(),
                    },
                ))
                .await?;
            let me = Arc::new(FspiopDfsp::with_client(
                dfsp.clone(),
                &hub.fspiop,
                "",
                identity.https_client()?,
            ));
            let addr = me
                .clone()
                .serve_tls("127.0.0.1:0", Some(identity.https_acceptor()?), shutdown)
                .await?;
            (me, format!("https://localhost:{}", addr.port()))
        }
        None => {
            let me = Arc::new(FspiopDfsp::new(dfsp.clone(), &hub.fspiop, &credential));
            let addr = me.clone().serve("127.0.0.1:0", shutdown).await?;
            (me, format!("http://{addr}"))
        }
    };
    for (kind, path) in ENDPOINTS {
        call(
            reqwest::Method::POST,
            format!("/participants/{name}/endpoints"),
            json!({"type": kind, "value": format!("{base}{path}")}),
        )
        .await?
        .error_for_status()?;
    }
    if Decimal::from_str_exact(liquidity).is_ok_and(|l| !l.is_zero()) {
        let accounts: Value = authorized(http.get(format!("{admin}/participants/{name}/accounts")))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let settlement = accounts
            .as_array()
            .and_then(|a| {
                a.iter()
                    .find(|a| a["ledgerAccountType"] == "SETTLEMENT" && a["currency"] == currency)
            })
            .and_then(|a| a["id"].as_u64())
            .ok_or_else(|| anyhow::anyhow!("{name} has no {currency} settlement account"))?;
        call(
            reqwest::Method::POST,
            format!("/participants/{name}/accounts/{settlement}"),
            json!({
                "transferId": uuid::Uuid::new_v4().to_string(),
                "action": "recordFundsIn",
                "reason": "opening liquidity",
                "amount": {"amount": liquidity, "currency": currency},
            }),
        )
        .await?
        .error_for_status()?;
    }
    // Each registration is in the oracle once the switch calls back.
    for c in dfsp.customers() {
        let party_type = party_type_name(c.party_type as i32);
        let path = format!("/participants/{party_type}/{}", c.id);
        me.ask(
            format!("participants|{party_type}|{}", c.id),
            me.send(
                reqwest::Method::POST,
                &path,
                "participants",
                None,
                Some(json!({"fspId": name, "currency": currency})),
            ),
        )
        .await
        .map_err(|code| anyhow::anyhow!("registering {path}: {code}"))?;
    }
    Ok(me)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_written_as_fspiop_and_http_have_them() {
        assert_eq!(date_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(date_time(1_796_151_600_123), "2026-12-01T19:00:00.123Z");
        assert_eq!(
            http_date(1_796_151_600_000),
            "Tue, 01 Dec 2026 19:00:00 GMT"
        );
        assert_eq!(http_date(951_782_400_000), "Tue, 29 Feb 2000 00:00:00 GMT");
    }
}
