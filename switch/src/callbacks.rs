//! Clients for the services the switch calls: each participant's
//! PayeeCallback and the external oracles. Channels are opened lazily, kept
//! per URL, and every call carries a deadline.

use std::time::Duration;

use harambee_proto::fspiop::ErrorCode;
use harambee_proto::v1::{
    CallbackTransferRequest, CallbackTransferResponse, ExtensionItem, Money,
    callback_transfer_response,
};

use crate::service::ports::{PayeeAnswer, PayeeConnector, TransferAsk};
use harambee_proto::client::{Channels, call_error, with_deadline};
use harambee_proto::convert::remote_error;

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
