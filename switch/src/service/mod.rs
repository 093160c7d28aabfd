//! The service layer: the switch's flows on domain types, for every
//! transport. An adapter (the gRPC API today; FSPIOP REST and ISO 8583
//! next) translates its protocol onto these calls and their answers back;
//! it never drives the engine itself.
//!
//! What the flows need from outside comes through ports ([`ports`]): the
//! payee's side of a transfer ([`ports::PayeeConnector`]), the clock
//! ([`ports::Clock`]) and every credential check
//! ([`ports::Authenticator`], implemented by [`auth`]).
//!
//! - [`transfers`]: the transfer saga. It is driven by the log: a
//!   reserved transfer is resolved only by a record (the payee's
//!   fulfilment or rejection, an expiry), whoever brings it: the payee's
//!   answer to the callback, a later `FulfilTransfer` of its own, or the
//!   expiry sweep. A caller that waits for the final state (gRPC) waits
//!   for that record; one answered later by callback does not wait.
//!
//! Architecture invariant: the service layer returns [`SwitchError`]s with
//! named codes; each adapter maps them once, at its edge.
//!
//! [`SwitchError`]: harambee_core::error::SwitchError

pub mod auth;
pub mod ports;
pub mod transfers;
