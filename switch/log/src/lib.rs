//! The command log: the durable, ordered source of truth.
//!
//! It holds commands, not events: every state change of the switch is
//! first appended here as a [`LogRecord`] (a command); only then is it
//! applied and answered, and the events are what applying it yields.
//! Recovery replays the log from the last snapshot. Two backends implement
//! [`CommandLog`]: the
//! embedded SQLite log ([`sqlite::SqliteLog`], the zero-setup default) and
//! Kafka (production, scale-out).
//!
//! Architecture invariant: a record is acknowledged by `append` only once it
//! is durable (SQLite: committed with `synchronous = FULL`; Kafka: acked by
//! all in-sync replicas). Offsets are dense, start at 0, and never change.

pub mod audit;
pub mod chain;
pub mod failpoints;
pub mod kafka;
pub mod sqlite;

use async_trait::async_trait;

use harambee_core::record::LogRecord;

pub use harambee_core::Offset;

/// Most records one `append` or `read` handles.
pub const LOG_BATCH_RECORDS_MAX: usize = 16_384;

/// Why the log could not do what was asked. For `append`, every variant
/// means "not acknowledged": on the embedded log nothing of the batch is
/// durable; on Kafka a prefix of it may be, and the engine reads back what
/// landed before it goes on.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("event log unavailable: {0}")]
    Unavailable(String),
    #[error("event log record at offset {offset} is corrupt: {reason}")]
    Corrupt { offset: Offset, reason: String },
    #[error("event log batch of {0} records is above the limit of {LOG_BATCH_RECORDS_MAX}")]
    BatchTooLarge(usize),
    /// Another process appended at the same time (Kafka): the records of
    /// this append that did not get their position are void.
    #[error("event log contended: {0}")]
    Contended(String),
    /// The storage failed in a way that leaves what is durable unknown (a
    /// failed fsync: the kernel may have dropped the pages it could not
    /// write). The writer must stop; a new process recovers from the disk.
    #[error("event log failed: {0}")]
    Fatal(String),
}

impl LogError {
    /// Whether the writer must stop rather than try again.
    pub fn is_fatal(&self) -> bool {
        matches!(self, LogError::Fatal(_) | LogError::Corrupt { .. })
    }
}

/// A durable, totally ordered log of records.
#[async_trait]
pub trait CommandLog: Send + Sync + 'static {
    /// Appends `records` in order and returns the offset of the first.
    /// Returns only once all of them are durable. On error none of them is
    /// acknowledged; see [`LogError`] for what may still have landed.
    async fn append(&self, records: &[LogRecord]) -> Result<Offset, LogError>;

    /// Reads up to `max` records starting at `from`, in order.
    async fn read(&self, from: Offset, max: usize) -> Result<Vec<(Offset, LogRecord)>, LogError>;

    /// The offset the next append will get (the number of records so far).
    async fn end(&self) -> Result<Offset, LogError>;

    /// Reads records from `from` on as a follower of a log that another
    /// process writes: waits up to `wait_ms` for the first one, then returns
    /// what has arrived (possibly nothing), at most `max`. A log with one
    /// writer per process just reads.
    async fn follow(
        &self,
        from: Offset,
        max: usize,
        wait_ms: u64,
    ) -> Result<Vec<(Offset, LogRecord)>, LogError> {
        let _ = wait_ms;
        self.read(from, max).await
    }

    /// Finds the end of the log again, as it is on the storage, before this
    /// process starts to append after another one did. Returns the end.
    async fn resync(&self) -> Result<Offset, LogError> {
        self.end().await
    }

    /// After a failed append: reopens what must be reopened (the SQLite
    /// connection) and returns the end of the log as the storage has it,
    /// not as this process last knew it.
    async fn recover(&self) -> Result<Offset, LogError> {
        self.resync().await
    }

    /// Whether an append could succeed now, without appending: a write to
    /// the same storage (SQLite), or a round trip to the broker (Kafka).
    async fn probe(&self) -> Result<(), LogError> {
        self.end().await.map(|_| ())
    }
}
