//! The engine: the single writer of the event log, or a follower of it.
//!
//! As the writer, it takes records from the API edge, appends them to the
//! event log in batches (group commit), applies them to the state in log
//! order, and answers each submitter:
//!
//! ```text
//! submit(record) --mpsc--> [ batch ] --append--> EventLog --apply--> State
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
use harambee_ledger::{Command, Event};
use harambee_proto::fspiop::FspiopError;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::log::{EventLog, LOG_BATCH_RECORDS_MAX, LogError, Offset};
use crate::record::{DirectoryCommand, LogRecord};
use crate::snapshots::SnapshotStore;
use crate::state::{Applied, DirectoryReply, State};

/// Submissions waiting for the engine; beyond this, submitters wait.
pub const QUEUE_DEPTH_MAX: usize = 65_536;
/// Outcomes a follower keeps for submitters whose answer from the writer
/// arrives after the follower has already applied the record.
pub const RECENT_OUTCOMES_MAX: usize = 65_536;
/// How long one read of a follower waits for new records.
pub const FOLLOW_WAIT_MS: u64 = 100;
/// Pause before retrying after the log failed a follower or a takeover.
pub const RETRY_PAUSE_MS: u64 = 500;

type Reply = oneshot::Sender<Result<(Offset, Applied), FspiopError>>;

struct Submission {
    record: LogRecord,
    reply: Reply,
    /// May a follower hand it to the writer? (Not for records the writer
    /// was handed already: they must not travel on.)
    forward: bool,
}

/// A ledger event with the log record that made it.
#[derive(Clone, Debug)]
pub struct LedgerEventAt {
    /// Offset of the record.
    pub offset: Offset,
    /// Time carried by the record's command (0 if it has none).
    pub time_ms: i64,
    pub event: Event,
}

/// What one applied batch did, for notifications, projections, the event
/// publisher and waiters.
#[derive(Clone, Debug)]
pub struct EventBatch {
    /// The log offset after the batch.
    pub next_offset: u64,
    /// Ledger events, in order.
    pub events: Vec<LedgerEventAt>,
    /// Directory records that were accepted, with their offsets.
    pub directory: Vec<(Offset, DirectoryCommand)>,
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
    ) -> Result<Vec<Result<Offset, FspiopError>>, FspiopError>;
    /// Whether the node at `url` answers as the writer (an empty submit).
    async fn probe(&self, url: &str) -> Result<(), FspiopError>;
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

/// Handle to the engine; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    tx: mpsc::Sender<Submission>,
    state: Arc<RwLock<State>>,
    events: broadcast::Sender<Arc<EventBatch>>,
    writer: watch::Receiver<bool>,
    /// Ledger events of the last records replayed at start, for the event
    /// publisher and the postings projection.
    recovered: Arc<Mutex<Vec<LedgerEventAt>>>,
}

impl Engine {
    /// Loads the latest snapshot, replays the log after it, and starts the
    /// engine task. Returns once the state is current.
    pub async fn start(
        log: Arc<dyn EventLog>,
        snapshots: Option<Arc<dyn SnapshotStore>>,
        snapshot_interval_records: u64,
        ledger_capacity_transfers: usize,
        leadership: Leadership,
        recover_events: usize,
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
        let (replayed, recovered) = replay(log.as_ref(), &mut state, recover_events).await?;
        tracing::info!(
            replayed,
            next_offset = state.next_offset,
            elapsed_ms = started.elapsed().as_millis() as u64,
            digest = %state.ledger.digest(),
            "state recovered from the event log"
        );
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH_MAX);
        let (events, _) = broadcast::channel(1024);
        let (writer_tx, writer) = watch::channel(false);
        let waiters = Waiters {
            applied_upto: state.next_offset,
            ..Waiters::default()
        };
        let state = Arc::new(RwLock::new(state));
        let engine = Engine {
            tx,
            state: state.clone(),
            events: events.clone(),
            writer,
            recovered: Arc::new(Mutex::new(recovered.into())),
        };
        let core = Core {
            log,
            state,
            events,
            waiters: Arc::new(Mutex::new(waiters)),
            snapshots,
            snapshot_interval_records,
            since_snapshot: 0,
            writer: writer_tx,
        };
        let task = tokio::spawn(run(core, rx, leadership));
        Ok((engine, task))
    }

    /// Appends a record, applies it, and returns what it did. Fails with
    /// 2003 when the log cannot make it durable (nothing was applied). On a
    /// follower the record goes to the cluster's writer.
    pub async fn submit(&self, record: LogRecord) -> Result<Applied, FspiopError> {
        self.send(record, true).await.map(|(_, applied)| applied)
    }

    /// Like `submit`, but only if this process is the writer (2003
    /// otherwise); also returns the record's offset. For records another
    /// node handed over.
    pub async fn submit_as_writer(
        &self,
        record: LogRecord,
    ) -> Result<(Offset, Applied), FspiopError> {
        self.send(record, false).await
    }

    async fn send(
        &self,
        record: LogRecord,
        forward: bool,
    ) -> Result<(Offset, Applied), FspiopError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Submission {
                record,
                reply,
                forward,
            })
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

    /// Whether this process writes the log now.
    pub fn is_writer(&self) -> bool {
        *self.writer.borrow()
    }

    /// The ledger events of the last records replayed at start (at most
    /// `keep` of them, as asked at start).
    pub fn recovered_events(&self) -> Vec<LedgerEventAt> {
        self.recovered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Follows the changes of `is_writer`.
    pub fn writer_changes(&self) -> watch::Receiver<bool> {
        self.writer.clone()
    }
}

/// Applies every record of the log from `state.next_offset` on. Returns
/// how many, and the ledger events of the last ones (at most `keep`).
pub async fn replay(
    log: &dyn EventLog,
    state: &mut State,
    keep: usize,
) -> Result<(u64, VecDeque<LedgerEventAt>), LogError> {
    let mut replayed = 0u64;
    let mut kept = VecDeque::new();
    loop {
        let records = log.read(state.next_offset, LOG_BATCH_RECORDS_MAX).await?;
        if records.is_empty() {
            return Ok((replayed, kept));
        }
        for (offset, record) in &records {
            let applied = state.apply(*offset, record);
            replayed += 1;
            if let (Applied::Ledger { events, .. }, LogRecord::Ledger(command)) = (applied, record)
                && keep > 0
            {
                let time_ms = command_time_ms(command);
                for event in events {
                    if kept.len() >= keep {
                        kept.pop_front();
                    }
                    kept.push_back(LedgerEventAt {
                        offset: *offset,
                        time_ms,
                        event,
                    });
                }
            }
        }
    }
}

/// The time a command carries, if any.
pub(crate) fn command_time_ms(command: &Command) -> i64 {
    match command {
        Command::Prepare { now_ms, .. }
        | Command::Commit { now_ms, .. }
        | Command::Abort { now_ms, .. }
        | Command::Expire { now_ms, .. }
        | Command::ExpireDue { now_ms, .. } => *now_ms,
        _ => 0,
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
            None => Err(FspiopError::new(
                2003,
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
}

struct Core {
    log: Arc<dyn EventLog>,
    state: Arc<RwLock<State>>,
    events: broadcast::Sender<Arc<EventBatch>>,
    waiters: Arc<Mutex<Waiters>>,
    snapshots: Option<Arc<dyn SnapshotStore>>,
    snapshot_interval_records: u64,
    since_snapshot: u64,
    writer: watch::Sender<bool>,
}

impl Core {
    fn next_offset(&self) -> Offset {
        self.state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .next_offset
    }

    /// Applies `records` at `first` (the state's next offset), publishes
    /// what they did and answers followers' waiters.
    fn apply(&mut self, first: Offset, records: &[LogRecord]) -> Vec<Applied> {
        let mut results = Vec::with_capacity(records.len());
        let mut batch = EventBatch {
            next_offset: first + records.len() as Offset,
            events: Vec::new(),
            directory: Vec::new(),
        };
        {
            let mut st = self.state.write().unwrap_or_else(|p| p.into_inner());
            for (i, record) in records.iter().enumerate() {
                let offset = first + i as Offset;
                let applied = st.apply(offset, record);
                match (&applied, record) {
                    (Applied::Ledger { events, .. }, LogRecord::Ledger(command)) => {
                        let time_ms = command_time_ms(command);
                        batch.events.extend(events.iter().map(|e| LedgerEventAt {
                            offset,
                            time_ms,
                            event: e.clone(),
                        }));
                    }
                    (
                        Applied::Directory(Ok(DirectoryReply::Done | DirectoryReply::Quote(_))),
                        LogRecord::Directory(command),
                    ) => batch.directory.push((offset, command.clone())),
                    (Applied::Settlement { events, .. }, LogRecord::Settlement(command)) => {
                        let time_ms = command.time_ms();
                        batch.events.extend(events.iter().map(|e| LedgerEventAt {
                            offset,
                            time_ms,
                            event: e.clone(),
                        }));
                    }
                    _ => {}
                }
                results.push(applied);
            }
        }
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
            w.applied_upto = batch.next_offset;
        }
        metrics::gauge!("harambee_log_next_offset").set(batch.next_offset as f64);
        if !batch.events.is_empty() || !batch.directory.is_empty() {
            let _ = self.events.send(Arc::new(batch));
        }
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

    /// Applies the records the log holds past the state.
    async fn catch_up(&mut self) -> Result<u64, LogError> {
        let mut applied = 0u64;
        loop {
            let from = self.next_offset();
            if self.log.end().await? <= from {
                return Ok(applied);
            }
            let rows = self.log.read(from, LOG_BATCH_RECORDS_MAX).await?;
            if rows.is_empty() {
                return Ok(applied);
            }
            let records = dense_from(from, rows)?;
            applied += records.len() as u64;
            self.apply(from, &records);
        }
    }

    /// The writer's loop: group commit until the switch stops or this node
    /// is no longer elected.
    async fn write(
        &mut self,
        rx: &mut mpsc::Receiver<Submission>,
        mut elected: Option<&mut watch::Receiver<bool>>,
    ) -> Exit {
        let _ = self.writer.send(true);
        let mut batch: Vec<Submission> = Vec::with_capacity(1024);
        let mut records: Vec<LogRecord> = Vec::with_capacity(1024);
        // Set while records of a failed append may be in the log unapplied.
        let mut behind = false;
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
            };
            batch.push(first);
            while batch.len() < LOG_BATCH_RECORDS_MAX {
                match rx.try_recv() {
                    Ok(s) => batch.push(s),
                    Err(_) => break,
                }
            }
            if behind {
                // An earlier append failed and what it left in the log is
                // not applied yet: appending now would put this batch after
                // records the state has not seen.
                match self.catch_up().await {
                    Ok(applied) => {
                        behind = false;
                        if applied > 0 {
                            tracing::warn!(
                                applied,
                                "applied records of a failed append that did become durable"
                            );
                        }
                    }
                    Err(e) => {
                        for s in batch.drain(..) {
                            let _ = s
                                .reply
                                .send(Err(FspiopError::new(2003, format!("event log: {e}"))));
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
                    for s in batch.drain(..) {
                        let _ = s
                            .reply
                            .send(Err(FspiopError::new(2003, format!("event log: {e}"))));
                    }
                    // Part of the batch may have become durable (a broker
                    // that failed mid-batch): apply what did, so that the
                    // live state stays the state a replay gives. Until
                    // that is done nothing more is appended.
                    match self.catch_up().await {
                        Ok(0) => {}
                        Ok(applied) => tracing::warn!(
                            applied,
                            "applied records of a failed append that did become durable"
                        ),
                        Err(e) => {
                            behind = true;
                            tracing::warn!(error = %e, "could not read back after a failed append")
                        }
                    }
                    continue;
                }
            };
            if self.next_offset() != first_offset {
                // Someone else wrote to the log: this process is no longer
                // the single writer. Stop rather than diverge.
                tracing::error!(
                    expected = self.next_offset(),
                    got = first_offset,
                    "event log offset mismatch; stopping the engine"
                );
                for s in batch.drain(..) {
                    let _ = s
                        .reply
                        .send(Err(FspiopError::new(2003, "event log has another writer")));
                }
                let _ = self.writer.send(false);
                return Exit::Stopped;
            }
            let applied = self.apply(first_offset, &records);
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
                    let mut batch = vec![first];
                    while batch.len() < LOG_BATCH_RECORDS_MAX {
                        match rx.try_recv() {
                            Ok(s) => batch.push(s),
                            Err(_) => break,
                        }
                    }
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
            let _ = s.reply.send(Err(FspiopError::new(
                2003,
                "this node is not the ledger writer",
            )));
        }
        if subs.is_empty() {
            return;
        }
        let Some(url) = writer else {
            for s in subs {
                let _ = s.reply.send(Err(FspiopError::new(
                    2003,
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
                        let _ = s.reply.send(Err(FspiopError::new(
                            2003,
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

/// Checks that `rows` start at `from` with no gap and returns the records.
fn dense_from(from: Offset, rows: Vec<(Offset, LogRecord)>) -> Result<Vec<LogRecord>, LogError> {
    let mut records = Vec::with_capacity(rows.len());
    for (i, (offset, record)) in rows.into_iter().enumerate() {
        if offset != from + i as Offset {
            return Err(LogError::Corrupt {
                offset: from + i as Offset,
                reason: format!("missing; the log gave offset {offset}"),
            });
        }
        records.push(record);
    }
    Ok(records)
}

/// Reads the log from `from` on and hands the records to the follower loop.
async fn tail(
    log: Arc<dyn EventLog>,
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

async fn run(mut core: Core, mut rx: mpsc::Receiver<Submission>, leadership: Leadership) {
    match leadership {
        Leadership::Sole => {
            core.write(&mut rx, None).await;
        }
        Leadership::Elected {
            mut elected,
            node,
            url,
            forwarder,
        } => loop {
            if let Exit::Stopped = core.follow(&mut rx, &mut elected, &forwarder).await {
                break;
            }
            if !*elected.borrow() {
                continue;
            }
            if let Err(e) = core.take_over(&node, &url).await {
                tracing::error!(error = %e, "could not take over as the ledger writer; retrying");
                tokio::time::sleep(Duration::from_millis(RETRY_PAUSE_MS)).await;
                continue;
            }
            if let Exit::Stopped = core.write(&mut rx, Some(&mut elected)).await {
                break;
            }
        },
    }
    let _ = core.writer.send(false);
    tracing::info!("engine stopped: no more submitters");
}
