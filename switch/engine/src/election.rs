//! The writer election of a cluster: several `harambee serve` nodes on
//! one Kafka command log, and which of them writes.
//!
//! Every node joins the Kafka consumer group `<log topic>.writer`,
//! subscribed to the one-partition topic of the same name (nothing is ever
//! written to it). The member the group assigns partition 0 is the ledger
//! writer. When it dies, its session times out (`kafka_session_timeout_ms`),
//! the group rebalances, and another node is assigned the partition. A node
//! that stops gracefully leaves the group at once.
//!
//! A node that loses its assignment stops writing before the partition goes
//! to another member (the revocation comes first in Kafka's eager
//! rebalance protocol). A writer cut off from the group coordinator learns
//! it only when it reaches it again; if it appended in between, the new
//! writer's append lands at an offset it did not expect and one of the two
//! stops (see [`crate::engine`]) rather than let the state diverge.
//!
//! How the other nodes hand their records to the writer is the
//! [`Forwarder`]'s business (gRPC, in `harambee-cluster`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use harambee_log::LogError;
use harambee_log::kafka;
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use tokio::sync::watch;

use crate::engine::{Engine, Forwarder};

/// The name of the election topic and group for a log topic.
pub fn writer_topic(log_topic: &str) -> String {
    format!("{log_topic}.writer")
}

struct ElectionContext {
    topic: String,
    elected: Arc<watch::Sender<bool>>,
}

impl ClientContext for ElectionContext {}

impl ConsumerContext for ElectionContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        // Give the role up before the partition goes to someone else.
        if matches!(rebalance, Rebalance::Revoke(_) | Rebalance::Error(_))
            && self.elected.send_replace(false)
        {
            tracing::warn!("writer partition revoked");
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(assignment) = rebalance {
            let holds = assignment
                .elements_for_topic(&self.topic)
                .iter()
                .any(|e| e.partition() == 0);
            if holds {
                tracing::info!(topic = %self.topic, "writer partition assigned");
            }
            self.elected.send_replace(holds);
        }
    }
}

/// One membership of the writer group: a consumer polled on a thread of
/// its own. Dropping it leaves the group.
struct Membership {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// This node's part in the writer election. Dropping it leaves the group.
pub struct Election {
    brokers: String,
    topic: String,
    session_timeout_ms: u64,
    node: String,
    elected_tx: Arc<watch::Sender<bool>>,
    elected: watch::Receiver<bool>,
    membership: std::sync::Mutex<Option<Membership>>,
}

impl Election {
    /// Creates the election topic if needed and joins the group.
    pub async fn join(
        brokers: &str,
        log_topic: &str,
        replication: i32,
        session_timeout_ms: u64,
        node: &str,
    ) -> Result<Election, LogError> {
        let topic = writer_topic(log_topic);
        kafka::create_topic(brokers, &topic, 1, replication).await?;
        let (tx, elected) = watch::channel(false);
        let election = Election {
            brokers: brokers.to_string(),
            topic,
            session_timeout_ms,
            node: node.to_string(),
            elected_tx: Arc::new(tx),
            elected,
            membership: std::sync::Mutex::new(None),
        };
        let membership = election.member()?;
        *election.lock() = Some(membership);
        tracing::info!(group = %election.topic, node, "joined the writer election");
        Ok(election)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Membership>> {
        self.membership.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new member of the group.
    fn member(&self) -> Result<Membership, LogError> {
        let context = ElectionContext {
            topic: self.topic.clone(),
            elected: self.elected_tx.clone(),
        };
        let consumer: BaseConsumer<ElectionContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", &self.topic)
            .set("client.id", format!("harambee-{}", self.node))
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            .set("auto.offset.reset", "latest")
            .set("fetch.wait.max.ms", "50")
            .set("session.timeout.ms", self.session_timeout_ms.to_string())
            .set(
                "heartbeat.interval.ms",
                (self.session_timeout_ms / 4).max(100).to_string(),
            )
            .set("partition.assignment.strategy", "range")
            .create_with_context(context)
            .map_err(|e| LogError::Unavailable(e.to_string()))?;
        consumer
            .subscribe(&[&self.topic])
            .map_err(|e| LogError::Unavailable(e.to_string()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("harambee-election".into())
            .spawn(move || {
                while !stopping.load(Ordering::Relaxed) {
                    // Polling serves heartbeats and rebalances; the topic
                    // carries no messages.
                    if let Some(Err(e)) = consumer.poll(Duration::from_millis(100)) {
                        tracing::warn!(error = %e, "writer election");
                    }
                }
                consumer.unsubscribe();
                // Dropping the consumer closes it: it leaves the group now
                // rather than when its session times out.
                drop(consumer);
            })
            .map_err(|e| LogError::Unavailable(e.to_string()))?;
        Ok(Membership {
            stop,
            thread: Some(thread),
        })
    }

    /// Leaves the group and joins it again as a new member: the group
    /// forms anew and elects a writer among the members that are alive.
    pub fn rejoin(&self) -> Result<(), LogError> {
        let old = self.lock().take();
        // Blocks until the old member has left (one poll interval).
        drop(old);
        self.elected_tx.send_replace(false);
        let membership = self.member()?;
        *self.lock() = Some(membership);
        tracing::info!(group = %self.topic, node = %self.node, "rejoined the writer election");
        Ok(())
    }

    /// True while this node holds the writer partition.
    pub fn elected(&self) -> watch::Receiver<bool> {
        self.elected.clone()
    }
}

/// How often a follower checks that the writer answers.
pub const WRITER_PROBE_INTERVAL_MS: u64 = 500;

/// Watches, on a follower, that the writer the log names answers on its
/// Cluster service. If none has answered for twice the session timeout,
/// the group did not move the role (a broker may keep a dead member's
/// assignment; Tansu 0.6 does when the dead member led the group): the
/// node leaves the group and joins it again, which makes the group form
/// anew among the live members. At most once per that period.
pub async fn supervise(
    election: Arc<Election>,
    engine: Engine,
    forwarder: Arc<dyn Forwarder>,
    mut stop: watch::Receiver<bool>,
) {
    let patience = Duration::from_millis(election.session_timeout_ms.saturating_mul(2));
    let mut last_ok = tokio::time::Instant::now();
    let mut last_rejoin = last_ok;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(WRITER_PROBE_INTERVAL_MS)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let now = tokio::time::Instant::now();
        if engine.is_writer() || *election.elected.borrow() {
            last_ok = now;
            continue;
        }
        let Ok(url) = engine
            .read()
            .map(|st| st.directory.writer().map(|(_, u)| u.to_string()))
        else {
            return;
        };
        let answered = match url {
            Some(url) => forwarder.probe(&url).await.is_ok(),
            None => false,
        };
        if answered {
            last_ok = now;
        } else if now.duration_since(last_ok) > patience
            && now.duration_since(last_rejoin) > patience
        {
            tracing::warn!(
                unanswered_ms = now.duration_since(last_ok).as_millis() as u64,
                "no ledger writer answers; re-entering the writer election"
            );
            metrics::counter!("harambee_cluster_rejoins_total").increment(1);
            let election = election.clone();
            match tokio::task::spawn_blocking(move || election.rejoin()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "rejoining the writer election failed"),
                Err(e) => tracing::error!(error = %e, "rejoining the writer election failed"),
            }
            last_rejoin = tokio::time::Instant::now();
        }
    }
}
