//! Format 2, the current one: records an auditor reads with a text editor.
//!
//! ```text
//! {"v":2,"time_ms":1764547200002,"record":{"type":"transfer_prepare",
//!  "transfer_id":"22220000-0000-4000-8000-000000000001","payer":"bank-a",
//!  "payee":"wallet-b","currency":"USD","amount":"10.50",
//!  "condition":"72cd6e84...","expires_at_ms":1764547230000}}
//! ```
//!
//! - every record carries its time, `time_ms` (milliseconds since the Unix
//!   epoch, chosen by whoever appended it; the state reads no clock);
//! - `type` names the command in snake case;
//! - transfer and funds ids are canonical lower-case UUID strings;
//! - hashes (conditions, fulfilments, credential and request digests) are
//!   64 lower-case hex digits;
//! - participants are named, as in the API; amounts are decimal strings in
//!   major units; currencies ISO 4217 codes; enumerations upper snake case
//!   as in the API (`BANK`, `MULTILATERAL_NET`, `PS_TRANSFERS_RECORDED`);
//! - a quote's payee answer is the base64 of the encoded protobuf.
//!
//! The wire types here are this module's own; they change only by adding
//! format 3 beside them.

use std::str::FromStr;

use base64::Engine as _;

use harambee_ledger::{AccountType, Currency, FundsId, ParticipantKind, TransferId};
use harambee_settlement::{SettlementModel, SettlementState};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::PrepareTerms;
use super::{
    DirectoryCommand, LedgerCommand, LogRecord, ParticipantRef, PartyKey, QuoteRecord, RecordError,
    SettlementCommand,
};
use crate::text::{hex, hex32, parse_uuid, uuid_string};

const VERSION: u32 = 2;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    v: u32,
    time_ms: i64,
    /// The operator who made the command (absent for every other record,
    /// and in every record written before operators were named).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    by: Option<By>,
    record: WireRecord,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct By {
    operator: String,
    role: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Party {
    #[serde(rename = "type")]
    party_type: String,
    id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    sub_id: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Extension {
    key: String,
    value: String,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum WireRecord {
    EnableCurrency {
        currency: String,
        /// Absent (false) in records written before windows opened with
        /// their currency.
        #[serde(default, skip_serializing_if = "is_false")]
        opens_window: bool,
        /// The decimals the ledger keeps the currency at; absent (its ISO
        /// minor unit) in records written before scales were chosen.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scale: Option<u32>,
    },
    CreateParticipant {
        name: String,
        kind: String,
    },
    OpenAccounts {
        participant: String,
        currency: String,
        net_debit_cap: String,
    },
    SetParticipantActive {
        participant: String,
        active: bool,
    },
    SetAccountActive {
        participant: String,
        currency: String,
        /// POSITION or SETTLEMENT.
        account: String,
        active: bool,
    },
    SetNetDebitCap {
        participant: String,
        currency: String,
        net_debit_cap: String,
    },
    FundsIn {
        funds_id: String,
        participant: String,
        currency: String,
        amount: String,
    },
    FundsOutReserve {
        funds_id: String,
        participant: String,
        currency: String,
        amount: String,
    },
    FundsOutCommit {
        funds_id: String,
    },
    FundsOutAbort {
        funds_id: String,
    },
    TransferPrepare {
        transfer_id: String,
        payer: String,
        payee: String,
        currency: String,
        amount: String,
        condition: String,
        expires_at_ms: i64,
        /// For the payee: the ILP packet, quote and transaction ids and
        /// extensions the payer sent (absent when empty).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        ilp_packet: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        quote_id: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        transaction_id: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        extensions: Vec<Extension>,
    },
    TransferCommit {
        transfer_id: String,
        fulfilment: String,
    },
    TransferAbort {
        transfer_id: String,
        reason: u16,
    },
    TransferExpire {
        transfer_id: String,
    },
    ExpireDueTransfers {
        max: u32,
    },
    SetSettlementModel {
        participant: String,
        currency: String,
        gross: bool,
    },
    SetCredential {
        participant: String,
        credential_sha256: String,
    },
    AddCertificate {
        participant: String,
        certificate_sha256: String,
        subject: String,
    },
    RemoveCertificate {
        participant: String,
        certificate_sha256: String,
    },
    AddIssuer {
        participant: String,
        /// The CA certificate's DER, in base64.
        ca_certificate: String,
        ca_subject: String,
        subject: String,
    },
    RemoveIssuer {
        participant: String,
        ca_sha256: String,
        subject: String,
    },
    SetEndpoint {
        participant: String,
        url: String,
    },
    SetCallback {
        participant: String,
        kind: String,
        url: String,
    },
    DefineSettlementModel {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        currency: Option<String>,
        granularity: super::Granularity,
        interchange: super::Interchange,
        delay: super::Delay,
        ledger_account_type: String,
        settlement_account_type: String,
        require_liquidity_check: bool,
        auto_position_reset: bool,
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
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
    },
    RecordQuote {
        quote_id: String,
        payer: String,
        payee: String,
        request_sha256: String,
        #[serde(with = "super::base64_bytes")]
        response: Vec<u8>,
        expires_at_ms: i64,
    },
    SetWriter {
        node: String,
        url: String,
    },
    ExpireQuotes {
        expired_before_ms: i64,
        recorded_before_ms: i64,
        max: u32,
    },
    CloseWindow {
        currency: String,
        reason: String,
    },
    CreateSettlement {
        currency: String,
        model: String,
        window_ids: Vec<u64>,
        reason: String,
    },
    AdvanceSettlement {
        settlement_id: u64,
        participant: String,
        to: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        external_reference: String,
    },
    AbortSettlement {
        settlement_id: u64,
    },
}

fn name(p: &ParticipantRef) -> Result<String, RecordError> {
    match p {
        ParticipantRef::Name(name) => Ok(name.clone()),
        ParticipantRef::Id(id) => Err(RecordError::Unnamed(id.0)),
    }
}

fn kind_name(kind: ParticipantKind) -> &'static str {
    match kind {
        ParticipantKind::Bank => "BANK",
        ParticipantKind::Wallet => "WALLET",
    }
}

fn model_name(model: SettlementModel) -> &'static str {
    match model {
        SettlementModel::MultilateralNet => "MULTILATERAL_NET",
        SettlementModel::BilateralNet => "BILATERAL_NET",
        SettlementModel::ImmediateGross => "IMMEDIATE_GROSS",
    }
}

const STATES: [SettlementState; 6] = [
    SettlementState::PendingSettlement,
    SettlementState::PsTransfersRecorded,
    SettlementState::PsTransfersReserved,
    SettlementState::PsTransfersCommitted,
    SettlementState::Settled,
    SettlementState::Aborted,
];

fn is_false(b: &bool) -> bool {
    !*b
}

/// Writes a record in format 2.
pub fn encode(record: &LogRecord) -> Result<String, RecordError> {
    use LedgerCommand as L;
    let (by, command) = match record {
        LogRecord::Operated(o) => (
            Some(By {
                operator: o.operator.clone(),
                role: o.role.clone(),
            }),
            o.record.as_ref(),
        ),
        other => (None, other),
    };
    let wire = match command {
        LogRecord::Operated(_) => {
            return Err(RecordError::Malformed(
                "an operator's command inside another".into(),
            ));
        }
        LogRecord::Ledger(command) => match command {
            L::EnableCurrency {
                currency,
                opens_window,
                scale,
                ..
            } => WireRecord::EnableCurrency {
                currency: currency.to_string(),
                opens_window: *opens_window,
                scale: *scale,
            },
            L::CreateParticipant { name, kind, .. } => WireRecord::CreateParticipant {
                name: name.clone(),
                kind: kind_name(*kind).into(),
            },
            L::OpenAccounts {
                participant,
                currency,
                net_debit_cap,
                ..
            } => WireRecord::OpenAccounts {
                participant: name(participant)?,
                currency: currency.to_string(),
                net_debit_cap: net_debit_cap.to_string(),
            },
            L::SetParticipantActive {
                participant,
                active,
                ..
            } => WireRecord::SetParticipantActive {
                participant: name(participant)?,
                active: *active,
            },
            L::SetAccountActive {
                participant,
                currency,
                kind,
                active,
                ..
            } => WireRecord::SetAccountActive {
                participant: name(participant)?,
                currency: currency.to_string(),
                account: match kind {
                    AccountType::Position => "POSITION",
                    AccountType::Settlement => "SETTLEMENT",
                    AccountType::HubReconciliation => "HUB_RECONCILIATION",
                    AccountType::HubMultilateralSettlement => "HUB_MULTILATERAL_SETTLEMENT",
                }
                .into(),
                active: *active,
            },
            L::SetNetDebitCap {
                participant,
                currency,
                net_debit_cap,
                ..
            } => WireRecord::SetNetDebitCap {
                participant: name(participant)?,
                currency: currency.to_string(),
                net_debit_cap: net_debit_cap.to_string(),
            },
            L::FundsIn {
                funds_id,
                participant,
                currency,
                amount,
                ..
            } => WireRecord::FundsIn {
                funds_id: uuid_string(funds_id.0),
                participant: name(participant)?,
                currency: currency.to_string(),
                amount: amount.to_string(),
            },
            L::FundsOutReserve {
                funds_id,
                participant,
                currency,
                amount,
                ..
            } => WireRecord::FundsOutReserve {
                funds_id: uuid_string(funds_id.0),
                participant: name(participant)?,
                currency: currency.to_string(),
                amount: amount.to_string(),
            },
            L::FundsOutCommit { funds_id, .. } => WireRecord::FundsOutCommit {
                funds_id: uuid_string(funds_id.0),
            },
            L::FundsOutAbort { funds_id, .. } => WireRecord::FundsOutAbort {
                funds_id: uuid_string(funds_id.0),
            },
            L::Prepare {
                transfer_id,
                payer,
                payee,
                currency,
                amount,
                condition,
                expires_at_ms,
                terms,
                ..
            } => WireRecord::TransferPrepare {
                transfer_id: uuid_string(transfer_id.0),
                payer: name(payer)?,
                payee: name(payee)?,
                currency: currency.to_string(),
                amount: amount.to_string(),
                condition: hex(condition),
                expires_at_ms: *expires_at_ms,
                ilp_packet: terms.ilp_packet.clone(),
                quote_id: terms.quote_id.clone(),
                transaction_id: terms.transaction_id.clone(),
                extensions: terms
                    .extensions
                    .iter()
                    .map(|(key, value)| Extension {
                        key: key.clone(),
                        value: value.clone(),
                    })
                    .collect(),
            },
            L::Commit {
                transfer_id,
                fulfilment,
                ..
            } => WireRecord::TransferCommit {
                transfer_id: uuid_string(transfer_id.0),
                fulfilment: hex(fulfilment),
            },
            L::Abort {
                transfer_id,
                reason,
                ..
            } => WireRecord::TransferAbort {
                transfer_id: uuid_string(transfer_id.0),
                reason: *reason,
            },
            L::Expire { transfer_id, .. } => WireRecord::TransferExpire {
                transfer_id: uuid_string(transfer_id.0),
            },
            L::ExpireDue { max, .. } => WireRecord::ExpireDueTransfers { max: *max },
            L::SetSettlementModel {
                participant,
                currency,
                gross,
                ..
            } => WireRecord::SetSettlementModel {
                participant: name(participant)?,
                currency: currency.to_string(),
                gross: *gross,
            },
        },
        LogRecord::Directory(command) => match command {
            DirectoryCommand::SetCredential {
                participant,
                credential_sha256,
                ..
            } => WireRecord::SetCredential {
                participant: participant.clone(),
                credential_sha256: hex(credential_sha256),
            },
            DirectoryCommand::AddCertificate {
                participant,
                certificate_sha256,
                subject,
                ..
            } => WireRecord::AddCertificate {
                participant: participant.clone(),
                certificate_sha256: hex(certificate_sha256),
                subject: subject.clone(),
            },
            DirectoryCommand::RemoveCertificate {
                participant,
                certificate_sha256,
                ..
            } => WireRecord::RemoveCertificate {
                participant: participant.clone(),
                certificate_sha256: hex(certificate_sha256),
            },
            DirectoryCommand::AddIssuer {
                participant,
                ca_der,
                ca_subject,
                subject,
                ..
            } => WireRecord::AddIssuer {
                participant: participant.clone(),
                ca_certificate: base64::engine::general_purpose::STANDARD.encode(ca_der),
                ca_subject: ca_subject.clone(),
                subject: subject.clone(),
            },
            DirectoryCommand::RemoveIssuer {
                participant,
                ca_sha256,
                subject,
                ..
            } => WireRecord::RemoveIssuer {
                participant: participant.clone(),
                ca_sha256: hex(ca_sha256),
                subject: subject.clone(),
            },
            DirectoryCommand::SetEndpoint {
                participant, url, ..
            } => WireRecord::SetEndpoint {
                participant: participant.clone(),
                url: url.clone(),
            },
            DirectoryCommand::SetCallback {
                participant,
                kind,
                url,
                ..
            } => WireRecord::SetCallback {
                participant: participant.clone(),
                kind: kind.clone(),
                url: url.clone(),
            },
            DirectoryCommand::DefineSettlementModel { model, .. } => {
                WireRecord::DefineSettlementModel {
                    name: model.name.clone(),
                    currency: model.currency.map(|c| c.to_string()),
                    granularity: model.granularity,
                    interchange: model.interchange,
                    delay: model.delay,
                    ledger_account_type: model.ledger_account_type.clone(),
                    settlement_account_type: model.settlement_account_type.clone(),
                    require_liquidity_check: model.require_liquidity_check,
                    auto_position_reset: model.auto_position_reset,
                }
            }
            DirectoryCommand::RegisterParty { owner, party, .. } => WireRecord::RegisterParty {
                owner: owner.clone(),
                party: wire_party(party),
            },
            DirectoryCommand::DeregisterParty { owner, party, .. } => WireRecord::DeregisterParty {
                owner: owner.clone(),
                party: wire_party(party),
            },
            DirectoryCommand::SetOracle {
                party_type, url, ..
            } => WireRecord::SetOracle {
                party_type: party_type.clone(),
                url: url.clone(),
            },
            DirectoryCommand::RecordQuote(q) => WireRecord::RecordQuote {
                quote_id: q.quote_id.clone(),
                payer: q.payer.clone(),
                payee: q.payee.clone(),
                request_sha256: hex(&q.request_sha256),
                response: q.response.clone(),
                expires_at_ms: q.expires_at_ms,
            },
            DirectoryCommand::SetWriter { node, url, .. } => WireRecord::SetWriter {
                node: node.clone(),
                url: url.clone(),
            },
            DirectoryCommand::ExpireQuotes {
                expired_before_ms,
                recorded_before_ms,
                max,
                ..
            } => WireRecord::ExpireQuotes {
                expired_before_ms: *expired_before_ms,
                recorded_before_ms: *recorded_before_ms,
                max: *max,
            },
        },
        LogRecord::Settlement(command) => match command {
            SettlementCommand::CloseWindow {
                currency, reason, ..
            } => WireRecord::CloseWindow {
                currency: currency.to_string(),
                reason: reason.clone(),
            },
            SettlementCommand::CreateSettlement {
                currency,
                model,
                window_ids,
                reason,
                ..
            } => WireRecord::CreateSettlement {
                currency: currency.to_string(),
                model: model_name(*model).into(),
                window_ids: window_ids.clone(),
                reason: reason.clone(),
            },
            SettlementCommand::Advance {
                settlement_id,
                participant,
                to,
                external_reference,
                ..
            } => WireRecord::AdvanceSettlement {
                settlement_id: *settlement_id,
                participant: name(participant)?,
                to: crate::text::settlement_state_name(*to).into(),
                external_reference: external_reference.clone(),
            },
            SettlementCommand::Abort { settlement_id, .. } => WireRecord::AbortSettlement {
                settlement_id: *settlement_id,
            },
        },
    };
    serde_json::to_string(&Envelope {
        v: VERSION,
        time_ms: record.time_ms(),
        by,
        record: wire,
    })
    .map_err(|e| RecordError::Malformed(e.to_string()))
}

fn wire_party(p: &PartyKey) -> Party {
    Party {
        party_type: p.party_type.clone(),
        id: p.id.clone(),
        sub_id: p.sub_id.clone(),
    }
}

fn malformed(field: &str, text: &str) -> RecordError {
    RecordError::Malformed(format!("{field}: {text:?}"))
}

fn currency(text: &str) -> Result<Currency, RecordError> {
    Currency::parse(text).map_err(|_| malformed("currency", text))
}

fn decimal(field: &str, text: &str) -> Result<Decimal, RecordError> {
    Decimal::from_str(text).map_err(|_| malformed(field, text))
}

fn uuid(field: &str, text: &str) -> Result<u128, RecordError> {
    parse_uuid(text).ok_or_else(|| malformed(field, text))
}

fn hash(field: &str, text: &str) -> Result<[u8; 32], RecordError> {
    // Written in lower case; an upper-case digit is not a format-2 record.
    if text.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(malformed(field, text));
    }
    hex32(text).ok_or_else(|| malformed(field, text))
}

fn named(text: String) -> ParticipantRef {
    ParticipantRef::Name(text)
}

/// Reads a format-2 record.
pub fn decode(text: &str) -> Result<LogRecord, RecordError> {
    use LedgerCommand as L;
    let envelope: Envelope =
        serde_json::from_str(text).map_err(|e| RecordError::Malformed(e.to_string()))?;
    if envelope.v != VERSION {
        return Err(RecordError::Version(envelope.v));
    }
    let now_ms = envelope.time_ms;
    let command = match envelope.record {
        WireRecord::EnableCurrency {
            currency: c,
            opens_window,
            scale,
        } => LogRecord::Ledger(L::EnableCurrency {
            currency: currency(&c)?,
            opens_window,
            scale,
            now_ms,
        }),
        WireRecord::CreateParticipant { name, kind } => LogRecord::Ledger(L::CreateParticipant {
            name,
            kind: match kind.as_str() {
                "BANK" => ParticipantKind::Bank,
                "WALLET" => ParticipantKind::Wallet,
                _ => return Err(malformed("kind", &kind)),
            },
            now_ms,
        }),
        WireRecord::OpenAccounts {
            participant,
            currency: c,
            net_debit_cap,
        } => LogRecord::Ledger(L::OpenAccounts {
            participant: named(participant),
            currency: currency(&c)?,
            net_debit_cap: decimal("net_debit_cap", &net_debit_cap)?,
            now_ms,
        }),
        WireRecord::SetParticipantActive {
            participant,
            active,
        } => LogRecord::Ledger(L::SetParticipantActive {
            participant: named(participant),
            active,
            now_ms,
        }),
        WireRecord::SetAccountActive {
            participant,
            currency: c,
            account,
            active,
        } => LogRecord::Ledger(L::SetAccountActive {
            participant: named(participant),
            currency: currency(&c)?,
            kind: match account.as_str() {
                "POSITION" => AccountType::Position,
                "SETTLEMENT" => AccountType::Settlement,
                "HUB_RECONCILIATION" => AccountType::HubReconciliation,
                "HUB_MULTILATERAL_SETTLEMENT" => AccountType::HubMultilateralSettlement,
                _ => return Err(malformed("account", &account)),
            },
            active,
            now_ms,
        }),
        WireRecord::SetNetDebitCap {
            participant,
            currency: c,
            net_debit_cap,
        } => LogRecord::Ledger(L::SetNetDebitCap {
            participant: named(participant),
            currency: currency(&c)?,
            net_debit_cap: decimal("net_debit_cap", &net_debit_cap)?,
            now_ms,
        }),
        WireRecord::FundsIn {
            funds_id,
            participant,
            currency: c,
            amount,
        } => LogRecord::Ledger(L::FundsIn {
            funds_id: FundsId(uuid("funds_id", &funds_id)?),
            participant: named(participant),
            currency: currency(&c)?,
            amount: decimal("amount", &amount)?,
            now_ms,
        }),
        WireRecord::FundsOutReserve {
            funds_id,
            participant,
            currency: c,
            amount,
        } => LogRecord::Ledger(L::FundsOutReserve {
            funds_id: FundsId(uuid("funds_id", &funds_id)?),
            participant: named(participant),
            currency: currency(&c)?,
            amount: decimal("amount", &amount)?,
            now_ms,
        }),
        WireRecord::FundsOutCommit { funds_id } => LogRecord::Ledger(L::FundsOutCommit {
            funds_id: FundsId(uuid("funds_id", &funds_id)?),
            now_ms,
        }),
        WireRecord::FundsOutAbort { funds_id } => LogRecord::Ledger(L::FundsOutAbort {
            funds_id: FundsId(uuid("funds_id", &funds_id)?),
            now_ms,
        }),
        WireRecord::TransferPrepare {
            transfer_id,
            payer,
            payee,
            currency: c,
            amount,
            condition,
            expires_at_ms,
            ilp_packet,
            quote_id,
            transaction_id,
            extensions,
        } => LogRecord::Ledger(L::Prepare {
            transfer_id: TransferId(uuid("transfer_id", &transfer_id)?),
            payer: named(payer),
            payee: named(payee),
            currency: currency(&c)?,
            amount: decimal("amount", &amount)?,
            condition: hash("condition", &condition)?,
            expires_at_ms,
            now_ms,
            terms: PrepareTerms {
                ilp_packet,
                quote_id,
                transaction_id,
                extensions: extensions.into_iter().map(|e| (e.key, e.value)).collect(),
            },
        }),
        WireRecord::TransferCommit {
            transfer_id,
            fulfilment,
        } => LogRecord::Ledger(L::Commit {
            transfer_id: TransferId(uuid("transfer_id", &transfer_id)?),
            fulfilment: hash("fulfilment", &fulfilment)?,
            now_ms,
        }),
        WireRecord::TransferAbort {
            transfer_id,
            reason,
        } => LogRecord::Ledger(L::Abort {
            transfer_id: TransferId(uuid("transfer_id", &transfer_id)?),
            reason,
            now_ms,
        }),
        WireRecord::TransferExpire { transfer_id } => LogRecord::Ledger(L::Expire {
            transfer_id: TransferId(uuid("transfer_id", &transfer_id)?),
            now_ms,
        }),
        WireRecord::ExpireDueTransfers { max } => LogRecord::Ledger(L::ExpireDue { now_ms, max }),
        WireRecord::SetSettlementModel {
            participant,
            currency: c,
            gross,
        } => LogRecord::Ledger(L::SetSettlementModel {
            participant: named(participant),
            currency: currency(&c)?,
            gross,
            now_ms,
        }),
        WireRecord::SetCredential {
            participant,
            credential_sha256,
        } => LogRecord::Directory(DirectoryCommand::SetCredential {
            participant,
            credential_sha256: hash("credential_sha256", &credential_sha256)?,
            now_ms,
        }),
        WireRecord::AddCertificate {
            participant,
            certificate_sha256,
            subject,
        } => LogRecord::Directory(DirectoryCommand::AddCertificate {
            participant,
            certificate_sha256: hash("certificate_sha256", &certificate_sha256)?,
            subject,
            now_ms,
        }),
        WireRecord::RemoveCertificate {
            participant,
            certificate_sha256,
        } => LogRecord::Directory(DirectoryCommand::RemoveCertificate {
            participant,
            certificate_sha256: hash("certificate_sha256", &certificate_sha256)?,
            now_ms,
        }),
        WireRecord::AddIssuer {
            participant,
            ca_certificate,
            ca_subject,
            subject,
        } => LogRecord::Directory(DirectoryCommand::AddIssuer {
            participant,
            ca_der: base64::engine::general_purpose::STANDARD
                .decode(&ca_certificate)
                .map_err(|_| RecordError::Malformed("ca_certificate: not base64".into()))?,
            ca_subject,
            subject,
            now_ms,
        }),
        WireRecord::RemoveIssuer {
            participant,
            ca_sha256,
            subject,
        } => LogRecord::Directory(DirectoryCommand::RemoveIssuer {
            participant,
            ca_sha256: hash("ca_sha256", &ca_sha256)?,
            subject,
            now_ms,
        }),
        WireRecord::SetEndpoint { participant, url } => {
            LogRecord::Directory(DirectoryCommand::SetEndpoint {
                participant,
                url,
                now_ms,
            })
        }
        WireRecord::SetCallback {
            participant,
            kind,
            url,
        } => LogRecord::Directory(DirectoryCommand::SetCallback {
            participant,
            kind,
            url,
            now_ms,
        }),
        WireRecord::DefineSettlementModel {
            name,
            currency: model_currency,
            granularity,
            interchange,
            delay,
            ledger_account_type,
            settlement_account_type,
            require_liquidity_check,
            auto_position_reset,
        } => LogRecord::Directory(DirectoryCommand::DefineSettlementModel {
            model: super::SettlementModelDef {
                name,
                currency: model_currency.as_deref().map(currency).transpose()?,
                granularity,
                interchange,
                delay,
                ledger_account_type,
                settlement_account_type,
                require_liquidity_check,
                auto_position_reset,
            },
            now_ms,
        }),
        WireRecord::RegisterParty { owner, party } => {
            LogRecord::Directory(DirectoryCommand::RegisterParty {
                owner,
                party: party_key(party),
                now_ms,
            })
        }
        WireRecord::DeregisterParty { owner, party } => {
            LogRecord::Directory(DirectoryCommand::DeregisterParty {
                owner,
                party: party_key(party),
                now_ms,
            })
        }
        WireRecord::SetOracle { party_type, url } => {
            LogRecord::Directory(DirectoryCommand::SetOracle {
                party_type,
                url,
                now_ms,
            })
        }
        WireRecord::RecordQuote {
            quote_id,
            payer,
            payee,
            request_sha256,
            response,
            expires_at_ms,
        } => LogRecord::Directory(DirectoryCommand::RecordQuote(QuoteRecord {
            quote_id,
            payer,
            payee,
            request_sha256: hash("request_sha256", &request_sha256)?,
            response,
            expires_at_ms,
            recorded_at_ms: now_ms,
        })),
        WireRecord::SetWriter { node, url } => {
            LogRecord::Directory(DirectoryCommand::SetWriter { node, url, now_ms })
        }
        WireRecord::ExpireQuotes {
            expired_before_ms,
            recorded_before_ms,
            max,
        } => LogRecord::Directory(DirectoryCommand::ExpireQuotes {
            expired_before_ms,
            recorded_before_ms,
            max,
            now_ms,
        }),
        WireRecord::CloseWindow {
            currency: c,
            reason,
        } => LogRecord::Settlement(SettlementCommand::CloseWindow {
            currency: currency(&c)?,
            reason,
            now_ms,
        }),
        WireRecord::CreateSettlement {
            currency: c,
            model,
            window_ids,
            reason,
        } => LogRecord::Settlement(SettlementCommand::CreateSettlement {
            currency: currency(&c)?,
            model: [
                SettlementModel::MultilateralNet,
                SettlementModel::BilateralNet,
                SettlementModel::ImmediateGross,
            ]
            .into_iter()
            .find(|m| model_name(*m) == model)
            .ok_or_else(|| malformed("model", &model))?,
            window_ids,
            reason,
            now_ms,
        }),
        WireRecord::AdvanceSettlement {
            settlement_id,
            participant,
            to,
            external_reference,
        } => LogRecord::Settlement(SettlementCommand::Advance {
            settlement_id,
            participant: named(participant),
            to: STATES
                .into_iter()
                .find(|s| crate::text::settlement_state_name(*s) == to)
                .ok_or_else(|| malformed("to", &to))?,
            external_reference,
            now_ms,
        }),
        WireRecord::AbortSettlement { settlement_id } => {
            LogRecord::Settlement(SettlementCommand::Abort {
                settlement_id,
                now_ms,
            })
        }
    };
    Ok(match envelope.by {
        None => command,
        Some(by) => {
            if by.operator.is_empty() || by.operator.len() > super::OPERATOR_NAME_LENGTH_MAX {
                return Err(malformed("by.operator", &by.operator));
            }
            LogRecord::operated(&by.operator, &by.role, command)
        }
    })
}

fn party_key(p: Party) -> PartyKey {
    PartyKey {
        party_type: p.party_type,
        id: p.id,
        sub_id: p.sub_id,
    }
}
