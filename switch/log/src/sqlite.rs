//! The embedded event log: one SQLite table, appended in transactions.
//!
//! `journal_mode = WAL` and `synchronous = FULL`: a committed append
//! survives a crash of the process and of the machine. Appends from many
//! requests are grouped by the engine into one transaction (group commit),
//! so the fsync cost is paid once per batch, not once per request.
//!
//! One connection writes; a small pool of others reads. A reader only ever
//! sees committed appends, so what the engine reads back after a failure
//! is what is really on the log.
//!
//! Architecture invariant: after any failed statement the writer's
//! connection is closed, never used again, and the head is read back from
//! a new one before the next append. (A connection whose COMMIT failed can
//! be left inside a transaction that the driver no longer tracks: every
//! later "commit" on it would then only release a savepoint, and the
//! appends would vanish with the connection.) A failed fsync is
//! [`LogError::Fatal`]: what is durable is then unknown, and the writer
//! must stop.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, Row, SqlitePool};

use crate::chain::{self, ChainedRecord};
use crate::failpoints;
use crate::{CommandLog, LOG_BATCH_RECORDS_MAX, LogError, Offset};
use harambee_core::record::LogRecord;

/// Connections that read the log (the engine's read-back, readers of the
/// feed catching up, audits).
pub const READER_CONNECTIONS_MAX: u32 = 4;

/// How long a statement waits for a lock held by another connection.
pub const BUSY_TIMEOUT_MS: u64 = 5_000;

/// The embedded log in a SQLite file, hash-chained (see [`crate::chain`]).
pub struct SqliteLog {
    path: PathBuf,
    options: SqliteConnectOptions,
    writer: tokio::sync::Mutex<Writer>,
    readers: SqlitePool,
}

/// The writing connection and what it knows of the end of the log.
struct Writer {
    /// `None` after a failure: the next use opens a new one and reads the
    /// head back.
    conn: Option<SqliteConnection>,
    /// Offset and hash of the next append's predecessor.
    head: (Offset, [u8; 32]),
}

/// SQLite result codes the log tells apart (extended codes, as sqlx
/// reports them).
mod code {
    pub const PERM: i64 = 3;
    pub const READONLY: i64 = 8;
    pub const CORRUPT: i64 = 11;
    pub const CANTOPEN: i64 = 14;
    pub const NOTADB: i64 = 26;
    pub const IOERR_FSYNC: i64 = 10 | (4 << 8);
    pub const IOERR_DIR_FSYNC: i64 = 10 | (5 << 8);
}

/// The extended SQLite result code of an error, if it has one.
fn sqlite_code(e: &sqlx::Error) -> Option<i64> {
    match e {
        sqlx::Error::Database(d) => d.code().and_then(|c| c.parse().ok()),
        _ => None,
    }
}

/// What a failed statement means for the log.
fn classify(e: sqlx::Error) -> LogError {
    match sqlite_code(&e) {
        Some(code::IOERR_FSYNC | code::IOERR_DIR_FSYNC) => LogError::Fatal(format!(
            "fsync failed ({e}): what the disk holds is unknown"
        )),
        Some(c) if c & 0xff == code::CORRUPT || c & 0xff == code::NOTADB => LogError::Corrupt {
            offset: 0,
            reason: e.to_string(),
        },
        _ => LogError::Unavailable(e.to_string()),
    }
}

/// What a failure to open the log means: fatal if the file cannot be
/// opened at all, or is no database; otherwise worth trying again (a full
/// disk, a busy lock).
fn classify_open(e: sqlx::Error) -> LogError {
    match sqlite_code(&e).map(|c| c & 0xff) {
        Some(code::CANTOPEN | code::PERM | code::READONLY | code::NOTADB | code::CORRUPT) => {
            LogError::Fatal(format!("the event log cannot be opened: {e}"))
        }
        _ => classify(e),
    }
}

fn unavailable(e: impl std::fmt::Display) -> LogError {
    LogError::Unavailable(e.to_string())
}

impl SqliteLog {
    /// Opens (creating if needed) the log at `path`.
    pub async fn open(path: &Path) -> Result<SqliteLog, LogError> {
        let url = format!("sqlite://{}", path.display());
        let options = SqliteConnectOptions::from_str(&url)
            .map_err(unavailable)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS));
        let mut conn = SqliteConnection::connect_with(&options)
            .await
            .map_err(classify_open)?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS event_log (
                 log_offset INTEGER PRIMARY KEY,
                 prev_hash  TEXT    NOT NULL,
                 hash       TEXT    NOT NULL,
                 record     TEXT    NOT NULL
             )",
        )
        .execute(&mut conn)
        .await
        .map_err(classify)?;
        // One row, rewritten by `probe`: a write that tests the disk
        // without touching the log.
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS log_probe (id INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL)",
        )
        .execute(&mut conn)
        .await
        .map_err(classify)?;
        let head = read_head(&mut conn).await?;
        // Readers stay open for the life of the log: while one is open,
        // closing the writer never checkpoints and deletes the WAL, so a
        // writer can be reopened on a full disk.
        let readers = SqlitePoolOptions::new()
            .max_connections(READER_CONNECTIONS_MAX)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone())
            .await
            .map_err(classify_open)?;
        Ok(SqliteLog {
            path: path.to_path_buf(),
            options,
            writer: tokio::sync::Mutex::new(Writer {
                conn: Some(conn),
                head,
            }),
            readers,
        })
    }

    /// The file of the log.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Verifies the whole hash chain; returns the number of records and the
    /// head hash, or where it breaks.
    pub async fn verify_chain(&self) -> Result<(Offset, [u8; 32]), AuditError> {
        let mut verifier = chain::Verifier::default();
        loop {
            let rows = self
                .chained(verifier.count(), LOG_BATCH_RECORDS_MAX)
                .await?;
            if rows.is_empty() {
                return Ok((verifier.count(), verifier.head()));
            }
            for row in &rows {
                verifier.check(row)?;
            }
        }
    }

    /// Stored records with their chain fields, for audit and export.
    pub async fn chained(&self, from: Offset, max: usize) -> Result<Vec<ChainedRecord>, LogError> {
        let rows = sqlx::query(
            "SELECT log_offset, prev_hash, hash, record FROM event_log WHERE log_offset >= ? ORDER BY log_offset LIMIT ?",
        )
        .bind(from as i64)
        .bind(max.min(LOG_BATCH_RECORDS_MAX) as i64)
        .fetch_all(&self.readers)
        .await
        .map_err(classify)?;
        Ok(rows
            .into_iter()
            .map(|r| ChainedRecord {
                offset: r.get::<i64, _>(0) as Offset,
                position: None,
                at: None,
                prev_hash: r.get(1),
                hash: r.get(2),
                record: r.get(3),
            })
            .collect())
    }

    /// Opens the writer's connection anew, and reads the head back from
    /// it, if the last one failed.
    async fn ensure_writer(&self, w: &mut Writer) -> Result<(), LogError> {
        if w.conn.is_none() {
            let mut conn = SqliteConnection::connect_with(&self.options)
                .await
                .map_err(classify_open)?;
            w.head = read_head(&mut conn).await?;
            tracing::info!(next_offset = w.head.0, "event log reopened; head read back");
            w.conn = Some(conn);
        }
        Ok(())
    }

    /// Closes the writer's connection after a failure, so that nothing is
    /// ever done on it again.
    async fn discard_writer(w: &mut Writer) {
        if let Some(conn) = w.conn.take()
            && let Err(e) = conn.close().await
        {
            tracing::debug!(error = %e, "closing the failed log connection");
        }
    }
}

/// Offset and hash after the last stored record.
async fn read_head(conn: &mut SqliteConnection) -> Result<(Offset, [u8; 32]), LogError> {
    let last =
        sqlx::query("SELECT log_offset, hash FROM event_log ORDER BY log_offset DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await
            .map_err(classify)?;
    match last {
        None => Ok((0, chain::GENESIS)),
        Some(row) => {
            let offset = row.get::<i64, _>(0) as Offset;
            let hash: String = row.get(1);
            let hash = harambee_core::text::hex32(&hash).ok_or(LogError::Corrupt {
                offset,
                reason: "malformed hash".into(),
            })?;
            Ok((offset + 1, hash))
        }
    }
}

/// Why an audit failed.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("hash chain broken: {0}")]
    Break(#[from] chain::ChainBreak),
    #[error("export: {0}")]
    Io(#[from] std::io::Error),
    #[error("export line {line}: {reason}")]
    Export { line: usize, reason: String },
}

/// Records per INSERT statement (4 bound values each; SQLite allows 32,766).
const APPEND_ROWS_PER_STATEMENT: usize = 2_000;

/// Appends `rows` in one transaction on `conn`.
async fn insert_rows(
    conn: &mut SqliteConnection,
    rows: &[(i64, String, String, &String)],
) -> Result<(), sqlx::Error> {
    let mut tx = conn.begin().await?;
    // One multi-row statement per chunk: each statement is a round trip to
    // the connection's thread, so a batch costs a few, not one per record.
    for chunk in rows.chunks(APPEND_ROWS_PER_STATEMENT) {
        let mut q: sqlx::QueryBuilder<sqlx::Sqlite> =
            sqlx::QueryBuilder::new("INSERT INTO event_log (log_offset, prev_hash, hash, record) ");
        q.push_values(chunk, |mut b, (offset, prev_hash, hash, text)| {
            b.push_bind(*offset)
                .push_bind(prev_hash.as_str())
                .push_bind(hash.as_str())
                .push_bind(text.as_str());
        });
        q.build().execute(&mut *tx).await?;
    }
    tx.commit().await
}

#[async_trait]
impl CommandLog for SqliteLog {
    async fn append(&self, records: &[LogRecord]) -> Result<Offset, LogError> {
        if records.len() > LOG_BATCH_RECORDS_MAX {
            return Err(LogError::BatchTooLarge(records.len()));
        }
        let encoded = records
            .iter()
            .map(LogRecord::encode)
            .collect::<Result<Vec<String>, _>>()
            .map_err(unavailable)?;
        let mut w = self.writer.lock().await;
        self.ensure_writer(&mut w).await?;
        // The head is read only now: a reopened writer reads it back.
        let (first, mut prev) = w.head;
        let mut rows = Vec::with_capacity(encoded.len());
        for (i, text) in encoded.iter().enumerate() {
            let offset = first + i as Offset;
            let hash = chain::link(offset, &prev, text);
            rows.push((
                offset as i64,
                harambee_core::text::hex(&prev),
                harambee_core::text::hex(&hash),
                text,
            ));
            prev = hash;
        }
        let Some(conn) = w.conn.as_mut() else {
            return Err(LogError::Unavailable("no writer connection".into()));
        };
        match insert_rows(conn, &rows).await {
            Ok(()) => {
                w.head = (first + encoded.len() as Offset, prev);
                if failpoints::hit(failpoints::APPEND_OFFSET_SKEW, first) {
                    return Ok(first + 1);
                }
                Ok(first)
            }
            Err(e) => {
                Self::discard_writer(&mut w).await;
                Err(classify(e))
            }
        }
    }

    async fn read(&self, from: Offset, max: usize) -> Result<Vec<(Offset, LogRecord)>, LogError> {
        let max = max.min(LOG_BATCH_RECORDS_MAX);
        let rows = sqlx::query(
            "SELECT log_offset, record FROM event_log WHERE log_offset >= ? ORDER BY log_offset LIMIT ?",
        )
        .bind(from as i64)
        .bind(max as i64)
        .fetch_all(&self.readers)
        .await
        .map_err(classify)?;
        let mut out = Vec::with_capacity(rows.len());
        for (expected, row) in (from..).zip(rows) {
            let offset = row.get::<i64, _>(0) as Offset;
            if offset != expected {
                return Err(LogError::Corrupt {
                    offset: expected,
                    reason: "missing record".into(),
                });
            }
            let text: String = row.get(1);
            let record = LogRecord::decode(&text).map_err(|e| LogError::Corrupt {
                offset,
                reason: e.to_string(),
            })?;
            out.push((offset, record));
        }
        Ok(out)
    }

    async fn end(&self) -> Result<Offset, LogError> {
        let mut w = self.writer.lock().await;
        self.ensure_writer(&mut w).await?;
        Ok(w.head.0)
    }

    async fn recover(&self) -> Result<Offset, LogError> {
        let mut w = self.writer.lock().await;
        Self::discard_writer(&mut w).await;
        self.ensure_writer(&mut w).await?;
        Ok(w.head.0)
    }

    async fn probe(&self) -> Result<(), LogError> {
        let mut w = self.writer.lock().await;
        self.ensure_writer(&mut w).await?;
        let Some(conn) = w.conn.as_mut() else {
            return Err(LogError::Unavailable("no writer connection".into()));
        };
        let written = sqlx::query(
            "INSERT INTO log_probe (id, at_ms) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET at_ms = excluded.at_ms",
        )
        .bind(probe_time_ms())
        .execute(conn)
        .await;
        match written {
            Ok(_) => Ok(()),
            Err(e) => {
                Self::discard_writer(&mut w).await;
                Err(classify(e))
            }
        }
    }
}

/// The wall-clock time a probe writes (what it writes does not matter; that
/// the write is durable does).
fn probe_time_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
