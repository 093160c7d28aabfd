//! The switch's callbacks to FSPIOP participants: a `PUT` (or `PATCH`) to
//! the URL the participant registered for the resource, with the FSPIOP
//! headers of the hop, sent without holding up the request that caused it,
//! and tried again while the participant cannot be reached, up to a
//! deadline.

use std::sync::Arc;
use std::time::Duration;

use harambee_core::error::SwitchError;
use harambee_core::state::State;
use harambee_service::ports::{Clock, SystemClock};
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::headers::{HUB_SOURCE, content_type, http_date};

/// Callbacks in flight at once; beyond, a callback waits for a slot.
pub const CALLBACKS_IN_FLIGHT_MAX: usize = 4_096;

/// Deadline of one attempt.
pub const CALLBACK_ATTEMPT_TIMEOUT_MS: u64 = 5_000;

/// Most attempts of one callback.
pub const CALLBACK_ATTEMPTS_MAX: u32 = 5;

/// The first pause between attempts; it doubles after each.
pub const CALLBACK_RETRY_MS: u64 = 200;

/// How a callback is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Put,
    Patch,
}

/// A participant's message as it came, relayed byte for byte with the
/// headers its signature covers (`Date`, `FSPIOP-Signature`, ...), so
/// that the party it is for can verify it (signature specification
/// v1.1: the hub passes signed messages on unchanged).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relayed {
    /// `FSPIOP-Source`: who sent it.
    pub source: String,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

/// One callback to one participant.
#[derive(Clone, Debug)]
pub struct Callback {
    pub method: Method,
    /// Where: the registered URL, its placeholders filled in.
    pub url: String,
    /// The resource of the media type (`parties`, `participants`, ...).
    pub resource: &'static str,
    /// `FSPIOP-Source`: the participant the message is from, or the hub.
    pub source: String,
    /// `FSPIOP-Destination`: the participant it goes to.
    pub destination: String,
    /// `FSPIOP-URI`: the resource's path on the hop.
    pub uri: String,
    /// The switch's own message; unused when one is relayed.
    pub body: Value,
    /// A participant's message passed on as it came: its body and the
    /// headers its signature covers go instead of the switch's own.
    pub relayed: Option<Relayed>,
}

/// Sends callbacks.
#[derive(Clone)]
pub struct Callbacks {
    http: reqwest::Client,
    in_flight: Arc<Semaphore>,
}

impl Default for Callbacks {
    fn default() -> Callbacks {
        Callbacks {
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_millis(2_000))
                .timeout(Duration::from_millis(CALLBACK_ATTEMPT_TIMEOUT_MS))
                .pool_max_idle_per_host(64)
                .build()
                .unwrap_or_default(),
            in_flight: Arc::new(Semaphore::new(CALLBACKS_IN_FLIGHT_MAX)),
        }
    }
}

impl Callbacks {
    /// Sends `callback` in the background.
    pub fn send(&self, callback: Callback) {
        let this = self.clone();
        tokio::spawn(async move {
            let Ok(_permit) = this.in_flight.clone().acquire_owned().await else {
                return;
            };
            this.deliver(&callback).await;
        });
    }

    /// Sends `callback` now, trying again while the participant cannot
    /// be reached or answers 5xx; true once it answered 2xx.
    pub async fn deliver(&self, callback: &Callback) -> bool {
        let mut pause_ms = CALLBACK_RETRY_MS;
        for attempt in 1..=CALLBACK_ATTEMPTS_MAX {
            let method = match callback.method {
                Method::Put => reqwest::Method::PUT,
                Method::Patch => reqwest::Method::PATCH,
            };
            let (source, body, relayed) = match &callback.relayed {
                Some(r) => (&r.source, r.body.clone(), r.headers.as_slice()),
                None => (&callback.source, callback.body.to_string(), &[][..]),
            };
            let mut request = self
                .http
                .request(method.clone(), &callback.url)
                .header("content-type", content_type(callback.resource))
                // FSPIOP has no Accept on a callback, but the HTTP client
                // would add `*/*`, which receivers that check Accept
                // (Mojaloop's SDK) refuse: the callback's own media type
                // is accepted everywhere.
                .header("accept", content_type(callback.resource))
                .header("fspiop-source", source)
                .header("fspiop-destination", &callback.destination)
                .header("fspiop-http-method", method.as_str())
                .header("fspiop-uri", &callback.uri)
                .body(body);
            // A relayed message keeps its own Date: its signature covers it.
            if !relayed.iter().any(|(name, _)| name == "date") {
                request = request.header("date", http_date(SystemClock.now_ms()));
            }
            for (name, value) in relayed {
                request = request.header(name.as_str(), value.as_str());
            }
            match request.send().await {
                Ok(r) if r.status().is_success() => {
                    metrics::counter!("harambee_fspiop_callbacks_total", "result" => "ok")
                        .increment(1);
                    return true;
                }
                Ok(r) if r.status().is_client_error() => {
                    tracing::debug!(url = %callback.url, status = %r.status(), "callback refused");
                    metrics::counter!("harambee_fspiop_callbacks_total", "result" => "refused")
                        .increment(1);
                    return false;
                }
                Ok(r) => {
                    tracing::debug!(url = %callback.url, status = %r.status(), attempt, "callback failed");
                }
                Err(e) => {
                    tracing::debug!(url = %callback.url, error = %e, attempt, "callback failed");
                }
            }
            if attempt < CALLBACK_ATTEMPTS_MAX {
                tokio::time::sleep(Duration::from_millis(pause_ms)).await;
                pause_ms = pause_ms.saturating_mul(2);
            }
        }
        metrics::counter!("harambee_fspiop_callbacks_total", "result" => "failed").increment(1);
        tracing::warn!(url = %callback.url, "a callback was given up on");
        false
    }
}

/// The values a registered URL's placeholders take.
#[derive(Clone, Debug, Default)]
pub struct Placeholders<'a> {
    pub party_id_type: &'a str,
    pub party_identifier: &'a str,
    pub party_sub_id: &'a str,
    pub id: &'a str,
}

/// The URL `participant` registered for `kind`, its placeholders
/// (`{{partyIdType}}`, `{{partyIdentifier}}`, `{{partySubIdOrType}}`,
/// `{{transferId}}`, `{{ID}}`) filled in; 3201 if it has none.
pub fn url_for(
    st: &State,
    participant: &str,
    kind: &str,
    values: &Placeholders<'_>,
) -> Result<String, SwitchError> {
    let template = st.directory.callback(participant, kind).ok_or_else(|| {
        SwitchError::new(
            harambee_core::error::ErrorCode::DestinationFspError,
            format!("{participant} has no {kind} endpoint"),
        )
    })?;
    Ok(template
        .replace("{{partyIdType}}", values.party_id_type)
        .replace("{{partyIdentifier}}", values.party_identifier)
        .replace("{{partySubIdOrType}}", values.party_sub_id)
        .replace("{{transferId}}", values.id)
        .replace("{{ID}}", values.id))
}

/// Who a message the hub originates is from.
pub fn hub() -> String {
    HUB_SOURCE.to_string()
}
