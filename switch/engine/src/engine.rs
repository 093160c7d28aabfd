//! The engine: the single writer of the event log, or a follower of it.
//!
//! As the writer, it takes records from the API edge, appends them to the
//! event log in batches (group commit), applies them to the state in log
//! order, and answers each submitter:
//!
//! ```text
//! submit(record) --mpsc--> [ batch ] --append--> CommandLog --apply--> State
//!        ^                                                            |
//!        '-------------------- oneshot reply (Applied) ---------------'
//! ```
//!
//! In a cluster (several `harambee serve` sharing one Kafka log) one node
//! is the writer at a time, elected through a Kafka consumer group. The
//! others follow: they read every record the writer appends and apply it to
//! their own state, and they hand their own submissions to the writer
//! (`Forwarder`). A follower answers its submitter once it has applied the
//! record itself: applying is deterministic, so its outcome is the
//! writer's. When the writer is gone, the group elects another node, which
//! reads the log to its end, announces itself in the log (`SetWriter`), and
//! starts writing.
//!
//! Architecture invariant: a record is applied, and its submitter answered
//! with anything but 2003, only after the log has made it durable.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::FutureExt as _;
use harambee_core::error::{ErrorCode, SwitchError};
use tokio::sync::{mpsc, oneshot, watch};

use crate::feed::{self, Feed, dense_from};
use crate::snapshots::SnapshotStore;
use harambee_core::record::{DirectoryCommand, LogRecord};
use harambee_core::state::{Applied, State};
use harambee_log::failpoints;
use harambee_log::{CommandLog, LOG_BATCH_RECORDS_MAX, LogError, Offset};

/// Submissions waiting for the engine; beyond this, submitters wait.
pub const QUEUE_DEPTH_MAX: usize = 65_536;
/// Outcomes a follower keeps for submitters whose answer from the writer
/// arrives after the follower has already applied the record.
pub const RECENT_OUTCOMES_MAX: usize = 65_536;
/// How long one read of a follower waits for new records.
pub const FOLLOW_WAIT_MS: u64 = 100;
/// Pause before retrying after the log failed a follower or a takeover.
pub const RETRY_PAUSE_MS: u64 = 500;
/// How often a writer whose log refuses appends tries it again while no
/// request comes (so that health turns back to SERVING by itself).
pub const LOG_PROBE_INTERVAL_MS: u64 = 1_000;

type Reply = oneshot::Sender<Result<(Offset, Applied), SwitchError>>;

struct Submission {
    record: LogRecord,
    reply: Reply,
    /// May a follower hand it to the writer? (Not for records the writer
    /// was handed already: they must not travel on.)
    forward: bool,
}

/// What the engine can do now; the switch's health says the same.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineHealth {
    /// Recovering its state from the log.
    Starting,
    /// Writing (or following) the log.
    Serving,
    /// The log refuses appends: every write is answered 2003 until it takes
    /// them again. Reads still answer.
    Degraded(String),
    /// Stopped for good (an offset mismatch, a panic, a log that failed in a
    /// way that leaves what is durable unknown). The process must exit; a
    /// new one recovers from the log.
    Failed(String),
    /// Stopped because the switch is shutting down.
    Stopped,
}

impl EngineHealth {
    /// Whether the switch should say SERVING.
    pub fn is_serving(&self) -> bool {
        matches!(self, EngineHealth::Serving)
    }
}

/// Hands records to the cluster's writer (the Cluster gRPC service).
#[async_trait]
pub trait Forwarder: Send + Sync + 'static {
    /// Submits records to the writer at `url`; one result per record: its
    /// offset once durable, or why it was not appended.
    async fn submit(
        &self,
        url: &str,
        records: &[LogRecord],
    ) -> Result<Vec<Result<Offset, SwitchError>>, SwitchError>;
    /// Whether the node at `url` answers as the writer (an empty submit).
    async fn probe(&self, url: &str) -> Result<(), SwitchError>;
}

/// How the engine knows whether it writes the log.
pub enum Leadership {
    /// This process is the log's only writer (the embedded log, or a
    /// single switch on Kafka).
    Sole,
    /// Writer while `elected` says so (the Kafka consumer group); a
    /// follower otherwise.
    Elected {
        elected: watch::Receiver<bool>,
        /// This node's name and the URL of its Cluster service, announced
        /// in the log when it becomes the writer.
        node: String,
        url: String,
        forwarder: Arc<dyn Forwarder>,
    },
}

/// How an engine is started.
pub struct EngineOptions {
    pub snapshot_interval_records: u64,
    pub ledger_capacity_transfers: usize,
    /// The feed's memory budget (see `feed::FEED_BYTES_MAX`).
    pub feed_bytes_max: usize,
}

/// Handle to the engine; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    tx: mpsc::Sender<Submission>,
    state: Arc<RwLock<State>>,
    feed: Feed,
    writer: watch::Receiver<bool>,
    health: watch::Receiver<EngineHealth>,
}

/// Why an engine could not start: the state could not be recovered.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("reading the latest snapshot: {0}")]
    Snapshots(#[from] crate::snapshots::SnapshotStoreError),
    #[error("restoring the snapshot: {0}")]
    Snapshot(#[from] harambee_ledger::SnapshotError),
    #[error("replaying the log: {0}")]
    Log(#[from] LogError),
}

/// The answer of every call once the engine has failed.
fn stopped() -> SwitchError {
    SwitchError::new(
        ErrorCode::ServiceUnavailable,
        "the ledger engine stopped; the switch is restarting",
    )
}

impl Engine {
    /// Loads the latest snapshot, replays the log after it, and starts the
    /// engine task. Returns once the state is current. The task ends when
    /// every handle is gone (or the engine fails: see `health`).
    pub async fn start(
        log: Arc<dyn CommandLog>,
        snapshots: Option<Arc<dyn SnapshotStore>>,
        options: EngineOptions,
        leadership: Leadership,
    ) -> Result<(Engine, tokio::task::JoinHandle<()>), StartError> {
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
            options
                .ledger_capacity_transfers
                .saturating_sub(state.ledger.transfer_count()),
        );
        let started = Instant::now();
        let feed = Feed::new(
            state.next_offset,
            log.clone(),
            snapshots.clone(),
            options.feed_bytes_max,
        );
        // The one replay path: the feed holds what the last records did, for
        // the readers that had not caught up when the last process stopped.
        let replayed =
            feed::replay_log(log.as_ref(), &mut state, |_, batch| feed.push(batch)).await?;
        tracing::info!(
            replayed,
            next_offset = state.next_offset,
            elapsed_ms = started.elapsed().as_millis() as u64,
            digest = %state.ledger.digest(),
            "state recovered from the event log"
        );
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH_MAX);
        let (writer_tx, writer) = watch::channel(false);
        let (health_tx, health) = watch::channel(EngineHealth::Starting);
        let waiters = Waiters {
            applied_upto: state.next_offset,
            ..Waiters::default()
        };
        let state = Arc::new(RwLock::new(state));
        let engine = Engine {
            tx,
            state: state.clone(),
            feed: feed.clone(),
            writer,
            health,
        };
        let core = Core {
            log,
            state,
            feed,
            waiters: Arc::new(Mutex::new(waiters)),
            snapshots,
            snapshot_interval_records: options.snapshot_interval_records,
            since_snapshot: 0,
            writer: writer_tx,
            health: health_tx.clone(),
        };
        let task = tokio::spawn(supervised(core, rx, leadership, health_tx));
        Ok((engine, task))
    }

    /// Appends a record, applies it, and returns what it did. Fails with
    /// 2003 when the log cannot make it durable (nothing was applied). On a
    /// follower the record goes to the cluster's writer.
    pub async fn submit(&self, record: LogRecord) -> Result<Applied, SwitchError> {
        self.send(record, true).await.map(|(_, applied)| applied)
    }

    /// Like `submit`, but only if this process is the writer (2003
    /// otherwise); also returns the record's offset. For records another
    /// node handed over.
    pub async fn submit_as_writer(
        &self,
        record: LogRecord,
    ) -> Result<(Offset, Applied), SwitchError> {
        self.send(record, false).await
    }

    async fn send(
        &self,
        record: LogRecord,
        forward: bool,
    ) -> Result<(Offset, Applied), SwitchError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Submission {
                record,
                reply,
                forward,
            })
            .await
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// Read access to the current state. Hold it briefly: the engine waits
    /// for readers before applying the next batch. Refused (2003) once the
    /// engine has failed: a state that a panic may have left half-applied
    /// is never read.
    pub fn read(&self) -> Result<RwLockReadGuard<'_, State>, SwitchError> {
        if matches!(*self.health.borrow(), EngineHealth::Failed(_)) {
            return Err(stopped());
        }
        self.state.read().map_err(|_| stopped())
    }

    /// What the engine applied, for the read side.
    pub fn feed(&self) -> &Feed {
        &self.feed
    }

    /// Whether this process writes the log now.
    pub fn is_writer(&self) -> bool {
        *self.writer.borrow()
    }

    /// Follows the changes of `is_writer`.
    pub fn writer_changes(&self) -> watch::Receiver<bool> {
        self.writer.clone()
    }

    /// Follows what the engine can do.
    pub fn health(&self) -> watch::Receiver<EngineHealth> {
        self.health.clone()
    }
}

/// Submitters of a follower waiting for the records they handed to the
/// writer.
#[derive(Default)]
struct Waiters {
    /// Offset -> the submitter of the record the writer put there.
    pending: HashMap<Offset, Reply>,
    /// Outcomes applied while hand-overs were in flight, by offset.
    recent: VecDeque<(Offset, Applied)>,
    /// Hand-overs in flight (records).
    outstanding: usize,
    /// Every record below this offset has been applied (and `pending`
    /// answered).
    applied_upto: Offset,
}

impl Waiters {
    /// Answers `reply` with the outcome at `offset`, now or once applied.
    fn wait(&mut self, offset: Offset, reply: Reply) {
        if offset >= self.applied_upto {
            self.pending.insert(offset, reply);
            return;
        }
        let found = self
            .recent
            .binary_search_by_key(&offset, |(o, _)| *o)
            .ok()
            .and_then(|i| self.recent.get(i));
        let _ = reply.send(match found {
            Some((_, applied)) => Ok((offset, applied.clone())),
            None => Err(SwitchError::new(
                ErrorCode::ServiceUnavailable,
                "the request was recorded but its outcome is no longer held here; repeat it (requests are idempotent)",
            )),
        });
    }
}

/// Why a writing or following phase ended.
enum Exit {
    /// No more submitters: the switch is stopping.
    Stopped,
    /// Role change: the election says otherwise now.
    RoleChanged,
    /// The engine cannot go on (see `EngineHealth::Failed`).
    Failed(String),
}

struct Core {
    log: Arc<dyn CommandLog>,
    state: Arc<RwLock<State>>,
    feed: Feed,
    waiters: Arc<Mutex<Waiters>>,
    snapshots: Option<Arc<dyn SnapshotStore>>,
    snapshot_interval_records: u64,
    since_snapshot: u64,
    writer: watch::Sender<bool>,
    health: watch::Sender<EngineHealth>,
}

/// Answers every submission of `batch` with `error`.
fn refuse(batch: &mut Vec<Submission>, error: &SwitchError) {
    for s in batch.drain(..) {
        let _ = s.reply.send(Err(error.clone()));
    }
}

/// Takes the submissions waiting, after `first`, up to the batch limit.
fn gather(first: Submission, rx: &mut mpsc::Receiver<Submission>, batch: &mut Vec<Submission>) {
    batch.push(first);
    while batch.len() < LOG_BATCH_RECORDS_MAX {
        match rx.try_recv() {
            Ok(s) => batch.push(s),
            Err(_) => break,
        }
    }
}

impl Core {
    fn next_offset(&self) -> Offset {
        // Only the engine task writes the state: a poisoned lock means it
        // panicked, and then this code no longer runs.
        self.state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .next_offset
    }

    fn set_health(&self, health: EngineHealth) {
        self.health.send_if_modified(|h| {
            if *h == health {
                return false;
            }
            tracing::info!(from = ?h, to = ?health, "engine health changed");
            *h = health;
            true
        });
    }

    /// Applies `records` at `first` (the state's next offset) through the
    /// one replay path, hands what they did to the feed, and answers
    /// followers' waiters.
    fn apply(&mut self, first: Offset, records: &[LogRecord]) -> Vec<Applied> {
        let (results, batch) = {
            let mut st = self.state.write().unwrap_or_else(|p| p.into_inner());
            let last = (first + records.len() as Offset).saturating_sub(1);
            if failpoints::hit(failpoints::APPLY_PANIC, last) {
                // Half of the batch applied, then a panic with the lock held.
                let half = records.len() / 2;
                let _ = feed::apply_records(&mut st, first, &records[..half]);
                panic!(
                    "failpoint {}: a panic while applying",
                    failpoints::APPLY_PANIC
                );
            }
            feed::apply_records(&mut st, first, records)
        };
        let next_offset = batch.next_offset();
        {
            let mut w = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
            if !w.pending.is_empty() || w.outstanding > 0 {
                for (i, applied) in results.iter().enumerate() {
                    let offset = first + i as Offset;
                    if let Some(reply) = w.pending.remove(&offset) {
                        let _ = reply.send(Ok((offset, applied.clone())));
                    } else if w.outstanding > 0 {
                        if w.recent.len() >= RECENT_OUTCOMES_MAX {
                            w.recent.pop_front();
                        }
                        w.recent.push_back((offset, applied.clone()));
                    }
                }
            }
            w.applied_upto = next_offset;
        }
        metrics::gauge!("harambee_log_next_offset").set(next_offset as f64);
        count_outcomes(&batch);
        self.feed.push(batch);
        self.since_snapshot += records.len() as u64;
        results
    }

    /// Saves a snapshot when enough records were applied since the last.
    async fn maybe_snapshot(&mut self) {
        if self.since_snapshot < self.snapshot_interval_records {
            return;
        }
        let Some(store) = &self.snapshots else {
            return;
        };
        let snapshot = self
            .state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .snapshot();
        match store.save(&snapshot).await {
            Ok(()) => self.since_snapshot = 0,
            Err(e) => tracing::warn!(error = %e, "snapshot failed; will retry"),
        }
    }

    /// Applies the records the log holds past the state, up to `end`.
    async fn catch_up_to(&mut self, end: Offset) -> Result<u64, LogError> {
        let mut applied = 0u64;
        loop {
            let from = self.next_offset();
            if from >= end {
                return Ok(applied);
            }
            let want = ((end - from) as usize).min(LOG_BATCH_RECORDS_MAX);
            let rows = self.log.read(from, want).await?;
            if rows.is_empty() {
                return Err(LogError::Unavailable(format!(
                    "the log says it ends at {end} but gives nothing from {from}"
                )));
            }
            let records = dense_from(from, rows)?;
            applied += records.len() as u64;
            self.apply(from, &records);
        }
    }

    /// Applies the records the log holds past the state.
    async fn catch_up(&mut self) -> Result<u64, LogError> {
        let end = self.log.end().await?;
        self.catch_up_to(end).await
    }

    /// After a failed append: reopens the log, reads back its real end and
    /// applies what did land. A log that ends before what was acknowledged
    /// has lost durable records: fatal.
    async fn recover_log(&mut self) -> Result<(), LogError> {
        let end = self.log.recover().await?;
        let next = self.next_offset();
        if end < next {
            return Err(LogError::Fatal(format!(
                "the log ends at offset {end}, but records up to {next} were acknowledged"
            )));
        }
        let applied = self.catch_up_to(end).await?;
        if applied > 0 {
            tracing::warn!(
                applied,
                "applied records of a failed append that did become durable"
            );
        }
        Ok(())
    }

    /// The writer's loop: group commit until the switch stops, this node is
    /// no longer elected, or the engine fails.
    async fn write(
        &mut self,
        rx: &mut mpsc::Receiver<Submission>,
        mut elected: Option<&mut watch::Receiver<bool>>,
    ) -> Exit {
        let _ = self.writer.send(true);
        self.set_health(EngineHealth::Serving);
        let mut batch: Vec<Submission> = Vec::with_capacity(1024);
        let mut records: Vec<LogRecord> = Vec::with_capacity(1024);
        // Set while records of a failed append may be in the log unapplied:
        // nothing is appended (or acknowledged) until they are read back.
        let mut suspect = false;
        // Set while the log refuses appends (health says so).
        let mut degraded = false;
        loop {
            let first = tokio::select! {
                received = rx.recv() => match received {
                    Some(s) => s,
                    None => return Exit::Stopped,
                },
                _ = demoted(&mut elected) => {
                    tracing::warn!("no longer the elected ledger writer; following the log");
                    let _ = self.writer.send(false);
                    return Exit::RoleChanged;
                }
                _ = tokio::time::sleep(Duration::from_millis(LOG_PROBE_INTERVAL_MS)), if degraded => {
                    if suspect {
                        match self.recover_log().await {
                            Ok(()) => suspect = false,
                            Err(e) if e.is_fatal() => return Exit::Failed(e.to_string()),
                            Err(e) => {
                                tracing::debug!(error = %e, "the event log is still unavailable");
                                continue;
                            }
                        }
                    }
                    match self.log.probe().await {
                        Ok(()) => {
                            degraded = false;
                            tracing::info!("the event log takes writes again");
                            self.set_health(EngineHealth::Serving);
                        }
                        Err(e) if e.is_fatal() => return Exit::Failed(e.to_string()),
                        Err(e) => {
                            suspect = true;
                            tracing::debug!(error = %e, "the event log still refuses writes");
                        }
                    }
                    continue;
                }
            };
            gather(first, rx, &mut batch);
            if suspect {
                match self.recover_log().await {
                    Ok(()) => suspect = false,
                    Err(e) => {
                        refuse(
                            &mut batch,
                            &SwitchError::new(
                                ErrorCode::ServiceUnavailable,
                                format!("event log: {e}"),
                            ),
                        );
                        if e.is_fatal() {
                            return Exit::Failed(e.to_string());
                        }
                        continue;
                    }
                }
            }
            records.clear();
            records.extend(batch.iter().map(|s| s.record.clone()));
            let started = Instant::now();
            let appended = self.log.append(&records).await;
            metrics::histogram!("harambee_log_append_seconds")
                .record(started.elapsed().as_secs_f64());
            metrics::histogram!("harambee_engine_batch_records").record(records.len() as f64);
            let first_offset = match appended {
                Ok(offset) => offset,
                Err(e) => {
                    tracing::error!(error = %e, records = records.len(), "event log append failed");
                    metrics::counter!("harambee_log_append_failures_total").increment(1);
                    refuse(
                        &mut batch,
                        &SwitchError::new(ErrorCode::ServiceUnavailable, format!("event log: {e}")),
                    );
                    if e.is_fatal() {
                        return Exit::Failed(e.to_string());
                    }
                    degraded = true;
                    self.set_health(EngineHealth::Degraded(e.to_string()));
                    // Part of the batch may have become durable (a broker
                    // that failed mid-batch, a COMMIT that failed late):
                    // apply what did, so that the live state stays the state
                    // a replay gives. Until that is done nothing more is
                    // appended.
                    suspect = true;
                    match self.recover_log().await {
                        Ok(()) => suspect = false,
                        Err(e) if e.is_fatal() => return Exit::Failed(e.to_string()),
                        Err(e) => {
                            tracing::warn!(error = %e, "could not read back after a failed append")
                        }
                    }
                    continue;
                }
            };
            if self.next_offset() != first_offset {
                // Someone else wrote to the log: this process is no longer
                // the single writer. Stop rather than diverge.
                let reason = format!(
                    "event log offset mismatch: the state is at {}, the log appended at {first_offset}",
                    self.next_offset()
                );
                refuse(
                    &mut batch,
                    &SwitchError::new(
                        ErrorCode::ServiceUnavailable,
                        "event log has another writer",
                    ),
                );
                let _ = self.writer.send(false);
                return Exit::Failed(reason);
            }
            let applied = self.apply(first_offset, &records);
            if degraded {
                degraded = false;
                tracing::info!("the event log takes writes again");
                self.set_health(EngineHealth::Serving);
            }
            // Submissions waiting for the log: the lag between the edge and
            // the durable log.
            metrics::gauge!("harambee_engine_queue_depth").set(rx.len() as f64);
            for (i, (s, result)) in batch.drain(..).zip(applied).enumerate() {
                let _ = s.reply.send(Ok((first_offset + i as Offset, result)));
            }
            self.maybe_snapshot().await;
        }
    }

    /// A follower's loop: apply what the writer appends, hand submissions
    /// to it, until this node is elected or the switch stops.
    async fn follow(
        &mut self,
        rx: &mut mpsc::Receiver<Submission>,
        elected: &mut watch::Receiver<bool>,
        forwarder: &Arc<dyn Forwarder>,
    ) -> Exit {
        let _ = self.writer.send(false);
        self.set_health(EngineHealth::Serving);
        let stop = Arc::new(AtomicBool::new(false));
        let (tail_tx, mut tail_rx) = mpsc::channel(4);
        let tailer = tokio::spawn(tail(
            self.log.clone(),
            self.next_offset(),
            tail_tx,
            stop.clone(),
        ));
        let mut election_alive = true;
        let exit = loop {
            tokio::select! {
                alive = async { elected.wait_for(|e| *e).await.is_ok() }, if election_alive => {
                    if !alive {
                        tracing::error!("the writer election stopped; this node can only follow");
                        election_alive = false;
                        continue;
                    }
                    break Exit::RoleChanged;
                }
                rows = tail_rx.recv() => {
                    let Some(rows) = rows else { break Exit::RoleChanged };
                    let from = self.next_offset();
                    let rows: Vec<_> = rows.into_iter().filter(|(o, _)| *o >= from).collect();
                    if rows.is_empty() {
                        continue;
                    }
                    match dense_from(from, rows) {
                        Ok(records) => {
                            self.apply(from, &records);
                            self.maybe_snapshot().await;
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "the followed log skipped records; following again");
                            break Exit::RoleChanged;
                        }
                    }
                }
                received = rx.recv() => {
                    let Some(first) = received else { break Exit::Stopped };
                    let mut batch = Vec::new();
                    gather(first, rx, &mut batch);
                    self.hand_over(batch, forwarder);
                }
            }
        };
        stop.store(true, Ordering::Relaxed);
        drop(tail_rx);
        let _ = tailer.await;
        exit
    }

    /// Sends a follower's submissions to the writer; each submitter is
    /// answered once this node has applied its record.
    fn hand_over(&self, batch: Vec<Submission>, forwarder: &Arc<dyn Forwarder>) {
        let writer = self
            .state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .directory
            .writer()
            .map(|(_, url)| url.to_string());
        let (subs, refused): (Vec<_>, Vec<_>) = batch.into_iter().partition(|s| s.forward);
        for s in refused {
            let _ = s.reply.send(Err(SwitchError::new(
                ErrorCode::ServiceUnavailable,
                "this node is not the ledger writer",
            )));
        }
        if subs.is_empty() {
            return;
        }
        let Some(url) = writer else {
            for s in subs {
                let _ = s.reply.send(Err(SwitchError::new(
                    ErrorCode::ServiceUnavailable,
                    "no ledger writer is elected yet",
                )));
            }
            return;
        };
        let forwarder = forwarder.clone();
        let waiters = self.waiters.clone();
        waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .outstanding += subs.len();
        tokio::spawn(async move {
            let records: Vec<LogRecord> = subs.iter().map(|s| s.record.clone()).collect();
            let results = forwarder.submit(&url, &records).await;
            let mut w = waiters.lock().unwrap_or_else(|p| p.into_inner());
            w.outstanding = w.outstanding.saturating_sub(subs.len());
            match results {
                Ok(results) if results.len() == subs.len() => {
                    for (s, result) in subs.into_iter().zip(results) {
                        match result {
                            Ok(offset) => w.wait(offset, s.reply),
                            Err(e) => {
                                let _ = s.reply.send(Err(e));
                            }
                        }
                    }
                }
                Ok(_) => {
                    for s in subs {
                        let _ = s.reply.send(Err(SwitchError::new(
                            ErrorCode::ServiceUnavailable,
                            "the ledger writer answered a different number of records",
                        )));
                    }
                }
                Err(e) => {
                    for s in subs {
                        let _ = s.reply.send(Err(e.clone()));
                    }
                }
            }
            if w.outstanding == 0 {
                w.recent.clear();
            }
        });
    }

    /// Becomes the writer: reads the log to its end, then announces this
    /// node in it.
    async fn take_over(&mut self, node: &str, url: &str) -> Result<(), LogError> {
        let started = Instant::now();
        let end = self.log.resync().await?;
        let applied = self.catch_up().await?;
        if self.next_offset() != end {
            return Err(LogError::Unavailable(format!(
                "caught up to {} but the log ends at {end}",
                self.next_offset()
            )));
        }
        let record = LogRecord::Directory(DirectoryCommand::SetWriter {
            node: node.to_string(),
            url: url.to_string(),
            now_ms: crate::clock::now_ms(),
        });
        let offset = self.log.append(std::slice::from_ref(&record)).await?;
        if offset != end {
            return Err(LogError::Corrupt {
                offset,
                reason: format!("expected to write at {end}: another writer?"),
            });
        }
        self.apply(offset, &[record]);
        tracing::info!(
            node,
            url,
            applied,
            next_offset = offset + 1,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "this node is the ledger writer"
        );
        metrics::counter!("harambee_writer_takeovers_total").increment(1);
        Ok(())
    }
}

/// Resolves when `elected` says this node is no longer the writer (never
/// for a sole writer).
async fn demoted(elected: &mut Option<&mut watch::Receiver<bool>>) {
    match elected {
        Some(rx) => {
            let _ = rx.wait_for(|e| !*e).await;
        }
        None => std::future::pending().await,
    }
}

/// Reads the log from `from` on and hands the records to the follower loop.
async fn tail(
    log: Arc<dyn CommandLog>,
    mut from: Offset,
    tx: mpsc::Sender<Vec<(Offset, LogRecord)>>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::Relaxed) {
        match log
            .follow(from, LOG_BATCH_RECORDS_MAX, FOLLOW_WAIT_MS)
            .await
        {
            Ok(rows) => {
                let Some((last, _)) = rows.last() else {
                    continue;
                };
                from = last + 1;
                if tx.send(rows).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, from, "following the event log failed; retrying");
                tokio::time::sleep(Duration::from_millis(RETRY_PAUSE_MS)).await;
            }
        }
    }
}

/// Runs the engine, and says how it ended: `Stopped` when the switch
/// stops, `Failed` when it cannot go on (a panic included).
async fn supervised(
    core: Core,
    rx: mpsc::Receiver<Submission>,
    leadership: Leadership,
    health: watch::Sender<EngineHealth>,
) {
    let ended = std::panic::AssertUnwindSafe(run(core, rx, leadership))
        .catch_unwind()
        .await;
    let outcome = match ended {
        Ok(Exit::Failed(reason)) => EngineHealth::Failed(reason),
        Ok(_) => EngineHealth::Stopped,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            EngineHealth::Failed(format!("the engine panicked: {message}"))
        }
    };
    match &outcome {
        EngineHealth::Failed(reason) => {
            metrics::counter!("harambee_engine_failures_total").increment(1);
            tracing::error!(%reason, "the ledger engine failed");
        }
        _ => tracing::info!("engine stopped: no more submitters"),
    }
    health.send_replace(outcome);
}

async fn run(mut core: Core, mut rx: mpsc::Receiver<Submission>, leadership: Leadership) -> Exit {
    let exit = match leadership {
        Leadership::Sole => core.write(&mut rx, None).await,
        Leadership::Elected {
            mut elected,
            node,
            url,
            forwarder,
        } => loop {
            match core.follow(&mut rx, &mut elected, &forwarder).await {
                Exit::Stopped => break Exit::Stopped,
                Exit::Failed(reason) => break Exit::Failed(reason),
                Exit::RoleChanged => {}
            }
            if !*elected.borrow() {
                continue;
            }
            if let Err(e) = core.take_over(&node, &url).await {
                if e.is_fatal() {
                    break Exit::Failed(e.to_string());
                }
                tracing::error!(error = %e, "could not take over as the ledger writer; retrying");
                tokio::time::sleep(Duration::from_millis(RETRY_PAUSE_MS)).await;
                continue;
            }
            match core.write(&mut rx, Some(&mut elected)).await {
                Exit::Stopped => break Exit::Stopped,
                Exit::Failed(reason) => break Exit::Failed(reason),
                Exit::RoleChanged => {}
            }
        },
    };
    let _ = core.writer.send(false);
    exit
}

/// Counts the transfers a batch resolved, by outcome: `committed`, or
/// the FSPIOP code a transfer was refused or aborted with, whatever the
/// edge it came through (`harambee_transfer_outcomes_total`).
fn count_outcomes(batch: &feed::EventBatch) {
    use harambee_ledger::Event;
    for (_, _, _, event) in batch.events() {
        let outcome = match event {
            Event::TransferCommitted { .. } => "committed".to_string(),
            Event::TransferRefused { reason, .. } | Event::TransferAborted { reason, .. } => {
                reason.to_string()
            }
            _ => continue,
        };
        metrics::counter!("harambee_transfer_outcomes_total", "outcome" => outcome).increment(1);
    }
}
