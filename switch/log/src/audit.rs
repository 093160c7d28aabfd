//! `harambee audit`: export the event log with its hash chain, and verify a
//! log (a data directory, a Kafka partition or an export) offline, reporting
//! the first break.

use std::io::{BufRead, Write};
use std::path::Path;

use crate::chain::{self, ChainedRecord, Verifier};
use crate::kafka::{KafkaLog, KafkaTarget};
use crate::sqlite::{AuditError, SqliteLog};
use crate::{LOG_BATCH_RECORDS_MAX, Offset};

/// What a successful verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Valid records: the log.
    pub records: Offset,
    /// Void records (Kafka): appended by a writer whose view was stale,
    /// skipped by every reader. Not a break; see [`crate::chain`].
    pub void: u64,
    pub head: String,
}

impl Verified {
    fn of(verifier: &Verifier) -> Verified {
        Verified {
            records: verifier.count(),
            void: verifier.void(),
            head: harambee_core::text::hex(&verifier.head()),
        }
    }
}

/// Hands every message of a Kafka log partition, void ones included, to
/// `each`, in partition order.
async fn for_each_message<E: From<crate::LogError>>(
    target: KafkaTarget,
    mut each: impl FnMut(&ChainedRecord) -> Result<(), E>,
) -> Result<Offset, E> {
    let log = KafkaLog::open(target).await?;
    let mut next = 0;
    loop {
        let rows = log.messages(next, LOG_BATCH_RECORDS_MAX).await?;
        let Some(last) = rows.last() else {
            return Ok(next);
        };
        next = last.at.map_or(next + rows.len() as Offset, |at| at + 1);
        for row in &rows {
            each(row)?;
        }
    }
}

/// Verifies a Kafka log partition from its first message to its end.
pub async fn verify_kafka(target: KafkaTarget) -> Result<Verified, AuditError> {
    let mut verifier = Verifier::default();
    for_each_message(target, |row| verifier.check(row).map_err(AuditError::from)).await?;
    Ok(Verified::of(&verifier))
}

/// Writes every message of a Kafka log partition, void ones included, with
/// its partition offset, as JSON lines. Returns how many.
pub async fn export_kafka(target: KafkaTarget, out: &mut impl Write) -> Result<Offset, AuditError> {
    let mut written = 0;
    for_each_message(target, |row| -> Result<(), AuditError> {
        serde_json::to_writer(&mut *out, row).map_err(std::io::Error::from)?;
        out.write_all(b"\n")?;
        written += 1;
        Ok(())
    })
    .await?;
    Ok(written)
}

/// Verifies the log of a data directory.
pub async fn verify_data_dir(data_dir: &Path) -> Result<Verified, AuditError> {
    let log = open(data_dir).await?;
    let (records, head) = log.verify_chain().await?;
    Ok(Verified {
        records,
        void: 0,
        head: harambee_core::text::hex(&head),
    })
}

/// Verifies an export (JSON lines of [`ChainedRecord`]).
pub fn verify_export(
    reader: impl BufRead,
) -> Result<Result<Verified, chain::ChainBreak>, AuditError> {
    let mut verifier = Verifier::default();
    for (n, line) in reader.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let record: ChainedRecord =
            serde_json::from_str(&line).map_err(|e| AuditError::Export {
                line: n + 1,
                reason: e.to_string(),
            })?;
        if let Err(b) = verifier.check(&record) {
            return Ok(Err(b));
        }
    }
    Ok(Ok(Verified::of(&verifier)))
}

/// Writes the log of a data directory as JSON lines.
pub async fn export(data_dir: &Path, out: &mut impl Write) -> Result<Offset, AuditError> {
    for_each_row(data_dir, |row| -> Result<(), AuditError> {
        serde_json::to_writer(&mut *out, row).map_err(std::io::Error::from)?;
        out.write_all(b"\n")?;
        Ok(())
    })
    .await
}

/// Hands every record of a data directory's log to `each`, in order.
async fn for_each_row(
    data_dir: &Path,
    mut each: impl FnMut(&ChainedRecord) -> Result<(), AuditError>,
) -> Result<Offset, AuditError> {
    let log = open(data_dir).await?;
    let mut next = 0;
    loop {
        let rows = log.chained(next, LOG_BATCH_RECORDS_MAX).await?;
        if rows.is_empty() {
            return Ok(next);
        }
        for row in &rows {
            each(row)?;
        }
        next += rows.len() as Offset;
    }
}

/// One operator's action, as `harambee audit operators` lists it: who
/// (the authenticated operator and the role the call needed), when (the
/// record's time), and what (the record's type and fields as stored).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OperatorAction {
    pub offset: Offset,
    pub time_ms: i64,
    pub operator: String,
    pub role: String,
    /// The record's type: `create_participant`, `funds_in`, ...
    pub action: String,
    /// The record's other fields.
    pub details: serde_json::Value,
}

impl OperatorAction {
    /// The action a stored record is, if an operator made it (a record
    /// of format 2 with `by`).
    pub fn of(row: &ChainedRecord) -> Option<OperatorAction> {
        let envelope: serde_json::Value = serde_json::from_str(&row.record).ok()?;
        let by = envelope.get("by")?;
        let text = |v: &serde_json::Value, k: &str| {
            v.get(k)
                .and_then(serde_json::Value::as_str)
                .map(str::to_string)
        };
        let mut details = envelope.get("record")?.clone();
        let action = text(&details, "type")?;
        if let Some(fields) = details.as_object_mut() {
            fields.remove("type");
        }
        Some(OperatorAction {
            offset: row.offset,
            time_ms: envelope
                .get("time_ms")
                .and_then(serde_json::Value::as_i64)?,
            operator: text(by, "operator")?,
            role: text(by, "role")?,
            action,
            details,
        })
    }
}

/// Hands every operator's action in a data directory's log to `each`,
/// in log order. Returns how many records were read.
pub async fn operator_actions(
    data_dir: &Path,
    mut each: impl FnMut(OperatorAction) -> Result<(), AuditError>,
) -> Result<Offset, AuditError> {
    for_each_row(data_dir, |row| match OperatorAction::of(row) {
        Some(action) => each(action),
        None => Ok(()),
    })
    .await
}

/// [`operator_actions`] of a Kafka log partition (void records skipped).
pub async fn operator_actions_kafka(
    target: KafkaTarget,
    mut each: impl FnMut(OperatorAction) -> Result<(), AuditError>,
) -> Result<Offset, AuditError> {
    let mut verifier = Verifier::default();
    for_each_message(target, |row| -> Result<(), AuditError> {
        verifier.check(row).map_err(AuditError::from)?;
        if row.is_void() {
            return Ok(());
        }
        match OperatorAction::of(row) {
            Some(action) => each(action),
            None => Ok(()),
        }
    })
    .await
}

async fn open(data_dir: &Path) -> Result<SqliteLog, AuditError> {
    let path = data_dir.join("log.db");
    if !path.exists() {
        return Err(AuditError::Log(crate::LogError::Unavailable(format!(
            "{} does not exist",
            path.display()
        ))));
    }
    Ok(SqliteLog::open(&path).await?)
}

/// Records one [`Trail::refresh`] verifies at most; the next continues.
pub const TRAIL_RECORDS_PER_REFRESH_MAX: u64 = 1_000_000;
/// Operator actions a [`Trail`] keeps in memory, the most recent.
pub const TRAIL_ACTIONS_KEPT_MAX: usize = 10_000;

/// Where a [`Trail`] reads the log.
pub enum TrailSource {
    /// The embedded log, through the switch's own connection.
    Sqlite(std::sync::Arc<SqliteLog>),
    /// A Kafka partition, opened on first use.
    Kafka(KafkaTarget),
}

/// A running switch's audit trail: its log's hash chain verified as it
/// grows (each refresh continues from where the last stopped), and the
/// most recent operator actions found on the way.
pub struct Trail {
    source: TrailSource,
    state: tokio::sync::Mutex<TrailState>,
}

struct TrailState {
    verifier: Verifier,
    broken: Option<chain::ChainBreak>,
    actions: std::collections::VecDeque<OperatorAction>,
    kafka: Option<KafkaLog>,
}

/// What a [`Trail`] knows of the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrailStatus {
    /// Valid records verified, and void ones skipped.
    pub verified: Verified,
    /// The first break, if the chain is broken (nothing after it is
    /// verified).
    pub broken: Option<chain::ChainBreak>,
    /// Whether the verification reached the log's end.
    pub complete: bool,
}

impl Trail {
    pub fn new(source: TrailSource) -> Trail {
        Trail {
            source,
            state: tokio::sync::Mutex::new(TrailState {
                verifier: Verifier::default(),
                broken: None,
                actions: std::collections::VecDeque::new(),
                kafka: None,
            }),
        }
    }

    /// Verifies what was appended since the last refresh, up to
    /// `budget` records, and collects its operator actions.
    pub async fn refresh(&self, budget: u64) -> Result<TrailStatus, AuditError> {
        let mut st = self.state.lock().await;
        let st = &mut *st;
        let mut checked = 0u64;
        let mut complete = false;
        while st.broken.is_none() && checked < budget {
            let want = (budget - checked).min(LOG_BATCH_RECORDS_MAX as u64) as usize;
            let rows = match &self.source {
                TrailSource::Sqlite(log) => log.chained(st.verifier.count(), want).await?,
                TrailSource::Kafka(target) => {
                    if st.kafka.is_none() {
                        st.kafka = Some(KafkaLog::open(target.clone()).await?);
                    }
                    match &st.kafka {
                        Some(log) => log.messages(st.verifier.next_message(), want).await?,
                        None => Vec::new(),
                    }
                }
            };
            if rows.is_empty() {
                complete = true;
                break;
            }
            for row in &rows {
                if let Err(b) = st.verifier.check(row) {
                    st.broken = Some(b);
                    break;
                }
                checked += 1;
                if row.is_void() || !row.record.contains("\"by\"") {
                    continue;
                }
                if let Some(action) = OperatorAction::of(row) {
                    if st.actions.len() >= TRAIL_ACTIONS_KEPT_MAX {
                        st.actions.pop_front();
                    }
                    st.actions.push_back(action);
                }
            }
        }
        debug_assert!(st.actions.len() <= TRAIL_ACTIONS_KEPT_MAX);
        Ok(TrailStatus {
            verified: Verified::of(&st.verifier),
            broken: st.broken.clone(),
            complete: complete && st.broken.is_none(),
        })
    }

    /// The operator actions kept, the most recent first, of `operator`
    /// only if given; at most `limit`. Also how many are kept.
    pub async fn operator_actions(
        &self,
        operator: Option<&str>,
        limit: usize,
    ) -> (Vec<OperatorAction>, usize) {
        let st = self.state.lock().await;
        let actions = st
            .actions
            .iter()
            .rev()
            .filter(|a| operator.is_none_or(|o| a.operator == o))
            .take(limit)
            .cloned()
            .collect();
        (actions, st.actions.len())
    }
}
