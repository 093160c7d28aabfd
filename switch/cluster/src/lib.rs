//! # harambee-cluster
//!
//! How the nodes of a cluster hand their records to the writer: the
//! `Cluster` gRPC service (`harambee.cluster.v1`, `cluster.proto`) that
//! every node serves on `cluster_listen` (only the writer accepts
//! `Submit`), and [`GrpcForwarder`], the engine's `Forwarder` over it.
//! Calls carry the cluster's own credential (`cluster.token`, never the
//! operator's), shared by the nodes, checked by the service layer's
//! authenticator as `Role::ClusterNode`; on a TLS link (`tls.cluster`)
//! each node also presents the switch's certificate in the handshake.
//!
//! Who writes is the engine's writer election
//! (`harambee_engine::election`). This crate is the engine's transport
//! between nodes, not an adapter for participants: it is the one crate
//! above the service layer that hands records to the engine directly.

use std::time::Duration;

use async_trait::async_trait;
use futures::future::join_all;
use harambee_proto::cluster::v1::cluster_client::ClusterClient;
use harambee_proto::cluster::v1::cluster_server::Cluster;
use harambee_proto::cluster::v1::{SubmitRequest, SubmitResponse, SubmitResult, submit_result};
use harambee_proto::fspiop::{ErrorCode, FspiopError, SwitchError};
use tonic::{Request, Response, Status};

use std::sync::Arc;

use harambee_core::record::LogRecord;
use harambee_engine::Engine;
use harambee_engine::engine::Forwarder;
use harambee_log::{LOG_BATCH_RECORDS_MAX, Offset};
use harambee_proto::client::Channels;
use harambee_service::Service;
use harambee_service::ports::Role;

/// Deadline of one `Submit` to the writer.
pub const SUBMIT_TIMEOUT_MS: u64 = 10_000;

/// Largest Cluster API message, either way. A follower splits its
/// hand-overs to stay under it (`SUBMIT_BYTES_MAX`).
pub const CLUSTER_MESSAGE_MAX_BYTES: usize = 64 << 20;

/// Encoded records one `Submit` carries at most, leaving room for the
/// message's framing.
pub const SUBMIT_BYTES_MAX: usize = CLUSTER_MESSAGE_MAX_BYTES - (1 << 20);

/// Hands records to the writer over gRPC.
pub struct GrpcForwarder {
    channels: Channels,
    /// The cluster's own credential (`cluster.token`), never the
    /// operator's.
    cluster_token: String,
}

impl GrpcForwarder {
    pub fn new(cluster_token: &str) -> GrpcForwarder {
        GrpcForwarder {
            channels: Channels::default(),
            cluster_token: cluster_token.to_string(),
        }
    }

    /// The same, `https://` writers reached on `tls` (the scheme CA's
    /// roots and this node's certificate).
    pub fn with_tls(mut self, tls: tonic::transport::ClientTlsConfig) -> GrpcForwarder {
        self.channels = Channels::with_tls(tls);
        self
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
        let bearer = format!("Bearer {}", self.cluster_token)
            .parse()
            .map_err(|_| {
                FspiopError::new(
                    ErrorCode::InternalServerError,
                    "the cluster token is not ASCII",
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
    pub engine: Engine,
    /// For the credential check.
    pub service: Arc<Service>,
}

#[tonic::async_trait]
impl Cluster for ClusterService {
    async fn submit(
        &self,
        request: Request<SubmitRequest>,
    ) -> Result<Response<SubmitResponse>, Status> {
        // The cluster credential, always: on a TLS link the node's
        // certificate (verified by the handshake) is a second factor,
        // not the credential.
        let token = harambee_grpc::edge::bearer(request.metadata()).map_err(|e| e.to_status())?;
        self.service
            .authenticate(
                harambee_service::ports::Credential::Bearer(token),
                Role::ClusterNode,
            )
            .map_err(|e| FspiopError::from(e).to_status())?;
        if !self.engine.is_writer() {
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
        let engine = &self.engine;
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
