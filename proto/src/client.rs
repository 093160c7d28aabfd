//! Clients of the services the switch calls over gRPC (each participant's
//! PayeeCallback, the external oracles, the other nodes of a cluster):
//! channels opened lazily and kept per URL, and a deadline on every call.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use crate::fspiop::{ErrorCode, FspiopError};
use crate::v1::oracle_client::OracleClient;
use crate::v1::payee_callback_client::PayeeCallbackClient;

/// Most distinct callback URLs kept open.
pub const CHANNELS_MAX: usize = 10_000;

/// How long to wait for a TCP connection to a participant.
pub const CONNECT_TIMEOUT_MS: u64 = 2_000;

/// The switch's channels to the gRPC servers it calls, one per URL; an
/// `https://` URL on the scheme's TLS ([`Channels::with_tls`]).
#[derive(Default)]
pub struct Channels {
    open: Mutex<HashMap<String, Channel>>,
    tls: Option<ClientTlsConfig>,
    anchors: Option<HostAnchors>,
}

/// The CA certificates (PEM) a server on a host may chain to beside the
/// scheme CA: those the participants with callbacks there are
/// registered by.
pub type HostAnchors = std::sync::Arc<dyn Fn(&str) -> Vec<String> + Send + Sync>;

impl Channels {
    /// Channels whose `https://` URLs run on `tls`: the server verified
    /// against the scheme CA, the switch presenting its own certificate.
    pub fn with_tls(tls: ClientTlsConfig) -> Channels {
        Channels {
            open: Mutex::default(),
            tls: Some(tls),
            anchors: None,
        }
    }

    /// Verifies an `https://` server against the CAs `anchors` names for
    /// its host too.
    pub fn with_host_anchors(mut self, anchors: HostAnchors) -> Channels {
        self.anchors = Some(anchors);
        self
    }

    pub fn channel(&self, url: &str) -> Result<Channel, FspiopError> {
        // A channel is kept per URL and set of extra CAs, so that a CA
        // registered or removed takes effect for the next call.
        let extra = match (&self.anchors, url.starts_with("https://")) {
            (Some(anchors), true) => harambee_core::text::url_host(url)
                .map(|h| anchors(h))
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let key = if extra.is_empty() {
            url.to_string()
        } else {
            format!("{url}\n{}", extra.concat())
        };
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = open.get(&key) {
            return Ok(c.clone());
        }
        let endpoint = Endpoint::from_shared(url.to_string())
            .map_err(|e| {
                FspiopError::new(
                    ErrorCode::DestinationCommunicationError,
                    format!("bad endpoint URL {url:?}: {e}"),
                )
            })?
            .connect_timeout(Duration::from_millis(CONNECT_TIMEOUT_MS))
            .tcp_nodelay(true);
        let endpoint = match (&self.tls, url.starts_with("https://")) {
            (Some(tls), true) => endpoint
                .tls_config(
                    tls.clone()
                        .ca_certificates(extra.iter().map(tonic::transport::Certificate::from_pem)),
                )
                .map_err(|e| {
                    FspiopError::new(
                        ErrorCode::DestinationCommunicationError,
                        format!("TLS to {url:?}: {e}"),
                    )
                })?,
            _ => endpoint,
        };
        let channel = endpoint.connect_lazy();
        if open.len() >= CHANNELS_MAX {
            open.clear();
        }
        open.insert(key, channel.clone());
        Ok(channel)
    }

    /// A PayeeCallback client for `url`.
    pub fn payee(&self, url: &str) -> Result<PayeeCallbackClient<Channel>, FspiopError> {
        Ok(PayeeCallbackClient::new(self.channel(url)?))
    }

    /// An Oracle client for `url`.
    pub fn oracle(&self, url: &str) -> Result<OracleClient<Channel>, FspiopError> {
        Ok(OracleClient::new(self.channel(url)?))
    }
}

/// A request with a deadline.
pub fn with_deadline<T>(message: T, timeout: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(timeout);
    request
}

/// The FSPIOP error for a failed call to a participant: its own error if it
/// sent one, else 1001 (destination communication error).
pub fn call_error(status: &tonic::Status) -> FspiopError {
    FspiopError::from_status(status)
}
