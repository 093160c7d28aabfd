//! The switch's state: the ledger plus the directory, changed only by
//! applying log records, in order.
//!
//! Architecture invariant: `State::apply` is deterministic. It reads no
//! clock and no randomness (times and credentials arrive inside the
//! records), so replaying the log rebuilds the same state, digest included.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use harambee_ledger::{
    Currency, Event, Ledger, Outcome, Snapshot as LedgerSnapshot, SnapshotError,
};
use harambee_settlement::Settlements;
use serde::{Deserialize, Serialize};

use crate::Offset;
use crate::error::{ErrorCode, SwitchError};
use crate::notices::{NoticeDraft, NoticeSequences};
use crate::record::{
    DirectoryCommand, LogRecord, PartyKey, PrepareTerms, QuoteRecord,
    SETTLEMENT_MODEL_NAME_LENGTH_MAX, SettlementModelDef,
};
use crate::text::hex;
use sha2::{Digest, Sha256};

/// Most parties the built-in oracle holds.
pub const PARTIES_MAX: usize = 10_000_000;
/// Most quotes kept.
pub const QUOTES_MAX: usize = 10_000_000;
/// Most settlement models of a scheme.
pub const SETTLEMENT_MODELS_MAX: usize = 256;
/// Most typed callback URLs one participant holds.
pub const CALLBACKS_PER_PARTICIPANT_MAX: usize = 64;
/// Longest callback kind, in bytes.
pub const CALLBACK_KIND_LENGTH_MAX: usize = 64;
/// Longest callback URL, in bytes.
pub const CALLBACK_URL_LENGTH_MAX: usize = 2_048;
/// Most client certificates one participant holds registered at once (a
/// rollover needs two).
pub const CERTIFICATES_PER_PARTICIPANT_MAX: usize = 8;
/// Longest certificate subject kept, in bytes.
pub const CERTIFICATE_SUBJECT_LENGTH_MAX: usize = 1_024;

/// Most issuer registrations (a CA and a subject) one participant holds
/// at once (a CA rollover needs two).
pub const ISSUERS_PER_PARTICIPANT_MAX: usize = 4;
/// Largest CA certificate registered, in bytes of DER.
pub const ISSUER_CA_DER_BYTES_MAX: usize = 8 * 1024;

/// A participant registered by the CA of its certificates and their
/// subject.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredIssuer {
    pub participant: String,
    /// SHA-256 (hex) of the CA certificate's DER.
    pub ca_sha256: String,
    /// The CA certificate's DER (base64 in a snapshot).
    #[serde(with = "base64_bytes")]
    pub ca_der: Vec<u8>,
    pub ca_subject: String,
    pub subject: String,
    pub registered_at_ms: i64,
}

/// The key of an issuer registration: the CA's digest and the subject's
/// (hex), so that a connection's certificate is looked up by digests.
fn issuer_key(ca_sha256: &str, subject: &str) -> String {
    format!("{ca_sha256} {}", hex(&Sha256::digest(subject.as_bytes())))
}

/// A participant's registered client certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredCertificate {
    pub participant: String,
    pub subject: String,
    pub registered_at_ms: i64,
}

/// Who the participants are beyond the ledger: credentials, endpoints,
/// parties of the built-in oracle, external oracles, agreed quotes.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Directory {
    /// SHA-256 of a credential -> participant name.
    #[serde(with = "pairs")]
    credentials: HashMap<String, String>,
    /// Participant name -> SHA-256 (hex) of its current credential.
    credential_of: BTreeMap<String, String>,
    /// SHA-256 (hex) of a registered client certificate's DER -> whose
    /// it is.
    #[serde(default)]
    certificates: BTreeMap<String, RegisteredCertificate>,
    /// "<CA SHA-256 hex> <subject>" -> the participant it identifies.
    #[serde(default)]
    issuers: BTreeMap<String, RegisteredIssuer>,
    /// Participant name -> PayeeCallback URL.
    endpoints: BTreeMap<String, String>,
    /// Participant name -> callback kind -> URL (the typed endpoints of
    /// an FSPIOP participant).
    callbacks: BTreeMap<String, BTreeMap<String, String>>,
    /// The scheme's settlement models, by name.
    settlement_models: BTreeMap<String, SettlementModelDef>,
    /// Built-in oracle: party -> owner.
    #[serde(with = "pairs")]
    parties: HashMap<PartyKey, String>,
    /// Party type -> external oracle URL.
    oracles: BTreeMap<String, String>,
    /// Quote id -> quote.
    #[serde(with = "pairs")]
    quotes: HashMap<String, QuoteRecord>,
    /// The cluster's ledger writer (node name, Cluster service URL), as the
    /// log last announced it.
    #[serde(default)]
    writer: Option<(String, String)>,
    /// The quotes by expiry and by recording time, for `ExpireQuotes`
    /// (rebuilt from `quotes` on restore).
    #[serde(skip)]
    quotes_by_expiry: BTreeSet<(i64, String)>,
    #[serde(skip)]
    quotes_by_recording: BTreeSet<(i64, String)>,
    /// The ids of quotes released from memory (a filter: a repeated
    /// request is looked up in the quotes projection only if its id may be
    /// among them).
    #[serde(default)]
    released_quotes: ReleasedQuotes,
}

/// Bits of each generation of the released-quotes filter (2 MiB).
pub const RELEASED_QUOTES_FILTER_BITS: usize = 1 << 24;
/// Ids per generation: with 7 bits each, one lookup in about two thousand
/// names a quote that was never released (and costs a projection lookup).
pub const RELEASED_QUOTES_PER_GENERATION: u32 = 1_000_000;
/// Bits set per id.
const RELEASED_QUOTES_HASHES: usize = 7;

/// A Bloom filter of released quote ids, in two generations: when the
/// current one holds `RELEASED_QUOTES_PER_GENERATION` ids it becomes the
/// previous one, and the oldest ids are forgotten. It never misses an id
/// of the two generations it holds; it may name one it never saw. Its
/// hashes are SHA-256, so a replay builds the same filter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleasedQuotes {
    #[serde(with = "filter_bits")]
    current: Vec<u64>,
    #[serde(with = "filter_bits")]
    previous: Vec<u64>,
    current_ids: u32,
}

impl ReleasedQuotes {
    fn positions(id: &str) -> [usize; RELEASED_QUOTES_HASHES] {
        let hash = Sha256::digest(id.as_bytes());
        let mut out = [0usize; RELEASED_QUOTES_HASHES];
        for (i, p) in out.iter_mut().enumerate() {
            let word = u32::from_le_bytes([
                hash[4 * i],
                hash[4 * i + 1],
                hash[4 * i + 2],
                hash[4 * i + 3],
            ]);
            *p = word as usize % RELEASED_QUOTES_FILTER_BITS;
        }
        out
    }

    fn insert(&mut self, id: &str) {
        if self.current_ids >= RELEASED_QUOTES_PER_GENERATION {
            self.previous = std::mem::take(&mut self.current);
            self.current_ids = 0;
        }
        if self.current.is_empty() {
            self.current = vec![0; RELEASED_QUOTES_FILTER_BITS / 64];
        }
        for p in Self::positions(id) {
            self.current[p / 64] |= 1 << (p % 64);
        }
        self.current_ids += 1;
    }

    /// Whether `id` may have been released (never `false` for one that was,
    /// within the two generations).
    pub fn may_contain(&self, id: &str) -> bool {
        let positions = Self::positions(id);
        [&self.current, &self.previous].iter().any(|bits| {
            !bits.is_empty()
                && positions
                    .iter()
                    .all(|p| bits.get(p / 64).is_some_and(|w| w & (1 << (p % 64)) != 0))
        })
    }
}

/// Filter bits as base64 of their little-endian bytes (empty: absent).
mod filter_bits {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bits: &[u64], s: S) -> Result<S::Ok, S::Error> {
        let bytes: Vec<u8> = bits.iter().flat_map(|w| w.to_le_bytes()).collect();
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
        let text = String::deserialize(d)?;
        let bytes = STANDARD.decode(text).map_err(serde::de::Error::custom)?;
        if bytes.len() % 8 != 0 {
            return Err(serde::de::Error::custom(
                "filter bits are whole 64-bit words",
            ));
        }
        Ok(bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect())
    }
}

/// The answer to a directory command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DirectoryReply {
    Done,
    /// The command repeated an earlier one: nothing changed.
    Unchanged,
    /// The quote as recorded (the earlier one, for a repeat).
    Quote(Box<QuoteRecord>),
    /// Quotes released from the state by `ExpireQuotes`.
    QuotesExpired(u32),
}

/// What a settlement command did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SettlementReply {
    WindowClosed {
        closed: harambee_settlement::WindowId,
        next: harambee_settlement::WindowId,
    },
    SettlementCreated(harambee_settlement::SettlementId),
    /// An account moved, or the settlement was aborted.
    SettlementChanged(harambee_settlement::SettlementId),
}

/// What applying one record answers its submitter.
#[derive(Clone, Debug)]
pub enum Applied {
    Ledger {
        outcome: Outcome,
    },
    Directory(Result<DirectoryReply, SwitchError>),
    Settlement {
        result: Result<SettlementReply, SwitchError>,
    },
}

/// What applying one record did, for the read side: its ledger events
/// (those of a settlement step included), the directory change it made, and
/// the notices it raised. An event's index is its position in `events`.
#[derive(Clone, Debug, Default)]
pub struct RecordEffects {
    pub offset: Offset,
    /// The time the record carries (0 if none).
    pub time_ms: i64,
    pub events: Vec<Event>,
    /// The directory command, if it changed the directory.
    pub directory: Option<DirectoryCommand>,
    pub notices: Vec<NoticeDraft>,
}

/// Ledger and directory, and how far into the log they are.
#[derive(Clone, Debug, Default)]
pub struct State {
    pub ledger: Ledger,
    pub directory: Directory,
    /// Settlement windows and settlements: every committed transfer goes
    /// into the open window of its currency as it is applied.
    pub settlements: Settlements,
    /// Each participant's last notice number.
    pub notices: NoticeSequences,
    /// What each reserved transfer's prepare carried for the payee, so that
    /// the payee can be asked again after a restart. Kept while the
    /// transfer is reserved (bounded by the transfers in flight).
    pub pending_terms: HashMap<harambee_ledger::TransferId, PrepareTerms>,
    /// Offset of the next record to apply.
    pub next_offset: Offset,
}

/// The shape of [`StateSnapshot`]. Bumped on every change to it (a field
/// added, removed or changed anywhere inside); the golden snapshot in
/// `switch/tests/fixtures/snapshot/` fails until it is.
///
/// - 1: snapshots without a `version` field (up to log format 1);
/// - 2: the version field; records of log format 2;
/// - 3: `pending_terms`, what reserved transfers' prepares carried;
/// - 4: the directory's typed callback URLs (`callbacks`) and the
///   scheme's settlement models (`settlement_models`);
/// - 5: an account's `active` flag (an operator may deactivate one);
/// - 6: a hub currency's `scale` (the decimals the ledger keeps it at,
///   absent for one kept at its ISO minor unit);
/// - 7: the directory's registered client `certificates`;
/// - 8: the directory's `issuers` (participants registered by a CA and a
///   subject).
pub const STATE_SNAPSHOT_VERSION: u32 = 8;

/// A snapshot of the whole state, for restart.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StateSnapshot {
    /// [`STATE_SNAPSHOT_VERSION`] when it was taken (1 if absent).
    #[serde(default = "snapshot_version_1")]
    pub version: u32,
    pub next_offset: Offset,
    pub ledger: LedgerSnapshot,
    pub directory: Directory,
    /// Absent in snapshots taken before settlement existed.
    #[serde(default)]
    pub settlements: Settlements,
    /// Absent in snapshots taken before notices were numbered.
    #[serde(default)]
    pub notices: NoticeSequences,
    #[serde(with = "pairs")]
    pub pending_terms: HashMap<harambee_ledger::TransferId, PrepareTerms>,
}

fn snapshot_version_1() -> u32 {
    1
}

impl StateSnapshot {
    /// Reads a stored snapshot. A snapshot of another version is `None`:
    /// snapshots only shorten a replay, so a build that cannot read one
    /// replays the log instead (the log is the truth).
    pub fn from_json(text: &str) -> Result<Option<StateSnapshot>, serde_json::Error> {
        #[derive(Deserialize)]
        struct Version {
            #[serde(default = "snapshot_version_1")]
            version: u32,
        }
        let version: Version = serde_json::from_str(text)?;
        if version.version != STATE_SNAPSHOT_VERSION {
            return Ok(None);
        }
        serde_json::from_str(text).map(Some)
    }
}

impl State {
    /// Applies the record at `offset` (which must be `next_offset`) and
    /// returns only its answer. See [`State::apply_logged`].
    pub fn apply(&mut self, offset: Offset, record: &LogRecord) -> Applied {
        self.apply_logged(offset, record).0
    }

    /// Applies the record at `offset` (which must be `next_offset`): the
    /// one way a record changes the state, whoever applies it (the live
    /// engine, recovery at start, a follower, a reader of the feed catching
    /// up, `projections rebuild`). Returns the answer for its submitter and
    /// what it did, so every path yields the same events and notices.
    pub fn apply_logged(&mut self, offset: Offset, record: &LogRecord) -> (Applied, RecordEffects) {
        assert_eq!(offset, self.next_offset, "records are applied in log order");
        self.next_offset += 1;
        let time_ms = record.time_ms();
        let mut effects = RecordEffects {
            offset,
            time_ms,
            ..RecordEffects::default()
        };
        let mut settled = None;
        let applied = match record.command() {
            LogRecord::Operated(_) => unreachable!("command() is never an operator's wrapper"),
            LogRecord::Ledger(command) => {
                let resolved = command.to_ledger(&self.ledger);
                let outcome = self.ledger.apply(&resolved, &mut effects.events);
                self.open_first_windows(command, &effects.events);
                self.record_commits(command.time_ms(), &effects.events);
                self.keep_pending_terms(command, &effects.events);
                Applied::Ledger { outcome }
            }
            LogRecord::Directory(command) => {
                let result = self.apply_directory(command);
                if let Ok(DirectoryReply::Done | DirectoryReply::Quote(_)) = &result {
                    effects.directory = Some(command.clone());
                }
                Applied::Directory(result)
            }
            LogRecord::Settlement(command) => {
                let result = self.apply_settlement(command, &mut effects.events);
                // Whatever the answer, the events are what the ledger did.
                if result.is_ok() {
                    settled = Some(command);
                }
                Applied::Settlement { result }
            }
        };
        crate::notices::derive(
            &self.ledger,
            &self.settlements,
            &mut self.notices,
            settled,
            time_ms,
            &effects.events,
            &mut effects.notices,
        );
        (applied, effects)
    }

    /// Keeps what a reserved transfer's prepare carried for the payee, and
    /// forgets it when the transfer is final.
    fn keep_pending_terms(&mut self, command: &crate::record::LedgerCommand, events: &[Event]) {
        for e in events {
            match e {
                Event::TransferReserved { transfer_id, .. } => {
                    if let crate::record::LedgerCommand::Prepare { terms, .. } = command {
                        self.pending_terms.insert(*transfer_id, terms.clone());
                    }
                }
                Event::TransferCommitted { transfer_id, .. }
                | Event::TransferAborted { transfer_id, .. } => {
                    self.pending_terms.remove(transfer_id);
                }
                _ => {}
            }
        }
    }

    /// Opens the first settlement window of a currency the command just
    /// enabled, when the command asks for it (every record written since
    /// it could).
    fn open_first_windows(&mut self, command: &crate::record::LedgerCommand, events: &[Event]) {
        let crate::record::LedgerCommand::EnableCurrency {
            opens_window: true,
            now_ms,
            ..
        } = command
        else {
            return;
        };
        for e in events {
            if let Event::CurrencyEnabled { currency, .. } = e {
                self.settlements.open_window_of(*currency, *now_ms);
            }
        }
    }

    /// Puts the transfers a command committed into their settlement
    /// windows, at the time the command carries.
    fn record_commits(&mut self, now_ms: i64, events: &[Event]) {
        for e in events {
            if let Event::TransferCommitted {
                transfer_id,
                payer,
                payee,
                posting,
            } = e
            {
                // Settled gross at commit: its posting is between the
                // SETTLEMENT accounts; such a transfer is not netted.
                let gross = self
                    .ledger
                    .account(posting.debit)
                    .is_some_and(|a| a.kind == harambee_ledger::AccountType::Settlement);
                self.settlements.record_commit_as(
                    *transfer_id,
                    posting.currency,
                    *payer,
                    *payee,
                    posting.amount,
                    gross,
                    now_ms,
                );
            }
        }
    }

    fn apply_settlement(
        &mut self,
        command: &crate::record::SettlementCommand,
        events: &mut Vec<Event>,
    ) -> Result<SettlementReply, SwitchError> {
        use crate::record::SettlementCommand;
        let refused = |e: harambee_settlement::SettlementError| {
            SwitchError::from_number(e.code(), e.to_string())
        };
        match command {
            SettlementCommand::CloseWindow {
                currency,
                reason,
                now_ms,
            } => {
                // No open window yet: nothing was ever committed in the
                // currency, so the window to close is empty.
                let Some(open) = self.settlements.open_window(*currency).map(|w| w.id) else {
                    return Err(SwitchError::new(
                        ErrorCode::ValidationError,
                        format!("window is empty: nothing committed in {currency} yet"),
                    ));
                };
                let next = self
                    .settlements
                    .close_window(open, reason, *now_ms)
                    .map_err(refused)?;
                Ok(SettlementReply::WindowClosed { closed: open, next })
            }
            SettlementCommand::CreateSettlement {
                currency,
                model,
                window_ids,
                reason,
                now_ms,
            } => {
                let ids: Vec<harambee_settlement::WindowId> = window_ids
                    .iter()
                    .map(|id| harambee_settlement::WindowId(*id))
                    .collect();
                // The windows must be of the currency the operator named.
                for id in &ids {
                    if let Some(w) = self.settlements.window(*id)
                        && w.currency != *currency
                    {
                        return Err(SwitchError::new(
                            ErrorCode::ValidationError,
                            format!("window {id} is in {}, not {currency}", w.currency),
                        ));
                    }
                }
                self.settlements
                    .create_settlement(*model, &ids, reason, *now_ms)
                    .map(SettlementReply::SettlementCreated)
                    .map_err(refused)
            }
            SettlementCommand::Advance {
                settlement_id,
                participant,
                to,
                external_reference,
                now_ms,
            } => {
                let id = harambee_settlement::SettlementId(*settlement_id);
                let participant = &participant.resolve(&self.ledger);
                let postings = self
                    .settlements
                    .preview_advance(id, *participant, *to)
                    .map_err(refused)?;
                let currency = self
                    .settlements
                    .settlement(id)
                    .map(|s| s.currency)
                    .ok_or_else(|| {
                        SwitchError::new(ErrorCode::ValidationError, "settlement not found")
                    })?;
                // The ledger first: if it refuses, nothing changed.
                self.post_settlement(id, *participant, currency, &postings, events)?;
                self.settlements
                    .advance(id, *participant, *to, *now_ms)
                    .map_err(refused)?;
                if !external_reference.is_empty() {
                    self.settlements
                        .set_external_reference(id, *participant, external_reference);
                }
                Ok(SettlementReply::SettlementChanged(id))
            }
            SettlementCommand::Abort {
                settlement_id,
                now_ms,
            } => {
                let id = harambee_settlement::SettlementId(*settlement_id);
                let postings = self.settlements.preview_abort(id).map_err(refused)?;
                let currency = self
                    .settlements
                    .settlement(id)
                    .map(|s| s.currency)
                    .ok_or_else(|| {
                        SwitchError::new(ErrorCode::ValidationError, "settlement not found")
                    })?;
                // One ledger command per participant: its voids name its
                // own SETTLEMENT account.
                let mut by_participant: BTreeMap<
                    harambee_ledger::ParticipantId,
                    Vec<harambee_settlement::SettlementPosting>,
                > = BTreeMap::new();
                for p in postings {
                    let owner = match (p.debit, p.credit) {
                        (harambee_settlement::AccountRef::Settlement(o), _)
                        | (_, harambee_settlement::AccountRef::Settlement(o)) => o,
                        _ => continue,
                    };
                    by_participant.entry(owner).or_default().push(p);
                }
                for (participant, postings) in &by_participant {
                    self.post_settlement(id, *participant, currency, postings, events)?;
                }
                self.settlements.abort(id, *now_ms).map_err(refused)?;
                Ok(SettlementReply::SettlementChanged(id))
            }
        }
    }

    /// Applies a participant's settlement postings to the ledger, all or
    /// none.
    fn post_settlement(
        &mut self,
        id: harambee_settlement::SettlementId,
        participant: harambee_ledger::ParticipantId,
        currency: harambee_ledger::Currency,
        postings: &[harambee_settlement::SettlementPosting],
        events: &mut Vec<Event>,
    ) -> Result<(), SwitchError> {
        use harambee_ledger::{SettlementAccount, SettlementLeg};
        use harambee_settlement::AccountRef;
        if postings.is_empty() {
            return Ok(());
        }
        let role = |a: AccountRef| -> Result<SettlementAccount, SwitchError> {
            match a {
                AccountRef::Position(p) if p == participant => Ok(SettlementAccount::Position),
                AccountRef::Settlement(p) if p == participant => Ok(SettlementAccount::Settlement),
                AccountRef::HubMultilateralSettlement => {
                    Ok(SettlementAccount::HubMultilateralSettlement)
                }
                _ => Err(SwitchError::new(
                    ErrorCode::InternalServerError,
                    "a settlement posting names another participant",
                )),
            }
        };
        let mut legs = Vec::with_capacity(postings.len());
        for p in postings {
            legs.push(SettlementLeg {
                debit: role(p.debit)?,
                credit: role(p.credit)?,
                amount: p.amount,
                phase: p.phase,
            });
        }
        let command = harambee_ledger::Command::Settle {
            settlement_id: id.0,
            participant,
            currency,
            legs,
        };
        let outcome = self.ledger.apply(&command, events);
        outcome
            .result
            .map(|_| ())
            .map_err(|e| SwitchError::from_number(e.code(), e.to_string()))
    }

    fn apply_directory(
        &mut self,
        command: &DirectoryCommand,
    ) -> Result<DirectoryReply, SwitchError> {
        let d = &mut self.directory;
        let known = |name: &str| self.ledger.participant_by_name(name).is_some();
        match command {
            DirectoryCommand::SetCredential {
                participant,
                credential_sha256,
                ..
            } => {
                if !known(participant) {
                    return Err(SwitchError::new(
                        ErrorCode::IdNotFound,
                        format!("participant {participant} not found"),
                    ));
                }
                let hash = hex(credential_sha256);
                if let Some(old) = d.credential_of.insert(participant.clone(), hash.clone()) {
                    d.credentials.remove(&old);
                }
                d.credentials.insert(hash, participant.clone());
                Ok(DirectoryReply::Done)
            }
            DirectoryCommand::AddCertificate {
                participant,
                certificate_sha256,
                subject,
                now_ms,
            } => {
                if !known(participant) {
                    return Err(SwitchError::new(
                        ErrorCode::IdNotFound,
                        format!("participant {participant} not found"),
                    ));
                }
                if subject.len() > CERTIFICATE_SUBJECT_LENGTH_MAX {
                    return Err(SwitchError::new(
                        ErrorCode::ValidationError,
                        "certificate subject too long",
                    ));
                }
                let hash = hex(certificate_sha256);
                if let Some(held) = d.certificates.get(&hash) {
                    if held.participant == *participant {
                        return Ok(DirectoryReply::Unchanged);
                    }
                    return Err(SwitchError::new(
                        ErrorCode::ValidationError,
                        "the certificate is registered to another participant",
                    ));
                }
                let held = d
                    .certificates
                    .values()
                    .filter(|c| c.participant == *participant)
                    .count();
                if held >= CERTIFICATES_PER_PARTICIPANT_MAX {
                    return Err(SwitchError::new(
                        ErrorCode::TooManyElements,
                        format!(
                            "{participant} holds {CERTIFICATES_PER_PARTICIPANT_MAX} certificates: remove one first"
                        ),
                    ));
                }
                d.certificates.insert(
                    hash,
                    RegisteredCertificate {
                        participant: participant.clone(),
                        subject: subject.clone(),
                        registered_at_ms: *now_ms,
                    },
                );
                Ok(DirectoryReply::Done)
            }
            DirectoryCommand::RemoveCertificate {
                participant,
                certificate_sha256,
                ..
            } => {
                let hash = hex(certificate_sha256);
                match d.certificates.get(&hash) {
                    Some(held) if held.participant == *participant => {
                        d.certificates.remove(&hash);
                        Ok(DirectoryReply::Done)
                    }
                    _ => Err(SwitchError::new(
                        ErrorCode::IdNotFound,
                        format!("{participant} holds no such certificate"),
                    )),
                }
            }
            DirectoryCommand::AddIssuer {
                participant,
                ca_der,
                ca_subject,
                subject,
                now_ms,
            } => {
                if !known(participant) {
                    return Err(SwitchError::new(
                        ErrorCode::IdNotFound,
                        format!("participant {participant} not found"),
                    ));
                }
                if subject.is_empty()
                    || subject.len() > CERTIFICATE_SUBJECT_LENGTH_MAX
                    || ca_subject.len() > CERTIFICATE_SUBJECT_LENGTH_MAX
                {
                    return Err(SwitchError::new(
                        ErrorCode::ValidationError,
                        format!("the subject must be 1 to {CERTIFICATE_SUBJECT_LENGTH_MAX} bytes"),
                    ));
                }
                if ca_der.is_empty() || ca_der.len() > ISSUER_CA_DER_BYTES_MAX {
                    return Err(SwitchError::new(
                        ErrorCode::ValidationError,
                        format!("the CA certificate must be 1 to {ISSUER_CA_DER_BYTES_MAX} bytes"),
                    ));
                }
                let ca_sha256 = hex(&Sha256::digest(ca_der));
                let key = issuer_key(&ca_sha256, subject);
                if let Some(held) = d.issuers.get(&key) {
                    if held.participant == *participant {
                        return Ok(DirectoryReply::Unchanged);
                    }
                    return Err(SwitchError::new(
                        ErrorCode::ValidationError,
                        "that CA and subject identify another participant",
                    ));
                }
                let held = d
                    .issuers
                    .values()
                    .filter(|i| i.participant == *participant)
                    .count();
                if held >= ISSUERS_PER_PARTICIPANT_MAX {
                    return Err(SwitchError::new(
                        ErrorCode::TooManyElements,
                        format!(
                            "{participant} holds {ISSUERS_PER_PARTICIPANT_MAX} issuer registrations: remove one first"
                        ),
                    ));
                }
                d.issuers.insert(
                    key,
                    RegisteredIssuer {
                        participant: participant.clone(),
                        ca_sha256,
                        ca_der: ca_der.clone(),
                        ca_subject: ca_subject.clone(),
                        subject: subject.clone(),
                        registered_at_ms: *now_ms,
                    },
                );
                Ok(DirectoryReply::Done)
            }
            DirectoryCommand::RemoveIssuer {
                participant,
                ca_sha256,
                subject,
                ..
            } => {
                let key = issuer_key(&hex(ca_sha256), subject);
                match d.issuers.get(&key) {
                    Some(held) if held.participant == *participant => {
                        d.issuers.remove(&key);
                        Ok(DirectoryReply::Done)
                    }
                    _ => Err(SwitchError::new(
                        ErrorCode::IdNotFound,
                        format!("{participant} holds no such issuer registration"),
                    )),
                }
            }
            DirectoryCommand::SetEndpoint {
                participant, url, ..
            } => {
                if !known(participant) {
                    return Err(SwitchError::new(
                        ErrorCode::IdNotFound,
                        format!("participant {participant} not found"),
                    ));
                }
                if d.endpoints.get(participant) == Some(url) {
                    return Ok(DirectoryReply::Unchanged);
                }
                d.endpoints.insert(participant.clone(), url.clone());
                Ok(DirectoryReply::Done)
            }
            DirectoryCommand::SetCallback {
                participant,
                kind,
                url,
                ..
            } => {
                if !known(participant) {
                    return Err(SwitchError::new(
                        ErrorCode::IdNotFound,
                        format!("participant {participant} not found"),
                    ));
                }
                if kind.is_empty() || kind.len() > CALLBACK_KIND_LENGTH_MAX {
                    return Err(SwitchError::new(
                        ErrorCode::ValidationError,
                        format!("callback kind: 1 to {CALLBACK_KIND_LENGTH_MAX} bytes"),
                    ));
                }
                if url.len() > CALLBACK_URL_LENGTH_MAX {
                    return Err(SwitchError::new(
                        ErrorCode::ValidationError,
                        format!("callback URL: at most {CALLBACK_URL_LENGTH_MAX} bytes"),
                    ));
                }
                let held = d.callbacks.entry(participant.clone()).or_default();
                if url.is_empty() {
                    let removed = held.remove(kind).is_some();
                    if held.is_empty() {
                        d.callbacks.remove(participant);
                    }
                    return Ok(if removed {
                        DirectoryReply::Done
                    } else {
                        DirectoryReply::Unchanged
                    });
                }
                if held.get(kind) == Some(url) {
                    return Ok(DirectoryReply::Unchanged);
                }
                if !held.contains_key(kind) && held.len() >= CALLBACKS_PER_PARTICIPANT_MAX {
                    return Err(SwitchError::new(
                        ErrorCode::ValidationError,
                        format!(
                            "at most {CALLBACKS_PER_PARTICIPANT_MAX} callback URLs per participant"
                        ),
                    ));
                }
                held.insert(kind.clone(), url.clone());
                Ok(DirectoryReply::Done)
            }
            DirectoryCommand::DefineSettlementModel { model, .. } => {
                let name_ok =
                    |n: &str| !n.is_empty() && n.len() <= SETTLEMENT_MODEL_NAME_LENGTH_MAX;
                if !name_ok(&model.name)
                    || !name_ok(&model.ledger_account_type)
                    || !name_ok(&model.settlement_account_type)
                {
                    return Err(SwitchError::new(
                        ErrorCode::ValidationError,
                        format!(
                            "settlement model: name and account types of 1 to {SETTLEMENT_MODEL_NAME_LENGTH_MAX} bytes"
                        ),
                    ));
                }
                match d.settlement_models.get(&model.name) {
                    Some(existing) if existing == model => Ok(DirectoryReply::Unchanged),
                    Some(_) => Err(SwitchError::new(
                        ErrorCode::GenericClientError,
                        format!("Settlement Model already exists: {}", model.name),
                    )),
                    None if d.settlement_models.len() >= SETTLEMENT_MODELS_MAX => {
                        Err(SwitchError::new(
                            ErrorCode::ValidationError,
                            format!("at most {SETTLEMENT_MODELS_MAX} settlement models"),
                        ))
                    }
                    None => {
                        d.settlement_models
                            .insert(model.name.clone(), model.clone());
                        Ok(DirectoryReply::Done)
                    }
                }
            }
            DirectoryCommand::RegisterParty { owner, party, .. } => {
                if !known(owner) {
                    return Err(SwitchError::new(
                        ErrorCode::IdNotFound,
                        format!("participant {owner} not found"),
                    ));
                }
                match d.parties.get(party) {
                    Some(existing) if existing == owner => Ok(DirectoryReply::Unchanged),
                    Some(_) => Err(SwitchError::new(
                        ErrorCode::AddPartyInformationError,
                        format!(
                            "party {} {} is registered by another participant",
                            party.party_type, party.id
                        ),
                    )),
                    None if d.parties.len() >= PARTIES_MAX => Err(SwitchError::new(
                        ErrorCode::InternalServerError,
                        "the built-in oracle is full",
                    )),
                    None => {
                        d.parties.insert(party.clone(), owner.clone());
                        Ok(DirectoryReply::Done)
                    }
                }
            }
            DirectoryCommand::DeregisterParty { owner, party, .. } => match d.parties.get(party) {
                Some(existing) if existing == owner => {
                    d.parties.remove(party);
                    Ok(DirectoryReply::Done)
                }
                _ => Err(SwitchError::new(
                    ErrorCode::DeletePartyInformationError,
                    format!(
                        "party {} {} is not registered by {owner}",
                        party.party_type, party.id
                    ),
                )),
            },
            DirectoryCommand::SetOracle {
                party_type, url, ..
            } => {
                match url {
                    Some(url) => d.oracles.insert(party_type.clone(), url.clone()),
                    None => d.oracles.remove(party_type),
                };
                Ok(DirectoryReply::Done)
            }
            DirectoryCommand::SetWriter { node, url, .. } => {
                d.writer = Some((node.clone(), url.clone()));
                Ok(DirectoryReply::Done)
            }
            DirectoryCommand::RecordQuote(quote) => {
                if let Some(existing) = d.quotes.get(&quote.quote_id) {
                    return if existing.request_sha256 == quote.request_sha256
                        && existing.payer == quote.payer
                    {
                        Ok(DirectoryReply::Quote(Box::new(existing.clone())))
                    } else {
                        Err(SwitchError::new(
                            ErrorCode::ModifiedRequest,
                            format!("quote {} was requested with other content", quote.quote_id),
                        ))
                    };
                }
                if d.quotes.len() >= QUOTES_MAX {
                    return Err(SwitchError::new(
                        ErrorCode::InternalServerError,
                        "too many quotes are held (the quote store is full until some expire)",
                    ));
                }
                d.index_quote(quote);
                d.quotes.insert(quote.quote_id.clone(), quote.clone());
                Ok(DirectoryReply::Quote(Box::new(quote.clone())))
            }
            DirectoryCommand::ExpireQuotes {
                expired_before_ms,
                recorded_before_ms,
                max,
                ..
            } => Ok(DirectoryReply::QuotesExpired(d.expire_quotes(
                *expired_before_ms,
                *recorded_before_ms,
                *max,
            ))),
        }
    }

    /// The snapshot of this state.
    pub fn snapshot(&self) -> StateSnapshot {
        StateSnapshot {
            version: STATE_SNAPSHOT_VERSION,
            next_offset: self.next_offset,
            ledger: self.ledger.snapshot(),
            directory: self.directory.clone(),
            settlements: self.settlements.clone(),
            notices: self.notices.clone(),
            pending_terms: self.pending_terms.clone(),
        }
    }

    /// Rebuilds a state from a snapshot.
    pub fn restore(snapshot: StateSnapshot) -> Result<State, SnapshotError> {
        if snapshot.version != STATE_SNAPSHOT_VERSION {
            return Err(SnapshotError::Inconsistent(format!(
                "state snapshot version {} (this build reads {STATE_SNAPSHOT_VERSION})",
                snapshot.version
            )));
        }
        let mut directory = snapshot.directory;
        directory.rebuild_indexes();
        Ok(State {
            ledger: Ledger::restore(snapshot.ledger)?,
            directory,
            settlements: snapshot.settlements,
            notices: snapshot.notices,
            pending_terms: snapshot.pending_terms,
            next_offset: snapshot.next_offset,
        })
    }
}

impl Directory {
    fn index_quote(&mut self, q: &QuoteRecord) {
        self.quotes_by_expiry
            .insert((q.expires_at_ms, q.quote_id.clone()));
        self.quotes_by_recording
            .insert((q.recorded_at_ms, q.quote_id.clone()));
    }

    fn rebuild_indexes(&mut self) {
        let quotes: Vec<QuoteRecord> = self.quotes.values().cloned().collect();
        self.quotes_by_expiry.clear();
        self.quotes_by_recording.clear();
        for q in &quotes {
            self.index_quote(q);
        }
    }

    /// Removes up to `max` quotes that expired before `expired_before_ms`
    /// or were recorded before `recorded_before_ms`, earliest first.
    fn expire_quotes(&mut self, expired_before_ms: i64, recorded_before_ms: i64, max: u32) -> u32 {
        let mut removed = 0u32;
        while removed < max {
            let by_expiry = self
                .quotes_by_expiry
                .first()
                .filter(|(at, _)| *at < expired_before_ms)
                .map(|(_, id)| id.clone());
            let id = match by_expiry {
                Some(id) => id,
                None => match self
                    .quotes_by_recording
                    .first()
                    .filter(|(at, _)| *at < recorded_before_ms)
                {
                    Some((_, id)) => id.clone(),
                    None => break,
                },
            };
            let Some(q) = self.quotes.remove(&id) else {
                // The indexes name only held quotes; repair rather than spin.
                self.rebuild_indexes();
                continue;
            };
            self.quotes_by_expiry.remove(&(q.expires_at_ms, id.clone()));
            self.quotes_by_recording
                .remove(&(q.recorded_at_ms, id.clone()));
            self.released_quotes.insert(&id);
            removed += 1;
        }
        removed
    }

    /// Whether some quote expired before `expired_before_ms` or was
    /// recorded before `recorded_before_ms`.
    pub fn quotes_due(&self, expired_before_ms: i64, recorded_before_ms: i64) -> bool {
        self.quotes_by_expiry
            .first()
            .is_some_and(|(at, _)| *at < expired_before_ms)
            || self
                .quotes_by_recording
                .first()
                .is_some_and(|(at, _)| *at < recorded_before_ms)
    }

    /// Whether the quote `quote_id` may have been released from memory
    /// (then the quotes projection has it).
    pub fn quote_may_be_released(&self, quote_id: &str) -> bool {
        self.released_quotes.may_contain(quote_id)
    }

    /// How many quotes the state holds.
    pub fn quote_count(&self) -> usize {
        self.quotes.len()
    }

    /// The participant a credential belongs to.
    pub fn participant_for_credential(&self, credential_sha256: &[u8; 32]) -> Option<&str> {
        self.credentials
            .get(&hex(credential_sha256))
            .map(String::as_str)
    }

    /// The participant a registered client certificate belongs to.
    pub fn participant_for_certificate(&self, certificate_sha256: &[u8; 32]) -> Option<&str> {
        self.certificates
            .get(&hex(certificate_sha256))
            .map(|c| c.participant.as_str())
    }

    /// A participant's registered certificates: SHA-256 (hex) and what
    /// was registered.
    pub fn certificates_of<'a>(
        &'a self,
        participant: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a RegisteredCertificate)> + 'a {
        self.certificates
            .iter()
            .filter(move |(_, c)| c.participant == participant)
            .map(|(h, c)| (h.as_str(), c))
    }

    /// The participant registered by the CA `ca_sha256` and the subject
    /// whose SHA-256 is `subject_sha256`.
    pub fn participant_for_issuer(
        &self,
        ca_sha256: &[u8; 32],
        subject_sha256: &[u8; 32],
    ) -> Option<&str> {
        self.issuers
            .get(&format!("{} {}", hex(ca_sha256), hex(subject_sha256)))
            .map(|i| i.participant.as_str())
    }

    /// Every issuer registration, in key order.
    pub fn issuers(&self) -> impl Iterator<Item = &RegisteredIssuer> + '_ {
        self.issuers.values()
    }

    /// The participants with a callback URL (PayeeCallback or typed) on
    /// `host`.
    pub fn participants_on_host(&self, host: &str) -> BTreeSet<&str> {
        let on_host =
            |url: &str| crate::text::url_host(url).is_some_and(|h| h.eq_ignore_ascii_case(host));
        let mut out = BTreeSet::new();
        for (participant, url) in &self.endpoints {
            if on_host(url) {
                out.insert(participant.as_str());
            }
        }
        for (participant, urls) in &self.callbacks {
            if urls.values().any(|u| on_host(u)) {
                out.insert(participant.as_str());
            }
        }
        out
    }

    /// A participant's issuer registrations.
    pub fn issuers_of<'a>(
        &'a self,
        participant: &'a str,
    ) -> impl Iterator<Item = &'a RegisteredIssuer> + 'a {
        self.issuers
            .values()
            .filter(move |i| i.participant == participant)
    }

    /// A participant's PayeeCallback URL.
    pub fn endpoint(&self, participant: &str) -> Option<&str> {
        self.endpoints.get(participant).map(String::as_str)
    }

    /// A settlement model by name.
    pub fn settlement_model(&self, name: &str) -> Option<&SettlementModelDef> {
        self.settlement_models.get(name)
    }

    /// Every settlement model, by name.
    pub fn settlement_models(&self) -> impl Iterator<Item = &SettlementModelDef> {
        self.settlement_models.values()
    }

    /// The model that settles `currency`'s positions: its own, else the
    /// default (a model without a currency).
    pub fn position_model(&self, currency: Currency) -> Option<&SettlementModelDef> {
        let positions = |m: &&SettlementModelDef| m.ledger_account_type == "POSITION";
        self.settlement_models
            .values()
            .filter(positions)
            .find(|m| m.currency == Some(currency))
            .or_else(|| {
                self.settlement_models
                    .values()
                    .filter(positions)
                    .find(|m| m.currency.is_none())
            })
    }

    /// One of a participant's typed callback URLs.
    pub fn callback(&self, participant: &str, kind: &str) -> Option<&str> {
        self.callbacks
            .get(participant)
            .and_then(|c| c.get(kind))
            .map(String::as_str)
    }

    /// Every typed callback URL of a participant, by kind.
    pub fn callbacks(&self, participant: &str) -> impl Iterator<Item = (&str, &str)> {
        self.callbacks
            .get(participant)
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The owner of a party in the built-in oracle.
    pub fn party_owner(&self, party: &PartyKey) -> Option<&str> {
        self.parties.get(party).map(String::as_str)
    }

    /// The external oracle for a party type, if one is set.
    pub fn oracle(&self, party_type: &str) -> Option<&str> {
        self.oracles.get(party_type).map(String::as_str)
    }

    /// All external oracles, by party type.
    pub fn oracles(&self) -> impl Iterator<Item = (&str, &str)> {
        self.oracles.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// A recorded quote.
    pub fn quote(&self, quote_id: &str) -> Option<&QuoteRecord> {
        self.quotes.get(quote_id)
    }

    /// Every party of the built-in oracle with its owner.
    pub fn parties(&self) -> impl Iterator<Item = (&PartyKey, &str)> {
        self.parties.iter().map(|(k, v)| (k, v.as_str()))
    }

    /// Every recorded quote.
    pub fn quotes(&self) -> impl Iterator<Item = &QuoteRecord> {
        self.quotes.values()
    }

    /// The cluster's ledger writer: (node name, Cluster service URL).
    pub fn writer(&self) -> Option<(&str, &str)> {
        self.writer.as_ref().map(|(n, u)| (n.as_str(), u.as_str()))
    }
}

/// Serializes a map with structured keys as a list of pairs, sorted so that
/// equal maps give equal snapshots (JSON object keys must be strings).
/// Bytes as base64 text.
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

mod pairs {
    use std::collections::HashMap;
    use std::hash::Hash;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<K: Serialize + Ord, V: Serialize, S: Serializer>(
        map: &HashMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut pairs: Vec<(&K, &V)> = map.iter().collect();
        pairs.sort_by(|a, b| a.0.cmp(b.0));
        pairs.serialize(s)
    }

    pub fn deserialize<'de, K, V, D>(d: D) -> Result<HashMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Eq + Hash,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        let pairs: Vec<(K, V)> = Vec::deserialize(d)?;
        Ok(pairs.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_currency_enabled_by_a_current_record_has_an_open_window_and_an_older_one_waits_for_a_commit()
     {
        let usd = harambee_ledger::Currency::parse("USD").expect("USD");
        let eur = harambee_ledger::Currency::parse("EUR").expect("EUR");
        let mut state = State::default();
        state.apply(
            0,
            &LogRecord::Ledger(crate::record::LedgerCommand::EnableCurrency {
                currency: eur,
                opens_window: false,
                scale: None,
                now_ms: 5,
            }),
        );
        assert!(state.settlements.open_window(eur).is_none());
        state.apply(
            1,
            &LogRecord::Ledger(crate::record::LedgerCommand::enable_currency(usd, 7)),
        );
        let open = state.settlements.open_window(usd).expect("an OPEN window");
        assert_eq!((open.id.0, open.opened_at_ms), (1, 7));
        assert!(open.is_empty());
        // Enabling it again (a repeat) opens no second window.
        state.apply(
            2,
            &LogRecord::Ledger(crate::record::LedgerCommand::enable_currency(usd, 9)),
        );
        assert_eq!(state.settlements.windows().len(), 1);
    }

    /// Issuer registrations: one (CA, subject) identifies one
    /// participant, a repeat changes nothing, another participant cannot
    /// take it, at most four per participant, a removal forgets it, and
    /// the records and a snapshot carry them whole.
    #[test]
    fn issuer_registrations_are_kept_bounded_and_carried_by_records_and_snapshots() {
        let mut state = State::default();
        let mut offset = 0;
        let mut apply = |state: &mut State, r: LogRecord| {
            let text = r.encode().expect("encodes");
            assert_eq!(LogRecord::decode(&text).expect("decodes"), r, "{text}");
            let at = offset;
            offset += 1;
            match state.apply(at, &r) {
                Applied::Directory(result) => result.map(|_| ()).map_err(|e| e.code),
                _ => Ok(()),
            }
        };
        for name in ["bank-a", "bank-b"] {
            let create = LogRecord::Ledger(crate::record::LedgerCommand::CreateParticipant {
                name: name.into(),
                kind: harambee_ledger::ParticipantKind::Bank,
                now_ms: 1,
            });
            assert_eq!(apply(&mut state, create), Ok(()));
        }
        let add = |participant: &str, ca: u8, subject: &str| {
            LogRecord::Directory(DirectoryCommand::AddIssuer {
                participant: participant.into(),
                ca_der: vec![ca; 40],
                ca_subject: format!("CN=CA {ca}"),
                subject: subject.into(),
                now_ms: 10,
            })
        };
        let ca1: [u8; 32] = Sha256::digest([1u8; 40]).into();
        let subject: [u8; 32] = Sha256::digest(b"CN=bank-a").into();
        assert_eq!(apply(&mut state, add("bank-a", 1, "CN=bank-a")), Ok(()));
        assert_eq!(
            state.directory.participant_for_issuer(&ca1, &subject),
            Some("bank-a")
        );
        assert_eq!(apply(&mut state, add("bank-a", 1, "CN=bank-a")), Ok(()));
        assert_eq!(
            apply(&mut state, add("bank-b", 1, "CN=bank-a")),
            Err(ErrorCode::ValidationError)
        );
        assert_eq!(
            apply(&mut state, add("bank-c", 2, "CN=bank-c")),
            Err(ErrorCode::IdNotFound)
        );
        assert_eq!(
            apply(&mut state, add("bank-a", 2, "")),
            Err(ErrorCode::ValidationError)
        );
        for ca in 2..=4 {
            assert_eq!(apply(&mut state, add("bank-a", ca, "CN=bank-a")), Ok(()));
        }
        assert_eq!(
            apply(&mut state, add("bank-a", 5, "CN=bank-a")),
            Err(ErrorCode::TooManyElements)
        );
        let snapshot = serde_json::to_string(&state.snapshot()).expect("serializes");
        let restored = State::restore(serde_json::from_str(&snapshot).expect("deserializes"))
            .expect("restores");
        assert_eq!(restored.directory.issuers_of("bank-a").count(), 4);
        assert_eq!(
            restored.directory.participant_for_issuer(&ca1, &subject),
            Some("bank-a")
        );
        let remove = |participant: &str| {
            LogRecord::Directory(DirectoryCommand::RemoveIssuer {
                participant: participant.into(),
                ca_sha256: ca1,
                subject: "CN=bank-a".into(),
                now_ms: 11,
            })
        };
        assert_eq!(
            apply(&mut state, remove("bank-b")),
            Err(ErrorCode::IdNotFound)
        );
        assert_eq!(apply(&mut state, remove("bank-a")), Ok(()));
        assert_eq!(state.directory.participant_for_issuer(&ca1, &subject), None);
        assert_eq!(
            apply(&mut state, remove("bank-a")),
            Err(ErrorCode::IdNotFound)
        );
    }

    #[test]
    fn a_snapshot_round_trips_through_json() {
        let mut state = State::default();
        let records = [
            LogRecord::Ledger(crate::record::LedgerCommand::CreateParticipant {
                name: "bank-a".into(),
                kind: harambee_ledger::ParticipantKind::Bank,
                now_ms: 1,
            }),
            LogRecord::Directory(DirectoryCommand::RegisterParty {
                owner: "bank-a".into(),
                party: PartyKey {
                    party_type: "MSISDN".into(),
                    id: "254700000001".into(),
                    sub_id: String::new(),
                },
                now_ms: 2,
            }),
            LogRecord::Directory(DirectoryCommand::SetEndpoint {
                participant: "bank-a".into(),
                url: "http://127.0.0.1:1".into(),
                now_ms: 3,
            }),
            LogRecord::Directory(DirectoryCommand::SetCredential {
                participant: "bank-a".into(),
                credential_sha256: [3; 32],
                now_ms: 4,
            }),
        ];
        for (i, r) in records.iter().enumerate() {
            let applied = state.apply(i as u64, r);
            if let Applied::Directory(result) = applied {
                assert!(result.is_ok(), "{r:?}: {result:?}");
            }
        }
        let json = serde_json::to_string(&state.snapshot()).expect("a snapshot serializes");
        let back: StateSnapshot = serde_json::from_str(&json).expect("and deserializes");
        let restored = State::restore(back).expect("restores");
        let party = PartyKey {
            party_type: "MSISDN".into(),
            id: "254700000001".into(),
            sub_id: String::new(),
        };
        assert_eq!(restored.directory.party_owner(&party), Some("bank-a"));
        assert_eq!(
            restored.directory.participant_for_credential(&[3; 32]),
            Some("bank-a")
        );
        assert_eq!(restored.ledger.digest(), state.ledger.digest());
        assert_eq!(restored.next_offset, 4);
        assert_eq!(
            serde_json::to_string(&restored.snapshot()).expect("json"),
            json,
            "equal states, equal snapshots"
        );
    }

    #[test]
    fn released_quotes_are_never_missed_and_rarely_imagined() {
        let mut filter = ReleasedQuotes::default();
        assert!(
            !filter.may_contain("never"),
            "an empty filter names nothing"
        );
        let ids: Vec<String> = (0..10_000).map(|i| format!("released-{i}")).collect();
        for id in &ids {
            filter.insert(id);
        }
        assert!(
            ids.iter().all(|id| filter.may_contain(id)),
            "no released id is missed"
        );
        let imagined = (0..10_000)
            .filter(|i| filter.may_contain(&format!("fresh-{i}")))
            .count();
        assert!(imagined < 10, "{imagined} fresh ids named");
        let json = serde_json::to_string(&filter).expect("serializes");
        let back: ReleasedQuotes = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back, filter);
        // A full generation moves back; the one before it is forgotten.
        let mut rotating = ReleasedQuotes {
            current_ids: RELEASED_QUOTES_PER_GENERATION,
            ..filter.clone()
        };
        rotating.insert("next");
        assert!(rotating.may_contain("next") && rotating.may_contain("released-0"));
        rotating.current_ids = RELEASED_QUOTES_PER_GENERATION;
        rotating.insert("after");
        assert!(rotating.may_contain("next") && rotating.may_contain("after"));
        assert_eq!(
            ids.iter().filter(|id| rotating.may_contain(id)).count(),
            0,
            "two generations later the oldest ids are forgotten"
        );
    }

    #[test]
    fn typed_callbacks_are_set_replaced_removed_and_bounded() {
        let mut state = State::default();
        let apply = |state: &mut State, command: DirectoryCommand| {
            let offset = state.next_offset;
            match state.apply(offset, &LogRecord::Directory(command)) {
                Applied::Directory(result) => result,
                other => panic!("a directory reply, not {other:?}"),
            }
        };
        let set = |kind: &str, url: &str| DirectoryCommand::SetCallback {
            participant: "bank-a".into(),
            kind: kind.into(),
            url: url.into(),
            now_ms: 1,
        };
        let unknown = apply(&mut state, set("FSPIOP_CALLBACK_URL_QUOTES", "http://a"));
        assert_eq!(
            unknown.map(|_| ()).map_err(|e| e.code),
            Err(ErrorCode::IdNotFound)
        );
        let offset = state.next_offset;
        state.apply(
            offset,
            &LogRecord::Ledger(crate::record::LedgerCommand::CreateParticipant {
                name: "bank-a".into(),
                kind: harambee_ledger::ParticipantKind::Bank,
                now_ms: 1,
            }),
        );
        assert!(matches!(
            apply(&mut state, set("FSPIOP_CALLBACK_URL_QUOTES", "http://a")),
            Ok(DirectoryReply::Done)
        ));
        assert!(matches!(
            apply(&mut state, set("FSPIOP_CALLBACK_URL_QUOTES", "http://a")),
            Ok(DirectoryReply::Unchanged)
        ));
        assert!(matches!(
            apply(&mut state, set("FSPIOP_CALLBACK_URL_QUOTES", "http://b")),
            Ok(DirectoryReply::Done)
        ));
        assert_eq!(
            state
                .directory
                .callback("bank-a", "FSPIOP_CALLBACK_URL_QUOTES"),
            Some("http://b")
        );
        let long = "x".repeat(CALLBACK_URL_LENGTH_MAX + 1);
        let refused = apply(&mut state, set("FSPIOP_CALLBACK_URL_QUOTES", &long));
        assert_eq!(
            refused.map(|_| ()).map_err(|e| e.code),
            Err(ErrorCode::ValidationError)
        );
        assert_eq!(
            state
                .directory
                .callback("bank-a", "FSPIOP_CALLBACK_URL_QUOTES"),
            Some("http://b"),
            "a refusal changes nothing"
        );
        for i in 1..CALLBACKS_PER_PARTICIPANT_MAX {
            assert!(apply(&mut state, set(&format!("KIND_{i}"), "http://c")).is_ok());
        }
        let full = apply(&mut state, set("ONE_MORE", "http://c"));
        assert_eq!(
            full.map(|_| ()).map_err(|e| e.code),
            Err(ErrorCode::ValidationError)
        );
        // Restored from a snapshot, the callbacks are there; removed, gone.
        let restored = State::restore(state.snapshot()).expect("restores");
        assert_eq!(
            restored.directory.callbacks("bank-a").count(),
            CALLBACKS_PER_PARTICIPANT_MAX
        );
        assert!(matches!(
            apply(&mut state, set("FSPIOP_CALLBACK_URL_QUOTES", "")),
            Ok(DirectoryReply::Done)
        ));
        assert_eq!(
            state
                .directory
                .callback("bank-a", "FSPIOP_CALLBACK_URL_QUOTES"),
            None
        );
    }

    #[test]
    fn settlement_models_are_defined_once_and_found_by_currency() {
        use crate::record::{Delay, Granularity, Interchange};
        let usd = Currency::parse("USD").expect("USD");
        let model = |name: &str, currency: Option<Currency>, gross: bool| SettlementModelDef {
            name: name.into(),
            currency,
            granularity: if gross {
                Granularity::Gross
            } else {
                Granularity::Net
            },
            interchange: Interchange::Multilateral,
            delay: if gross {
                Delay::Immediate
            } else {
                Delay::Deferred
            },
            ledger_account_type: "POSITION".into(),
            settlement_account_type: "SETTLEMENT".into(),
            require_liquidity_check: true,
            auto_position_reset: true,
        };
        let mut state = State::default();
        let define = |state: &mut State, m: SettlementModelDef| {
            let offset = state.next_offset;
            match state.apply(
                offset,
                &LogRecord::Directory(DirectoryCommand::DefineSettlementModel {
                    model: m,
                    now_ms: 1,
                }),
            ) {
                Applied::Directory(result) => result,
                other => panic!("a directory reply, not {other:?}"),
            }
        };
        assert!(matches!(
            define(&mut state, model("DEFAULTDEFERREDNET", None, false)),
            Ok(DirectoryReply::Done)
        ));
        assert_eq!(
            state.directory.position_model(usd).map(|m| m.name.as_str()),
            Some("DEFAULTDEFERREDNET"),
            "the default model serves a currency without its own"
        );
        assert!(matches!(
            define(&mut state, model("CGS", Some(usd), true)),
            Ok(DirectoryReply::Done)
        ));
        assert!(
            state
                .directory
                .position_model(usd)
                .is_some_and(|m| m.is_immediate_gross())
        );
        assert!(matches!(
            define(&mut state, model("CGS", Some(usd), true)),
            Ok(DirectoryReply::Unchanged)
        ));
        let other = define(&mut state, model("CGS", None, false)).expect_err("taken");
        assert!(
            other
                .description
                .contains("Settlement Model already exists")
        );
        assert_eq!(state.directory.settlement_models().count(), 2);
        let restored = State::restore(state.snapshot()).expect("restores");
        assert_eq!(
            restored.directory.settlement_model("CGS"),
            state.directory.settlement_model("CGS")
        );
    }
}
