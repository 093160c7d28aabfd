//! Quotes: the payer's request put to the payee, the payee's terms
//! checked, and the quote recorded in the log once per quote id, so that a
//! repeat of the request gets the same answer, whenever it comes (from
//! memory while the quote is held, from the quotes projection after).
//!
//! The quote as answered is kept in the log as an encoded
//! `harambee.v1.QuoteResponse` (the record's `response`): the log's format
//! fixes that encoding, so the flow speaks the canonical messages.

use std::time::Duration;

use harambee_core::error::{ErrorCode, SwitchError};
use harambee_core::record::{DirectoryCommand, LogRecord, QuoteRecord};
use harambee_core::state::{Applied, DirectoryReply};
use harambee_proto::fspiop::FspiopError;
use harambee_proto::v1::{AmountType, Money, Party, QuoteRequest, QuoteResponse};
use harambee_proto::validate;
use harambee_read::projection::QuoteRow;
use prost::Message;
use sha2::{Digest, Sha256};

use crate::Service;
use crate::lookups::deadline;

/// Longest wait for the quotes projection when a quote is not in memory
/// (a repeat of a quote released after its expiry is found there).
pub const QUOTE_LOOKUP_TIMEOUT_MS: u64 = 250;

type Result<T> = std::result::Result<T, SwitchError>;

fn directory_reply(applied: Applied) -> Result<DirectoryReply> {
    match applied {
        Applied::Directory(r) => r,
        Applied::Ledger { .. } | Applied::Settlement { .. } => Err(crate::unexpected()),
    }
}

/// A payer's quote request as the switch takes it, checked before
/// anything is asked or recorded (pure: no state, no clock): the payer
/// filled in as `payer` when it is not named. Bad input gets its code and
/// changes nothing.
pub fn checked_request(payer: &str, r: &mut QuoteRequest) -> Result<CheckedQuote> {
    let quote_id = validate::uuid("quote_id", &r.quote_id)?;
    validate::uuid("transaction_id", &r.transaction_id)?;
    let payee_party = r
        .payee
        .as_ref()
        .ok_or_else(|| SwitchError::new(ErrorCode::MissingElement, "payee is required"))?;
    validate::party("payee.identifier", payee_party.identifier.as_ref())?;
    // A payee FSP that cannot be a participant's name names none:
    // 3201, as for one that is not there; only a missing one is 3100.
    let payee = match validate::fsp_id("payee.fsp_id", &payee_party.fsp_id) {
        Ok(p) => p.to_string(),
        Err(_) if !payee_party.fsp_id.is_empty() => {
            return Err(SwitchError::new(
                ErrorCode::DestinationFspError,
                format!(
                    "Unsupported participant: {:?} is not a participant",
                    payee_party.fsp_id
                ),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let payer_party = r.payer.get_or_insert_with(Party::default);
    if payer_party.fsp_id.is_empty() {
        payer_party.fsp_id = payer.to_string();
    } else if payer_party.fsp_id != payer {
        return Err(SwitchError::new(
            ErrorCode::GenericClientError,
            "payer.fsp_id must be the calling participant",
        ));
    }
    if AmountType::try_from(r.amount_type)
        .ok()
        .filter(|t| *t != AmountType::Unspecified)
        .is_none()
    {
        return Err(SwitchError::new(
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
    Ok(CheckedQuote {
        quote_id,
        payee,
        currency,
        expiration_ms,
    })
}

/// What [`checked_request`] found in a quote request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedQuote {
    pub quote_id: u128,
    pub payee: String,
    pub currency: harambee_ledger::Currency,
    pub expiration_ms: Option<i64>,
}

impl Service {
    /// The payee's quote for the payer's request, recorded; a repeat of
    /// the same request (same id, same content, same payer) gets the
    /// recorded answer, one with other content 3106.
    pub async fn quote(&self, payer: &str, mut r: QuoteRequest) -> Result<QuoteResponse> {
        let CheckedQuote {
            quote_id,
            payee,
            currency,
            expiration_ms,
        } = checked_request(payer, &mut r)?;
        let request_sha256: [u8; 32] = Sha256::digest(r.encode_to_vec()).into();
        let quote_key = harambee_core::text::uuid_string(quote_id);
        let (held, maybe_released) = {
            let st = self.engine.read()?;
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
                return Err(SwitchError::new(
                    ErrorCode::ModifiedRequest,
                    format!("quote {quote_key} was requested with other content"),
                ));
            }
            return QuoteResponse::decode(response.as_slice()).map_err(|e| {
                SwitchError::new(ErrorCode::InternalServerError, format!("stored quote: {e}"))
            });
        }
        // A repeat is answered whenever it comes; a new request must still
        // be valid.
        if expiration_ms.is_some_and(|ms| ms <= self.now_ms()) {
            return Err(SwitchError::new(
                ErrorCode::ValidationError,
                "expiration: is in the past",
            ));
        }
        let route = self.transfers.endpoint(&payee)?;
        self.transfers.payable_in(&payee, currency)?;
        let timeout = deadline(self.settings.quote_timeout_ms);
        let terms = self.payees.quote(&route, &r, timeout).await?;
        let bad = |field: &str, e: FspiopError| {
            SwitchError::new(
                ErrorCode::PayeeRejectedQuote,
                format!("payee's quote {field}: {}", e.description),
            )
        };
        let (_, transfer_currency) =
            validate::money("transfer_amount", terms.transfer_amount.as_ref())
                .map_err(|e| bad("transfer_amount", e))?;
        if transfer_currency != currency {
            return Err(SwitchError::new(
                ErrorCode::PayeeRejectedQuote,
                "payee's quote is in another currency",
            ));
        }
        // Optional in FSPIOP's PUT /quotes: checked when the payee gives it.
        if let Some(receive) = terms.payee_receive_amount.as_ref() {
            let (_, receive_currency) = validate::money("payee_receive_amount", Some(receive))
                .map_err(|e| bad("payee_receive_amount", e))?;
            if receive_currency != currency {
                return Err(SwitchError::new(
                    ErrorCode::PayeeRejectedQuote,
                    "payee's quote payee_receive_amount is in another currency",
                ));
            }
        }
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
        if expires_at_ms <= self.now_ms() {
            return Err(SwitchError::new(
                ErrorCode::PayeeRejectedQuote,
                "payee's quote has already expired",
            ));
        }
        validate::b64url32("condition", &terms.condition).map_err(|e| bad("condition", e))?;
        validate::ilp_packet("ilp_packet", &terms.ilp_packet).map_err(|e| bad("ilp_packet", e))?;
        let quote = QuoteResponse {
            quote_id: quote_key.clone(),
            transaction_id: r.transaction_id.clone(),
            payer_fsp: payer.to_string(),
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
            payer: payer.to_string(),
            payee,
            request_sha256,
            response: quote.encode_to_vec(),
            expires_at_ms,
            recorded_at_ms: self.now_ms(),
        };
        match directory_reply(
            self.engine
                .submit(LogRecord::Directory(DirectoryCommand::RecordQuote(record)))
                .await?,
        )? {
            DirectoryReply::Quote(recorded) => QuoteResponse::decode(recorded.response.as_slice())
                .map_err(|e| {
                    SwitchError::new(ErrorCode::InternalServerError, format!("stored quote: {e}"))
                }),
            _ => Ok(quote),
        }
    }

    /// A quote from the quotes projection, if it is there with its answer
    /// (looked for at most `QUOTE_LOOKUP_TIMEOUT_MS`: a projection store
    /// that is down must not hold up payments).
    pub async fn stored_quote(&self, quote_key: &str) -> Option<QuoteRow> {
        let lookup = tokio::time::timeout(
            Duration::from_millis(QUOTE_LOOKUP_TIMEOUT_MS),
            self.projections.quote(quote_key),
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

    /// A recorded quote, for its payer or payee.
    pub async fn get_quote(&self, caller: &str, quote_id: &str) -> Result<QuoteResponse> {
        let id = validate::uuid("quote_id", quote_id)?;
        let key = harambee_core::text::uuid_string(id);
        let held = self
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
                    SwitchError::new(
                        ErrorCode::QuoteNotFound,
                        format!("quote {quote_id} not found"),
                    )
                })?,
        };
        if payer != caller && payee != caller {
            return Err(SwitchError::new(
                ErrorCode::GenericClientError,
                "only the payer or payee may read a quote",
            ));
        }
        QuoteResponse::decode(response.as_slice()).map_err(|e| {
            SwitchError::new(ErrorCode::InternalServerError, format!("stored quote: {e}"))
        })
    }
}

/// An optional fee, in the quote's currency and not negative.
fn fee(
    field: &str,
    m: Option<&Money>,
    currency: harambee_ledger::Currency,
) -> std::result::Result<(), FspiopError> {
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
