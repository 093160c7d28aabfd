//! The service layer's ports over gRPC: each participant's PayeeCallback
//! (parties, quotes, transfers, notices) and the external oracles.
//! Channels are opened lazily and kept per URL (`harambee_proto::client`),
//! and every call carries a deadline.

use std::sync::Arc;
use std::time::Duration;

use harambee_core::error::SwitchError;
use harambee_proto::client::{Channels, call_error, with_deadline};
use harambee_proto::convert::remote_error;
use harambee_proto::fspiop::ErrorCode;
use harambee_proto::v1::{
    CallbackQuoteRequest, CallbackTransferRequest, CallbackTransferResponse, ExtensionItem,
    GetPartyRequest, LookupParticipantRequest, Money, Notification, Party, PartyIdentifier,
    QuoteRequest, QuoteTerms, callback_quote_response, callback_transfer_response,
    get_party_response,
};
use harambee_service::ports::{Notices, Oracle, PayeeAnswer, PayeeConnector, Route, TransferAsk};
use tokio::sync::Semaphore;

/// Deadline of one Notify call.
pub const NOTIFY_TIMEOUT_MS: u64 = 5_000;

/// Notify calls in flight at once; beyond, notices are not pushed (they
/// stay readable on the Notifications stream).
pub const NOTIFY_IN_FLIGHT_MAX: usize = 1_024;

/// The gRPC URL of a route; 1001 for a participant reached otherwise.
fn grpc_url(route: &Route) -> Result<&str, SwitchError> {
    match route {
        Route::Grpc(url) => Ok(url),
        Route::Fspiop(e) => Err(SwitchError::new(
            ErrorCode::DestinationCommunicationError,
            format!("{} is reached over FSPIOP, not gRPC", e.participant),
        )),
        Route::Iso8583(name) => Err(SwitchError::new(
            ErrorCode::DestinationCommunicationError,
            format!("{name} is reached over ISO 8583, not gRPC"),
        )),
    }
}

/// Reaches payees over gRPC: each participant's `PayeeCallback` service.
pub struct GrpcPayees {
    pub channels: std::sync::Arc<Channels>,
}

#[async_trait::async_trait]
impl PayeeConnector for GrpcPayees {
    async fn party(
        &self,
        route: &Route,
        party: &PartyIdentifier,
        requester: &str,
        timeout: Duration,
    ) -> Result<Party, SwitchError> {
        let request = GetPartyRequest {
            party: Some(party.clone()),
            requester_fsp: requester.to_string(),
        };
        let response = self
            .channels
            .payee(grpc_url(route)?)?
            .get_party(with_deadline(request, timeout))
            .await
            .map_err(|s| call_error(&s))?
            .into_inner();
        match response.result {
            Some(get_party_response::Result::Party(p)) => Ok(p),
            Some(get_party_response::Result::Error(e)) => {
                Err(remote_error(&e, ErrorCode::PartyNotFound.number()).into())
            }
            None => Err(SwitchError::new(
                ErrorCode::PartyNotFound,
                "the owner returned no party",
            )),
        }
    }

    async fn quote(
        &self,
        route: &Route,
        request: &QuoteRequest,
        timeout: Duration,
    ) -> Result<QuoteTerms, SwitchError> {
        let request = CallbackQuoteRequest {
            request: Some(request.clone()),
        };
        let response = self
            .channels
            .payee(grpc_url(route)?)?
            .quote(with_deadline(request, timeout))
            .await
            .map_err(|s| call_error(&s))?
            .into_inner();
        match response.result {
            Some(callback_quote_response::Result::Terms(t)) => Ok(t),
            Some(callback_quote_response::Result::Error(e)) => {
                Err(remote_error(&e, ErrorCode::PayeeRejectedQuote.number()).into())
            }
            None => Err(SwitchError::new(
                ErrorCode::PayeeRejectedQuote,
                "the payee returned no terms",
            )),
        }
    }

    async fn transfer(&self, route: &Route, ask: &TransferAsk, timeout: Duration) -> PayeeAnswer {
        let Ok(endpoint) = grpc_url(route) else {
            return PayeeAnswer::Unreachable(ErrorCode::DestinationCommunicationError.number());
        };
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
            expiration: Some(harambee_proto::validate::timestamp(ask.expires_at_ms)),
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
            }) => match harambee_proto::validate::b64url32("fulfilment", &f.fulfilment) {
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

/// Asks external oracles over gRPC (the `Oracle` service).
pub struct GrpcOracle {
    pub channels: Arc<Channels>,
}

#[async_trait::async_trait]
impl Oracle for GrpcOracle {
    async fn owner(
        &self,
        url: &str,
        party: &PartyIdentifier,
        currency: &str,
        timeout: Duration,
    ) -> Result<String, SwitchError> {
        let request = LookupParticipantRequest {
            party: Some(party.clone()),
            currency: currency.to_string(),
        };
        let response = self
            .channels
            .oracle(url)?
            .lookup_participant(with_deadline(request, timeout))
            .await
            .map_err(|s| call_error(&s))?
            .into_inner();
        Ok(response.fsp_id)
    }
}

/// Pushes notices to each participant's `PayeeCallback.Notify`, without
/// waiting, at most `NOTIFY_IN_FLIGHT_MAX` at once.
pub struct GrpcNotices {
    channels: Arc<Channels>,
    in_flight: Arc<Semaphore>,
}

impl GrpcNotices {
    pub fn new(channels: Arc<Channels>) -> GrpcNotices {
        GrpcNotices {
            channels,
            in_flight: Arc::new(Semaphore::new(NOTIFY_IN_FLIGHT_MAX)),
        }
    }
}

impl Notices for GrpcNotices {
    fn deliver(&self, participant: &str, route: &Route, notification: Notification) {
        let Route::Grpc(endpoint) = route else {
            return;
        };
        let Ok(permit) = self.in_flight.clone().try_acquire_owned() else {
            metrics::counter!("harambee_notify_total", "result" => "skipped").increment(1);
            return;
        };
        let Ok(mut client) = self.channels.payee(endpoint) else {
            return;
        };
        let participant = participant.to_string();
        tokio::spawn(async move {
            let _permit = permit;
            let timeout = Duration::from_millis(NOTIFY_TIMEOUT_MS);
            match client.notify(with_deadline(notification, timeout)).await {
                Ok(_) => metrics::counter!("harambee_notify_total", "result" => "ok").increment(1),
                Err(status) => {
                    metrics::counter!("harambee_notify_total", "result" => "failed").increment(1);
                    tracing::debug!(%participant, error = %status.message(), "notify failed");
                }
            }
        });
    }
}
