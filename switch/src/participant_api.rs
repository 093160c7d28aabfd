//! The Participant API server: lookup, quotes, transfers, notifications.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use harambee_ledger::{Reply, TransferId, TransferState};
use harambee_proto::fspiop::{ErrorCode, FspiopError};
use harambee_proto::v1::callback_quote_response;
use harambee_proto::v1::get_party_response;
use harambee_proto::v1::participant_api_server::ParticipantApi;
use harambee_proto::v1::*;
use prost::Message;
use sha2::{Digest, Sha256};
use tokio::sync::broadcast::error::RecvError;
use tonic::{Request, Response, Status};

use crate::edge::{Ctx, Notice, now_ms};
use crate::service::ports::TransferAsk;
use crate::service::transfers::{Answer, Asked, Transfers};
use harambee_core::record::{
    DirectoryCommand, LedgerCommand, LogRecord, ParticipantRef, PartyKey, PrepareTerms, QuoteRecord,
};
use harambee_core::state::{Applied, DirectoryReply};
use harambee_proto::client::{call_error, with_deadline};
use harambee_proto::convert::remote_error;
use harambee_proto::convert::transfer_result;
use harambee_proto::validate;

/// Longest wait for the quotes projection when a quote is not in memory
/// (a repeat of a quote released after its expiry is found there).
pub const QUOTE_LOOKUP_TIMEOUT_MS: u64 = 250;

/// Stored notifications a stream reads at a time.
pub const NOTICES_PAGE_MAX: u32 = 256;

/// How long a stream that is behind waits for the live path before it
/// looks in the store again.
pub const NOTICE_POLL_MS: u64 = 200;

/// Notifications waiting to be sent on one stream.
pub const STREAM_BUFFER_MAX: usize = 256;

pub struct ParticipantService {
    pub ctx: Ctx,
    /// The transfer saga of the service layer.
    pub transfers: Arc<Transfers>,
}

type Result<T> = std::result::Result<T, FspiopError>;

fn ledger_outcome(applied: Applied) -> Result<harambee_ledger::Outcome> {
    match applied {
        Applied::Ledger { outcome, .. } => Ok(outcome),
        Applied::Directory(_) | Applied::Settlement { .. } => Err(FspiopError::new(
            ErrorCode::InternalServerError,
            "unexpected reply",
        )),
    }
}

fn directory_reply(applied: Applied) -> Result<DirectoryReply> {
    match applied {
        Applied::Directory(r) => r.map_err(FspiopError::from),
        Applied::Ledger { .. } | Applied::Settlement { .. } => Err(FspiopError::new(
            ErrorCode::InternalServerError,
            "unexpected reply",
        )),
    }
}

fn count(call: &'static str, result: &std::result::Result<impl Sized, FspiopError>) {
    let code = match result {
        Ok(_) => "ok".to_string(),
        Err(e) => format!("{:04}", e.code),
    };
    metrics::counter!("harambee_requests_total", "api" => "participant", "call" => call, "code" => code).increment(1);
}

impl ParticipantService {
    fn fsp_of_party(&self, party: &PartyKey) -> Result<Option<String>> {
        let st = self.ctx.engine.read()?;
        if let Some(url) = st.directory.oracle(&party.party_type) {
            return Ok(Some(format!("oracle:{url}")));
        }
        if !self
            .ctx
            .config
            .lookup
            .builtin_oracle_party_types
            .contains(&party.party_type)
        {
            return Err(FspiopError::new(
                ErrorCode::AddPartyInformationError,
                format!("no oracle serves party type {}", party.party_type),
            ));
        }
        Ok(st.directory.party_owner(party).map(str::to_string))
    }

    async fn owner_of(
        &self,
        identifier: &PartyIdentifier,
        party: &PartyKey,
        currency: &str,
    ) -> Result<String> {
        match self.fsp_of_party(party)? {
            None => Err(FspiopError::new(
                ErrorCode::PartyNotFound,
                format!("no participant owns {} {}", party.party_type, party.id),
            )),
            Some(owner) => match owner.strip_prefix("oracle:") {
                None => Ok(owner),
                Some(url) => {
                    let mut client = self.ctx.channels.oracle(url)?;
                    let request = LookupParticipantRequest {
                        party: Some(identifier.clone()),
                        currency: currency.to_string(),
                    };
                    let timeout = Ctx::timeout(self.ctx.config.lookup.timeout_ms);
                    let response = client
                        .lookup_participant(with_deadline(request, timeout))
                        .await
                        .map_err(|s| call_error(&s))?
                        .into_inner();
                    validate::fsp_id("oracle fsp_id", &response.fsp_id)?;
                    Ok(response.fsp_id)
                }
            },
        }
    }

    async fn lookup(
        &self,
        requester: String,
        r: LookupPartyRequest,
    ) -> Result<LookupPartyResponse> {
        let party = validate::party("party", r.party.as_ref())?;
        if !r.currency.is_empty() {
            validate::currency("currency", &r.currency)?;
        }
        let identifier = r.party.clone().unwrap_or_default();
        let owner = self.owner_of(&identifier, &party, &r.currency).await?;
        let url = self.transfers.endpoint(&owner)?;
        let mut client = self.ctx.channels.payee(&url)?;
        let request = GetPartyRequest {
            party: Some(identifier),
            requester_fsp: requester,
        };
        let response = client
            .get_party(with_deadline(
                request,
                Ctx::timeout(self.ctx.config.lookup.timeout_ms),
            ))
            .await
            .map_err(|s| call_error(&s))?
            .into_inner();
        match response.result {
            Some(get_party_response::Result::Party(mut p)) => {
                p.fsp_id = owner;
                Ok(LookupPartyResponse { party: Some(p) })
            }
            Some(get_party_response::Result::Error(e)) => {
                Err(remote_error(&e, ErrorCode::PartyNotFound.number()))
            }
            None => Err(FspiopError::new(
                ErrorCode::PartyNotFound,
                "the owner returned no party",
            )),
        }
    }

    async fn register(&self, owner: String, party: PartyKey, add: bool) -> Result<()> {
        let command = if add {
            DirectoryCommand::RegisterParty {
                owner,
                party,
                now_ms: now_ms(),
            }
        } else {
            DirectoryCommand::DeregisterParty {
                owner,
                party,
                now_ms: now_ms(),
            }
        };
        directory_reply(
            self.ctx
                .engine
                .submit(LogRecord::Directory(command))
                .await?,
        )?;
        Ok(())
    }

    async fn quote(&self, payer: String, mut r: QuoteRequest) -> Result<QuoteResponse> {
        let quote_id = validate::uuid("quote_id", &r.quote_id)?;
        validate::uuid("transaction_id", &r.transaction_id)?;
        let payee_party = r
            .payee
            .as_ref()
            .ok_or_else(|| FspiopError::new(ErrorCode::MissingElement, "payee is required"))?;
        validate::party("payee.identifier", payee_party.identifier.as_ref())?;
        let payee = validate::fsp_id("payee.fsp_id", &payee_party.fsp_id)?.to_string();
        let payer_party = r.payer.get_or_insert_with(Party::default);
        if payer_party.fsp_id.is_empty() {
            payer_party.fsp_id = payer.clone();
        } else if payer_party.fsp_id != payer {
            return Err(FspiopError::new(
                ErrorCode::GenericClientError,
                "payer.fsp_id must be the calling participant",
            ));
        }
        if AmountType::try_from(r.amount_type)
            .ok()
            .filter(|t| *t != AmountType::Unspecified)
            .is_none()
        {
            return Err(FspiopError::new(
                ErrorCode::ValidationError,
                "amount_type: must be SEND or RECEIVE",
            ));
        }
        let (_, currency) = validate::money("amount", r.amount.as_ref())?;
        if let Some(fees) = r.fees.as_ref() {
            fee("fees", Some(fees), currency)?;
        }
        validate::note("note", &r.note)?;
        let expiration_ms = r
            .expiration
            .is_some()
            .then(|| validate::timestamp_ms("expiration", r.expiration.as_ref()))
            .transpose()?;
        let request_sha256: [u8; 32] = Sha256::digest(r.encode_to_vec()).into();
        let quote_key = harambee_core::text::uuid_string(quote_id);
        let (held, maybe_released) = {
            let st = self.ctx.engine.read()?;
            let held = st.directory.quote(&quote_key).map(|q| {
                (
                    q.request_sha256 == request_sha256 && q.payer == payer,
                    q.response.clone(),
                )
            });
            (held, st.directory.quote_may_be_released(&quote_key))
        };
        // A quote the state has released (expired) is still in the quotes
        // projection: the same id is still the same quote. Only an id the
        // filter of released ids names is looked up there.
        let known = match held {
            Some(known) => Some(known),
            None if !maybe_released => None,
            None => self.stored_quote(&quote_key).await.map(|q| {
                (
                    q.request_sha256 == harambee_core::text::hex(&request_sha256)
                        && q.payer == payer,
                    q.response,
                )
            }),
        };
        if let Some((same, response)) = known {
            if !same {
                return Err(FspiopError::new(
                    ErrorCode::ModifiedRequest,
                    format!("quote {quote_key} was requested with other content"),
                ));
            }
            return QuoteResponse::decode(response.as_slice()).map_err(|e| {
                FspiopError::new(ErrorCode::InternalServerError, format!("stored quote: {e}"))
            });
        }
        // A repeat is answered whenever it comes; a new request must still
        // be valid.
        if expiration_ms.is_some_and(|ms| ms <= now_ms()) {
            return Err(FspiopError::new(
                ErrorCode::ValidationError,
                "expiration: is in the past",
            ));
        }
        let url = self.transfers.endpoint(&payee)?;
        let mut client = self.ctx.channels.payee(&url)?;
        let response = client
            .quote(with_deadline(
                CallbackQuoteRequest {
                    request: Some(r.clone()),
                },
                Ctx::timeout(self.ctx.config.quote.timeout_ms),
            ))
            .await
            .map_err(|s| call_error(&s))?
            .into_inner();
        let terms = match response.result {
            Some(callback_quote_response::Result::Terms(t)) => t,
            Some(callback_quote_response::Result::Error(e)) => {
                return Err(remote_error(&e, ErrorCode::PayeeRejectedQuote.number()));
            }
            None => {
                return Err(FspiopError::new(
                    ErrorCode::PayeeRejectedQuote,
                    "the payee returned no terms",
                ));
            }
        };
        let bad = |field: &str, e: FspiopError| {
            FspiopError::new(
                ErrorCode::PayeeRejectedQuote,
                format!("payee's quote {field}: {}", e.description),
            )
        };
        let (_, transfer_currency) =
            validate::money("transfer_amount", terms.transfer_amount.as_ref())
                .map_err(|e| bad("transfer_amount", e))?;
        if transfer_currency != currency {
            return Err(FspiopError::new(
                ErrorCode::PayeeRejectedQuote,
                "payee's quote is in another currency",
            ));
        }
        validate::money("payee_receive_amount", terms.payee_receive_amount.as_ref())
            .map_err(|e| bad("payee_receive_amount", e))?;
        fee("payee_fsp_fee", terms.payee_fsp_fee.as_ref(), currency)
            .map_err(|e| bad("payee_fsp_fee", e))?;
        fee(
            "payee_fsp_commission",
            terms.payee_fsp_commission.as_ref(),
            currency,
        )
        .map_err(|e| bad("payee_fsp_commission", e))?;
        let expires_at_ms = validate::timestamp_ms("expiration", terms.expiration.as_ref())
            .map_err(|e| bad("expiration", e))?;
        if expires_at_ms <= now_ms() {
            return Err(FspiopError::new(
                ErrorCode::PayeeRejectedQuote,
                "payee's quote has already expired",
            ));
        }
        validate::b64url32("condition", &terms.condition).map_err(|e| bad("condition", e))?;
        validate::ilp_packet("ilp_packet", &terms.ilp_packet).map_err(|e| bad("ilp_packet", e))?;
        let quote = QuoteResponse {
            quote_id: quote_key.clone(),
            transaction_id: r.transaction_id.clone(),
            payer_fsp: payer.clone(),
            payee_fsp: payee.clone(),
            transfer_amount: terms.transfer_amount,
            payee_receive_amount: terms.payee_receive_amount,
            payee_fsp_fee: terms.payee_fsp_fee,
            payee_fsp_commission: terms.payee_fsp_commission,
            expiration: terms.expiration,
            ilp_packet: terms.ilp_packet,
            condition: terms.condition,
            extensions: terms.extensions,
        };
        let record = QuoteRecord {
            quote_id: quote_key,
            payer,
            payee,
            request_sha256,
            response: quote.encode_to_vec(),
            expires_at_ms,
            recorded_at_ms: now_ms(),
        };
        match directory_reply(
            self.ctx
                .engine
                .submit(LogRecord::Directory(DirectoryCommand::RecordQuote(record)))
                .await?,
        )? {
            DirectoryReply::Quote(recorded) => QuoteResponse::decode(recorded.response.as_slice())
                .map_err(|e| {
                    FspiopError::new(ErrorCode::InternalServerError, format!("stored quote: {e}"))
                }),
            _ => Ok(quote),
        }
    }

    /// A quote from the quotes projection, if it is there with its answer
    /// (looked for at most `QUOTE_LOOKUP_TIMEOUT_MS`: a projection store
    /// that is down must not hold up payments).
    async fn stored_quote(&self, quote_key: &str) -> Option<harambee_read::projection::QuoteRow> {
        let lookup = tokio::time::timeout(
            Duration::from_millis(QUOTE_LOOKUP_TIMEOUT_MS),
            self.ctx.projections.quote(quote_key),
        );
        match lookup.await {
            Ok(Ok(row)) => row.filter(|q| !q.response.is_empty()),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "quotes projection unavailable");
                None
            }
            Err(_) => {
                metrics::counter!("harambee_quote_lookup_timeouts_total").increment(1);
                None
            }
        }
    }

    async fn get_quote_for(&self, caller: &str, quote_id: &str) -> Result<QuoteResponse> {
        let id = validate::uuid("quote_id", quote_id)?;
        let key = harambee_core::text::uuid_string(id);
        let held = self
            .ctx
            .engine
            .read()?
            .directory
            .quote(&key)
            .map(|q| (q.payer.clone(), q.payee.clone(), q.response.clone()));
        let (payer, payee, response) = match held {
            Some(q) => q,
            None => self
                .stored_quote(&key)
                .await
                .map(|q| (q.payer, q.payee, q.response))
                .ok_or_else(|| {
                    FspiopError::new(
                        ErrorCode::QuoteNotFound,
                        format!("quote {quote_id} not found"),
                    )
                })?,
        };
        if payer != caller && payee != caller {
            return Err(FspiopError::new(
                ErrorCode::GenericClientError,
                "only the payer or payee may read a quote",
            ));
        }
        QuoteResponse::decode(response.as_slice()).map_err(|e| {
            FspiopError::new(ErrorCode::InternalServerError, format!("stored quote: {e}"))
        })
    }

    /// The transfer as the caller may see it.
    fn read_transfer(&self, caller: &str, id: TransferId) -> Result<TransferResult> {
        let st = self.ctx.engine.read()?;
        let t = st.ledger.transfer(id).ok_or_else(|| {
            FspiopError::new(
                ErrorCode::TransferNotFound,
                format!("transfer {id} not found"),
            )
        })?;
        let payer = st
            .ledger
            .participant_name(t.payer)
            .map(str::to_string)
            .unwrap_or_default();
        let payee = st
            .ledger
            .participant_name(t.payee)
            .map(str::to_string)
            .unwrap_or_default();
        if caller != payer && caller != payee {
            return Err(FspiopError::new(
                ErrorCode::GenericClientError,
                "only the payer or payee may read a transfer",
            ));
        }
        Ok(transfer_result(t, payer, payee))
    }

    async fn prepare(
        &self,
        payer_name: String,
        r: PrepareTransferRequest,
    ) -> Result<TransferResult> {
        let id = TransferId(validate::uuid("transfer_id", &r.transfer_id)?);
        let payee_name = validate::fsp_id("payee_fsp", &r.payee_fsp)?.to_string();
        let (amount, currency) = validate::money("amount", r.amount.as_ref())?;
        validate::ilp_packet("ilp_packet", &r.ilp_packet)?;
        let condition = validate::b64url32("condition", &r.condition)?;
        let expires_at_ms = validate::timestamp_ms("expiration", r.expiration.as_ref())?;
        let lifetime_max_ms =
            i64::try_from(self.ctx.config.transfer.lifetime_max_ms).unwrap_or(i64::MAX);
        if expires_at_ms.saturating_sub(now_ms()) > lifetime_max_ms {
            return Err(FspiopError::new(
                ErrorCode::ValidationError,
                format!(
                    "expiration: more than {lifetime_max_ms} ms ahead; the scheme holds funds for a transfer at most that long"
                ),
            ));
        }
        if !r.quote_id.is_empty() {
            validate::uuid("quote_id", &r.quote_id)?;
        }
        if !r.transaction_id.is_empty() {
            validate::uuid("transaction_id", &r.transaction_id)?;
        }
        {
            let st = self.ctx.engine.read()?;
            if st.ledger.participant_by_name(&payer_name).is_none() {
                return Err(FspiopError::new(
                    ErrorCode::PayerFspNotFound,
                    "payer is not a participant",
                ));
            }
            if st.ledger.participant_by_name(&payee_name).is_none() {
                return Err(FspiopError::new(
                    ErrorCode::DestinationFspError,
                    format!("payee {payee_name} is not a participant"),
                ));
            }
        }
        let now = now_ms();
        let terms = PrepareTerms {
            ilp_packet: r.ilp_packet,
            quote_id: r.quote_id,
            transaction_id: r.transaction_id,
            extensions: r.extensions.into_iter().map(|e| (e.key, e.value)).collect(),
        };
        let command = LedgerCommand::Prepare {
            transfer_id: id,
            payer: ParticipantRef::name(payer_name.as_str()),
            payee: ParticipantRef::name(payee_name.as_str()),
            currency,
            amount,
            condition,
            expires_at_ms,
            now_ms: now,
            terms: terms.clone(),
        };
        let outcome = ledger_outcome(self.ctx.engine.submit(LogRecord::Ledger(command)).await?)?;
        match outcome.result {
            Err(e) => {
                // A recorded business refusal is a final ABORTED transfer;
                // anything else was a bad request and changed nothing.
                let refused = self
                    .ctx
                    .engine
                    .read()?
                    .ledger
                    .transfer(id)
                    .is_some_and(|t| t.state == TransferState::Refused);
                if refused {
                    return self.read_transfer(&payer_name, id);
                }
                Err(FspiopError::from_number(e.code(), e.to_string()))
            }
            Ok(Reply::Transfer { state, .. }) if state.is_final() => {
                self.read_transfer(&payer_name, id)
            }
            Ok(_) if outcome.duplicate => {
                self.transfers
                    .wait_final(id, expires_at_ms)
                    .await
                    .map_err(FspiopError::from)?;
                self.read_transfer(&payer_name, id)
            }
            Ok(_) => {
                // The payee's part runs on its own: a payer that gives up
                // (or whose call is cancelled) does not cut it short.
                let ask = TransferAsk {
                    transfer_id: id,
                    payer: payer_name.clone(),
                    payee: payee_name,
                    amount,
                    currency,
                    condition,
                    expires_at_ms,
                    terms,
                };
                let transfers = self.transfers.clone();
                let asked = tokio::spawn(async move { transfers.ask_payee(&ask).await });
                // Most payees answer in the callback: once that answer is
                // logged the transfer is final (and if the log could not
                // take it, the payer hears the state as it is). Only a
                // payee that answers later, or not at all, leaves the payer
                // waiting for the record that resolves the transfer.
                if let Ok(Asked::Pending) = asked.await {
                    self.transfers
                        .wait_final(id, expires_at_ms)
                        .await
                        .map_err(FspiopError::from)?;
                }
                self.read_transfer(&payer_name, id)
            }
        }
    }

    /// The payee's own answer to a transfer (`FulfilTransfer`).
    async fn fulfil(&self, caller: String, r: FulfilTransferRequest) -> Result<TransferResult> {
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
        self.transfers
            .answer(&caller, id, answer)
            .await
            .map_err(FspiopError::from)?;
        self.read_transfer(&caller, id)
    }
}

fn fee(field: &str, m: Option<&Money>, currency: harambee_ledger::Currency) -> Result<()> {
    let Some(m) = m else { return Ok(()) };
    let c = validate::currency(&format!("{field}.currency"), &m.currency)?;
    if c != currency {
        return Err(FspiopError::new(
            ErrorCode::ValidationError,
            format!("{field}: not in the quote's currency"),
        ));
    }
    validate::non_negative_amount(&format!("{field}.amount"), &m.amount, c)
}

type NotificationStream =
    Pin<Box<dyn Stream<Item = std::result::Result<Notification, Status>> + Send>>;

#[tonic::async_trait]
impl ParticipantApi for ParticipantService {
    async fn lookup_party(
        &self,
        request: Request<LookupPartyRequest>,
    ) -> std::result::Result<Response<LookupPartyResponse>, Status> {
        let result = match self.ctx.authenticate(request.metadata()) {
            Ok(caller) => self.lookup(caller, request.into_inner()).await,
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
            let caller = self.ctx.authenticate(request.metadata())?;
            let party = validate::party("party", request.get_ref().party.as_ref())?;
            self.register(caller, party, true).await
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
            let caller = self.ctx.authenticate(request.metadata())?;
            let party = validate::party("party", request.get_ref().party.as_ref())?;
            self.register(caller, party, false).await
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
        let result = match self.ctx.authenticate(request.metadata()) {
            Ok(caller) => self.quote(caller, request.into_inner()).await,
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
        let result = match self.ctx.authenticate(request.metadata()) {
            Ok(caller) => {
                self.get_quote_for(&caller, &request.get_ref().quote_id)
                    .await
            }
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
        let result = match self.ctx.authenticate(request.metadata()) {
            Ok(caller) => self.prepare(caller, request.into_inner()).await,
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
        let result = match self.ctx.authenticate(request.metadata()) {
            Ok(caller) => self.fulfil(caller, request.into_inner()).await,
            Err(e) => Err(e),
        };
        count("FulfilTransfer", &result);
        result.map(Response::new).map_err(Into::into)
    }

    async fn get_transfer(
        &self,
        request: Request<GetTransferRequest>,
    ) -> std::result::Result<Response<TransferResult>, Status> {
        let result = self
            .ctx
            .authenticate(request.metadata())
            .and_then(|caller| {
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
        let caller = self
            .ctx
            .authenticate(request.metadata())
            .map_err(Status::from)?;
        // Subscribed before the numbers are read: nothing falls between.
        let bus = self.ctx.notices.subscribe();
        let (participant, last) = {
            let st = self
                .ctx
                .engine
                .read()
                .map_err(|e| FspiopError::from(e).to_status())?;
            let p = st.ledger.participant_by_name(&caller).ok_or_else(|| {
                Status::from(FspiopError::new(
                    ErrorCode::PayerFspNotFound,
                    "not a participant",
                ))
            })?;
            (p.id, st.notices.last(p.id))
        };
        let from = request.get_ref().from_sequence;
        let next = if from == 0 { last + 1 } else { from };
        let ctx = self.ctx.clone();
        let stream =
            async_stream(move |tx| notification_stream(ctx, caller, participant, next, bus, tx));
        metrics::counter!("harambee_requests_total", "api" => "participant", "call" => "Notifications", "code" => "ok").increment(1);
        Ok(Response::new(stream))
    }
}

/// Sends a participant its notifications numbered `next` and after, in
/// order, each once: from the notices projection for what is behind, from
/// the live path for what is new. A gap in the live path (a lagging
/// stream) is filled from the projection; notifications older than its
/// retention are skipped (the numbers show it).
async fn notification_stream(
    ctx: Ctx,
    caller: String,
    participant: harambee_ledger::ParticipantId,
    mut next: u64,
    mut bus: tokio::sync::broadcast::Receiver<Notice>,
    tx: tokio::sync::mpsc::Sender<std::result::Result<Notification, Status>>,
) {
    loop {
        let known = ctx.engine.read().map(|st| st.notices.last(participant));
        let known = match known {
            Ok(known) => known,
            Err(e) => {
                let _ = tx.send(Err(FspiopError::from(e).to_status())).await;
                return;
            }
        };
        if next <= known {
            match ctx
                .projections
                .notices(&caller, next, NOTICES_PAGE_MAX)
                .await
            {
                Ok(rows) if !rows.is_empty() => {
                    for row in rows {
                        let sequence = row.sequence.max(0) as u64;
                        if sequence < next {
                            continue;
                        }
                        let notification = row.stored().and_then(|stored| {
                            let st = ctx.engine.read().ok()?;
                            harambee_read::notices::from_stored(
                                &st,
                                participant,
                                sequence,
                                row.time_ms,
                                stored,
                            )
                        });
                        let Some(notification) = notification else {
                            tracing::warn!(%caller, sequence, "a stored notification cannot be read");
                            next = sequence + 1;
                            continue;
                        };
                        if tx.send(Ok(notification)).await.is_err() {
                            return;
                        }
                        next = sequence + 1;
                    }
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, "notices projection unavailable"),
            }
            // Not stored yet (the projector is behind): the live path may
            // have it; else look again shortly.
            match tokio::time::timeout(Duration::from_millis(NOTICE_POLL_MS), bus.recv()).await {
                Ok(Ok(notice))
                    if notice.participant == caller && notice.notification.sequence == next =>
                {
                    if tx.send(Ok(notice.notification)).await.is_err() {
                        return;
                    }
                    next += 1;
                }
                Ok(Err(RecvError::Closed)) => return,
                _ => {}
            }
            continue;
        }
        let received = tokio::select! {
            received = bus.recv() => received,
            _ = tx.closed() => return,
        };
        match received {
            Ok(notice) if notice.participant == caller => {
                // Later than `next`: the gap is filled at the top of the loop.
                if notice.notification.sequence == next {
                    if tx.send(Ok(notice.notification)).await.is_err() {
                        return;
                    }
                    next += 1;
                }
            }
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return,
        }
    }
}

/// A stream fed by a task through a bounded channel.
fn async_stream<F, Fut>(body: F) -> NotificationStream
where
    F: FnOnce(tokio::sync::mpsc::Sender<std::result::Result<Notification, Status>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(STREAM_BUFFER_MAX);
    tokio::spawn(body(tx));
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}
