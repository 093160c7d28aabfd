//! The participant-facing FSPIOP v1.1 API: every request is checked
//! (headers, version, the caller), answered 202 at once, and answered for
//! real by a callback to the URL the caller registered.
//!
//! Served so far:
//! - the account lookup service's participants resource
//!   (`POST|GET|DELETE /participants/{Type}/{ID}[/{SubId}]`), on the
//!   switch's built-in oracle: callback `PUT /participants/{Type}/{ID}`
//!   (or `.../error`);
//! - `GET /parties/{Type}/{ID}[/{SubId}]`: the owner found by the oracle
//!   and asked through the service layer; callback
//!   `PUT /parties/{Type}/{ID}` (or `.../error`) to the requester.
//!
//! The caller is whoever its connection's client certificate says (on
//! mTLS; registered by the operator), or else its bearer credential, and
//! `FSPIOP-Source` must name it; in development mode
//! (`trust_source_header`) `FSPIOP-Source` is trusted as Mojaloop's API
//! gateway does.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State as AxumState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use harambee_core::error::{ErrorCode, SwitchError};
use harambee_core::record::{PartyKey, PrepareTerms};
use harambee_ledger::{FundsState, Resolution, TransferId, TransferState};
use harambee_proto::v1::{Party, PartyIdType, PartyIdentifier};
use harambee_proto::validate;
use harambee_service::Service;
use harambee_service::admission::Admitted;
use harambee_service::ports::Route;
use harambee_service::ports::{Credential, Principal, Role};
use harambee_service::transfers::{Answer, Prepare, Repeat, TransferView, route_of};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::callbacks::Relayed;
use crate::callbacks::{Callback, Callbacks, Method, Placeholders, deadline_of, url_for};
use crate::convert::{format_datetime_ms, parse_datetime_ms, quote_request_in, quote_response_out};
use crate::error::HttpError;
use crate::headers::{self, Fspiop, Headers};
use crate::jws::{Keys, Protected};
use crate::payees::{Pending, party_key, quote_key, relay_key, remote_error};

/// Endpoint types registered as a base URL (the resource's path goes
/// after it) rather than a template.
pub const BASE_URL_KINDS: &[&str] = &[
    "FSPIOP_CALLBACK_URL_QUOTES",
    "FSPIOP_CALLBACK_URL_BULK_QUOTES",
];

/// How far in the future a payee's `completedTimestamp` may be (clocks
/// differ a little); beyond, the answer is refused (3100).
pub const COMPLETED_SKEW_MAX_MS: i64 = 2_000;

/// Largest FSPIOP request body.
pub const BODY_MAX_BYTES: usize = 256 * 1024;

/// How the FSPIOP API is served.
#[derive(Clone, Debug, Default)]
pub struct ApiSettings {
    /// Development mode: `FSPIOP-Source` is trusted, no credential asked.
    pub trust_source_header: bool,
    /// Participants' signature keys: when set, every message with a body
    /// must carry its sender's valid `FSPIOP-Signature` (3105 otherwise).
    pub keys: Option<Arc<Keys>>,
}

#[derive(Clone)]
struct Api {
    service: Arc<Service>,
    settings: ApiSettings,
    callbacks: Callbacks,
    pending: Arc<Pending>,
}

/// The FSPIOP API's routes. `pending`: the requests the switch made of
/// FSPIOP participants (through [`crate::payees::FspiopPayees`]), which
/// their callbacks to this API answer.
pub fn router(
    service: Arc<Service>,
    settings: ApiSettings,
    callbacks: Callbacks,
    pending: Arc<Pending>,
) -> Router {
    let api = Api {
        service,
        settings,
        callbacks,
        pending,
    };
    Router::new()
        .route(
            "/participants/{party_type}/{id}",
            post(post_participant)
                .get(get_participant)
                .delete(delete_participant)
                .put(put_participant_callback),
        )
        .route(
            "/participants/{party_type}/{id}/{sub_id}",
            post(post_participant_sub)
                .get(get_participant_sub)
                .delete(delete_participant_sub)
                .put(put_participant_callback),
        )
        .route(
            "/participants/{party_type}/{id}/error",
            put(put_participant_callback),
        )
        .route(
            "/participants/{party_type}/{id}/{sub_id}/error",
            put(put_participant_callback),
        )
        .route(
            "/parties/{party_type}/{id}",
            axum::routing::get(get_parties).put(put_parties),
        )
        .route(
            "/parties/{party_type}/{id}/{sub_id}",
            axum::routing::get(get_parties_sub).put(put_parties_sub),
        )
        .route("/parties/{party_type}/{id}/error", put(put_parties_error))
        .route(
            "/parties/{party_type}/{id}/{sub_id}/error",
            put(put_parties_sub_error),
        )
        .route("/transfers", post(post_transfers))
        .route(
            "/transfers/{id}",
            axum::routing::get(get_transfers).put(put_transfers),
        )
        .route("/transfers/{id}/error", put(put_transfers_error))
        .route("/quotes", post(post_quotes))
        .route(
            "/quotes/{id}",
            axum::routing::get(get_quotes).put(put_quotes),
        )
        .route("/quotes/{id}/error", put(put_quotes_error))
        .route(
            "/health",
            axum::routing::get(|AxumState(api): AxumState<Api>| async move {
                crate::health(&api.service)
            }),
        )
        .fallback(unknown_uri)
        .layer(axum::middleware::from_fn_with_state(
            api.clone(),
            verify_signature,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_MAX_BYTES))
        .with_state(api)
}

/// When the scheme requires signatures (`ApiSettings::keys`), a message
/// with a body (POST, PUT, PATCH) must carry its sender's valid
/// `FSPIOP-Signature`: refused with 3105 before anything else otherwise.
async fn verify_signature(
    AxumState(api): AxumState<Api>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Some(keys) = api.settings.keys.clone() else {
        return next.run(request).await;
    };
    let with_body = matches!(
        *request.method(),
        axum::http::Method::POST | axum::http::Method::PUT | axum::http::Method::PATCH
    );
    if !with_body {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, BODY_MAX_BYTES).await else {
        return HttpError::new(ErrorCode::MalformedSyntax, "the body is too large").into_response();
    };
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let uri = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or_else(|| parts.uri.path());
    let protected = Protected {
        method: parts.method.as_str(),
        uri,
        source: header("fspiop-source").unwrap_or_default(),
        destination: header("fspiop-destination"),
        date: header("date").unwrap_or_default(),
    };
    if let Err(e) = keys.verify(header("fspiop-signature"), &protected, &bytes) {
        count("VerifySignature", Some(&e));
        return e.into_response();
    }
    next.run(axum::extract::Request::from_parts(
        parts,
        axum::body::Body::from(bytes),
    ))
    .await
}

/// 3002 for a path the API does not serve (as a resource id that is
/// blank: `PUT /transfers/%20`).
async fn unknown_uri() -> HttpError {
    HttpError::new(ErrorCode::UnknownUri, "no such resource")
}

impl Api {
    /// The checked headers of a request, with `FSPIOP-Source` proved to
    /// be the caller, admitted within the caller's limits (2005 over
    /// them): the guard is held until the request's work, callbacks
    /// included, is done.
    fn caller(
        &self,
        headers: &Headers,
        resource: &str,
        with_body: bool,
    ) -> Result<(Fspiop, Admitted), HttpError> {
        let fspiop = self.identified(headers, resource, with_body)?;
        let admitted = self.service.admit(&fspiop.source)?;
        Ok((fspiop, admitted))
    }

    /// The checked headers of a request, with `FSPIOP-Source` proved to
    /// be the caller.
    fn identified(
        &self,
        headers: &Headers,
        resource: &str,
        with_body: bool,
    ) -> Result<Fspiop, HttpError> {
        let fspiop = headers::check(headers, resource, with_body)?;
        if self.settings.trust_source_header {
            let known = self
                .service
                .read()?
                .ledger
                .participant_by_name(&fspiop.source)
                .is_some();
            // A header naming nobody is invalid input (as Mojaloop's hub
            // answers it), not a business refusal: there is nobody to
            // call back.
            if !known {
                return Err(HttpError::new(
                    ErrorCode::ValidationError,
                    format!("FSPIOP-Source {} is not a participant", fspiop.source),
                ));
            }
            return Ok(fspiop);
        }
        // On a connection that presented a certificate (verified by the
        // TLS handshake), the certificate alone says who the caller is:
        // a bearer credential beside it is not looked at.
        let principal = match headers.certificate() {
            Some(certificate) => self
                .service
                .authenticate(certificate.credential(), Role::Participant)?,
            None => {
                let bearer = headers.bearer().ok_or_else(|| {
                    HttpError::new(
                        ErrorCode::InvalidSignature,
                        "missing credential (a client certificate, or Authorization: Bearer <credential>)",
                    )
                })?;
                self.service
                    .authenticate(Credential::Bearer(bearer), Role::Participant)?
            }
        };
        match principal {
            Principal::Participant(name) if name == fspiop.source => Ok(fspiop),
            _ => Err(HttpError::new(
                ErrorCode::InvalidSignature,
                if headers.certificate().is_some() {
                    "FSPIOP-Source is not the participant the client certificate belongs to"
                } else {
                    "FSPIOP-Source is not the participant the credential belongs to"
                },
            )),
        }
    }

    /// Sends `body` to the URL `to` registered for `kind`; an error
    /// callback goes to `kind_error` instead when `body` is one.
    fn reply(&self, to: &str, kind: &str, path: PartyPath, resource: &'static str, body: Value) {
        self.reply_relayed(to, kind, path, resource, body, None);
    }

    /// [`Api::reply`], passing on `relayed` when there is one.
    fn reply_relayed(
        &self,
        to: &str,
        kind: &str,
        path: PartyPath,
        resource: &'static str,
        body: Value,
        relayed: Option<Relayed>,
    ) {
        let PartyPath(party_type, id, sub_id) = path;
        let values = Placeholders {
            party_id_type: &party_type,
            party_identifier: &id,
            party_sub_id: sub_id.as_deref().unwrap_or_default(),
            id: "",
        };
        let mut uri = format!("/{resource}/{party_type}/{id}");
        if let Some(sub) = &sub_id {
            uri.push('/');
            uri.push_str(sub);
        }
        let is_error = body.get("errorInformation").is_some();
        if is_error {
            uri.push_str("/error");
        }
        let url = match self.service.read() {
            Ok(st) => url_for(&st, to, kind, &values),
            Err(e) => Err(e),
        };
        match url {
            Ok(url) => self.callbacks.send(Callback {
                method: Method::Put,
                url,
                resource,
                source: self.callbacks.hub(),
                destination: to.to_string(),
                uri,
                body,
                relayed,
                deadline_ms: None,
            }),
            Err(e) => tracing::debug!(participant = %to, error = %e, "no callback URL"),
        }
    }
}

impl Api {
    /// Sends `body` to `to`'s endpoint `kind`, at `uri`: the URL template
    /// filled in, or, for a base URL (`FSPIOP_CALLBACK_URL_QUOTES`), the
    /// base followed by `uri`.
    fn callback(
        &self,
        to: &str,
        kind: &str,
        uri: String,
        resource: &'static str,
        source: String,
        body: Value,
    ) {
        self.callback_relayed(to, kind, uri, resource, source, body, None);
    }

    /// [`Api::callback`], passing on `relayed` when there is one.
    #[allow(clippy::too_many_arguments)]
    fn callback_relayed(
        &self,
        to: &str,
        kind: &str,
        uri: String,
        resource: &'static str,
        source: String,
        body: Value,
        relayed: Option<Relayed>,
    ) {
        // These endpoint types are base URLs, the resource's path after them.
        let base_url = BASE_URL_KINDS.contains(&kind);
        // The resource's id is the path's second segment (`/transfers/{ID}`).
        let id = uri.split('/').nth(2).unwrap_or_default();
        let values = Placeholders {
            id,
            ..Placeholders::default()
        };
        let (url, deadline_ms) = match self.service.read() {
            Ok(st) => (
                url_for(&st, to, kind, &values),
                deadline_of(&st, resource, id),
            ),
            Err(e) => (Err(e), None),
        };
        match url {
            Ok(url) => {
                let url = if base_url {
                    format!("{}{uri}", url.trim_end_matches('/'))
                } else {
                    url
                };
                self.callbacks.send(Callback {
                    method: Method::Put,
                    url,
                    resource,
                    source,
                    destination: to.to_string(),
                    uri,
                    body,
                    relayed,
                    deadline_ms,
                });
            }
            Err(e) => tracing::debug!(participant = %to, error = %e, "no callback URL"),
        }
    }
}

impl Api {
    /// Keeps the message `bytes` (with the headers `fspiop` relays) to be
    /// passed on to `to` as `key`, if `to` is reached over FSPIOP.
    fn keep_for(&self, to: &str, key: String, fspiop: &Fspiop, bytes: &Bytes) {
        let on_fspiop = self
            .service
            .read()
            .is_ok_and(|st| matches!(route_of(&st, to), Some(Route::Fspiop(_))));
        if !on_fspiop {
            return;
        }
        let Ok(body) = std::str::from_utf8(bytes) else {
            return;
        };
        self.pending.keep(
            key,
            Relayed {
                source: fspiop.source.clone(),
                body: body.to_string(),
                headers: fspiop.relayed.clone(),
            },
        );
    }
}

/// The kept message for `key` if it is of the kind wanted: an error
/// (`errorInformation`) or not.
fn relay_of(pending: &Pending, key: &str, error: bool) -> Option<Relayed> {
    let relayed = pending.take(key)?;
    let is_error = serde_json::from_str::<Value>(&relayed.body)
        .is_ok_and(|v| v.get("errorInformation").is_some());
    (is_error == error).then_some(relayed)
}

/// A party's path: type, id and sub-id.
#[derive(Clone, Debug)]
pub(crate) struct PartyPath(pub String, pub String, pub Option<String>);

/// The id and sub-id of a party's path must be text without blanks or
/// braces (the API definition's `^[^\s{}]+$`: a URL template left
/// unfilled, `{ID}`, is not an id): refused before the 202.
fn unmalformed_id(path: &PartyPath) -> Result<(), HttpError> {
    let PartyPath(party_type, id, sub_id) = path;
    let bad = |t: &str| t.chars().any(|c| c.is_whitespace() || c == '{' || c == '}');
    if bad(id) || sub_id.as_deref().is_some_and(bad) {
        return Err(HttpError::new(
            ErrorCode::MalformedSyntax,
            format!("Invalid ID in path /{party_type}/ID: blanks and braces are not allowed"),
        ));
    }
    Ok(())
}

/// The form an id must have for its type, checked after the 202 as
/// Mojaloop's account lookup checks it (the error goes to the caller's
/// error callback, naming the type): an MSISDN is up to 15 digits, an
/// EMAIL an address with one `@`, an IBAN two letters, two digits and up
/// to 30 letters or digits.
fn party_form(path: &PartyPath) -> Result<(), HttpError> {
    let PartyPath(party_type, id, _) = path;
    let ok = match party_type.as_str() {
        "MSISDN" => !id.is_empty() && id.len() <= 15 && id.bytes().all(|b| b.is_ascii_digit()),
        "EMAIL" => id.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        }),
        "IBAN" => {
            let b = id.as_bytes();
            (5..=34).contains(&b.len())
                && b[..2].iter().all(u8::is_ascii_uppercase)
                && b[2..4].iter().all(u8::is_ascii_digit)
                && b[4..]
                    .iter()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        }
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(HttpError::new(
            ErrorCode::MalformedSyntax,
            format!("Invalid {party_type}: {id}"),
        ))
    }
}

/// The party a path names, checked.
pub(crate) fn party_of(path: &PartyPath) -> Result<(PartyIdentifier, PartyKey), HttpError> {
    let PartyPath(party_type, id, sub_id) = path;
    let kind = PartyIdType::from_str_name(&format!("PARTY_ID_TYPE_{party_type}"))
        .filter(|t| *t != PartyIdType::Unspecified)
        .ok_or_else(|| {
            HttpError::new(
                ErrorCode::ValidationError,
                format!("Type: {party_type} is not a party id type"),
            )
        })?;
    let identifier = PartyIdentifier {
        r#type: kind as i32,
        id: id.clone(),
        sub_id: sub_id.clone().unwrap_or_default(),
    };
    let key = validate::party("party", Some(&identifier)).map_err(|e| {
        let mut e = HttpError::from(e);
        e.description = format!("{} (Invalid ID in path /{party_type}/ID)", e.description);
        e
    })?;
    Ok((identifier, key))
}

fn accepted() -> Response {
    StatusCode::ACCEPTED.into_response()
}

fn error_body(e: &HttpError) -> Value {
    e.body()
}

/// The endpoint kinds of the participants resource's callbacks.
fn participant_kinds(sub: bool) -> (&'static str, &'static str) {
    if sub {
        (
            "FSPIOP_CALLBACK_URL_PARTICIPANT_SUB_ID_PUT",
            "FSPIOP_CALLBACK_URL_PARTICIPANT_SUB_ID_PUT_ERROR",
        )
    } else {
        (
            "FSPIOP_CALLBACK_URL_PARTICIPANT_PUT",
            "FSPIOP_CALLBACK_URL_PARTICIPANT_PUT_ERROR",
        )
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ParticipantRegistration {
    fsp_id: String,
    #[serde(default)]
    currency: Option<String>,
}

/// What to do to the built-in oracle.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Alias {
    Register,
    Find,
    Remove,
}

async fn participants(
    api: Api,
    path: PartyPath,
    headers: Headers,
    bytes: Bytes,
    what: Alias,
) -> Response {
    let call = match what {
        Alias::Register => "PostParticipant",
        Alias::Find => "GetParticipant",
        Alias::Remove => "DeleteParticipant",
    };
    let (fspiop, admitted) = match api.caller(&headers, "participants", what == Alias::Register) {
        Ok(f) => f,
        Err(e) => {
            count(call, Some(&e));
            return e.into_response();
        }
    };
    let sub = path.2.is_some();
    let (_, kind_error) = participant_kinds(sub);
    // Checked before the 202: a path or body that is malformed is
    // refused synchronously.
    let registration = if what == Alias::Register {
        match serde_json::from_slice::<ParticipantRegistration>(&bytes) {
            Ok(r) => Some(r),
            Err(e) => {
                let e = HttpError::new(ErrorCode::MalformedSyntax, format!("body: {e}"));
                count(call, Some(&e));
                return e.into_response();
            }
        }
    } else {
        None
    };
    if let Err(e) = unmalformed_id(&path) {
        count(call, Some(&e));
        return e.into_response();
    }
    // What the account lookup service checks after the 202, as Mojaloop's
    // does: the id's form for its type, and a registration's fspId (a
    // participant registers its own parties) and currency. Refused by
    // the error callback.
    let deferred = party_form(&path).and_then(|()| {
        let Some(r) = &registration else {
            return Ok(());
        };
        validate::fsp_id("fspId", &r.fsp_id)?;
        if let Some(c) = r.currency.as_deref().filter(|c| !c.is_empty()) {
            validate::currency("currency", c)?;
        }
        if r.fsp_id != fspiop.source {
            return Err(HttpError::new(
                ErrorCode::GenericClientError,
                "fspId must be the FSPIOP-Source: a participant registers its own parties",
            ));
        }
        Ok(())
    });
    if let Err(e) = deferred {
        api.reply(
            &fspiop.source,
            kind_error,
            path,
            "participants",
            error_body(&e),
        );
        count(call, Some(&e));
        return accepted();
    }
    let (identifier, key) = match party_of(&path) {
        Ok(c) => c,
        Err(e) => {
            count(call, Some(&e));
            return e.into_response();
        }
    };
    let requester = fspiop.source.clone();
    tokio::spawn(async move {
        let _admitted = admitted;
        let result: Result<String, SwitchError> = match what {
            Alias::Register => api
                .service
                .register_party(&requester, key, true)
                .await
                .map(|()| requester.clone()),
            Alias::Remove => api
                .service
                .register_party(&requester, key, false)
                .await
                .map(|()| requester.clone()),
            Alias::Find => api.service.owner_of(&identifier, &key, "").await,
        };
        let (kind, kind_error) = participant_kinds(sub);
        match result {
            Ok(owner) => api.reply(
                &requester,
                kind,
                path,
                "participants",
                json!({ "fspId": owner }),
            ),
            Err(e) => {
                let e = HttpError::from(e);
                api.reply(&requester, kind_error, path, "participants", error_body(&e));
            }
        }
    });
    count(call, None);
    accepted()
}

async fn post_participant(
    AxumState(api): AxumState<Api>,
    Path((party_type, id)): Path<(String, String)>,
    headers: Headers,
    bytes: Bytes,
) -> Response {
    participants(
        api,
        PartyPath(party_type, id, None),
        headers,
        bytes,
        Alias::Register,
    )
    .await
}

async fn post_participant_sub(
    AxumState(api): AxumState<Api>,
    Path((party_type, id, sub)): Path<(String, String, String)>,
    headers: Headers,
    bytes: Bytes,
) -> Response {
    participants(
        api,
        PartyPath(party_type, id, Some(sub)),
        headers,
        bytes,
        Alias::Register,
    )
    .await
}

async fn get_participant(
    AxumState(api): AxumState<Api>,
    Path((party_type, id)): Path<(String, String)>,
    headers: Headers,
) -> Response {
    participants(
        api,
        PartyPath(party_type, id, None),
        headers,
        Bytes::new(),
        Alias::Find,
    )
    .await
}

async fn get_participant_sub(
    AxumState(api): AxumState<Api>,
    Path((party_type, id, sub)): Path<(String, String, String)>,
    headers: Headers,
) -> Response {
    participants(
        api,
        PartyPath(party_type, id, Some(sub)),
        headers,
        Bytes::new(),
        Alias::Find,
    )
    .await
}

async fn delete_participant(
    AxumState(api): AxumState<Api>,
    Path((party_type, id)): Path<(String, String)>,
    headers: Headers,
) -> Response {
    participants(
        api,
        PartyPath(party_type, id, None),
        headers,
        Bytes::new(),
        Alias::Remove,
    )
    .await
}

async fn delete_participant_sub(
    AxumState(api): AxumState<Api>,
    Path((party_type, id, sub)): Path<(String, String, String)>,
    headers: Headers,
) -> Response {
    participants(
        api,
        PartyPath(party_type, id, Some(sub)),
        headers,
        Bytes::new(),
        Alias::Remove,
    )
    .await
}

/// `PUT /participants/{Type}/{ID}[/{SubId}][/error]` sent to the switch:
/// the answer of a participant (or an oracle behind it) about an alias,
/// passed on as it came to the participant `FSPIOP-Destination` names,
/// at its registered URL; 200 whether or not anybody is named.
async fn put_participant_callback(
    AxumState(api): AxumState<Api>,
    Path(segments): Path<Vec<String>>,
    uri: axum::http::Uri,
    headers: Headers,
    bytes: Bytes,
) -> Response {
    let (fspiop, _admitted) = match api.caller(&headers, "participants", true) {
        Ok(f) => f,
        Err(e) => {
            count("PutParticipants", Some(&e));
            return e.into_response();
        }
    };
    let error = uri.path().ends_with("/error");
    let mut segments = segments.into_iter();
    let (Some(party_type), Some(id)) = (segments.next(), segments.next()) else {
        return HttpError::new(ErrorCode::UnknownUri, "").into_response();
    };
    let path = PartyPath(party_type, id, segments.next());
    let body = serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null);
    match fspiop.destination.clone() {
        Some(to)
            if api
                .service
                .read()
                .is_ok_and(|st| st.ledger.participant_by_name(&to).is_some()) =>
        {
            let (kind, kind_error) = participant_kinds(path.2.is_some());
            let relayed = Relayed {
                source: fspiop.source.clone(),
                body: String::from_utf8_lossy(&bytes).into_owned(),
                headers: fspiop.relayed.clone(),
            };
            let kind = if error { kind_error } else { kind };
            api.reply_relayed(&to, kind, path, "participants", body, Some(relayed));
        }
        _ => tracing::debug!(source = %fspiop.source, "a participants callback for nobody"),
    }
    count("PutParticipants", None);
    StatusCode::OK.into_response()
}

/// A party as FSPIOP's `PUT /parties` carries it.
fn party_body(path: &PartyPath, p: &Party) -> Value {
    let mut id_info = json!({
        "partyIdType": path.0,
        "partyIdentifier": path.1,
        "fspId": p.fsp_id,
    });
    if let Some(sub) = &path.2 {
        id_info["partySubIdOrType"] = Value::String(sub.clone());
    }
    let mut party = json!({ "partyIdInfo": id_info });
    if !p.display_name.is_empty() {
        party["name"] = Value::String(p.display_name.clone());
    }
    if !p.merchant_classification_code.is_empty() {
        party["merchantClassificationCode"] = Value::String(p.merchant_classification_code.clone());
    }
    let mut personal = serde_json::Map::new();
    if let Some(n) = &p.name {
        let mut complex = serde_json::Map::new();
        for (k, v) in [
            ("firstName", &n.first_name),
            ("middleName", &n.middle_name),
            ("lastName", &n.last_name),
        ] {
            if !v.is_empty() {
                complex.insert(k.into(), Value::String(v.clone()));
            }
        }
        if !complex.is_empty() {
            personal.insert("complexName".into(), Value::Object(complex));
        }
    }
    if !p.date_of_birth.is_empty() {
        personal.insert("dateOfBirth".into(), Value::String(p.date_of_birth.clone()));
    }
    if !personal.is_empty() {
        party["personalInfo"] = Value::Object(personal);
    }
    json!({ "party": party })
}

async fn parties(api: Api, path: PartyPath, headers: Headers) -> Response {
    let (fspiop, admitted) = match api.caller(&headers, "parties", false) {
        Ok(f) => f,
        Err(e) => {
            count("GetParties", Some(&e));
            return e.into_response();
        }
    };
    let sub = path.2.is_some();
    let (kind, kind_error) = if sub {
        (
            "FSPIOP_CALLBACK_URL_PARTIES_SUB_ID_PUT",
            "FSPIOP_CALLBACK_URL_PARTIES_SUB_ID_PUT_ERROR",
        )
    } else {
        (
            "FSPIOP_CALLBACK_URL_PARTIES_PUT",
            "FSPIOP_CALLBACK_URL_PARTIES_PUT_ERROR",
        )
    };
    if let Err(e) = unmalformed_id(&path) {
        count("GetParties", Some(&e));
        return e.into_response();
    }
    // An id of the wrong form for its type: accepted, then refused by
    // the error callback.
    if let Err(e) = party_form(&path) {
        api.reply(&fspiop.source, kind_error, path, "parties", error_body(&e));
        count("GetParties", Some(&e));
        return accepted();
    }
    let identifier = match party_of(&path) {
        Ok((identifier, _)) => identifier,
        Err(e) => {
            count("GetParties", Some(&e));
            return e.into_response();
        }
    };
    let requester = fspiop.source;
    tokio::spawn(async move {
        let _admitted = admitted;
        let looked_up = api.service.lookup(&requester, &identifier, "").await;
        // The owner's own answer, if it is on FSPIOP, is passed on as it came.
        let PartyPath(party_type, id, sub_id) = &path;
        let key = relay_key(
            "parties",
            "put",
            &party_key(
                &requester,
                party_type,
                id,
                sub_id.as_deref().unwrap_or_default(),
            ),
        );
        let relayed = relay_of(&api.pending, &key, looked_up.is_err());
        match looked_up {
            Ok(party) => {
                let body = party_body(&path, &party);
                api.reply_relayed(&requester, kind, path, "parties", body, relayed);
            }
            Err(e) => {
                let e = HttpError::from(e);
                let body = error_body(&e);
                api.reply_relayed(&requester, kind_error, path, "parties", body, relayed);
            }
        }
    });
    count("GetParties", None);
    accepted()
}

async fn get_parties(
    AxumState(api): AxumState<Api>,
    Path((party_type, id)): Path<(String, String)>,
    headers: Headers,
) -> Response {
    parties(api, PartyPath(party_type, id, None), headers).await
}

async fn get_parties_sub(
    AxumState(api): AxumState<Api>,
    Path((party_type, id, sub)): Path<(String, String, String)>,
    headers: Headers,
) -> Response {
    parties(api, PartyPath(party_type, id, Some(sub)), headers).await
}

fn count(call: &'static str, error: Option<&HttpError>) {
    let code = match error {
        None => "accepted".to_string(),
        Some(e) => format!("{:04}", e.code),
    };
    metrics::counter!("harambee_requests_total", "api" => "fspiop", "call" => call, "code" => code)
        .increment(1);
}

/// An owner's answer to a lookup the switch forwarded to it: `PUT
/// /parties/...` (`error`: `PUT /parties/.../error`), to the requester
/// named in `FSPIOP-Destination`. Answered 200.
async fn answer_parties(
    api: Api,
    path: PartyPath,
    headers: Headers,
    bytes: Bytes,
    error: bool,
) -> Response {
    let (fspiop, _admitted) = match api.caller(&headers, "parties", true) {
        Ok(f) => f,
        Err(e) => {
            count("PutParties", Some(&e));
            return e.into_response();
        }
    };
    // A callback that names nobody answers no request: taken and dropped,
    // as Mojaloop's hub does (it cannot be passed on).
    let Some(requester) = fspiop.destination.clone() else {
        tracing::debug!(party = %path.1, "a parties callback without FSPIOP-Destination");
        count("PutParties", None);
        return StatusCode::OK.into_response();
    };
    let body: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            let e = HttpError::new(ErrorCode::MalformedSyntax, format!("body: {e}"));
            count("PutParties", Some(&e));
            return e.into_response();
        }
    };
    if !error && let Err(e) = crate::schema::personal_info("party", &body["party"]) {
        count("PutParties", Some(&e));
        return e.into_response();
    }
    let PartyPath(party_type, id, sub_id) = &path;
    let key = party_key(
        &requester,
        party_type,
        id,
        sub_id.as_deref().unwrap_or_default(),
    );
    api.keep_for(
        &requester,
        relay_key("parties", "put", &key),
        &fspiop,
        &bytes,
    );
    let answer = if error {
        Err(remote_error(&body, ErrorCode::PartyNotFound))
    } else {
        Ok(body)
    };
    if !api.pending.complete(&key, answer) {
        tracing::debug!(%key, "a parties callback nobody waits for");
    }
    count("PutParties", None);
    StatusCode::OK.into_response()
}

async fn put_parties(
    AxumState(api): AxumState<Api>,
    Path((party_type, id)): Path<(String, String)>,
    headers: Headers,
    bytes: Bytes,
) -> Response {
    answer_parties(api, PartyPath(party_type, id, None), headers, bytes, false).await
}

async fn put_parties_sub(
    AxumState(api): AxumState<Api>,
    Path((party_type, id, sub)): Path<(String, String, String)>,
    headers: Headers,
    bytes: Bytes,
) -> Response {
    answer_parties(
        api,
        PartyPath(party_type, id, Some(sub)),
        headers,
        bytes,
        false,
    )
    .await
}

async fn put_parties_error(
    AxumState(api): AxumState<Api>,
    Path((party_type, id)): Path<(String, String)>,
    headers: Headers,
    bytes: Bytes,
) -> Response {
    answer_parties(api, PartyPath(party_type, id, None), headers, bytes, true).await
}

async fn put_parties_sub_error(
    AxumState(api): AxumState<Api>,
    Path((party_type, id, sub)): Path<(String, String, String)>,
    headers: Headers,
    bytes: Bytes,
) -> Response {
    answer_parties(
        api,
        PartyPath(party_type, id, Some(sub)),
        headers,
        bytes,
        true,
    )
    .await
}

/// `POST /quotes`: the payer's request, put to the payee through the
/// service layer; the recorded quote goes back to the payer as `PUT
/// /quotes/{ID}` (from the payee), an error as `PUT /quotes/{ID}/error`.
async fn post_quotes(AxumState(api): AxumState<Api>, headers: Headers, bytes: Bytes) -> Response {
    let (fspiop, admitted) = match api.caller(&headers, "quotes", true) {
        Ok(f) => f,
        Err(e) => {
            count("PostQuotes", Some(&e));
            return e.into_response();
        }
    };
    let checked = serde_json::from_slice::<Value>(&bytes)
        .map_err(|e| HttpError::new(ErrorCode::MalformedSyntax, format!("body: {e}")))
        .and_then(|body| {
            // The schema's minimum lengths: an empty identifier is invalid.
            for side in ["payer", "payee"] {
                let id = &body[side]["partyIdInfo"]["partyIdentifier"];
                if id.as_str() == Some("") {
                    return Err(HttpError::new(
                        ErrorCode::ValidationError,
                        format!("{side}.partyIdInfo.partyIdentifier must not be empty"),
                    ));
                }
                crate::schema::personal_info(side, &body[side])?;
            }
            quote_request_in(&body).map_err(HttpError::from)
        })
        .and_then(|mut r| {
            validate::uuid("quoteId", &r.quote_id)?;
            validate::uuid("transactionId", &r.transaction_id)?;
            // FSPIOP requires the payer's party.
            validate::party(
                "payer.partyIdInfo",
                r.payer.as_ref().and_then(|p| p.identifier.as_ref()),
            )?;
            // The quote goes where FSPIOP-Destination says, as Mojaloop's
            // quoting service routes it; without the header, to the
            // body's payee FSP.
            if let (Some(payee), Some(destination)) = (r.payee.as_mut(), &fspiop.destination) {
                payee.fsp_id = destination.clone();
            }
            Ok(r)
        });
    let request = match checked {
        Ok(r) => r,
        Err(e) => {
            count("PostQuotes", Some(&e));
            return e.into_response();
        }
    };
    let payee = request
        .payee
        .as_ref()
        .map(|p| p.fsp_id.clone())
        .unwrap_or_default();
    api.keep_for(
        &payee,
        relay_key("quotes", "post", &request.quote_id),
        &fspiop,
        &bytes,
    );
    let payer = fspiop.source;
    tokio::spawn(async move {
        let _admitted = admitted;
        let quote_id = request.quote_id.clone();
        let uri = format!("/quotes/{quote_id}");
        let quoted = api.service.quote(&payer, request).await;
        // The payee's own answer, if it is on FSPIOP, is passed on as it came.
        let key = relay_key("quotes", "put", &quote_key(&payer, &quote_id));
        let relayed = relay_of(&api.pending, &key, quoted.is_err());
        let (uri, source, body) = match quoted {
            Ok(quote) => (uri, quote.payee_fsp.clone(), quote_response_out(&quote)),
            Err(e) => (
                format!("{uri}/error"),
                api.callbacks.hub(),
                HttpError::from(e).body(),
            ),
        };
        api.callback_relayed(
            &payer,
            "FSPIOP_CALLBACK_URL_QUOTES",
            uri,
            "quotes",
            source,
            body,
            relayed,
        );
    });
    count("PostQuotes", None);
    accepted()
}

/// `GET /quotes/{ID}`: the recorded quote, to its payer or payee, as `PUT
/// /quotes/{ID}`.
async fn get_quotes(
    AxumState(api): AxumState<Api>,
    Path(id): Path<String>,
    headers: Headers,
) -> Response {
    let (fspiop, admitted) = match api.caller(&headers, "quotes", false) {
        Ok(f) => f,
        Err(e) => {
            count("GetQuotes", Some(&e));
            return e.into_response();
        }
    };
    if let Err(e) = validate::uuid("ID", &id) {
        let e = HttpError::from(e);
        count("GetQuotes", Some(&e));
        return e.into_response();
    }
    let caller = fspiop.source;
    tokio::spawn(async move {
        let _admitted = admitted;
        let uri = format!("/quotes/{id}");
        match api.service.get_quote(&caller, &id).await {
            Ok(quote) => {
                let body = quote_response_out(&quote);
                api.callback(
                    &caller,
                    "FSPIOP_CALLBACK_URL_QUOTES",
                    uri,
                    "quotes",
                    api.callbacks.hub(),
                    body,
                );
            }
            Err(e) => {
                let e = HttpError::from(e);
                let uri = format!("{uri}/error");
                api.callback(
                    &caller,
                    "FSPIOP_CALLBACK_URL_QUOTES",
                    uri,
                    "quotes",
                    api.callbacks.hub(),
                    e.body(),
                );
            }
        }
    });
    count("GetQuotes", None);
    accepted()
}

/// A payee's answer to a quote the switch put to it: `PUT /quotes/{ID}`
/// (or `.../error`), for the payer named in `FSPIOP-Destination`.
async fn answer_quotes(
    api: Api,
    id: String,
    headers: Headers,
    bytes: Bytes,
    error: bool,
) -> Response {
    let (fspiop, _admitted) = match api.caller(&headers, "quotes", true) {
        Ok(f) => f,
        Err(e) => {
            count("PutQuotes", Some(&e));
            return e.into_response();
        }
    };
    let body: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            let e = HttpError::new(ErrorCode::MalformedSyntax, format!("body: {e}"));
            count("PutQuotes", Some(&e));
            return e.into_response();
        }
    };
    let required: &[&str] = if error {
        &["errorInformation"]
    } else {
        &["transferAmount", "expiration", "ilpPacket", "condition"]
    };
    if let Some(missing) = required.iter().find(|k| body.get(**k).is_none()) {
        let e = HttpError::new(ErrorCode::MissingElement, format!("{missing} is required"));
        count("PutQuotes", Some(&e));
        return e.into_response();
    }
    // A callback that names nobody answers no request: taken and dropped,
    // as Mojaloop's hub does (it cannot be passed on).
    let Some(payer) = fspiop.destination.clone() else {
        tracing::debug!(quote = %id, "a quotes callback without FSPIOP-Destination");
        count("PutQuotes", None);
        return StatusCode::OK.into_response();
    };
    let key = quote_key(&payer, &id);
    api.keep_for(&payer, relay_key("quotes", "put", &key), &fspiop, &bytes);
    let answer = if error {
        Err(remote_error(&body, ErrorCode::PayeeRejectedQuote))
    } else {
        Ok(body)
    };
    if !api.pending.complete(&key, answer) {
        tracing::debug!(quote = %id, "a quotes callback nobody waits for");
    }
    count("PutQuotes", None);
    StatusCode::OK.into_response()
}

async fn put_quotes(
    AxumState(api): AxumState<Api>,
    Path(id): Path<String>,
    headers: Headers,
    bytes: Bytes,
) -> Response {
    if id.trim().is_empty() {
        return unknown_uri().await.into_response();
    }
    answer_quotes(api, id, headers, bytes, false).await
}

async fn put_quotes_error(
    AxumState(api): AxumState<Api>,
    Path(id): Path<String>,
    headers: Headers,
    bytes: Bytes,
) -> Response {
    if id.trim().is_empty() {
        return unknown_uri().await.into_response();
    }
    answer_quotes(api, id, headers, bytes, true).await
}

/// A transfer as FSPIOP's `PUT /transfers/{ID}` carries it, or, for an
/// aborted one, its `errorInformation`.
fn transfer_body(view: &TransferView) -> Value {
    let t = &view.record;
    match t.state {
        TransferState::Committed => {
            let mut body = json!({
                "transferState": "COMMITTED",
                "completedTimestamp": format_datetime_ms(t.resolved_at_ms),
            });
            if let Some(Resolution::Fulfil(f)) = t.resolution {
                body["fulfilment"] = Value::String(harambee_core::text::b64url(&f));
            }
            body
        }
        TransferState::Reserved => json!({ "transferState": "RESERVED" }),
        // A fulfilment that does not match the condition, in Mojaloop's
        // words ("3100: Generic validation error - invalid fulfilment").
        TransferState::Aborted
            if t.reason == ErrorCode::ValidationError.number()
                && matches!(t.resolution, Some(Resolution::Fulfil(_))) =>
        {
            HttpError::new(ErrorCode::ValidationError, "invalid fulfilment").body()
        }
        TransferState::Aborted | TransferState::Refused => {
            HttpError::from(SwitchError::from_number(t.reason, "")).body()
        }
    }
}

/// An aborted transfer's state, as Mojaloop's hub answers a `GET` of it:
/// ABORTED, with the abort's `errorInformation` as the `cause` extension
/// ("3303: Transfer expired").
fn aborted_state(view: &TransferView, error: &Value) -> Value {
    let info = &error["errorInformation"];
    let cause = format!(
        "{}: {}",
        info["errorCode"].as_str().unwrap_or_default(),
        info["errorDescription"].as_str().unwrap_or_default()
    );
    json!({
        "transferState": "ABORTED",
        "completedTimestamp": format_datetime_ms(view.record.resolved_at_ms),
        "extensionList": {"extension": [{"key": "cause", "value": cause}]},
    })
}

/// Sends a transfer's state to `to`: `PUT /transfers/{ID}`, or, for the
/// outcome of a prepare that aborted, `.../error` with its code. (A `GET`
/// of an aborted transfer is answered with its state, ABORTED, as
/// Mojaloop's hub does.)
///
/// The outcome of a prepare goes as the payee's own message when the payee
/// is on FSPIOP: its `PUT /transfers/{ID}` (COMMITTED) or `.../error`,
/// passed on as it came.
fn send_transfer(api: &Api, to: &str, view: &TransferView, source: String, outcome: bool) {
    let id = harambee_core::text::uuid_string(view.record.id.0);
    let mut body = transfer_body(view);
    if !outcome && body.get("errorInformation").is_some() {
        body = aborted_state(view, &body);
    }
    let is_error = body.get("errorInformation").is_some();
    let relayed = if outcome {
        relay_of(&api.pending, &relay_key("transfers", "put", &id), is_error)
    } else {
        None
    };
    if is_error {
        api.callback_relayed(
            to,
            "FSPIOP_CALLBACK_URL_TRANSFER_ERROR",
            format!("/transfers/{id}/error"),
            "transfers",
            api.callbacks.hub(),
            body,
            relayed,
        );
    } else {
        api.callback_relayed(
            to,
            "FSPIOP_CALLBACK_URL_TRANSFER_PUT",
            format!("/transfers/{id}"),
            "transfers",
            source,
            body,
            relayed,
        );
    }
}

/// `POST /transfers`: the payer's transfer, reserved and put to the
/// payee through the service layer's saga; its final state goes back to
/// the payer as `PUT /transfers/{ID}` (or `.../error`). A repeat gets the
/// transfer's state; other content under the same id, 3106.
async fn post_transfers(
    AxumState(api): AxumState<Api>,
    headers: Headers,
    bytes: Bytes,
) -> Response {
    let (fspiop, admitted) = match api.caller(&headers, "transfers", true) {
        Ok(f) => f,
        Err(e) => {
            count("PostTransfers", Some(&e));
            return e.into_response();
        }
    };
    let payer = fspiop.source.clone();
    let checked = serde_json::from_slice::<Value>(&bytes)
        .map_err(|e| HttpError::new(ErrorCode::MalformedSyntax, format!("body: {e}")))
        .and_then(|body| prepare_of(&body, &payer));
    let prepare = match checked {
        Ok(p) => p,
        Err(e) => {
            count("PostTransfers", Some(&e));
            return e.into_response();
        }
    };
    let id = harambee_core::text::uuid_string(prepare.transfer_id.0);
    api.keep_for(
        &prepare.payee,
        relay_key("transfers", "post", &id),
        &fspiop,
        &bytes,
    );
    tokio::spawn(async move {
        let _admitted = admitted;
        // A repeat: of a transfer still in progress, ignored (its outcome
        // goes once, as Mojaloop's hub does); of a final one, its state
        // resent from Hub.
        match api
            .service
            .transfers
            .prepare_noting_repeat(&payer, prepare)
            .await
        {
            Ok((_, Repeat::InProgress)) => {
                tracing::debug!(transfer = %id, "a repeat of a transfer in progress");
            }
            Ok((view, Repeat::OfFinal)) => {
                // The state as the hub knows it, not a payee's message
                // kept from an answer that came after the end.
                let _ = api.pending.take(&relay_key("transfers", "put", &id));
                send_transfer(&api, &payer, &view, api.callbacks.hub(), true);
            }
            Ok((view, Repeat::No)) => {
                let source = view.payee.clone();
                send_transfer(&api, &payer, &view, source, true);
            }
            Err(e) => {
                let e = HttpError::from(e);
                api.callback(
                    &payer,
                    "FSPIOP_CALLBACK_URL_TRANSFER_ERROR",
                    format!("/transfers/{id}/error"),
                    "transfers",
                    api.callbacks.hub(),
                    e.body(),
                );
            }
        }
    });
    count("PostTransfers", None);
    accepted()
}

/// The prepare a `POST /transfers` body asks for, checked.
fn prepare_of(body: &Value, payer: &str) -> Result<Prepare, HttpError> {
    let text = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    // An id that is not a UUID is malformed, in Mojaloop's words
    // ("Malformed syntax - Transfer Id ...").
    let given = text("transferId");
    let transfer_id = TransferId(validate::uuid("transferId", &given).map_err(|_| {
        HttpError::new(
            ErrorCode::MalformedSyntax,
            format!("Transfer Id: transferId {given:?} is not a UUID"),
        )
    })?);
    let payer_fsp = text("payerFsp");
    if payer_fsp != payer {
        return Err(HttpError::new(
            ErrorCode::GenericClientError,
            "payerFsp must be the FSPIOP-Source",
        ));
    }
    let payee = validate::fsp_id("payeeFsp", &text("payeeFsp"))?.to_string();
    let money = crate::convert::money_in(body.get("amount"))
        .ok_or_else(|| HttpError::new(ErrorCode::MissingElement, "amount is required"))?;
    let (amount, currency) = validate::money("amount", Some(&money))?;
    let ilp_packet = text("ilpPacket");
    validate::ilp_packet("ilpPacket", &ilp_packet)?;
    let condition = validate::b64url32("condition", &text("condition"))?;
    let expiration = text("expiration");
    let expires_at_ms = parse_datetime_ms(&expiration).ok_or_else(|| {
        HttpError::new(
            ErrorCode::ValidationError,
            format!("expiration: {expiration:?} is not a DateTime"),
        )
    })?;
    let extensions = crate::convert::extensions_in(body.get("extensionList"))
        .into_iter()
        .map(|e| (e.key, e.value))
        .collect();
    Ok(Prepare {
        transfer_id,
        payee,
        amount,
        currency,
        condition,
        expires_at_ms,
        terms: PrepareTerms {
            ilp_packet,
            quote_id: String::new(),
            transaction_id: String::new(),
            extensions,
        },
    })
}

/// `GET /transfers/{ID}`: the transfer's state, to its payer or payee.
async fn get_transfers(
    AxumState(api): AxumState<Api>,
    Path(id): Path<String>,
    headers: Headers,
) -> Response {
    let (fspiop, admitted) = match api.caller(&headers, "transfers", false) {
        Ok(f) => f,
        Err(e) => {
            count("GetTransfers", Some(&e));
            return e.into_response();
        }
    };
    let transfer_id = match validate::uuid("ID", &id) {
        Ok(t) => TransferId(t),
        Err(e) => {
            let e = HttpError::from(e);
            count("GetTransfers", Some(&e));
            return e.into_response();
        }
    };
    let caller = fspiop.source;
    tokio::spawn(async move {
        let _admitted = admitted;
        let funds = || api.service.transfers.funds_state(&caller, transfer_id);
        match api.service.transfers.view(&caller, transfer_id) {
            Ok(view) => send_transfer(&api, &caller, &view, api.callbacks.hub(), false),
            // Not a transfer: the caller's funds in or out by that id.
            Err(e) if e.number() == ErrorCode::TransferNotFound.number() && funds().is_ok() => {
                let state = match funds() {
                    Ok(FundsState::Reserved) => "RESERVED",
                    Ok(FundsState::Committed) => "COMMITTED",
                    _ => "ABORTED",
                };
                api.callback(
                    &caller,
                    "FSPIOP_CALLBACK_URL_TRANSFER_PUT",
                    format!("/transfers/{id}"),
                    "transfers",
                    api.callbacks.hub(),
                    json!({ "transferState": state }),
                );
            }
            Err(e) => {
                let e = HttpError::from(e);
                api.callback(
                    &caller,
                    "FSPIOP_CALLBACK_URL_TRANSFER_ERROR",
                    format!("/transfers/{id}/error"),
                    "transfers",
                    api.callbacks.hub(),
                    e.body(),
                );
            }
        }
    });
    count("GetTransfers", None);
    accepted()
}

/// The payee's answer to a transfer the switch put to it: `PUT
/// /transfers/{ID}` with its fulfilment (`transferState` COMMITTED, or
/// RESERVED to be told the outcome by `PATCH`), or `.../error`.
async fn answer_transfers(
    api: Api,
    id: String,
    headers: Headers,
    bytes: Bytes,
    error: bool,
) -> Response {
    let (fspiop, admitted) = match api.caller(&headers, "transfers", true) {
        Ok(f) => f,
        Err(e) => {
            count("PutTransfers", Some(&e));
            return e.into_response();
        }
    };
    let checked = validate::uuid("ID", &id)
        .map_err(HttpError::from)
        .and_then(|t| {
            let body: Value = serde_json::from_slice(&bytes)
                .map_err(|e| HttpError::new(ErrorCode::MalformedSyntax, format!("body: {e}")))?;
            Ok((TransferId(t), body))
        });
    let (transfer_id, body) = match checked {
        Ok(c) => c,
        Err(e) => {
            count("PutTransfers", Some(&e));
            return e.into_response();
        }
    };
    // Passed on to the payer as it came, unless it is the v1.1 commit
    // notification, which the hub answers on its own.
    let reserved = body.get("transferState").and_then(Value::as_str) == Some("RESERVED");
    // An answer addressed to someone other than the transfer's payer is
    // not a valid answer: the transfer aborts with 3100 (as Mojaloop's hub
    // does), and the message goes to nobody.
    let misdirected = !error
        && fspiop.destination.as_deref().is_some_and(|to| {
            api.service
                .transfers
                .view(&fspiop.source, transfer_id)
                .is_ok_and(|v| v.record.state == TransferState::Reserved && v.payer != to)
        });
    if let Some(payer) = fspiop.destination.as_deref()
        && !reserved
        && !misdirected
    {
        let key = relay_key(
            "transfers",
            "put",
            &harambee_core::text::uuid_string(transfer_id.0),
        );
        api.keep_for(payer, key, &fspiop, &bytes);
    }
    let payee = fspiop.source;
    // The payee's own rejection is not told back to it.
    let rejected = error;
    let (answer, notify) = if error {
        let e = remote_error(&body, ErrorCode::PayeeRejectedTransaction);
        (Ok(Answer::Reject(e.number())), false)
    } else {
        let state = body
            .get("transferState")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let fulfilment = body
            .get("fulfilment")
            .and_then(Value::as_str)
            .unwrap_or_default();
        // Not answers FSPIOP knows: ABORTED (a payee rejects with PUT
        // .../error), and, before v1.1, RESERVED (the commit notification
        // came with v1.1). Taken, and nothing changes, as in Mojaloop.
        if state == "ABORTED" || (state == "RESERVED" && fspiop.version < (1, 1)) {
            count("PutTransfers", None);
            return StatusCode::OK.into_response();
        }
        // A completion time still to come is refused at once.
        let completed = body.get("completedTimestamp").and_then(Value::as_str);
        if let Some(text) = completed {
            match parse_datetime_ms(text) {
                Some(ms) if ms > api.service.now_ms() + COMPLETED_SKEW_MAX_MS => {
                    let e = HttpError::new(
                        ErrorCode::ValidationError,
                        format!("completedTimestamp {text} is in the future"),
                    );
                    count("PutTransfers", Some(&e));
                    return e.into_response();
                }
                Some(_) => {}
                None => {
                    let e = HttpError::new(
                        ErrorCode::ValidationError,
                        format!("completedTimestamp: {text:?} is not a DateTime"),
                    );
                    count("PutTransfers", Some(&e));
                    return e.into_response();
                }
            }
        }
        match (state, validate::b64url32("fulfilment", fulfilment)) {
            ("COMMITTED" | "RESERVED", _) if misdirected => {
                tracing::debug!(transfer = %id, "an answer for someone other than the payer");
                (
                    Ok(Answer::Reject(ErrorCode::ValidationError.number())),
                    state == "RESERVED",
                )
            }
            ("COMMITTED" | "RESERVED", Ok(f)) => (Ok(Answer::Fulfil(f)), state == "RESERVED"),
            // A fulfilment that is missing or malformed fulfils nothing:
            // the transfer aborts with 3100, as for a wrong one.
            ("COMMITTED" | "RESERVED", Err(_)) => (
                Ok(Answer::Reject(ErrorCode::ValidationError.number())),
                false,
            ),
            _ => (
                Err(HttpError::new(
                    ErrorCode::ValidationError,
                    "transferState: COMMITTED or RESERVED",
                )),
                false,
            ),
        }
    };
    let answer = match answer {
        Ok(a) => a,
        Err(e) => {
            count("PutTransfers", Some(&e));
            return e.into_response();
        }
    };
    tokio::spawn(async move {
        let _admitted = admitted;
        // A repeat of the answer to a transfer that is already final gets
        // its state back, as Mojaloop's hub resends it.
        let was_final = api
            .service
            .transfers
            .view(&payee, transfer_id)
            .is_ok_and(|v| v.record.state != TransferState::Reserved);
        match api
            .service
            .transfers
            .fulfil(&payee, transfer_id, answer)
            .await
        {
            Ok(view) if was_final => send_transfer(&api, &payee, &view, api.callbacks.hub(), false),
            // The answer did not fulfil it (a wrong or missing fulfilment):
            // the payee hears why, as the payer does.
            Ok(view) if !notify && view.record.state != TransferState::Committed && !rejected => {
                // The abort's error in the words the payer hears too
                // ("invalid fulfilment").
                api.callback(
                    &payee,
                    "FSPIOP_CALLBACK_URL_TRANSFER_ERROR",
                    format!("/transfers/{id}/error"),
                    "transfers",
                    api.callbacks.hub(),
                    transfer_body(&view),
                );
            }
            Ok(view) if notify => {
                // v1.1: a payee that answered RESERVED hears the outcome.
                let mut body = transfer_body(&view);
                if body.get("errorInformation").is_some() {
                    body = json!({
                        "transferState": "ABORTED",
                        "completedTimestamp": format_datetime_ms(view.record.resolved_at_ms),
                    });
                } else if let Some(map) = body.as_object_mut() {
                    map.remove("fulfilment");
                }
                let url = api.service.read().ok().and_then(|st| {
                    let url = url_for(
                        &st,
                        &payee,
                        "FSPIOP_CALLBACK_URL_TRANSFER_PUT",
                        &Placeholders {
                            id: &id,
                            ..Placeholders::default()
                        },
                    )
                    .ok()?;
                    Some((url, deadline_of(&st, "transfers", &id)))
                });
                if let Some((url, deadline_ms)) = url {
                    api.callbacks.send(Callback {
                        method: Method::Patch,
                        url,
                        resource: "transfers",
                        source: api.callbacks.hub(),
                        destination: payee.clone(),
                        uri: format!("/transfers/{id}"),
                        body,
                        relayed: None,
                        deadline_ms,
                    });
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(transfer = %id, error = %e, "a payee's answer was refused");
                // Another answer to a final transfer: "Modified request",
                // as Mojaloop words it.
                let e = if e.number() == ErrorCode::ModifiedRequest.number() {
                    HttpError::new(ErrorCode::ModifiedRequest, "")
                } else {
                    HttpError::from(e)
                };
                api.callback(
                    &payee,
                    "FSPIOP_CALLBACK_URL_TRANSFER_ERROR",
                    format!("/transfers/{id}/error"),
                    "transfers",
                    api.callbacks.hub(),
                    e.body(),
                );
            }
        }
    });
    count("PutTransfers", None);
    StatusCode::OK.into_response()
}

async fn put_transfers(
    AxumState(api): AxumState<Api>,
    Path(id): Path<String>,
    headers: Headers,
    bytes: Bytes,
) -> Response {
    if id.trim().is_empty() {
        return unknown_uri().await.into_response();
    }
    answer_transfers(api, id, headers, bytes, false).await
}

async fn put_transfers_error(
    AxumState(api): AxumState<Api>,
    Path(id): Path<String>,
    headers: Headers,
    bytes: Bytes,
) -> Response {
    if id.trim().is_empty() {
        return unknown_uri().await.into_response();
    }
    answer_transfers(api, id, headers, bytes, true).await
}
