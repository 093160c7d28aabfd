//! The hub admin API of a Mojaloop hub (central-ledger's admin API,
//! `central-ledger-admin-api-swagger.json`) over HTTP/JSON: what
//! Mojaloop operators and their tools call to onboard participants, set
//! their limits and endpoints, create the hub's accounts and move funds in
//! and out. Every call is one of the service layer's operations, the same
//! ones the gRPC Operator API uses; this module only translates.
//!
//! Calls carry the operator credential (`Authorization: Bearer <token>`),
//! unless the switch runs in development mode (`fspiop.trust_source_header`),
//! where, as behind a Mojaloop deployment's API gateway, the caller is
//! trusted.

use std::sync::Arc;

use crate::headers::Headers;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State as AxumState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use harambee_service::ports::FSPIOP_ORACLE_SCHEME;

use crate::api::{PartyPath, party_of};
use harambee_core::error::ErrorCode;
use harambee_core::record::{
    Delay, DirectoryCommand, Granularity, Interchange, LedgerCommand, ParticipantRef,
    SettlementModelDef,
};
use harambee_core::state::State;
use harambee_ledger::{
    Account, AccountType, Currency, FundsId, Owner, ParticipantId, ParticipantKind,
};
use harambee_proto::validate;
use harambee_service::Service;
use harambee_service::ports::{Acting, Credential, Need, OperatorRole};

/// The operator name the log records for calls of a switch configured to
/// trust its admin callers (`fspiop.trust_source_header`).
pub const TRUSTED_CALLER: &str = "trusted-caller";
use rand::RngCore;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::HttpError;

/// The name the admin API gives the hub in paths (`/participants/Hub/...`).
pub const HUB_NAME: &str = "Hub";

/// Largest admin request body.
pub const ADMIN_BODY_MAX_BYTES: usize = 64 * 1024;

/// Endpoint types a participant may register (central-ledger's
/// `endpointType` enumeration).
pub const ENDPOINT_TYPES: &[&str] = &[
    "ALARM_NOTIFICATION_URL",
    "ALARM_NOTIFICATION_TOPIC",
    "FSPIOP_CALLBACK_URL_TRANSFER_POST",
    "FSPIOP_CALLBACK_URL_TRANSFER_PUT",
    "FSPIOP_CALLBACK_URL_TRANSFER_ERROR",
    "FSPIOP_CALLBACK_URL_FX_TRANSFER_POST",
    "FSPIOP_CALLBACK_URL_FX_TRANSFER_PUT",
    "FSPIOP_CALLBACK_URL_FX_TRANSFER_ERROR",
    "FSPIOP_CALLBACK_URL_PARTICIPANT_PUT",
    "FSPIOP_CALLBACK_URL_PARTICIPANT_PUT_ERROR",
    "FSPIOP_CALLBACK_URL_PARTICIPANT_SUB_ID_PUT",
    "FSPIOP_CALLBACK_URL_PARTICIPANT_SUB_ID_PUT_ERROR",
    "FSPIOP_CALLBACK_URL_PARTICIPANT_SUB_ID_DELETE",
    "FSPIOP_CALLBACK_URL_PARTICIPANT_BATCH_PUT",
    "FSPIOP_CALLBACK_URL_PARTICIPANT_BATCH_PUT_ERROR",
    "FSPIOP_CALLBACK_URL_PARTIES_GET",
    "FSPIOP_CALLBACK_URL_PARTIES_PUT",
    "FSPIOP_CALLBACK_URL_PARTIES_PUT_ERROR",
    "FSPIOP_CALLBACK_URL_PARTIES_SUB_ID_GET",
    "FSPIOP_CALLBACK_URL_PARTIES_SUB_ID_PUT",
    "FSPIOP_CALLBACK_URL_PARTIES_SUB_ID_PUT_ERROR",
    "FSPIOP_CALLBACK_URL_QUOTES",
    "FSPIOP_CALLBACK_URL_FX_QUOTES",
    "FSPIOP_CALLBACK_URL_BULK_QUOTES",
    "FSPIOP_CALLBACK_URL_TRX_REQ_SERVICE",
    "FSPIOP_CALLBACK_URL_AUTHORIZATIONS",
    "FSPIOP_CALLBACK_URL_BULK_TRANSFER_POST",
    "FSPIOP_CALLBACK_URL_BULK_TRANSFER_PUT",
    "FSPIOP_CALLBACK_URL_BULK_TRANSFER_ERROR",
    "NET_DEBIT_CAP_THRESHOLD_BREACH_EMAIL",
    "NET_DEBIT_CAP_ADJUSTMENT_EMAIL",
    "SETTLEMENT_TRANSFER_POSITION_CHANGE_EMAIL",
];

/// How the admin API is served.
#[derive(Clone, Debug)]
pub struct AdminSettings {
    /// Development mode: no operator credential is asked for.
    pub trust_callers: bool,
    /// What the hub is named in paths (`/participants/{hub}/accounts`),
    /// as in its messages (`fspiop.hub_name`).
    pub hub_name: String,
}

impl Default for AdminSettings {
    fn default() -> AdminSettings {
        AdminSettings {
            trust_callers: false,
            hub_name: HUB_NAME.to_string(),
        }
    }
}

#[derive(Clone)]
pub(crate) struct Admin {
    pub(crate) service: Arc<Service>,
    pub(crate) settings: AdminSettings,
}

pub(crate) type Answer = Result<Response, HttpError>;

/// The admin API's routes.
pub fn router(service: Arc<Service>, settings: AdminSettings) -> Router {
    let admin = Admin { service, settings };
    Router::new()
        .route("/health", get(health))
        .route(
            "/participants",
            get(list_participants).post(create_participant),
        )
        .route("/participants/limits", get(all_limits))
        .route(
            "/participants/{name}",
            get(get_participant).put(update_participant),
        )
        .route(
            "/participants/{name}/endpoints",
            get(get_endpoints).post(add_endpoint),
        )
        .route(
            "/participants/{name}/limits",
            get(get_limits).put(adjust_limits),
        )
        .route("/participants/{name}/positions", get(get_positions))
        .route(
            "/participants/{name}/accounts",
            get(get_accounts).post(create_hub_account),
        )
        .route(
            "/participants/{name}/initialPositionAndLimits",
            post(initial_position_and_limits),
        )
        .route(
            "/participants/{name}/accounts/{id}",
            post(record_funds).put(update_account),
        )
        .route(
            "/settlementModels",
            get(list_settlement_models).post(create_settlement_model),
        )
        .route("/settlementModels/{name}", get(get_settlement_model))
        .route("/oracles", get(list_oracles).post(create_oracle))
        .route(
            "/oracle/participants/{party_type}/{id}",
            get(oracle_get).post(oracle_post).delete(oracle_delete),
        )
        .route(
            "/oracle/participants/{party_type}/{id}/{sub_id}",
            get(oracle_get_sub)
                .post(oracle_post_sub)
                .delete(oracle_delete_sub),
        )
        .route(
            "/participants/{name}/accounts/{id}/transfers/{transfer_id}",
            put(record_funds_out_action),
        )
        .fallback(unknown_uri)
        .layer(axum::extract::DefaultBodyLimit::max(ADMIN_BODY_MAX_BYTES))
        .with_state(admin)
}

async fn unknown_uri() -> HttpError {
    HttpError::new(ErrorCode::UnknownUri, "no such resource")
}

impl Admin {
    /// The operator a call's credential proves, allowed the call (which
    /// needs `need`). Callers are trusted only where configured: then
    /// the caller is recorded as `trusted-caller`, in the role the call
    /// needs.
    pub(crate) fn authorize(
        &self,
        headers: &Headers,
        need: Need,
        call: &str,
    ) -> Result<Acting, HttpError> {
        if self.settings.trust_callers {
            return Ok(Acting {
                operator: TRUSTED_CALLER.to_string(),
                role: match need {
                    Need::Role(role) => role,
                    Need::Read => OperatorRole::Auditor,
                },
            });
        }
        // A connection's verified client certificate, when it presented
        // one, is the operator's credential; a bearer beside it is not
        // looked at.
        if let Some(certificate) = headers.certificate() {
            return Ok(self
                .service
                .operator(certificate.credential(), need, call)?);
        }
        let bearer = headers.bearer().ok_or_else(|| {
            HttpError::new(
                ErrorCode::InvalidSignature,
                "missing operator credential (a client certificate, or Authorization: Bearer <token>)",
            )
        })?;
        Ok(self
            .service
            .operator(Credential::Bearer(bearer), need, call)?)
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.service.now_ms()
    }

    /// A participant by name, once it is known to exist.
    pub(crate) fn participant_id(&self, name: &str) -> Result<ParticipantId, HttpError> {
        self.service
            .read()?
            .ledger
            .participant_by_name(name)
            .map(|p| p.id)
            .ok_or_else(|| {
                HttpError::new(
                    ErrorCode::IdNotFound,
                    format!("participant {name} not found"),
                )
            })
    }
}

/// A JSON body, or 3101.
pub(crate) fn body<T: for<'de> Deserialize<'de>>(bytes: &Bytes) -> Result<T, HttpError> {
    serde_json::from_slice(bytes)
        .map_err(|e| HttpError::new(ErrorCode::MalformedSyntax, format!("body: {e}")))
}

pub(crate) fn json_answer(status: StatusCode, value: Value) -> Answer {
    Ok((status, axum::Json(value)).into_response())
}

pub(crate) fn count(call: &'static str, answer: &Answer) {
    let code = match answer {
        Ok(_) => "ok".to_string(),
        Err(e) => format!("{:04}", e.code),
    };
    metrics::counter!("harambee_requests_total", "api" => "admin", "call" => call, "code" => code)
        .increment(1);
}

/// An amount as central-ledger shows it: a JSON number when it is exact
/// as one, else its decimal string.
pub(crate) fn amount(ledger: &harambee_ledger::Ledger, currency: Currency, units: i128) -> Value {
    let d = ledger.decimal(currency, units).normalize();
    serde_json::from_str::<serde_json::Number>(&d.to_string())
        .map(Value::Number)
        .unwrap_or_else(|_| Value::String(d.to_string()))
}

/// An amount a caller sent, as a JSON number or a string.
fn amount_in(field: &str, v: &Value) -> Result<String, HttpError> {
    match v {
        Value::Number(n) => Ok(n.to_string()),
        Value::String(s) => Ok(s.clone()),
        Value::Null => Err(HttpError::new(
            ErrorCode::MissingElement,
            format!("{field} is required"),
        )),
        _ => Err(HttpError::new(
            ErrorCode::MalformedSyntax,
            format!("{field}: not an amount"),
        )),
    }
}

fn account_type_name(kind: AccountType) -> &'static str {
    match kind {
        AccountType::Position => "POSITION",
        AccountType::Settlement => "SETTLEMENT",
        AccountType::HubReconciliation => "HUB_RECONCILIATION",
        AccountType::HubMultilateralSettlement => "HUB_MULTILATERAL_SETTLEMENT",
    }
}

fn account_view(st: &State, a: &Account) -> Value {
    let b = a.balances;
    let active = a.active
        && match a.owner {
            Owner::Hub => true,
            Owner::Participant(p) => st.ledger.participant(p).is_some_and(|p| p.active),
        };
    json!({
        "id": a.id.0,
        "ledgerAccountType": account_type_name(a.kind),
        "currency": a.currency.to_string(),
        "isActive": u8::from(active),
        // A SETTLEMENT account's value moves when a funds out is reserved,
        // not when it is committed, as in central-ledger.
        "value": amount(&st.ledger, a.currency, b.debits_posted + settlement_pending(a) - b.credits_posted),
        "reservedValue": amount(&st.ledger, a.currency, b.debits_pending - b.credits_pending),
        "changedDate": Value::Null,
    })
}

/// The pending debits that count in a SETTLEMENT account's value: the
/// funds out reserved on it (and the gross transfers reserved, for a
/// participant on immediate gross settlement).
fn settlement_pending(a: &Account) -> i128 {
    if a.kind == AccountType::Settlement {
        a.balances.debits_pending
    } else {
        0
    }
}

fn owner_of(admin: &Admin, name: &str) -> Result<Owner, HttpError> {
    if name.eq_ignore_ascii_case(&admin.settings.hub_name) {
        return Ok(Owner::Hub);
    }
    Ok(Owner::Participant(admin.participant_id(name)?))
}

fn participant_view(st: &State, id: ParticipantId) -> Option<Value> {
    let p = st.ledger.participant(id)?;
    let accounts: Vec<Value> = st
        .ledger
        .accounts()
        .iter()
        .filter(|a| a.owner == Owner::Participant(id))
        .map(|a| {
            json!({
                "id": a.id.0,
                "ledgerAccountType": account_type_name(a.kind),
                "currency": a.currency.to_string(),
                "isActive": u8::from(p.active && a.active),
            })
        })
        .collect();
    Some(json!({
        "name": p.name,
        "id": format!("/participants/{}", p.name),
        "isActive": u8::from(p.active),
        "links": { "self": format!("/participants/{}", p.name) },
        "accounts": accounts,
    }))
}

async fn health(AxumState(admin): AxumState<Admin>) -> Response {
    crate::health(&admin.service)
}

async fn list_participants(AxumState(admin): AxumState<Admin>, headers: Headers) -> Response {
    let answer = async {
        admin.authorize(&headers, Need::Read, "ListParticipants")?;
        let st = admin.service.read()?;
        let all: Vec<Value> = st
            .ledger
            .participants()
            .iter()
            .filter_map(|p| participant_view(&st, p.id))
            .collect();
        json_answer(StatusCode::OK, Value::Array(all))
    }
    .await;
    count("GetParticipants", &answer);
    answer.into_response()
}

async fn get_participant(
    AxumState(admin): AxumState<Admin>,
    Path(name): Path<String>,
    headers: Headers,
) -> Response {
    let answer = async {
        admin.authorize(&headers, Need::Read, "GetParticipant")?;
        let id = admin.participant_id(&name)?;
        let st = admin.service.read()?;
        let view = participant_view(&st, id).unwrap_or(Value::Null);
        json_answer(StatusCode::OK, view)
    }
    .await;
    count("GetParticipant", &answer);
    answer.into_response()
}

#[derive(Deserialize)]
struct NewParticipant {
    name: String,
    currency: String,
}

/// `POST /participants {name, currency}`: the participant (a bank) with
/// its position and settlement accounts in `currency`, once the hub has
/// its accounts in the currency (else 3003). A participant that already
/// holds the currency gets 400. The first creation answers the
/// participant's API credential once, in `credential` (the switch's own
/// field: Mojaloop's hub has none).
async fn create_participant(
    AxumState(admin): AxumState<Admin>,
    headers: Headers,
    bytes: Bytes,
) -> Response {
    let answer = async {
        let by = admin.authorize(&headers, Need::Role(OperatorRole::HubOperator), "CreateParticipant")?;
        let r: NewParticipant = body(&bytes)?;
        validate::fsp_id("name", &r.name)?;
        if r.name.eq_ignore_ascii_case(&admin.settings.hub_name) {
            return Err(HttpError::new(
                ErrorCode::ValidationError,
                format!("name: {} is the hub's own name", r.name),
            ));
        }
        // A currency that is not one: the body is malformed (3101), as
        // central-ledger's schema answers.
        let currency = validate::currency("currency", &r.currency).map_err(|_| {
            HttpError::new(
                ErrorCode::MalformedSyntax,
                format!("currency: {:?} is not an ISO 4217 currency", r.currency),
            )
        })?;
        let (exists, hub_accounts) = {
            let st = admin.service.read()?;
            let exists = st
                .ledger
                .participant_by_name(&r.name)
                .map(|p| st.ledger.participant_currency(p.id, currency).is_some());
            (exists, st.ledger.hub_currency(currency).is_some())
        };
        // The hub's accounts of the currency come first
        // (`POST /participants/Hub/accounts`), as in central-ledger.
        if !hub_accounts {
            return Err(HttpError::new(
                ErrorCode::AddPartyInformationError,
                format!("Hub reconciliation account for the specified currency does not exist ({currency})"),
            ));
        }
        if exists == Some(true) {
            return Err(HttpError::new(
                ErrorCode::GenericClientError,
                format!("participant {} already holds {currency}", r.name),
            ));
        }
        let service = &admin.service;
        let mut credential = None;
        if exists.is_none() {
            let (_, duplicate) = service
                .ledger(&by, LedgerCommand::CreateParticipant {
                    name: r.name.clone(),
                    kind: ParticipantKind::Bank,
                    now_ms: admin.now_ms(),
                })
                .await?;
            if !duplicate {
                let mut bytes = [0u8; 32];
                rand::rng().fill_bytes(&mut bytes);
                let secret = harambee_core::text::b64url(&bytes);
                service
                    .directory(&by, DirectoryCommand::SetCredential {
                        participant: r.name.clone(),
                        credential_sha256: harambee_service::auth::credential_hash(&secret),
                        now_ms: admin.now_ms(),
                    })
                    .await?;
                credential = Some(secret);
            }
        }
        service
            .open_accounts(&by, &r.name, currency, Decimal::ZERO)
            .await?;
        let id = admin.participant_id(&r.name)?;
        let mut view = participant_view(&*admin.service.read()?, id).unwrap_or(Value::Null);
        if let (Some(secret), Some(map)) = (credential, view.as_object_mut()) {
            map.insert("credential".into(), Value::String(secret));
        }
        json_answer(StatusCode::CREATED, view)
    }
    .await;
    count("CreateParticipant", &answer);
    answer.into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ParticipantUpdate {
    is_active: Value,
}

/// `isActive` as central-ledger takes it: a boolean, or 1 or 0.
fn is_active(v: &Value) -> Result<bool, HttpError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) if n.as_u64() == Some(1) => Ok(true),
        Value::Number(n) if n.as_u64() == Some(0) => Ok(false),
        _ => Err(HttpError::new(
            ErrorCode::ValidationError,
            "isActive: true or false",
        )),
    }
}

/// `PUT /participants/{name}/accounts/{id} {isActive}`: activates or
/// deactivates one of the participant's accounts (POSITION or
/// SETTLEMENT); while either of its accounts in a currency is inactive it
/// neither sends nor receives in the currency.
async fn update_account(
    AxumState(admin): AxumState<Admin>,
    Path((name, account)): Path<(String, String)>,
    headers: Headers,
    bytes: Bytes,
) -> Response {
    let answer = async {
        let by = admin.authorize(
            &headers,
            Need::Role(OperatorRole::HubOperator),
            "UpdateAccount",
        )?;
        let r: ParticipantUpdate = body(&bytes)?;
        let active = is_active(&r.is_active)?;
        let found = participant_account(&admin, &name, &account)?;
        admin
            .service
            .ledger(
                &by,
                LedgerCommand::SetAccountActive {
                    participant: ParticipantRef::name(name.as_str()),
                    currency: found.currency,
                    kind: found.kind,
                    active,
                    now_ms: admin.now_ms(),
                },
            )
            .await?;
        let st = admin.service.read()?;
        let view = st
            .ledger
            .account(found.id)
            .map(|a| account_view(&st, a))
            .unwrap_or(Value::Null);
        json_answer(StatusCode::OK, view)
    }
    .await;
    count("UpdateAccount", &answer);
    answer.into_response()
}

/// `PUT /participants/{name} {isActive}`: activates or deactivates.
async fn update_participant(
    AxumState(admin): AxumState<Admin>,
    Path(name): Path<String>,
    headers: Headers,
    bytes: Bytes,
) -> Response {
    let answer = async {
        let by = admin.authorize(
            &headers,
            Need::Role(OperatorRole::HubOperator),
            "UpdateParticipant",
        )?;
        let r: ParticipantUpdate = body(&bytes)?;
        let active = is_active(&r.is_active)?;
        let id = admin.participant_id(&name)?;
        admin
            .service
            .ledger(
                &by,
                LedgerCommand::SetParticipantActive {
                    participant: ParticipantRef::name(name.as_str()),
                    active,
                    now_ms: admin.now_ms(),
                },
            )
            .await?;
        let view = participant_view(&*admin.service.read()?, id).unwrap_or(Value::Null);
        json_answer(StatusCode::OK, view)
    }
    .await;
    count("UpdateParticipant", &answer);
    answer.into_response()
}

#[derive(Deserialize)]
struct NewEndpoint {
    #[serde(rename = "type")]
    kind: String,
    value: String,
}

/// `POST /participants/{name}/endpoints {type, value}`: adds or replaces
/// one typed endpoint.
async fn add_endpoint(
    AxumState(admin): AxumState<Admin>,
    Path(name): Path<String>,
    headers: Headers,
    bytes: Bytes,
) -> Response {
    let answer = async {
        let by = admin.authorize(
            &headers,
            Need::Role(OperatorRole::HubOperator),
            "AddEndpoint",
        )?;
        let r: NewEndpoint = body(&bytes)?;
        if !ENDPOINT_TYPES.contains(&r.kind.as_str()) {
            return Err(HttpError::new(
                ErrorCode::ValidationError,
                format!("type: {} is not an endpoint type", r.kind),
            ));
        }
        if r.value.is_empty() {
            return Err(HttpError::new(
                ErrorCode::MissingElement,
                "value is required",
            ));
        }
        if name.eq_ignore_ascii_case(&admin.settings.hub_name) {
            // The hub's own notification addresses (e-mail alarms) are
            // not the switch's to send to: accepted, and kept nowhere.
            return Ok(StatusCode::CREATED.into_response());
        }
        admin.participant_id(&name)?;
        admin
            .service
            .directory(
                &by,
                DirectoryCommand::SetCallback {
                    participant: name.clone(),
                    kind: r.kind,
                    url: r.value,
                    now_ms: admin.now_ms(),
                },
            )
            .await?;
        Ok(StatusCode::CREATED.into_response())
    }
    .await;
    count("AddEndpoint", &answer);
    answer.into_response()
}

async fn get_endpoints(
    AxumState(admin): AxumState<Admin>,
    Path(name): Path<String>,
    headers: Headers,
) -> Response {
    let answer = async {
        admin.authorize(&headers, Need::Read, "GetEndpoints")?;
        admin.participant_id(&name)?;
        let st = admin.service.read()?;
        let all: Vec<Value> = st
            .directory
            .callbacks(&name)
            .map(|(kind, url)| json!({ "type": kind, "value": url }))
            .collect();
        json_answer(StatusCode::OK, Value::Array(all))
    }
    .await;
    count("GetEndpoints", &answer);
    answer.into_response()
}

/// The NET_DEBIT_CAP limits of one participant, as central-ledger shows
/// them.
fn limits_of(st: &State, id: ParticipantId) -> Vec<Value> {
    st.ledger
        .currencies()
        .into_iter()
        .filter_map(|c| st.ledger.position(id, c))
        .map(|v| {
            json!({
                "currency": v.currency.to_string(),
                "limit": {
                    "type": "NET_DEBIT_CAP",
                    "value": amount(&st.ledger, v.currency, v.net_debit_cap),
                    "alarmPercentage": 10,
                },
            })
        })
        .collect()
}

async fn get_limits(
    AxumState(admin): AxumState<Admin>,
    Path(name): Path<String>,
    headers: Headers,
) -> Response {
    let answer = async {
        admin.authorize(&headers, Need::Read, "GetLimits")?;
        let id = admin.participant_id(&name)?;
        let st = admin.service.read()?;
        json_answer(StatusCode::OK, Value::Array(limits_of(&st, id)))
    }
    .await;
    count("GetLimits", &answer);
    answer.into_response()
}

async fn all_limits(AxumState(admin): AxumState<Admin>, headers: Headers) -> Response {
    let answer = async {
        admin.authorize(&headers, Need::Read, "AllLimits")?;
        let st = admin.service.read()?;
        let all: Vec<Value> = st
            .ledger
            .participants()
            .iter()
            .flat_map(|p| {
                limits_of(&st, p.id).into_iter().map(move |mut l| {
                    l["name"] = Value::String(p.name.clone());
                    l
                })
            })
            .collect();
        json_answer(StatusCode::OK, Value::Array(all))
    }
    .await;
    count("GetAllLimits", &answer);
    answer.into_response()
}

#[derive(Deserialize)]
struct Limit {
    #[serde(rename = "type")]
    kind: String,
    value: Value,
}

#[derive(Deserialize)]
struct LimitChange {
    currency: String,
    limit: Limit,
}

/// The net debit cap a limit sets.
fn net_debit_cap(limit: &Limit, currency: Currency) -> Result<Decimal, HttpError> {
    if limit.kind != "NET_DEBIT_CAP" {
        return Err(HttpError::new(
            ErrorCode::ValidationError,
            format!("limit.type: {} (only NET_DEBIT_CAP is known)", limit.kind),
        ));
    }
    let text = amount_in("limit.value", &limit.value)?;
    validate::non_negative_amount("limit.value", &text, currency)?;
    text.parse()
        .map_err(|_| HttpError::new(ErrorCode::ValidationError, "limit.value: not a decimal"))
}

async fn set_cap(
    admin: &Admin,
    by: &Acting,
    name: &str,
    currency: Currency,
    cap: Decimal,
) -> Result<(), HttpError> {
    admin
        .service
        .ledger(
            by,
            LedgerCommand::SetNetDebitCap {
                participant: ParticipantRef::name(name),
                currency,
                net_debit_cap: cap,
                now_ms: admin.now_ms(),
            },
        )
        .await?;
    Ok(())
}

/// `PUT /participants/{name}/limits {currency, limit}`: a new net debit
/// cap.
async fn adjust_limits(
    AxumState(admin): AxumState<Admin>,
    Path(name): Path<String>,
    headers: Headers,
    bytes: Bytes,
) -> Response {
    let answer = async {
        let by = admin.authorize(
            &headers,
            Need::Role(OperatorRole::HubOperator),
            "AdjustLimits",
        )?;
        let r: LimitChange = body(&bytes)?;
        let currency = validate::currency("currency", &r.currency)?;
        let cap = net_debit_cap(&r.limit, currency)?;
        let id = admin.participant_id(&name)?;
        set_cap(&admin, &by, &name, currency, cap).await?;
        let st = admin.service.read()?;
        let limit = limits_of(&st, id)
            .into_iter()
            .find(|l| l["currency"] == currency.to_string())
            .unwrap_or(Value::Null);
        json_answer(StatusCode::OK, limit)
    }
    .await;
    count("AdjustLimits", &answer);
    answer.into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InitialPositionAndLimits {
    currency: String,
    limit: Limit,
    #[serde(default)]
    initial_position: Value,
}

/// `POST /participants/{name}/initialPositionAndLimits`: the first net
/// debit cap of a currency. Set once, as in Mojaloop: a second call gets
/// 500 (2001), and the cap is changed with `PUT .../limits`. The initial
/// position must be 0: a position moves only with transfers.
async fn initial_position_and_limits(
    AxumState(admin): AxumState<Admin>,
    Path(name): Path<String>,
    headers: Headers,
    bytes: Bytes,
) -> Response {
    let answer = async {
        let by = admin.authorize(
            &headers,
            Need::Role(OperatorRole::HubOperator),
            "InitialPositionAndLimits",
        )?;
        let r: InitialPositionAndLimits = body(&bytes)?;
        let currency = validate::currency("currency", &r.currency)?;
        let cap = net_debit_cap(&r.limit, currency)?;
        let initial = match &r.initial_position {
            Value::Null => Decimal::ZERO,
            v => amount_in("initialPosition", v)?
                .parse::<Decimal>()
                .map_err(|_| {
                    HttpError::new(ErrorCode::ValidationError, "initialPosition: not a decimal")
                })?,
        };
        if !initial.is_zero() {
            return Err(HttpError::new(
                ErrorCode::ValidationError,
                "initialPosition: only 0 (a position moves only with transfers)",
            ));
        }
        let id = admin.participant_id(&name)?;
        let view = admin
            .service
            .read()?
            .ledger
            .position(id, currency)
            .ok_or_else(|| {
                HttpError::new(
                    ErrorCode::IdNotFound,
                    format!("{name} has no {currency} accounts"),
                )
            })?;
        if view.net_debit_cap != 0 || view.position != 0 {
            return Err(HttpError::new(
                ErrorCode::InternalServerError,
                format!("{name}'s {currency} limit and initial position are already set"),
            ));
        }
        set_cap(&admin, &by, &name, currency, cap).await?;
        Ok(StatusCode::CREATED.into_response())
    }
    .await;
    count("InitialPositionAndLimits", &answer);
    answer.into_response()
}

async fn get_positions(
    AxumState(admin): AxumState<Admin>,
    Path(name): Path<String>,
    headers: Headers,
) -> Response {
    let answer = async {
        admin.authorize(&headers, Need::Read, "GetPositions")?;
        let id = admin.participant_id(&name)?;
        let st = admin.service.read()?;
        let all: Vec<Value> = st
            .ledger
            .currencies()
            .into_iter()
            .filter_map(|c| st.ledger.position(id, c))
            .map(|v| {
                json!({
                    "currency": v.currency.to_string(),
                    "value": amount(&st.ledger, v.currency, v.position),
                    "reservedValue": amount(&st.ledger, v.currency, v.reserved),
                    "changedDate": Value::Null,
                })
            })
            .collect();
        json_answer(StatusCode::OK, Value::Array(all))
    }
    .await;
    count("GetPositions", &answer);
    answer.into_response()
}

async fn get_accounts(
    AxumState(admin): AxumState<Admin>,
    Path(name): Path<String>,
    headers: Headers,
) -> Response {
    let answer = async {
        admin.authorize(&headers, Need::Read, "GetAccounts")?;
        let owner = owner_of(&admin, &name)?;
        let st = admin.service.read()?;
        let all: Vec<Value> = st
            .ledger
            .accounts()
            .iter()
            .filter(|a| a.owner == owner)
            .map(|a| account_view(&st, a))
            .collect();
        json_answer(StatusCode::OK, Value::Array(all))
    }
    .await;
    count("GetAccounts", &answer);
    answer.into_response()
}

#[derive(Deserialize)]
struct NewHubAccount {
    #[serde(rename = "type")]
    kind: String,
    currency: String,
}

/// `POST /participants/Hub/accounts {type, currency}`: the hub's accounts
/// of a currency (reconciliation and multilateral settlement come
/// together, whichever is asked for first).
async fn create_hub_account(
    AxumState(admin): AxumState<Admin>,
    Path(name): Path<String>,
    headers: Headers,
    bytes: Bytes,
) -> Response {
    let answer = async {
        let by = admin.authorize(
            &headers,
            Need::Role(OperatorRole::HubOperator),
            "CreateHubAccount",
        )?;
        if !name.eq_ignore_ascii_case(&admin.settings.hub_name) {
            return Err(HttpError::new(
                ErrorCode::ValidationError,
                "accounts are created for the Hub only (a participant's come with its currency)",
            ));
        }
        let r: NewHubAccount = body(&bytes)?;
        if !["HUB_RECONCILIATION", "HUB_MULTILATERAL_SETTLEMENT"].contains(&r.kind.as_str()) {
            return Err(HttpError::new(
                ErrorCode::ValidationError,
                format!("type: {} is not a hub account type", r.kind),
            ));
        }
        let currency = validate::currency("currency", &r.currency)?;
        admin
            .service
            .ledger(
                &by,
                LedgerCommand::enable_currency(currency, admin.now_ms()),
            )
            .await?;
        Ok(StatusCode::CREATED.into_response())
    }
    .await;
    count("CreateHubAccount", &answer);
    answer.into_response()
}

#[derive(Deserialize)]
struct Money {
    amount: Value,
    currency: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FundsRequest {
    transfer_id: String,
    action: String,
    #[serde(default)]
    reason: String,
    amount: Option<Money>,
}

/// `POST /participants/{name}/accounts/{id}`: funds in
/// (`recordFundsIn`) or the reservation of funds out
/// (`recordFundsOutPrepareReserve`) on the participant's settlement
/// account `id`, under the caller's `transferId`.
async fn record_funds(
    AxumState(admin): AxumState<Admin>,
    Path((name, account)): Path<(String, String)>,
    headers: Headers,
    bytes: Bytes,
) -> Response {
    let answer = async {
        let by = admin.authorize(
            &headers,
            Need::Role(OperatorRole::HubOperator),
            "RecordFunds",
        )?;
        let r: FundsRequest = body(&bytes)?;
        let funds_id = FundsId(validate::uuid("transferId", &r.transfer_id)?);
        validate::note("reason", &r.reason)?;
        let money = r
            .amount
            .ok_or_else(|| HttpError::new(ErrorCode::MissingElement, "amount is required"))?;
        let currency = validate::currency("amount.currency", &money.currency)?;
        let text = amount_in("amount.amount", &money.amount)?;
        validate::non_negative_amount("amount.amount", &text, currency)?;
        let amount: Decimal = text.parse().map_err(|_| {
            HttpError::new(ErrorCode::ValidationError, "amount.amount: not a decimal")
        })?;
        settlement_account(&admin, &name, &account, currency)?;
        let participant = ParticipantRef::name(name.as_str());
        let now_ms = admin.now_ms();
        let command = match r.action.as_str() {
            "recordFundsIn" => LedgerCommand::FundsIn {
                funds_id,
                participant,
                currency,
                amount,
                now_ms,
            },
            "recordFundsOutPrepareReserve" => LedgerCommand::FundsOutReserve {
                funds_id,
                participant,
                currency,
                amount,
                now_ms,
            },
            other => {
                return Err(HttpError::new(
                    ErrorCode::ValidationError,
                    format!("action: {other} (recordFundsIn or recordFundsOutPrepareReserve)"),
                ));
            }
        };
        admin.service.ledger(&by, command).await?;
        Ok(StatusCode::ACCEPTED.into_response())
    }
    .await;
    count("RecordFunds", &answer);
    answer.into_response()
}

/// The participant `name`'s account `account` (its id in the path).
fn participant_account(admin: &Admin, name: &str, account: &str) -> Result<Account, HttpError> {
    let id = admin.participant_id(name)?;
    let account_id: u32 = account
        .parse()
        .map_err(|_| HttpError::new(ErrorCode::ValidationError, "id: not an account id"))?;
    admin
        .service
        .read()?
        .ledger
        .accounts()
        .iter()
        .find(|a| a.id.0 == account_id && a.owner == Owner::Participant(id))
        .copied()
        .ok_or_else(|| {
            HttpError::new(
                ErrorCode::IdNotFound,
                format!("{name} has no account {account}"),
            )
        })
}

/// Checks that `account` is `name`'s settlement account in `currency`.
fn settlement_account(
    admin: &Admin,
    name: &str,
    account: &str,
    currency: Currency,
) -> Result<(), HttpError> {
    let found = participant_account(admin, name, account)?;
    if found.kind != AccountType::Settlement {
        return Err(HttpError::new(
            ErrorCode::ValidationError,
            format!("account {account} is not a settlement account"),
        ));
    }
    if found.currency != currency {
        return Err(HttpError::new(
            ErrorCode::ValidationError,
            format!("account {account} is in {}, not {currency}", found.currency),
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
struct FundsAction {
    action: String,
    #[serde(default)]
    reason: String,
}

/// `PUT /participants/{name}/accounts/{id}/transfers/{transferId}
/// {action}`: commits (`recordFundsOutCommit`) or aborts
/// (`recordFundsOutAbort`) a reserved funds out.
async fn record_funds_out_action(
    AxumState(admin): AxumState<Admin>,
    Path((name, account, transfer_id)): Path<(String, String, String)>,
    headers: Headers,
    bytes: Bytes,
) -> Response {
    let answer = async {
        let by = admin.authorize(
            &headers,
            Need::Role(OperatorRole::HubOperator),
            "RecordFundsOutAction",
        )?;
        let r: FundsAction = body(&bytes)?;
        validate::note("reason", &r.reason)?;
        let funds_id = FundsId(validate::uuid("transferId", &transfer_id)?);
        let held = admin
            .service
            .read()?
            .ledger
            .funds(funds_id)
            .map(|f| (f.currency, f.participant));
        let (currency, owner) = held.ok_or_else(|| {
            HttpError::new(
                ErrorCode::IdNotFound,
                format!("funds {transfer_id} not found"),
            )
        })?;
        if owner != admin.participant_id(&name)? {
            return Err(HttpError::new(
                ErrorCode::IdNotFound,
                format!("funds {transfer_id} are not {name}'s"),
            ));
        }
        settlement_account(&admin, &name, &account, currency)?;
        let now_ms = admin.now_ms();
        let command = match r.action.as_str() {
            "recordFundsOutCommit" => LedgerCommand::FundsOutCommit { funds_id, now_ms },
            "recordFundsOutAbort" => LedgerCommand::FundsOutAbort { funds_id, now_ms },
            other => {
                return Err(HttpError::new(
                    ErrorCode::ValidationError,
                    format!("action: {other} (recordFundsOutCommit or recordFundsOutAbort)"),
                ));
            }
        };
        admin.service.ledger(&by, command).await?;
        Ok(StatusCode::ACCEPTED.into_response())
    }
    .await;
    count("RecordFundsOutAction", &answer);
    answer.into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewSettlementModel {
    name: String,
    settlement_granularity: String,
    settlement_interchange: String,
    settlement_delay: String,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    require_liquidity_check: bool,
    ledger_account_type: String,
    #[serde(default)]
    settlement_account_type: Option<String>,
    #[serde(default)]
    auto_position_reset: bool,
}

fn settlement_model_view(m: &SettlementModelDef) -> Value {
    json!({
        "name": m.name,
        "isActive": true,
        "settlementGranularity": granularity_name(m.granularity),
        "settlementInterchange": interchange_name(m.interchange),
        "settlementDelay": delay_name(m.delay),
        "currency": m.currency.map(|c| c.to_string()),
        "requireLiquidityCheck": m.require_liquidity_check,
        "ledgerAccountType": m.ledger_account_type,
        "settlementAccountType": m.settlement_account_type,
        "autoPositionReset": m.auto_position_reset,
    })
}

/// The wire names of a model's choices.
fn granularity_name(g: Granularity) -> &'static str {
    match g {
        Granularity::Gross => "GROSS",
        Granularity::Net => "NET",
    }
}

fn interchange_name(i: Interchange) -> &'static str {
    match i {
        Interchange::Bilateral => "BILATERAL",
        Interchange::Multilateral => "MULTILATERAL",
    }
}

fn delay_name(d: Delay) -> &'static str {
    match d {
        Delay::Immediate => "IMMEDIATE",
        Delay::Deferred => "DEFERRED",
    }
}

fn choice<T: Copy>(field: &str, text: &str, options: &[(&str, T)]) -> Result<T, HttpError> {
    options
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(text))
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
            HttpError::new(
                ErrorCode::ValidationError,
                format!("{field}: {text} (one of {})", names.join(", ")),
            )
        })
}

/// `POST /settlementModels`: a settlement model of the scheme, once per
/// name (400 "Settlement Model already exists" for another with the same
/// name). An immediate gross model of a currency makes its participants
/// settle each transfer at once.
async fn create_settlement_model(
    AxumState(admin): AxumState<Admin>,
    headers: Headers,
    bytes: Bytes,
) -> Response {
    let answer = async {
        let by = admin.authorize(
            &headers,
            Need::Role(OperatorRole::HubOperator),
            "CreateSettlementModel",
        )?;
        let r: NewSettlementModel = body(&bytes)?;
        let model = SettlementModelDef {
            name: r.name,
            currency: r
                .currency
                .filter(|c| !c.is_empty())
                .map(|c| validate::currency("currency", &c))
                .transpose()?,
            granularity: choice(
                "settlementGranularity",
                &r.settlement_granularity,
                &[("GROSS", Granularity::Gross), ("NET", Granularity::Net)],
            )?,
            interchange: choice(
                "settlementInterchange",
                &r.settlement_interchange,
                &[
                    ("BILATERAL", Interchange::Bilateral),
                    ("MULTILATERAL", Interchange::Multilateral),
                ],
            )?,
            delay: choice(
                "settlementDelay",
                &r.settlement_delay,
                &[
                    ("IMMEDIATE", Delay::Immediate),
                    ("DEFERRED", Delay::Deferred),
                ],
            )?,
            ledger_account_type: r.ledger_account_type,
            settlement_account_type: r
                .settlement_account_type
                .unwrap_or_else(|| "SETTLEMENT".into()),
            require_liquidity_check: r.require_liquidity_check,
            auto_position_reset: r.auto_position_reset,
        };
        let view = settlement_model_view(&model);
        let name = model.name.clone();
        match admin.service.define_settlement_model(&by, model).await? {
            harambee_core::state::DirectoryReply::Unchanged => Err(HttpError::new(
                ErrorCode::GenericClientError,
                format!("Settlement Model already exists: {name}"),
            )),
            _ => json_answer(StatusCode::CREATED, view),
        }
    }
    .await;
    count("CreateSettlementModel", &answer);
    answer.into_response()
}

async fn list_settlement_models(AxumState(admin): AxumState<Admin>, headers: Headers) -> Response {
    let answer = async {
        admin.authorize(&headers, Need::Read, "ListSettlementModels")?;
        let st = admin.service.read()?;
        let all: Vec<Value> = st
            .directory
            .settlement_models()
            .map(settlement_model_view)
            .collect();
        json_answer(StatusCode::OK, Value::Array(all))
    }
    .await;
    count("GetSettlementModels", &answer);
    answer.into_response()
}

async fn get_settlement_model(
    AxumState(admin): AxumState<Admin>,
    Path(name): Path<String>,
    headers: Headers,
) -> Response {
    let answer = async {
        admin.authorize(&headers, Need::Read, "GetSettlementModel")?;
        let st = admin.service.read()?;
        let model = st.directory.settlement_model(&name).ok_or_else(|| {
            HttpError::new(
                ErrorCode::IdNotFound,
                format!("settlement model {name} not found"),
            )
        })?;
        json_answer(StatusCode::OK, settlement_model_view(model))
    }
    .await;
    count("GetSettlementModel", &answer);
    answer.into_response()
}

#[derive(Deserialize)]
struct OracleEndpoint {
    value: String,
    #[serde(default, rename = "endpointType")]
    endpoint_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewOracle {
    oracle_id_type: String,
    endpoint: OracleEndpoint,
    #[serde(default)]
    currency: Option<String>,
}

/// `POST /oracles` (the account lookup service's admin API): the oracle
/// that knows who owns parties of `oracleIdType`, speaking Mojaloop's
/// oracle API at `endpoint.value`. One per type: a second gets 2001, as
/// in Mojaloop.
async fn create_oracle(
    AxumState(admin): AxumState<Admin>,
    headers: Headers,
    bytes: Bytes,
) -> Response {
    let answer = async {
        let by = admin.authorize(
            &headers,
            Need::Role(OperatorRole::HubOperator),
            "CreateOracle",
        )?;
        let r: NewOracle = body(&bytes)?;
        party_of(&PartyPath(r.oracle_id_type.clone(), "0".into(), None))?;
        if r.endpoint
            .endpoint_type
            .as_deref()
            .is_some_and(|t| t != "URL")
        {
            return Err(HttpError::new(
                ErrorCode::ValidationError,
                "endpoint.endpointType: only URL",
            ));
        }
        if !(r.endpoint.value.starts_with("http://") || r.endpoint.value.starts_with("https://")) {
            return Err(HttpError::new(
                ErrorCode::ValidationError,
                "endpoint.value: an http(s) URL",
            ));
        }
        if let Some(c) = r.currency.as_deref().filter(|c| !c.is_empty()) {
            validate::currency("currency", c)?;
        }
        if admin
            .service
            .read()?
            .directory
            .oracle(&r.oracle_id_type)
            .is_some()
        {
            return Err(HttpError::new(
                ErrorCode::InternalServerError,
                format!("an oracle for {} already exists", r.oracle_id_type),
            ));
        }
        admin
            .service
            .directory(
                &by,
                DirectoryCommand::SetOracle {
                    party_type: r.oracle_id_type,
                    url: Some(format!("{FSPIOP_ORACLE_SCHEME}{}", r.endpoint.value)),
                    now_ms: admin.now_ms(),
                },
            )
            .await?;
        Ok(StatusCode::CREATED.into_response())
    }
    .await;
    count("CreateOracle", &answer);
    answer.into_response()
}

async fn list_oracles(AxumState(admin): AxumState<Admin>, headers: Headers) -> Response {
    let answer = async {
        admin.authorize(&headers, Need::Read, "ListOracles")?;
        let st = admin.service.read()?;
        let all: Vec<Value> = st
            .directory
            .oracles()
            .enumerate()
            .map(|(i, (party_type, url))| {
                json!({
                    "oracleId": (i + 1).to_string(),
                    "oracleIdType": party_type,
                    "endpoint": {
                        "value": url.strip_prefix(FSPIOP_ORACLE_SCHEME).unwrap_or(url),
                        "endpointType": "URL",
                    },
                    "isDefault": true,
                })
            })
            .collect();
        json_answer(StatusCode::OK, Value::Array(all))
    }
    .await;
    count("GetOracles", &answer);
    answer.into_response()
}

/// What to do to the built-in oracle, through its oracle API.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OracleCall {
    Get,
    Post,
    Delete,
}

impl OracleCall {
    fn need(&self) -> Need {
        match self {
            OracleCall::Get => Need::Read,
            OracleCall::Post | OracleCall::Delete => Need::Role(OperatorRole::HubOperator),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OracleRegistration {
    fsp_id: String,
}

/// The switch's built-in oracle, served with Mojaloop's oracle API
/// (`/oracle/participants/{Type}/{ID}`), so that a Mojaloop setup that
/// registers an oracle URL can point it at the switch itself.
async fn oracle_call(
    admin: Admin,
    path: PartyPath,
    headers: Headers,
    bytes: Bytes,
    call: OracleCall,
) -> Answer {
    let by = admin.authorize(&headers, call.need(), "Oracle")?;
    let (_, key) = party_of(&path)?;
    match call {
        OracleCall::Get => {
            let owner = admin
                .service
                .read()?
                .directory
                .party_owner(&key)
                .map(str::to_string);
            let list: Vec<Value> = owner.into_iter().map(|o| json!({ "fspId": o })).collect();
            json_answer(StatusCode::OK, json!({ "partyList": list }))
        }
        OracleCall::Post => {
            let r: OracleRegistration = body(&bytes)?;
            validate::fsp_id("fspId", &r.fsp_id)?;
            admin
                .service
                .register_party_by(Some(&by), &r.fsp_id, key, true)
                .await?;
            Ok(StatusCode::CREATED.into_response())
        }
        OracleCall::Delete => {
            let owner = admin
                .service
                .read()?
                .directory
                .party_owner(&key)
                .map(str::to_string);
            let owner = owner.ok_or_else(|| {
                HttpError::new(ErrorCode::PartyNotFound, "no participant owns the party")
            })?;
            admin
                .service
                .register_party_by(Some(&by), &owner, key, false)
                .await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
    }
}

async fn oracle_get(
    AxumState(admin): AxumState<Admin>,
    Path((party_type, id)): Path<(String, String)>,
    headers: Headers,
) -> Response {
    let answer = oracle_call(
        admin,
        PartyPath(party_type, id, None),
        headers,
        Bytes::new(),
        OracleCall::Get,
    )
    .await;
    count("OracleGet", &answer);
    answer.into_response()
}

async fn oracle_get_sub(
    AxumState(admin): AxumState<Admin>,
    Path((party_type, id, sub)): Path<(String, String, String)>,
    headers: Headers,
) -> Response {
    let answer = oracle_call(
        admin,
        PartyPath(party_type, id, Some(sub)),
        headers,
        Bytes::new(),
        OracleCall::Get,
    )
    .await;
    count("OracleGet", &answer);
    answer.into_response()
}

async fn oracle_post(
    AxumState(admin): AxumState<Admin>,
    Path((party_type, id)): Path<(String, String)>,
    headers: Headers,
    bytes: Bytes,
) -> Response {
    let answer = oracle_call(
        admin,
        PartyPath(party_type, id, None),
        headers,
        bytes,
        OracleCall::Post,
    )
    .await;
    count("OraclePost", &answer);
    answer.into_response()
}

async fn oracle_post_sub(
    AxumState(admin): AxumState<Admin>,
    Path((party_type, id, sub)): Path<(String, String, String)>,
    headers: Headers,
    bytes: Bytes,
) -> Response {
    let answer = oracle_call(
        admin,
        PartyPath(party_type, id, Some(sub)),
        headers,
        bytes,
        OracleCall::Post,
    )
    .await;
    count("OraclePost", &answer);
    answer.into_response()
}

async fn oracle_delete(
    AxumState(admin): AxumState<Admin>,
    Path((party_type, id)): Path<(String, String)>,
    headers: Headers,
) -> Response {
    let answer = oracle_call(
        admin,
        PartyPath(party_type, id, None),
        headers,
        Bytes::new(),
        OracleCall::Delete,
    )
    .await;
    count("OracleDelete", &answer);
    answer.into_response()
}

async fn oracle_delete_sub(
    AxumState(admin): AxumState<Admin>,
    Path((party_type, id, sub)): Path<(String, String, String)>,
    headers: Headers,
) -> Response {
    let answer = oracle_call(
        admin,
        PartyPath(party_type, id, Some(sub)),
        headers,
        Bytes::new(),
        OracleCall::Delete,
    )
    .await;
    count("OracleDelete", &answer);
    answer.into_response()
}
