//! The operator console: server-rendered pages for hub and settlement
//! operators (HTML from the server, no front-end build; each page works
//! without JavaScript).
//!
//! - Each operator signs in with their own credential (an operator token,
//!   or the client certificate of their TLS connection) into a session
//!   ([`sessions`]): an HttpOnly, SameSite=Strict cookie that expires,
//!   and a CSRF token that every form carries.
//! - Every page reads, and every action acts, through the Operator API's
//!   own handlers (`harambee-grpc`'s `OperatorService`), called in-process
//!   with the operator's credential: the same authentication, roles,
//!   validation and audit record as a gRPC call, and nothing the Operator
//!   API would refuse.
//! - Money-moving actions go through a confirmation page that shows the
//!   amount and currency; the action's idempotency key is chosen before
//!   the confirmation, so confirming twice records it once.
//! - Strings come from a message catalog ([`catalog`]), in English and
//!   French, chosen at sign-in; amounts are formatted per currency
//!   ([`money`]).
//!
//! Architecture invariant: the console holds no state of the switch and
//! calls nothing below the Operator API's handlers.

mod audit;
pub mod catalog;
pub mod live;
pub mod money;
mod pages;
mod participants;
pub mod sessions;
mod settlement;
pub mod traffic;
mod transfers;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{
    DefaultBodyLimit, Extension, Form, FromRequest, FromRequestParts, Query, Request, State,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use harambee_grpc::edge::Ctx;
use harambee_grpc::operator_api::OperatorService;
use harambee_proto::fspiop::FspiopError;
use harambee_proto::v1::operator_api_server::OperatorApi;
use harambee_proto::v1::*;
use harambee_service::ports::{Credential, Need, PeerIdentity};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::catalog::{Lang, fill, text};
use crate::sessions::{COOKIE, Held, Session, Sessions};

/// Longest token, amount or reference a form may carry.
pub const FIELD_LENGTH_MAX: usize = 512;

/// Largest form body the console reads.
pub const FORM_BYTES_MAX: usize = 64 * 1024;

/// How the console runs.
#[derive(Clone, Debug)]
pub struct ConsoleSettings {
    /// How long a session lasts from sign-in.
    pub session_ttl_ms: u64,
    /// Sessions open at once.
    pub sessions_max: usize,
    /// Whether the session cookie is marked `Secure` (the console on
    /// TLS, or behind a proxy that terminates it).
    pub secure_cookies: bool,
    /// The switch's metrics, for the overview's throughput and outcomes.
    pub metrics: Option<traffic::MetricsSource>,
    /// Turns true when the switch stops: the overview's live streams end
    /// then rather than hold the shutdown up.
    pub stop: Option<tokio::sync::watch::Receiver<bool>>,
}

#[derive(Clone)]
pub(crate) struct App {
    pub(crate) ops: Arc<OperatorService>,
    ctx: Ctx,
    sessions: Arc<Sessions>,
    pub(crate) settings: Arc<ConsoleSettings>,
    pub(crate) traffic: Arc<traffic::Traffic>,
    /// The overview's live streams open ([`live::STREAMS_MAX`]).
    streams: Arc<tokio::sync::Semaphore>,
}

/// The console's pages, over the Operator API's handlers on `ctx`.
pub fn router(ctx: Ctx, settings: ConsoleSettings) -> Router {
    let app = App {
        ops: Arc::new(OperatorService { ctx: ctx.clone() }),
        ctx,
        sessions: Arc::new(Sessions::new(
            settings.session_ttl_ms,
            settings.sessions_max,
        )),
        traffic: Arc::new(traffic::Traffic::default()),
        streams: live::streams(),
        settings: Arc::new(settings),
    };
    if let Some(source) = app.settings.metrics.clone() {
        let service = app.ctx.service.clone();
        traffic::start_sampling(&app.traffic, source, move || service.now_ms());
    }
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .merge(participants::routes())
        .merge(transfers::routes())
        .merge(settlement::routes())
        .merge(audit::routes())
        .merge(live::routes())
        .layer(DefaultBodyLimit::max(FORM_BYTES_MAX))
        .with_state(app)
}

/// The signed-in operator of a request; without a live session, the
/// request is answered with a redirect to sign in.
pub(crate) struct Signed(pub Session);

impl FromRequestParts<App> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Signed, Response> {
        app.session(&parts.headers).map(Signed).map_err(|r| *r)
    }
}

/// A form the signed-in operator sent: its fields, once the session's
/// CSRF token and the console's origin are checked. Nothing of a form
/// that fails the check is read further.
pub(crate) struct Posted<T>(pub Session, pub T);

impl<T: DeserializeOwned> FromRequest<App> for Posted<T> {
    type Rejection = Response;

    async fn from_request(request: Request, app: &App) -> Result<Posted<T>, Response> {
        #[derive(Deserialize)]
        struct Csrf {
            #[serde(default)]
            csrf: String,
        }
        let headers = request.headers().clone();
        let session = app.session(&headers).map_err(|r| *r)?;
        let body = Bytes::from_request(request, app)
            .await
            .map_err(IntoResponse::into_response)?;
        let csrf = serde_urlencoded::from_bytes::<Csrf>(&body)
            .map(|c| c.csrf)
            .unwrap_or_default();
        app.check_form(&headers, &session, &csrf).map_err(|r| *r)?;
        match serde_urlencoded::from_bytes::<T>(&body) {
            Ok(form) => Ok(Posted(session, form)),
            Err(e) => Err(pages::message(
                StatusCode::BAD_REQUEST,
                session.lang,
                Some(&session),
                &fill(session.lang, "bad_fields", &[("error", &e.to_string())]),
                "/",
            )),
        }
    }
}

/// A form of nothing but its CSRF token.
#[derive(Deserialize)]
pub(crate) struct NoFields {}

/// What a page or an action answers: its page, or the Operator API's
/// refusal shown with a way `back`.
pub(crate) fn answer(
    session: &Session,
    back: &str,
    result: Result<Response, tonic::Status>,
) -> Response {
    result.unwrap_or_else(|status| refusal(session, &status, back))
}

/// A request of the Operator API carrying the session's credential.
pub(crate) fn call<T>(session: &Session, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    match &session.credential {
        Held::Bearer(token) => {
            if let Ok(value) = format!("Bearer {token}").parse() {
                request.metadata_mut().insert("authorization", value);
            }
        }
        Held::Certificate(certificate) => {
            request.extensions_mut().insert(PeerIdentity {
                remote_addr: None,
                certificate: Some(*certificate),
            });
        }
    }
    request
}

fn cookie_of<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl App {
    pub(crate) fn now_ms(&self) -> i64 {
        self.ctx.service.now_ms()
    }

    /// The session of the request's cookie, or a redirect to sign in.
    fn session(&self, headers: &HeaderMap) -> Result<Session, Box<Response>> {
        cookie_of(headers, COOKIE)
            .and_then(|id| self.sessions.get(id, self.now_ms()))
            .ok_or_else(|| Box::new(Redirect::to("/login?expired=1").into_response()))
    }

    /// Checks a form of `session`: its CSRF token must be the session's,
    /// and the request must come from this console's origin when the
    /// browser says where it comes from.
    fn check_form(
        &self,
        headers: &HeaderMap,
        session: &Session,
        csrf: &str,
    ) -> Result<(), Box<Response>> {
        if !same_origin(headers) || !equal(csrf.as_bytes(), session.csrf.as_bytes()) {
            metrics::counter!("harambee_console_forms_refused_total").increment(1);
            return Err(Box::new(pages::message(
                StatusCode::FORBIDDEN,
                session.lang,
                Some(session),
                &text(session.lang, "bad_form"),
                "/",
            )));
        }
        Ok(())
    }

    /// Each currency's decimals, from the Operator API.
    pub(crate) async fn scales(
        &self,
        session: &Session,
    ) -> Result<HashMap<String, u32>, tonic::Status> {
        let currencies = self
            .ops
            .list_currencies(call(session, ListCurrenciesRequest {}))
            .await?
            .into_inner();
        Ok(currencies
            .currencies
            .into_iter()
            .map(|c| (c.currency, c.scale))
            .collect())
    }

    /// `amount` in `currency` as the session reads it, in the currency's
    /// decimals (2 when the Operator API cannot say).
    pub(crate) async fn shown(&self, session: &Session, amount: &str, currency: &str) -> String {
        let scale = self
            .scales(session)
            .await
            .ok()
            .and_then(|s| s.get(currency).copied())
            .unwrap_or(2);
        money::format(amount, currency, scale, session.lang)
    }
}

/// Compares two secrets in time independent of where they differ.
fn equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether the request's `Origin` (when the browser sends one) is the
/// console's own (`Host`).
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    origin
        .split_once("://")
        .is_some_and(|(_, authority)| authority == host)
}

/// An Operator API refusal as a page: 403 for a role that may not, 400
/// otherwise, the FSPIOP code and message shown.
pub(crate) fn refusal(session: &Session, status: &tonic::Status, back: &str) -> Response {
    let error = FspiopError::from_status(status);
    let code = error.code.to_string();
    let (http, key) = if error.code == 3000 {
        (StatusCode::FORBIDDEN, "forbidden")
    } else {
        (StatusCode::BAD_REQUEST, "refused")
    };
    pages::message(
        http,
        session.lang,
        Some(session),
        &fill(
            session.lang,
            key,
            &[("code", &code), ("message", &error.description)],
        ),
        back,
    )
}

/// A page saying an action is done, with `key`'s text filled.
pub(crate) fn done(session: &Session, key: &str, values: &[(&str, &str)], back: &str) -> Response {
    pages::message(
        StatusCode::OK,
        session.lang,
        Some(session),
        &fill(session.lang, key, values),
        back,
    )
}

#[derive(Deserialize)]
struct LoginQuery {
    #[serde(default)]
    expired: Option<String>,
    #[serde(default)]
    lang: Option<String>,
}

async fn login_page(
    Query(q): Query<LoginQuery>,
    peer: Option<Extension<PeerIdentity>>,
) -> Response {
    let lang = Lang::from_code(q.lang.as_deref().unwrap_or("en"));
    let has_certificate = peer.is_some_and(|p| p.certificate.is_some());
    let note = q.expired.is_some().then(|| text(lang, "login_expired"));
    pages::login(StatusCode::OK, lang, note.as_deref(), has_certificate)
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    lang: String,
    #[serde(default)]
    certificate: Option<String>,
}

async fn login(
    State(app): State<App>,
    headers: HeaderMap,
    peer: Option<Extension<PeerIdentity>>,
    Form(form): Form<LoginForm>,
) -> Response {
    let lang = Lang::from_code(&form.lang);
    let certificate = peer.and_then(|p| p.certificate);
    let held = match (&form.certificate, certificate) {
        (Some(_), Some(c)) => Held::Certificate(c),
        _ if !form.token.is_empty() && form.token.len() <= FIELD_LENGTH_MAX => {
            Held::Bearer(form.token.clone())
        }
        _ => Held::Bearer(String::new()),
    };
    let refused = || {
        metrics::counter!("harambee_console_logins_total", "result" => "refused").increment(1);
        pages::login(
            StatusCode::UNAUTHORIZED,
            lang,
            Some(&text(lang, "login_refused")),
            certificate.is_some(),
        )
    };
    if !same_origin(&headers) {
        return refused();
    }
    let credential = match &held {
        Held::Bearer(token) if token.is_empty() => return refused(),
        Held::Bearer(token) => Credential::Bearer(token),
        Held::Certificate(c) => Credential::Certificate(c),
    };
    let Ok(acting) = app
        .ctx
        .service
        .operator(credential, Need::Read, "ConsoleLogin")
    else {
        return refused();
    };
    let Some(id) = app
        .sessions
        .open(acting.operator.clone(), held, lang, app.now_ms())
    else {
        return refused();
    };
    metrics::counter!("harambee_console_logins_total", "result" => "ok").increment(1);
    tracing::info!(operator = %acting.operator, "console sign-in");
    let mut cookie = format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        app.settings.session_ttl_ms / 1000
    );
    if app.settings.secure_cookies {
        cookie.push_str("; Secure");
    }
    let mut response = Redirect::to("/").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

async fn logout(
    State(app): State<App>,
    headers: HeaderMap,
    Posted(session, NoFields {}): Posted<NoFields>,
) -> Response {
    if let Some(id) = cookie_of(&headers, COOKIE) {
        app.sessions.close(id);
    }
    tracing::info!(operator = %session.operator, "console sign-out");
    let mut response = Redirect::to("/login").into_response();
    let expired = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    if let Ok(value) = HeaderValue::from_str(&expired) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}
