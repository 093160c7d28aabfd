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
    // central-settlement's own health, where Mojaloop serves it (the
    // root's is the admin API's).
    let of = service.clone();
    let v2 = settlement.clone().route(
        "/health",
        axum::routing::get(move || {
            let service = of.clone();
            async move { health(&service) }
        }),
    );
    admin::router(service, settings)
        .nest("/v2", v2)
        .merge(settlement)
}

/// `GET /health` on each of the HTTP APIs, in the shape of Mojaloop's
/// services: `status` OK (200) or DOWN (502), and the state of each store
/// under `services`: `broker` (the log takes appends) and `datastore`
/// (the state can be read).
pub(crate) fn health(service: &harambee_service::Service) -> axum::response::Response {
    use axum::response::IntoResponse;
    let health = service.health();
    let status = |r: &Result<(), String>| if r.is_ok() { "OK" } else { "DOWN" };
    let body = serde_json::json!({
        "status": if health.ok() { "OK" } else { "DOWN" },
        "services": [
            {"name": "broker", "status": status(&health.log)},
            {"name": "datastore", "status": status(&health.state)},
        ],
    });
    let code = if health.ok() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::BAD_GATEWAY
    };
    (code, axum::Json(body)).into_response()
}
