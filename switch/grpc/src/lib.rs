//! # harambee-grpc
//!
//! The gRPC adapter: the participant API and the operator API of
//! `harambee.v1`, served with tonic, and the service layer's ports over
//! gRPC (each participant's `PayeeCallback`, the external oracles).
//!
//! A handler authenticates the call ([`edge`]), checks the message's
//! fields (`harambee_proto::validate`), calls the service layer, and turns
//! its answer or its `SwitchError` into the wire form, once. It reaches
//! nothing below the service layer: no engine, no log, no read-side store
//! (`tests/tests/architecture.rs` checks it).
//!
//! - [`participant_api`]: lookup, quotes, transfers, notifications.
//! - [`operator_api`]: participants, limits, funds, oracles, settlement,
//!   reports, the ledger digest.
//! - [`callbacks`]: `GrpcPayees` (the `PayeeConnector`), `GrpcOracle`
//!   (the `Oracle`) and `GrpcNotices` (the `Notices` port).

pub mod callbacks;
pub mod edge;
pub mod operator_api;
pub mod participant_api;
