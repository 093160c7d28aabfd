//! # harambee-engine
//!
//! The engine of the switch: the single writer that appends commands to
//! the log and applies them to the state (or, in a cluster, a follower
//! that applies what the writer appended), the feed of applied records the
//! read side tails, the snapshots a restart starts from, the writer
//! election of a cluster and the wall clock.
//!
//! Layer: above the pure core and the command log, below the read side,
//! the service layer and the adapters.

pub mod clock;
pub mod election;
pub mod engine;
pub mod feed;
pub mod snapshots;

pub use engine::Engine;
