//! Projections: the transfers as SQL rows, for the operator's queries and
//! reports. Written in batches by a task that follows the engine's events,
//! idempotent (a row is only replaced by a newer log position), and
//! rebuilt from the state whenever the task fell behind or starts: the log
//! is the truth, the projection a convenience that can always be rebuilt.

use std::path::Path;
use std::str::FromStr;

use harambee_ledger::{Event, Resolution, TransferId, TransferRecord, TransferState};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Postgres, QueryBuilder, Row, Sqlite, SqlitePool};
use tokio::sync::broadcast::error::RecvError;

use crate::edge::Ctx;
use crate::record::{DirectoryCommand, PartyKey, QuoteRecord};
use crate::validate;

/// Pause between two attempts to rebuild a projection whose store failed.
pub const REBUILD_RETRY_MS: u64 = 1_000;

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
}

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
            .synchronous(SqliteSynchronous::Normal);
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
        let pool = PgPoolOptions::new().max_connections(8).connect(url).await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(PgProjections { pool })
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
    let st = ctx.engine.read();
    let offset = st.next_offset as i64;
    let pairs: Vec<_> = st
        .ledger
        .participants()
        .iter()
        .flat_map(|p| st.ledger.currencies().into_iter().map(move |c| (p.id, c)))
        .collect();
    StateRows {
        positions: position_rows(&st, pairs.into_iter(), offset),
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
fn batch_state_rows(ctx: &Ctx, batch: &crate::engine::EventBatch) -> StateRows {
    let st = ctx.engine.read();
    let offset = batch.next_offset as i64;
    let mut pairs: Vec<(harambee_ledger::ParticipantId, harambee_ledger::Currency)> = Vec::new();
    for e in &batch.events {
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
        positions: position_rows(&st, pairs.into_iter(), offset),
        ..StateRows::default()
    };
    for (at, command) in &batch.directory {
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

/// Keeps the projection current while this node is the ledger writer (in a
/// cluster the writer alone writes projections; a node that becomes the
/// writer rebuilds them from its state first), until the switch stops.
pub async fn run(
    ctx: Ctx,
    store: std::sync::Arc<dyn ProjectionStore>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut writer = ctx.engine.writer_changes();
    loop {
        tokio::select! {
            alive = async { writer.wait_for(|w| *w).await.is_ok() } => if !alive { return },
            _ = stop.wait_for(|s| *s) => return,
        }
        if !follow(&ctx, store.as_ref(), &mut writer, &mut stop).await {
            return;
        }
    }
}

/// Writes the projection while this node writes the log. False when the
/// switch stops.
async fn follow(
    ctx: &Ctx,
    store: &dyn ProjectionStore,
    writer: &mut tokio::sync::watch::Receiver<bool>,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> bool {
    let mut events = ctx.engine.subscribe();
    let mut rebuild = true;
    loop {
        if rebuild {
            // Everything the state holds, written again: what a failed
            // write or a lagging feed missed is in it.
            let written = match store.upsert(&all_rows(ctx)).await {
                Ok(()) => store.upsert_state(&all_state_rows(ctx)).await,
                Err(e) => Err(e),
            };
            match written {
                Ok(()) => rebuild = false,
                Err(e) => {
                    tracing::error!(error = %e, "projection rebuild failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(std::time::Duration::from_millis(REBUILD_RETRY_MS)) => {}
                        _ = stop.wait_for(|s| *s) => return false,
                    }
                    // Events that arrive meanwhile are in the next rebuild.
                    events = events.resubscribe();
                    continue;
                }
            }
        }
        let received = tokio::select! {
            received = events.recv() => received,
            alive = async { writer.wait_for(|w| !*w).await.is_ok() } => return alive,
            _ = stop.wait_for(|s| *s) => return false,
        };
        let state_rows;
        let rows: Vec<TransferRow> = match received {
            Ok(batch) => {
                state_rows = batch_state_rows(ctx, &batch);
                let st = ctx.engine.read();
                let offset = batch.next_offset as i64;
                let mut ids: Vec<TransferId> = batch
                    .events
                    .iter()
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
                    .map(|t| row(&st, t, offset))
                    .collect()
            }
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "projection fell behind; rebuilding from the state");
                rebuild = true;
                continue;
            }
            Err(RecvError::Closed) => return false,
        };
        if rows.is_empty() && state_rows.is_empty() {
            continue;
        }
        let started = std::time::Instant::now();
        let written = match store.upsert(&rows).await {
            Ok(()) if !state_rows.is_empty() => store.upsert_state(&state_rows).await,
            other => other,
        };
        match written {
            Ok(()) => {
                metrics::histogram!("harambee_projection_write_seconds")
                    .record(started.elapsed().as_secs_f64());
                metrics::counter!("harambee_projection_rows_total").increment(rows.len() as u64);
            }
            Err(e) => {
                tracing::error!(error = %e, rows = rows.len(), "projection write failed; rebuilding");
                metrics::counter!("harambee_projection_failures_total").increment(1);
                rebuild = true;
            }
        }
    }
}
