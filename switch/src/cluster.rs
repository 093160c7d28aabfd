//! Several `harambee serve` nodes on one Kafka event log: who writes, and
//! how the others hand their records to the writer.
//!
//! - **Election**: every node joins the Kafka consumer group
//!   `<log topic>.writer`, subscribed to the one-partition topic of the same
//!   name (nothing is ever written to it). The member the group assigns
//!   partition 0 is the ledger writer. When it dies, its session times out
//!   (`kafka_session_timeout_ms`), the group rebalances, and another node is
//!   assigned the partition. A node that stops gracefully leaves the group
//!   at once.
//! - **Hand-over**: the `Cluster` gRPC service (`cluster.proto`) that every
//!   node serves on `cluster_listen`; only the writer accepts `Submit`.
//!   Calls carry the operator credential, shared by the nodes.
//!
//! A node that loses its assignment stops writing before the partition goes
//! to another member (the revocation comes first in Kafka's eager
//! rebalance protocol). A writer cut off from the group coordinator learns
//! it only when it reaches it again; if it appended in between, the new
//! writer's append lands at an offset it did not expect and one of the two
//! stops (see the engine) rather than let the state diverge.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures::future::join_all;
use harambee_proto::cluster::v1::cluster_client::ClusterClient;
use harambee_proto::cluster::v1::cluster_server::Cluster;
use harambee_proto::cluster::v1::{SubmitRequest, SubmitResponse, SubmitResult, submit_result};
use harambee_proto::fspiop::{ErrorCode, FspiopError, SwitchError};
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use tokio::sync::watch;
use tonic::{Request, Response, Status};

use crate::callbacks::Channels;
use crate::edge::Ctx;
use harambee_core::record::LogRecord;
use harambee_engine::engine::Forwarder;
use harambee_log::kafka;
use harambee_log::{LOG_BATCH_RECORDS_MAX, LogError, Offset};

/// Deadline of one `Submit` to the writer.
pub const SUBMIT_TIMEOUT_MS: u64 = 10_000;

/// Largest Cluster API message, either way. A follower splits its
/// hand-overs to stay under it (`SUBMIT_BYTES_MAX`).
pub const CLUSTER_MESSAGE_MAX_BYTES: usize = 64 << 20;

/// Encoded records one `Submit` carries at most, leaving room for the
/// message's framing.
pub const SUBMIT_BYTES_MAX: usize = CLUSTER_MESSAGE_MAX_BYTES - (1 << 20);

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
    engine: harambee_engine::engine::Engine,
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

/// Hands records to the writer over gRPC.
pub struct GrpcForwarder {
    channels: Channels,
    operator_token: String,
}

impl GrpcForwarder {
    pub fn new(operator_token: &str) -> GrpcForwarder {
        GrpcForwarder {
            channels: Channels::default(),
            operator_token: operator_token.to_string(),
        }
    }
}

impl GrpcForwarder {
    /// A client of the Cluster service at `url` and a request to it with
    /// the cluster credential and a deadline.
    fn request(
        &self,
        url: &str,
        body: SubmitRequest,
        timeout_ms: u64,
    ) -> Result<
        (
            ClusterClient<tonic::transport::Channel>,
            Request<SubmitRequest>,
        ),
        FspiopError,
    > {
        let channel = self.channels.channel(url).map_err(|e| {
            FspiopError::new(
                ErrorCode::ServiceUnavailable,
                format!("ledger writer: {}", e.description),
            )
        })?;
        let client = ClusterClient::new(channel)
            .max_decoding_message_size(CLUSTER_MESSAGE_MAX_BYTES)
            .max_encoding_message_size(CLUSTER_MESSAGE_MAX_BYTES);
        let mut request = Request::new(body);
        request.set_timeout(Duration::from_millis(timeout_ms));
        let bearer = format!("Bearer {}", self.operator_token)
            .parse()
            .map_err(|_| {
                FspiopError::new(
                    ErrorCode::InternalServerError,
                    "the operator token is not ASCII",
                )
            })?;
        request.metadata_mut().insert("authorization", bearer);
        Ok((client, request))
    }
}

/// Deadline of a probe of the writer.
pub const PROBE_TIMEOUT_MS: u64 = 1_000;

#[async_trait]
impl Forwarder for GrpcForwarder {
    async fn probe(&self, url: &str) -> Result<(), SwitchError> {
        let (mut client, request) =
            self.request(url, SubmitRequest { records: vec![] }, PROBE_TIMEOUT_MS)?;
        client
            .submit(request)
            .await
            .map(|_| ())
            .map_err(|status| FspiopError::from_status(&status).into())
    }

    async fn submit(
        &self,
        url: &str,
        records: &[LogRecord],
    ) -> Result<Vec<Result<Offset, SwitchError>>, SwitchError> {
        let mut encoded = Vec::with_capacity(records.len());
        for r in records {
            encoded
                .push(r.encode().map_err(|e| {
                    SwitchError::new(ErrorCode::InternalServerError, e.to_string())
                })?);
        }
        // Several calls if the records are too large for one message.
        let mut results = Vec::with_capacity(encoded.len());
        let mut chunk = Vec::new();
        let mut chunk_bytes = 0usize;
        for text in encoded {
            if !chunk.is_empty() && chunk_bytes + text.len() > SUBMIT_BYTES_MAX {
                results.extend(self.submit_chunk(url, std::mem::take(&mut chunk)).await?);
                chunk_bytes = 0;
            }
            chunk_bytes += text.len() + 8;
            chunk.push(text);
        }
        if !chunk.is_empty() {
            results.extend(self.submit_chunk(url, chunk).await?);
        }
        Ok(results)
    }
}

impl GrpcForwarder {
    /// One `Submit` of encoded records.
    async fn submit_chunk(
        &self,
        url: &str,
        encoded: Vec<String>,
    ) -> Result<Vec<Result<Offset, SwitchError>>, SwitchError> {
        let (mut client, request) =
            self.request(url, SubmitRequest { records: encoded }, SUBMIT_TIMEOUT_MS)?;
        let response = client.submit(request).await.map_err(|status| {
            let e = FspiopError::from_status(&status);
            // Whatever went wrong between the nodes, for the participant
            // the switch is unavailable: the request may be repeated.
            if (2000..3000).contains(&e.code) {
                e
            } else {
                FspiopError::new(
                    ErrorCode::ServiceUnavailable,
                    format!("ledger writer unreachable: {}", status.message()),
                )
            }
        })?;
        Ok(response
            .into_inner()
            .results
            .into_iter()
            .map(|r| match r.result {
                Some(submit_result::Result::Offset(o)) => Ok(o),
                // The writer's refusal, passed on as it gave it.
                Some(submit_result::Result::Error(e)) => Err(FspiopError {
                    code: harambee_proto::fspiop::parse_code(&e.error_code)
                        .unwrap_or(ErrorCode::ServiceUnavailable.number()),
                    description: e.error_description,
                }
                .into()),
                None => Err(SwitchError::new(
                    ErrorCode::ServiceUnavailable,
                    "the ledger writer gave no result",
                )),
            })
            .collect())
    }
}

/// The Cluster service: the writer's door for records of the other nodes.
pub struct ClusterService {
    pub ctx: Ctx,
}

#[tonic::async_trait]
impl Cluster for ClusterService {
    async fn submit(
        &self,
        request: Request<SubmitRequest>,
    ) -> Result<Response<SubmitResponse>, Status> {
        self.ctx
            .check(request.metadata(), crate::service::ports::Role::ClusterNode)
            .map_err(|e| e.to_status())?;
        if !self.ctx.engine.is_writer() {
            return Err(FspiopError::new(
                ErrorCode::ServiceUnavailable,
                "this node is not the ledger writer",
            )
            .to_status());
        }
        let records = request.into_inner().records;
        if records.len() > LOG_BATCH_RECORDS_MAX {
            return Err(FspiopError::new(
                ErrorCode::ValidationError,
                format!("at most {LOG_BATCH_RECORDS_MAX} records per call"),
            )
            .to_status());
        }
        let mut decoded = Vec::with_capacity(records.len());
        for (i, text) in records.iter().enumerate() {
            decoded.push(LogRecord::decode(text).map_err(|e| {
                FspiopError::new(ErrorCode::ValidationError, format!("record {i}: {e}")).to_status()
            })?);
        }
        // Submitted together, they join the writer's group commit.
        let engine = &self.ctx.engine;
        let results = join_all(decoded.into_iter().map(|r| engine.submit_as_writer(r))).await;
        Ok(Response::new(SubmitResponse {
            results: results
                .into_iter()
                .map(|r| SubmitResult {
                    result: Some(match r {
                        Ok((offset, _)) => submit_result::Result::Offset(offset),
                        Err(e) => submit_result::Result::Error(
                            FspiopError::from(e).to_error_information(),
                        ),
                    }),
                })
                .collect(),
        }))
    }
}
