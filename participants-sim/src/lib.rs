//! # harambee-sim
//!
//! Simulated banks and wallets for the Harambee switch.
//!
//! - [`dfsp`]: a simulated DFSP that owns customers and answers the
//!   switch's PayeeCallback calls like a real payee: parties, quotes with a
//!   fee, transfers fulfilled with an ILP fulfilment only it can compute, and
//!   configurable misbehaviour (reject, wrong fulfilment, slow, silent).
//! - [`fspiop`]: the same DFSP on FSPIOP v1.1 over HTTP, as a Mojaloop
//!   DFSP's connector is: serving the switch's requests, paying as a payer,
//!   onboarded through the admin API.
//! - [`legacy`]: a legacy bank host on ISO 8583 over TCP, through the
//!   switch's gateway: pays with 0200s, approves 0200 credits, undoes a
//!   credit on its reversal (0420).
//! - [`ilp`]: how it derives fulfilments (HMAC-SHA256 of a secret and the
//!   agreed terms) and the base64url codec.
//! - [`client`]: a participant's client of the switch and the full payment
//!   flow (lookup, quote, transfer).
//! - [`network`]: onboarding simulated participants through the Operator API.
//! - [`scenario`]: named scenarios (happy path and each error) with a
//!   pass/fail table.
//! - [`load`]: closed-loop or target-rate load with latency percentiles.
//! - [`flood`]: a victim's latency alone and beside a flooding participant
//!   (the per-participant admission's benchmark).
//! - [`settlement`]: a settlement cycle as the settlement operator runs it.
//! - [`tls`]: members and operators on the scheme's mTLS, their
//!   certificates from a development PKI.

pub mod client;
pub mod dfsp;
pub mod flood;
pub mod fspiop;
pub mod ilp;
pub mod legacy;
pub mod load;
pub mod network;
pub mod scenario;
pub mod settlement;
pub mod tls;
