//! Snapshots of the state, so that a restart replays only the log after the
//! latest one. The embedded store keeps them in a SQLite table next to the
//! log; with `store = postgres` they are in PostgreSQL (`snapshots`, one
//! set per log), shared by every node of a deployment, so a node that
//! starts with an empty data directory does not replay the whole log. Only
//! the newest few are kept.

use std::path::Path;
use std::str::FromStr;

use async_trait::async_trait;
use sqlx::postgres::PgPool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use harambee_core::state::StateSnapshot;

/// What a snapshot store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotStoreError {
    #[error("snapshot store: {0}")]
    Store(#[from] sqlx::Error),
    #[error("snapshot encoding: {0}")]
    Encoding(#[from] serde_json::Error),
}

/// The result of a snapshot store call.
pub type Result<T, E = SnapshotStoreError> = std::result::Result<T, E>;

/// Snapshots kept; older ones are deleted. A reader of the feed that is
/// further behind than the oldest replays the log from its start.
pub const SNAPSHOTS_KEPT: i64 = 3;

#[async_trait]
pub trait SnapshotStore: Send + Sync + 'static {
    /// The newest snapshot, if any.
    async fn latest(&self) -> Result<Option<StateSnapshot>> {
        self.at_or_before(u64::MAX).await
    }
    /// The newest snapshot taken at or before log offset `offset`.
    async fn at_or_before(&self, offset: u64) -> Result<Option<StateSnapshot>>;
    /// Stores a snapshot durably.
    async fn save(&self, snapshot: &StateSnapshot) -> Result<()>;
}

/// Snapshots in a SQLite file.
pub struct SqliteSnapshots {
    pool: SqlitePool,
}

impl SqliteSnapshots {
    pub async fn open(path: &Path) -> Result<SqliteSnapshots> {
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS snapshots (
                 next_offset INTEGER PRIMARY KEY,
                 state       TEXT    NOT NULL
             )",
        )
        .execute(&pool)
        .await?;
        Ok(SqliteSnapshots { pool })
    }
}

/// A stored snapshot, if there is one of this build's version (another
/// version is ignored: the log is replayed instead).
fn stored(text: Option<String>) -> Result<Option<StateSnapshot>> {
    let Some(text) = text else {
        return Ok(None);
    };
    let snapshot = StateSnapshot::from_json(&text)?;
    if snapshot.is_none() {
        tracing::info!("a snapshot of another version is ignored: the log is replayed");
    }
    Ok(snapshot)
}

#[async_trait]
impl SnapshotStore for SqliteSnapshots {
    async fn at_or_before(&self, offset: u64) -> Result<Option<StateSnapshot>> {
        let row = sqlx::query(
            "SELECT state FROM snapshots WHERE next_offset <= ? ORDER BY next_offset DESC LIMIT 1",
        )
        .bind(offset.min(i64::MAX as u64) as i64)
        .fetch_optional(&self.pool)
        .await?;
        stored(row.map(|row| row.get(0)))
    }

    async fn save(&self, snapshot: &StateSnapshot) -> Result<()> {
        let text = serde_json::to_string(snapshot)?;
        let mut conn = self.pool.acquire().await?;
        let saved = save_sqlite(&mut conn, snapshot.next_offset, &text).await;
        if saved.is_err() {
            // A connection whose COMMIT failed may still be inside a
            // transaction it no longer tracks: never reuse it.
            conn.close_on_drop();
        }
        saved?;
        tracing::info!(next_offset = snapshot.next_offset, "snapshot saved");
        Ok(())
    }
}

async fn save_sqlite(
    conn: &mut sqlx::SqliteConnection,
    next_offset: u64,
    text: &str,
) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    let mut tx = conn.begin().await?;
    sqlx::query("INSERT OR REPLACE INTO snapshots (next_offset, state) VALUES (?, ?)")
        .bind(next_offset as i64)
        .bind(text)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "DELETE FROM snapshots WHERE next_offset NOT IN
             (SELECT next_offset FROM snapshots ORDER BY next_offset DESC LIMIT ?)",
    )
    .bind(SNAPSHOTS_KEPT)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Snapshots in PostgreSQL, in the table of migration 0004, under the
/// name of the log they were taken from.
pub struct PgSnapshots {
    pool: PgPool,
    log_name: String,
}

impl PgSnapshots {
    /// Snapshots of the log `log_name` in the database behind `pool`
    /// (migrated by `PgProjections::connect`).
    pub fn new(pool: PgPool, log_name: &str) -> PgSnapshots {
        PgSnapshots {
            pool,
            log_name: log_name.to_string(),
        }
    }
}

#[async_trait]
impl SnapshotStore for PgSnapshots {
    async fn at_or_before(&self, offset: u64) -> Result<Option<StateSnapshot>> {
        let row = sqlx::query(
            "SELECT state FROM snapshots WHERE log_name = $1 AND next_offset <= $2 ORDER BY next_offset DESC LIMIT 1",
        )
        .bind(&self.log_name)
        .bind(offset.min(i64::MAX as u64) as i64)
        .fetch_optional(&self.pool)
        .await?;
        stored(row.map(|row| row.get(0)))
    }

    async fn save(&self, snapshot: &StateSnapshot) -> Result<()> {
        let text = serde_json::to_string(snapshot)?;
        let saved_at_ms = crate::clock::now_ms();
        let mut tx = self.pool.begin().await?;
        // Nodes of a cluster take the same snapshot at the same offset: the
        // first one stored stays.
        sqlx::query(
            "INSERT INTO snapshots (log_name, next_offset, saved_at_ms, state) VALUES ($1, $2, $3, $4)
             ON CONFLICT (log_name, next_offset) DO NOTHING",
        )
        .bind(&self.log_name)
        .bind(snapshot.next_offset as i64)
        .bind(saved_at_ms)
        .bind(text)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM snapshots WHERE log_name = $1 AND next_offset NOT IN
                 (SELECT next_offset FROM snapshots WHERE log_name = $1 ORDER BY next_offset DESC LIMIT $2)",
        )
        .bind(&self.log_name)
        .bind(SNAPSHOTS_KEPT)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(next_offset = snapshot.next_offset, log = %self.log_name, "snapshot saved in PostgreSQL");
        Ok(())
    }
}
