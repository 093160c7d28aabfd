//! The overview (every participant's positions and limits) and a
//! participant's page: accounts, the net debit cap, funds in and out,
//! the callback endpoint, activation, and recent transfers.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use harambee_proto::v1::operator_api_server::OperatorApi;
use harambee_proto::v1::*;
use maud::Markup;
use serde::Deserialize;

use crate::catalog::text;
use crate::sessions::Session;
use crate::{App, Posted, Signed, answer, call, done, pages};

/// Transfers shown on a participant's page.
pub const RECENT_TRANSFERS_MAX: u32 = 20;

/// Reserved funds outs shown on a participant's page, awaiting commit or
/// abort.
pub const RESERVED_FUNDS_MAX: u32 = 100;

pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route("/", get(overview))
        .route("/participants/{fsp}", get(participant))
        .route("/participants/{fsp}/net-debit-cap", post(set_ndc))
        .route("/participants/{fsp}/active", post(set_active))
        .route("/participants/{fsp}/endpoint", post(set_endpoint))
        .route("/participants/{fsp}/funds/{action}", post(funds_confirm))
        .route("/participants/{fsp}/funds/{action}/confirmed", post(funds))
}

async fn overview(State(app): State<App>, Signed(session): Signed) -> Response {
    let loaded = async {
        let live = overview_live(&app, &session).await?;
        Ok(pages::overview(&session, live))
    };
    answer(&session, "/", loaded.await)
}

/// The overview's live part as it is now: every participant's positions
/// from the Operator API, and the traffic from the switch's metrics
/// (sampled afresh if the last sample is older than a second).
pub(crate) async fn overview_live(app: &App, session: &Session) -> Result<Markup, tonic::Status> {
    let scales = app.scales(session).await?;
    let participants = app
        .ops
        .list_participants(call(
            session,
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
                session,
                GetPositionsRequest {
                    fsp_id: p.fsp_id.clone(),
                },
            ))
            .await?
            .into_inner()
            .positions;
        rows.push((p, positions));
    }
    let now_ms = app.now_ms();
    if let Some(source) = &app.settings.metrics {
        app.traffic
            .sample_fresh(now_ms, crate::traffic::FRESH_SAMPLE_GAP_MS, || (source.0)());
    }
    let traffic = app.traffic.summary(now_ms);
    Ok(pages::overview_live(
        session, &scales, &rows, &traffic, now_ms,
    ))
}

async fn participant(
    State(app): State<App>,
    Signed(session): Signed,
    Path(fsp): Path<String>,
) -> Response {
    let loaded = async {
        let scales = app.scales(&session).await?;
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
        let reserved = reserved_of(&app, &session, &fsp).await?;
        let transfers = app
            .ops
            .list_transfers(call(
                &session,
                ListTransfersRequest {
                    fsp_id: fsp.clone(),
                    page: Some(PageRequest {
                        page_size: RECENT_TRANSFERS_MAX,
                        page_token: String::new(),
                    }),
                    ..ListTransfersRequest::default()
                },
            ))
            .await?
            .into_inner()
            .transfers;
        Ok(pages::participant(
            &session,
            &pages::ParticipantPage {
                scales,
                info,
                positions,
                accounts,
                reserved,
                transfers,
            },
        ))
    };
    answer(&session, "/", loaded.await)
}

#[derive(Deserialize)]
struct NdcForm {
    #[serde(default)]
    currency: String,
    #[serde(default)]
    amount: String,
}

async fn set_ndc(
    State(app): State<App>,
    Path(fsp): Path<String>,
    Posted(session, form): Posted<NdcForm>,
) -> Response {
    let back = format!("/participants/{fsp}");
    let set = async {
        let set = app
            .ops
            .set_net_debit_cap(call(
                &session,
                SetNetDebitCapRequest {
                    fsp_id: fsp.clone(),
                    currency: form.currency.clone(),
                    net_debit_cap: form.amount.trim().to_string(),
                },
            ))
            .await?
            .into_inner();
        let amount = app.shown(&session, &set.net_debit_cap, &set.currency).await;
        Ok(done(
            &session,
            "done_ndc",
            &[
                ("fsp", &fsp),
                ("currency", &set.currency),
                ("amount", &amount),
            ],
            &back,
        ))
    };
    answer(&session, &back, set.await)
}

#[derive(Deserialize)]
struct ActiveForm {
    #[serde(default)]
    active: String,
}

async fn set_active(
    State(app): State<App>,
    Path(fsp): Path<String>,
    Posted(session, form): Posted<ActiveForm>,
) -> Response {
    let back = format!("/participants/{fsp}");
    let active = form.active == "true";
    let set = async {
        app.ops
            .set_participant_active(call(
                &session,
                SetParticipantActiveRequest {
                    fsp_id: fsp.clone(),
                    active,
                },
            ))
            .await?;
        let state = text(session.lang, if active { "active" } else { "inactive" });
        Ok(done(
            &session,
            "done_active",
            &[("fsp", &fsp), ("state", &state)],
            &back,
        ))
    };
    answer(&session, &back, set.await)
}

#[derive(Deserialize)]
struct EndpointForm {
    #[serde(default)]
    url: String,
}

async fn set_endpoint(
    State(app): State<App>,
    Path(fsp): Path<String>,
    Posted(session, form): Posted<EndpointForm>,
) -> Response {
    let back = format!("/participants/{fsp}");
    let set = async {
        let info = app
            .ops
            .set_endpoint(call(
                &session,
                SetEndpointRequest {
                    fsp_id: fsp.clone(),
                    url: form.url.trim().to_string(),
                },
            ))
            .await?
            .into_inner();
        Ok(done(
            &session,
            "done_endpoint",
            &[("fsp", &fsp), ("url", &info.endpoint)],
            &back,
        ))
    };
    answer(&session, &back, set.await)
}

/// A movement of a participant's funds, as the forms name it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum FundsAction {
    In,
    OutReserve,
    OutCommit,
    OutAbort,
}

impl FundsAction {
    fn of(path: &str) -> Option<FundsAction> {
        Some(match path {
            "in" => FundsAction::In,
            "out-reserve" => FundsAction::OutReserve,
            "out-commit" => FundsAction::OutCommit,
            "out-abort" => FundsAction::OutAbort,
            _ => return None,
        })
    }

    fn path(self) -> &'static str {
        match self {
            FundsAction::In => "in",
            FundsAction::OutReserve => "out-reserve",
            FundsAction::OutCommit => "out-commit",
            FundsAction::OutAbort => "out-abort",
        }
    }

    /// The catalog keys of its question and of its answer.
    fn keys(self) -> (&'static str, &'static str) {
        match self {
            FundsAction::In => ("confirm_funds_in", "done_funds_in"),
            FundsAction::OutReserve => ("confirm_funds_out_reserve", "done_funds_out_reserve"),
            FundsAction::OutCommit => ("confirm_funds_out_commit", "done_funds_out_commit"),
            FundsAction::OutAbort => ("confirm_funds_out_abort", "done_funds_out_abort"),
        }
    }

    /// Whether it starts a movement (its amount comes from the form) or
    /// acts on a reserved one (its amount is the reservation's).
    fn starts(self) -> bool {
        matches!(self, FundsAction::In | FundsAction::OutReserve)
    }
}

#[derive(Deserialize)]
struct FundsForm {
    #[serde(default)]
    currency: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    reason: String,
    /// A new movement's id is chosen when the confirmation is shown: the
    /// funds' idempotency key. A commit or abort names its reservation.
    #[serde(default)]
    funds_id: String,
}

fn unknown_action(session: &Session, back: &str) -> Response {
    pages::message(
        StatusCode::NOT_FOUND,
        session.lang,
        Some(session),
        &text(session.lang, "not_found"),
        back,
    )
}

/// The confirmation of a funds movement: what it is, with its amount and
/// currency, and a form that makes it.
async fn funds_confirm(
    State(app): State<App>,
    Path((fsp, action)): Path<(String, String)>,
    Posted(session, form): Posted<FundsForm>,
) -> Response {
    let back = format!("/participants/{fsp}");
    let Some(action) = FundsAction::of(&action) else {
        return unknown_action(&session, &back);
    };
    let confirm = async {
        let (funds_id, money) = if action.starts() {
            (
                uuid::Uuid::new_v4().to_string(),
                Money {
                    amount: form.amount.trim().to_string(),
                    currency: form.currency.clone(),
                },
            )
        } else {
            // The reservation as the switch holds it, not as the form says.
            let reserved = reserved_funds(&app, &session, &fsp, &form.funds_id).await?;
            (reserved.funds_id, reserved.amount.unwrap_or_default())
        };
        let shown = app.shown(&session, &money.amount, &money.currency).await;
        let (question, _) = action.keys();
        let fields = [
            ("currency", money.currency.as_str()),
            ("amount", money.amount.as_str()),
            ("reason", form.reason.as_str()),
            ("funds_id", funds_id.as_str()),
        ];
        Ok(pages::confirm(
            &session,
            &crate::catalog::fill(session.lang, question, &[("amount", &shown), ("fsp", &fsp)]),
            &format!("/participants/{fsp}/funds/{}/confirmed", action.path()),
            &fields,
            &back,
        ))
    };
    answer(&session, &back, confirm.await)
}

/// The funds outs of `fsp` reserved and awaiting commit or abort.
async fn reserved_of(
    app: &App,
    session: &Session,
    fsp: &str,
) -> Result<Vec<FundsResult>, tonic::Status> {
    Ok(app
        .ops
        .list_funds(call(
            session,
            ListFundsRequest {
                fsp_id: fsp.to_string(),
                state: FundsState::Reserved as i32,
                page: Some(PageRequest {
                    page_size: RESERVED_FUNDS_MAX,
                    page_token: String::new(),
                }),
            },
        ))
        .await?
        .into_inner()
        .funds)
}

/// The reserved funds out `funds_id` of `fsp`.
async fn reserved_funds(
    app: &App,
    session: &Session,
    fsp: &str,
    funds_id: &str,
) -> Result<FundsResult, tonic::Status> {
    reserved_of(app, session, fsp)
        .await?
        .into_iter()
        .find(|f| f.funds_id == funds_id)
        .ok_or_else(|| {
            tonic::Status::not_found(format!("{fsp} has no reserved funds out {funds_id}"))
        })
}

async fn funds(
    State(app): State<App>,
    Path((fsp, action)): Path<(String, String)>,
    Posted(session, form): Posted<FundsForm>,
) -> Response {
    let back = format!("/participants/{fsp}");
    let Some(action) = FundsAction::of(&action) else {
        return unknown_action(&session, &back);
    };
    let moved = async {
        let result = if action.starts() {
            let request = call(
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
            );
            if action == FundsAction::In {
                app.ops.funds_in(request).await?
            } else {
                app.ops.funds_out_reserve(request).await?
            }
        } else {
            let request = call(
                &session,
                FundsActionRequest {
                    funds_id: form.funds_id.clone(),
                    reason: form.reason.clone(),
                },
            );
            if action == FundsAction::OutCommit {
                app.ops.funds_out_commit(request).await?
            } else {
                app.ops.funds_out_abort(request).await?
            }
        };
        let money = result.into_inner().amount.unwrap_or_default();
        let amount = app.shown(&session, &money.amount, &money.currency).await;
        let (_, answer_key) = action.keys();
        Ok(done(
            &session,
            answer_key,
            &[("fsp", &fsp), ("amount", &amount)],
            &back,
        ))
    };
    answer(&session, &back, moved.await)
}
