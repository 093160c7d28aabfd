//! # harambee-switch
//!
//! The Harambee service: the gRPC participant and operator APIs, account
//! lookup and oracles, quoting, transfer orchestration, the event log,
//! storage, metrics and the `harambee` binary.
//!
//! Today it holds [`fspiop`], the mapping between errors and FSPIOP error
//! information on the gRPC edge, which every server and client of the switch
//! shares. The service itself is built on it next (see
//! `docs/ARCHITECTURE.md`).

pub mod fspiop;
