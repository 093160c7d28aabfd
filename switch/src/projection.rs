//! Projections: the transfers as SQL rows, for the operator's queries and
//! reports. Written in batches by a task that follows the engine's events,
//! idempotent (a row is only replaced by a newer log position), and
//! rebuilt from the state whenever the task fell behind or starts: the log
//! is the truth, the projection a convenience that can always be rebuilt.

use std::collections::VecDeque;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use harambee_ledger::{
    AccountType, Event, Owner, PostingPhase, Resolution, TransferId, TransferRecord, TransferState,
};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Postgres, QueryBuilder, Row, Sqlite, SqlitePool};
use tokio::sync::broadcast::error::RecvError;

use crate::edge::Ctx;
use crate::engine::{EventBatch, LedgerEventAt};
use crate::log::Offset;
use crate::record::{DirectoryCommand, PartyKey, QuoteRecord};
use crate::validate;

/// Pause between two attempts to rebuild a projection whose store failed.
pub const REBUILD_RETRY_MS: u64 = 1_000;

/// Postings held in memory until the store takes them (see
/// `HeldPostings`): a few hundred bytes each, so at most some 50 MB. A
/// follower holds the latest ones, to write what a dead writer had not.
pub const POSTINGS_HELD_MAX: usize = 1 << 17;

/// How long a query waits for a PostgreSQL connection.
pub const PG_ACQUIRE_TIMEOUT_MS: u64 = 3_000;

/// Engine batches written to the projection in one transaction, at most.
pub const BATCHES_PER_WRITE_MAX: usize = 256;

/// Rows written in one statement.
pub const ROWS_PER_STATEMENT: usize = 500;

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
}

/// Positions, parties and quotes to write.
#[derive(Clone, Debug, Default)]
pub struct StateRows {
    pub positions: Vec<PositionRow>,
    pub parties: Vec<PartyRow>,
    pub quotes: Vec<QuoteRow>,
}

impl StateRows {
    fn is_empty(&self) -> bool {
        self.positions.is_empty() && self.parties.is_empty() && self.quotes.is_empty()
    }
}

/// Filters of a transfer query.
#[derive(Clone, Debug, Default)]
pub struct TransferQuery {
    pub participant: Option<String>,
    pub state: Option<&'static str>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
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

/// Where projections are stored: SQLite (embedded) or PostgreSQL.
#[async_trait::async_trait]
pub trait ProjectionStore: Send + Sync + 'static {
    /// Writes rows; a row replaces a stored one only if it is from the same
    /// or a later log position.
    async fn upsert(&self, rows: &[TransferRow]) -> anyhow::Result<()>;
    /// Transfers matching a query, by id.
    async fn transfers(&self, query: &TransferQuery) -> anyhow::Result<Vec<TransferRow>>;
    /// Writes positions, parties and quotes, in one transaction, each row
    /// replacing a stored one only if it is from the same or a later log
    /// position.
    async fn upsert_state(&self, rows: &StateRows) -> anyhow::Result<()>;
    /// Every projected position, by participant and currency.
    async fn positions(&self) -> anyhow::Result<Vec<PositionRow>>;
    async fn party_owner(
        &self,
        party_type: &str,
        party_id: &str,
        sub_id: &str,
    ) -> anyhow::Result<Option<String>>;
    async fn quote(&self, quote_id: &str) -> anyhow::Result<Option<QuoteRow>>;
    /// Writes postings; one already stored is left as it is.
    async fn insert_postings(&self, rows: &[PostingRow]) -> anyhow::Result<()>;
    /// Postings matching a query, in log order.
    async fn postings(&self, query: &PostingQuery) -> anyhow::Result<Vec<PostingRow>>;
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
    pub async fn open(path: &Path) -> anyhow::Result<SqliteProjections> {
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
    pub async fn connect(url: &str) -> anyhow::Result<PgProjections> {
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
/// into the column's type, `$amount` reads it back as text.
macro_rules! projection_store {
    ($store:ty, $db:ty, $cast:literal, $amount:literal, $text:ident) => {
        #[async_trait::async_trait]
        impl ProjectionStore for $store {
            async fn upsert(&self, rows: &[TransferRow]) -> anyhow::Result<()> {
                let mut tx = self.pool.begin().await?;
                for chunk in rows.chunks(ROWS_PER_STATEMENT) {
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
                tx.commit().await?;
                Ok(())
            }

            async fn upsert_state(&self, rows: &StateRows) -> anyhow::Result<()> {
                let mut tx = self.pool.begin().await?;
                for chunk in rows.positions.chunks(ROWS_PER_STATEMENT) {
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
                for chunk in rows.parties.chunks(ROWS_PER_STATEMENT) {
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
                for chunk in rows.quotes.chunks(ROWS_PER_STATEMENT) {
                    let mut q: QueryBuilder<$db> = QueryBuilder::new(
                        "INSERT INTO quotes (quote_id, payer, payee, expires_at_ms, recorded_at_ms, log_offset) ",
                    );
                    q.push_values(chunk, |mut b, r| {
                        b.push_bind(r.quote_id.clone())
                            .push_bind(r.payer.clone())
                            .push_bind(r.payee.clone())
                            .push_bind(r.expires_at_ms)
                            .push_bind(r.recorded_at_ms)
                            .push_bind(r.log_offset);
                    });
                    // A quote never changes once agreed.
                    q.push(" ON CONFLICT (quote_id) DO NOTHING");
                    q.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn positions(&self) -> anyhow::Result<Vec<PositionRow>> {
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

            async fn party_owner(&self, party_type: &str, party_id: &str, sub_id: &str) -> anyhow::Result<Option<String>> {
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

            async fn quote(&self, quote_id: &str) -> anyhow::Result<Option<QuoteRow>> {
                let row = sqlx::query(
                    "SELECT quote_id, payer, payee, expires_at_ms, recorded_at_ms, log_offset FROM quotes WHERE quote_id = $1",
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
                }))
            }

            async fn insert_postings(&self, rows: &[PostingRow]) -> anyhow::Result<()> {
                let mut tx = self.pool.begin().await?;
                for chunk in rows.chunks(ROWS_PER_STATEMENT) {
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
                tx.commit().await?;
                Ok(())
            }

            async fn postings(&self, query: &PostingQuery) -> anyhow::Result<Vec<PostingRow>> {
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

            async fn transfers(&self, query: &TransferQuery) -> anyhow::Result<Vec<TransferRow>> {
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

projection_store!(SqliteProjections, Sqlite, "", "amount", as_is);
projection_store!(
    PgProjections,
    Postgres,
    "::numeric",
    "amount::text",
    numeric_text
);

/// The wire name of a state in the projection.
pub fn state_name(state: TransferState) -> &'static str {
    match state {
        TransferState::Reserved => "RESERVED",
        TransferState::Committed => "COMMITTED",
        TransferState::Aborted | TransferState::Refused => "ABORTED",
    }
}

fn row(ctx_state: &crate::state::State, t: &TransferRecord, log_offset: i64) -> TransferRow {
    let name = |p| {
        ctx_state
            .ledger
            .participant(p)
            .map(|x| x.name.clone())
            .unwrap_or_default()
    };
    TransferRow {
        transfer_id: validate::uuid_string(t.id.0),
        payer: name(t.payer),
        payee: name(t.payee),
        currency: t.currency.to_string(),
        amount: t.currency.to_decimal(t.amount).to_string(),
        state: state_name(t.state).to_string(),
        reason: t.reason,
        condition: validate::b64url(&t.condition),
        fulfilment: match (t.state, t.resolution) {
            (TransferState::Committed, Some(Resolution::Fulfil(f))) => validate::b64url(&f),
            _ => String::new(),
        },
        expires_at_ms: t.expires_at_ms,
        prepared_at_ms: t.prepared_at_ms,
        resolved_at_ms: t.resolved_at_ms,
        log_offset,
    }
}

fn position_rows<'a>(
    st: &crate::state::State,
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
                position: c.to_decimal(view.position).to_string(),
                reserved: c.to_decimal(view.reserved).to_string(),
                liquidity: c.to_decimal(view.liquidity).to_string(),
                net_debit_cap: c.to_decimal(view.net_debit_cap).to_string(),
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
    }
}

/// Every position, party and quote of the current state, as rows.
fn all_state_rows(ctx: &Ctx) -> StateRows {
    state_rows_of(&ctx.engine.read())
}

/// Every position, party and quote of a state, as rows.
fn state_rows_of(st: &crate::state::State) -> StateRows {
    let offset = st.next_offset as i64;
    let pairs: Vec<_> = st
        .ledger
        .participants()
        .iter()
        .flat_map(|p| st.ledger.currencies().into_iter().map(move |c| (p.id, c)))
        .collect();
    StateRows {
        positions: position_rows(st, pairs.into_iter(), offset),
        parties: st
            .directory
            .parties()
            .map(|(k, owner)| party_row(k, owner, offset))
            .collect(),
        quotes: st
            .directory
            .quotes()
            .map(|q| quote_row(q, offset))
            .collect(),
    }
}

/// The rows a batch changed: positions of the participants its events
/// name, parties and quotes of its directory records.
fn batch_state_rows(st: &crate::state::State, batches: &[Arc<EventBatch>]) -> StateRows {
    let offset = batches.last().map_or(0, |b| b.next_offset as i64);
    let mut pairs: Vec<(harambee_ledger::ParticipantId, harambee_ledger::Currency)> = Vec::new();
    for e in batches.iter().flat_map(|b| &b.events) {
        match &e.event {
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
    for (at, command) in batches.iter().flat_map(|b| &b.directory) {
        let at = *at as i64;
        match command {
            DirectoryCommand::RegisterParty { owner, party } => {
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

/// Every transfer of the current state, as rows.
fn all_rows(ctx: &Ctx) -> Vec<TransferRow> {
    let st = ctx.engine.read();
    let offset = st.next_offset as i64;
    st.ledger.transfers().map(|t| row(&st, t, offset)).collect()
}

/// The postings of ledger events (those that moved money), each with its
/// event's index in its record.
pub fn posting_rows<'a>(
    st: &crate::state::State,
    events: impl IntoIterator<Item = (u32, &'a LedgerEventAt)>,
) -> Vec<PostingRow> {
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
    events
        .into_iter()
        .filter_map(|(index, at)| {
            let posting = at.event.posting()?;
            let (debit_owner, debit_type) = owner(posting.debit);
            let (credit_owner, credit_type) = owner(posting.credit);
            Some(PostingRow {
                log_offset: at.offset as i64,
                event_index: i64::from(index),
                time_ms: at.time_ms,
                event: event_name(&at.event).to_string(),
                reference: event_reference(&at.event),
                debit_account: i64::from(posting.debit.0),
                debit_owner,
                debit_type: debit_type.to_string(),
                credit_account: i64::from(posting.credit.0),
                credit_owner,
                credit_type: credit_type.to_string(),
                currency: posting.currency.to_string(),
                amount: posting.currency.to_decimal(posting.amount).to_string(),
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
        | Event::FundsOutAborted { funds_id, .. } => validate::uuid_string(funds_id.0),
        Event::TransferReserved { transfer_id, .. }
        | Event::TransferRefused { transfer_id, .. }
        | Event::TransferCommitted { transfer_id, .. }
        | Event::TransferAborted { transfer_id, .. } => validate::uuid_string(transfer_id.0),
        Event::SettlementPosted { settlement_id, .. } => format!("settlement-{settlement_id}"),
        _ => String::new(),
    }
}

/// Postings made but not yet known to be in the store: those of the events
/// replayed at start, of records applied while following another writer,
/// and of batches whose write failed. Bounded: beyond
/// `POSTINGS_HELD_MAX` the oldest are dropped, counted as a gap that only
/// `harambee projections rebuild` fills.
struct HeldPostings {
    rows: VecDeque<PostingRow>,
    /// (offset, index) of the last event seen, to index the next.
    last: Option<(Offset, u32)>,
}

impl HeldPostings {
    fn push_events(&mut self, st: &crate::state::State, events: &[LedgerEventAt]) {
        let positioned = crate::events::positioned(events, self.last);
        if let Some((i, e)) = positioned.last() {
            self.last = Some((e.offset, *i));
        }
        let rows = posting_rows(st, positioned);
        for row in rows {
            if self.rows.len() >= POSTINGS_HELD_MAX {
                self.rows.pop_front();
                metrics::counter!("harambee_projection_postings_dropped_total").increment(1);
            }
            self.rows.push_back(row);
        }
    }
}

/// Keeps the projections current while this node is the ledger writer (in
/// a cluster the writer alone writes projections; a node that becomes the
/// writer rebuilds them from its state first), until the switch stops.
/// Transfers, positions, parties and quotes are state: a rebuild writes
/// them whole from the engine's state. Postings are history: they are
/// written from the events of each batch, and those not yet written are
/// held (see `HeldPostings`) until a write succeeds.
pub async fn run(
    ctx: Ctx,
    store: std::sync::Arc<dyn ProjectionStore>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut writer = ctx.engine.writer_changes();
    let mut feed = ctx.engine.subscribe();
    let mut held = HeldPostings {
        rows: VecDeque::new(),
        last: None,
    };
    {
        let recovered = ctx.engine.recovered_events();
        let st = ctx.engine.read();
        held.push_events(&st, &recovered);
    }
    let mut rebuild = true;
    loop {
        let is_writer = *writer.borrow_and_update();
        if is_writer && rebuild {
            // Everything the state holds, written again: what a failed
            // write or a lagging feed missed is in it.
            match write_all(&ctx, &store, &held.rows).await {
                Ok(()) => {
                    held.rows.clear();
                    rebuild = false;
                }
                Err(e) => {
                    tracing::error!(error = %e, "projection rebuild failed; retrying");
                    metrics::counter!("harambee_projection_failures_total").increment(1);
                    tokio::select! {
                        _ = tokio::time::sleep(std::time::Duration::from_millis(REBUILD_RETRY_MS)) => {}
                        _ = stop.wait_for(|s| *s) => return,
                    }
                    // Drain what arrived meanwhile: the next rebuild has the
                    // state; keep the postings.
                    loop {
                        match feed.try_recv() {
                            Ok(batch) => {
                                let st = ctx.engine.read();
                                held.push_events(&st, &batch.events);
                            }
                            Err(tokio::sync::broadcast::error::TryRecvError::Lagged(missed)) => {
                                postings_gap(missed);
                            }
                            Err(_) => break,
                        }
                    }
                    continue;
                }
            }
        }
        let received = tokio::select! {
            received = feed.recv() => received,
            changed = writer.changed() => {
                if changed.is_err() {
                    return;
                }
                // A new term as the writer: write everything again.
                rebuild = true;
                continue;
            }
            _ = stop.wait_for(|s| *s) => return,
        };
        let mut batches = match received {
            Ok(batch) => vec![batch],
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "projection fell behind; rebuilding from the state");
                postings_gap(missed);
                rebuild = true;
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        // Whatever else is waiting goes into the same write: under load one
        // transaction covers many engine batches.
        while batches.len() < BATCHES_PER_WRITE_MAX {
            match feed.try_recv() {
                Ok(batch) => batches.push(batch),
                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(missed)) => {
                    postings_gap(missed);
                    rebuild = true;
                    break;
                }
                Err(_) => break,
            }
        }
        let (rows, state_rows) = {
            let st = ctx.engine.read();
            for batch in &batches {
                held.push_events(&st, &batch.events);
            }
            if !is_writer || rebuild {
                continue;
            }
            (batch_rows(&st, &batches), batch_state_rows(&st, &batches))
        };
        let started = std::time::Instant::now();
        match write_batch(store.as_ref(), &rows, &state_rows, &held.rows).await {
            Ok(()) => {
                metrics::histogram!("harambee_projection_write_seconds")
                    .record(started.elapsed().as_secs_f64());
                metrics::counter!("harambee_projection_rows_total")
                    .increment((rows.len() + held.rows.len()) as u64);
                held.rows.clear();
            }
            Err(e) => {
                tracing::error!(error = %e, rows = rows.len(), "projection write failed; rebuilding");
                metrics::counter!("harambee_projection_failures_total").increment(1);
                rebuild = true;
            }
        }
    }
}

/// Postings of `missed` batches were never seen: only a rebuild from the
/// log restores them.
fn postings_gap(missed: u64) {
    tracing::error!(
        missed,
        "postings of missed batches are not projected; run `harambee projections rebuild`"
    );
    metrics::counter!("harambee_projection_postings_gaps_total").increment(1);
}

/// Writes the whole state and the held postings.
async fn write_all(
    ctx: &Ctx,
    store: &std::sync::Arc<dyn ProjectionStore>,
    postings: &VecDeque<PostingRow>,
) -> anyhow::Result<()> {
    let rows = all_rows(ctx);
    let state_rows = all_state_rows(ctx);
    write_batch(store.as_ref(), &rows, &state_rows, postings).await
}

/// How long one projection write may take before it counts as failed (a
/// database that went away can leave a connection hanging).
pub const WRITE_TIMEOUT_MS: u64 = 30_000;

async fn write_batch(
    store: &dyn ProjectionStore,
    rows: &[TransferRow],
    state_rows: &StateRows,
    postings: &VecDeque<PostingRow>,
) -> anyhow::Result<()> {
    tokio::time::timeout(
        std::time::Duration::from_millis(WRITE_TIMEOUT_MS),
        write_batch_now(store, rows, state_rows, postings),
    )
    .await
    .map_err(|_| anyhow::anyhow!("projection write timed out after {WRITE_TIMEOUT_MS} ms"))?
}

async fn write_batch_now(
    store: &dyn ProjectionStore,
    rows: &[TransferRow],
    state_rows: &StateRows,
    postings: &VecDeque<PostingRow>,
) -> anyhow::Result<()> {
    if !rows.is_empty() {
        store.upsert(rows).await?;
    }
    if !state_rows.is_empty() {
        store.upsert_state(state_rows).await?;
    }
    if !postings.is_empty() {
        let (a, b) = postings.as_slices();
        store.insert_postings(a).await?;
        store.insert_postings(b).await?;
    }
    Ok(())
}

/// The transfer rows some batches changed, as they are now.
fn batch_rows(st: &crate::state::State, batches: &[Arc<EventBatch>]) -> Vec<TransferRow> {
    let offset = batches.last().map_or(0, |b| b.next_offset as i64);
    let mut ids: Vec<TransferId> = batches
        .iter()
        .flat_map(|b| &b.events)
        .filter_map(|e| match &e.event {
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

/// What `rebuild_from_log` wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rebuilt {
    /// Records replayed.
    pub records: u64,
    pub transfers: usize,
    pub postings: usize,
    pub positions: usize,
}

/// Postings written in one transaction by `rebuild_from_log`.
pub const REBUILD_POSTINGS_CHUNK: usize = 10_000;

/// Rebuilds every projection from the event log: replays the whole log
/// into a fresh state, writing the postings of its events as it goes, then
/// the transfers, positions, parties and quotes of the final state. Rows
/// already stored are left or replaced by the same or later ones, so the
/// switch may keep running. `progress` is told the offset reached.
pub async fn rebuild_from_log(
    log: &dyn crate::log::EventLog,
    store: &dyn ProjectionStore,
    mut progress: impl FnMut(Offset),
) -> anyhow::Result<Rebuilt> {
    use crate::record::LogRecord;
    use crate::state::{Applied, State};
    let mut state = State::default();
    let mut done = Rebuilt::default();
    let mut last: Option<(Offset, u32)> = None;
    let mut postings: Vec<PostingRow> = Vec::new();
    loop {
        let records = log
            .read(state.next_offset, crate::log::LOG_BATCH_RECORDS_MAX)
            .await?;
        if records.is_empty() {
            break;
        }
        let mut events = Vec::new();
        for (offset, record) in &records {
            let applied = state.apply(*offset, record);
            done.records += 1;
            if let (Applied::Ledger { events: made, .. }, LogRecord::Ledger(command)) =
                (applied, record)
            {
                let time_ms = crate::engine::command_time_ms(command);
                events.extend(made.into_iter().map(|event| LedgerEventAt {
                    offset: *offset,
                    time_ms,
                    event,
                }));
            }
        }
        let positioned = crate::events::positioned(&events, last);
        if let Some((i, e)) = positioned.last() {
            last = Some((e.offset, *i));
        }
        postings.extend(posting_rows(&state, positioned));
        if postings.len() >= REBUILD_POSTINGS_CHUNK {
            store.insert_postings(&postings).await?;
            done.postings += postings.len();
            postings.clear();
        }
        progress(state.next_offset);
    }
    store.insert_postings(&postings).await?;
    done.postings += postings.len();
    let offset = state.next_offset as i64;
    let transfers: Vec<TransferRow> = state
        .ledger
        .transfers()
        .map(|t| row(&state, t, offset))
        .collect();
    store.upsert(&transfers).await?;
    done.transfers = transfers.len();
    let state_rows = state_rows_of(&state);
    store.upsert_state(&state_rows).await?;
    done.positions = state_rows.positions.len();
    Ok(done)
}
