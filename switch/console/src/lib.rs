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

pub mod catalog;
pub mod money;
mod pages;
pub mod sessions;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Extension, Form, Path, Query, State};
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

use crate::catalog::{Lang, fill, text};
use crate::sessions::{COOKIE, Held, Session, Sessions};

/// Longest token, amount or reference a form may carry.
pub const FIELD_LENGTH_MAX: usize = 512;

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
}

#[derive(Clone)]
struct App {
    ops: Arc<OperatorService>,
    ctx: Ctx,
    sessions: Arc<Sessions>,
    settings: Arc<ConsoleSettings>,
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
        settings: Arc::new(settings),
    };
    Router::new()
        .route("/", get(overview))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/participants/{fsp}", get(participant))
        .route("/participants/{fsp}/net-debit-cap", post(set_ndc))
        .route("/participants/{fsp}/active", post(set_active))
        .route("/participants/{fsp}/funds-in", post(funds_in_confirm))
        .route("/participants/{fsp}/funds-in/confirmed", post(funds_in))
        .with_state(app)
}

/// A request of the Operator API carrying the session's credential.
fn call<T>(session: &Session, message: T) -> tonic::Request<T> {
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
    fn now_ms(&self) -> i64 {
        self.ctx.service.now_ms()
    }

    /// The session of the request's cookie, or a redirect to sign in.
    fn session(&self, headers: &HeaderMap) -> Result<Session, Box<Response>> {
        cookie_of(headers, COOKIE)
            .and_then(|id| self.sessions.get(id, self.now_ms()))
            .ok_or_else(|| Box::new(Redirect::to("/login?expired=1").into_response()))
    }

    /// The session, for a form it sent: the CSRF token must be the
    /// session's, and the request must come from this console's origin
    /// when the browser says where it comes from.
    fn session_for_form(&self, headers: &HeaderMap, csrf: &str) -> Result<Session, Box<Response>> {
        let session = self.session(headers)?;
        if !same_origin(headers) || !equal(csrf.as_bytes(), session.csrf.as_bytes()) {
            metrics::counter!("harambee_console_forms_refused_total").increment(1);
            return Err(Box::new(pages::message(
                StatusCode::FORBIDDEN,
                session.lang,
                Some(&session),
                &text(session.lang, "bad_form"),
                "/",
            )));
        }
        Ok(session)
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
fn refusal(session: &Session, status: &tonic::Status, back: &str) -> Response {
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
fn done(session: &Session, key: &str, values: &[(&str, &str)], back: &str) -> Response {
    pages::message(
        StatusCode::OK,
        session.lang,
        Some(session),
        &fill(session.lang, key, values),
        back,
    )
}

/// `amount` in `currency` as the session reads it, in the currency's
/// decimals (2 when the Operator API cannot say).
async fn shown(app: &App, session: &Session, amount: &str, currency: &str) -> String {
    let scale = scales(app, session)
        .await
        .ok()
        .and_then(|s| s.get(currency).copied())
        .unwrap_or(2);
    money::format(amount, currency, scale, session.lang)
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

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(app): State<App>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let session = match app.session_for_form(&headers, &form.csrf) {
        Ok(s) => s,
        Err(r) => return *r,
    };
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

/// Each currency's decimals, from the Operator API.
async fn scales(app: &App, session: &Session) -> Result<HashMap<String, u32>, tonic::Status> {
    let currencies = app
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

async fn overview(State(app): State<App>, headers: HeaderMap) -> Response {
    let session = match app.session(&headers) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let loaded = async {
        let scales = scales(&app, &session).await?;
        let participants = app
            .ops
            .list_participants(call(
                &session,
                ListParticipantsRequest {
                    page: Some(PageRequest {
                        page_size: 1000,
                        page_token: String::new(),
                    }),
                },
            ))
            .await?
            .into_inner()
            .participants;
        let mut rows = Vec::with_capacity(participants.len());
        for p in participants {
            let positions = app
                .ops
                .get_positions(call(
                    &session,
                    GetPositionsRequest {
                        fsp_id: p.fsp_id.clone(),
                    },
                ))
                .await?
                .into_inner()
                .positions;
            rows.push((p, positions));
        }
        Ok::<_, tonic::Status>((scales, rows))
    }
    .await;
    match loaded {
        Ok((scales, rows)) => pages::overview(&session, &scales, &rows),
        Err(status) => refusal(&session, &status, "/"),
    }
}

async fn participant(
    State(app): State<App>,
    headers: HeaderMap,
    Path(fsp): Path<String>,
) -> Response {
    let session = match app.session(&headers) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let loaded = async {
        let scales = scales(&app, &session).await?;
        let info = app
            .ops
            .get_participant(call(
                &session,
                GetParticipantRequest {
                    fsp_id: fsp.clone(),
                },
            ))
            .await?
            .into_inner();
        let positions = app
            .ops
            .get_positions(call(
                &session,
                GetPositionsRequest {
                    fsp_id: fsp.clone(),
                },
            ))
            .await?
            .into_inner()
            .positions;
        let accounts = app
            .ops
            .get_accounts(call(
                &session,
                GetAccountsRequest {
                    fsp_id: fsp.clone(),
                },
            ))
            .await?
            .into_inner()
            .accounts;
        let transfers = app
            .ops
            .list_transfers(call(
                &session,
                ListTransfersRequest {
                    fsp_id: fsp.clone(),
                    page: Some(PageRequest {
                        page_size: 20,
                        page_token: String::new(),
                    }),
                    ..ListTransfersRequest::default()
                },
            ))
            .await?
            .into_inner()
            .transfers;
        Ok::<_, tonic::Status>(pages::ParticipantPage {
            scales,
            info,
            positions,
            accounts,
            transfers,
        })
    }
    .await;
    match loaded {
        Ok(page) => pages::participant(&session, &page),
        Err(status) => refusal(&session, &status, "/"),
    }
}

#[derive(Deserialize)]
struct NdcForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    amount: String,
}

async fn set_ndc(
    State(app): State<App>,
    headers: HeaderMap,
    Path(fsp): Path<String>,
    Form(form): Form<NdcForm>,
) -> Response {
    let session = match app.session_for_form(&headers, &form.csrf) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let back = format!("/participants/{fsp}");
    let amount = form.amount.trim().to_string();
    let set = app
        .ops
        .set_net_debit_cap(call(
            &session,
            SetNetDebitCapRequest {
                fsp_id: fsp.clone(),
                currency: form.currency.clone(),
                net_debit_cap: amount.clone(),
            },
        ))
        .await;
    match set {
        Ok(set) => {
            let set = set.into_inner();
            let amount = shown(&app, &session, &set.net_debit_cap, &set.currency).await;
            done(
                &session,
                "done_ndc",
                &[
                    ("fsp", &fsp),
                    ("currency", &set.currency),
                    ("amount", &amount),
                ],
                &back,
            )
        }
        Err(status) => refusal(&session, &status, &back),
    }
}

#[derive(Deserialize)]
struct ActiveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    active: String,
}

async fn set_active(
    State(app): State<App>,
    headers: HeaderMap,
    Path(fsp): Path<String>,
    Form(form): Form<ActiveForm>,
) -> Response {
    let session = match app.session_for_form(&headers, &form.csrf) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let back = format!("/participants/{fsp}");
    let active = form.active == "true";
    match app
        .ops
        .set_participant_active(call(
            &session,
            SetParticipantActiveRequest {
                fsp_id: fsp.clone(),
                active,
            },
        ))
        .await
    {
        Ok(_) => {
            let state = text(session.lang, if active { "active" } else { "inactive" });
            done(
                &session,
                "done_active",
                &[("fsp", &fsp), ("state", &state)],
                &back,
            )
        }
        Err(status) => refusal(&session, &status, &back),
    }
}

#[derive(Deserialize)]
struct FundsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    reason: String,
    /// Chosen when the confirmation is shown: the funds' idempotency key.
    #[serde(default)]
    funds_id: String,
}

/// The confirmation of a funds in: what it is, and a form that records
/// it under an id chosen now.
async fn funds_in_confirm(
    State(app): State<App>,
    headers: HeaderMap,
    Path(fsp): Path<String>,
    Form(form): Form<FundsForm>,
) -> Response {
    let session = match app.session_for_form(&headers, &form.csrf) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let scale = match scales(&app, &session).await {
        Ok(s) => s.get(&form.currency).copied().unwrap_or(2),
        Err(status) => return refusal(&session, &status, "/"),
    };
    let shown = money::format(form.amount.trim(), &form.currency, scale, session.lang);
    pages::confirm_funds_in(
        &session,
        &fsp,
        &shown,
        &pages::FundsFields {
            currency: &form.currency,
            amount: form.amount.trim(),
            reason: &form.reason,
            funds_id: &uuid::Uuid::new_v4().to_string(),
        },
    )
}

async fn funds_in(
    State(app): State<App>,
    headers: HeaderMap,
    Path(fsp): Path<String>,
    Form(form): Form<FundsForm>,
) -> Response {
    let session = match app.session_for_form(&headers, &form.csrf) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let back = format!("/participants/{fsp}");
    let recorded = app
        .ops
        .funds_in(call(
            &session,
            FundsRequest {
                funds_id: form.funds_id.clone(),
                fsp_id: fsp.clone(),
                amount: Some(Money {
                    amount: form.amount.trim().to_string(),
                    currency: form.currency.clone(),
                }),
                reason: form.reason.clone(),
            },
        ))
        .await;
    match recorded {
        Ok(recorded) => {
            let money = recorded.into_inner().amount.unwrap_or_default();
            let amount = shown(&app, &session, &money.amount, &money.currency).await;
            done(
                &session,
                "done_funds_in",
                &[("fsp", &fsp), ("amount", &amount)],
                &back,
            )
        }
        Err(status) => refusal(&session, &status, &back),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_and_origins() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; harambee_console=abc; b=2".parse().unwrap(),
        );
        assert_eq!(cookie_of(&h, COOKIE), Some("abc"));
        assert_eq!(cookie_of(&h, "c"), None);
        assert!(same_origin(&h), "no Origin: a same-site form");
        h.insert(header::HOST, "127.0.0.1:7405".parse().unwrap());
        h.insert(header::ORIGIN, "http://127.0.0.1:7405".parse().unwrap());
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, "http://evil.example".parse().unwrap());
        assert!(!same_origin(&h));
        assert!(equal(b"abc", b"abc"));
        assert!(!equal(b"abc", b"abd"));
        assert!(!equal(b"abc", b"ab"));
    }
}
