//! # harambee-fspiop
//!
//! The FSPIOP adapter: Mojaloop's HTTP APIs onto the service layer, so that
//! Mojaloop participants and operators' tools connect unchanged.
//!
//! - [`admin`]: the hub admin API of central-ledger (participants, limits,
//!   endpoints, hub accounts, accounts, positions, funds in and out).
//! - [`error`]: FSPIOP `errorInformation` bodies and their HTTP statuses.
//!
//! The participant-facing FSPIOP v1.1 API (parties, quotes, transfers with
//! their callbacks) comes next, on the same service layer (issue 13).
//!
//! Like every adapter it reaches nothing below the service layer
//! (`tests/tests/architecture.rs` checks it).

pub mod admin;
pub mod error;
