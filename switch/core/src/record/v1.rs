//! Format 1: the records of the first builds, decoded only.
//!
//! Format 1 was the serde JSON of the internal enums of its time:
//! `{"v":1,"record":{"Ledger":{"Prepare":{...}}}}`, with transfer and funds
//! ids as 128-bit numbers, hashes as arrays of 32 numbers, participants of
//! ledger commands by ledger id, amounts as decimal strings, and a time only
//! on the commands whose outcome depends on it.
//!
//! The types below are frozen copies of that shape, owned by this module:
//! the switch's own types may change, what a format-1 record says may not.
//! `switch/tests/fixtures/log/*-v1.jsonl` pin it.

use std::str::FromStr;

use harambee_ledger::{Currency, FundsId, ParticipantId, ParticipantKind, TransferId};
use harambee_settlement::{SettlementModel, SettlementState};
use rust_decimal::Decimal;
use serde::Deserialize;

use super::PrepareTerms;
use super::{
    DirectoryCommand, LedgerCommand, LogRecord, ParticipantRef, PartyKey, QuoteRecord, RecordError,
    SettlementCommand,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    #[allow(dead_code)]
    v: u32,
    record: Record,
}

#[derive(Deserialize)]
enum Record {
    Ledger(Ledger),
    Directory(Directory),
    Settlement(SettlementRecord),
}

#[derive(Deserialize)]
enum Kind {
    Bank,
    Wallet,
}

#[derive(Deserialize)]
enum Ledger {
    EnableCurrency {
        currency: String,
    },
    CreateParticipant {
        name: String,
        kind: Kind,
    },
    OpenAccounts {
        participant: u32,
        currency: String,
        net_debit_cap: String,
    },
    SetParticipantActive {
        participant: u32,
        active: bool,
    },
    SetNetDebitCap {
        participant: u32,
        currency: String,
        net_debit_cap: String,
    },
    FundsIn {
        funds_id: u128,
        participant: u32,
        currency: String,
        amount: String,
    },
    FundsOutReserve {
        funds_id: u128,
        participant: u32,
        currency: String,
        amount: String,
    },
    FundsOutCommit {
        funds_id: u128,
    },
    FundsOutAbort {
        funds_id: u128,
    },
    Prepare {
        transfer_id: u128,
        payer: u32,
        payee: u32,
        currency: String,
        amount: String,
        condition: [u8; 32],
        expires_at_ms: i64,
        now_ms: i64,
    },
    Commit {
        transfer_id: u128,
        fulfilment: [u8; 32],
        now_ms: i64,
    },
    Abort {
        transfer_id: u128,
        reason: u16,
        now_ms: i64,
    },
    Expire {
        transfer_id: u128,
        now_ms: i64,
    },
    ExpireDue {
        now_ms: i64,
        max: u32,
    },
    SetSettlementModel {
        participant: u32,
        currency: String,
        gross: bool,
    },
}

#[derive(Deserialize)]
struct Party {
    party_type: String,
    id: String,
    sub_id: String,
}

#[derive(Deserialize)]
struct Quote {
    quote_id: String,
    payer: String,
    payee: String,
    request_sha256: [u8; 32],
    #[serde(with = "super::base64_bytes")]
    response: Vec<u8>,
    expires_at_ms: i64,
    recorded_at_ms: i64,
}

#[derive(Deserialize)]
enum Directory {
    SetCredential {
        participant: String,
        credential_sha256: [u8; 32],
    },
    SetEndpoint {
        participant: String,
        url: String,
    },
    RegisterParty {
        owner: String,
        party: Party,
    },
    DeregisterParty {
        owner: String,
        party: Party,
    },
    SetOracle {
        party_type: String,
        url: Option<String>,
    },
    RecordQuote(Quote),
    SetWriter {
        node: String,
        url: String,
    },
    ExpireQuotes {
        expired_before_ms: i64,
        recorded_before_ms: i64,
        max: u32,
        now_ms: i64,
    },
}

#[derive(Deserialize)]
enum Model {
    MultilateralNet,
    BilateralNet,
    ImmediateGross,
}

#[derive(Deserialize)]
enum State {
    PendingSettlement,
    PsTransfersRecorded,
    PsTransfersReserved,
    PsTransfersCommitted,
    Settled,
    Aborted,
}

#[derive(Deserialize)]
enum SettlementRecord {
    CloseWindow {
        currency: String,
        reason: String,
        now_ms: i64,
    },
    CreateSettlement {
        currency: String,
        model: Model,
        window_ids: Vec<u64>,
        reason: String,
        now_ms: i64,
    },
    Advance {
        settlement_id: u64,
        participant: u32,
        to: State,
        #[serde(default)]
        external_reference: String,
        now_ms: i64,
    },
    Abort {
        settlement_id: u64,
        now_ms: i64,
    },
}

fn currency(code: &str) -> Result<Currency, RecordError> {
    Currency::parse(code).map_err(|e| RecordError::Malformed(e.to_string()))
}

fn decimal(text: &str) -> Result<Decimal, RecordError> {
    Decimal::from_str(text).map_err(|e| RecordError::Malformed(format!("amount {text:?}: {e}")))
}

fn id(n: u32) -> ParticipantRef {
    ParticipantRef::Id(ParticipantId(n))
}

/// Reads a format-1 record.
pub fn decode(text: &str) -> Result<LogRecord, RecordError> {
    let envelope: Envelope =
        serde_json::from_str(text).map_err(|e| RecordError::Malformed(e.to_string()))?;
    Ok(match envelope.record {
        Record::Ledger(l) => LogRecord::Ledger(ledger(l)?),
        Record::Directory(d) => LogRecord::Directory(directory(d)),
        Record::Settlement(s) => LogRecord::Settlement(settlement(s)?),
    })
}

/// Format 1 carried no time on these commands: they read as time 0.
const NO_TIME: i64 = 0;

fn ledger(l: Ledger) -> Result<LedgerCommand, RecordError> {
    use LedgerCommand as C;
    Ok(match l {
        Ledger::EnableCurrency { currency: c } => C::EnableCurrency {
            currency: currency(&c)?,
            opens_window: false,
            scale: None,
            now_ms: NO_TIME,
        },
        Ledger::CreateParticipant { name, kind } => C::CreateParticipant {
            name,
            kind: match kind {
                Kind::Bank => ParticipantKind::Bank,
                Kind::Wallet => ParticipantKind::Wallet,
            },
            now_ms: NO_TIME,
        },
        Ledger::OpenAccounts {
            participant,
            currency: c,
            net_debit_cap,
        } => C::OpenAccounts {
            participant: id(participant),
            currency: currency(&c)?,
            net_debit_cap: decimal(&net_debit_cap)?,
            now_ms: NO_TIME,
        },
        Ledger::SetParticipantActive {
            participant,
            active,
        } => C::SetParticipantActive {
            participant: id(participant),
            active,
            now_ms: NO_TIME,
        },
        Ledger::SetNetDebitCap {
            participant,
            currency: c,
            net_debit_cap,
        } => C::SetNetDebitCap {
            participant: id(participant),
            currency: currency(&c)?,
            net_debit_cap: decimal(&net_debit_cap)?,
            now_ms: NO_TIME,
        },
        Ledger::FundsIn {
            funds_id,
            participant,
            currency: c,
            amount,
        } => C::FundsIn {
            funds_id: FundsId(funds_id),
            participant: id(participant),
            currency: currency(&c)?,
            amount: decimal(&amount)?,
            now_ms: NO_TIME,
        },
        Ledger::FundsOutReserve {
            funds_id,
            participant,
            currency: c,
            amount,
        } => C::FundsOutReserve {
            funds_id: FundsId(funds_id),
            participant: id(participant),
            currency: currency(&c)?,
            amount: decimal(&amount)?,
            now_ms: NO_TIME,
        },
        Ledger::FundsOutCommit { funds_id } => C::FundsOutCommit {
            funds_id: FundsId(funds_id),
            now_ms: NO_TIME,
        },
        Ledger::FundsOutAbort { funds_id } => C::FundsOutAbort {
            funds_id: FundsId(funds_id),
            now_ms: NO_TIME,
        },
        Ledger::Prepare {
            transfer_id,
            payer,
            payee,
            currency: c,
            amount,
            condition,
            expires_at_ms,
            now_ms,
        } => C::Prepare {
            transfer_id: TransferId(transfer_id),
            payer: id(payer),
            payee: id(payee),
            currency: currency(&c)?,
            amount: decimal(&amount)?,
            condition,
            expires_at_ms,
            now_ms,
            terms: PrepareTerms::default(),
        },
        Ledger::Commit {
            transfer_id,
            fulfilment,
            now_ms,
        } => C::Commit {
            transfer_id: TransferId(transfer_id),
            fulfilment,
            now_ms,
        },
        Ledger::Abort {
            transfer_id,
            reason,
            now_ms,
        } => C::Abort {
            transfer_id: TransferId(transfer_id),
            reason,
            now_ms,
        },
        Ledger::Expire {
            transfer_id,
            now_ms,
        } => C::Expire {
            transfer_id: TransferId(transfer_id),
            now_ms,
        },
        Ledger::ExpireDue { now_ms, max } => C::ExpireDue { now_ms, max },
        Ledger::SetSettlementModel {
            participant,
            currency: c,
            gross,
        } => C::SetSettlementModel {
            participant: id(participant),
            currency: currency(&c)?,
            gross,
            now_ms: NO_TIME,
        },
    })
}

fn party(p: Party) -> PartyKey {
    PartyKey {
        party_type: p.party_type,
        id: p.id,
        sub_id: p.sub_id,
    }
}

fn directory(d: Directory) -> DirectoryCommand {
    use DirectoryCommand as D;
    match d {
        Directory::SetCredential {
            participant,
            credential_sha256,
        } => D::SetCredential {
            participant,
            credential_sha256,
            now_ms: NO_TIME,
        },
        Directory::SetEndpoint { participant, url } => D::SetEndpoint {
            participant,
            url,
            now_ms: NO_TIME,
        },
        Directory::RegisterParty { owner, party: p } => D::RegisterParty {
            owner,
            party: party(p),
            now_ms: NO_TIME,
        },
        Directory::DeregisterParty { owner, party: p } => D::DeregisterParty {
            owner,
            party: party(p),
            now_ms: NO_TIME,
        },
        Directory::SetOracle { party_type, url } => D::SetOracle {
            party_type,
            url,
            now_ms: NO_TIME,
        },
        Directory::RecordQuote(q) => D::RecordQuote(QuoteRecord {
            quote_id: q.quote_id,
            payer: q.payer,
            payee: q.payee,
            request_sha256: q.request_sha256,
            response: q.response,
            expires_at_ms: q.expires_at_ms,
            recorded_at_ms: q.recorded_at_ms,
        }),
        Directory::SetWriter { node, url } => D::SetWriter {
            node,
            url,
            now_ms: NO_TIME,
        },
        Directory::ExpireQuotes {
            expired_before_ms,
            recorded_before_ms,
            max,
            now_ms,
        } => D::ExpireQuotes {
            expired_before_ms,
            recorded_before_ms,
            max,
            now_ms,
        },
    }
}

fn settlement(s: SettlementRecord) -> Result<SettlementCommand, RecordError> {
    use SettlementCommand as S;
    Ok(match s {
        SettlementRecord::CloseWindow {
            currency: c,
            reason,
            now_ms,
        } => S::CloseWindow {
            currency: currency(&c)?,
            reason,
            now_ms,
        },
        SettlementRecord::CreateSettlement {
            currency: c,
            model,
            window_ids,
            reason,
            now_ms,
        } => S::CreateSettlement {
            currency: currency(&c)?,
            model: match model {
                Model::MultilateralNet => SettlementModel::MultilateralNet,
                Model::BilateralNet => SettlementModel::BilateralNet,
                Model::ImmediateGross => SettlementModel::ImmediateGross,
            },
            window_ids,
            reason,
            now_ms,
        },
        SettlementRecord::Advance {
            settlement_id,
            participant,
            to,
            external_reference,
            now_ms,
        } => S::Advance {
            settlement_id,
            participant: id(participant),
            to: match to {
                State::PendingSettlement => SettlementState::PendingSettlement,
                State::PsTransfersRecorded => SettlementState::PsTransfersRecorded,
                State::PsTransfersReserved => SettlementState::PsTransfersReserved,
                State::PsTransfersCommitted => SettlementState::PsTransfersCommitted,
                State::Settled => SettlementState::Settled,
                State::Aborted => SettlementState::Aborted,
            },
            external_reference,
            now_ms,
        },
        SettlementRecord::Abort {
            settlement_id,
            now_ms,
        } => S::Abort {
            settlement_id,
            now_ms,
        },
    })
}
