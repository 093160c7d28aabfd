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
use harambee_proto::fspiop::FspiopError;
use harambee_proto::v1::cluster_client::ClusterClient;
use harambee_proto::v1::cluster_server::Cluster;
use harambee_proto::v1::{SubmitRequest, SubmitResponse, SubmitResult, submit_result};
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use tokio::sync::watch;
use tonic::{Request, Response, Status};

use crate::callbacks::Channels;
use crate::edge::{Ctx, credential_hash};
use crate::engine::Forwarder;
use crate::log::kafka;
use crate::log::{LOG_BATCH_RECORDS_MAX, LogError, Offset};
use crate::record::LogRecord;

/// Deadline of one `Submit` to the writer.
pub const SUBMIT_TIMEOUT_MS: u64 = 10_000;

/// The name of the election topic and group for a log topic.
pub fn writer_topic(log_topic: &str) -> String {
    format!("{log_topic}.writer")
}

struct ElectionContext {
    topic: String,
    elected: watch::Sender<bool>,
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

/// Membership of the writer group, on a thread of its own. Dropping it
/// leaves the group.
pub struct Election {
    elected: watch::Receiver<bool>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
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
        let context = ElectionContext {
            topic: topic.clone(),
            elected: tx,
        };
        let consumer: BaseConsumer<ElectionContext> = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("group.id", &topic)
            .set("client.id", format!("harambee-{node}"))
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            .set("auto.offset.reset", "latest")
            .set("fetch.wait.max.ms", "50")
            .set("session.timeout.ms", session_timeout_ms.to_string())
            .set(
                "heartbeat.interval.ms",
                (session_timeout_ms / 4).max(100).to_string(),
            )
            .set("partition.assignment.strategy", "range")
            .create_with_context(context)
            .map_err(|e| LogError::Unavailable(e.to_string()))?;
        consumer
            .subscribe(&[&topic])
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
        tracing::info!(group = %topic, node, "joined the writer election");
        Ok(Election {
            elected,
            stop,
            thread: Some(thread),
        })
    }

    /// True while this node holds the writer partition.
    pub fn elected(&self) -> watch::Receiver<bool> {
        self.elected.clone()
    }
}

impl Drop for Election {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
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

#[async_trait]
impl Forwarder for GrpcForwarder {
    async fn submit(
        &self,
        url: &str,
        records: &[LogRecord],
    ) -> Result<Vec<Result<Offset, FspiopError>>, FspiopError> {
        let mut encoded = Vec::with_capacity(records.len());
        for r in records {
            encoded.push(
                r.encode()
                    .map_err(|e| FspiopError::new(2001, e.to_string()))?,
            );
        }
        let channel = self
            .channels
            .channel(url)
            .map_err(|e| FspiopError::new(2003, format!("ledger writer: {}", e.description)))?;
        let mut client = ClusterClient::new(channel)
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX);
        let mut request = Request::new(SubmitRequest { records: encoded });
        request.set_timeout(Duration::from_millis(SUBMIT_TIMEOUT_MS));
        let bearer = format!("Bearer {}", self.operator_token)
            .parse()
            .map_err(|_| FspiopError::new(2001, "the operator token is not ASCII"))?;
        request.metadata_mut().insert("authorization", bearer);
        let response = client.submit(request).await.map_err(|status| {
            let e = FspiopError::from_status(&status);
            // Whatever went wrong between the nodes, for the participant
            // the switch is unavailable: the request may be repeated.
            if (2000..3000).contains(&e.code) {
                e
            } else {
                FspiopError::new(
                    2003,
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
                Some(submit_result::Result::Error(e)) => Err(FspiopError::new(
                    harambee_proto::fspiop::parse_code(&e.error_code).unwrap_or(2003),
                    e.error_description,
                )),
                None => Err(FspiopError::new(2003, "the ledger writer gave no result")),
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
        let presented = crate::edge::bearer(request.metadata()).map_err(|e| e.to_status())?;
        if credential_hash(presented) != credential_hash(&self.ctx.config.operator_token) {
            return Err(FspiopError::new(3105, "not the cluster credential").to_status());
        }
        let records = request.into_inner().records;
        if records.len() > LOG_BATCH_RECORDS_MAX {
            return Err(FspiopError::new(
                3100,
                format!("at most {LOG_BATCH_RECORDS_MAX} records per call"),
            )
            .to_status());
        }
        let mut decoded = Vec::with_capacity(records.len());
        for (i, text) in records.iter().enumerate() {
            decoded.push(
                LogRecord::decode(text)
                    .map_err(|e| FspiopError::new(3100, format!("record {i}: {e}")).to_status())?,
            );
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
                        Err(e) => submit_result::Result::Error(e.to_error_information()),
                    }),
                })
                .collect(),
        }))
    }
}
