//! # harambee-sim
//!
//! Simulated banks and wallets for the Harambee switch. Each simulated
//! participant runs the payee callback service with its own customers and
//! answers quotes and transfers the way a real DFSP does.
//!
//! This first piece is [`ilp`]: how a simulated payee derives the ILP
//! fulfilment of a transaction from a secret only it knows, so that it can
//! hand out the condition at quote time and recompute the fulfilment when the
//! transfer arrives, without storing either.

pub mod ilp;
