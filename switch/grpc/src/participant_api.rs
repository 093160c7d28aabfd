//! The Participant API server: lookup, quotes, transfers, notifications,
//! each a translation onto the service layer.

use std::pin::Pin;

use futures::Stream;
use harambee_core::record::PrepareTerms;
use harambee_ledger::TransferId;
use harambee_proto::convert::{remote_error, transfer_result};
use harambee_proto::fspiop::{ErrorCode, FspiopError};
use harambee_proto::v1::participant_api_server::ParticipantApi;
use harambee_proto::v1::*;
use harambee_proto::validate;
use harambee_service::transfers::{Answer, Prepare, TransferView};
use tonic::{Request, Response, Status};

use crate::edge::Ctx;

pub struct ParticipantService {
    pub ctx: Ctx,
}

type Result<T> = std::result::Result<T, FspiopError>;

fn count(call: &'static str, result: &std::result::Result<impl Sized, FspiopError>) {
    let code = match result {
        Ok(_) => "ok".to_string(),
        Err(e) => format!("{:04}", e.code),
    };
    metrics::counter!("harambee_requests_total", "api" => "participant", "call" => call, "code" => code).increment(1);
}

/// A transfer as the participant API shows it.
fn shown(view: TransferView) -> TransferResult {
    transfer_result(&view.record, view.amount, view.payer, view.payee)
}

/// A `PrepareTransfer` request as the service layer's prepare, every field
/// checked (pure: bad input gets its code and changes nothing).
pub fn prepare_of(r: PrepareTransferRequest) -> Result<Prepare> {
    let transfer_id = TransferId(validate::uuid("transfer_id", &r.transfer_id)?);
    let payee = validate::fsp_id("payee_fsp", &r.payee_fsp)?.to_string();
    let (amount, currency) = validate::money("amount", r.amount.as_ref())?;
    validate::ilp_packet("ilp_packet", &r.ilp_packet)?;
    let condition = validate::b64url32("condition", &r.condition)?;
    let expires_at_ms = validate::timestamp_ms("expiration", r.expiration.as_ref())?;
    if !r.quote_id.is_empty() {
        validate::uuid("quote_id", &r.quote_id)?;
    }
    if !r.transaction_id.is_empty() {
        validate::uuid("transaction_id", &r.transaction_id)?;
    }
    Ok(Prepare {
        transfer_id,
        payee,
        amount,
        currency,
        condition,
        expires_at_ms,
        terms: PrepareTerms {
            ilp_packet: r.ilp_packet,
            quote_id: r.quote_id,
            transaction_id: r.transaction_id,
            extensions: r.extensions.into_iter().map(|e| (e.key, e.value)).collect(),
        },
    })
}

/// A `FulfilTransfer` request as the transfer it names and the payee's
/// answer, every field checked (pure).
pub fn answer_of(r: FulfilTransferRequest) -> Result<(TransferId, Answer)> {
    let id = TransferId(validate::uuid("transfer_id", &r.transfer_id)?);
    let answer = match r.result {
        Some(fulfil_transfer_request::Result::Fulfilment(f)) => {
            Answer::Fulfil(validate::b64url32("fulfilment", &f.fulfilment)?)
        }
        Some(fulfil_transfer_request::Result::Error(e)) => {
            Answer::Reject(remote_error(&e, ErrorCode::PayeeRejectedTransaction.number()).code)
        }
        None => {
            return Err(FspiopError::new(
                ErrorCode::MissingElement,
                "result: a fulfilment or an error is required",
            ));
        }
    };
    Ok((id, answer))
}

impl ParticipantService {
    async fn lookup(
        &self,
        requester: String,
        r: LookupPartyRequest,
    ) -> Result<LookupPartyResponse> {
        let Some(identifier) = r.party else {
            return Err(validate::party("party", None).err().unwrap_or_else(|| {
                FspiopError::new(ErrorCode::MissingElement, "party is required")
            }));
        };
        let party = self
            .ctx
            .service
            .lookup(&requester, &identifier, &r.currency)
            .await?;
        Ok(LookupPartyResponse { party: Some(party) })
    }

    async fn register(&self, owner: String, r: Option<&PartyIdentifier>, add: bool) -> Result<()> {
        let party = validate::party("party", r)?;
        Ok(self.ctx.service.register_party(&owner, party, add).await?)
    }

    async fn prepare(&self, payer: String, r: PrepareTransferRequest) -> Result<TransferResult> {
        let prepare = prepare_of(r)?;
        let view = self.ctx.service.transfers.prepare(&payer, prepare).await?;
        Ok(shown(view))
    }

    /// The payee's own answer to a transfer (`FulfilTransfer`).
    async fn fulfil(&self, caller: String, r: FulfilTransferRequest) -> Result<TransferResult> {
        let (id, answer) = answer_of(r)?;
        let view = self
            .ctx
            .service
            .transfers
            .fulfil(&caller, id, answer)
            .await?;
        Ok(shown(view))
    }

    fn read_transfer(&self, caller: &str, id: TransferId) -> Result<TransferResult> {
        Ok(shown(self.ctx.service.transfers.view(caller, id)?))
    }
}

type NotificationStream =
    Pin<Box<dyn Stream<Item = std::result::Result<Notification, Status>> + Send>>;

#[tonic::async_trait]
impl ParticipantApi for ParticipantService {
    async fn lookup_party(
        &self,
        request: Request<LookupPartyRequest>,
    ) -> std::result::Result<Response<LookupPartyResponse>, Status> {
        let result = match self.ctx.admit(&request) {
            Ok((caller, _admitted)) => self.lookup(caller, request.into_inner()).await,
            Err(e) => Err(e),
        };
        count("LookupParty", &result);
        result.map(Response::new).map_err(Into::into)
    }

    async fn register_party(
        &self,
        request: Request<RegisterPartyRequest>,
    ) -> std::result::Result<Response<RegisterPartyResponse>, Status> {
        let result = async {
            let (caller, _admitted) = self.ctx.admit(&request)?;
            self.register(caller, request.get_ref().party.as_ref(), true)
                .await
        }
        .await;
        count("RegisterParty", &result);
        result
            .map(|_| Response::new(RegisterPartyResponse {}))
            .map_err(Into::into)
    }

    async fn deregister_party(
        &self,
        request: Request<DeregisterPartyRequest>,
    ) -> std::result::Result<Response<DeregisterPartyResponse>, Status> {
        let result = async {
            let (caller, _admitted) = self.ctx.admit(&request)?;
            self.register(caller, request.get_ref().party.as_ref(), false)
                .await
        }
        .await;
        count("DeregisterParty", &result);
        result
            .map(|_| Response::new(DeregisterPartyResponse {}))
            .map_err(Into::into)
    }

    async fn request_quote(
        &self,
        request: Request<QuoteRequest>,
    ) -> std::result::Result<Response<QuoteResponse>, Status> {
        let started = std::time::Instant::now();
        let result = match self.ctx.admit(&request) {
            Ok((caller, _admitted)) => self
                .ctx
                .service
                .quote(&caller, request.into_inner())
                .await
                .map_err(FspiopError::from),
            Err(e) => Err(e),
        };
        metrics::histogram!("harambee_request_seconds", "call" => "RequestQuote")
            .record(started.elapsed().as_secs_f64());
        count("RequestQuote", &result);
        result.map(Response::new).map_err(Into::into)
    }

    async fn get_quote(
        &self,
        request: Request<GetQuoteRequest>,
    ) -> std::result::Result<Response<QuoteResponse>, Status> {
        let result = match self.ctx.admit(&request) {
            Ok((caller, _admitted)) => self
                .ctx
                .service
                .get_quote(&caller, &request.get_ref().quote_id)
                .await
                .map_err(FspiopError::from),
            Err(e) => Err(e),
        };
        count("GetQuote", &result);
        result.map(Response::new).map_err(Into::into)
    }

    async fn prepare_transfer(
        &self,
        request: Request<PrepareTransferRequest>,
    ) -> std::result::Result<Response<TransferResult>, Status> {
        let started = std::time::Instant::now();
        let result = match self.ctx.admit(&request) {
            Ok((caller, _admitted)) => self.prepare(caller, request.into_inner()).await,
            Err(e) => Err(e),
        };
        metrics::histogram!("harambee_request_seconds", "call" => "PrepareTransfer")
            .record(started.elapsed().as_secs_f64());
        if let Ok(t) = &result {
            let outcome = match &t.error {
                Some(e) => e.error_code.clone(),
                None => "committed".to_string(),
            };
            metrics::counter!("harambee_transfers_total", "outcome" => outcome).increment(1);
        }
        count("PrepareTransfer", &result);
        result.map(Response::new).map_err(Into::into)
    }

    async fn fulfil_transfer(
        &self,
        request: Request<FulfilTransferRequest>,
    ) -> std::result::Result<Response<TransferResult>, Status> {
        let result = match self.ctx.admit(&request) {
            Ok((caller, _admitted)) => self.fulfil(caller, request.into_inner()).await,
            Err(e) => Err(e),
        };
        count("FulfilTransfer", &result);
        result.map(Response::new).map_err(Into::into)
    }

    async fn get_transfer(
        &self,
        request: Request<GetTransferRequest>,
    ) -> std::result::Result<Response<TransferResult>, Status> {
        let result = self.ctx.admit(&request).and_then(|(caller, _admitted)| {
            let id = TransferId(validate::uuid(
                "transfer_id",
                &request.get_ref().transfer_id,
            )?);
            self.read_transfer(&caller, id)
        });
        count("GetTransfer", &result);
        result.map(Response::new).map_err(Into::into)
    }

    type NotificationsStream = NotificationStream;

    async fn notifications(
        &self,
        request: Request<NotificationsRequest>,
    ) -> std::result::Result<Response<Self::NotificationsStream>, Status> {
        // Admitted as any call (its rate counts); the stream then holds no
        // place in flight.
        let (caller, admitted) = self.ctx.admit(&request).map_err(Status::from)?;
        drop(admitted);
        let from = request.get_ref().from_sequence;
        let notices = self
            .ctx
            .service
            .notices_from(&caller, from)
            .map_err(|e| FspiopError::from(e).to_status())?;
        let stream = tokio_stream::StreamExt::map(
            tokio_stream::wrappers::ReceiverStream::new(notices),
            |n| n.map_err(|e| FspiopError::from(e).to_status()),
        );
        metrics::counter!("harambee_requests_total", "api" => "participant", "call" => "Notifications", "code" => "ok").increment(1);
        Ok(Response::new(Box::pin(stream)))
    }
}
