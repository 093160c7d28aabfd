//! Clients for the services the switch calls: each participant's
//! PayeeCallback and the external oracles. Channels are opened lazily, kept
//! per URL, and every call carries a deadline.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use harambee_proto::fspiop::{ErrorCode, FspiopError};
use harambee_proto::v1::oracle_client::OracleClient;
use harambee_proto::v1::payee_callback_client::PayeeCallbackClient;
use harambee_proto::v1::{
    CallbackTransferRequest, CallbackTransferResponse, ErrorInformation, ExtensionItem, Money,
    callback_transfer_response,
};
use tonic::transport::{Channel, Endpoint};

use crate::service::ports::{PayeeAnswer, PayeeConnector, TransferAsk};

/// Most distinct callback URLs kept open.
pub const CHANNELS_MAX: usize = 10_000;

/// How long to wait for a TCP connection to a participant.
pub const CONNECT_TIMEOUT_MS: u64 = 2_000;

#[derive(Default)]
pub struct Channels {
    open: Mutex<HashMap<String, Channel>>,
}

impl Channels {
    pub(crate) fn channel(&self, url: &str) -> Result<Channel, FspiopError> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = open.get(url) {
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
        let channel = endpoint.connect_lazy();
        if open.len() >= CHANNELS_MAX {
            open.clear();
        }
        open.insert(url.to_string(), channel.clone());
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

/// The error a participant answered with, as the switch passes it on: its
/// code (`fallback` if that is not an FSPIOP code) and its description.
pub fn remote_error(e: &ErrorInformation, fallback: u16) -> FspiopError {
    let code = harambee_proto::fspiop::parse_code(&e.error_code).unwrap_or(fallback);
    FspiopError {
        code,
        description: e
            .error_description
            .chars()
            .take(harambee_proto::fspiop::DESCRIPTION_LENGTH_MAX)
            .collect(),
    }
}

/// Reaches payees over gRPC: each participant's `PayeeCallback` service.
pub struct GrpcPayees {
    pub channels: std::sync::Arc<Channels>,
}

#[async_trait::async_trait]
impl PayeeConnector for GrpcPayees {
    async fn transfer(&self, endpoint: &str, ask: &TransferAsk, timeout: Duration) -> PayeeAnswer {
        let request = CallbackTransferRequest {
            transfer_id: harambee_core::text::uuid_string(ask.transfer_id.0),
            payer_fsp: ask.payer.clone(),
            payee_fsp: ask.payee.clone(),
            amount: Some(Money {
                amount: ask.amount.to_string(),
                currency: ask.currency.to_string(),
            }),
            ilp_packet: ask.terms.ilp_packet.clone(),
            condition: harambee_core::text::b64url(&ask.condition),
            expiration: Some(crate::validate::timestamp(ask.expires_at_ms)),
            quote_id: ask.terms.quote_id.clone(),
            transaction_id: ask.terms.transaction_id.clone(),
            extensions: ask
                .terms
                .extensions
                .iter()
                .map(|(key, value)| ExtensionItem {
                    key: key.clone(),
                    value: value.clone(),
                })
                .collect(),
        };
        let answer = match self.channels.payee(endpoint) {
            Ok(mut client) => client
                .transfer(with_deadline(request, timeout))
                .await
                .map(|r| r.into_inner()),
            Err(e) => Err(e.to_status()),
        };
        let rejected = ErrorCode::PayeeRejectedTransaction.number();
        match answer {
            Ok(CallbackTransferResponse {
                result: Some(callback_transfer_response::Result::Fulfilment(f)),
            }) => match crate::validate::b64url32("fulfilment", &f.fulfilment) {
                Ok(fulfilment) => PayeeAnswer::Fulfilled(fulfilment),
                Err(_) => PayeeAnswer::Malformed,
            },
            Ok(CallbackTransferResponse {
                result: Some(callback_transfer_response::Result::Error(e)),
            }) => PayeeAnswer::Rejected(remote_error(&e, rejected).code),
            Ok(CallbackTransferResponse {
                result: Some(callback_transfer_response::Result::Accepted(_)),
            }) => PayeeAnswer::Later,
            Ok(CallbackTransferResponse { result: None }) => PayeeAnswer::Rejected(rejected),
            Err(status)
                if matches!(
                    status.code(),
                    tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
                ) =>
            {
                PayeeAnswer::NoAnswer
            }
            Err(status) => PayeeAnswer::Unreachable(call_error(&status).code),
        }
    }
}
