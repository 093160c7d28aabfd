//! The embedded event log: one SQLite table, appended in transactions.
//!
//! `journal_mode = WAL` and `synchronous = FULL`: a committed append
//! survives a crash of the process and of the machine. Appends from many
//! requests are grouped by the engine into one transaction (group commit),
//! so the fsync cost is paid once per batch, not once per request.

use std::path::Path;
use std::str::FromStr;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use super::chain::{self, ChainedRecord};
use super::{EventLog, LOG_BATCH_RECORDS_MAX, LogError, Offset};
use crate::record::LogRecord;

/// The embedded log in a SQLite file, hash-chained (see [`super::chain`]).
#[derive(Clone)]
pub struct SqliteLog {
    pool: SqlitePool,
    /// Offset and hash of the next append's predecessor. Appends are
    /// serialized by the engine; the mutex only guards against misuse.
    head: std::sync::Arc<tokio::sync::Mutex<(Offset, [u8; 32])>>,
}

impl SqliteLog {
    /// Opens (creating if needed) the log at `path`.
    pub async fn open(path: &Path) -> Result<SqliteLog, LogError> {
        let url = format!("sqlite://{}", path.display());
        let options = SqliteConnectOptions::from_str(&url)
            .map_err(unavailable)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full);
        // One writer connection: appends are serialized by the engine anyway,
        // and SQLite allows one writer at a time.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(unavailable)?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS event_log (
                 log_offset INTEGER PRIMARY KEY,
                 prev_hash  TEXT    NOT NULL,
                 hash       TEXT    NOT NULL,
                 record     TEXT    NOT NULL
             )",
        )
        .execute(&pool)
        .await
        .map_err(unavailable)?;
        let last =
            sqlx::query("SELECT log_offset, hash FROM event_log ORDER BY log_offset DESC LIMIT 1")
                .fetch_optional(&pool)
                .await
                .map_err(unavailable)?;
        let head = match last {
            None => (0, chain::GENESIS),
            Some(row) => {
                let offset = row.get::<i64, _>(0) as Offset;
                let hash: String = row.get(1);
                let hash = chain::parse_hex32(&hash).ok_or(LogError::Corrupt {
                    offset,
                    reason: "malformed hash".into(),
                })?;
                (offset + 1, hash)
            }
        };
        Ok(SqliteLog {
            pool,
            head: std::sync::Arc::new(tokio::sync::Mutex::new(head)),
        })
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
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
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
}

/// Why an audit failed.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("hash chain broken: {0}")]
    Break(#[from] chain::ChainBreak),
}

/// Records per INSERT statement (4 bound values each; SQLite allows 32,766).
const APPEND_ROWS_PER_STATEMENT: usize = 2_000;

fn unavailable(e: impl std::fmt::Display) -> LogError {
    LogError::Unavailable(e.to_string())
}

#[async_trait]
impl EventLog for SqliteLog {
    async fn append(&self, records: &[LogRecord]) -> Result<Offset, LogError> {
        if records.len() > LOG_BATCH_RECORDS_MAX {
            return Err(LogError::BatchTooLarge(records.len()));
        }
        let encoded = records
            .iter()
            .map(LogRecord::encode)
            .collect::<Result<Vec<String>, _>>()
            .map_err(unavailable)?;
        let mut head = self.head.lock().await;
        let (first, mut prev) = *head;
        let mut rows = Vec::with_capacity(encoded.len());
        for (i, text) in encoded.iter().enumerate() {
            let offset = first + i as Offset;
            let hash = chain::link(offset, &prev, text);
            rows.push((offset as i64, chain::hex(&prev), chain::hex(&hash), text));
            prev = hash;
        }
        // One multi-row statement per chunk: each statement is a round trip
        // to the connection's thread, so a batch costs a few, not one per
        // record.
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        for chunk in rows.chunks(APPEND_ROWS_PER_STATEMENT) {
            let mut q: sqlx::QueryBuilder<sqlx::Sqlite> = sqlx::QueryBuilder::new(
                "INSERT INTO event_log (log_offset, prev_hash, hash, record) ",
            );
            q.push_values(chunk, |mut b, (offset, prev_hash, hash, text)| {
                b.push_bind(*offset)
                    .push_bind(prev_hash.as_str())
                    .push_bind(hash.as_str())
                    .push_bind(text.as_str());
            });
            q.build().execute(&mut *tx).await.map_err(unavailable)?;
        }
        tx.commit().await.map_err(unavailable)?;
        *head = (first + encoded.len() as Offset, prev);
        Ok(first)
    }

    async fn read(&self, from: Offset, max: usize) -> Result<Vec<(Offset, LogRecord)>, LogError> {
        let max = max.min(LOG_BATCH_RECORDS_MAX);
        let rows = sqlx::query(
            "SELECT log_offset, record FROM event_log WHERE log_offset >= ? ORDER BY log_offset LIMIT ?",
        )
        .bind(from as i64)
        .bind(max as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
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
        Ok(self.head.lock().await.0)
    }
}
