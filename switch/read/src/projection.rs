//! Projections: the switch as SQL rows, for the operator's queries,
//! reports and the Notifications stream: transfers, positions, parties,
//! quotes, postings and notices.
//!
//! The projector is a reader of the feed (see `feed`): it starts from the
//! checkpoint stored with the rows, takes what every record did, in log
//! order, and writes the rows and the new checkpoint in one transaction.
//! After a crash or a failed write it reads its checkpoint back and goes
//! on from there; rows are idempotent (a row is only replaced by one from
//! the same or a later log position, a posting or notice is written once),
//! so writing a record twice changes nothing. The log is the truth; the
//! projections can always be rebuilt from it (`rebuild_from_log`, which
//! goes through the same rows).
//!
//! Architecture invariant: the projector never drops a record and never
//! writes from a state it rebuilt under the engine's lock. In a cluster
//! only the writer projects.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use harambee_ledger::{
    AccountType, Event, Owner, PostingPhase, Resolution, TransferId, TransferRecord, TransferState,
};
use prost::Message as _;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection as _, Postgres, QueryBuilder, Row, Sqlite, SqlitePool};

use harambee_core::record::{DirectoryCommand, PartyKey, QuoteRecord};
use harambee_core::state::State;
use harambee_engine::Engine;
use harambee_engine::feed::EventBatch;
use harambee_log::Offset;
use harambee_proto::validate;

/// What a projection store or a rebuild can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("projection store: {0}")]
    Store(#[from] sqlx::Error),
    #[error("projection store migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("projection write timed out after {0} ms")]
    Timeout(u64),
    #[error("reading the log: {0}")]
    Log(#[from] harambee_log::LogError),
    #[error("{0}")]
    Invalid(String),
}

/// The result of a projection store call.
pub type Result<T, E = ProjectionError> = std::result::Result<T, E>;

/// The projector's name in the checkpoints table.
pub const PROJECTOR: &str = "projections";

/// Pause after a failed projection write before the projector reads its
/// checkpoint back and tries again.
pub const RETRY_PAUSE_MS: u64 = 1_000;

/// How long a query waits for a PostgreSQL connection.
pub const PG_ACQUIRE_TIMEOUT_MS: u64 = 3_000;

/// Records projected in one transaction, at most (more are taken only if
/// they are waiting already).
pub const RECORDS_PER_WRITE_MAX: usize = 32_768;

/// Rows written in one statement.
pub const ROWS_PER_STATEMENT: usize = 500;

/// Notices kept per participant, for streams that resume: older ones are
/// deleted (the Notifications stream then starts at the oldest kept).
pub const NOTICE_RETENTION_MS: i64 = 7 * 24 * 3_600_000;

/// How often the projector deletes notices older than the retention.
pub const NOTICE_PRUNE_INTERVAL_MS: u64 = 60_000;

/// A transfer as the projection stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferRow {
    pub transfer_id: String,
    pub payer: String,
    pub payee: String,
    pub currency: String,
    pub amount: String,
    /// RESERVED, COMMITTED or ABORTED.
    pub state: String,
    pub reason: u16,
    pub condition: String,
    pub fulfilment: String,
    pub expires_at_ms: i64,
    pub prepared_at_ms: i64,
    pub resolved_at_ms: i64,
    pub log_offset: i64,
}

/// A participant's position in one currency, as projected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PositionRow {
    pub fsp_id: String,
    pub currency: String,
    pub position: String,
    pub reserved: String,
    pub liquidity: String,
    pub net_debit_cap: String,
    pub log_offset: i64,
}

/// A party of the built-in oracle; `owner` is empty once deregistered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartyRow {
    pub party_type: String,
    pub party_id: String,
    pub sub_id: String,
    pub owner: String,
    pub log_offset: i64,
}

/// An agreed quote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuoteRow {
    pub quote_id: String,
    pub payer: String,
    pub payee: String,
    pub expires_at_ms: i64,
    pub recorded_at_ms: i64,
    pub log_offset: i64,
    /// SHA-256 (hex) of the canonical request, for repeated requests.
    pub request_sha256: String,
    /// The encoded `QuoteResponse`.
    pub response: Vec<u8>,
}

/// A notification of one participant, as the stream resumes from it (see
/// `notices::StoredNotice`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoticeRow {
    pub participant: String,
    pub sequence: i64,
    pub log_offset: i64,
    pub time_ms: i64,
    /// `TRANSFER_COMMITTED`, `TRANSFER_ABORTED` or `WHOLE`.
    pub kind: String,
    /// The transfer of a transfer notice; empty otherwise.
    pub transfer_id: String,
    /// The encoded `harambee.v1.Notification` of any other notice.
    pub notification: Vec<u8>,
}

impl NoticeRow {
    /// What the row stores; `None` if it is malformed.
    pub fn stored(&self) -> Option<crate::notices::StoredNotice> {
        use crate::notices::{STORED_TRANSFER_ABORTED, STORED_TRANSFER_COMMITTED, StoredNotice};
        let transfer = |kind| {
            let id = validate::uuid("transfer_id", &self.transfer_id).ok()?;
            Some(StoredNotice::Transfer {
                kind,
                transfer_id: TransferId(id),
            })
        };
        match self.kind.as_str() {
            STORED_TRANSFER_COMMITTED => transfer(STORED_TRANSFER_COMMITTED),
            STORED_TRANSFER_ABORTED => transfer(STORED_TRANSFER_ABORTED),
            _ => harambee_proto::v1::Notification::decode(self.notification.as_slice())
                .ok()
                .map(|n| StoredNotice::Whole(Box::new(n))),
        }
    }
}

/// What one projection write changes, in one transaction.
#[derive(Clone, Debug, Default)]
pub struct ProjectionWrite {
    pub transfers: Vec<TransferRow>,
    pub state: StateRows,
    pub postings: Vec<PostingRow>,
    pub notices: Vec<NoticeRow>,
    /// The reader and the log offset every record below which is written
    /// (the stored checkpoint only ever moves forward).
    pub checkpoint: Option<(String, Offset)>,
    keys: WriteKeys,
}

impl ProjectionWrite {
    /// Adds the rows of a later write (of the records after this one's):
    /// a row of a replaced table takes the place of this write's row with
    /// the same key (a statement may not change a row twice), so a write
    /// built from deduplicated writes stays deduplicated.
    pub fn extend(&mut self, later: ProjectionWrite) {
        let keys = &mut self.keys;
        merge_keyed(
            &mut self.transfers,
            &mut keys.transfers,
            later.transfers,
            |r| r.transfer_id.clone(),
        );
        merge_keyed(
            &mut self.state.positions,
            &mut keys.positions,
            later.state.positions,
            |r| (r.fsp_id.clone(), r.currency.clone()),
        );
        merge_keyed(
            &mut self.state.parties,
            &mut keys.parties,
            later.state.parties,
            |r| (r.party_type.clone(), r.party_id.clone(), r.sub_id.clone()),
        );
        merge_keyed(
            &mut self.state.quotes,
            &mut keys.quotes,
            later.state.quotes,
            |r| r.quote_id.clone(),
        );
        self.postings.extend(later.postings);
        self.notices.extend(later.notices);
        if later.checkpoint.is_some() {
            self.checkpoint = later.checkpoint;
        }
    }

    /// Keeps one row per key of the tables whose rows are replaced (a
    /// statement may not change a row twice): the latest, through `extend`.
    pub fn dedupe(&mut self) {
        let rows = std::mem::take(self);
        self.extend(rows);
    }

    fn rows(&self) -> usize {
        self.transfers.len()
            + self.state.positions.len()
            + self.state.parties.len()
            + self.state.quotes.len()
            + self.postings.len()
            + self.notices.len()
    }
}

/// Positions, parties and quotes to write.
#[derive(Clone, Debug, Default)]
pub struct StateRows {
    pub positions: Vec<PositionRow>,
    pub parties: Vec<PartyRow>,
    pub quotes: Vec<QuoteRow>,
}

/// Filters of a transfer query.
#[derive(Clone, Debug, Default)]
pub struct TransferQuery {
    pub participant: Option<String>,
    pub state: Option<&'static str>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// Only transfers refused or aborted with this FSPIOP code.
    pub reason: Option<u16>,
    /// Only ids greater than this (the page token).
    pub after: Option<String>,
    pub limit: u32,
}

/// A posting as the projection stores it: one per ledger event that moved
/// money, identified by (`log_offset`, `event_index`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostingRow {
    pub log_offset: i64,
    pub event_index: i64,
    pub time_ms: i64,
    pub event: String,
    pub reference: String,
    pub debit_account: i64,
    pub debit_owner: String,
    pub debit_type: String,
    pub credit_account: i64,
    pub credit_owner: String,
    pub credit_type: String,
    pub currency: String,
    pub amount: String,
    pub phase: String,
}

/// Which postings to read, in log order.
#[derive(Clone, Debug, Default)]
pub struct PostingQuery {
    /// Postings on this owner's accounts (a participant's name, or "hub").
    pub owner: Option<String>,
    /// Postings of this transfer or funds id.
    pub reference: Option<String>,
    /// Postings after this (log offset, event index).
    pub after: Option<(i64, i64)>,
    pub limit: u32,
}

/// Appends `later` to `rows`, a later row replacing an earlier one with the
/// same key in its place; `index` maps the keys of `rows` to their places
/// (rebuilt if it does not cover them), so adding is linear in `later`.
fn merge_keyed<T, K: Eq + std::hash::Hash>(
    rows: &mut Vec<T>,
    index: &mut std::collections::HashMap<K, usize>,
    later: Vec<T>,
    key: impl Fn(&T) -> K,
) {
    if index.len() != rows.len() {
        *index = rows.iter().enumerate().map(|(i, r)| (key(r), i)).collect();
    }
    for row in later {
        match index.get(&key(&row)) {
            Some(&i) => rows[i] = row,
            None => {
                index.insert(key(&row), rows.len());
                rows.push(row);
            }
        }
    }
}

/// Where each key of a write's replaced tables sits in it.
#[derive(Clone, Debug, Default)]
struct WriteKeys {
    transfers: std::collections::HashMap<String, usize>,
    positions: std::collections::HashMap<(String, String), usize>,
    parties: std::collections::HashMap<(String, String, String), usize>,
    quotes: std::collections::HashMap<String, usize>,
}

/// Where projections are stored: SQLite (embedded) or PostgreSQL.
#[async_trait::async_trait]
pub trait ProjectionStore: Send + Sync + 'static {
    /// Writes rows and the checkpoint in one transaction. A row replaces a
    /// stored one only if it is from the same or a later log position; a
    /// posting, notice or quote already stored is left as it is.
    async fn write(&self, write: &ProjectionWrite) -> Result<()>;
    /// The stored checkpoint of `reader`: the log offset to go on from.
    async fn checkpoint(&self, reader: &str) -> Result<Option<Offset>>;
    /// Transfers matching a query, by id.
    async fn transfers(&self, query: &TransferQuery) -> Result<Vec<TransferRow>>;
    /// Every projected position, by participant and currency.
    async fn positions(&self) -> Result<Vec<PositionRow>>;
    async fn party_owner(
        &self,
        party_type: &str,
        party_id: &str,
        sub_id: &str,
    ) -> Result<Option<String>>;
    async fn quote(&self, quote_id: &str) -> Result<Option<QuoteRow>>;
    /// Postings matching a query, in log order.
    async fn postings(&self, query: &PostingQuery) -> Result<Vec<PostingRow>>;
    /// A participant's notices from `from_sequence` on, in order.
    async fn notices(
        &self,
        participant: &str,
        from_sequence: u64,
        limit: u32,
    ) -> Result<Vec<NoticeRow>>;
    /// Deletes the notices of `participant` older than `before_ms`; returns
    /// how many.
    async fn prune_notices(&self, participant: &str, before_ms: i64) -> Result<u64>;
}

/// Page cache of each embedded projection connection, in KiB.
pub const SQLITE_PROJECTION_CACHE_KIB: u64 = 65_536;

/// WAL pages (4 KiB) after which a commit checkpoints the embedded
/// projections (SQLite's default is 1,000).
pub const SQLITE_PROJECTION_CHECKPOINT_PAGES: u64 = 16_384;

/// The embedded projection store.
#[derive(Clone)]
pub struct SqliteProjections {
    pool: SqlitePool,
}

impl SqliteProjections {
    pub async fn open(path: &Path) -> Result<SqliteProjections> {
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // A projection can be rebuilt from the log: no fsync per batch.
            .synchronous(SqliteSynchronous::Normal)
            // The tables' hot pages (index leaves of random transfer ids,
            // positions) stay in memory, and a checkpoint writes a page
            // once for many commits that changed it.
            .pragma("cache_size", format!("-{}", SQLITE_PROJECTION_CACHE_KIB))
            .pragma("temp_store", "memory")
            .pragma(
                "wal_autocheckpoint",
                SQLITE_PROJECTION_CHECKPOINT_PAGES.to_string(),
            );
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(SqliteProjections { pool })
    }
}

/// The PostgreSQL projection store.
#[derive(Clone)]
pub struct PgProjections {
    pool: PgPool,
}

impl PgProjections {
    /// Connects and applies the embedded migrations.
    pub async fn connect(url: &str) -> Result<PgProjections> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            // A database that is down answers queries with 2003 quickly
            // rather than holding the caller for sqlx's default 30 s.
            .acquire_timeout(std::time::Duration::from_millis(PG_ACQUIRE_TIMEOUT_MS))
            .connect(url)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(PgProjections { pool })
    }

    /// The connection pool, for the snapshot store in the same database.
    pub fn pool(&self) -> PgPool {
        self.pool.clone()
    }
}

/// The same SQL for both databases; `$cast` turns the bound amount text
/// into the column's type, `$amount` reads it back as text, `$greatest`
/// is the larger of two values.
macro_rules! projection_store {
    ($store:ty, $db:ty, $cast:literal, $amount:literal, $text:ident, $greatest:literal) => {
        impl $store {
            /// Every statement of a write, in one transaction on `conn`.
            async fn write_on(
                conn: &mut <$db as sqlx::Database>::Connection,
                w: &ProjectionWrite,
            ) -> Result<(), sqlx::Error> {
                let mut tx = conn.begin().await?;
                for chunk in w.transfers.chunks(ROWS_PER_STATEMENT) {
                    let mut q: QueryBuilder<$db> = QueryBuilder::new(
                        "INSERT INTO transfers (transfer_id, payer, payee, currency, amount, state, reason, condition, fulfilment, expires_at_ms, prepared_at_ms, resolved_at_ms, log_offset) ",
                    );
                    q.push_values(chunk, |mut b, r| {
                        b.push_bind(r.transfer_id.clone())
                            .push_bind(r.payer.clone())
                            .push_bind(r.payee.clone())
                            .push_bind(r.currency.clone())
                            .push_bind(r.amount.clone())
                            .push_unseparated($cast)
                            .push_bind(r.state.clone())
                            .push_bind(i64::from(r.reason))
                            .push_bind(r.condition.clone())
                            .push_bind(r.fulfilment.clone())
                            .push_bind(r.expires_at_ms)
                            .push_bind(r.prepared_at_ms)
                            .push_bind(r.resolved_at_ms)
                            .push_bind(r.log_offset);
                    });
                    q.push(
                        " ON CONFLICT (transfer_id) DO UPDATE SET state = excluded.state, reason = excluded.reason,
                          fulfilment = excluded.fulfilment, resolved_at_ms = excluded.resolved_at_ms, log_offset = excluded.log_offset
                          WHERE excluded.log_offset >= transfers.log_offset",
                    );
                    q.build().execute(&mut *tx).await?;
                }
                for chunk in w.state.positions.chunks(ROWS_PER_STATEMENT) {
                    let mut q: QueryBuilder<$db> = QueryBuilder::new(
                        "INSERT INTO positions (fsp_id, currency, position, reserved, liquidity, net_debit_cap, log_offset) ",
                    );
                    q.push_values(chunk, |mut b, r| {
                        b.push_bind(r.fsp_id.clone())
                            .push_bind(r.currency.clone())
                            .push_bind(r.position.clone())
                            .push_unseparated($cast)
                            .push_bind(r.reserved.clone())
                            .push_unseparated($cast)
                            .push_bind(r.liquidity.clone())
                            .push_unseparated($cast)
                            .push_bind(r.net_debit_cap.clone())
                            .push_unseparated($cast)
                            .push_bind(r.log_offset);
                    });
                    q.push(
                        " ON CONFLICT (fsp_id, currency) DO UPDATE SET position = excluded.position, reserved = excluded.reserved,
                          liquidity = excluded.liquidity, net_debit_cap = excluded.net_debit_cap, log_offset = excluded.log_offset
                          WHERE excluded.log_offset >= positions.log_offset",
                    );
                    q.build().execute(&mut *tx).await?;
                }
                for chunk in w.state.parties.chunks(ROWS_PER_STATEMENT) {
                    let mut q: QueryBuilder<$db> = QueryBuilder::new(
                        "INSERT INTO parties (party_type, party_id, sub_id, owner, log_offset) ",
                    );
                    q.push_values(chunk, |mut b, r| {
                        b.push_bind(r.party_type.clone())
                            .push_bind(r.party_id.clone())
                            .push_bind(r.sub_id.clone())
                            .push_bind(r.owner.clone())
                            .push_bind(r.log_offset);
                    });
                    q.push(
                        " ON CONFLICT (party_type, party_id, sub_id) DO UPDATE SET owner = excluded.owner, log_offset = excluded.log_offset
                          WHERE excluded.log_offset >= parties.log_offset",
                    );
                    q.build().execute(&mut *tx).await?;
                }
                // Quotes carry up to 32 KiB of ILP packet: fewer per statement.
                for chunk in w.state.quotes.chunks(ROWS_PER_STATEMENT / 10) {
                    let mut q: QueryBuilder<$db> = QueryBuilder::new(
                        "INSERT INTO quotes (quote_id, payer, payee, expires_at_ms, recorded_at_ms, log_offset, request_sha256, response) ",
                    );
                    q.push_values(chunk, |mut b, r| {
                        b.push_bind(r.quote_id.clone())
                            .push_bind(r.payer.clone())
                            .push_bind(r.payee.clone())
                            .push_bind(r.expires_at_ms)
                            .push_bind(r.recorded_at_ms)
                            .push_bind(r.log_offset)
                            .push_bind(r.request_sha256.clone())
                            .push_bind(r.response.clone());
                    });
                    // A quote never changes once agreed.
                    q.push(" ON CONFLICT (quote_id) DO NOTHING");
                    q.build().execute(&mut *tx).await?;
                }
                for chunk in w.postings.chunks(ROWS_PER_STATEMENT) {
                    let mut q: QueryBuilder<$db> = QueryBuilder::new(
                        "INSERT INTO postings (log_offset, event_index, time_ms, event, reference, debit_account, debit_owner, debit_type, credit_account, credit_owner, credit_type, currency, amount, phase) ",
                    );
                    q.push_values(chunk, |mut b, r| {
                        b.push_bind(r.log_offset)
                            .push_bind(r.event_index)
                            .push_bind(r.time_ms)
                            .push_bind(r.event.clone())
                            .push_bind(r.reference.clone())
                            .push_bind(r.debit_account)
                            .push_bind(r.debit_owner.clone())
                            .push_bind(r.debit_type.clone())
                            .push_bind(r.credit_account)
                            .push_bind(r.credit_owner.clone())
                            .push_bind(r.credit_type.clone())
                            .push_bind(r.currency.clone())
                            .push_bind(r.amount.clone())
                            .push_unseparated($cast)
                            .push_bind(r.phase.clone());
                    });
                    q.push(" ON CONFLICT (log_offset, event_index) DO NOTHING");
                    q.build().execute(&mut *tx).await?;
                }
                for chunk in w.notices.chunks(ROWS_PER_STATEMENT) {
                    let mut q: QueryBuilder<$db> = QueryBuilder::new(
                        "INSERT INTO notices (participant, sequence, log_offset, time_ms, kind, transfer_id, notification) ",
                    );
                    q.push_values(chunk, |mut b, r| {
                        b.push_bind(r.participant.clone())
                            .push_bind(r.sequence)
                            .push_bind(r.log_offset)
                            .push_bind(r.time_ms)
                            .push_bind(r.kind.clone())
                            .push_bind(r.transfer_id.clone())
                            .push_bind(r.notification.clone());
                    });
                    q.push(" ON CONFLICT (participant, sequence) DO NOTHING");
                    q.build().execute(&mut *tx).await?;
                }
                if let Some((reader, offset)) = &w.checkpoint {
                    sqlx::query(concat!(
                        "INSERT INTO checkpoints (reader, log_offset, event_index) VALUES ($1, $2, 0)
                         ON CONFLICT (reader) DO UPDATE SET log_offset = ",
                        $greatest,
                        "(checkpoints.log_offset, excluded.log_offset), event_index = 0"
                    ))
                    .bind(reader.clone())
                    .bind(*offset as i64)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await
            }
        }

        #[async_trait::async_trait]
        impl ProjectionStore for $store {
            async fn write(&self, w: &ProjectionWrite) -> Result<()> {
                let mut conn = self.pool.acquire().await?;
                let written = Self::write_on(&mut conn, w).await;
                if written.is_err() {
                    // A connection whose COMMIT failed may still be inside a
                    // transaction it no longer tracks: never reuse it.
                    conn.close_on_drop();
                }
                Ok(written?)
            }

            async fn checkpoint(&self, reader: &str) -> Result<Option<Offset>> {
                let row = sqlx::query("SELECT log_offset FROM checkpoints WHERE reader = $1")
                    .bind(reader)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(|r| r.get::<i64, _>(0).max(0) as Offset))
            }

            async fn positions(&self) -> Result<Vec<PositionRow>> {
                let rows = sqlx::query(concat!(
                    "SELECT fsp_id, currency, ",
                    $text!("position"), ", ", $text!("reserved"), ", ", $text!("liquidity"), ", ", $text!("net_debit_cap"),
                    ", log_offset FROM positions ORDER BY fsp_id, currency"
                ))
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|r| PositionRow {
                        fsp_id: r.get(0),
                        currency: r.get(1),
                        position: r.get(2),
                        reserved: r.get(3),
                        liquidity: r.get(4),
                        net_debit_cap: r.get(5),
                        log_offset: r.get(6),
                    })
                    .collect())
            }

            async fn party_owner(&self, party_type: &str, party_id: &str, sub_id: &str) -> Result<Option<String>> {
                let row = sqlx::query(
                    "SELECT owner FROM parties WHERE party_type = $1 AND party_id = $2 AND sub_id = $3",
                )
                .bind(party_type)
                .bind(party_id)
                .bind(sub_id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|r| r.get::<String, _>(0)).filter(|o| !o.is_empty()))
            }

            async fn quote(&self, quote_id: &str) -> Result<Option<QuoteRow>> {
                let row = sqlx::query(
                    "SELECT quote_id, payer, payee, expires_at_ms, recorded_at_ms, log_offset, request_sha256, response FROM quotes WHERE quote_id = $1",
                )
                .bind(quote_id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|r| QuoteRow {
                    quote_id: r.get(0),
                    payer: r.get(1),
                    payee: r.get(2),
                    expires_at_ms: r.get(3),
                    recorded_at_ms: r.get(4),
                    log_offset: r.get(5),
                    request_sha256: r.get(6),
                    response: r.get(7),
                }))
            }

            async fn notices(&self, participant: &str, from_sequence: u64, limit: u32) -> Result<Vec<NoticeRow>> {
                let rows = sqlx::query(
                    "SELECT participant, sequence, log_offset, time_ms, kind, transfer_id, notification FROM notices
                     WHERE participant = $1 AND sequence >= $2 ORDER BY sequence LIMIT $3",
                )
                .bind(participant)
                .bind(from_sequence.min(i64::MAX as u64) as i64)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|r| NoticeRow {
                        participant: r.get(0),
                        sequence: r.get(1),
                        log_offset: r.get(2),
                        time_ms: r.get(3),
                        kind: r.get(4),
                        transfer_id: r.get(5),
                        notification: r.get(6),
                    })
                    .collect())
            }

            async fn prune_notices(&self, participant: &str, before_ms: i64) -> Result<u64> {
                // Times grow with the sequence: the old ones are the lowest
                // numbers, found from the key without another index.
                let done = sqlx::query(
                    "DELETE FROM notices WHERE participant = $1 AND sequence < COALESCE(
                         (SELECT sequence FROM notices WHERE participant = $1 AND time_ms >= $2 ORDER BY sequence LIMIT 1),
                         (SELECT MAX(sequence) + 1 FROM notices WHERE participant = $1))",
                )
                .bind(participant)
                .bind(before_ms)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected())
            }

            async fn postings(&self, query: &PostingQuery) -> Result<Vec<PostingRow>> {
                let mut q: QueryBuilder<$db> = QueryBuilder::new(concat!(
                    "SELECT log_offset, event_index, time_ms, event, reference, debit_account, debit_owner, debit_type, credit_account, credit_owner, credit_type, currency, ",
                    $amount,
                    ", phase FROM postings WHERE 1 = 1"
                ));
                if let Some(o) = &query.owner {
                    q.push(" AND (debit_owner = ").push_bind(o.clone()).push(" OR credit_owner = ").push_bind(o.clone()).push(")");
                }
                if let Some(r) = &query.reference {
                    q.push(" AND reference = ").push_bind(r.clone());
                }
                if let Some((offset, index)) = query.after {
                    q.push(" AND (log_offset > ").push_bind(offset)
                        .push(" OR (log_offset = ").push_bind(offset)
                        .push(" AND event_index > ").push_bind(index).push("))");
                }
                q.push(" ORDER BY log_offset, event_index LIMIT ").push_bind(i64::from(query.limit));
                let rows = q.build().fetch_all(&self.pool).await?;
                Ok(rows
                    .into_iter()
                    .map(|r| PostingRow {
                        log_offset: r.get(0),
                        event_index: r.get(1),
                        time_ms: r.get(2),
                        event: r.get(3),
                        reference: r.get(4),
                        debit_account: r.get(5),
                        debit_owner: r.get(6),
                        debit_type: r.get(7),
                        credit_account: r.get(8),
                        credit_owner: r.get(9),
                        credit_type: r.get(10),
                        currency: r.get(11),
                        amount: r.get(12),
                        phase: r.get(13),
                    })
                    .collect())
            }

            async fn transfers(&self, query: &TransferQuery) -> Result<Vec<TransferRow>> {
                let mut q: QueryBuilder<$db> = QueryBuilder::new(concat!(
                    "SELECT transfer_id, payer, payee, currency, ",
                    $amount,
                    ", state, reason, condition, fulfilment, expires_at_ms, prepared_at_ms, resolved_at_ms, log_offset FROM transfers WHERE 1 = 1"
                ));
                if let Some(p) = &query.participant {
                    q.push(" AND (payer = ").push_bind(p.clone()).push(" OR payee = ").push_bind(p.clone()).push(")");
                }
                if let Some(s) = query.state {
                    q.push(" AND state = ").push_bind(s);
                }
                if let Some(from) = query.from_ms {
                    q.push(" AND prepared_at_ms >= ").push_bind(from);
                }
                if let Some(to) = query.to_ms {
                    q.push(" AND prepared_at_ms < ").push_bind(to);
                }
                if let Some(reason) = query.reason {
                    q.push(" AND reason = ").push_bind(i64::from(reason));
                }
                if let Some(after) = &query.after {
                    q.push(" AND transfer_id > ").push_bind(after.clone());
                }
                q.push(" ORDER BY transfer_id LIMIT ").push_bind(i64::from(query.limit));
                let rows = q.build().fetch_all(&self.pool).await?;
                Ok(rows
                    .into_iter()
                    .map(|r| TransferRow {
                        transfer_id: r.get(0),
                        payer: r.get(1),
                        payee: r.get(2),
                        currency: r.get(3),
                        amount: r.get(4),
                        state: r.get(5),
                        reason: u16::try_from(r.get::<i64, _>(6)).unwrap_or(0),
                        condition: r.get(7),
                        fulfilment: r.get(8),
                        expires_at_ms: r.get(9),
                        prepared_at_ms: r.get(10),
                        resolved_at_ms: r.get(11),
                        log_offset: r.get(12),
                    })
                    .collect())
            }
        }
    };
}

/// A column read back as text (SQLite stores decimals as text already).
macro_rules! as_is {
    ($c:literal) => {
        $c
    };
}
/// A NUMERIC column read back as text (PostgreSQL).
macro_rules! numeric_text {
    ($c:literal) => {
        concat!($c, "::text")
    };
}

projection_store!(SqliteProjections, Sqlite, "", "amount", as_is, "MAX");
projection_store!(
    PgProjections,
    Postgres,
    "::numeric",
    "amount::text",
    numeric_text,
    "GREATEST"
);

/// The wire name of a state in the projection.
pub fn state_name(state: TransferState) -> &'static str {
    match state {
        TransferState::Reserved => "RESERVED",
        TransferState::Committed => "COMMITTED",
        TransferState::Aborted | TransferState::Refused => "ABORTED",
    }
}

fn row(
    ctx_state: &harambee_core::state::State,
    t: &TransferRecord,
    log_offset: i64,
) -> TransferRow {
    let name = |p| {
        ctx_state
            .ledger
            .participant(p)
            .map(|x| x.name.clone())
            .unwrap_or_default()
    };
    TransferRow {
        transfer_id: harambee_core::text::uuid_string(t.id.0),
        payer: name(t.payer),
        payee: name(t.payee),
        currency: t.currency.to_string(),
        amount: ctx_state.ledger.decimal(t.currency, t.amount).to_string(),
        state: state_name(t.state).to_string(),
        reason: t.reason,
        condition: harambee_core::text::b64url(&t.condition),
        fulfilment: match (t.state, t.resolution) {
            (TransferState::Committed, Some(Resolution::Fulfil(f))) => {
                harambee_core::text::b64url(&f)
            }
            _ => String::new(),
        },
        expires_at_ms: t.expires_at_ms,
        prepared_at_ms: t.prepared_at_ms,
        resolved_at_ms: t.resolved_at_ms,
        log_offset,
    }
}

fn position_rows<'a>(
    st: &harambee_core::state::State,
    pairs: impl Iterator<Item = (harambee_ledger::ParticipantId, harambee_ledger::Currency)> + 'a,
    log_offset: i64,
) -> Vec<PositionRow> {
    pairs
        .filter_map(|(p, c)| {
            let view = st.ledger.position(p, c)?;
            let name = st.ledger.participant(p)?.name.clone();
            Some(PositionRow {
                fsp_id: name,
                currency: c.to_string(),
                position: st.ledger.decimal(c, view.position).to_string(),
                reserved: st.ledger.decimal(c, view.reserved).to_string(),
                liquidity: st.ledger.decimal(c, view.liquidity).to_string(),
                net_debit_cap: st.ledger.decimal(c, view.net_debit_cap).to_string(),
                log_offset,
            })
        })
        .collect()
}

fn party_row(party: &PartyKey, owner: &str, log_offset: i64) -> PartyRow {
    PartyRow {
        party_type: party.party_type.clone(),
        party_id: party.id.clone(),
        sub_id: party.sub_id.clone(),
        owner: owner.to_string(),
        log_offset,
    }
}

fn quote_row(q: &QuoteRecord, log_offset: i64) -> QuoteRow {
    QuoteRow {
        quote_id: q.quote_id.clone(),
        payer: q.payer.clone(),
        payee: q.payee.clone(),
        expires_at_ms: q.expires_at_ms,
        recorded_at_ms: q.recorded_at_ms,
        log_offset,
        request_sha256: harambee_core::text::hex(&q.request_sha256),
        response: q.response.clone(),
    }
}

/// The rows a batch changed: positions of the participants its events
/// name, parties and quotes of its directory records.
fn batch_state_rows(st: &State, batches: &[Arc<EventBatch>]) -> StateRows {
    let offset = batches.last().map_or(0, |b| b.next_offset() as i64);
    let mut pairs: Vec<(harambee_ledger::ParticipantId, harambee_ledger::Currency)> = Vec::new();
    for (_, _, _, event) in batches.iter().flat_map(|b| b.events()) {
        match event {
            Event::FundsIn {
                participant,
                posting,
                ..
            }
            | Event::FundsOutReserved {
                participant,
                posting,
                ..
            }
            | Event::FundsOutCommitted {
                participant,
                posting,
                ..
            }
            | Event::FundsOutAborted {
                participant,
                posting,
                ..
            }
            | Event::SettlementPosted {
                participant,
                posting,
                ..
            } => pairs.push((*participant, posting.currency)),
            Event::TransferReserved {
                payer,
                payee,
                posting,
                ..
            }
            | Event::TransferCommitted {
                payer,
                payee,
                posting,
                ..
            }
            | Event::TransferAborted {
                payer,
                payee,
                posting,
                ..
            } => {
                pairs.push((*payer, posting.currency));
                pairs.push((*payee, posting.currency));
            }
            Event::AccountsOpened {
                participant,
                currency,
                ..
            }
            | Event::NetDebitCapSet {
                participant,
                currency,
                ..
            } => pairs.push((*participant, *currency)),
            _ => {}
        }
    }
    pairs.sort_unstable();
    pairs.dedup();
    let mut rows = StateRows {
        positions: position_rows(st, pairs.into_iter(), offset),
        ..StateRows::default()
    };
    let directory = batches
        .iter()
        .flat_map(|b| &b.records)
        .filter_map(|r| r.directory.as_ref().map(|d| (r.offset, d)));
    for (at, command) in directory {
        let at = at as i64;
        match command {
            DirectoryCommand::RegisterParty { owner, party, .. } => {
                rows.parties.push(party_row(party, owner, at))
            }
            DirectoryCommand::DeregisterParty { party, .. } => {
                rows.parties.push(party_row(party, "", at))
            }
            DirectoryCommand::RecordQuote(q) => rows.quotes.push(quote_row(q, at)),
            _ => {}
        }
    }
    rows
}

/// The postings of the ledger events of some batches (those that moved
/// money), each identified by its record's offset and its index in it.
pub fn posting_rows(st: &State, batches: &[Arc<EventBatch>]) -> Vec<PostingRow> {
    let owner = |id: harambee_ledger::AccountId| -> (String, &'static str) {
        match st.ledger.account(id) {
            Some(a) => (
                match a.owner {
                    Owner::Hub => "hub".to_string(),
                    Owner::Participant(p) => st
                        .ledger
                        .participant(p)
                        .map(|x| x.name.clone())
                        .unwrap_or_default(),
                },
                account_type_name(a.kind),
            ),
            None => (String::new(), ""),
        }
    };
    batches
        .iter()
        .flat_map(|b| b.events())
        .filter_map(|(offset, index, time_ms, event)| {
            let posting = event.posting()?;
            let (debit_owner, debit_type) = owner(posting.debit);
            let (credit_owner, credit_type) = owner(posting.credit);
            Some(PostingRow {
                log_offset: offset as i64,
                event_index: i64::from(index),
                time_ms,
                event: event_name(event).to_string(),
                reference: event_reference(event),
                debit_account: i64::from(posting.debit.0),
                debit_owner,
                debit_type: debit_type.to_string(),
                credit_account: i64::from(posting.credit.0),
                credit_owner,
                credit_type: credit_type.to_string(),
                currency: posting.currency.to_string(),
                amount: st
                    .ledger
                    .decimal(posting.currency, posting.amount)
                    .to_string(),
                phase: phase_name(posting.phase).to_string(),
            })
        })
        .collect()
}

/// The name of an account type in the projection (as in the Operator API).
pub fn account_type_name(kind: AccountType) -> &'static str {
    match kind {
        AccountType::Position => "POSITION",
        AccountType::Settlement => "SETTLEMENT",
        AccountType::HubReconciliation => "HUB_RECONCILIATION",
        AccountType::HubMultilateralSettlement => "HUB_MULTILATERAL_SETTLEMENT",
    }
}

/// The name of a posting phase in the projection.
pub fn phase_name(phase: PostingPhase) -> &'static str {
    match phase {
        PostingPhase::Posted => "POSTED",
        PostingPhase::Pending => "PENDING",
        PostingPhase::PostPending => "POST_PENDING",
        PostingPhase::VoidPending => "VOID_PENDING",
    }
}

/// The name of a ledger event.
pub fn event_name(event: &Event) -> &'static str {
    match event {
        Event::CurrencyEnabled { .. } => "CurrencyEnabled",
        Event::ParticipantCreated { .. } => "ParticipantCreated",
        Event::AccountsOpened { .. } => "AccountsOpened",
        Event::ParticipantActiveSet { .. } => "ParticipantActiveSet",
        Event::AccountActiveSet { .. } => "AccountActiveSet",
        Event::NetDebitCapSet { .. } => "NetDebitCapSet",
        Event::FundsIn { .. } => "FundsIn",
        Event::FundsOutReserved { .. } => "FundsOutReserved",
        Event::FundsOutCommitted { .. } => "FundsOutCommitted",
        Event::FundsOutAborted { .. } => "FundsOutAborted",
        Event::TransferReserved { .. } => "TransferReserved",
        Event::TransferRefused { .. } => "TransferRefused",
        Event::TransferCommitted { .. } => "TransferCommitted",
        Event::TransferAborted { .. } => "TransferAborted",
        Event::SettlementPosted { .. } => "SettlementPosted",
        Event::SettlementModelSet { .. } => "SettlementModelSet",
    }
}

/// The transfer or funds id an event is about (empty if none).
fn event_reference(event: &Event) -> String {
    match event {
        Event::FundsIn { funds_id, .. }
        | Event::FundsOutReserved { funds_id, .. }
        | Event::FundsOutCommitted { funds_id, .. }
        | Event::FundsOutAborted { funds_id, .. } => harambee_core::text::uuid_string(funds_id.0),
        Event::TransferReserved { transfer_id, .. }
        | Event::TransferRefused { transfer_id, .. }
        | Event::TransferCommitted { transfer_id, .. }
        | Event::TransferAborted { transfer_id, .. } => {
            harambee_core::text::uuid_string(transfer_id.0)
        }
        Event::SettlementPosted { settlement_id, .. } => format!("settlement-{settlement_id}"),
        _ => String::new(),
    }
}

/// The notices of some batches, as stored for the Notifications stream.
pub fn notice_rows(st: &State, batches: &[Arc<EventBatch>]) -> Vec<NoticeRow> {
    batches
        .iter()
        .flat_map(|b| &b.records)
        .flat_map(|r| r.notices.iter().map(move |n| (r.offset, n)))
        .filter_map(|(offset, draft)| {
            use crate::notices::{STORED_WHOLE, StoredNotice};
            let (participant, stored) = crate::notices::to_stored(st, draft)?;
            let (kind, transfer_id, notification) = match stored {
                StoredNotice::Transfer { kind, transfer_id } => (
                    kind,
                    harambee_core::text::uuid_string(transfer_id.0),
                    Vec::new(),
                ),
                StoredNotice::Whole(n) => (STORED_WHOLE, String::new(), n.encode_to_vec()),
            };
            Some(NoticeRow {
                participant,
                sequence: draft.sequence.min(i64::MAX as u64) as i64,
                log_offset: offset as i64,
                time_ms: draft.time_ms,
                kind: kind.to_string(),
                transfer_id,
                notification,
            })
        })
        .collect()
}

/// The transfer rows some batches changed, as `st` has them.
fn transfer_rows(st: &State, batches: &[Arc<EventBatch>]) -> Vec<TransferRow> {
    let offset = batches.last().map_or(0, |b| b.next_offset() as i64);
    let mut ids: Vec<TransferId> = batches
        .iter()
        .flat_map(|b| b.events())
        .filter_map(|(_, _, _, event)| match event {
            Event::TransferReserved { transfer_id, .. }
            | Event::TransferRefused { transfer_id, .. }
            | Event::TransferCommitted { transfer_id, .. }
            | Event::TransferAborted { transfer_id, .. } => Some(*transfer_id),
            _ => None,
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids.iter()
        .filter_map(|id| st.ledger.transfer(*id))
        .map(|t| row(st, t, offset))
        .collect()
}

/// Every row some consecutive batches change, read against `st` (any state
/// at or after them: names and final transfers never change), and the
/// checkpoint after them. The live projector and `rebuild_from_log` both
/// write through this.
pub fn projection_write(st: &State, batches: &[Arc<EventBatch>], reader: &str) -> ProjectionWrite {
    let mut write = ProjectionWrite {
        transfers: transfer_rows(st, batches),
        state: batch_state_rows(st, batches),
        postings: posting_rows(st, batches),
        notices: notice_rows(st, batches),
        checkpoint: batches
            .last()
            .map(|b| (reader.to_string(), b.next_offset())),
        keys: WriteKeys::default(),
    };
    // A party registered and deregistered in the same write: one row.
    write.dedupe();
    write
}

/// How long one projection write may take before it counts as failed (a
/// database that went away can leave a connection hanging).
pub const WRITE_TIMEOUT_MS: u64 = 30_000;

async fn write_with_timeout(store: &dyn ProjectionStore, write: &ProjectionWrite) -> Result<()> {
    tokio::time::timeout(
        std::time::Duration::from_millis(WRITE_TIMEOUT_MS),
        store.write(write),
    )
    .await
    .map_err(|_| ProjectionError::Timeout(WRITE_TIMEOUT_MS))?
}

/// Keeps the projections current while this node is the ledger writer (in
/// a cluster the writer alone writes them), until the switch stops: reads
/// the feed from the stored checkpoint, writes each run of records with the
/// checkpoint after it, and after any failure reads the checkpoint back
/// from the store and goes on from there.
pub async fn run(
    engine: Engine,
    store: Arc<dyn ProjectionStore>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut writer = engine.writer_changes();
    let mut pruned_at = std::time::Instant::now();
    let pause = || tokio::time::sleep(std::time::Duration::from_millis(RETRY_PAUSE_MS));
    'term: loop {
        // Only the writer projects.
        tokio::select! {
            elected = writer.wait_for(|w| *w) => if elected.is_err() { return },
            _ = stop.wait_for(|s| *s) => return,
        }
        let from = match store.checkpoint(PROJECTOR).await {
            Ok(c) => c.unwrap_or(0),
            Err(e) => {
                tracing::error!(error = %e, "projection store unavailable; retrying");
                metrics::counter!("harambee_projection_failures_total").increment(1);
                tokio::select! { _ = pause() => {}, _ = stop.wait_for(|s| *s) => return }
                continue 'term;
            }
        };
        let mut reader = engine.feed().reader(from);
        loop {
            let next = tokio::select! {
                next = reader.next(RECORDS_PER_WRITE_MAX) => next,
                changed = writer.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    continue 'term;
                }
                _ = stop.wait_for(|s| *s) => return,
            };
            let batches = match next {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, "the projector could not read the feed; retrying");
                    metrics::counter!("harambee_projection_failures_total").increment(1);
                    tokio::select! { _ = pause() => {}, _ = stop.wait_for(|s| *s) => return }
                    continue 'term;
                }
            };
            // Batch by batch, so that the engine never waits long for the
            // state's lock.
            let mut write = ProjectionWrite::default();
            for batch in &batches {
                let Ok(st) = engine.read() else { return };
                write.extend(projection_write(
                    &st,
                    std::slice::from_ref(batch),
                    PROJECTOR,
                ));
            }
            let started = std::time::Instant::now();
            match write_with_timeout(store.as_ref(), &write).await {
                Ok(()) => {
                    metrics::histogram!("harambee_projection_write_seconds")
                        .record(started.elapsed().as_secs_f64());
                    metrics::counter!("harambee_projection_rows_total")
                        .increment(write.rows() as u64);
                    let behind = engine.feed().applied().saturating_sub(reader.position());
                    metrics::gauge!("harambee_projection_lag_records").set(behind as f64);
                }
                Err(e) => {
                    tracing::error!(error = %e, rows = write.rows(), "projection write failed; going on from the stored checkpoint");
                    metrics::counter!("harambee_projection_failures_total").increment(1);
                    tokio::select! { _ = pause() => {}, _ = stop.wait_for(|s| *s) => return }
                    continue 'term;
                }
            }
            if pruned_at.elapsed() >= std::time::Duration::from_millis(NOTICE_PRUNE_INTERVAL_MS) {
                pruned_at = std::time::Instant::now();
                let names: Vec<String> = match engine.read() {
                    Ok(st) => st
                        .ledger
                        .participants()
                        .iter()
                        .map(|p| p.name.clone())
                        .collect(),
                    Err(_) => return,
                };
                let before_ms = harambee_engine::clock::now_ms() - NOTICE_RETENTION_MS;
                for name in names {
                    match store.prune_notices(&name, before_ms).await {
                        Ok(0) => {}
                        Ok(n) => {
                            tracing::info!(deleted = n, participant = %name, "old notices deleted")
                        }
                        Err(e) => tracing::warn!(error = %e, "could not delete old notices"),
                    }
                }
            }
        }
    }
}

/// What `rebuild_from_log` wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rebuilt {
    /// Records replayed.
    pub records: u64,
    pub transfers: usize,
    pub postings: usize,
    pub positions: usize,
    pub notices: usize,
}

/// Records replayed per write by `rebuild_from_log`.
pub const REBUILD_RECORDS_PER_WRITE: usize = 16_384;

/// Rebuilds every projection from the event log: replays the whole log
/// into a fresh state through the one replay path, and writes what each
/// run of records did exactly as the live projector does (rows, postings,
/// notices, and the checkpoint). Rows already stored are left or replaced
/// by the same or later ones, so the switch may keep running. `progress` is
/// told the offset reached.
pub async fn rebuild_from_log(
    log: &dyn harambee_log::CommandLog,
    store: &dyn ProjectionStore,
    mut progress: impl FnMut(Offset),
) -> Result<Rebuilt> {
    let mut state = State::default();
    let mut done = Rebuilt::default();
    loop {
        let rows = log
            .read(state.next_offset, REBUILD_RECORDS_PER_WRITE)
            .await?;
        if rows.is_empty() {
            break;
        }
        let first = state.next_offset;
        let records = harambee_engine::feed::dense_from(first, rows)?;
        done.records += records.len() as u64;
        let (_, batch) = harambee_engine::feed::apply_records(&mut state, first, &records);
        let write = projection_write(&state, &[Arc::new(batch)], PROJECTOR);
        done.postings += write.postings.len();
        done.notices += write.notices.len();
        store.write(&write).await?;
        progress(state.next_offset);
    }
    // Every position, whether or not a record of the log touched it.
    let pairs: Vec<_> = state
        .ledger
        .participants()
        .iter()
        .flat_map(|p| {
            state
                .ledger
                .currencies()
                .into_iter()
                .map(move |c| (p.id, c))
        })
        .collect();
    let positions = position_rows(&state, pairs.into_iter(), state.next_offset as i64);
    done.positions = positions.len();
    done.transfers = state.ledger.transfer_count();
    store
        .write(&ProjectionWrite {
            state: StateRows {
                positions,
                ..StateRows::default()
            },
            ..ProjectionWrite::default()
        })
        .await?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transfer(id: &str, state: &str, log_offset: i64) -> TransferRow {
        TransferRow {
            transfer_id: id.into(),
            payer: "a".into(),
            payee: "b".into(),
            currency: "USD".into(),
            amount: "1.00".into(),
            state: state.into(),
            reason: 0,
            condition: String::new(),
            fulfilment: String::new(),
            expires_at_ms: 0,
            prepared_at_ms: 0,
            resolved_at_ms: 0,
            log_offset,
        }
    }

    fn party(owner: &str, log_offset: i64) -> PartyRow {
        PartyRow {
            party_type: "MSISDN".into(),
            party_id: "1".into(),
            sub_id: String::new(),
            owner: owner.into(),
            log_offset,
        }
    }

    #[test]
    fn an_extended_write_holds_one_row_per_key_the_latest_in_its_place() {
        let mut write = ProjectionWrite::default();
        for (offset, (id, state)) in [("t1", "RESERVED"), ("t2", "RESERVED"), ("t1", "COMMITTED")]
            .into_iter()
            .enumerate()
        {
            let mut later = ProjectionWrite::default();
            later.transfers.push(transfer(id, state, offset as i64));
            later
                .state
                .parties
                .push(party(if offset == 2 { "" } else { "b" }, offset as i64));
            later.checkpoint = Some((PROJECTOR.into(), offset as u64 + 1));
            write.extend(later);
        }
        let states: Vec<(&str, &str)> = write
            .transfers
            .iter()
            .map(|t| (t.transfer_id.as_str(), t.state.as_str()))
            .collect();
        assert_eq!(states, [("t1", "COMMITTED"), ("t2", "RESERVED")]);
        assert_eq!(write.state.parties.len(), 1);
        assert_eq!(write.state.parties[0].owner, "", "the latest row wins");
        assert_eq!(write.checkpoint, Some((PROJECTOR.to_string(), 3)));
    }

    #[test]
    fn dedupe_keeps_the_latest_row_of_each_key() {
        let mut write = ProjectionWrite::default();
        write.state.parties = vec![party("b", 1), party("", 2)];
        write.dedupe();
        assert_eq!(write.state.parties, vec![party("", 2)]);
        // And extending after it still finds the keys.
        let mut later = ProjectionWrite::default();
        later.state.parties.push(party("c", 3));
        write.extend(later);
        assert_eq!(write.state.parties, vec![party("c", 3)]);
    }
}
