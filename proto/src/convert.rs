//! Conversions from domain types to the canonical messages of
//! `harambee.v1`, written once for every crate that shows them: the read
//! side (notices), the service layer and the adapters.

use harambee_core::text;
use harambee_ledger::{Resolution, TransferRecord, TransferState};

use crate::fspiop::FspiopError;
use crate::v1::{self, ErrorInformation, Money, SettlementState, TransferResult};

/// The wire state of a transfer.
pub fn wire_state(state: TransferState) -> v1::TransferState {
    match state {
        TransferState::Reserved => v1::TransferState::Reserved,
        TransferState::Committed => v1::TransferState::Committed,
        TransferState::Aborted | TransferState::Refused => v1::TransferState::Aborted,
    }
}

/// A ledger transfer as the participant API shows it; `amount`: its
/// amount as a decimal (the ledger knows the currency's scale).
pub fn transfer_result(
    t: &TransferRecord,
    amount: rust_decimal::Decimal,
    payer: String,
    payee: String,
) -> TransferResult {
    let fulfilment = match (t.state, t.resolution) {
        (TransferState::Committed, Some(Resolution::Fulfil(f))) => text::b64url(&f),
        _ => String::new(),
    };
    let error = match t.state {
        TransferState::Aborted | TransferState::Refused => {
            Some(FspiopError::from_number(t.reason, "").to_error_information())
        }
        _ => None,
    };
    TransferResult {
        transfer_id: text::uuid_string(t.id.0),
        state: wire_state(t.state) as i32,
        payer_fsp: payer,
        payee_fsp: payee,
        amount: Some(Money {
            amount: amount.to_string(),
            currency: t.currency.to_string(),
        }),
        condition: text::b64url(&t.condition),
        expiration: Some(crate::validate::timestamp(t.expires_at_ms)),
        fulfilment,
        completed: t
            .state
            .is_final()
            .then(|| crate::validate::timestamp(t.resolved_at_ms)),
        error,
        prepared: Some(crate::validate::timestamp(t.prepared_at_ms)),
        quote_id: String::new(),
        transaction_id: String::new(),
    }
}

/// A settlement state on the wire.
pub fn settlement_state(s: harambee_settlement::SettlementState) -> SettlementState {
    use harambee_settlement::SettlementState as S;
    match s {
        S::PendingSettlement => SettlementState::PendingSettlement,
        S::PsTransfersRecorded => SettlementState::PsTransfersRecorded,
        S::PsTransfersReserved => SettlementState::PsTransfersReserved,
        S::PsTransfersCommitted => SettlementState::PsTransfersCommitted,
        S::Settled => SettlementState::Settled,
        S::Aborted => SettlementState::Aborted,
    }
}

/// The error a participant answered with, as the switch passes it on: its
/// code (`fallback` if that is not an FSPIOP code) and its description.
pub fn remote_error(e: &ErrorInformation, fallback: u16) -> FspiopError {
    let code = crate::fspiop::parse_code(&e.error_code).unwrap_or(fallback);
    FspiopError {
        code,
        description: e
            .error_description
            .chars()
            .take(crate::fspiop::DESCRIPTION_LENGTH_MAX)
            .collect(),
    }
}
