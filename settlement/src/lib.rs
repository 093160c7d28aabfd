//! Settlement for Harambee: settlement windows, settlement models (deferred
//! multilateral net, deferred bilateral net, immediate gross), net
//! computation and the settlement state machine.
//!
//! Like `harambee-ledger`, this crate is pure: no I/O, no clock, no
//! randomness. Time arrives with each command. It is delivered by the
//! settlement issue; until then it is an empty crate that fixes its place in
//! the workspace (see `docs/ARCHITECTURE.md`).
