//! The ledger's error type and its FSPIOP error codes.
//!
//! Every refusal carries the four-digit FSPIOP code (see
//! `shared/reference/fspiop/error-codes.json`) that the API edge will send to
//! the participant. The mapping lives here, once, because the ledger records
//! refusals for idempotent replay and the code is part of the recorded
//! outcome.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::types::{FundsId, ParticipantId, TransferId, TransferState};

/// Why the ledger refused a command. A refused command changes nothing,
/// except where noted (a refused prepare is recorded so that a retry gets the
/// same answer).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum LedgerError {
    /// Not an ISO 4217 code with a minor unit, or not enabled on this hub.
    #[error("unknown or disabled currency {0:?}")]
    UnknownCurrency(String),
    /// Zero, negative, too many decimals for the currency, or too large.
    #[error("invalid amount {amount}: {reason}")]
    InvalidAmount { amount: Decimal, reason: String },
    /// Any other malformed field (name, reason code, same payer and payee...).
    #[error("validation error: {0}")]
    Validation(String),
    /// A prepare whose expiration is not after the time of the command.
    #[error("expiration {expires_at_ms} ms is not after the command time {now_ms} ms")]
    ExpiryInPast { expires_at_ms: i64, now_ms: i64 },
    /// The payer is unknown or inactive.
    #[error("payer participant {0} is unknown or inactive")]
    PayerUnavailable(ParticipantId),
    /// The payee is unknown or inactive.
    #[error("payee participant {0} is unknown or inactive")]
    PayeeUnavailable(ParticipantId),
    /// The payer has no accounts in the currency.
    #[error("payer participant {0} has no accounts in {1}")]
    PayerCurrencyUnsupported(ParticipantId, String),
    /// The payee has no accounts in the currency.
    #[error("payee participant {0} has no accounts in {1}")]
    PayeeCurrencyUnsupported(ParticipantId, String),
    /// A participant named by an operator command does not exist.
    #[error("participant {0} not found")]
    ParticipantNotFound(ParticipantId),
    /// The participant has no accounts in the currency (operator commands).
    #[error("participant {0} has no accounts in {1}")]
    AccountsNotFound(ParticipantId, String),
    /// position + reserved + amount would exceed the liquidity cover.
    #[error("insufficient liquidity: needs {required} minor units, cover is {available}")]
    InsufficientLiquidity { required: i128, available: i128 },
    /// position + reserved + amount would exceed the net debit cap.
    #[error("net debit cap exceeded: needs {required} minor units, cap is {cap}")]
    NetDebitCapExceeded { required: i128, cap: i128 },
    /// The id was used before with different content.
    #[error("modified request: id {0} was used before with different content")]
    ModifiedRequest(String),
    /// No transfer with this id.
    #[error("transfer {0} not found")]
    TransferNotFound(TransferId),
    /// No funds-in/out record with this id.
    #[error("funds movement {0} not found")]
    FundsNotFound(FundsId),
    /// The transfer is not RESERVED, so it cannot be resolved by this command.
    #[error("transfer {id} is {state:?} and cannot be resolved again")]
    TransferNotReserved {
        id: TransferId,
        state: TransferState,
    },
    /// An expire command for a transfer whose expiration has not passed.
    #[error("transfer {id} expires at {expires_at_ms} ms, not yet at {now_ms} ms")]
    NotYetExpired {
        id: TransferId,
        expires_at_ms: i64,
        now_ms: i64,
    },
    /// A funds-out commit or abort for a record that is not reserved.
    #[error("funds movement {0} is not a reserved funds-out")]
    FundsNotReserved(FundsId),
    /// A fixed capacity of the ledger would be exceeded.
    #[error("ledger limit reached: {0}")]
    LimitReached(String),
}

impl LedgerError {
    /// The FSPIOP error code sent to the participant for this refusal.
    pub fn code(&self) -> u16 {
        match self {
            LedgerError::UnknownCurrency(_)
            | LedgerError::InvalidAmount { .. }
            | LedgerError::Validation(_)
            | LedgerError::ExpiryInPast { .. }
            | LedgerError::TransferNotReserved { .. }
            | LedgerError::NotYetExpired { .. }
            | LedgerError::FundsNotReserved(_) => 3100,
            LedgerError::PayerUnavailable(_) => 3202,
            LedgerError::PayeeUnavailable(_) => 3201,
            LedgerError::PayerCurrencyUnsupported(..) => 4103,
            LedgerError::PayeeCurrencyUnsupported(..) => 5106,
            LedgerError::ParticipantNotFound(_)
            | LedgerError::AccountsNotFound(..)
            | LedgerError::FundsNotFound(_) => 3200,
            LedgerError::InsufficientLiquidity { .. } => 4001,
            LedgerError::NetDebitCapExceeded { .. } => 4200,
            LedgerError::ModifiedRequest(_) => 3106,
            LedgerError::TransferNotFound(_) => 3208,
            LedgerError::LimitReached(_) => 2001,
        }
    }
}
