//! The settlement pages: the open window of each currency and closing
//! it; closed windows and a settlement over some of them with a model;
//! each settlement's net positions and bilateral matrix, its
//! participants advanced through the states (one, or all at once), its
//! abort, and its reports as CSV and JSON.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use harambee_proto::v1::operator_api_server::OperatorApi;
use harambee_proto::v1::*;
use maud::html;
use serde::Deserialize;

use crate::catalog::{fill, text};
use crate::money;
use crate::pages::{self, name_of, scale_of, time_of};
use crate::sessions::Session;
use crate::{App, Posted, Signed, answer, call, done};

/// Windows and settlements one page lists.
pub const LISTED_MAX: u32 = 200;

pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route("/settlement", get(windows))
        .route("/settlement/windows/close", post(close_window))
        .route("/settlement/create", post(create))
        .route("/settlement/{id}", get(settlement))
        .route("/settlement/{id}/advance", post(advance_confirm))
        .route("/settlement/{id}/advance/confirmed", post(advance))
        .route("/settlement/{id}/abort", post(abort_confirm))
        .route("/settlement/{id}/abort/confirmed", post(abort))
        .route("/settlement/{id}/report", get(report))
}

fn page_of(size: u32) -> Option<PageRequest> {
    Some(PageRequest {
        page_size: size,
        page_token: String::new(),
    })
}

fn settlement_state(s: i32) -> String {
    SettlementState::try_from(s)
        .map(|s| name_of(s.as_str_name(), "SETTLEMENT_STATE_"))
        .unwrap_or_default()
}

fn model_name(m: i32) -> String {
    SettlementModel::try_from(m)
        .map(|m| name_of(m.as_str_name(), "SETTLEMENT_MODEL_"))
        .unwrap_or_default()
}

/// The state a participant's account of a settlement moves to next.
fn next_state(state: i32) -> Option<SettlementState> {
    use SettlementState as S;
    match S::try_from(state).ok()? {
        S::PendingSettlement => Some(S::PsTransfersRecorded),
        S::PsTransfersRecorded => Some(S::PsTransfersReserved),
        S::PsTransfersReserved => Some(S::PsTransfersCommitted),
        S::PsTransfersCommitted => Some(S::Settled),
        S::Settled | S::Aborted | S::Unspecified => None,
    }
}

async fn windows_of(
    app: &App,
    session: &Session,
    state: SettlementWindowState,
) -> Result<Vec<SettlementWindow>, tonic::Status> {
    Ok(app
        .ops
        .list_settlement_windows(call(
            session,
            ListSettlementWindowsRequest {
                currency: String::new(),
                state: state as i32,
                page: page_of(LISTED_MAX),
            },
        ))
        .await?
        .into_inner()
        .windows)
}

async fn windows(State(app): State<App>, Signed(session): Signed) -> Response {
    let loaded = async {
        let scales = app.scales(&session).await?;
        let open = windows_of(&app, &session, SettlementWindowState::Open).await?;
        let closed = windows_of(&app, &session, SettlementWindowState::Closed).await?;
        let mut settlements = app
            .ops
            .list_settlements(call(
                &session,
                ListSettlementsRequest {
                    page: page_of(LISTED_MAX),
                    ..ListSettlementsRequest::default()
                },
            ))
            .await?
            .into_inner()
            .settlements;
        settlements.reverse();
        Ok(windows_page(
            &session,
            &scales,
            &open,
            &closed,
            &settlements,
        ))
    };
    answer(&session, "/", loaded.await)
}

fn windows_page(
    session: &Session,
    scales: &HashMap<String, u32>,
    open: &[SettlementWindow],
    closed: &[SettlementWindow],
    settlements: &[Settlement],
) -> Response {
    let lang = session.lang;
    let amount = |v: &str, c: &str| money::format(v, c, scale_of(scales, c), lang);
    let body = html! {
        h1 { (text(lang, "settlement_heading")) }
        section aria-labelledby="open" {
            h2 id="open" { (text(lang, "open_windows_heading")) }
            p { (text(lang, "open_windows_help")) }
            table {
                thead { tr {
                    th scope="col" { (text(lang, "col_currency")) }
                    th scope="col" { (text(lang, "col_window")) }
                    th scope="col" { (text(lang, "col_opened")) }
                    th scope="col" class="num" { (text(lang, "col_transfers")) }
                    th scope="col" class="num" { (text(lang, "col_amount")) }
                    th scope="col" { (text(lang, "col_action")) }
                } }
                tbody {
                    @for w in open {
                        tr data-window=(w.window_id) {
                            td { (w.currency) }
                            td { (w.window_id) }
                            td { (time_of(w.opened.as_ref())) }
                            td class="num" { (w.transfer_count) }
                            td class="num" { (amount(&w.transfer_amount, &w.currency)) }
                            td {
                                form class="inline" method="post" action="/settlement/windows/close" {
                                    input type="hidden" name="csrf" value=(session.csrf);
                                    input type="hidden" name="currency" value=(w.currency);
                                    label class="sr" for=(format!("close-reason-{}", w.currency)) { (text(lang, "reason")) }
                                    input id=(format!("close-reason-{}", w.currency)) name="reason" maxlength="256" placeholder=(text(lang, "reason"));
                                    " " button type="submit" { (fill(lang, "close_window", &[("currency", &w.currency)])) }
                                }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="closed" {
            h2 id="closed" { (text(lang, "closed_windows_heading")) }
            @if closed.is_empty() { p { (text(lang, "none_closed")) } }
            @else {
                form method="post" action="/settlement/create" {
                    input type="hidden" name="csrf" value=(session.csrf);
                    table {
                        thead { tr {
                            th scope="col" { (text(lang, "col_include")) }
                            th scope="col" { (text(lang, "col_window")) }
                            th scope="col" { (text(lang, "col_currency")) }
                            th scope="col" { (text(lang, "col_closed")) }
                            th scope="col" class="num" { (text(lang, "col_transfers")) }
                            th scope="col" class="num" { (text(lang, "col_amount")) }
                            th scope="col" { (text(lang, "reason")) }
                        } }
                        tbody {
                            @for w in closed {
                                tr data-window=(w.window_id) {
                                    td { input type="checkbox" name="window" value=(w.window_id) id=(format!("w{}", w.window_id)) aria-label=(fill(lang, "include_window", &[("id", &w.window_id.to_string())])); }
                                    td { label for=(format!("w{}", w.window_id)) { (w.window_id) } }
                                    td { (w.currency) }
                                    td { (time_of(w.closed.as_ref())) }
                                    td class="num" { (w.transfer_count) }
                                    td class="num" { (amount(&w.transfer_amount, &w.currency)) }
                                    td { (w.reason) }
                                }
                            }
                        }
                    }
                    label for="model" { (text(lang, "model")) }
                    select id="model" name="model" {
                        option value="multilateral" { (text(lang, "model_multilateral")) }
                        option value="bilateral" { (text(lang, "model_bilateral")) }
                    }
                    label for="create-reason" { (text(lang, "reason")) }
                    input id="create-reason" name="reason" maxlength="256";
                    p { button type="submit" { (text(lang, "create_settlement")) } }
                }
            }
        }
        section aria-labelledby="settlements" {
            h2 id="settlements" { (text(lang, "settlements_heading")) }
            @if settlements.is_empty() { p { (text(lang, "none_yet")) } }
            @else {
                table {
                    thead { tr {
                        th scope="col" { (text(lang, "col_settlement")) }
                        th scope="col" { (text(lang, "col_currency")) }
                        th scope="col" { (text(lang, "model")) }
                        th scope="col" { (text(lang, "col_state")) }
                        th scope="col" { (text(lang, "col_windows")) }
                        th scope="col" { (text(lang, "col_created")) }
                    } }
                    tbody {
                        @for st in settlements {
                            tr data-settlement=(st.settlement_id) {
                                td { a href=(format!("/settlement/{}", st.settlement_id)) { (st.settlement_id) } }
                                td { (st.currency) }
                                td { (model_name(st.model)) }
                                td data-field="state" { (settlement_state(st.state)) }
                                td { (st.window_ids.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")) }
                                td { (time_of(st.created.as_ref())) }
                            }
                        }
                    }
                }
            }
        }
    };
    pages::page(session, body)
}

#[derive(Deserialize)]
struct CloseForm {
    #[serde(default)]
    currency: String,
    #[serde(default)]
    reason: String,
}

async fn close_window(
    State(app): State<App>,
    Posted(session, form): Posted<CloseForm>,
) -> Response {
    let closed = async {
        let w = app
            .ops
            .close_settlement_window(call(
                &session,
                CloseSettlementWindowRequest {
                    currency: form.currency.clone(),
                    reason: form.reason.clone(),
                },
            ))
            .await?
            .into_inner();
        Ok(done(
            &session,
            "done_close",
            &[
                ("id", &w.window_id.to_string()),
                ("currency", &w.currency),
                ("count", &w.transfer_count.to_string()),
            ],
            "/settlement",
        ))
    };
    answer(&session, "/settlement", closed.await)
}

/// The create form: its repeated `window` fields, the model and reason.
#[derive(Deserialize)]
#[serde(transparent)]
struct CreateForm(Vec<(String, String)>);

async fn create(State(app): State<App>, Posted(session, form): Posted<CreateForm>) -> Response {
    let field = |name: &str| {
        form.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let created = async {
        let ids: Vec<u64> = form
            .0
            .iter()
            .filter(|(k, _)| k == "window")
            .map(|(_, v)| v.parse::<u64>())
            .collect::<Result<_, _>>()
            .map_err(|_| tonic::Status::invalid_argument("window: not a window id"))?;
        if ids.is_empty() {
            return Err(tonic::Status::invalid_argument(text(
                session.lang,
                "choose_windows",
            )));
        }
        // The currency is the chosen windows'; the Operator API refuses
        // windows of another currency.
        let first = app
            .ops
            .get_settlement_window(call(
                &session,
                GetSettlementWindowRequest { window_id: ids[0] },
            ))
            .await?
            .into_inner();
        let model = match field("model").as_str() {
            "bilateral" => SettlementModel::DeferredBilateralNet,
            _ => SettlementModel::DeferredMultilateralNet,
        };
        let s = app
            .ops
            .create_settlement(call(
                &session,
                CreateSettlementRequest {
                    currency: first.currency,
                    model: model as i32,
                    window_ids: ids,
                    reason: field("reason"),
                },
            ))
            .await?
            .into_inner();
        Ok(done(
            &session,
            "done_create",
            &[("id", &s.settlement_id.to_string())],
            &format!("/settlement/{}", s.settlement_id),
        ))
    };
    answer(&session, "/settlement", created.await)
}

async fn get_settlement(
    app: &App,
    session: &Session,
    id: u64,
) -> Result<Settlement, tonic::Status> {
    Ok(app
        .ops
        .get_settlement(call(session, GetSettlementRequest { settlement_id: id }))
        .await?
        .into_inner())
}

/// The bilateral matrix of a settlement, from its JSON report: (debtor,
/// creditor, amount).
async fn bilateral(
    app: &App,
    session: &Session,
    id: u64,
) -> Result<Vec<(String, String, String)>, tonic::Status> {
    let report = app
        .ops
        .get_settlement_report(call(
            session,
            GetSettlementReportRequest {
                settlement_id: id,
                kind: ReportKind::BilateralMatrix as i32,
                format: ReportFormat::Json as i32,
            },
        ))
        .await?
        .into_inner();
    let json: serde_json::Value = serde_json::from_slice(&report.content)
        .map_err(|e| tonic::Status::internal(format!("report: {e}")))?;
    let text_of = |row: &serde_json::Value, k: &str| {
        row.get(k)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Ok(json
        .get("rows")
        .and_then(serde_json::Value::as_array)
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    (
                        text_of(r, "payer_fsp"),
                        text_of(r, "payee_fsp"),
                        text_of(r, "amount"),
                    )
                })
                .collect()
        })
        .unwrap_or_default())
}

async fn settlement(
    State(app): State<App>,
    Signed(session): Signed,
    Path(id): Path<u64>,
) -> Response {
    let loaded = async {
        let scales = app.scales(&session).await?;
        let s = get_settlement(&app, &session, id).await?;
        let matrix = bilateral(&app, &session, id).await?;
        Ok(settlement_page(&session, &scales, &s, &matrix))
    };
    answer(&session, "/settlement", loaded.await)
}

fn settlement_page(
    session: &Session,
    scales: &HashMap<String, u32>,
    s: &Settlement,
    matrix: &[(String, String, String)],
) -> Response {
    let lang = session.lang;
    let c = &s.currency;
    let amount = |v: &str| money::format(v, c, scale_of(scales, c), lang);
    let id = s.settlement_id;
    let pending: Vec<&SettlementParticipant> = s
        .participants
        .iter()
        .filter(|p| next_state(p.state).is_some())
        .collect();
    let body = html! {
        h1 { (fill(lang, "settlement_title", &[("id", &id.to_string())])) }
        p {
            (c) " · " (model_name(s.model)) " · "
            span data-field="state" { (settlement_state(s.state)) }
            " · " (text(lang, "col_windows")) " " (s.window_ids.iter().map(u64::to_string).collect::<Vec<_>>().join(", "))
        }
        section aria-labelledby="net" {
            h2 id="net" { (text(lang, "net_positions_heading")) }
            p { (text(lang, "net_positions_help")) }
            table {
                thead { tr {
                    th scope="col" { (text(lang, "col_participant")) }
                    th scope="col" class="num" { (text(lang, "col_net")) }
                    th scope="col" { (text(lang, "col_state")) }
                    th scope="col" { (text(lang, "col_reference")) }
                    th scope="col" { (text(lang, "col_action")) }
                } }
                tbody {
                    @for p in &s.participants {
                        tr data-fsp=(p.fsp_id) {
                            th scope="row" { (p.fsp_id) }
                            td class="num" data-field="net" { (amount(&p.net_amount)) }
                            td data-field="state" { (settlement_state(p.state)) }
                            td { (p.external_reference) }
                            td {
                                @if let Some(next) = next_state(p.state) {
                                    @let next = name_of(next.as_str_name(), "SETTLEMENT_STATE_");
                                    form class="inline" method="post" action=(format!("/settlement/{id}/advance")) {
                                        input type="hidden" name="csrf" value=(session.csrf);
                                        input type="hidden" name="fsp" value=(p.fsp_id);
                                        label class="sr" for=(format!("ref-{}", p.fsp_id)) { (text(lang, "col_reference")) }
                                        input id=(format!("ref-{}", p.fsp_id)) name="external_reference" maxlength="256" placeholder=(text(lang, "col_reference"));
                                        " " button type="submit" { (fill(lang, "advance_to", &[("state", &next)])) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if !pending.is_empty() {
                form id="advance-all" method="post" action=(format!("/settlement/{id}/advance")) {
                    input type="hidden" name="csrf" value=(session.csrf);
                    input type="hidden" name="fsp" value="*";
                    p { button type="submit" { (text(lang, "advance_all")) } }
                }
            }
        }
        section aria-labelledby="matrix" {
            h2 id="matrix" { (text(lang, "bilateral_heading")) }
            @if matrix.is_empty() { p { (text(lang, "none_yet")) } }
            @else {
                table {
                    thead { tr {
                        th scope="col" { (text(lang, "col_owes")) }
                        th scope="col" { (text(lang, "col_owed")) }
                        th scope="col" class="num" { (text(lang, "col_amount")) }
                    } }
                    tbody {
                        @for (from, to, v) in matrix {
                            tr { td { (from) } td { (to) } td class="num" { (amount(v)) } }
                        }
                    }
                }
            }
        }
        section aria-labelledby="reports" {
            h2 id="reports" { (text(lang, "reports_heading")) }
            ul {
                @for (kind, key) in [("net-positions", "report_net"), ("bilateral-matrix", "report_bilateral"), ("transfers", "report_transfers")] {
                    li {
                        (text(lang, key)) ": "
                        a href=(format!("/settlement/{id}/report?kind={kind}&format=csv")) download { "CSV" } " · "
                        a href=(format!("/settlement/{id}/report?kind={kind}&format=json")) download { "JSON" }
                    }
                }
            }
        }
        @if next_state(s.state).is_some() {
            section aria-labelledby="abort" {
                h2 id="abort" { (text(lang, "abort_heading")) }
                form method="post" action=(format!("/settlement/{id}/abort")) {
                    input type="hidden" name="csrf" value=(session.csrf);
                    label for="abort-reason" { (text(lang, "reason")) }
                    input id="abort-reason" name="reason" maxlength="256" required;
                    " " button type="submit" { (text(lang, "abort_settlement")) }
                }
            }
        }
        p { a href="/settlement" { (text(lang, "back")) } }
    };
    pages::page(session, body)
}

#[derive(Deserialize)]
struct AdvanceForm {
    /// A participant, or `*` for every one not yet settled.
    #[serde(default)]
    fsp: String,
    #[serde(default)]
    external_reference: String,
    #[serde(default)]
    reason: String,
}

/// Who an advance moves: `(fsp, net amount, next state)`.
fn movers(s: &Settlement, fsp: &str) -> Vec<(String, String, SettlementState)> {
    s.participants
        .iter()
        .filter(|p| fsp == "*" || p.fsp_id == fsp)
        .filter_map(|p| next_state(p.state).map(|n| (p.fsp_id.clone(), p.net_amount.clone(), n)))
        .collect()
}

/// The confirmation of an advance: who moves to which state, with the
/// net amounts; committing and settling move money.
async fn advance_confirm(
    State(app): State<App>,
    Path(id): Path<u64>,
    Posted(session, form): Posted<AdvanceForm>,
) -> Response {
    let back = format!("/settlement/{id}");
    let confirm = async {
        let scales = app.scales(&session).await?;
        let s = get_settlement(&app, &session, id).await?;
        let movers = movers(&s, &form.fsp);
        if movers.is_empty() {
            return Err(tonic::Status::failed_precondition(text(
                session.lang,
                "nothing_to_advance",
            )));
        }
        let scale = scale_of(&scales, &s.currency);
        let lines: Vec<String> = movers
            .iter()
            .map(|(fsp, net, next)| {
                fill(
                    session.lang,
                    "confirm_advance_line",
                    &[
                        ("fsp", fsp),
                        (
                            "amount",
                            &money::format(net, &s.currency, scale, session.lang),
                        ),
                        ("state", &name_of(next.as_str_name(), "SETTLEMENT_STATE_")),
                    ],
                )
            })
            .collect();
        let question = format!(
            "{} {}",
            fill(session.lang, "confirm_advance", &[("id", &id.to_string())]),
            lines.join("; ")
        );
        Ok(pages::confirm(
            &session,
            &question,
            &format!("/settlement/{id}/advance/confirmed"),
            &[
                ("fsp", form.fsp.as_str()),
                ("external_reference", form.external_reference.as_str()),
                ("reason", form.reason.as_str()),
            ],
            &back,
        ))
    };
    answer(&session, &back, confirm.await)
}

async fn advance(
    State(app): State<App>,
    Path(id): Path<u64>,
    Posted(session, form): Posted<AdvanceForm>,
) -> Response {
    let back = format!("/settlement/{id}");
    let advanced = async {
        let s = get_settlement(&app, &session, id).await?;
        let movers = movers(&s, &form.fsp);
        let mut last = s;
        for (fsp, _, next) in &movers {
            last = app
                .ops
                .advance_settlement_participant(call(
                    &session,
                    AdvanceSettlementParticipantRequest {
                        settlement_id: id,
                        fsp_id: fsp.clone(),
                        target: *next as i32,
                        reason: form.reason.clone(),
                        external_reference: form.external_reference.clone(),
                    },
                ))
                .await?
                .into_inner();
        }
        Ok(done(
            &session,
            "done_advance",
            &[
                ("id", &id.to_string()),
                ("count", &movers.len().to_string()),
                ("state", &settlement_state(last.state)),
            ],
            &back,
        ))
    };
    answer(&session, &back, advanced.await)
}

#[derive(Deserialize)]
struct AbortForm {
    #[serde(default)]
    reason: String,
}

async fn abort_confirm(
    State(app): State<App>,
    Path(id): Path<u64>,
    Posted(session, form): Posted<AbortForm>,
) -> Response {
    let back = format!("/settlement/{id}");
    let confirm = async {
        let s = get_settlement(&app, &session, id).await?;
        Ok(pages::confirm(
            &session,
            &fill(
                session.lang,
                "confirm_abort",
                &[("id", &id.to_string()), ("currency", &s.currency)],
            ),
            &format!("/settlement/{id}/abort/confirmed"),
            &[("reason", form.reason.as_str())],
            &back,
        ))
    };
    answer(&session, &back, confirm.await)
}

async fn abort(
    State(app): State<App>,
    Path(id): Path<u64>,
    Posted(session, form): Posted<AbortForm>,
) -> Response {
    let back = format!("/settlement/{id}");
    let aborted = async {
        app.ops
            .abort_settlement(call(
                &session,
                AbortSettlementRequest {
                    settlement_id: id,
                    reason: form.reason.clone(),
                },
            ))
            .await?;
        Ok(done(
            &session,
            "done_abort",
            &[("id", &id.to_string())],
            &back,
        ))
    };
    answer(&session, &back, aborted.await)
}

#[derive(Deserialize)]
struct ReportQuery {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    format: String,
}

/// A report as a file to save, exactly as the Operator API returns it.
async fn report(
    State(app): State<App>,
    Signed(session): Signed,
    Path(id): Path<u64>,
    Query(q): Query<ReportQuery>,
) -> Response {
    let back = format!("/settlement/{id}");
    let kind = match q.kind.as_str() {
        "net-positions" => ReportKind::NetPositions,
        "bilateral-matrix" => ReportKind::BilateralMatrix,
        "transfers" => ReportKind::Transfers,
        _ => {
            return pages::message(
                StatusCode::NOT_FOUND,
                session.lang,
                Some(&session),
                &text(session.lang, "not_found"),
                &back,
            );
        }
    };
    let format = if q.format == "csv" {
        ReportFormat::Csv
    } else {
        ReportFormat::Json
    };
    let fetched = async {
        let report = app
            .ops
            .get_settlement_report(call(
                &session,
                GetSettlementReportRequest {
                    settlement_id: id,
                    kind: kind as i32,
                    format: format as i32,
                },
            ))
            .await?
            .into_inner();
        let mut response = (StatusCode::OK, report.content).into_response();
        let headers = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&report.content_type) {
            headers.insert(header::CONTENT_TYPE, v);
        }
        // The file name is the switch's own (digits, letters, dashes).
        let name: String = report
            .file_name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
            .collect();
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
            headers.insert(header::CONTENT_DISPOSITION, v);
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(
            "x-content-type-options",
            HeaderValue::from_static("nosniff"),
        );
        Ok(response)
    };
    answer(&session, &back, fetched.await)
}
