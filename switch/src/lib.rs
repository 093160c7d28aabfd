//! # harambee-switch
//!
//! The `harambee` binary and what it wires: the typed configuration
//! (`config`), the data directory's lock (`datadir`), the bounded HTTP
//! servers (`http`), and `server`, which
//! opens the command log and the stores, starts the engine, builds the
//! service layer with its gRPC ports, and serves the gRPC adapter, the
//! cluster transport, the read side's tasks and the metrics endpoint. The
//! `demo` (simulated banks and wallets, behind the `demo` feature) runs
//! a switch and pays through it. The flows themselves live in
//! `harambee-service`; see `docs/ARCHITECTURE.md` for the map.

pub mod config;
pub mod datadir;
#[cfg(feature = "demo")]
pub mod demo;
pub mod http;
pub mod server;
