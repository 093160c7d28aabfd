//! The settlement API of a Mojaloop hub (central-settlement's API,
//! `central-settlement-api-swagger.json`) over HTTP/JSON, served beside
//! the admin API (at `/v2`, where Mojaloop deployments put it, and at the
//! root): settlement windows (list, get, close) and settlements (create,
//! get, and move participants' accounts through their states, or abort).
//! Every call is one of the service layer's settlement operations, the
//! same the gRPC Operator API uses; this module only translates.
//!
//! Mojaloop's ids carry over: a participant is its integer id (as the
//! admin API's accounts show it), an account the id of its POSITION
//! account in the settlement's currency. Harambee keeps one window per
//! currency; a window is shown with one content entry, its currency's
//! POSITION movements.

use std::collections::HashMap;

use crate::headers::Headers;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State as AxumState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use harambee_core::error::ErrorCode;
use harambee_core::record::{Granularity, Interchange, ParticipantRef, SettlementCommand};
use harambee_core::state::{SettlementReply, State};
use harambee_ledger::{AccountType, Currency, Owner, ParticipantId};
use harambee_proto::validate;
use harambee_service::Service;
use harambee_service::ports::{Acting, Need, OperatorRole};
use harambee_settlement::{Settlement, SettlementId, SettlementState, Window, WindowId};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::admin::{Admin, AdminSettings, Answer, amount, body, count, json_answer};
use crate::convert::format_datetime_ms;
use crate::error::HttpError;

/// Most windows one settlement may cover.
pub const SETTLEMENT_WINDOWS_MAX: usize = 1_000;

/// Most participants (and accounts) one update may name.
pub const UPDATE_ACCOUNTS_MAX: usize = 1_000;

/// The states a settlement window is listed by.
pub const WINDOW_STATES: &[&str] = &[
    "OPEN",
    "PROCESSING",
    "CLOSED",
    "PENDING_SETTLEMENT",
    "SETTLED",
    "ABORTED",
];

/// The states a settlement is listed by.
pub const SETTLEMENT_STATES: &[&str] = &[
    "PENDING_SETTLEMENT",
    "PS_TRANSFERS_RECORDED",
    "PS_TRANSFERS_RESERVED",
    "PS_TRANSFERS_COMMITTED",
    "SETTLING",
    "SETTLED",
    "ABORTED",
];

/// Most windows or settlements a list answers.
pub const LIST_MAX: usize = 1_000;

/// The settlement API's routes.
pub fn router(service: std::sync::Arc<Service>, settings: AdminSettings) -> Router {
    let admin = Admin { service, settings };
    Router::new()
        .route("/settlementWindows", get(list_windows))
        .route(
            "/settlementWindows/{id}",
            get(get_window).post(close_window),
        )
        .route(
            "/settlements",
            get(list_settlements).post(create_settlement),
        )
        .route(
            "/settlements/{id}",
            get(get_settlement).put(update_settlement),
        )
        .route(
            "/settlements/{sid}/participants/{pid}",
            get(get_settlement_participant).put(update_settlement_participant),
        )
        .route(
            "/settlements/{sid}/participants/{pid}/accounts/{aid}",
            get(get_settlement_account).put(update_settlement_account),
        )
        .layer(axum::extract::DefaultBodyLimit::max(
            crate::admin::ADMIN_BODY_MAX_BYTES,
        ))
        .with_state(admin)
}

fn invalid(detail: impl AsRef<str>) -> HttpError {
    HttpError::new(ErrorCode::ValidationError, detail)
}

fn window_state_name(w: &Window) -> &'static str {
    use harambee_settlement::WindowState as S;
    match w.state {
        S::Open => "OPEN",
        S::Closed => "CLOSED",
        S::PendingSettlement => "PENDING_SETTLEMENT",
        S::Settled => "SETTLED",
        S::Aborted => "ABORTED",
    }
}

fn state_name(s: SettlementState) -> &'static str {
    match s {
        SettlementState::PendingSettlement => "PENDING_SETTLEMENT",
        SettlementState::PsTransfersRecorded => "PS_TRANSFERS_RECORDED",
        SettlementState::PsTransfersReserved => "PS_TRANSFERS_RESERVED",
        SettlementState::PsTransfersCommitted => "PS_TRANSFERS_COMMITTED",
        SettlementState::Settled => "SETTLED",
        SettlementState::Aborted => "ABORTED",
    }
}

fn state_of_name(name: &str) -> Option<SettlementState> {
    Some(match name {
        "PENDING_SETTLEMENT" => SettlementState::PendingSettlement,
        "PS_TRANSFERS_RECORDED" => SettlementState::PsTransfersRecorded,
        "PS_TRANSFERS_RESERVED" => SettlementState::PsTransfersReserved,
        "PS_TRANSFERS_COMMITTED" => SettlementState::PsTransfersCommitted,
        "SETTLED" => SettlementState::Settled,
        "ABORTED" => SettlementState::Aborted,
        _ => return None,
    })
}

/// The settlement's state as Mojaloop names it: SETTLING while some of
/// its accounts are SETTLED and the others not yet.
fn settlement_state_name(x: &Settlement) -> &'static str {
    let settled = x
        .accounts
        .values()
        .filter(|a| a.state == SettlementState::Settled)
        .count();
    if x.state != SettlementState::Aborted && settled > 0 && settled < x.accounts.len() {
        return "SETTLING";
    }
    state_name(x.state)
}

/// A window as central-settlement shows it.
fn window_view(w: &Window) -> Value {
    let changed = w.closed_at_ms.unwrap_or(w.opened_at_ms);
    let content: Vec<Value> = if w.state == harambee_settlement::WindowState::Open {
        Vec::new()
    } else {
        vec![json!({
            "id": w.id.0,
            "state": window_state_name(w),
            "ledgerAccountType": "POSITION",
            "currencyId": w.currency.to_string(),
            "createdDate": format_datetime_ms(w.opened_at_ms),
            "changedDate": format_datetime_ms(changed),
            "settlementId": w.settlement.map(|s| s.0),
        })]
    };
    json!({
        "settlementWindowId": w.id.0,
        "state": window_state_name(w),
        "reason": w.close_reason,
        "createdDate": format_datetime_ms(w.opened_at_ms),
        "changedDate": format_datetime_ms(changed),
        "content": content,
    })
}

/// A participant's POSITION account in `currency`.
fn position_account(st: &State, participant: ParticipantId, currency: Currency) -> Option<u32> {
    st.ledger
        .accounts()
        .iter()
        .find(|a| {
            a.owner == Owner::Participant(participant)
                && a.kind == AccountType::Position
                && a.currency == currency
        })
        .map(|a| a.id.0)
}

/// One participant of a settlement with its account, as
/// central-settlement shows it.
fn participant_view(st: &State, x: &Settlement, p: ParticipantId, reason: &str) -> Option<Value> {
    let a = x.accounts.get(&p)?;
    let mut account = json!({
        "id": position_account(st, p, x.currency),
        "state": state_name(a.state),
        "reason": reason,
        "netSettlementAmount": {
            "amount": amount(&st.ledger, x.currency, a.net),
            "currency": x.currency.to_string(),
        },
    });
    if !a.external_reference.is_empty() {
        account["externalReference"] = Value::String(a.external_reference.clone());
    }
    Some(json!({ "id": p.0, "accounts": [account] }))
}

/// A settlement as central-settlement shows it; `only`: just these
/// participants (an update answers those it changed).
fn settlement_view(st: &State, x: &Settlement, only: Option<&[ParticipantId]>) -> Value {
    let windows: Vec<Value> = x
        .windows
        .iter()
        .filter_map(|id| st.settlements.window(*id))
        .map(|w| {
            let mut v = window_view(w);
            // Central-settlement names a settlement's windows by `id`.
            v["id"] = json!(w.id.0);
            v
        })
        .collect();
    let participants: Vec<Value> = x
        .accounts
        .keys()
        .filter(|p| only.is_none_or(|o| o.contains(p)))
        .filter_map(|p| participant_view(st, x, *p, &x.reason))
        .collect();
    json!({
        "id": x.id.0,
        "state": settlement_state_name(x),
        "reason": x.reason,
        "createdDate": format_datetime_ms(x.created_at_ms),
        "changedDate": format_datetime_ms(x.changed_at_ms),
        "settlementWindows": windows,
        "participants": participants,
    })
}

fn id_in(field: &str, text: &str) -> Result<u64, HttpError> {
    text.parse::<u64>()
        .map_err(|_| invalid(format!("{field}: {text:?} is not an id")))
}

/// A window by its id.
/// When a window last changed: its close, or else the commit of its last
/// transfer, or else its opening.
fn changed_at_ms(st: &State, w: &Window) -> i64 {
    if let Some(closed) = w.closed_at_ms {
        return closed;
    }
    w.transfers
        .last()
        .and_then(|id| st.ledger.transfer(*id))
        .map_or(w.opened_at_ms, |t| t.resolved_at_ms.max(w.opened_at_ms))
}

fn window(st: &State, id: u64) -> Result<&Window, HttpError> {
    st.settlements
        .window(WindowId(id))
        .ok_or_else(|| invalid(format!("Window {id} does not exist")))
}

/// A settlement by its id.
fn settlement(st: &State, id: u64) -> Result<&Settlement, HttpError> {
    st.settlements
        .settlement(SettlementId(id))
        .ok_or_else(|| invalid(format!("Settlement with ID '{id}' not found")))
}

/// A state query parameter, one of `states` (3101 otherwise: Mojaloop
/// validates the enumeration).
fn state_param<'a>(state: Option<&'a str>, states: &[&str]) -> Result<Option<&'a str>, HttpError> {
    match state {
        Some(s) if !states.contains(&s) => Err(HttpError::new(
            ErrorCode::MalformedSyntax,
            format!("state: {s:?} is not one of {}", states.join(", ")),
        )),
        other => Ok(other),
    }
}

/// A settlement as its participant and account views show it: without
/// the settlement's own reason (central-settlement's shape).
fn without_reason(mut view: Value) -> Value {
    if let Some(map) = view.as_object_mut() {
        map.remove("reason");
    }
    view
}

/// A DateTime query parameter, in milliseconds.
fn time_param(q: &HashMap<String, String>, name: &str) -> Result<Option<i64>, HttpError> {
    q.get(name)
        .map(|v| {
            crate::convert::parse_datetime_ms(v)
                .ok_or_else(|| invalid(format!("{name}: {v:?} is not a DateTime")))
        })
        .transpose()
}

/// The filters of a list, at least one of `names` given (as Mojaloop asks).
fn filters<'a>(
    q: &'a HashMap<String, String>,
    names: &[&str],
) -> Result<impl Fn(&str) -> Option<&'a str>, HttpError> {
    if !names.iter().any(|n| q.contains_key(*n)) {
        return Err(invalid(format!(
            "Use at least one parameter: {}",
            names.join(", ")
        )));
    }
    Ok(move |name: &str| q.get(name).map(String::as_str))
}

async fn list_windows(
    AxumState(admin): AxumState<Admin>,
    Query(q): Query<HashMap<String, String>>,
    headers: Headers,
) -> Response {
    let answer = async {
        admin.authorize(&headers, Need::Read, "ListWindows")?;
        let get = filters(
            &q,
            &[
                "participantId",
                "state",
                "fromDateTime",
                "toDateTime",
                "currency",
            ],
        )?;
        let currency = get("currency")
            .map(|c| validate::currency("currency", c))
            .transpose()?;
        let participant = get("participantId")
            .map(|p| id_in("participantId", p))
            .transpose()?;
        let (from, to) = (
            time_param(&q, "fromDateTime")?,
            time_param(&q, "toDateTime")?,
        );
        let state = state_param(get("state"), WINDOW_STATES)?;
        let st = admin.service.read()?;
        let mut found: Vec<&Window> = st
            .settlements
            .windows()
            .iter()
            .filter(|w| currency.is_none_or(|c| w.currency == c))
            .filter(|w| state.is_none_or(|s| window_state_name(w) == s))
            .filter(|w| from.is_none_or(|f| w.opened_at_ms >= f))
            .filter(|w| to.is_none_or(|t| w.opened_at_ms <= t))
            .filter(|w| {
                participant.is_none_or(|p| {
                    w.flows
                        .keys()
                        .any(|(a, b)| u64::from(a.0) == p || u64::from(b.0) == p)
                })
            })
            .collect();
        if found.is_empty() {
            let asked: Vec<String> = q.iter().map(|(k, v)| format!("{k}:{v}")).collect();
            return Err(invalid(format!(
                "settlementWindow by filters: {{{}}} not found",
                asked.join(",")
            )));
        }
        // The most recently changed first, as central-settlement lists them:
        // an open window that took a transfer since another opened comes
        // before it.
        found.sort_by_key(|w| std::cmp::Reverse((changed_at_ms(&st, w), w.id.0)));
        let views: Vec<Value> = found.into_iter().take(LIST_MAX).map(window_view).collect();
        json_answer(StatusCode::OK, Value::Array(views))
    }
    .await;
    count("GetSettlementWindows", &answer);
    answer.into_response()
}

async fn get_window(
    AxumState(admin): AxumState<Admin>,
    Path(id): Path<String>,
    headers: Headers,
) -> Response {
    let answer = async {
        admin.authorize(&headers, Need::Read, "GetWindow")?;
        let id = id_in("id", &id)?;
        let st = admin.service.read()?;
        json_answer(StatusCode::OK, window_view(window(&st, id)?))
    }
    .await;
    count("GetSettlementWindow", &answer);
    answer.into_response()
}

#[derive(Deserialize)]
struct WindowClosure {
    #[serde(default)]
    state: String,
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /settlementWindows/{id} {state: CLOSED, reason}`: closes the open
/// window and answers the one opened in its place.
async fn close_window(
    AxumState(admin): AxumState<Admin>,
    Path(id): Path<String>,
    headers: Headers,
    bytes: Bytes,
) -> Response {
    let answer = async {
        let by = admin.authorize(
            &headers,
            Need::Role(OperatorRole::SettlementOperator),
            "CloseWindow",
        )?;
        let r: WindowClosure = body(&bytes)?;
        if r.state != "CLOSED" {
            return Err(invalid("state: must be CLOSED"));
        }
        let reason = r
            .reason
            .ok_or_else(|| HttpError::new(ErrorCode::MissingElement, "reason is required"))?;
        validate::note("reason", &reason)?;
        let id = id_in("id", &id)?;
        let currency = {
            let st = admin.service.read()?;
            let w = window(&st, id)?;
            if w.state != harambee_settlement::WindowState::Open {
                return Err(invalid(format!("Window {id} is not open")));
            }
            if w.transfers.is_empty() {
                return Err(invalid(format!("Window {id} is empty")));
            }
            w.currency
        };
        let command = SettlementCommand::CloseWindow {
            currency,
            reason,
            now_ms: admin.now_ms(),
        };
        let opened = match admin.service.settlement(&by, command).await? {
            SettlementReply::WindowClosed { next, .. } => next,
            _ => return Err(crate::error::unexpected()),
        };
        let st = admin.service.read()?;
        let mut view = window_view(window(&st, opened.0)?);
        if let Some(map) = view.as_object_mut() {
            map.remove("content");
        }
        json_answer(StatusCode::OK, view)
    }
    .await;
    count("CloseSettlementWindow", &answer);
    answer.into_response()
}

#[derive(Deserialize)]
struct WindowRef {
    #[serde(deserialize_with = "id_of")]
    id: u64,
}

/// An id as a JSON number or a string of digits (Mojaloop's tools send
/// `"5"` where the schema has a number, and central-settlement takes it).
#[derive(Deserialize)]
#[serde(untagged)]
enum IdText {
    Number(u64),
    Text(String),
}

impl IdText {
    fn id<E: serde::de::Error>(self) -> Result<u64, E> {
        match self {
            IdText::Number(n) => Ok(n),
            IdText::Text(t) => t
                .trim()
                .parse()
                .map_err(|_| E::custom(format!("{t:?} is not an id"))),
        }
    }
}

/// An id ([`IdText`]).
fn id_of<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    IdText::deserialize(d)?.id()
}

/// An id ([`IdText`]) that may be absent or null.
fn some_id_of<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Option::<IdText>::deserialize(d)?
        .map(IdText::id)
        .transpose()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SettlementEvent {
    settlement_model: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    settlement_windows: Vec<WindowRef>,
}

/// `POST /settlements {settlementModel, reason, settlementWindows}`: a
/// settlement of closed windows on a deferred net model.
async fn create_settlement(
    AxumState(admin): AxumState<Admin>,
    headers: Headers,
    bytes: Bytes,
) -> Response {
    let answer = async {
        let by = admin.authorize(
            &headers,
            Need::Role(OperatorRole::SettlementOperator),
            "CreateSettlement",
        )?;
        let r: SettlementEvent = body(&bytes)?;
        let reason = r
            .reason
            .ok_or_else(|| HttpError::new(ErrorCode::MissingElement, "reason is required"))?;
        validate::note("reason", &reason)?;
        if r.settlement_windows.is_empty() || r.settlement_windows.len() > SETTLEMENT_WINDOWS_MAX {
            return Err(invalid(format!(
                "settlementWindows: 1 to {SETTLEMENT_WINDOWS_MAX} windows"
            )));
        }
        let window_ids: Vec<u64> = r.settlement_windows.iter().map(|w| w.id).collect();
        let (currency, model) = {
            let st = admin.service.read()?;
            let def = st
                .directory
                .settlement_model(&r.settlement_model)
                .ok_or_else(|| {
                    invalid(format!(
                        "Settlement model not found: {}",
                        r.settlement_model
                    ))
                })?;
            if def.granularity == Granularity::Gross
                || def.delay == harambee_core::record::Delay::Immediate
            {
                return Err(invalid(
                    "Settlement can not be created for GROSS or IMMEDIATE models",
                ));
            }
            let first = window(&st, window_ids[0])?.currency;
            let currency = def.currency.unwrap_or(first);
            let model = match def.interchange {
                Interchange::Multilateral => harambee_settlement::SettlementModel::MultilateralNet,
                Interchange::Bilateral => harambee_settlement::SettlementModel::BilateralNet,
            };
            (currency, model)
        };
        let command = SettlementCommand::CreateSettlement {
            currency,
            model,
            window_ids,
            reason,
            now_ms: admin.now_ms(),
        };
        let id = match admin.service.settlement(&by, command).await? {
            SettlementReply::SettlementCreated(id) => id,
            _ => return Err(crate::error::unexpected()),
        };
        let st = admin.service.read()?;
        let mut view = settlement_view(&st, settlement(&st, id.0)?, None);
        view["settlementModel"] = Value::String(r.settlement_model);
        json_answer(StatusCode::OK, view)
    }
    .await;
    count("CreateSettlement", &answer);
    answer.into_response()
}

async fn get_settlement(
    AxumState(admin): AxumState<Admin>,
    Path(id): Path<String>,
    headers: Headers,
) -> Response {
    let answer = async {
        admin.authorize(&headers, Need::Read, "GetSettlement")?;
        let id = id_in("id", &id)?;
        let st = admin.service.read()?;
        json_answer(
            StatusCode::OK,
            settlement_view(&st, settlement(&st, id)?, None),
        )
    }
    .await;
    count("GetSettlement", &answer);
    answer.into_response()
}

async fn list_settlements(
    AxumState(admin): AxumState<Admin>,
    Query(q): Query<HashMap<String, String>>,
    headers: Headers,
) -> Response {
    let answer = async {
        admin.authorize(&headers, Need::Read, "ListSettlements")?;
        let get = filters(
            &q,
            &[
                "currency",
                "participantId",
                "settlementWindowId",
                "accountId",
                "state",
                "fromDateTime",
                "toDateTime",
                "fromSettlementWindowDateTime",
                "toSettlementWindowDateTime",
            ],
        )?;
        let currency = get("currency")
            .map(|c| validate::currency("currency", c))
            .transpose()?;
        let participant = get("participantId")
            .map(|p| id_in("participantId", p))
            .transpose()?;
        let window_id = get("settlementWindowId")
            .map(|w| id_in("settlementWindowId", w))
            .transpose()?;
        let account = get("accountId")
            .map(|a| id_in("accountId", a))
            .transpose()?;
        let (from, to) = (
            time_param(&q, "fromDateTime")?,
            time_param(&q, "toDateTime")?,
        );
        let (window_from, window_to) = (
            time_param(&q, "fromSettlementWindowDateTime")?,
            time_param(&q, "toSettlementWindowDateTime")?,
        );
        let state = state_param(get("state"), SETTLEMENT_STATES)?;
        let st = admin.service.read()?;
        let views: Vec<Value> = st
            .settlements
            .settlements()
            .iter()
            .filter(|x| currency.is_none_or(|c| x.currency == c))
            .filter(|x| state.is_none_or(|s| settlement_state_name(x) == s))
            .filter(|x| participant.is_none_or(|p| x.accounts.keys().any(|a| u64::from(a.0) == p)))
            .filter(|x| {
                account.is_none_or(|a| {
                    x.accounts.keys().any(|p| {
                        position_account(&st, *p, x.currency).is_some_and(|id| u64::from(id) == a)
                    })
                })
            })
            .filter(|x| window_id.is_none_or(|w| x.windows.iter().any(|id| id.0 == w)))
            .filter(|x| from.is_none_or(|f| x.created_at_ms >= f))
            .filter(|x| to.is_none_or(|t| x.created_at_ms <= t))
            .filter(|x| {
                let opened = x
                    .windows
                    .iter()
                    .filter_map(|id| st.settlements.window(*id))
                    .map(|w| w.opened_at_ms);
                let mut opened = opened.peekable();
                opened.peek().is_none()
                    || opened.any(|o| {
                        window_from.is_none_or(|f| o >= f) && window_to.is_none_or(|t| o <= t)
                    })
            })
            .take(LIST_MAX)
            .map(|x| settlement_view(&st, x, None))
            .collect();
        if views.is_empty() {
            let asked: Vec<String> = q.iter().map(|(k, v)| format!("{k}:{v}")).collect();
            return Err(invalid(format!(
                "No settlements found matching the provided parameters: {{{}}}",
                asked.join(",")
            )));
        }
        json_answer(StatusCode::OK, Value::Array(views))
    }
    .await;
    count("GetSettlements", &answer);
    answer.into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountUpdate {
    #[serde(default, deserialize_with = "some_id_of")]
    id: Option<u64>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    external_reference: Option<String>,
}

#[derive(Deserialize)]
struct ParticipantUpdate {
    #[serde(deserialize_with = "id_of")]
    id: u64,
    #[serde(default)]
    accounts: Vec<AccountUpdate>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SettlementUpdate {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    external_reference: Option<String>,
    #[serde(default)]
    participants: Option<Vec<ParticipantUpdate>>,
}

/// An account a caller could not move, with why, as central-settlement
/// answers it inside a successful update.
fn account_error(id: u64, detail: &str) -> Value {
    json!({
        "id": id,
        "errorInformation": {
            "errorCode": "3000",
            "errorDescription": format!("Generic client error - {detail}"),
        }
    })
}

/// Moves the accounts `updates` names, each on its own: an account that
/// cannot move is answered with its error, the others move. The
/// participants, as the answer shows them.
async fn move_accounts(
    admin: &Admin,
    by: &Acting,
    settlement_id: u64,
    updates: Vec<ParticipantUpdate>,
) -> Result<Vec<Value>, HttpError> {
    let total: usize = updates.iter().map(|p| p.accounts.len().max(1)).sum();
    if total > UPDATE_ACCOUNTS_MAX {
        return Err(invalid(format!(
            "participants: at most {UPDATE_ACCOUNTS_MAX} accounts in one update"
        )));
    }
    let mut answered = Vec::new();
    for p in updates {
        let mut accounts = Vec::new();
        for a in p.accounts {
            let account_id = a.id.unwrap_or_default();
            // What the account is, and whether it may move there.
            let checked = {
                let st = admin.service.read()?;
                let x = settlement(&st, settlement_id)?;
                let participant = u32::try_from(p.id).ok().map(ParticipantId);
                let owner = participant.filter(|id| x.accounts.contains_key(id));
                match (owner, a.state.as_deref().and_then(state_of_name)) {
                    (None, _) => Err("Participant and account mismatch".to_string()),
                    (Some(owner), to) => {
                        let position = position_account(&st, owner, x.currency);
                        if position.map(u64::from) != Some(account_id) {
                            Err("Account not found".to_string())
                        } else {
                            match to {
                                None => Err("State change not allowed".to_string()),
                                Some(to) => {
                                    let name = st.ledger.participant(owner).map(|p| p.name.clone());
                                    let current = x.accounts.get(&owner).map(|s| s.state);
                                    Ok((name.unwrap_or_default(), to, current == Some(to)))
                                }
                            }
                        }
                    }
                }
            };
            let reason = a.reason.clone().unwrap_or_default();
            let (name, to, already) = match checked {
                Ok(c) => c,
                Err(detail) => {
                    accounts.push(account_error(account_id, &detail));
                    continue;
                }
            };
            if !already {
                let command = SettlementCommand::Advance {
                    settlement_id,
                    participant: ParticipantRef::Name(name),
                    to,
                    external_reference: a.external_reference.clone().unwrap_or_default(),
                    now_ms: admin.now_ms(),
                };
                if let Err(e) = admin.service.settlement(by, command).await {
                    accounts.push(account_error(
                        account_id,
                        &format!("State change not allowed: {}", e.description),
                    ));
                    continue;
                }
            }
            let st = admin.service.read()?;
            let x = settlement(&st, settlement_id)?;
            let owner = ParticipantId(u32::try_from(p.id).unwrap_or_default());
            if let Some(view) = participant_view(&st, x, owner, &reason)
                && let Some(account) = view["accounts"].get(0)
            {
                let mut account = account.clone();
                account["createdDate"] = json!(format_datetime_ms(x.created_at_ms));
                accounts.push(account);
            }
        }
        answered.push(json!({ "id": p.id, "accounts": accounts }));
    }
    Ok(answered)
}

/// The answer to an update: the settlement with the participants the
/// update named, as they are now.
fn updated(admin: &Admin, settlement_id: u64, participants: Vec<Value>) -> Answer {
    let st = admin.service.read()?;
    let x = settlement(&st, settlement_id)?;
    let mut view = without_reason(settlement_view(&st, x, Some(&[])));
    view["participants"] = Value::Array(participants);
    json_answer(StatusCode::OK, view)
}

/// `PUT /settlements/{id}`: moves participants' accounts
/// (`participants`), or aborts the settlement (`state: ABORTED, reason`).
async fn update_settlement(
    AxumState(admin): AxumState<Admin>,
    Path(id): Path<String>,
    headers: Headers,
    bytes: Bytes,
) -> Response {
    let answer = async {
        let by = admin.authorize(
            &headers,
            Need::Role(OperatorRole::SettlementOperator),
            "UpdateSettlement",
        )?;
        let r: SettlementUpdate = body(&bytes)?;
        let id = id_in("id", &id)?;
        settlement(&*admin.service.read()?, id)?;
        if let Some(participants) = r.participants {
            if r.state.is_some() || r.reason.is_some() || r.external_reference.is_some() {
                return Err(invalid(
                    "No other properties are allowed when participants is provided",
                ));
            }
            let answered = move_accounts(&admin, &by, id, participants).await?;
            return updated(&admin, id, answered);
        }
        let (Some(state), Some(reason)) = (r.state, r.reason) else {
            return Err(HttpError::new(
                ErrorCode::MissingElement,
                "State and reason are mandatory",
            ));
        };
        if state != "ABORTED" {
            return Err(invalid("Invalid request payload input"));
        }
        validate::note("reason", &reason)?;
        let command = SettlementCommand::Abort {
            settlement_id: id,
            now_ms: admin.now_ms(),
        };
        admin.service.settlement(&by, command).await?;
        json_answer(
            StatusCode::OK,
            json!({ "id": id, "state": "ABORTED", "reason": reason }),
        )
    }
    .await;
    count("UpdateSettlement", &answer);
    answer.into_response()
}

/// A participant of a settlement by its id, checked.
fn member(st: &State, x: &Settlement, pid: &str) -> Result<ParticipantId, HttpError> {
    let p = id_in("pid", pid)?;
    u32::try_from(p)
        .ok()
        .map(ParticipantId)
        .filter(|id| x.accounts.contains_key(id))
        .filter(|id| st.ledger.participant(*id).is_some())
        .ok_or_else(|| {
            invalid(format!(
                "Participant with ID '{p}' is not part of settlement '{}'",
                x.id.0
            ))
        })
}

async fn get_settlement_participant(
    AxumState(admin): AxumState<Admin>,
    Path((sid, pid)): Path<(String, String)>,
    headers: Headers,
) -> Response {
    let answer = async {
        admin.authorize(&headers, Need::Read, "GetSettlementParticipant")?;
        let st = admin.service.read()?;
        let x = settlement(&st, id_in("sid", &sid)?)?;
        let p = member(&st, x, &pid)?;
        let view = without_reason(settlement_view(&st, x, Some(&[p])));
        json_answer(StatusCode::OK, view)
    }
    .await;
    count("GetSettlementParticipant", &answer);
    answer.into_response()
}

#[derive(Deserialize)]
struct AccountsUpdate {
    #[serde(default)]
    accounts: Vec<AccountUpdate>,
}

async fn update_settlement_participant(
    AxumState(admin): AxumState<Admin>,
    Path((sid, pid)): Path<(String, String)>,
    headers: Headers,
    bytes: Bytes,
) -> Response {
    let answer = async {
        let by = admin.authorize(
            &headers,
            Need::Role(OperatorRole::SettlementOperator),
            "UpdateSettlementParticipant",
        )?;
        let r: AccountsUpdate = body(&bytes)?;
        let id = id_in("sid", &sid)?;
        let p = {
            let st = admin.service.read()?;
            member(&st, settlement(&st, id)?, &pid)?
        };
        let update = ParticipantUpdate {
            id: u64::from(p.0),
            accounts: r.accounts,
        };
        let answered = move_accounts(&admin, &by, id, vec![update]).await?;
        updated(&admin, id, answered)
    }
    .await;
    count("UpdateSettlementParticipant", &answer);
    answer.into_response()
}

async fn get_settlement_account(
    AxumState(admin): AxumState<Admin>,
    Path((sid, pid, aid)): Path<(String, String, String)>,
    headers: Headers,
) -> Response {
    let answer = async {
        admin.authorize(&headers, Need::Read, "GetSettlementAccount")?;
        let st = admin.service.read()?;
        let x = settlement(&st, id_in("sid", &sid)?)?;
        let p = member(&st, x, &pid)?;
        let aid = id_in("aid", &aid)?;
        if position_account(&st, p, x.currency).map(u64::from) != Some(aid) {
            return Err(invalid(format!(
                "Account with ID '{aid}' is not a position account of participant '{}'",
                p.0
            )));
        }
        let view = without_reason(settlement_view(&st, x, Some(&[p])));
        json_answer(StatusCode::OK, view)
    }
    .await;
    count("GetSettlementAccount", &answer);
    answer.into_response()
}

async fn update_settlement_account(
    AxumState(admin): AxumState<Admin>,
    Path((sid, pid, aid)): Path<(String, String, String)>,
    headers: Headers,
    bytes: Bytes,
) -> Response {
    let answer = async {
        let by = admin.authorize(
            &headers,
            Need::Role(OperatorRole::SettlementOperator),
            "UpdateSettlementAccount",
        )?;
        let mut a: AccountUpdate = body(&bytes)?;
        if a.state.is_none() || a.reason.is_none() {
            return Err(HttpError::new(
                ErrorCode::MissingElement,
                "state and reason are required",
            ));
        }
        let id = id_in("sid", &sid)?;
        let p = {
            let st = admin.service.read()?;
            member(&st, settlement(&st, id)?, &pid)?
        };
        a.id = Some(id_in("aid", &aid)?);
        let update = ParticipantUpdate {
            id: u64::from(p.0),
            accounts: vec![a],
        };
        let answered = move_accounts(&admin, &by, id, vec![update]).await?;
        updated(&admin, id, answered)
    }
    .await;
    count("UpdateSettlementAccount", &answer);
    answer.into_response()
}
