//! What the event log holds: every command that changes the switch's state.
//!
//! Two kinds: commands for the ledger (money) and commands for the
//! directory (who the participants are, where to reach them, who owns which
//! party, which quotes were agreed). Both are applied deterministically by
//! the engine, so replaying the log rebuilds the same state.
//!
//! Records are stored as JSON with a format version: readable by an auditor
//! with nothing but a text editor, and stable across builds.

use harambee_ledger::Command;
use serde::{Deserialize, Serialize};

/// Version of the record encoding.
pub const RECORD_FORMAT_VERSION: u32 = 1;

/// One entry of the event log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogRecord {
    /// A ledger command.
    Ledger(Command),
    /// A directory command.
    Directory(DirectoryCommand),
    /// A settlement command: windows and settlements.
    Settlement(SettlementCommand),
}

/// Changes to settlement windows and settlements, applied by the
/// `harambee-settlement` state machine inside the switch's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SettlementCommand {
    /// Closes the open window of `currency` and opens the next. Transfers
    /// committed after this record go to the next window.
    CloseWindow {
        currency: harambee_ledger::Currency,
        reason: String,
        now_ms: i64,
    },
    /// Creates a settlement of closed windows of `currency` on a deferred
    /// net model.
    CreateSettlement {
        currency: harambee_ledger::Currency,
        model: harambee_settlement::SettlementModel,
        window_ids: Vec<u64>,
        reason: String,
        now_ms: i64,
    },
    /// Moves one participant's account of a settlement one state on, and
    /// applies the postings of that step to the ledger.
    Advance {
        settlement_id: u64,
        participant: harambee_ledger::ParticipantId,
        to: harambee_settlement::SettlementState,
        /// The operator's reference (e.g. the settlement bank's payment id).
        #[serde(default)]
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
    },
    /// Sets the URL of a participant's payee callback service.
    SetEndpoint { participant: String, url: String },
    /// The built-in oracle: `owner` owns the party.
    RegisterParty { owner: String, party: PartyKey },
    /// The built-in oracle: `owner` no longer owns the party.
    DeregisterParty { owner: String, party: PartyKey },
    /// Routes a party type to an external oracle (`Some(url)`) or back to the
    /// built-in one (`None`).
    SetOracle {
        party_type: String,
        url: Option<String>,
    },
    /// A quote the payee agreed to.
    RecordQuote(QuoteRecord),
    /// The node that appends to the log from this record on (written by a
    /// node when it becomes the ledger writer of a cluster): its name and
    /// the URL of its Cluster service, where the other nodes submit.
    SetWriter { node: String, url: String },
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
    /// The time the record carries (0 if it carries none).
    pub fn time_ms(&self) -> i64 {
        match self {
            LogRecord::Ledger(command) => ledger_time_ms(command),
            LogRecord::Settlement(command) => command.time_ms(),
            LogRecord::Directory(DirectoryCommand::RecordQuote(q)) => q.recorded_at_ms,
            LogRecord::Directory(DirectoryCommand::ExpireQuotes { now_ms, .. }) => *now_ms,
            LogRecord::Directory(_) => 0,
        }
    }
}

/// The time a ledger command carries (0 if it carries none).
pub fn ledger_time_ms(command: &Command) -> i64 {
    match command {
        Command::Prepare { now_ms, .. }
        | Command::Commit { now_ms, .. }
        | Command::Abort { now_ms, .. }
        | Command::Expire { now_ms, .. }
        | Command::ExpireDue { now_ms, .. } => *now_ms,
        _ => 0,
    }
}

/// A party identifier: type, id and optional sub-id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PartyKey {
    pub party_type: String,
    pub id: String,
    pub sub_id: String,
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
mod base64_bytes {
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
        "record format version {0} is not supported (this build reads {RECORD_FORMAT_VERSION})"
    )]
    Version(u32),
    #[error("malformed record: {0}")]
    Malformed(String),
}

#[derive(Serialize, Deserialize)]
struct Envelope<R> {
    v: u32,
    record: R,
}

impl LogRecord {
    /// The stored form.
    pub fn encode(&self) -> Result<String, RecordError> {
        serde_json::to_string(&Envelope {
            v: RECORD_FORMAT_VERSION,
            record: self,
        })
        .map_err(|e| RecordError::Malformed(e.to_string()))
    }

    /// Reads the stored form.
    pub fn decode(text: &str) -> Result<LogRecord, RecordError> {
        #[derive(Deserialize)]
        struct Version {
            v: u32,
        }
        let version: Version =
            serde_json::from_str(text).map_err(|e| RecordError::Malformed(e.to_string()))?;
        if version.v != RECORD_FORMAT_VERSION {
            return Err(RecordError::Version(version.v));
        }
        let envelope: Envelope<LogRecord> =
            serde_json::from_str(text).map_err(|e| RecordError::Malformed(e.to_string()))?;
        Ok(envelope.record)
    }
}
