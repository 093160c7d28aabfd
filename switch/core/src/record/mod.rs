//! What the log holds: every command that changes the switch's state.
//!
//! Three kinds: commands for the ledger (money), for the directory (who the
//! participants are, where to reach them, who owns which party, which quotes
//! were agreed) and for settlement (windows and settlements). All are
//! applied deterministically by [`crate::state::State`], so replaying the
//! log rebuilds the same state.
//!
//! ## The stored form
//!
//! The hash chain freezes the text of every record for ever, so every build
//! must read every record any earlier build wrote. The types here are the
//! switch's own and may change; the stored form is a separate, versioned
//! set of wire types:
//!
//! - [`v1`]: the first format (the serde JSON of the internal enums of its
//!   time: ids as 128-bit numbers, hashes as arrays of numbers,
//!   participants by ledger id). Decoded only, from frozen copies of those
//!   types.
//! - [`v2`]: the current format, written by [`LogRecord::encode`]: UUIDs as
//!   strings, hashes as hex, participants by name, amounts as decimal
//!   strings, and the time on every record.
//!
//! Architecture invariant: [`LogRecord::decode`] reads every version ever
//! written; `encode` writes only the latest. A new version adds a module
//! and a golden fixture (`switch/tests/fixtures/log/`); no fixture is ever
//! edited. A change to these types never changes what an old record means.

pub mod v1;
pub mod v2;

use harambee_ledger::{
    AccountType, Command, Currency, FundsId, Ledger, ParticipantId, ParticipantKind, TransferId,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The version [`LogRecord::encode`] writes.
pub const RECORD_FORMAT_VERSION: u32 = 2;

/// Every version [`LogRecord::decode`] reads.
pub const RECORD_FORMAT_VERSIONS: &[u32] = &[1, 2];

/// One entry of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogRecord {
    /// A ledger command.
    Ledger(LedgerCommand),
    /// A directory command.
    Directory(DirectoryCommand),
    /// A settlement command: windows and settlements.
    Settlement(SettlementCommand),
    /// A command an operator made, with who made it: applied as the
    /// command itself. Never nested.
    Operated(Operated),
}

/// Longest operator name, in bytes.
pub const OPERATOR_NAME_LENGTH_MAX: usize = 64;

/// An operator's command and the identity that made it (what `harambee
/// audit operators` lists). The identity is the authenticated one: the
/// name of an `[[operators]]` entry, and the role the call needed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operated {
    pub operator: String,
    /// `hub-operator`, `settlement-operator` or `auditor`.
    pub role: String,
    pub record: Box<LogRecord>,
}

impl LogRecord {
    /// `record`, as made by `operator` acting in `role`.
    pub fn operated(operator: &str, role: &str, record: LogRecord) -> LogRecord {
        debug_assert!(!matches!(record, LogRecord::Operated(_)));
        LogRecord::Operated(Operated {
            operator: operator.to_string(),
            role: role.to_string(),
            record: Box::new(record),
        })
    }

    /// The command itself, whoever made it.
    pub fn command(&self) -> &LogRecord {
        match self {
            LogRecord::Operated(o) => o.record.command(),
            other => other,
        }
    }
}

/// A participant as a record names it: by name (every record written
/// since format 2), or by the ledger id a format-1 record carried.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ParticipantRef {
    Name(String),
    Id(ParticipantId),
}

impl ParticipantRef {
    pub fn name(name: impl Into<String>) -> ParticipantRef {
        ParticipantRef::Name(name.into())
    }

    /// The ledger id, at the point of the log where the record is applied.
    /// A name the ledger does not know resolves to [`UNKNOWN_PARTICIPANT`],
    /// which every command refuses as it refuses any unknown id.
    pub fn resolve(&self, ledger: &Ledger) -> ParticipantId {
        match self {
            ParticipantRef::Id(id) => *id,
            ParticipantRef::Name(name) => ledger
                .participant_by_name(name)
                .map_or(UNKNOWN_PARTICIPANT, |p| p.id),
        }
    }
}

/// The id no participant has: above the ledger's participant limit.
pub const UNKNOWN_PARTICIPANT: ParticipantId = ParticipantId(u32::MAX);

const _: () = assert!(harambee_ledger::PARTICIPANTS_MAX < u32::MAX as usize);

/// A ledger command as the log holds it: the ledger's [`Command`] with its
/// participants by name and a time on every variant. The state turns it
/// into the ledger's command when it applies it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LedgerCommand {
    EnableCurrency {
        currency: Currency,
        /// The state opens the currency's first settlement window as it
        /// enables the currency, so that an operator always finds one
        /// OPEN (as in Mojaloop). Set by every writer since it existed;
        /// records without it (older ones) leave the first window to the
        /// first commit, as the builds that wrote them did.
        opens_window: bool,
        /// The decimals the ledger keeps the currency's amounts at; `None`
        /// in records older than the field: its ISO minor unit.
        scale: Option<u32>,
        now_ms: i64,
    },
    CreateParticipant {
        name: String,
        kind: ParticipantKind,
        now_ms: i64,
    },
    OpenAccounts {
        participant: ParticipantRef,
        currency: Currency,
        net_debit_cap: Decimal,
        now_ms: i64,
    },
    SetParticipantActive {
        participant: ParticipantRef,
        active: bool,
        now_ms: i64,
    },
    SetAccountActive {
        participant: ParticipantRef,
        currency: Currency,
        kind: AccountType,
        active: bool,
        now_ms: i64,
    },
    SetNetDebitCap {
        participant: ParticipantRef,
        currency: Currency,
        net_debit_cap: Decimal,
        now_ms: i64,
    },
    FundsIn {
        funds_id: FundsId,
        participant: ParticipantRef,
        currency: Currency,
        amount: Decimal,
        now_ms: i64,
    },
    FundsOutReserve {
        funds_id: FundsId,
        participant: ParticipantRef,
        currency: Currency,
        amount: Decimal,
        now_ms: i64,
    },
    FundsOutCommit {
        funds_id: FundsId,
        now_ms: i64,
    },
    FundsOutAbort {
        funds_id: FundsId,
        now_ms: i64,
    },
    Prepare {
        transfer_id: TransferId,
        payer: ParticipantRef,
        payee: ParticipantRef,
        currency: Currency,
        amount: Decimal,
        condition: [u8; 32],
        expires_at_ms: i64,
        now_ms: i64,
        /// What else the payer sent, for the payee: with it the switch can
        /// ask the payee again after a restart.
        terms: PrepareTerms,
    },
    Commit {
        transfer_id: TransferId,
        fulfilment: [u8; 32],
        now_ms: i64,
    },
    Abort {
        transfer_id: TransferId,
        reason: u16,
        now_ms: i64,
    },
    Expire {
        transfer_id: TransferId,
        now_ms: i64,
    },
    ExpireDue {
        now_ms: i64,
        max: u32,
    },
    SetSettlementModel {
        participant: ParticipantRef,
        currency: Currency,
        gross: bool,
        now_ms: i64,
    },
}

impl LedgerCommand {
    /// Enables `currency`, opening its first settlement window with it,
    /// its amounts kept at [`Currency::ledger_scale`] decimals: the command
    /// every writer issues.
    pub fn enable_currency(currency: Currency, now_ms: i64) -> LedgerCommand {
        LedgerCommand::EnableCurrency {
            currency,
            opens_window: true,
            scale: Some(currency.ledger_scale()),
            now_ms,
        }
    }

    /// The time the command carries.
    pub fn time_ms(&self) -> i64 {
        use LedgerCommand::*;
        match self {
            EnableCurrency { now_ms, .. }
            | CreateParticipant { now_ms, .. }
            | OpenAccounts { now_ms, .. }
            | SetParticipantActive { now_ms, .. }
            | SetAccountActive { now_ms, .. }
            | SetNetDebitCap { now_ms, .. }
            | FundsIn { now_ms, .. }
            | FundsOutReserve { now_ms, .. }
            | FundsOutCommit { now_ms, .. }
            | FundsOutAbort { now_ms, .. }
            | Prepare { now_ms, .. }
            | Commit { now_ms, .. }
            | Abort { now_ms, .. }
            | Expire { now_ms, .. }
            | ExpireDue { now_ms, .. }
            | SetSettlementModel { now_ms, .. } => *now_ms,
        }
    }

    /// The ledger's command, with every participant resolved against
    /// `ledger` (the state the command is applied to).
    pub fn to_ledger(&self, ledger: &Ledger) -> Command {
        use LedgerCommand as L;
        let id = |p: &ParticipantRef| p.resolve(ledger);
        match self {
            L::EnableCurrency {
                currency, scale, ..
            } => Command::EnableCurrency {
                currency: *currency,
                scale: *scale,
            },
            L::CreateParticipant { name, kind, .. } => Command::CreateParticipant {
                name: name.clone(),
                kind: *kind,
            },
            L::OpenAccounts {
                participant,
                currency,
                net_debit_cap,
                ..
            } => Command::OpenAccounts {
                participant: id(participant),
                currency: *currency,
                net_debit_cap: *net_debit_cap,
            },
            L::SetParticipantActive {
                participant,
                active,
                ..
            } => Command::SetParticipantActive {
                participant: id(participant),
                active: *active,
            },
            L::SetAccountActive {
                participant,
                currency,
                kind,
                active,
                ..
            } => Command::SetAccountActive {
                participant: id(participant),
                currency: *currency,
                kind: *kind,
                active: *active,
            },
            L::SetNetDebitCap {
                participant,
                currency,
                net_debit_cap,
                ..
            } => Command::SetNetDebitCap {
                participant: id(participant),
                currency: *currency,
                net_debit_cap: *net_debit_cap,
            },
            L::FundsIn {
                funds_id,
                participant,
                currency,
                amount,
                ..
            } => Command::FundsIn {
                funds_id: *funds_id,
                participant: id(participant),
                currency: *currency,
                amount: *amount,
            },
            L::FundsOutReserve {
                funds_id,
                participant,
                currency,
                amount,
                ..
            } => Command::FundsOutReserve {
                funds_id: *funds_id,
                participant: id(participant),
                currency: *currency,
                amount: *amount,
            },
            L::FundsOutCommit { funds_id, .. } => Command::FundsOutCommit {
                funds_id: *funds_id,
            },
            L::FundsOutAbort { funds_id, .. } => Command::FundsOutAbort {
                funds_id: *funds_id,
            },
            L::Prepare {
                transfer_id,
                payer,
                payee,
                currency,
                amount,
                condition,
                expires_at_ms,
                now_ms,
                ..
            } => Command::Prepare {
                transfer_id: *transfer_id,
                payer: id(payer),
                payee: id(payee),
                currency: *currency,
                amount: *amount,
                condition: *condition,
                expires_at_ms: *expires_at_ms,
                now_ms: *now_ms,
            },
            L::Commit {
                transfer_id,
                fulfilment,
                now_ms,
            } => Command::Commit {
                transfer_id: *transfer_id,
                fulfilment: *fulfilment,
                now_ms: *now_ms,
            },
            L::Abort {
                transfer_id,
                reason,
                now_ms,
            } => Command::Abort {
                transfer_id: *transfer_id,
                reason: *reason,
                now_ms: *now_ms,
            },
            L::Expire {
                transfer_id,
                now_ms,
            } => Command::Expire {
                transfer_id: *transfer_id,
                now_ms: *now_ms,
            },
            L::ExpireDue { now_ms, max } => Command::ExpireDue {
                now_ms: *now_ms,
                max: *max,
            },
            L::SetSettlementModel {
                participant,
                currency,
                gross,
                ..
            } => Command::SetSettlementModel {
                participant: id(participant),
                currency: *currency,
                gross: *gross,
            },
        }
    }

    /// The ledger's command as a record holds it, participants by id (as
    /// format 1 held them) and the time the command carries (0 if none).
    /// `None` for `Settle`, which the state makes and no record holds.
    pub fn from_ledger(command: &Command) -> Option<LedgerCommand> {
        use LedgerCommand as L;
        let id = |p: &ParticipantId| ParticipantRef::Id(*p);
        Some(match command {
            Command::EnableCurrency { currency, scale } => L::EnableCurrency {
                currency: *currency,
                opens_window: false,
                scale: *scale,
                now_ms: 0,
            },
            Command::CreateParticipant { name, kind } => L::CreateParticipant {
                name: name.clone(),
                kind: *kind,
                now_ms: 0,
            },
            Command::OpenAccounts {
                participant,
                currency,
                net_debit_cap,
            } => L::OpenAccounts {
                participant: id(participant),
                currency: *currency,
                net_debit_cap: *net_debit_cap,
                now_ms: 0,
            },
            Command::SetParticipantActive {
                participant,
                active,
            } => L::SetParticipantActive {
                participant: id(participant),
                active: *active,
                now_ms: 0,
            },
            Command::SetAccountActive {
                participant,
                currency,
                kind,
                active,
            } => L::SetAccountActive {
                participant: id(participant),
                currency: *currency,
                kind: *kind,
                active: *active,
                now_ms: 0,
            },
            Command::SetNetDebitCap {
                participant,
                currency,
                net_debit_cap,
            } => L::SetNetDebitCap {
                participant: id(participant),
                currency: *currency,
                net_debit_cap: *net_debit_cap,
                now_ms: 0,
            },
            Command::FundsIn {
                funds_id,
                participant,
                currency,
                amount,
            } => L::FundsIn {
                funds_id: *funds_id,
                participant: id(participant),
                currency: *currency,
                amount: *amount,
                now_ms: 0,
            },
            Command::FundsOutReserve {
                funds_id,
                participant,
                currency,
                amount,
            } => L::FundsOutReserve {
                funds_id: *funds_id,
                participant: id(participant),
                currency: *currency,
                amount: *amount,
                now_ms: 0,
            },
            Command::FundsOutCommit { funds_id } => L::FundsOutCommit {
                funds_id: *funds_id,
                now_ms: 0,
            },
            Command::FundsOutAbort { funds_id } => L::FundsOutAbort {
                funds_id: *funds_id,
                now_ms: 0,
            },
            Command::Prepare {
                transfer_id,
                payer,
                payee,
                currency,
                amount,
                condition,
                expires_at_ms,
                now_ms,
            } => L::Prepare {
                transfer_id: *transfer_id,
                payer: id(payer),
                payee: id(payee),
                currency: *currency,
                amount: *amount,
                condition: *condition,
                expires_at_ms: *expires_at_ms,
                now_ms: *now_ms,
                terms: PrepareTerms::default(),
            },
            Command::Commit {
                transfer_id,
                fulfilment,
                now_ms,
            } => L::Commit {
                transfer_id: *transfer_id,
                fulfilment: *fulfilment,
                now_ms: *now_ms,
            },
            Command::Abort {
                transfer_id,
                reason,
                now_ms,
            } => L::Abort {
                transfer_id: *transfer_id,
                reason: *reason,
                now_ms: *now_ms,
            },
            Command::Expire {
                transfer_id,
                now_ms,
            } => L::Expire {
                transfer_id: *transfer_id,
                now_ms: *now_ms,
            },
            Command::ExpireDue { now_ms, max } => L::ExpireDue {
                now_ms: *now_ms,
                max: *max,
            },
            Command::SetSettlementModel {
                participant,
                currency,
                gross,
            } => L::SetSettlementModel {
                participant: id(participant),
                currency: *currency,
                gross: *gross,
                now_ms: 0,
            },
            Command::Settle { .. } => return None,
        })
    }

    /// The same command with participants by name, read off `ledger` (a
    /// state at the record's place in the log). Used to re-encode format-1
    /// records; an id the ledger does not know stays an id.
    pub fn with_names(&self, ledger: &Ledger) -> LedgerCommand {
        let mut command = self.clone();
        for p in command.participants_mut() {
            *p = p.clone().with_name(ledger);
        }
        command
    }

    fn participants_mut(&mut self) -> Vec<&mut ParticipantRef> {
        use LedgerCommand::*;
        match self {
            OpenAccounts { participant, .. }
            | SetParticipantActive { participant, .. }
            | SetAccountActive { participant, .. }
            | SetNetDebitCap { participant, .. }
            | FundsIn { participant, .. }
            | FundsOutReserve { participant, .. }
            | SetSettlementModel { participant, .. } => vec![participant],
            Prepare { payer, payee, .. } => vec![payer, payee],
            EnableCurrency { .. }
            | CreateParticipant { .. }
            | FundsOutCommit { .. }
            | FundsOutAbort { .. }
            | Commit { .. }
            | Abort { .. }
            | Expire { .. }
            | ExpireDue { .. } => vec![],
        }
    }
}

/// What a prepare carries for the payee beyond what the ledger keeps: the
/// ILP packet from the quote, the quote and transaction ids and the
/// extensions, as the payer sent them (empty: none; format-1 records held
/// none).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrepareTerms {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ilp_packet: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub quote_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub transaction_id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<(String, String)>,
}

/// Changes to settlement windows and settlements, applied by the
/// `harambee-settlement` state machine inside the switch's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SettlementCommand {
    /// Closes the open window of `currency` and opens the next. Transfers
    /// committed after this record go to the next window.
    CloseWindow {
        currency: Currency,
        reason: String,
        now_ms: i64,
    },
    /// Creates a settlement of closed windows of `currency` on a deferred
    /// net model.
    CreateSettlement {
        currency: Currency,
        model: harambee_settlement::SettlementModel,
        window_ids: Vec<u64>,
        reason: String,
        now_ms: i64,
    },
    /// Moves one participant's account of a settlement one state on, and
    /// applies the postings of that step to the ledger.
    Advance {
        settlement_id: u64,
        participant: ParticipantRef,
        to: harambee_settlement::SettlementState,
        /// The operator's reference (e.g. the settlement bank's payment id).
        external_reference: String,
        now_ms: i64,
    },
    /// Aborts a settlement (voiding its reservations).
    Abort { settlement_id: u64, now_ms: i64 },
}

/// Changes to the switch's directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DirectoryCommand {
    /// Sets the SHA-256 of a participant's API credential (the credential
    /// itself is shown once to the operator and never stored).
    SetCredential {
        participant: String,
        credential_sha256: [u8; 32],
        now_ms: i64,
    },
    /// Registers a client certificate of a participant (by the SHA-256
    /// of its DER): a TLS connection that presents it, verified against
    /// the scheme CA, acts as the participant. A participant may hold
    /// several at once (a rollover); each belongs to one participant.
    AddCertificate {
        participant: String,
        certificate_sha256: [u8; 32],
        /// The certificate's subject, for people reading the directory.
        subject: String,
        now_ms: i64,
    },
    /// Removes a registered certificate: from this record on, a
    /// connection that presents it proves nothing.
    RemoveCertificate {
        participant: String,
        certificate_sha256: [u8; 32],
        now_ms: i64,
    },
    /// Registers a participant by the CA that issues its certificates and
    /// the subject they bear: a TLS connection whose certificate chains
    /// to `ca_der` and names `subject` acts as the participant, whatever
    /// certificate of that CA and subject it is (so the participant
    /// renews its certificates with no registration), and the
    /// participant's callback servers are verified against the CA too.
    AddIssuer {
        participant: String,
        /// The CA certificate's DER.
        ca_der: Vec<u8>,
        /// The CA's subject, for people reading the directory.
        ca_subject: String,
        /// The subject a participant's certificate must bear, as RFC 4514
        /// text (`CN=bank-a, O=Bank A`).
        subject: String,
        now_ms: i64,
    },
    /// Removes an issuer registration: from this record on, certificates
    /// of that CA and subject prove nothing.
    RemoveIssuer {
        participant: String,
        ca_sha256: [u8; 32],
        subject: String,
        now_ms: i64,
    },
    /// Sets the URL of a participant's payee callback service.
    SetEndpoint {
        participant: String,
        url: String,
        now_ms: i64,
    },
    /// Sets one of a participant's typed callback URLs (the FSPIOP
    /// endpoint types of a Mojaloop hub, such as
    /// `FSPIOP_CALLBACK_URL_TRANSFER_POST`); an empty `url` removes it.
    SetCallback {
        participant: String,
        kind: String,
        url: String,
        now_ms: i64,
    },
    /// Defines a settlement model of the scheme (Mojaloop's
    /// `settlementModels`), once per name.
    DefineSettlementModel {
        model: SettlementModelDef,
        now_ms: i64,
    },
    /// The built-in oracle: `owner` owns the party.
    RegisterParty {
        owner: String,
        party: PartyKey,
        now_ms: i64,
    },
    /// The built-in oracle: `owner` no longer owns the party.
    DeregisterParty {
        owner: String,
        party: PartyKey,
        now_ms: i64,
    },
    /// Routes a party type to an external oracle (`Some(url)`) or back to the
    /// built-in one (`None`).
    SetOracle {
        party_type: String,
        url: Option<String>,
        now_ms: i64,
    },
    /// A quote the payee agreed to.
    RecordQuote(QuoteRecord),
    /// The node that appends to the log from this record on (written by a
    /// node when it becomes the ledger writer of a cluster): its name and
    /// the URL of its Cluster service, where the other nodes submit.
    SetWriter {
        node: String,
        url: String,
        now_ms: i64,
    },
    /// Releases agreed quotes from the state (they stay in the quotes
    /// projection): at most `max` of those that expired before
    /// `expired_before_ms` or were recorded before `recorded_before_ms`,
    /// oldest first. Written by the expiry sweep; the cut-offs are in the
    /// record, so a replay releases exactly the same quotes.
    ExpireQuotes {
        expired_before_ms: i64,
        recorded_before_ms: i64,
        max: u32,
        now_ms: i64,
    },
}

impl DirectoryCommand {
    /// The time the command carries.
    pub fn time_ms(&self) -> i64 {
        use DirectoryCommand::*;
        match self {
            SetCredential { now_ms, .. }
            | AddCertificate { now_ms, .. }
            | RemoveCertificate { now_ms, .. }
            | AddIssuer { now_ms, .. }
            | RemoveIssuer { now_ms, .. }
            | SetEndpoint { now_ms, .. }
            | SetCallback { now_ms, .. }
            | DefineSettlementModel { now_ms, .. }
            | RegisterParty { now_ms, .. }
            | DeregisterParty { now_ms, .. }
            | SetOracle { now_ms, .. }
            | SetWriter { now_ms, .. }
            | ExpireQuotes { now_ms, .. } => *now_ms,
            RecordQuote(q) => q.recorded_at_ms,
        }
    }
}

impl SettlementCommand {
    /// The time the command carries.
    pub fn time_ms(&self) -> i64 {
        match self {
            SettlementCommand::CloseWindow { now_ms, .. }
            | SettlementCommand::CreateSettlement { now_ms, .. }
            | SettlementCommand::Advance { now_ms, .. }
            | SettlementCommand::Abort { now_ms, .. } => *now_ms,
        }
    }
}

impl LogRecord {
    /// The time the record carries (0 only for format-1 records of kinds
    /// that carried none).
    pub fn time_ms(&self) -> i64 {
        match self {
            LogRecord::Ledger(command) => command.time_ms(),
            LogRecord::Settlement(command) => command.time_ms(),
            LogRecord::Directory(command) => command.time_ms(),
            LogRecord::Operated(o) => o.record.time_ms(),
        }
    }

    /// The time the record carries, to set (a format-1 record of a kind
    /// that carried none holds 0).
    pub fn time_ms_mut(&mut self) -> &mut i64 {
        use DirectoryCommand as D;
        use LedgerCommand as L;
        match self {
            LogRecord::Ledger(
                L::EnableCurrency { now_ms, .. }
                | L::CreateParticipant { now_ms, .. }
                | L::OpenAccounts { now_ms, .. }
                | L::SetParticipantActive { now_ms, .. }
                | L::SetAccountActive { now_ms, .. }
                | L::SetNetDebitCap { now_ms, .. }
                | L::FundsIn { now_ms, .. }
                | L::FundsOutReserve { now_ms, .. }
                | L::FundsOutCommit { now_ms, .. }
                | L::FundsOutAbort { now_ms, .. }
                | L::Prepare { now_ms, .. }
                | L::Commit { now_ms, .. }
                | L::Abort { now_ms, .. }
                | L::Expire { now_ms, .. }
                | L::ExpireDue { now_ms, .. }
                | L::SetSettlementModel { now_ms, .. },
            ) => now_ms,
            LogRecord::Directory(
                D::SetCredential { now_ms, .. }
                | D::AddCertificate { now_ms, .. }
                | D::RemoveCertificate { now_ms, .. }
                | D::AddIssuer { now_ms, .. }
                | D::RemoveIssuer { now_ms, .. }
                | D::SetEndpoint { now_ms, .. }
                | D::SetCallback { now_ms, .. }
                | D::DefineSettlementModel { now_ms, .. }
                | D::RegisterParty { now_ms, .. }
                | D::DeregisterParty { now_ms, .. }
                | D::SetOracle { now_ms, .. }
                | D::SetWriter { now_ms, .. }
                | D::ExpireQuotes { now_ms, .. },
            ) => now_ms,
            LogRecord::Directory(D::RecordQuote(q)) => &mut q.recorded_at_ms,
            LogRecord::Settlement(
                SettlementCommand::CloseWindow { now_ms, .. }
                | SettlementCommand::CreateSettlement { now_ms, .. }
                | SettlementCommand::Advance { now_ms, .. }
                | SettlementCommand::Abort { now_ms, .. },
            ) => now_ms,
            LogRecord::Operated(o) => o.record.time_ms_mut(),
        }
    }

    /// The same record with participants by name, read off `ledger` (a
    /// state at the record's place in the log).
    pub fn with_names(&self, ledger: &Ledger) -> LogRecord {
        match self {
            LogRecord::Ledger(command) => LogRecord::Ledger(command.with_names(ledger)),
            LogRecord::Settlement(command) => {
                let mut command = command.clone();
                if let SettlementCommand::Advance { participant, .. } = &mut command {
                    *participant = participant.clone().with_name(ledger);
                }
                LogRecord::Settlement(command)
            }
            LogRecord::Directory(command) => LogRecord::Directory(command.clone()),
            LogRecord::Operated(o) => LogRecord::Operated(Operated {
                operator: o.operator.clone(),
                role: o.role.clone(),
                record: Box::new(o.record.with_names(ledger)),
            }),
        }
    }
}

impl ParticipantRef {
    fn with_name(self, ledger: &Ledger) -> ParticipantRef {
        match &self {
            ParticipantRef::Id(id) => ledger
                .participant_name(*id)
                .map_or(self.clone(), ParticipantRef::name),
            ParticipantRef::Name(_) => self,
        }
    }
}

/// A party identifier: type, id and optional sub-id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PartyKey {
    pub party_type: String,
    pub id: String,
    pub sub_id: String,
}

/// How a settlement model settles: each transfer alone, or the net of a
/// window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Granularity {
    Gross,
    Net,
}

/// Between whom a settlement model nets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Interchange {
    Bilateral,
    Multilateral,
}

/// When a settlement model settles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Delay {
    Immediate,
    Deferred,
}

/// Longest settlement model name and account type name, in bytes.
pub const SETTLEMENT_MODEL_NAME_LENGTH_MAX: usize = 64;

/// A settlement model of the scheme, as Mojaloop's hub defines one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementModelDef {
    pub name: String,
    /// The currency it applies to; `None`: the default for every currency
    /// without a model of its own.
    pub currency: Option<Currency>,
    pub granularity: Granularity,
    pub interchange: Interchange,
    pub delay: Delay,
    /// The ledger account type whose movements it settles (`POSITION`,
    /// or `INTERCHANGE_FEE`).
    pub ledger_account_type: String,
    /// The account type it settles into (`SETTLEMENT`, ...).
    pub settlement_account_type: String,
    pub require_liquidity_check: bool,
    pub auto_position_reset: bool,
}

impl SettlementModelDef {
    /// Whether it settles each transfer of its currency's positions at
    /// once, as Harambee's gross participants do.
    pub fn is_immediate_gross(&self) -> bool {
        self.granularity == Granularity::Gross
            && self.delay == Delay::Immediate
            && self.ledger_account_type == "POSITION"
    }
}

/// A recorded quote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuoteRecord {
    pub quote_id: String,
    pub payer: String,
    pub payee: String,
    /// SHA-256 of the canonical quote request: a retry with the same id must
    /// match it, else 3106.
    pub request_sha256: [u8; 32],
    /// The payee's answer, as the encoded protobuf `QuoteResponse` (base64
    /// in the stored form).
    #[serde(with = "base64_bytes")]
    pub response: Vec<u8>,
    pub expires_at_ms: i64,
    pub recorded_at_ms: i64,
}

/// Bytes as a standard base64 string in the stored form.
pub(crate) mod base64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

/// Why a record could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(
        "record format version {0} is not supported (this build reads {RECORD_FORMAT_VERSIONS:?})"
    )]
    Version(u32),
    #[error("malformed record: {0}")]
    Malformed(String),
    /// Records are written with participants by name; one that holds a
    /// bare ledger id (read from a format-1 record) is not written again
    /// until [`LogRecord::with_names`] has named it.
    #[error("record names participant {0} by id only; name it before encoding")]
    Unnamed(u32),
}

impl LogRecord {
    /// The stored form: the latest format ([`v2`]).
    pub fn encode(&self) -> Result<String, RecordError> {
        v2::encode(self)
    }

    /// Reads the stored form of any version.
    pub fn decode(text: &str) -> Result<LogRecord, RecordError> {
        #[derive(Deserialize)]
        struct Version {
            v: u32,
        }
        let version: Version =
            serde_json::from_str(text).map_err(|e| RecordError::Malformed(e.to_string()))?;
        match version.v {
            1 => v1::decode(text),
            2 => v2::decode(text),
            other => Err(RecordError::Version(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepare(terms: PrepareTerms) -> LogRecord {
        LogRecord::Ledger(LedgerCommand::Prepare {
            transfer_id: TransferId(0x2222_0000_0000_4000_8000_0000_0000_0001),
            payer: ParticipantRef::name("bank-a"),
            payee: ParticipantRef::name("wallet-b"),
            currency: Currency::parse("USD").expect("USD"),
            amount: Decimal::new(1050, 2),
            condition: [7; 32],
            expires_at_ms: 1_764_547_230_000,
            now_ms: 1_764_547_200_002,
            terms,
        })
    }

    #[test]
    fn a_typed_callback_round_trips_through_format_2() {
        let record = LogRecord::Directory(DirectoryCommand::SetCallback {
            participant: "wallet-b".into(),
            kind: "FSPIOP_CALLBACK_URL_TRANSFER_POST".into(),
            url: "http://127.0.0.1:4040/transfers".into(),
            now_ms: 1_764_547_200_003,
        });
        let text = record.encode().expect("encodes");
        assert!(text.contains("\"type\":\"set_callback\""), "{text}");
        assert_eq!(LogRecord::decode(&text).expect("decodes"), record);
    }

    #[test]
    fn enabling_a_currency_with_its_window_and_scale_round_trips_and_older_records_read_without() {
        let usd = Currency::parse("USD").expect("USD");
        let record = LogRecord::Ledger(LedgerCommand::enable_currency(usd, 1_764_547_200_004));
        let text = record.encode().expect("encodes");
        assert!(text.contains("\"opens_window\":true,\"scale\":4"), "{text}");
        assert_eq!(LogRecord::decode(&text).expect("decodes"), record);
        // A record written before the fields existed opens no window and
        // keeps the currency at its ISO minor unit.
        let old = text.replace(",\"opens_window\":true,\"scale\":4", "");
        assert_ne!(old, text);
        assert_eq!(
            LogRecord::decode(&old).expect("decodes"),
            LogRecord::Ledger(LedgerCommand::EnableCurrency {
                currency: usd,
                opens_window: false,
                scale: None,
                now_ms: 1_764_547_200_004,
            })
        );
    }

    #[test]
    fn an_account_activation_round_trips_through_format_2() {
        for (kind, name, active) in [
            (harambee_ledger::AccountType::Position, "POSITION", false),
            (harambee_ledger::AccountType::Settlement, "SETTLEMENT", true),
        ] {
            let record = LogRecord::Ledger(LedgerCommand::SetAccountActive {
                participant: ParticipantRef::name("wallet-b"),
                currency: Currency::parse("USD").expect("USD"),
                kind,
                active,
                now_ms: 1_764_547_200_005,
            });
            let text = record.encode().expect("encodes");
            assert!(text.contains("\"type\":\"set_account_active\""), "{text}");
            assert!(text.contains(&format!("\"account\":\"{name}\"")), "{text}");
            assert_eq!(LogRecord::decode(&text).expect("decodes"), record);
        }
        // An account type the record does not know is refused.
        let record = LogRecord::Ledger(LedgerCommand::SetAccountActive {
            participant: ParticipantRef::name("wallet-b"),
            currency: Currency::parse("USD").expect("USD"),
            kind: harambee_ledger::AccountType::Position,
            active: false,
            now_ms: 1_764_547_200_005,
        });
        let text = record
            .encode()
            .expect("encodes")
            .replace("POSITION", "NOSTRO");
        assert!(LogRecord::decode(&text).is_err(), "{text}");
    }

    #[test]
    fn a_settlement_model_round_trips_through_format_2() {
        let mut model = SettlementModelDef {
            name: "CGS".into(),
            currency: Some(Currency::parse("USD").expect("USD")),
            granularity: Granularity::Gross,
            interchange: Interchange::Bilateral,
            delay: Delay::Immediate,
            ledger_account_type: "POSITION".into(),
            settlement_account_type: "SETTLEMENT".into(),
            require_liquidity_check: true,
            auto_position_reset: false,
        };
        for _ in 0..2 {
            let record = LogRecord::Directory(DirectoryCommand::DefineSettlementModel {
                model: model.clone(),
                now_ms: 1_764_547_200_004,
            });
            let text = record.encode().expect("encodes");
            assert!(text.contains("\"granularity\":\"GROSS\""), "{text}");
            assert_eq!(LogRecord::decode(&text).expect("decodes"), record);
            // The default model of every currency has none.
            model.currency = None;
        }
    }

    #[test]
    fn a_prepare_keeps_what_it_carries_for_the_payee() {
        let full = prepare(PrepareTerms {
            ilp_packet: "AYIBgQAAAAAAAASwNGxldmVsb25lLmRmc3AxLm1lci45T2RTOF81MDdqUUZERmZlakgyOVc4bXFmNEpLMHlGTFGCAUBQU0svMS4wCk5vbmNlOiB1SXlweUYzY3pYSXBFdzVVc05TYWh3CkVuY3J5cHRpb246IG5vbmUKUGF5bWVudC1JZDogMTMyMzZhM2ItOGZhOC00MTYzLTg0NDctNGMzZWQzZGE5OGE3CgpDb250ZW50LUxlbmd0aDogMTM1CkNvbnRlbnQtVHlwZTogYXBwbGljYXRpb24vanNvbgpTZW5kZXItSWRlbnRpZmllcjogOTI4MDYzOTEKCiJ7XCJmZWVcIjowLFwidHJhbnNmZXJDb2RlXCI6XCJpbnZvaWNlXCIsXCJkZWJpdE5hbWVcIjpcImFsaWNlIGNvb3BlclwiLFwiY3JlZGl0TmFtZVwiOlwibWVyIGNoYW50XCIsXCJkZWJpdElkZW50aWZpZXJcIjpcIjkyODA2MzkxXCJ9IgA".into(),
            quote_id: "7c23e80c-d078-4077-8263-2c047876fcf6".into(),
            transaction_id: "4b2a4a27-7f5e-4b5c-9d9e-1c7f2f6e2a10".into(),
            extensions: vec![("channel".into(), "USSD".into())],
        });
        let text = full.encode().expect("encodes");
        assert!(text.contains("\"quote_id\":\"7c23e80c-d078-4077-8263-2c047876fcf6\""));
        assert_eq!(LogRecord::decode(&text).expect("decodes"), full);
        // Without terms the record says nothing of them.
        let bare = prepare(PrepareTerms::default());
        let text = bare.encode().expect("encodes");
        assert!(!text.contains("ilp_packet") && !text.contains("extensions"));
        assert_eq!(LogRecord::decode(&text).expect("decodes"), bare);
    }
}
