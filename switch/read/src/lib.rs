//! # harambee-read
//!
//! The read side of the switch: everything that reads the durable log
//! after the engine has applied it, from a checkpoint, and never drops a
//! record.
//!
//! - [`projection`]: the SQL projections (transfers, positions, parties,
//!   quotes, postings, notices) in SQLite or PostgreSQL, and their rebuild
//!   from the log.
//! - [`events`]: the events topic (`<log topic>.events`), one protobuf
//!   `LedgerEvent` per ledger event, exactly once per position.
//! - [`notices`]: a notice of the core turned into the wire
//!   `Notification`, and the form the notices projection keeps.
//! - [`reports`]: the settlement report, from the state.
//!
//! Architecture invariant: the read side only reads. It submits no record,
//! and what it writes (rows, events) is derived from records already
//! durable, so it can always be rebuilt from the log.

pub mod events;
pub mod notices;
pub mod projection;
pub mod reports;
