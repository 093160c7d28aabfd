//! The service layer's ports over FSPIOP: a participant whose endpoints
//! are FSPIOP is asked with a request to its registered URL, and answers
//! with a callback to the switch (`PUT /parties/...`), which [`Pending`]
//! matches to the request waiting for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use harambee_core::error::{ErrorCode, SwitchError};
use harambee_proto::v1::notification::Kind;
use harambee_proto::v1::{Notification, Party, PartyIdentifier, QuoteRequest, QuoteTerms};
use harambee_service::ports::{
    Clock, FspiopEndpoints, Notices, Oracle, PayeeAnswer, PayeeConnector, Route, SystemClock,
    TransferAsk,
};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::callbacks::{Callback, Callbacks, Method, Relayed};
use crate::convert::{party_from_body, party_type_name};
use crate::headers::{content_type, http_date};
use crate::jws::{Protected, Signer};

/// Requests waiting for their callback at once; beyond, a new one is
/// refused (2003) rather than let the table grow.
pub const PENDING_MAX: usize = 100_000;

/// The first pause before a transfer is put again to a payee that could
/// not be reached; it doubles, up to [`TRANSFER_RETRY_MAX_MS`].
pub const TRANSFER_RETRY_MS: u64 = 100;

/// The longest pause between two tries of a transfer to its payee.
pub const TRANSFER_RETRY_MAX_MS: u64 = 2_000;

/// The answer a callback brought: its body, or its `errorInformation`.
pub type Answer = Result<Value, SwitchError>;

/// Participants' messages kept to be relayed at once; beyond, a message
/// is not kept and the switch sends its own rendering instead.
pub const RELAYS_MAX: usize = 100_000;

/// How long a message is kept for its relay; one that nobody took by
/// then (its payee was not on FSPIOP, its transfer failed) is dropped.
pub const RELAY_KEEP_MS: u64 = 120_000;

/// Requests waiting for a participant's callback, by what the callback
/// will name, and participants' messages waiting to be relayed.
#[derive(Default)]
pub struct Pending {
    waiting: Mutex<HashMap<String, Vec<oneshot::Sender<Answer>>>>,
    relays: Mutex<HashMap<String, (Instant, Relayed)>>,
}

impl Pending {
    /// Waits for the callback `key` names.
    pub fn wait(&self, key: &str) -> Result<oneshot::Receiver<Answer>, SwitchError> {
        let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        if waiting.len() >= PENDING_MAX && !waiting.contains_key(key) {
            return Err(SwitchError::new(
                ErrorCode::ServiceUnavailable,
                "too many requests waiting for participants' callbacks",
            ));
        }
        let (tx, rx) = oneshot::channel();
        waiting.entry(key.to_string()).or_default().push(tx);
        Ok(rx)
    }

    /// Hands `answer` to every request waiting for `key`; false if none
    /// was.
    pub fn complete(&self, key: &str, answer: Answer) -> bool {
        let waiters = self
            .waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
        let Some(waiters) = waiters else {
            return false;
        };
        for w in waiters {
            let _ = w.send(answer.clone());
        }
        true
    }

    /// Drops the requests waiting for `key` (they gave up).
    pub fn forget(&self, key: &str) {
        self.waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    /// Keeps `message` to be relayed as the message `key` names. When the
    /// table is full, messages older than [`RELAY_KEEP_MS`] go first; if
    /// it is still full, `message` is not kept.
    pub fn keep(&self, key: String, message: Relayed) {
        let mut relays = self.relays.lock().unwrap_or_else(|p| p.into_inner());
        if relays.len() >= RELAYS_MAX {
            let keep = Duration::from_millis(RELAY_KEEP_MS);
            relays.retain(|_, (at, _)| at.elapsed() < keep);
        }
        if relays.len() < RELAYS_MAX || relays.contains_key(&key) {
            relays.insert(key, (Instant::now(), message));
        }
    }

    /// The message kept for `key`, once; `None` if there is none or it
    /// is older than [`RELAY_KEEP_MS`].
    pub fn take(&self, key: &str) -> Option<Relayed> {
        let (at, message) = self
            .relays
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key)?;
        (at.elapsed() < Duration::from_millis(RELAY_KEEP_MS)).then_some(message)
    }
}

/// What a message is kept under for its relay: the resource, the hop
/// (`post`, `put`) and its id.
pub fn relay_key(resource: &str, hop: &str, id: &str) -> String {
    format!("relay|{resource}|{hop}|{id}")
}

/// The key of a lookup's callback: who asked, and which party.
pub fn party_key(requester: &str, party_type: &str, id: &str, sub_id: &str) -> String {
    format!("parties|{requester}|{party_type}|{id}|{sub_id}")
}

/// The key of a quote's callback: for whom, and which quote.
pub fn quote_key(payer: &str, quote_id: &str) -> String {
    format!("quotes|{payer}|{quote_id}")
}

/// The error a participant's `errorInformation` carries, passed on.
pub fn remote_error(body: &Value, fallback: ErrorCode) -> SwitchError {
    let info = &body["errorInformation"];
    let code = info["errorCode"]
        .as_str()
        .and_then(|c| c.parse::<u16>().ok())
        .unwrap_or(fallback.number());
    let description: String = info["errorDescription"]
        .as_str()
        .unwrap_or_default()
        .chars()
        .take(harambee_proto::fspiop::DESCRIPTION_LENGTH_MAX)
        .collect();
    let error = if description.is_empty() {
        harambee_proto::fspiop::FspiopError::from_number(code, "")
    } else {
        harambee_proto::fspiop::FspiopError { code, description }
    };
    error.into()
}

/// `request` with its message: the participant's own, passed on as it
/// came (body, `FSPIOP-Source` and the headers its signature covers), or
/// else the switch's rendering from `source`, signed when the switch has a
/// key. `method`, `uri`, `destination`: the hop.
async fn with_message(
    request: reqwest::RequestBuilder,
    hop: (&str, &str, &str),
    source: &str,
    rendered: impl FnOnce() -> String,
    relayed: Option<Relayed>,
    signer: Option<Arc<Signer>>,
) -> reqwest::RequestBuilder {
    match relayed {
        Some(r) => {
            let mut request = request.header("fspiop-source", &r.source).body(r.body);
            if !r.headers.iter().any(|(name, _)| name == "date") {
                request = request.header("date", http_date(SystemClock.now_ms()));
            }
            // The media type was set with the request (a forward is
            // written in the switch's version).
            for (name, value) in r.headers.iter().filter(|(name, _)| name != "content-type") {
                request = request.header(name.as_str(), value.as_str());
            }
            request
        }
        None => {
            let (method, uri, destination) = hop;
            let date = http_date(SystemClock.now_ms());
            let body = rendered();
            let mut request = request
                .header("fspiop-source", source)
                .header("date", &date);
            if let Some(signer) = signer {
                let protected = Protected {
                    method,
                    uri,
                    source,
                    destination: Some(destination),
                    date: &date,
                };
                match signer.sign_off_runtime(&protected, &body).await {
                    Some(signature) => request = request.header("fspiop-signature", signature),
                    None => tracing::warn!("a message could not be signed"),
                }
            }
            request.body(body)
        }
    }
}

/// Reaches FSPIOP participants.
pub struct FspiopPayees {
    http: reqwest::Client,
    pending: Arc<Pending>,
    signer: Option<Arc<Signer>>,
}

impl FspiopPayees {
    /// `signer`: the switch's key, signing the messages it writes itself.
    pub fn new(pending: Arc<Pending>, signer: Option<Arc<Signer>>) -> FspiopPayees {
        FspiopPayees {
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_millis(2_000))
                .pool_max_idle_per_host(64)
                .build()
                .unwrap_or_default(),
            pending,
            signer,
        }
    }

    /// The same, `https://` endpoints on `tls` (the scheme CA's roots and
    /// the switch's client certificate).
    pub fn with_tls(mut self, tls: Arc<rustls::ClientConfig>) -> FspiopPayees {
        self.http = tls_client(tls, true);
        self
    }

    /// The callback answering a request the participant took (2xx), or
    /// why there is none.
    async fn answered(
        &self,
        sent: Result<reqwest::Response, reqwest::Error>,
        key: &str,
        participant: &str,
        answer: oneshot::Receiver<Answer>,
        timeout: Duration,
    ) -> Answer {
        match sent {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => {
                self.pending.forget(key);
                let body: Value = r.json().await.unwrap_or(Value::Null);
                return Err(remote_error(
                    &body,
                    ErrorCode::DestinationCommunicationError,
                ));
            }
            Err(e) => {
                self.pending.forget(key);
                return Err(SwitchError::new(
                    ErrorCode::DestinationCommunicationError,
                    format!("{participant} could not be reached: {e}"),
                ));
            }
        }
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) | Err(_) => {
                self.pending.forget(key);
                Err(SwitchError::new(
                    ErrorCode::ServerTimedOut,
                    format!("{participant} did not answer in time"),
                ))
            }
        }
    }

    fn endpoints(route: &Route) -> Result<&FspiopEndpoints, SwitchError> {
        match route {
            Route::Fspiop(e) => Ok(e),
            Route::Grpc(_) | Route::Iso8583(_) => Err(SwitchError::new(
                ErrorCode::DestinationCommunicationError,
                "a gRPC or ISO 8583 participant is not reached over FSPIOP",
            )),
        }
    }
}

#[async_trait]
impl PayeeConnector for FspiopPayees {
    async fn party(
        &self,
        route: &Route,
        party: &PartyIdentifier,
        requester: &str,
        timeout: Duration,
    ) -> Result<Party, SwitchError> {
        let owner = Self::endpoints(route)?;
        let party_type = party_type_name(party.r#type);
        let kind = if party.sub_id.is_empty() {
            "FSPIOP_CALLBACK_URL_PARTIES_GET"
        } else {
            "FSPIOP_CALLBACK_URL_PARTIES_SUB_ID_GET"
        };
        let template = owner.url(kind).ok_or_else(|| {
            SwitchError::new(
                ErrorCode::DestinationFspError,
                format!("{} has no {kind} endpoint", owner.participant),
            )
        })?;
        let url = template
            .replace("{{partyIdType}}", party_type)
            .replace("{{partyIdentifier}}", &party.id)
            .replace("{{partySubIdOrType}}", &party.sub_id);
        let mut uri = format!("/parties/{party_type}/{}", party.id);
        if !party.sub_id.is_empty() {
            uri = format!("{uri}/{}", party.sub_id);
        }
        let key = party_key(requester, party_type, &party.id, &party.sub_id);
        let answer = self.pending.wait(&key)?;
        let sent = self
            .http
            .get(&url)
            .timeout(timeout)
            .header(
                "accept",
                "application/vnd.interoperability.parties+json;version=1",
            )
            .header("content-type", content_type("parties"))
            .header("date", http_date(SystemClock.now_ms()))
            .header("fspiop-source", requester)
            .header("fspiop-destination", &owner.participant)
            .header("fspiop-http-method", "GET")
            .header("fspiop-uri", &uri)
            .send()
            .await;
        self.answered(sent, &key, &owner.participant, answer, timeout)
            .await
            .and_then(|body| party_from_body(&body))
    }

    async fn quote(
        &self,
        route: &Route,
        request: &QuoteRequest,
        timeout: Duration,
    ) -> Result<QuoteTerms, SwitchError> {
        let payee = Self::endpoints(route)?;
        let base = payee.url("FSPIOP_CALLBACK_URL_QUOTES").ok_or_else(|| {
            SwitchError::new(
                ErrorCode::DestinationFspError,
                format!(
                    "{} has no FSPIOP_CALLBACK_URL_QUOTES endpoint",
                    payee.participant
                ),
            )
        })?;
        let payer = request
            .payer
            .as_ref()
            .map(|p| p.fsp_id.clone())
            .unwrap_or_default();
        let key = quote_key(&payer, &request.quote_id);
        let answer = self.pending.wait(&key)?;
        let request_builder = self
            .http
            .post(format!("{}/quotes", base.trim_end_matches('/')))
            .timeout(timeout)
            .header(
                "accept",
                "application/vnd.interoperability.quotes+json;version=1",
            )
            .header("content-type", content_type("quotes"))
            .header("fspiop-destination", &payee.participant)
            .header("fspiop-http-method", "POST")
            .header("fspiop-uri", "/quotes");
        let relayed = self
            .pending
            .take(&relay_key("quotes", "post", &request.quote_id));
        let sent = with_message(
            request_builder,
            ("POST", "/quotes", &payee.participant),
            &payer,
            || crate::convert::quote_request_out(request).to_string(),
            relayed,
            self.signer.clone(),
        )
        .await
        .send()
        .await;
        self.answered(sent, &key, &payee.participant, answer, timeout)
            .await
            .and_then(|body| crate::convert::quote_terms_in(&body))
    }

    async fn transfer(&self, route: &Route, ask: &TransferAsk, timeout: Duration) -> PayeeAnswer {
        let Ok(payee) = Self::endpoints(route) else {
            return PayeeAnswer::Unreachable(ErrorCode::DestinationCommunicationError.number());
        };
        let id = harambee_core::text::uuid_string(ask.transfer_id.0);
        let Some(template) = payee.url("FSPIOP_CALLBACK_URL_TRANSFER_POST") else {
            return PayeeAnswer::Unreachable(ErrorCode::DestinationFspError.number());
        };
        let url = template.replace("{{transferId}}", &id);
        let mut body = serde_json::json!({
            "transferId": id,
            "payerFsp": ask.payer,
            "payeeFsp": ask.payee,
            "amount": {"amount": ask.amount.normalize().to_string(), "currency": ask.currency.to_string()},
            "ilpPacket": ask.terms.ilp_packet,
            "condition": harambee_core::text::b64url(&ask.condition),
            "expiration": crate::convert::format_datetime_ms(ask.expires_at_ms),
        });
        if !ask.terms.extensions.is_empty() {
            let list: Vec<Value> = ask
                .terms
                .extensions
                .iter()
                .map(|(k, v)| serde_json::json!({"key": k, "value": v}))
                .collect();
            body["extensionList"] = serde_json::json!({ "extension": list });
        }
        let relayed = self.pending.take(&relay_key("transfers", "post", &id));
        // Tried again while the payee cannot be reached or answers 5xx,
        // until the transfer's expiry (or the call's own bound, if sooner).
        let started = std::time::Instant::now();
        let expires_in_ms =
            u64::try_from(ask.expires_at_ms.saturating_sub(SystemClock.now_ms())).unwrap_or(0);
        let budget = timeout.min(Duration::from_millis(expires_in_ms));
        let mut pause = Duration::from_millis(TRANSFER_RETRY_MS);
        loop {
            let left = budget.saturating_sub(started.elapsed());
            let request = self
                .http
                .post(&url)
                .timeout(left.max(Duration::from_millis(1)))
                .header(
                    "accept",
                    "application/vnd.interoperability.transfers+json;version=1",
                )
                .header("content-type", content_type("transfers"))
                .header("fspiop-destination", &ask.payee)
                .header("fspiop-http-method", "POST")
                .header("fspiop-uri", "/transfers");
            let sent = with_message(
                request,
                ("POST", "/transfers", &ask.payee),
                &ask.payer,
                || body.to_string(),
                relayed.clone(),
                self.signer.clone(),
            )
            .await
            .send()
            .await;
            let failed = match sent {
                // The payee answers with its own PUT /transfers/{ID}.
                Ok(r) if r.status().is_success() => return PayeeAnswer::Later,
                Ok(r) if r.status().is_client_error() => {
                    let body: Value = r.json().await.unwrap_or(Value::Null);
                    return PayeeAnswer::Rejected(
                        remote_error(&body, ErrorCode::PayeeRejectedTransaction).number(),
                    );
                }
                Ok(r) => PayeeAnswer::Rejected(
                    remote_error(
                        &r.json().await.unwrap_or(Value::Null),
                        ErrorCode::DestinationCommunicationError,
                    )
                    .number(),
                ),
                Err(e) if e.is_timeout() => return PayeeAnswer::NoAnswer,
                Err(_) => {
                    PayeeAnswer::Unreachable(ErrorCode::DestinationCommunicationError.number())
                }
            };
            if started.elapsed() + pause >= budget {
                return failed;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(TRANSFER_RETRY_MAX_MS));
        }
    }
}

/// Notices to FSPIOP participants. A transfer that expired is told to its
/// payee as FSPIOP says, `PUT /transfers/{ID}/error` with 3303 from
/// `Hub` (its payer hears it as the answer to its own `POST /transfers`).
/// Other notices have no FSPIOP form and are read on the participant's
/// own terms (the admin API, reports).
pub struct FspiopNotices {
    callbacks: Callbacks,
}

impl FspiopNotices {
    pub fn new(callbacks: Callbacks) -> FspiopNotices {
        FspiopNotices { callbacks }
    }
}

impl Notices for FspiopNotices {
    fn deliver(&self, participant: &str, route: &Route, notification: Notification) {
        let Route::Fspiop(endpoints) = route else {
            return;
        };
        let Some(Kind::TransferAborted(t)) = notification.kind else {
            return;
        };
        let code = t
            .error
            .as_ref()
            .and_then(|e| e.error_code.parse::<u16>().ok());
        if code != Some(ErrorCode::TransferExpired.number()) || t.payee_fsp != participant {
            return;
        }
        let Some(template) = endpoints.url("FSPIOP_CALLBACK_URL_TRANSFER_ERROR") else {
            tracing::debug!(%participant, "no FSPIOP_CALLBACK_URL_TRANSFER_ERROR endpoint");
            return;
        };
        let error = SwitchError::new(ErrorCode::TransferExpired, "");
        self.callbacks.send(Callback {
            method: Method::Put,
            url: template.replace("{{transferId}}", &t.transfer_id),
            resource: "transfers",
            source: self.callbacks.hub(),
            destination: participant.to_string(),
            uri: format!("/transfers/{}/error", t.transfer_id),
            body: crate::error::HttpError::from(error).body(),
            relayed: None,
            // It is about an expiry: only the least number of attempts.
            deadline_ms: None,
        });
    }
}

/// An oracle that speaks Mojaloop's oracle API over HTTP:
/// `GET {url}/participants/{Type}/{ID}` answered `{partyList: [{fspId}]}`.
pub struct FspiopOracle {
    http: reqwest::Client,
    /// What the hub names itself in `FSPIOP-Source`.
    hub: String,
}

impl Default for FspiopOracle {
    fn default() -> FspiopOracle {
        FspiopOracle {
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_millis(2_000))
                .build()
                .unwrap_or_default(),
            hub: crate::headers::HUB_SOURCE.to_string(),
        }
    }
}

impl FspiopOracle {
    /// The same, the hub naming itself `name` to the oracles.
    pub fn with_hub_name(mut self, name: &str) -> FspiopOracle {
        self.hub = name.to_string();
        self
    }

    /// The same, `https://` oracles on `tls`.
    pub fn with_tls(mut self, tls: Arc<rustls::ClientConfig>) -> FspiopOracle {
        self.http = tls_client(tls, false);
        self
    }
}

/// An HTTP client for `https://` and `http://` URLs, on `tls`; `pooled`
/// keeps idle connections per host, as the payees' client does.
fn tls_client(tls: Arc<rustls::ClientConfig>, pooled: bool) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_millis(2_000))
        .use_preconfigured_tls((*tls).clone());
    if pooled {
        builder = builder.pool_max_idle_per_host(64);
    }
    match builder.build() {
        Ok(client) => client,
        Err(e) => {
            // Without the scheme's TLS, `https://` participants fail
            // their handshake; plain HTTP ones are still reached.
            tracing::error!(error = %e, "the HTTPS client could not be built");
            reqwest::Client::default()
        }
    }
}

#[async_trait]
impl Oracle for FspiopOracle {
    async fn owner(
        &self,
        url: &str,
        party: &PartyIdentifier,
        currency: &str,
        timeout: Duration,
    ) -> Result<String, SwitchError> {
        let mut target = format!(
            "{}/participants/{}/{}",
            url.trim_end_matches('/'),
            party_type_name(party.r#type),
            party.id
        );
        if !party.sub_id.is_empty() {
            target = format!("{target}/{}", party.sub_id);
        }
        let mut request = self
            .http
            .get(&target)
            .timeout(timeout)
            .header(
                "accept",
                "application/vnd.interoperability.participants+json;version=1",
            )
            .header("content-type", content_type("participants"))
            .header("date", http_date(SystemClock.now_ms()))
            .header("fspiop-source", &self.hub);
        if !currency.is_empty() {
            request = request.query(&[("currency", currency)]);
        }
        let response = request.send().await.map_err(|e| {
            SwitchError::new(
                ErrorCode::DestinationCommunicationError,
                format!("the oracle at {url} could not be reached: {e}"),
            )
        })?;
        let ok = response.status().is_success();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !ok {
            return Err(remote_error(&body, ErrorCode::PartyNotFound));
        }
        body.get("partyList")
            .and_then(Value::as_array)
            .and_then(|list| {
                list.iter()
                    .find_map(|p| p.get("fspId").and_then(Value::as_str))
            })
            .map(str::to_string)
            .ok_or_else(|| {
                SwitchError::new(
                    ErrorCode::PartyNotFound,
                    format!(
                        "the oracle knows no owner of {} {}",
                        party_type_name(party.r#type),
                        party.id
                    ),
                )
            })
    }
}
