//! The transfers pages: a search by id, participant, state, error code
//! and time range, and one transfer's detail with its postings.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use harambee_proto::v1::operator_api_server::OperatorApi;
use harambee_proto::v1::*;
use maud::{Markup, html};
use serde::Deserialize;

use crate::catalog::{Lang, fill, text};
use crate::money;
use crate::pages::{self, account_type, name_of, scale_of, time_of, transfer_state};
use crate::sessions::Session;
use crate::{App, Signed, answer, call};

/// Transfers one page of the search shows.
pub const TRANSFERS_PER_PAGE: u32 = 50;
/// Postings the detail of one transfer shows (a transfer makes two or
/// three).
pub const POSTINGS_SHOWN_MAX: u32 = 100;

pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route("/transfers", get(search))
        .route("/transfers/{id}", get(detail))
}

/// The search form's fields, as the browser sends them in the query.
#[derive(Deserialize, Default)]
struct Search {
    #[serde(default)]
    id: String,
    #[serde(default)]
    fsp: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    code: String,
    /// `YYYY-MM-DDTHH:MM`, UTC (an `<input type="datetime-local">`).
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    page: String,
}

/// A `YYYY-MM-DDTHH:MM[:SS]` time, read as UTC.
fn parse_time(text: &str) -> Option<prost_types::Timestamp> {
    let (date, clock) = text.trim().split_once('T')?;
    let mut d = date.split('-').map(str::parse::<i32>);
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let mut c = clock.split(':').map(str::parse::<u8>);
    let (h, mi) = (c.next()?.ok()?, c.next()?.ok()?);
    let s = c.next().transpose().ok()?.unwrap_or(0);
    let date = time::Date::from_calendar_date(
        y,
        time::Month::try_from(u8::try_from(m).ok()?).ok()?,
        u8::try_from(day).ok()?,
    )
    .ok()?;
    let at = time::PrimitiveDateTime::new(date, time::Time::from_hms(h, mi, s).ok()?);
    Some(prost_types::Timestamp {
        seconds: at.assume_utc().unix_timestamp(),
        nanos: 0,
    })
}

fn state_of(text: &str) -> TransferState {
    match text {
        "RESERVED" => TransferState::Reserved,
        "COMMITTED" => TransferState::Committed,
        "ABORTED" => TransferState::Aborted,
        _ => TransferState::Unspecified,
    }
}

async fn search(
    State(app): State<App>,
    Signed(session): Signed,
    Query(q): Query<Search>,
) -> Response {
    // One id: its detail.
    let id = q.id.trim();
    if !id.is_empty() {
        if id.len() <= 64 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Redirect::to(&format!("/transfers/{id}")).into_response();
        }
        return answer(
            &session,
            "/transfers",
            Err(tonic::Status::invalid_argument(text(
                session.lang,
                "bad_transfer_id",
            ))),
        );
    }
    let found = async {
        let scales = app.scales(&session).await?;
        let bad_time = |field: &str| {
            tonic::Status::invalid_argument(fill(session.lang, "bad_time", &[("field", field)]))
        };
        let from = match q.from.trim() {
            "" => None,
            t => Some(parse_time(t).ok_or_else(|| bad_time("from"))?),
        };
        let to = match q.to.trim() {
            "" => None,
            t => Some(parse_time(t).ok_or_else(|| bad_time("to"))?),
        };
        let error_code = match q.code.trim() {
            "" => 0,
            c => c
                .parse::<u32>()
                .map_err(|_| tonic::Status::invalid_argument(text(session.lang, "bad_code")))?,
        };
        let listed = app
            .ops
            .list_transfers(call(
                &session,
                ListTransfersRequest {
                    fsp_id: q.fsp.trim().to_string(),
                    state: state_of(&q.state) as i32,
                    from,
                    to,
                    window_id: 0,
                    page: Some(PageRequest {
                        page_size: TRANSFERS_PER_PAGE,
                        page_token: q.page.clone(),
                    }),
                    error_code,
                },
            ))
            .await?
            .into_inner();
        let next = listed.page.map(|p| p.next_page_token).unwrap_or_default();
        Ok(search_page(&session, &scales, &q, &listed.transfers, &next))
    };
    answer(&session, "/transfers", found.await)
}

/// The query of the search `q` on the page after `token`.
fn next_link(q: &Search, token: &str) -> String {
    let pairs = [
        ("fsp", q.fsp.as_str()),
        ("state", q.state.as_str()),
        ("code", q.code.as_str()),
        ("from", q.from.as_str()),
        ("to", q.to.as_str()),
        ("page", token),
    ];
    let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
    format!("/transfers?{query}")
}

fn search_form(lang: Lang, q: &Search) -> Markup {
    html! {
        form method="get" action="/transfers" class="stack" role="search" {
            label for="id" { (text(lang, "col_transfer")) }
            input id="id" name="id" size="40" value=(q.id);
            label for="fsp" { (text(lang, "col_participant")) }
            input id="fsp" name="fsp" value=(q.fsp);
            label for="state" { (text(lang, "col_state")) }
            select id="state" name="state" {
                option value="" { (text(lang, "any")) }
                @for s in ["RESERVED", "COMMITTED", "ABORTED"] {
                    option value=(s) selected[q.state == s] { (s) }
                }
            }
            label for="code" { (text(lang, "col_code")) }
            input id="code" name="code" inputmode="numeric" size="6" value=(q.code);
            label for="from" { (text(lang, "from_utc")) }
            input id="from" name="from" type="datetime-local" value=(q.from);
            label for="to" { (text(lang, "to_utc")) }
            input id="to" name="to" type="datetime-local" value=(q.to);
            p { button type="submit" { (text(lang, "search")) } }
        }
    }
}

fn search_page(
    session: &Session,
    scales: &HashMap<String, u32>,
    q: &Search,
    transfers: &[TransferResult],
    next: &str,
) -> Response {
    let lang = session.lang;
    let amount = |v: &str, c: &str| money::format(v, c, scale_of(scales, c), lang);
    let body = html! {
        h1 { (text(lang, "transfers_search_heading")) }
        (search_form(lang, q))
        @if transfers.is_empty() { p { (text(lang, "no_transfers")) } }
        @else {
            table {
                thead { tr {
                    th scope="col" { (text(lang, "col_transfer")) }
                    th scope="col" { (text(lang, "col_payer")) }
                    th scope="col" { (text(lang, "col_payee")) }
                    th scope="col" class="num" { (text(lang, "col_amount")) }
                    th scope="col" { (text(lang, "col_state")) }
                    th scope="col" { (text(lang, "col_code")) }
                    th scope="col" { (text(lang, "col_prepared")) }
                } }
                tbody {
                    @for t in transfers {
                        @let m = t.amount.clone().unwrap_or_default();
                        tr data-transfer=(t.transfer_id) {
                            td { a href=(format!("/transfers/{}", t.transfer_id)) { code { (t.transfer_id) } } }
                            td { (t.payer_fsp) }
                            td { (t.payee_fsp) }
                            td class="num" { (amount(&m.amount, &m.currency)) }
                            td data-field="state" { (transfer_state(t.state)) }
                            td data-field="code" { (t.error.as_ref().map(|e| e.error_code.as_str()).unwrap_or("")) }
                            td { (time_of(t.prepared.as_ref())) }
                        }
                    }
                }
            }
            @if !next.is_empty() {
                p { a href=(next_link(q, next)) rel="next" { (text(lang, "next_page")) } }
            }
        }
    };
    pages::page(session, body)
}

async fn detail(
    State(app): State<App>,
    Signed(session): Signed,
    Path(id): Path<String>,
) -> Response {
    let loaded = async {
        let scales = app.scales(&session).await?;
        let t = app
            .ops
            .get_transfer(call(
                &session,
                GetTransferRequest {
                    transfer_id: id.clone(),
                },
            ))
            .await?
            .into_inner();
        let postings = app
            .ops
            .list_postings(call(
                &session,
                ListPostingsRequest {
                    fsp_id: String::new(),
                    reference: t.transfer_id.clone(),
                    page: Some(PageRequest {
                        page_size: POSTINGS_SHOWN_MAX,
                        page_token: String::new(),
                    }),
                },
            ))
            .await?
            .into_inner()
            .postings;
        Ok(detail_page(&session, &scales, &t, &postings))
    };
    answer(&session, "/transfers", loaded.await)
}

fn phase(p: i32) -> String {
    PostingPhase::try_from(p)
        .map(|p| name_of(p.as_str_name(), "POSTING_PHASE_"))
        .unwrap_or_default()
}

fn detail_page(
    session: &Session,
    scales: &HashMap<String, u32>,
    t: &TransferResult,
    postings: &[PostingEntry],
) -> Response {
    let lang = session.lang;
    let amount = |v: &str, c: &str| money::format(v, c, scale_of(scales, c), lang);
    let m = t.amount.clone().unwrap_or_default();
    let body = html! {
        h1 { (text(lang, "transfer_heading")) " " code { (t.transfer_id) } }
        table class="facts" {
            tbody {
                tr { th scope="row" { (text(lang, "col_state")) } td data-field="state" { (transfer_state(t.state)) } }
                tr { th scope="row" { (text(lang, "col_payer")) } td { a href=(format!("/participants/{}", t.payer_fsp)) { (t.payer_fsp) } } }
                tr { th scope="row" { (text(lang, "col_payee")) } td { a href=(format!("/participants/{}", t.payee_fsp)) { (t.payee_fsp) } } }
                tr { th scope="row" { (text(lang, "col_amount")) } td data-field="amount" { (amount(&m.amount, &m.currency)) } }
                tr { th scope="row" { (text(lang, "col_prepared")) } td { (time_of(t.prepared.as_ref())) } }
                tr { th scope="row" { (text(lang, "col_expiration")) } td { (time_of(t.expiration.as_ref())) } }
                tr { th scope="row" { (text(lang, "col_completed")) } td { (time_of(t.completed.as_ref())) } }
                @if let Some(e) = &t.error {
                    tr { th scope="row" { (text(lang, "col_error")) } td data-field="error" { (e.error_code) " " (e.error_description) } }
                }
                tr { th scope="row" { (text(lang, "col_quote")) } td { code { (t.quote_id) } } }
                tr { th scope="row" { (text(lang, "col_condition")) } td { code { (t.condition) } } }
                @if !t.fulfilment.is_empty() {
                    tr { th scope="row" { (text(lang, "col_fulfilment")) } td { code { (t.fulfilment) } } }
                }
            }
        }
        section aria-labelledby="postings" {
            h2 id="postings" { (text(lang, "postings_heading")) }
            p { (text(lang, "postings_help")) }
            @if postings.is_empty() { p { (text(lang, "no_postings")) } }
            @else {
                table {
                    thead { tr {
                        th scope="col" { (text(lang, "col_log")) }
                        th scope="col" { (text(lang, "col_event")) }
                        th scope="col" { (text(lang, "col_debit")) }
                        th scope="col" { (text(lang, "col_credit")) }
                        th scope="col" class="num" { (text(lang, "col_amount")) }
                        th scope="col" { (text(lang, "col_phase")) }
                        th scope="col" { (text(lang, "col_time")) }
                    } }
                    tbody {
                        @for p in postings {
                            tr data-posting=(format!("{}.{}", p.log_offset, p.index)) {
                                td { (p.log_offset) "." (p.index) }
                                td { (p.event) }
                                td { (p.debit_owner) " " (account_type(p.debit_type)) " #" (p.debit_account) }
                                td { (p.credit_owner) " " (account_type(p.credit_type)) " #" (p.credit_account) }
                                td class="num" { (amount(&p.amount, &p.currency)) }
                                td { (phase(p.phase)) }
                                td { (time_of(p.time.as_ref())) }
                            }
                        }
                    }
                }
            }
        }
        p { a href="/transfers" { (text(lang, "back")) } }
    };
    pages::page(session, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_as_utc() {
        assert_eq!(parse_time("1970-01-01T00:01").map(|t| t.seconds), Some(60));
        assert_eq!(
            parse_time("2026-12-03T17:28:07").map(|t| t.seconds),
            Some(1_796_318_887)
        );
        assert_eq!(parse_time("2026-13-03T17:28"), None);
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time("2026-12-03"), None);
    }
}
