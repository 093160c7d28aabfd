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

use super::{EventLog, LOG_BATCH_RECORDS_MAX, LogError, Offset};
use crate::record::LogRecord;

/// The embedded log in a SQLite file.
#[derive(Clone)]
pub struct SqliteLog {
    pool: SqlitePool,
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
                 record     TEXT    NOT NULL
             )",
        )
        .execute(&pool)
        .await
        .map_err(unavailable)?;
        Ok(SqliteLog { pool })
    }
}

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
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        let first: i64 = sqlx::query("SELECT COALESCE(MAX(log_offset) + 1, 0) FROM event_log")
            .fetch_one(&mut *tx)
            .await
            .map_err(unavailable)?
            .get(0);
        for (i, text) in encoded.iter().enumerate() {
            sqlx::query("INSERT INTO event_log (log_offset, record) VALUES (?, ?)")
                .bind(first + i as i64)
                .bind(text)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
        }
        tx.commit().await.map_err(unavailable)?;
        Ok(first as Offset)
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
        let end: i64 = sqlx::query("SELECT COALESCE(MAX(log_offset) + 1, 0) FROM event_log")
            .fetch_one(&self.pool)
            .await
            .map_err(unavailable)?
            .get(0);
        Ok(end as Offset)
    }
}
