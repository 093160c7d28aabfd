//! The event log on Kafka (Apache Kafka, Redpanda, Tansu): one topic, one
//! partition per ledger partition, each with exactly one writer.
//!
//! - The producer is idempotent with `acks=all`: a record acknowledged here
//!   is on every in-sync replica, once.
//! - Records carry the hash chain of [`crate::chain`] and the partition
//!   offset (`position`) the writer meant each to get. A record the broker
//!   puts anywhere else is void: another writer got there first. The append
//!   then fails (`LogError::Contended`), the writer reads back the real end,
//!   and every reader skips void records, so two processes that both believe
//!   they are the writer (a zombie and its successor) can never fork the
//!   log: the first record at each position wins it. Log offsets count valid
//!   records only; a record's partition offset is at or after its log offset.
//! - Topics are never auto-created: `create_topic` (called by the switch at
//!   start for the log, events and cluster topics, and by tests that start
//!   their own broker) does it with the partitions asked for.
//! - Consumers set `fetch.wait.max.ms` low, so a read returns as soon as data
//!   is there on brokers that wait for the whole interval (Tansu).
//!
//! Kafka transactions are not used (some compatible brokers do not hide
//! aborted ones). An append is therefore not atomic across a broker failure:
//! some records of a failed batch may be durable. The engine handles it by
//! reading back what did land (`end` and `read`) before it goes on.

use std::time::Duration;

use async_trait::async_trait;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset as KafkaOffset, TopicPartitionList};

use crate::chain::{self, ChainedRecord};
use crate::{CommandLog, LOG_BATCH_RECORDS_MAX, LogError, Offset};
use harambee_core::record::LogRecord;

/// How long one broker round trip may take before the log reports itself
/// unavailable, unless configured (`kafka_timeout_ms`).
pub const KAFKA_TIMEOUT_MS: u64 = 10_000;

/// The broker timeout of this process: every Kafka client of the switch
/// (log, events, election) uses it. Set once at start from the
/// configuration.
static TIMEOUT_MS: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(KAFKA_TIMEOUT_MS);

/// Sets the broker timeout of this process (at least 100 ms).
pub fn set_timeout_ms(ms: u64) {
    TIMEOUT_MS.store(ms.max(100), std::sync::atomic::Ordering::Relaxed);
}

/// The broker timeout of this process, in milliseconds.
pub fn timeout_ms() -> u64 {
    TIMEOUT_MS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Where the log lives.
#[derive(Clone, Debug)]
pub struct KafkaTarget {
    /// Bootstrap servers, "host:port,host:port".
    pub brokers: String,
    pub topic: String,
    pub partition: i32,
}

/// The event log on a Kafka partition.
pub struct KafkaLog {
    target: KafkaTarget,
    /// Replaced after a failed append: an idempotent producer whose
    /// messages timed out may be left out of sequence with the broker.
    producer: std::sync::Mutex<FutureProducer>,
    /// Readers are created per read: a fresh consumer never hands back
    /// messages prefetched for an earlier position.
    consumer_config: ClientConfig,
    head: tokio::sync::Mutex<Head>,
    /// Set by a failed append: records of it may have landed after all, so
    /// the next append first reads the head back from the broker.
    unsure: std::sync::atomic::AtomicBool,
    /// The long-lived reader of a follower (see [`CommandLog::follow`]).
    follower: std::sync::Mutex<Option<Follower>>,
}

/// What a writer knows of the end of its partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Head {
    /// The log offset of the next valid record.
    next: Offset,
    /// The partition offset the broker gives the next message.
    position: Offset,
    /// The hash of the last valid record.
    hash: [u8; 32],
}

impl Head {
    const EMPTY: Head = Head {
        next: 0,
        position: 0,
        hash: chain::GENESIS,
    };
}

/// A consumer that stays assigned to the partition while a node follows
/// the log, so that each new record reaches it within one fetch.
struct Follower {
    consumer: BaseConsumer,
    /// The log offset of the next record it hands out.
    next: Offset,
    /// The hash of the record before `next`, once it has seen one.
    prev: Option<[u8; 32]>,
    /// The partition offset it started from (at or before that of `next`).
    start: Offset,
    /// How far before `start` it was assigned (the broker may answer a
    /// fetch inside a record batch with the next batch).
    back: Offset,
    /// Whether it has returned a record yet.
    started: bool,
}

fn unavailable(e: impl std::fmt::Display) -> LogError {
    LogError::Unavailable(e.to_string())
}

fn timeout() -> Duration {
    Duration::from_millis(timeout_ms())
}

/// Creates the log topic if it does not exist.
pub async fn create_topic(
    brokers: &str,
    topic: &str,
    partitions: i32,
    replication: i32,
) -> Result<(), LogError> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .map_err(unavailable)?;
    // The log is the source of truth: it must never expire or be compacted.
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(replication))
        .set("retention.ms", "-1")
        .set("retention.bytes", "-1");
    // No explicit `cleanup.policy`: Kafka's default (delete) with infinite
    // retention keeps everything, and Tansu 0.6, given `cleanup.policy =
    // delete`, reads `retention.ms = -1` as "expire everything" and empties
    // the topic at its next retention pass (seen on its sqlite storage).
    let results = admin
        .create_topics(
            [&new],
            &AdminOptions::new().operation_timeout(Some(timeout())),
        )
        .await
        .map_err(unavailable)?;
    for r in results {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, code)) => {
                return Err(LogError::Unavailable(format!("creating topic {t}: {code}")));
            }
        }
    }
    Ok(())
}

/// The idempotent producer of the log (acks=all).
fn log_producer(brokers: &str) -> Result<FutureProducer, LogError> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "1")
        .set("message.timeout.ms", timeout_ms().to_string())
        .create()
        .map_err(unavailable)
}

impl KafkaLog {
    /// Connects to the partition and finds its head (offset and hash of the
    /// last record).
    pub async fn open(target: KafkaTarget) -> Result<KafkaLog, LogError> {
        let producer = log_producer(&target.brokers)?;
        let mut consumer_config = ClientConfig::new();
        consumer_config
            .set("bootstrap.servers", &target.brokers)
            .set(
                "group.id",
                format!("harambee-log-reader-{}", uuid::Uuid::new_v4().simple()),
            )
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            .set("fetch.wait.max.ms", "5")
            .set("session.timeout.ms", "6000");
        let log = KafkaLog {
            target,
            producer: std::sync::Mutex::new(producer),
            consumer_config,
            head: tokio::sync::Mutex::new(Head::EMPTY),
            unsure: std::sync::atomic::AtomicBool::new(false),
            follower: std::sync::Mutex::new(None),
        };
        let head = log.find_head().await?;
        *log.head.lock().await = head;
        Ok(log)
    }

    /// After a failed append, records of it may have landed after all:
    /// reads the head back from the broker before anything relies on it.
    async fn settle_head(&self, head: &mut Head) -> Result<(), LogError> {
        if !self.unsure.load(std::sync::atomic::Ordering::Acquire) {
            return Ok(());
        }
        let found = self.find_head().await?;
        if found.next < head.next {
            // Everything below our head was acknowledged: a broker that
            // does not show it yet (restarting, lagging) is not ready.
            return Err(LogError::Unavailable(format!(
                "the broker shows {} records, {} were acknowledged",
                found.next, head.next
            )));
        }
        *head = found;
        self.unsure
            .store(false, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// What the blocking reads need, to run off the async workers.
    fn reader(&self) -> FollowTarget {
        FollowTarget {
            consumer_config: self.consumer_config.clone(),
            target: self.target.clone(),
        }
    }

    /// The head as the broker shows it (`FollowTarget::find_head`). The
    /// consumer polls synchronously, for up to the broker timeout while the
    /// broker is down: that runs on a blocking thread, never on an async
    /// worker, so that the switch goes on answering (2003) meanwhile.
    async fn find_head(&self) -> Result<Head, LogError> {
        let reader = self.reader();
        tokio::task::spawn_blocking(move || reader.find_head())
            .await
            .map_err(unavailable)?
    }

    /// Valid stored records with their chain fields, from log offset `from`
    /// up to the head.
    pub async fn chained(&self, from: Offset, max: usize) -> Result<Vec<ChainedRecord>, LogError> {
        let head = *self.head.lock().await;
        if from >= head.next || max == 0 {
            return Ok(Vec::new());
        }
        let want = ((head.next - from) as usize)
            .min(max)
            .min(LOG_BATCH_RECORDS_MAX);
        let reader = self.reader();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::with_capacity(want.min(1024));
            // A record's partition offset is at or after its log offset.
            reader.scan(from, head.position, &mut |row| {
                let expected = from + out.len() as Offset;
                if row.is_void() || row.offset < expected {
                    return Ok(true);
                }
                if row.offset > expected {
                    return Err(LogError::Corrupt {
                        offset: expected,
                        reason: format!(
                            "missing; the next valid record in the partition is {}",
                            row.offset
                        ),
                    });
                }
                out.push(row);
                Ok(out.len() < want)
            })?;
            Ok(out)
        })
        .await
        .map_err(unavailable)?
    }

    /// Every stored message from partition offset `start` on, void ones
    /// included, with where each is (`at`): what an audit reads.
    pub async fn messages(
        &self,
        start: Offset,
        max: usize,
    ) -> Result<Vec<ChainedRecord>, LogError> {
        let max = max.min(LOG_BATCH_RECORDS_MAX);
        if max == 0 {
            return Ok(Vec::new());
        }
        let reader = self.reader();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            let known = reader.high_watermark_hint()?;
            reader.scan(start, known, &mut |row| {
                out.push(row);
                Ok(out.len() < max)
            })?;
            Ok(out)
        })
        .await
        .map_err(unavailable)?
    }
}

/// What a follower needs to (re)create its consumer.
#[derive(Clone)]
struct FollowTarget {
    consumer_config: ClientConfig,
    target: KafkaTarget,
}

impl FollowTarget {
    /// The high watermark the broker reports. Only a hint: some
    /// Kafka-compatible brokers report the start of the last batch plus one.
    fn high_watermark_hint(&self) -> Result<Offset, LogError> {
        let consumer: BaseConsumer = self.consumer_config.create().map_err(unavailable)?;
        let (_, high) = consumer
            .fetch_watermarks(&self.target.topic, self.target.partition, timeout())
            .map_err(unavailable)?;
        Ok(high.max(0) as Offset)
    }

    /// Finds the end of the partition and its last valid record by reading
    /// forward from just before the hint to the end; further back while the
    /// messages read are all void.
    fn find_head(&self) -> Result<Head, LogError> {
        let hint = self.high_watermark_hint()?;
        // Start two messages before the hint: the record before the end must
        // be read so that its hash becomes the head.
        let mut window: Offset = 2;
        loop {
            let start = hint.saturating_sub(window);
            let mut position = start;
            let mut last_valid: Option<ChainedRecord> = None;
            // Messages up to the hint exist: wait for them however slow the
            // broker is; past them, stop when the partition stays quiet.
            self.scan(start, hint, &mut |row| {
                position = row.at.unwrap_or(position) + 1;
                if !row.is_void() {
                    last_valid = Some(row);
                }
                Ok(true)
            })?;
            match last_valid {
                Some(row) => {
                    let hash = harambee_core::text::hex32(&row.hash)
                        .filter(|_| row.hash_matches())
                        .ok_or(LogError::Corrupt {
                            offset: row.offset,
                            reason: "record does not match its hash".into(),
                        })?;
                    return Ok(Head {
                        next: row.offset + 1,
                        position,
                        hash,
                    });
                }
                None if start == 0 => {
                    return Ok(Head {
                        position,
                        ..Head::EMPTY
                    });
                }
                None => window = window.saturating_mul(2),
            }
        }
    }

    /// Hands the stored messages from partition offset `start` on to
    /// `take`, in order, until it says stop. Waits (up to the timeout) for
    /// the messages below `known`, which exist; past them, stops when the
    /// partition stays quiet for `READ_IDLE_MS`.
    ///
    /// Some brokers answer a fetch at an offset inside a record batch with
    /// the next batch; then the read starts again further back (doubling
    /// the distance) and skips what comes before `start`.
    fn scan(
        &self,
        start: Offset,
        known: Offset,
        take: &mut dyn FnMut(ChainedRecord) -> Result<bool, LogError>,
    ) -> Result<(), LogError> {
        let mut back: Offset = 0;
        loop {
            if self.scan_from(start - back, start, known, take)? {
                return Ok(());
            }
            if back >= start {
                return Err(LogError::Corrupt {
                    offset: start,
                    reason: "the broker does not return this partition offset".into(),
                });
            }
            back = (back * 2).clamp(1, start);
        }
    }

    /// `false` when the first message returned is after `start` (and
    /// nothing was handed to `take`).
    fn scan_from(
        &self,
        assign: Offset,
        start: Offset,
        known: Offset,
        take: &mut dyn FnMut(ChainedRecord) -> Result<bool, LogError>,
    ) -> Result<bool, LogError> {
        let consumer: BaseConsumer = self.consumer_config.create().map_err(unavailable)?;
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(
                &self.target.topic,
                self.target.partition,
                KafkaOffset::Offset(assign as i64),
            )
            .map_err(unavailable)?;
        consumer.assign(&assignment).map_err(unavailable)?;
        let mut next = start;
        let deadline = std::time::Instant::now() + timeout();
        let mut quiet_since = std::time::Instant::now();
        loop {
            let now = std::time::Instant::now();
            if now > deadline {
                return Err(LogError::Unavailable(format!(
                    "reading partition offset {next} timed out"
                )));
            }
            if next >= known
                && now.duration_since(quiet_since) > Duration::from_millis(READ_IDLE_MS)
            {
                return Ok(true);
            }
            let Some(message) = consumer.poll(Duration::from_millis(20)) else {
                continue;
            };
            quiet_since = std::time::Instant::now();
            let message = message.map_err(unavailable)?;
            let position = message.offset() as Offset;
            if position < next {
                continue; // before `start`, or the rest of a batch that starts earlier
            }
            if position > next {
                if next == start {
                    return Ok(false);
                }
                return Err(LogError::Corrupt {
                    offset: next,
                    reason: format!(
                        "partition offset {next} missing; the broker returned {position}"
                    ),
                });
            }
            next = position + 1;
            if !take(decode_row(position, message.payload())?)? {
                return Ok(true);
            }
        }
    }

    /// A follower handing out records from log offset `from`, reading from
    /// partition offset `start - back` (`start` at or before `from`'s).
    fn new_follower(
        &self,
        from: Offset,
        start: Offset,
        back: Offset,
    ) -> Result<Follower, LogError> {
        let consumer: BaseConsumer = self.consumer_config.create().map_err(unavailable)?;
        let back = back.min(start);
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(
                &self.target.topic,
                self.target.partition,
                KafkaOffset::Offset((start - back) as i64),
            )
            .map_err(unavailable)?;
        consumer.assign(&assignment).map_err(unavailable)?;
        Ok(Follower {
            consumer,
            next: from,
            prev: None,
            start,
            back,
            started: false,
        })
    }

    /// One step of a follower, on a blocking thread: records from `f.next`.
    fn follow_step(
        &self,
        mut f: Follower,
        max: usize,
        wait_ms: u64,
    ) -> Result<(Follower, Vec<ChainedRecord>), LogError> {
        let mut out = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_millis(wait_ms);
        while out.len() < max {
            // Wait for the first record; after it, take what is buffered.
            let wait = if out.is_empty() {
                deadline.saturating_duration_since(std::time::Instant::now())
            } else {
                Duration::ZERO
            };
            let Some(message) = f.consumer.poll(wait) else {
                break;
            };
            let message = message.map_err(unavailable)?;
            let position = message.offset() as Offset;
            if position < f.start {
                continue; // before where it starts: the rest of a batch
            }
            let row = decode_row(position, message.payload())?;
            if row.is_void() || row.offset < f.next {
                continue; // a stale writer's, or one handed out already
            }
            if row.offset > f.next {
                if !f.started && f.back < f.start {
                    // The broker skipped to the next batch: start further
                    // back and skip what comes before.
                    let back = (f.back * 2).clamp(1, f.start);
                    let retry = self.new_follower(f.next, f.start, back)?;
                    return Ok((retry, out));
                }
                return Err(LogError::Corrupt {
                    offset: f.next,
                    reason: format!("missing; the next valid record is {}", row.offset),
                });
            }
            // `hash_matches` also checks that prev_hash parses.
            let linked = row.hash_matches()
                && f.prev
                    .is_none_or(|p| harambee_core::text::hex32(&row.prev_hash) == Some(p));
            if !linked {
                return Err(LogError::Corrupt {
                    offset: row.offset,
                    reason: "record does not continue the hash chain".into(),
                });
            }
            f.prev = harambee_core::text::hex32(&row.hash);
            f.next = row.offset + 1;
            f.started = true;
            out.push(row);
        }
        Ok((f, out))
    }
}

/// The stored form of the message at partition offset `at`.
fn decode_row(at: Offset, payload: Option<&[u8]>) -> Result<ChainedRecord, LogError> {
    let payload = payload.ok_or(LogError::Corrupt {
        offset: at,
        reason: format!("empty message at partition offset {at}"),
    })?;
    let mut row: ChainedRecord =
        serde_json::from_slice(payload).map_err(|e| LogError::Corrupt {
            offset: at,
            reason: format!("message at partition offset {at}: {e}"),
        })?;
    row.at = Some(at);
    Ok(row)
}

/// How long a read with no known end waits for more before it decides the
/// partition has no more.
pub const READ_IDLE_MS: u64 = 300;

#[async_trait]
impl CommandLog for KafkaLog {
    async fn append(&self, records: &[LogRecord]) -> Result<Offset, LogError> {
        if records.len() > LOG_BATCH_RECORDS_MAX {
            return Err(LogError::BatchTooLarge(records.len()));
        }
        let mut head = self.head.lock().await;
        self.settle_head(&mut head).await?;
        let Head {
            next: first,
            position: first_position,
            hash: mut prev,
        } = *head;
        let mut payloads = Vec::with_capacity(records.len());
        for (i, record) in records.iter().enumerate() {
            let offset = first + i as Offset;
            let position = first_position + i as Offset;
            let text = record.encode().map_err(unavailable)?;
            let hash = chain::link_at(offset, Some(position), &prev, &text);
            let row = ChainedRecord {
                offset,
                position: Some(position),
                at: None,
                prev_hash: harambee_core::text::hex(&prev),
                hash: harambee_core::text::hex(&hash),
                record: text,
            };
            payloads.push(serde_json::to_vec(&row).map_err(unavailable)?);
            prev = hash;
        }
        let key = format!("ledger-{}", self.target.partition);
        let producer = self
            .producer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let deliveries: Vec<_> = payloads
            .iter()
            .map(|p| {
                producer.send(
                    FutureRecord::to(&self.target.topic)
                        .partition(self.target.partition)
                        .key(&key)
                        .payload(p),
                    timeout(),
                )
            })
            .collect();
        let mut failure = None;
        for (i, delivery) in futures::future::join_all(deliveries)
            .await
            .into_iter()
            .enumerate()
        {
            let position = first_position + i as Offset;
            match delivery {
                Ok(delivered) if delivered.offset as Offset == position => {}
                Ok(delivered) => {
                    metrics::counter!("harambee_log_contended_total").increment(1);
                    failure.get_or_insert(LogError::Contended(format!(
                        "record {} was meant for partition offset {position} and landed at {}: \
                         another process appended at the same time; it and the rest of the batch are void",
                        first + i as Offset,
                        delivered.offset
                    )));
                }
                Err((e, _)) => {
                    failure.get_or_insert(unavailable(e));
                }
            }
        }
        if let Some(e) = failure {
            // A fresh producer (a new producer id) for the next append: the
            // old one's sequence numbers may no longer match the broker's.
            match log_producer(&self.target.brokers) {
                Ok(fresh) => *self.producer.lock().unwrap_or_else(|p| p.into_inner()) = fresh,
                Err(e) => tracing::warn!(error = %e, "could not make a new producer"),
            }
            // Part of the batch may be durable: learn the real head again
            // before the next append (now, or then if the broker is away).
            self.unsure
                .store(true, std::sync::atomic::Ordering::Release);
            if let Ok(found) = self.find_head().await
                && found.next >= head.next
            {
                *head = found;
                self.unsure
                    .store(false, std::sync::atomic::Ordering::Release);
            }
            return Err(e);
        }
        *head = Head {
            next: first + records.len() as Offset,
            position: first_position + records.len() as Offset,
            hash: prev,
        };
        Ok(first)
    }

    async fn read(&self, from: Offset, max: usize) -> Result<Vec<(Offset, LogRecord)>, LogError> {
        let rows = self.chained(from, max).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            if !row.hash_matches() {
                return Err(LogError::Corrupt {
                    offset: row.offset,
                    reason: "record does not match its hash".into(),
                });
            }
            let record = LogRecord::decode(&row.record).map_err(|e| LogError::Corrupt {
                offset: row.offset,
                reason: e.to_string(),
            })?;
            out.push((row.offset, record));
        }
        Ok(out)
    }

    async fn end(&self) -> Result<Offset, LogError> {
        // The single writer knows its end; it is re-read after a failure.
        let mut head = self.head.lock().await;
        self.settle_head(&mut head).await?;
        Ok(head.next)
    }

    async fn follow(
        &self,
        from: Offset,
        max: usize,
        wait_ms: u64,
    ) -> Result<Vec<(Offset, LogRecord)>, LogError> {
        let kept = self
            .follower
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let follower = match kept {
            Some(f) if f.next == from => f,
            // A record's partition offset is at or after its log offset.
            _ => self.reader().new_follower(from, from, 0)?,
        };
        let max = max.clamp(1, LOG_BATCH_RECORDS_MAX);
        // The consumer polls synchronously: keep it off the async workers.
        let target = self.reader();
        let (follower, rows) =
            tokio::task::spawn_blocking(move || target.follow_step(follower, max, wait_ms))
                .await
                .map_err(unavailable)??;
        *self.follower.lock().unwrap_or_else(|p| p.into_inner()) = Some(follower);
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let record = LogRecord::decode(&row.record).map_err(|e| LogError::Corrupt {
                offset: row.offset,
                reason: e.to_string(),
            })?;
            out.push((row.offset, record));
        }
        Ok(out)
    }

    async fn recover(&self) -> Result<Offset, LogError> {
        // The head is read back from the broker if an append failed, and
        // never moved below what was acknowledged.
        self.end().await
    }

    async fn probe(&self) -> Result<(), LogError> {
        self.end().await?;
        let consumer: BaseConsumer = self.consumer_config.create().map_err(unavailable)?;
        let topic = self.target.topic.clone();
        let partition = self.target.partition;
        tokio::task::spawn_blocking(move || {
            consumer
                .fetch_watermarks(&topic, partition, timeout())
                .map(|_| ())
                .map_err(unavailable)
        })
        .await
        .map_err(unavailable)?
    }

    async fn resync(&self) -> Result<Offset, LogError> {
        *self.follower.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let mut head = self.head.lock().await;
        *head = self.find_head().await?;
        Ok(head.next)
    }
}
