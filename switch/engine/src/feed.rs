//! The feed: what every applied record did, for the read side
//! (projections, the events topic, notifications).
//!
//! ```text
//! log --apply_records--> State            (the one replay path)
//!              |
//!              '--> EventBatch --> Feed (ring of recent batches)
//!                                   |
//!        FeedReader::next(position) +--> from the ring, or
//!                                   '--> from the log, replayed into a
//!                                        private state from a snapshot
//! ```
//!
//! Architecture invariant: a reader sees every record's effects, in log
//! order, from any position it asks for. The ring holds the newest
//! batches within a budget; a reader that asks for an older position is
//! served by reading the log and replaying it into a state of its own (from
//! the newest snapshot at or before that position), never by the live
//! state and never under the engine's lock. Nothing is dropped: a slow
//! reader is slow, not lossy.
//!
//! Every path that applies records (the engine, recovery at start, a
//! follower, a reader catching up, `projections rebuild`) goes through
//! [`apply_records`], so the events and notices are the same whichever
//! path produced them.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use harambee_ledger::Event;
use tokio::sync::watch;

use crate::snapshots::SnapshotStore;
use harambee_core::record::{DirectoryCommand, LogRecord};
use harambee_core::state::{Applied, RecordEffects, State};
use harambee_log::{CommandLog, LOG_BATCH_RECORDS_MAX, LogError, Offset};

/// Estimated bytes of recent batches the feed keeps in memory.
pub const FEED_BYTES_MAX: usize = 256 << 20;

/// Records a reader that catches up from the log reads at a time.
pub const CATCH_UP_RECORDS_MAX: usize = 4_096;

/// What a run of consecutive records did.
#[derive(Clone, Debug, Default)]
pub struct EventBatch {
    /// The offset of the first record.
    pub first_offset: Offset,
    /// One entry per record, in log order.
    pub records: Vec<RecordEffects>,
}

impl EventBatch {
    /// The offset after the last record.
    pub fn next_offset(&self) -> Offset {
        self.first_offset + self.records.len() as Offset
    }

    /// Every event with its position (log offset, index in its record).
    pub fn events(&self) -> impl Iterator<Item = (Offset, u32, i64, &Event)> {
        self.records.iter().flat_map(|r| {
            r.events
                .iter()
                .enumerate()
                .map(move |(i, e)| (r.offset, i as u32, r.time_ms, e))
        })
    }

    /// A rough size in memory, for the feed's budget.
    fn estimated_bytes(&self) -> usize {
        let mut bytes = 64;
        for r in &self.records {
            bytes += 96 + r.events.len() * 160 + r.notices.len() * 96;
            if let Some(DirectoryCommand::RecordQuote(q)) = &r.directory {
                bytes += q.response.len() + 256;
            } else if r.directory.is_some() {
                bytes += 256;
            }
        }
        bytes
    }
}

/// Applies `records` to `state` from `first` (its next offset) on: the
/// one replay path. Returns each record's answer and what they did.
pub fn apply_records(
    state: &mut State,
    first: Offset,
    records: &[LogRecord],
) -> (Vec<Applied>, EventBatch) {
    let mut answers = Vec::with_capacity(records.len());
    let mut batch = EventBatch {
        first_offset: first,
        records: Vec::with_capacity(records.len()),
    };
    for (i, record) in records.iter().enumerate() {
        let (applied, effects) = state.apply_logged(first + i as Offset, record);
        answers.push(applied);
        batch.records.push(effects);
    }
    (answers, batch)
}

/// Replays the log into `state` from its next offset to the end, through
/// [`apply_records`]; `each` sees every batch. Returns the records applied.
pub async fn replay_log(
    log: &dyn CommandLog,
    state: &mut State,
    mut each: impl FnMut(&State, EventBatch),
) -> Result<u64, LogError> {
    let mut applied = 0u64;
    loop {
        let rows = log.read(state.next_offset, LOG_BATCH_RECORDS_MAX).await?;
        if rows.is_empty() {
            return Ok(applied);
        }
        let first = state.next_offset;
        let records = dense_from(first, rows)?;
        applied += records.len() as u64;
        let (_, batch) = apply_records(state, first, &records);
        each(state, batch);
    }
}

/// Checks that `rows` start at `from` with no gap and returns the records.
pub fn dense_from(
    from: Offset,
    rows: Vec<(Offset, LogRecord)>,
) -> Result<Vec<LogRecord>, LogError> {
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

/// The newest batches, consecutive.
#[derive(Default)]
struct Ring {
    batches: VecDeque<Arc<EventBatch>>,
    /// The offset of the first record held (the next offset when empty).
    first: Offset,
    /// The offset after the last record held.
    next: Offset,
    bytes: usize,
    sizes: VecDeque<usize>,
}

/// The engine's feed of applied batches; cheap to clone.
#[derive(Clone)]
pub struct Feed {
    ring: Arc<Mutex<Ring>>,
    /// The offset after the last batch pushed.
    applied: watch::Sender<Offset>,
    log: Arc<dyn CommandLog>,
    snapshots: Option<Arc<dyn SnapshotStore>>,
    bytes_max: usize,
}

impl Feed {
    /// A feed whose next batch starts at `next_offset`.
    pub fn new(
        next_offset: Offset,
        log: Arc<dyn CommandLog>,
        snapshots: Option<Arc<dyn SnapshotStore>>,
        bytes_max: usize,
    ) -> Feed {
        let ring = Ring {
            first: next_offset,
            next: next_offset,
            ..Ring::default()
        };
        Feed {
            ring: Arc::new(Mutex::new(ring)),
            applied: watch::Sender::new(next_offset),
            log,
            snapshots,
            bytes_max,
        }
    }

    /// Adds the batch applied next (its first offset must be the feed's
    /// next offset) and drops the oldest beyond the budget.
    pub fn push(&self, batch: EventBatch) {
        let next = batch.next_offset();
        {
            let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
            assert_eq!(
                batch.first_offset, ring.next,
                "feed batches are consecutive"
            );
            ring.next = next;
            let size = batch.estimated_bytes();
            ring.bytes += size;
            ring.sizes.push_back(size);
            ring.batches.push_back(Arc::new(batch));
            while ring.bytes > self.bytes_max && ring.batches.len() > 1 {
                let Some(old) = ring.batches.pop_front() else {
                    break;
                };
                ring.first = old.next_offset();
                ring.bytes -= ring.sizes.pop_front().unwrap_or(0);
            }
        }
        self.applied.send_replace(next);
    }

    /// The offset after the last applied record.
    pub fn applied(&self) -> Offset {
        *self.applied.borrow()
    }

    /// Follows `applied`.
    pub fn watch_applied(&self) -> watch::Receiver<Offset> {
        self.applied.subscribe()
    }

    /// A reader from `from` on.
    pub fn reader(&self, from: Offset) -> FeedReader {
        FeedReader {
            feed: self.clone(),
            position: from,
            applied: self.applied.subscribe(),
            catch_up: None,
        }
    }

    /// Whether the ring still holds `from` (or will: it is not older).
    fn holds(&self, from: Offset) -> bool {
        from >= self.ring.lock().unwrap_or_else(|p| p.into_inner()).first
    }

    /// Batches held from `from` on, the first cut to start at `from`; or
    /// `None` if `from` is older than what is held.
    fn held_from(&self, from: Offset, records_max: usize) -> Option<Vec<Arc<EventBatch>>> {
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        if from < ring.first {
            return None;
        }
        let mut out = Vec::new();
        let mut records = 0usize;
        // Batches are in offset order: find the first one past `from`.
        let first = ring.batches.partition_point(|b| b.next_offset() <= from);
        for b in ring.batches.range(first..) {
            if b.first_offset < from {
                let skip = (from - b.first_offset) as usize;
                let cut = EventBatch {
                    first_offset: from,
                    records: b.records[skip..].to_vec(),
                };
                records += cut.records.len();
                out.push(Arc::new(cut));
            } else {
                records += b.records.len();
                out.push(b.clone());
            }
            if records >= records_max {
                break;
            }
        }
        Some(out)
    }
}

/// A reader's own state, replaying the log where the ring no longer
/// reaches.
struct CatchUp {
    state: State,
}

/// Reads the feed from a position on; see the module's invariant.
pub struct FeedReader {
    feed: Feed,
    position: Offset,
    applied: watch::Receiver<Offset>,
    catch_up: Option<CatchUp>,
}

impl FeedReader {
    /// The offset of the next record this reader returns.
    pub fn position(&self) -> Offset {
        self.position
    }

    /// Moves the reader to `position` (back after a failed write, say).
    pub fn seek(&mut self, position: Offset) {
        if position != self.position {
            self.position = position;
            self.catch_up = None;
        }
    }

    /// The next batches from the reader's position, at most about
    /// `records_max` records; waits until there is at least one record.
    pub async fn next(&mut self, records_max: usize) -> Result<Vec<Arc<EventBatch>>, LogError> {
        let records_max = records_max.max(1);
        loop {
            if self.catch_up.is_some() {
                if self.feed.holds(self.position) {
                    // Back within reach of the ring: the live batches take over.
                    self.catch_up = None;
                    continue;
                }
                let batch = self.read_log(records_max).await?;
                if let Some(batch) = batch {
                    return Ok(vec![Arc::new(batch)]);
                }
                continue;
            }
            match self.feed.held_from(self.position, records_max) {
                Some(batches) if !batches.is_empty() => {
                    if let Some(last) = batches.last() {
                        self.position = last.next_offset();
                    }
                    return Ok(batches);
                }
                Some(_) => {
                    // Nothing newer yet: wait for the engine.
                    let position = self.position;
                    if self
                        .applied
                        .wait_for(|applied| *applied > position)
                        .await
                        .is_err()
                    {
                        return Err(LogError::Unavailable("the engine stopped".into()));
                    }
                }
                None => {
                    self.catch_up = Some(CatchUp {
                        state: self.state_at(self.position).await?,
                    });
                    metrics::counter!("harambee_feed_catch_ups_total").increment(1);
                    tracing::info!(
                        position = self.position,
                        "a reader of the feed is behind what memory holds; reading the log"
                    );
                }
            }
        }
    }

    /// The next records from the log, replayed into the reader's state.
    async fn read_log(&mut self, records_max: usize) -> Result<Option<EventBatch>, LogError> {
        let Some(catch_up) = self.catch_up.as_mut() else {
            return Ok(None);
        };
        let max = records_max.clamp(1, CATCH_UP_RECORDS_MAX);
        let rows = self.feed.log.read(self.position, max).await?;
        if rows.is_empty() {
            // Only what the ring no longer holds is read from the log, and
            // the ring holds only what the log made durable.
            return Err(LogError::Corrupt {
                offset: self.position,
                reason: "the log ends before what the feed has applied".into(),
            });
        }
        let records = dense_from(self.position, rows)?;
        let (_, batch) = apply_records(&mut catch_up.state, self.position, &records);
        self.position = batch.next_offset();
        Ok(Some(batch))
    }

    /// The state just before `position`: the newest snapshot at or before
    /// it, with the log replayed up to it.
    async fn state_at(&self, position: Offset) -> Result<State, LogError> {
        let mut state = match &self.feed.snapshots {
            Some(store) => match store.at_or_before(position).await {
                Ok(Some(snapshot)) => State::restore(snapshot).map_err(|e| LogError::Corrupt {
                    offset: position,
                    reason: format!("snapshot: {e}"),
                })?,
                Ok(None) => State::default(),
                Err(e) => return Err(LogError::Unavailable(format!("snapshots: {e}"))),
            },
            None => State::default(),
        };
        while state.next_offset < position {
            let want = ((position - state.next_offset) as usize).min(LOG_BATCH_RECORDS_MAX);
            let rows = self.feed.log.read(state.next_offset, want).await?;
            if rows.is_empty() {
                return Err(LogError::Corrupt {
                    offset: state.next_offset,
                    reason: format!("the log ends before {position}"),
                });
            }
            let first = state.next_offset;
            let records = dense_from(first, rows)?;
            apply_records(&mut state, first, &records);
        }
        Ok(state)
    }
}
