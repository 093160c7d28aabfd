//! The switch's callbacks to FSPIOP participants: a `PUT` (or `PATCH`) to
//! the URL the participant registered for the resource, with the FSPIOP
//! headers of the hop, sent without holding up the request that caused it,
//! and tried again while the participant cannot be reached: until the
//! expiry of the transfer or quote it is about, and at least
//! [`CALLBACK_ATTEMPTS_MIN`] times (an expiry's own notice comes after it).

use std::sync::Arc;
use std::time::Duration;

use harambee_core::error::SwitchError;
use harambee_core::state::State;
use harambee_service::ports::{Clock, SystemClock};
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::headers::{HUB_SOURCE, content_type, http_date};
use crate::jws::{Protected, Signer};

/// Callback attempts in flight at once; beyond, an attempt waits for a
/// slot. A callback holds a slot only while it is being sent, not while it
/// waits to try again, so a participant that cannot be reached does not
/// hold up the callbacks to the others.
pub const CALLBACKS_IN_FLIGHT_MAX: usize = 4_096;

/// Deadline of one attempt.
pub const CALLBACK_ATTEMPT_TIMEOUT_MS: u64 = 5_000;

/// Attempts of one callback however soon its deadline: a callback about
/// something already expired (the expiry's 3303) is still tried this often.
pub const CALLBACK_ATTEMPTS_MIN: u32 = 5;

/// Most attempts of one callback, however far its deadline.
pub const CALLBACK_ATTEMPTS_MAX: u32 = 64;

/// The first pause between attempts; it doubles after each.
pub const CALLBACK_RETRY_MS: u64 = 200;

/// The longest pause between attempts.
pub const CALLBACK_RETRY_MAX_MS: u64 = 10_000;

/// The furthest a deadline reaches past the first attempt: a transfer
/// that expires in a day does not hold a callback slot for a day.
pub const CALLBACK_DEADLINE_MAX_MS: i64 = 15 * 60 * 1_000;

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
    /// Until when (ms since the epoch) it is worth trying again: the
    /// expiry of the transfer or quote it is about ([`deadline_of`]);
    /// `None`, only the [`CALLBACK_ATTEMPTS_MIN`] attempts.
    pub deadline_ms: Option<i64>,
}

/// The HTTP client of the callbacks: hyper's, which sends only the
/// headers it is given (a general-purpose client adds `Accept: */*`, and
/// FSPIOP has no `Accept` on a callback; Mojaloop's SDK refuses `*/*` and
/// Mojaloop's tests check that there is none).
/// HTTPS (the scheme PKI's, [`Callbacks::with_tls`]) or plain HTTP, as
/// the registered URL says.
type Http = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    http_body_util::Full<axum::body::Bytes>,
>;

/// The HTTP client of the callbacks, on `tls` for `https://` URLs.
fn http_client(tls: Arc<rustls::ClientConfig>) -> Http {
    let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
    connector.set_connect_timeout(Some(Duration::from_millis(2_000)));
    connector.set_nodelay(true);
    connector.enforce_http(false);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config((*tls).clone())
        .https_or_http()
        .enable_http1()
        .wrap_connector(connector);
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_max_idle_per_host(64)
        .build(connector)
}

/// The TLS configuration of a switch without a scheme PKI: it trusts no
/// server, so an `https://` callback fails its handshake (plain HTTP ones
/// are unaffected).
pub fn untrusting_tls() -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| {
            b.with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth()
        });
    match config {
        Ok(c) => Arc::new(c),
        // ring offers every default protocol version: never refused.
        Err(e) => unreachable!("ring's default protocol versions: {e}"),
    }
}

/// Sends callbacks.
#[derive(Clone)]
pub struct Callbacks {
    http: Http,
    in_flight: Arc<Semaphore>,
    signer: Option<Arc<Signer>>,
    /// What the hub names itself in `FSPIOP-Source` (`fspiop.hub_name`).
    hub: Arc<str>,
}

impl Default for Callbacks {
    fn default() -> Callbacks {
        Callbacks::new(None)
    }
}

/// Why one attempt of a callback failed.
enum Failed {
    /// 4xx: the participant refused it; trying again would not help.
    Refused(u16),
    /// 5xx, no connection or no answer in time: worth another try.
    Transient(String),
}

impl Callbacks {
    /// Callbacks signed with `signer` when the switch has a key.
    pub fn new(signer: Option<Arc<Signer>>) -> Callbacks {
        Callbacks {
            http: http_client(untrusting_tls()),
            in_flight: Arc::new(Semaphore::new(CALLBACKS_IN_FLIGHT_MAX)),
            signer,
            hub: Arc::from(HUB_SOURCE),
        }
    }

    /// The same, `https://` URLs on `tls`: the scheme CA's roots, to
    /// verify each participant's server, and the switch's own client
    /// certificate.
    pub fn with_tls(mut self, tls: Arc<rustls::ClientConfig>) -> Callbacks {
        self.http = http_client(tls);
        self
    }

    /// The same, the hub naming itself `name` in the messages it writes.
    pub fn with_hub_name(mut self, name: &str) -> Callbacks {
        self.hub = Arc::from(name);
        self
    }

    /// Who a message the hub originates is from.
    pub fn hub(&self) -> String {
        self.hub.to_string()
    }

    /// Sends `callback` in the background.
    pub fn send(&self, callback: Callback) {
        let this = self.clone();
        tokio::spawn(async move {
            this.deliver(&callback).await;
        });
    }

    /// One attempt.
    async fn attempt(&self, callback: &Callback) -> Result<(), Failed> {
        let method = match callback.method {
            Method::Put => axum::http::Method::PUT,
            Method::Patch => axum::http::Method::PATCH,
        };
        let (source, body, relayed) = match &callback.relayed {
            Some(r) => (r.source.as_str(), r.body.clone(), r.headers.as_slice()),
            None => (callback.source.as_str(), callback.body.to_string(), &[][..]),
        };
        // A relayed message keeps its own Date: its signature covers it.
        let date = relayed
            .iter()
            .find(|(name, _)| name == "date")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| http_date(SystemClock.now_ms()));
        // A relayed message keeps its media type too: its version is the
        // sender's.
        let media = relayed
            .iter()
            .find(|(name, _)| name == "content-type")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| content_type(callback.resource));
        let mut request = axum::http::Request::builder()
            .method(method.clone())
            .uri(&callback.url)
            .header("content-type", media)
            .header("date", &date)
            .header("fspiop-source", source)
            .header("fspiop-destination", &callback.destination)
            .header("fspiop-http-method", method.as_str())
            .header("fspiop-uri", &callback.uri);
        for (name, value) in relayed
            .iter()
            .filter(|(name, _)| name != "date" && name != "content-type")
        {
            request = request.header(name.as_str(), value.as_str());
        }
        // The switch signs what it writes itself; a relayed message keeps
        // its sender's signature.
        if callback.relayed.is_none()
            && let Some(signer) = &self.signer
        {
            let protected = Protected {
                method: method.as_str(),
                uri: &callback.uri,
                source,
                destination: Some(&callback.destination),
                date: &date,
            };
            let signed = signer
                .sign_off_runtime(&protected, &body)
                .await
                .ok_or_else(|| Failed::Refused(0).or_log(&callback.url, "not signed"))?;
            request = request.header("fspiop-signature", signed);
        }
        let request = request
            .body(http_body_util::Full::new(axum::body::Bytes::from(body)))
            .map_err(|e| Failed::Refused(0).or_log(&callback.url, &e.to_string()))?;
        let timeout = Duration::from_millis(CALLBACK_ATTEMPT_TIMEOUT_MS);
        match tokio::time::timeout(timeout, self.http.request(request)).await {
            Ok(Ok(r)) if r.status().is_success() => Ok(()),
            Ok(Ok(r)) if r.status().is_client_error() => Err(Failed::Refused(r.status().as_u16())),
            Ok(Ok(r)) => Err(Failed::Transient(format!("status {}", r.status()))),
            Ok(Err(e)) => Err(Failed::Transient(e.to_string())),
            Err(_) => Err(Failed::Transient("no answer in time".into())),
        }
    }

    /// Sends `callback` now, trying again while the participant cannot
    /// be reached or answers 5xx, as [`retry_pause_ms`] says; true once it
    /// answered 2xx.
    pub async fn deliver(&self, callback: &Callback) -> bool {
        let started_ms = SystemClock.now_ms();
        let deadline_ms = callback
            .deadline_ms
            .map(|d| d.min(started_ms.saturating_add(CALLBACK_DEADLINE_MAX_MS)));
        let mut attempt = 1;
        loop {
            let tried = match self.in_flight.acquire().await {
                Ok(_slot) => self.attempt(callback).await,
                // Closed: the switch is stopping.
                Err(_) => return false,
            };
            match tried {
                Ok(()) => {
                    metrics::counter!("harambee_fspiop_callbacks_total", "result" => "ok")
                        .increment(1);
                    return true;
                }
                Err(Failed::Refused(status)) => {
                    tracing::debug!(url = %callback.url, status, "callback refused");
                    metrics::counter!("harambee_fspiop_callbacks_total", "result" => "refused")
                        .increment(1);
                    return false;
                }
                Err(Failed::Transient(why)) => {
                    tracing::debug!(url = %callback.url, %why, attempt, "callback failed");
                }
            }
            let Some(pause_ms) = retry_pause_ms(attempt, SystemClock.now_ms(), deadline_ms) else {
                break;
            };
            tokio::time::sleep(Duration::from_millis(pause_ms)).await;
            attempt += 1;
        }
        metrics::counter!("harambee_fspiop_callbacks_total", "result" => "failed").increment(1);
        tracing::warn!(url = %callback.url, attempt, "a callback was given up on");
        false
    }
}

/// The pause before attempt `attempt + 1` of a callback whose attempt
/// `attempt` failed at `now_ms`, or `None` to give up: 200 ms doubling up
/// to [`CALLBACK_RETRY_MAX_MS`]; at least [`CALLBACK_ATTEMPTS_MIN`]
/// attempts; beyond those, only while the next one starts before
/// `deadline_ms`, and never more than [`CALLBACK_ATTEMPTS_MAX`].
pub fn retry_pause_ms(attempt: u32, now_ms: i64, deadline_ms: Option<i64>) -> Option<u64> {
    assert!(attempt >= 1, "attempts count from 1");
    if attempt >= CALLBACK_ATTEMPTS_MAX {
        return None;
    }
    let doubling = CALLBACK_RETRY_MS.saturating_mul(1u64 << (attempt - 1).min(16));
    let pause_ms = doubling.min(CALLBACK_RETRY_MAX_MS);
    if attempt < CALLBACK_ATTEMPTS_MIN {
        return Some(pause_ms);
    }
    let deadline_ms = deadline_ms?;
    let left_ms = u64::try_from(deadline_ms.saturating_sub(now_ms)).ok()?;
    // The last attempt goes just before the deadline.
    (left_ms > 0).then(|| pause_ms.min(left_ms))
}

/// The expiry of the transfer or quote `id` of `resource`: a callback
/// about it is worth trying until then, no longer.
pub fn deadline_of(st: &State, resource: &str, id: &str) -> Option<i64> {
    match resource {
        "transfers" => {
            let id = harambee_core::text::parse_uuid(id)?;
            st.ledger
                .transfer(harambee_ledger::TransferId(id))
                .map(|t| t.expires_at_ms)
        }
        "quotes" => st.directory.quote(id).map(|q| q.expires_at_ms),
        _ => None,
    }
}

impl Failed {
    /// Logs why a callback could not even be written.
    fn or_log(self, url: &str, why: &str) -> Failed {
        tracing::warn!(%url, %why, "a callback cannot be sent");
        self
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The attempts `retry_pause_ms` allows, from a first attempt at
    /// `start_ms`, when every attempt fails at once: their count and the
    /// time of the last.
    fn attempts(start_ms: i64, deadline_ms: Option<i64>) -> (u32, i64) {
        let (mut attempt, mut now_ms) = (1, start_ms);
        while let Some(pause_ms) = retry_pause_ms(attempt, now_ms, deadline_ms) {
            now_ms += i64::try_from(pause_ms).unwrap();
            attempt += 1;
        }
        (attempt, now_ms)
    }

    #[test]
    fn without_a_deadline_a_callback_is_tried_the_least_number_of_times() {
        assert_eq!(
            attempts(0, None),
            (CALLBACK_ATTEMPTS_MIN, 200 + 400 + 800 + 1_600)
        );
    }

    #[test]
    fn a_past_deadline_still_gets_the_least_number_of_attempts() {
        assert_eq!(attempts(10_000, Some(5_000)).0, CALLBACK_ATTEMPTS_MIN);
    }

    #[test]
    fn retries_go_on_until_the_deadline_and_not_past_it() {
        let deadline_ms = 60_000;
        let (count, last_ms) = attempts(0, Some(deadline_ms));
        assert!(count > CALLBACK_ATTEMPTS_MIN, "{count} attempts");
        assert!(last_ms <= deadline_ms, "last attempt at {last_ms}");
        assert_eq!(
            last_ms, deadline_ms,
            "the last attempt is just at the deadline"
        );
    }

    #[test]
    fn a_far_deadline_is_bounded_by_the_most_attempts() {
        assert_eq!(attempts(0, Some(i64::MAX)).0, CALLBACK_ATTEMPTS_MAX);
    }

    #[test]
    fn pauses_double_and_are_capped() {
        let pauses: Vec<u64> = (1..10)
            .map(|a| retry_pause_ms(a, 0, Some(i64::MAX)).unwrap())
            .collect();
        assert_eq!(
            pauses,
            [200, 400, 800, 1_600, 3_200, 6_400, 10_000, 10_000, 10_000]
        );
    }
}
