//! Ledger events for downstream systems: the writer publishes every ledger
//! event, protobuf-encoded (`harambee.v1.LedgerEvent`, `events.proto`), on
//! the Kafka topic `<log topic>.events`, after the record that made it is
//! durable and applied.
//!
//! Delivery is at least once and in log order. The publisher is a reader
//! of the feed (see `feed`) whose checkpoint is the topic itself: when a
//! node becomes the writer (at start, or by taking over), and after any
//! failed publication (a broker outage), it reads the last event on the
//! topic and goes on from the event after it, from the feed's memory or,
//! if that no longer reaches so far back, from the log. Nothing is ever
//! skipped. A consumer deduplicates by (`log_offset`, `index`).

use std::time::Duration;

use harambee_ledger::{Event, ParticipantId, PostingPhase};
use harambee_proto::v1::{self, ledger_event};
use prost::Message as _;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset as KafkaOffset, TopicPartitionList};

use harambee_engine::Engine;
use harambee_log::kafka::{self, timeout_ms};
use harambee_log::{LogError, Offset};

use harambee_core::state::State;

/// Records whose events are published in one go, at most.
pub const PUBLISH_RECORDS_MAX: usize = 4_096;

/// Pause after a failed publication before the topic's end is read again.
pub const RETRY_PAUSE_MS: u64 = 500;

/// The events topic of a log topic.
pub fn events_topic(log_topic: &str) -> String {
    format!("{log_topic}.events")
}

/// (log offset, index): where an event stands in the log.
pub type EventPosition = (Offset, u32);

/// The producer of the events topic.
pub struct Publisher {
    brokers: String,
    topic: String,
    /// Replaced after a failed publication (see the log's producer).
    producer: std::sync::Mutex<FutureProducer>,
}

fn unavailable(e: impl std::fmt::Display) -> LogError {
    LogError::Unavailable(e.to_string())
}

impl Publisher {
    /// Creates the topic if it is missing and connects.
    pub async fn connect(
        brokers: &str,
        topic: &str,
        replication: i32,
    ) -> Result<Publisher, LogError> {
        kafka::create_topic(brokers, topic, 1, replication).await?;
        Ok(Publisher {
            brokers: brokers.to_string(),
            topic: topic.to_string(),
            producer: std::sync::Mutex::new(events_producer(brokers)?),
        })
    }

    /// The position of the last event on the topic, if any.
    pub async fn last_published(&self) -> Result<Option<EventPosition>, LogError> {
        let brokers = self.brokers.clone();
        let topic = self.topic.clone();
        tokio::task::spawn_blocking(move || last_event(&brokers, &topic))
            .await
            .map_err(unavailable)?
    }

    /// Publishes events in order; returns once all are acknowledged.
    async fn publish(&self, events: &[v1::LedgerEvent]) -> Result<(), LogError> {
        let payloads: Vec<Vec<u8>> = events.iter().map(|e| e.encode_to_vec()).collect();
        let producer = self
            .producer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let deliveries: Vec<_> = payloads
            .iter()
            .map(|p| {
                producer.send(
                    FutureRecord::to(&self.topic)
                        .partition(0)
                        .key("ledger-0")
                        .payload(p),
                    Duration::from_millis(timeout_ms()),
                )
            })
            .collect();
        let mut failure = None;
        for delivery in futures::future::join_all(deliveries).await {
            if let Err((e, _)) = delivery {
                failure.get_or_insert(unavailable(e));
            }
        }
        match failure {
            None => Ok(()),
            Some(e) => {
                // A new producer id: the old one may be out of sequence.
                if let Ok(fresh) = events_producer(&self.brokers) {
                    *self.producer.lock().unwrap_or_else(|p| p.into_inner()) = fresh;
                }
                Err(e)
            }
        }
    }
}

fn events_producer(brokers: &str) -> Result<FutureProducer, LogError> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", timeout_ms().to_string())
        .create()
        .map_err(unavailable)
}

/// Reads the last message of partition 0 of `topic` (blocking).
fn last_event(brokers: &str, topic: &str) -> Result<Option<EventPosition>, LogError> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set(
            "group.id",
            format!("harambee-events-reader-{}", uuid::Uuid::new_v4().simple()),
        )
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "5")
        .create()
        .map_err(unavailable)?;
    let (_, high) = consumer
        .fetch_watermarks(topic, 0, Duration::from_millis(timeout_ms()))
        .map_err(unavailable)?;
    let high = high.max(0);
    if high == 0 {
        return Ok(None);
    }
    // The watermark is a hint on some brokers: start before it, further
    // back until a message comes, then read to the end.
    let mut back = 2i64;
    loop {
        let start = (high - back).max(0);
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(topic, 0, KafkaOffset::Offset(start))
            .map_err(unavailable)?;
        consumer.assign(&assignment).map_err(unavailable)?;
        let mut last = None;
        let deadline = std::time::Instant::now() + Duration::from_millis(timeout_ms());
        let mut wait = Duration::from_millis(1_000);
        while std::time::Instant::now() < deadline {
            let Some(message) = consumer.poll(wait) else {
                break;
            };
            let message = message.map_err(unavailable)?;
            if let Some(payload) = message.payload() {
                let event = v1::LedgerEvent::decode(payload).map_err(|e| LogError::Corrupt {
                    offset: message.offset() as Offset,
                    reason: format!("events topic: {e}"),
                })?;
                last = Some((event.log_offset, event.index));
            }
            wait = Duration::from_millis(kafka::READ_IDLE_MS);
        }
        if last.is_some() || start == 0 {
            return Ok(last);
        }
        back *= 2;
    }
}

fn phase(p: PostingPhase) -> v1::PostingPhase {
    match p {
        PostingPhase::Posted => v1::PostingPhase::Posted,
        PostingPhase::Pending => v1::PostingPhase::Pending,
        PostingPhase::PostPending => v1::PostingPhase::PostPending,
        PostingPhase::VoidPending => v1::PostingPhase::VoidPending,
    }
}

fn posting(state: &State, p: &harambee_ledger::Posting) -> Option<v1::Posting> {
    Some(v1::Posting {
        debit_account: p.debit.0,
        credit_account: p.credit.0,
        currency: p.currency.to_string(),
        amount: state.ledger.decimal(p.currency, p.amount).to_string(),
        phase: phase(p.phase) as i32,
    })
}

/// The wire form of the event at (`offset`, `index`) of a record of time
/// `time_ms`; participant names come from `state`.
pub fn encode(
    state: &State,
    offset: Offset,
    index: u32,
    time_ms: i64,
    event: &Event,
) -> v1::LedgerEvent {
    use ledger_event::Kind;
    let name = |id: ParticipantId| {
        state
            .ledger
            .participant_name(id)
            .map(str::to_string)
            .unwrap_or_default()
    };
    let funds = |funds_id: &harambee_ledger::FundsId,
                 participant: &ParticipantId,
                 p: &harambee_ledger::Posting| v1::FundsMoved {
        funds_id: harambee_core::text::uuid_string(funds_id.0),
        fsp_id: name(*participant),
        posting: posting(state, p),
    };
    let kind = match event {
        Event::CurrencyEnabled {
            currency,
            scale,
            reconciliation,
            multilateral_settlement,
        } => Kind::CurrencyEnabled(v1::CurrencyEnabled {
            currency: currency.to_string(),
            scale: *scale,
            reconciliation_account: reconciliation.0,
            multilateral_settlement_account: multilateral_settlement.0,
        }),
        Event::ParticipantCreated { name: n, kind, .. } => {
            Kind::ParticipantCreated(v1::ParticipantCreated {
                fsp_id: n.clone(),
                kind: match kind {
                    harambee_ledger::ParticipantKind::Bank => "BANK",
                    harambee_ledger::ParticipantKind::Wallet => "WALLET",
                }
                .into(),
            })
        }
        Event::AccountsOpened {
            participant,
            currency,
            position,
            settlement,
            net_debit_cap,
        } => Kind::AccountsOpened(v1::AccountsOpened {
            fsp_id: name(*participant),
            currency: currency.to_string(),
            position_account: position.0,
            settlement_account: settlement.0,
            net_debit_cap: state.ledger.decimal(*currency, *net_debit_cap).to_string(),
        }),
        Event::ParticipantActiveSet {
            participant,
            active,
        } => Kind::ParticipantActiveSet(v1::ParticipantActiveSet {
            fsp_id: name(*participant),
            active: *active,
        }),
        Event::AccountActiveSet {
            participant,
            currency,
            account,
            active,
        } => Kind::AccountActiveSet(v1::AccountActiveSet {
            fsp_id: name(*participant),
            currency: currency.to_string(),
            account: account.0,
            active: *active,
        }),
        Event::NetDebitCapSet {
            participant,
            currency,
            net_debit_cap,
        } => Kind::NetDebitCapSet(v1::NetDebitCapSet {
            fsp_id: name(*participant),
            currency: currency.to_string(),
            net_debit_cap: state.ledger.decimal(*currency, *net_debit_cap).to_string(),
        }),
        Event::FundsIn {
            funds_id,
            participant,
            posting: p,
        } => Kind::FundsIn(funds(funds_id, participant, p)),
        Event::FundsOutReserved {
            funds_id,
            participant,
            posting: p,
        } => Kind::FundsOutReserved(funds(funds_id, participant, p)),
        Event::FundsOutCommitted {
            funds_id,
            participant,
            posting: p,
        } => Kind::FundsOutCommitted(funds(funds_id, participant, p)),
        Event::FundsOutAborted {
            funds_id,
            participant,
            posting: p,
        } => Kind::FundsOutAborted(funds(funds_id, participant, p)),
        Event::TransferReserved {
            transfer_id,
            payer,
            payee,
            expires_at_ms,
            posting: p,
        } => Kind::TransferReserved(v1::TransferReserved {
            transfer_id: harambee_core::text::uuid_string(transfer_id.0),
            payer_fsp: name(*payer),
            payee_fsp: name(*payee),
            expires_at_ms: *expires_at_ms,
            posting: posting(state, p),
        }),
        Event::TransferRefused {
            transfer_id,
            payer,
            payee,
            reason,
        } => Kind::TransferRefused(v1::TransferRefused {
            transfer_id: harambee_core::text::uuid_string(transfer_id.0),
            payer_fsp: name(*payer),
            payee_fsp: name(*payee),
            reason: u32::from(*reason),
        }),
        Event::TransferCommitted {
            transfer_id,
            payer,
            payee,
            posting: p,
        } => Kind::TransferCommitted(v1::TransferCommitted {
            transfer_id: harambee_core::text::uuid_string(transfer_id.0),
            payer_fsp: name(*payer),
            payee_fsp: name(*payee),
            posting: posting(state, p),
        }),
        Event::TransferAborted {
            transfer_id,
            payer,
            payee,
            reason,
            posting: p,
            ..
        } => Kind::TransferAborted(v1::TransferAborted {
            transfer_id: harambee_core::text::uuid_string(transfer_id.0),
            payer_fsp: name(*payer),
            payee_fsp: name(*payee),
            reason: u32::from(*reason),
            posting: posting(state, p),
        }),
        Event::SettlementModelSet {
            participant,
            currency,
            gross,
        } => Kind::SettlementModelSet(v1::SettlementModelSet {
            fsp_id: name(*participant),
            currency: currency.to_string(),
            gross: *gross,
        }),
        Event::SettlementPosted {
            settlement_id,
            participant,
            posting: p,
        } => Kind::SettlementPosted(v1::SettlementPosted {
            settlement_id: *settlement_id,
            fsp_id: name(*participant),
            posting: posting(state, p),
        }),
    };
    v1::LedgerEvent {
        log_offset: offset,
        index,
        command_time_ms: time_ms,
        kind: Some(kind),
    }
}

/// Publishes the events of every record, in log order, while this node is
/// the writer, until the switch stops.
pub async fn run(
    engine: Engine,
    publisher: Publisher,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut writer = engine.writer_changes();
    let pause = || tokio::time::sleep(Duration::from_millis(RETRY_PAUSE_MS));
    'term: loop {
        tokio::select! {
            elected = writer.wait_for(|w| *w) => if elected.is_err() { return },
            _ = stop.wait_for(|s| *s) => return,
        }
        // The topic is the checkpoint: go on after its last event.
        let last = match publisher.last_published().await {
            Ok(last) => last,
            Err(e) => {
                tracing::warn!(error = %e, "events topic unavailable; retrying");
                tokio::select! { _ = pause() => {}, _ = stop.wait_for(|s| *s) => return }
                continue 'term;
            }
        };
        tracing::info!(?last, "publishing the events after the topic's last one");
        let mut reader = engine.feed().reader(last.map_or(0, |(offset, _)| offset));
        loop {
            let next = tokio::select! {
                next = reader.next(PUBLISH_RECORDS_MAX) => next,
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
                    tracing::warn!(error = %e, "the event publisher could not read the feed; retrying");
                    tokio::select! { _ = pause() => {}, _ = stop.wait_for(|s| *s) => return }
                    continue 'term;
                }
            };
            // Batch by batch: the engine never waits long for the lock.
            let mut wire: Vec<v1::LedgerEvent> = Vec::new();
            for batch in &batches {
                let Ok(st) = engine.read() else { return };
                wire.extend(
                    batch
                        .events()
                        .filter(|(offset, index, _, _)| last.is_none_or(|l| (*offset, *index) > l))
                        .map(|(offset, index, time_ms, event)| {
                            encode(&st, offset, index, time_ms, event)
                        }),
                );
            }
            if wire.is_empty() {
                continue;
            }
            match publisher.publish(&wire).await {
                Ok(()) => {
                    tracing::debug!(
                        events = wire.len(),
                        position = reader.position(),
                        "events published"
                    );
                    metrics::counter!("harambee_events_published_total")
                        .increment(wire.len() as u64);
                }
                Err(e) => {
                    tracing::warn!(error = %e, events = wire.len(), "publishing events failed; going on from the topic's end");
                    metrics::counter!("harambee_events_publish_failures_total").increment(1);
                    tokio::select! { _ = pause() => {}, _ = stop.wait_for(|s| *s) => return }
                    continue 'term;
                }
            }
        }
    }
}
