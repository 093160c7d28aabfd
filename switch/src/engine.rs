//! The engine: the single writer. It takes records from the API edge,
//! appends them to the event log in batches (group commit), applies them to
//! the state in log order, and answers each submitter.
//!
//! ```text
//! submit(record) --mpsc--> [ batch ] --append--> EventLog --apply--> State
//!        ^                                                            |
//!        '-------------------- oneshot reply (Applied) ---------------'
//! ```
//!
//! Architecture invariant: a record is applied, and its submitter answered
//! with anything but 2003, only after the log has made it durable.

use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Instant;

use harambee_proto::fspiop::FspiopError;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::log::{EventLog, LOG_BATCH_RECORDS_MAX, LogError};
use crate::record::LogRecord;
use crate::snapshots::SnapshotStore;
use crate::state::{Applied, State};

/// Submissions waiting for the engine; beyond this, submitters wait.
pub const QUEUE_DEPTH_MAX: usize = 65_536;

struct Submission {
    record: LogRecord,
    reply: oneshot::Sender<Result<Applied, FspiopError>>,
}

/// Ledger events of one applied batch, for notifications and waiters.
#[derive(Clone, Debug)]
pub struct EventBatch {
    /// The log offset after the batch.
    pub next_offset: u64,
    pub events: Vec<harambee_ledger::Event>,
}

/// Handle to the engine; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    tx: mpsc::Sender<Submission>,
    state: Arc<RwLock<State>>,
    events: broadcast::Sender<Arc<EventBatch>>,
}

impl Engine {
    /// Loads the latest snapshot, replays the log after it, and starts the
    /// writer task. Returns once the state is current.
    pub async fn start(
        log: Arc<dyn EventLog>,
        snapshots: Option<Arc<dyn SnapshotStore>>,
        snapshot_interval_records: u64,
        ledger_capacity_transfers: usize,
    ) -> anyhow::Result<(Engine, tokio::task::JoinHandle<()>)> {
        let mut state = match &snapshots {
            Some(store) => match store.latest().await? {
                Some(snapshot) => {
                    tracing::info!(next_offset = snapshot.next_offset, "restoring snapshot");
                    State::restore(snapshot)?
                }
                None => State::default(),
            },
            None => State::default(),
        };
        state.ledger.reserve_transfers(
            ledger_capacity_transfers.saturating_sub(state.ledger.transfer_count()),
        );
        let started = Instant::now();
        let replayed = replay(log.as_ref(), &mut state).await?;
        tracing::info!(
            replayed,
            next_offset = state.next_offset,
            elapsed_ms = started.elapsed().as_millis() as u64,
            digest = %state.ledger.digest(),
            "state recovered from the event log"
        );
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH_MAX);
        let (events, _) = broadcast::channel(1024);
        let state = Arc::new(RwLock::new(state));
        let engine = Engine {
            tx,
            state: state.clone(),
            events: events.clone(),
        };
        let task = tokio::spawn(run(
            rx,
            log,
            snapshots,
            snapshot_interval_records,
            state,
            events,
        ));
        Ok((engine, task))
    }

    /// Appends a record, applies it, and returns what it did. Fails with
    /// 2003 when the log cannot make it durable (nothing was applied).
    pub async fn submit(&self, record: LogRecord) -> Result<Applied, FspiopError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Submission { record, reply })
            .await
            .map_err(|_| FspiopError::new(2003, "the engine is stopping"))?;
        rx.await
            .map_err(|_| FspiopError::new(2003, "the engine stopped"))?
    }

    /// Read access to the current state. Hold it briefly: the engine waits
    /// for readers before applying the next batch.
    pub fn read(&self) -> RwLockReadGuard<'_, State> {
        // A panic while applying would poison the lock; the state it left is
        // still the last consistent one read by others, so keep serving.
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Ledger events of every batch applied from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<EventBatch>> {
        self.events.subscribe()
    }
}

/// Applies the records the log holds past the state, if its end moved past
/// it (after a failed append, some records may have landed).
async fn catch_up(log: &dyn EventLog, state: &RwLock<State>) -> Result<u64, LogError> {
    let mut applied = 0u64;
    loop {
        let from = state.read().unwrap_or_else(|p| p.into_inner()).next_offset;
        if log.end().await? <= from {
            if applied > 0 {
                tracing::warn!(
                    applied,
                    "applied records of a failed append that did become durable"
                );
            }
            return Ok(applied);
        }
        let records = log.read(from, LOG_BATCH_RECORDS_MAX).await?;
        if records.is_empty() {
            return Ok(applied);
        }
        let mut st = state.write().unwrap_or_else(|p| p.into_inner());
        for (offset, record) in &records {
            if *offset == st.next_offset {
                st.apply(*offset, record);
                applied += 1;
            }
        }
    }
}

/// Applies every record of the log from `state.next_offset` on.
pub async fn replay(log: &dyn EventLog, state: &mut State) -> Result<u64, LogError> {
    let mut replayed = 0u64;
    loop {
        let records = log.read(state.next_offset, LOG_BATCH_RECORDS_MAX).await?;
        if records.is_empty() {
            return Ok(replayed);
        }
        for (offset, record) in &records {
            state.apply(*offset, record);
            replayed += 1;
        }
    }
}

async fn run(
    mut rx: mpsc::Receiver<Submission>,
    log: Arc<dyn EventLog>,
    snapshots: Option<Arc<dyn SnapshotStore>>,
    snapshot_interval_records: u64,
    state: Arc<RwLock<State>>,
    events: broadcast::Sender<Arc<EventBatch>>,
) {
    let mut batch: Vec<Submission> = Vec::with_capacity(1024);
    let mut records: Vec<LogRecord> = Vec::with_capacity(1024);
    let mut since_snapshot = 0u64;
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < LOG_BATCH_RECORDS_MAX {
            match rx.try_recv() {
                Ok(s) => batch.push(s),
                Err(_) => break,
            }
        }
        records.clear();
        records.extend(batch.iter().map(|s| s.record.clone()));
        let started = Instant::now();
        let appended = log.append(&records).await;
        metrics::histogram!("harambee_log_append_seconds").record(started.elapsed().as_secs_f64());
        metrics::histogram!("harambee_engine_batch_records").record(records.len() as f64);
        let first_offset = match appended {
            Ok(offset) => offset,
            Err(e) => {
                tracing::error!(error = %e, records = records.len(), "event log append failed");
                metrics::counter!("harambee_log_append_failures_total").increment(1);
                for s in batch.drain(..) {
                    let _ = s
                        .reply
                        .send(Err(FspiopError::new(2003, format!("event log: {e}"))));
                }
                // Part of the batch may have become durable (a broker that
                // failed mid-batch): apply what did, so that the live state
                // stays the state a replay gives.
                if let Err(e) = catch_up(log.as_ref(), &state).await {
                    tracing::warn!(error = %e, "could not read back after a failed append");
                }
                continue;
            }
        };
        let mut applied = Vec::with_capacity(batch.len());
        let mut batch_events = Vec::new();
        {
            let mut st = state.write().unwrap_or_else(|p| p.into_inner());
            if st.next_offset != first_offset {
                // Someone else wrote to the log: this process is no longer
                // the single writer. Stop rather than diverge.
                tracing::error!(
                    expected = st.next_offset,
                    got = first_offset,
                    "event log offset mismatch; stopping the engine"
                );
                for s in batch.drain(..) {
                    let _ = s
                        .reply
                        .send(Err(FspiopError::new(2003, "event log has another writer")));
                }
                return;
            }
            for (i, record) in records.iter().enumerate() {
                let result = st.apply(first_offset + i as u64, record);
                if let Applied::Ledger { events, .. } = &result {
                    batch_events.extend(events.iter().cloned());
                }
                applied.push(result);
            }
        }
        metrics::gauge!("harambee_log_next_offset").set(first_offset as f64 + records.len() as f64);
        // Submissions waiting for the log: the lag between the edge and the
        // durable log.
        metrics::gauge!("harambee_engine_queue_depth").set(rx.len() as f64);
        for (s, result) in batch.drain(..).zip(applied) {
            let _ = s.reply.send(Ok(result));
        }
        if !batch_events.is_empty() {
            let next_offset = first_offset + records.len() as u64;
            let _ = events.send(Arc::new(EventBatch {
                next_offset,
                events: batch_events,
            }));
        }
        since_snapshot += records.len() as u64;
        if since_snapshot >= snapshot_interval_records
            && let Some(store) = &snapshots
        {
            let snapshot = state.read().unwrap_or_else(|p| p.into_inner()).snapshot();
            match store.save(&snapshot).await {
                Ok(()) => since_snapshot = 0,
                Err(e) => tracing::warn!(error = %e, "snapshot failed; will retry"),
            }
        }
    }
    tracing::info!("engine stopped: no more submitters");
}
