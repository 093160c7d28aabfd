//! # harambee-core
//!
//! The pure core of the switch: what the log holds ([`record`]), what
//! applying it builds ([`state`]: the ledger, the directory, settlements
//! and notice numbers), the notices each record raises ([`notices`]), the
//! FSPIOP error codes by name ([`error`]) and the text forms of binary
//! values ([`text`]).
//!
//! Architecture invariant: nothing here does I/O, reads a clock or draws a
//! random number, and nothing here knows a transport (no gRPC, no SQL, no
//! Kafka). Every layer above depends on this crate; it depends on
//! `harambee-ledger` and `harambee-settlement` only.

pub mod error;
pub mod notices;
pub mod record;
pub mod state;
pub mod text;

/// Position of a record in the log: dense, from 0, never changes.
pub type Offset = u64;
