//! # harambee-switch
//!
//! The Harambee service: the gRPC participant and operator APIs, account
//! lookup and oracles, quoting, transfer orchestration over the event log
//! and the ledger, metrics, and the `harambee` binary.
//!
//! Request path: `participant_api` / `operator_api` validate and
//! authenticate (`validate`, `edge`), turn the request into a `record`,
//! and submit it to the `engine`, which appends it to the `log` and applies
//! it to the `state` (ledger + directory). The payee is called through
//! `callbacks`; the `notifier` tells participants what happened; `server`
//! wires it all together. See `docs/ARCHITECTURE.md`.

pub mod callbacks;
pub mod cluster;
pub mod config;
pub mod datadir;
#[cfg(feature = "demo")]
pub mod demo;
pub mod edge;
pub mod notifier;
pub mod operator_api;
pub mod participant_api;
pub mod server;
pub mod service;
