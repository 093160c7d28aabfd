//! # harambee-fspiop
//!
//! The FSPIOP adapter: Mojaloop's HTTP APIs onto the service layer, so that
//! Mojaloop participants and operators' tools connect unchanged.
//!
//! - [`admin`]: the hub admin API of central-ledger (participants, limits,
//!   endpoints, hub accounts, accounts, positions, funds in and out).
//! - [`api`]: the participant-facing FSPIOP v1.1 API: participants,
//!   parties, quotes and transfers.
//! - [`schema`]: the API definition's patterns the service layer has no
//!   word for (a party's names and date of birth).
//! - [`settlement`]: central-settlement's API (settlement windows and
//!   settlements), beside the admin API.
//! - [`payees`]: the service layer's ports over FSPIOP: a request to a
//!   participant's registered URL, answered by its callback to [`api`].
//! - [`jws`]: message signing (the signature specification v1.1): the
//!   switch's own signatures and the verification of participants'.
//! - [`headers`]: the FSPIOP headers, version negotiation (1, 1.0, 1.1).
//! - [`callbacks`]: the switch's callbacks to participants' registered
//!   URLs, retried until the transfer or quote expires.
//! - [`error`]: FSPIOP `errorInformation` bodies and their HTTP statuses.
//!
//! Like every adapter it reaches nothing below the service layer
//! (`tests/tests/architecture.rs` checks it).

pub mod admin;
pub mod api;
pub mod callbacks;
pub mod convert;
pub mod error;
pub mod headers;
pub mod jws;
pub mod payees;
pub mod schema;
pub mod settlement;

/// The operator's HTTP APIs on one router: central-ledger's admin API
/// ([`admin`]) and central-settlement's API ([`settlement`]), the latter
/// both at the root and at `/v2`, where Mojaloop deployments serve it.
pub fn operator_router(
    service: std::sync::Arc<harambee_service::Service>,
    settings: admin::AdminSettings,
) -> axum::Router {
    let settlement = settlement::router(service.clone(), settings.clone());
    admin::router(service, settings)
        .nest("/v2", settlement.clone())
        .merge(settlement)
}
