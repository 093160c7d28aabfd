//! The console's HTML (maud: every value escaped). Pages work without
//! JavaScript. The overview stays live: with JavaScript, its tables are
//! replaced in place from a server-sent event stream ([`crate::live`]);
//! without, the page reloads itself every few seconds.

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use harambee_proto::v1::*;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::catalog::{Lang, fill, text};
use crate::money;
use crate::sessions::Session;
use crate::traffic::{MINUTES_SHOWN, Summary};

/// A limit used this much or more is flagged.
pub const NEAR_LIMIT_PERCENT: u32 = 80;

const STYLE: &str = r#"
body{font-family:system-ui,sans-serif;margin:0;color:#1b1f23;background:#f6f7f9;font-size:15px}
header{background:#123;color:#fff;padding:.6rem 1rem;display:flex;gap:1rem;align-items:center;flex-wrap:wrap}
header a{color:#fff;margin-right:.6rem}header .who{margin-left:auto}
main{padding:1rem;max-width:1200px}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{padding:.35rem .5rem;border-bottom:1px solid #dde;text-align:left;vertical-align:middle}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
meter{width:8rem}
.near{background:#fff3cd}.flag{color:#8a5300;font-weight:600}
.msg{background:#fff;padding:1rem;border-left:4px solid #123}
.bad{border-left-color:#b00020}
form.inline{display:inline}
label{display:block;margin:.4rem 0 .1rem}
input,select,button{font:inherit;padding:.3rem .5rem}
button{cursor:pointer}
:focus-visible{outline:3px solid #f90;outline-offset:2px}
section{margin:1.2rem 0}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
form.stack{background:#fff;padding:.6rem;margin:.6rem 0}
.details{word-break:break-all;font-size:.85em}
table.facts{width:auto}table.facts th{padding-right:1.2rem}
"#;

fn layout(lang: Lang, session: Option<&Session>, live: bool, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if live {
                    noscript { meta http-equiv="refresh" content=(crate::live::INTERVAL_MS / 1000); }
                    script src=(crate::live::SCRIPT_PATH) defer {}
                }
                title { (text(lang, "title")) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    strong { (text(lang, "title")) }
                    @if let Some(s) = session {
                        nav {
                            a href="/" { (text(lang, "nav_overview")) } " "
                            a href="/transfers" { (text(lang, "nav_transfers")) } " "
                            a href="/settlement" { (text(lang, "nav_settlement")) } " "
                            a href="/audit" { (text(lang, "nav_audit")) }
                        }
                        span class="who" { (fill(lang, "signed_in_as", &[("operator", &s.operator)])) }
                        form class="inline" method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(s.csrf);
                            button type="submit" { (text(lang, "logout")) }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

pub(crate) fn respond(status: StatusCode, page: Markup) -> Response {
    let mut response = (status, Html(page.into_string())).into_response();
    let headers = response.headers_mut();
    // No framing (clickjacking), no caching of operators' pages, no
    // guessing of types, and only this console's own resources (its one
    // script, its event stream, no inline script). The
    // referrer stays on this origin: a browser told `no-referrer` sends
    // `Origin: null` with a form, which the origin check must refuse.
    headers.insert(
        "x-frame-options",
        axum::http::HeaderValue::from_static("DENY"),
    );
    headers.insert(
        "content-security-policy",
        axum::http::HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    headers.insert(
        "cache-control",
        axum::http::HeaderValue::from_static("no-store"),
    );
    headers.insert(
        "x-content-type-options",
        axum::http::HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        "referrer-policy",
        axum::http::HeaderValue::from_static("same-origin"),
    );
    response
}

pub fn login(status: StatusCode, lang: Lang, note: Option<&str>, certificate: bool) -> Response {
    let body = html! {
        h1 { (text(lang, "login_heading")) }
        @if let Some(note) = note { p class="msg bad" role="alert" { (note) } }
        form method="post" action="/login" {
            label for="token" { (text(lang, "login_token")) }
            input id="token" name="token" type="password" autocomplete="current-password" autofocus;
            label for="lang" { (text(lang, "login_language")) }
            select id="lang" name="lang" {
                @for l in Lang::ALL {
                    option value=(l.code()) selected[l == lang] { (text(l, "lang_name")) }
                }
            }
            p { button type="submit" { (text(lang, "login_submit")) } }
        }
        @if certificate {
            form method="post" action="/login" {
                input type="hidden" name="certificate" value="1";
                input type="hidden" name="lang" value=(lang.code());
                button type="submit" { (text(lang, "login_certificate")) }
            }
        }
    };
    respond(status, layout(lang, None, false, body))
}

/// A page that says one thing (done, refused) with a way back.
pub fn message(
    status: StatusCode,
    lang: Lang,
    session: Option<&Session>,
    what: &str,
    back: &str,
) -> Response {
    let class = if status.is_success() {
        "msg"
    } else {
        "msg bad"
    };
    let body = html! {
        p class=(class) role=(if status.is_success() { "status" } else { "alert" }) { (what) }
        p { a href=(back) { (text(lang, "back")) } }
    };
    respond(status, layout(lang, session, false, body))
}

pub(crate) fn scale_of(scales: &HashMap<String, u32>, currency: &str) -> u32 {
    scales.get(currency).copied().unwrap_or(2)
}

/// A page of the signed-in operator.
pub(crate) fn page(session: &Session, body: Markup) -> Response {
    respond(
        StatusCode::OK,
        layout(session.lang, Some(session), false, body),
    )
}

/// A protobuf timestamp as `2026-12-03 17:28:07 UTC` (empty if unset).
pub(crate) fn time_of(t: Option<&prost_types::Timestamp>) -> String {
    t.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t.seconds).ok())
        .map(|t| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        })
        .unwrap_or_default()
}

/// An enum value's protobuf name without its prefix
/// (`TRANSFER_STATE_COMMITTED` → `COMMITTED`).
pub(crate) fn name_of(full: &str, prefix: &str) -> String {
    full.trim_start_matches(prefix).to_string()
}

/// A transfer state's name (`COMMITTED`).
pub(crate) fn transfer_state(s: i32) -> String {
    TransferState::try_from(s)
        .map(|s| name_of(s.as_str_name(), "TRANSFER_STATE_"))
        .unwrap_or_default()
}

/// An account type's name (`POSITION`).
pub(crate) fn account_type(t: i32) -> String {
    AccountType::try_from(t)
        .map(|t| name_of(t.as_str_name(), "ACCOUNT_TYPE_"))
        .unwrap_or_default()
}

/// What of a limit a participant uses: its position and reservations
/// against the smaller of its liquidity and its net debit cap.
fn used(p: &PositionInfo) -> u32 {
    use rust_decimal::Decimal;
    let n = |s: &str| s.parse::<Decimal>().unwrap_or_default();
    let used = n(&p.position) + n(&p.reserved);
    let limit = n(&p.liquidity).min(n(&p.net_debit_cap));
    money::percent_used(&used.to_string(), &limit.to_string())
}

/// The overview page: its heading, and the part that stays live.
pub fn overview(session: &Session, live: Markup) -> Response {
    let lang = session.lang;
    let body = html! {
        h1 { (text(lang, "overview_heading")) }
        p { (text(lang, "overview_help")) }
        div id=(crate::live::PART_ID) { (live) }
    };
    respond(StatusCode::OK, layout(lang, Some(session), true, body))
}

/// The overview's live part: every participant's positions and limits,
/// the traffic, and when they were read (`now_ms`).
pub fn overview_live(
    session: &Session,
    scales: &HashMap<String, u32>,
    rows: &[(ParticipantInfo, Vec<PositionInfo>)],
    traffic: &Summary,
    now_ms: i64,
) -> Markup {
    let lang = session.lang;
    let amount = |v: &str, c: &str| money::format(v, c, scale_of(scales, c), lang);
    let read_at = prost_types::Timestamp {
        seconds: now_ms.div_euclid(1000),
        nanos: 0,
    };
    html! {
        p class="updated" data-field="updated" {
            (fill(lang, "overview_updated", &[("time", &time_of(Some(&read_at)))]))
        }
        @if rows.is_empty() { p { (text(lang, "none_yet")) } }
        @else {
            table {
                thead { tr {
                    th scope="col" { (text(lang, "col_participant")) }
                    th scope="col" { (text(lang, "col_currency")) }
                    th scope="col" class="num" { (text(lang, "col_position")) }
                    th scope="col" class="num" { (text(lang, "col_reserved")) }
                    th scope="col" class="num" { (text(lang, "col_liquidity")) }
                    th scope="col" class="num" { (text(lang, "col_ndc")) }
                    th scope="col" class="num" { (text(lang, "col_available")) }
                    th scope="col" { (text(lang, "col_used")) }
                    th scope="col" { (text(lang, "col_state")) }
                } }
                tbody {
                    @for (p, positions) in rows {
                        @for pos in positions {
                            @let share = used(pos);
                            @let near = share >= NEAR_LIMIT_PERCENT;
                            tr class=[near.then_some("near")] data-fsp=(p.fsp_id) data-currency=(pos.currency) {
                                th scope="row" { a href=(format!("/participants/{}", p.fsp_id)) { (p.fsp_id) } }
                                td { (pos.currency) }
                                td class="num" data-field="position" { (amount(&pos.position, &pos.currency)) }
                                td class="num" data-field="reserved" { (amount(&pos.reserved, &pos.currency)) }
                                td class="num" data-field="liquidity" { (amount(&pos.liquidity, &pos.currency)) }
                                td class="num" data-field="net_debit_cap" { (amount(&pos.net_debit_cap, &pos.currency)) }
                                td class="num" data-field="available" { (amount(&pos.available, &pos.currency)) }
                                td {
                                    meter min="0" max="100" low="50" high=(NEAR_LIMIT_PERCENT) optimum="0" value=(share) title=(format!("{share} %")) { (share) " %" }
                                    " " (share) " %"
                                    @if near { " " span class="flag" { (text(lang, "near_limit")) } }
                                }
                                td { (text(lang, if p.active { "active" } else { "inactive" })) }
                            }
                        }
                    }
                }
            }
        }
        (traffic_section(lang, traffic))
    }
}

/// Throughput per minute and outcomes by code, from the switch's metrics.
fn traffic_section(lang: Lang, traffic: &Summary) -> Markup {
    let peak = traffic.per_minute.iter().copied().max().unwrap_or(0).max(1);
    let minutes = traffic.per_minute.len();
    html! {
        section aria-labelledby="traffic" {
            h2 id="traffic" { (fill(lang, "traffic_heading", &[("minutes", &MINUTES_SHOWN.to_string())])) }
            @if !traffic.known { p { (text(lang, "traffic_unknown")) } }
            @else {
                p data-field="per_second" { (fill(lang, "traffic_now", &[("n", &traffic.per_second_now.to_string())])) }
                table {
                    thead { tr {
                        th scope="col" { (text(lang, "col_minute")) }
                        th scope="col" class="num" { (text(lang, "col_transfers")) }
                        th scope="col" { span class="sr" { (text(lang, "col_transfers")) } }
                    } }
                    tbody {
                        @for (i, n) in traffic.per_minute.iter().enumerate() {
                            tr {
                                td { (fill(lang, "minutes_ago", &[("n", &(minutes - i).to_string())])) }
                                td class="num" { (n) }
                                td { meter min="0" max=(peak) value=(n) { (n) } }
                            }
                        }
                    }
                }
                h3 { (text(lang, "outcomes_heading")) }
                @if traffic.outcomes.is_empty() { p { (text(lang, "none_yet")) } }
                @else {
                    table {
                        thead { tr {
                            th scope="col" { (text(lang, "col_outcome")) }
                            th scope="col" class="num" { (text(lang, "col_transfers")) }
                        } }
                        tbody {
                            @for (outcome, n) in &traffic.outcomes {
                                tr data-outcome=(outcome) {
                                    td { (outcome_text(lang, outcome)) }
                                    td class="num" { (n) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// An outcome as people read it: committed, or the FSPIOP code and what
/// it means.
fn outcome_text(lang: Lang, outcome: &str) -> String {
    if outcome == "committed" {
        return text(lang, "outcome_committed");
    }
    match outcome
        .parse::<u16>()
        .ok()
        .and_then(harambee_proto::fspiop::ErrorCode::from_number)
    {
        Some(code) => format!("{outcome} {}", code.message()),
        None => outcome.to_string(),
    }
}

/// What the participant page shows.
pub struct ParticipantPage {
    pub scales: HashMap<String, u32>,
    pub info: ParticipantInfo,
    pub positions: Vec<PositionInfo>,
    pub accounts: Vec<Account>,
    /// Funds outs reserved, awaiting commit or abort.
    pub reserved: Vec<FundsResult>,
    pub transfers: Vec<TransferResult>,
}

pub fn participant(session: &Session, page: &ParticipantPage) -> Response {
    let lang = session.lang;
    let fsp = &page.info.fsp_id;
    let amount = |v: &str, c: &str| money::format(v, c, scale_of(&page.scales, c), lang);
    let body = html! {
        h1 { (fill(lang, "participant_heading", &[("fsp", fsp)])) }
        p {
            (page.info.name) " — " (text(lang, if page.info.active { "active" } else { "inactive" })) " "
            form class="inline" method="post" action=(format!("/participants/{fsp}/active")) {
                input type="hidden" name="csrf" value=(session.csrf);
                input type="hidden" name="active" value=(if page.info.active { "false" } else { "true" });
                button type="submit" { (text(lang, if page.info.active { "deactivate" } else { "activate" })) }
            }
        }
        section {
            h2 { (text(lang, "limits_heading")) }
            table {
                thead { tr {
                    th scope="col" { (text(lang, "col_currency")) }
                    th scope="col" class="num" { (text(lang, "col_position")) }
                    th scope="col" class="num" { (text(lang, "col_reserved")) }
                    th scope="col" class="num" { (text(lang, "col_liquidity")) }
                    th scope="col" class="num" { (text(lang, "col_ndc")) }
                    th scope="col" class="num" { (text(lang, "col_available")) }
                } }
                tbody {
                    @for pos in &page.positions {
                        tr data-currency=(pos.currency) {
                            td { (pos.currency) }
                            td class="num" { (amount(&pos.position, &pos.currency)) }
                            td class="num" { (amount(&pos.reserved, &pos.currency)) }
                            td class="num" { (amount(&pos.liquidity, &pos.currency)) }
                            td class="num" data-field="net_debit_cap" { (amount(&pos.net_debit_cap, &pos.currency)) }
                            td class="num" { (amount(&pos.available, &pos.currency)) }
                        }
                    }
                }
            }
            @for pos in &page.positions {
                form method="post" action=(format!("/participants/{fsp}/net-debit-cap")) {
                    input type="hidden" name="csrf" value=(session.csrf);
                    input type="hidden" name="currency" value=(pos.currency);
                    label for=(format!("ndc-{}", pos.currency)) { (text(lang, "set_ndc")) " (" (pos.currency) ")" }
                    input id=(format!("ndc-{}", pos.currency)) name="amount" inputmode="decimal" required value=(pos.net_debit_cap);
                    " " button type="submit" { (text(lang, "set_ndc")) }
                }
            }
        }
        section {
            h2 { (text(lang, "funds_heading")) }
            p { (text(lang, "funds_help")) }
            @for pos in &page.positions {
                @for (action, label) in [("in", "funds_in"), ("out-reserve", "funds_out_reserve")] {
                    @let id = format!("{action}-{}", pos.currency);
                    form class="stack" method="post" action=(format!("/participants/{fsp}/funds/{action}")) {
                        input type="hidden" name="csrf" value=(session.csrf);
                        input type="hidden" name="currency" value=(pos.currency);
                        label for=(id) { (text(lang, label)) " — " (text(lang, "amount")) " (" (pos.currency) ")" }
                        input id=(id) name="amount" inputmode="decimal" required;
                        label for=(format!("{id}-reason")) { (text(lang, "funds_reason")) }
                        input id=(format!("{id}-reason")) name="reason" maxlength="256";
                        " " button type="submit" { (text(lang, label)) }
                    }
                }
            }
            h3 { (text(lang, "reserved_heading")) }
            @if page.reserved.is_empty() { p { (text(lang, "none_reserved")) } }
            @else {
                table {
                    thead { tr {
                        th scope="col" { (text(lang, "col_funds")) }
                        th scope="col" class="num" { (text(lang, "col_amount")) }
                        th scope="col" { (text(lang, "col_action")) }
                    } }
                    tbody {
                        @for f in &page.reserved {
                            @let m = f.amount.clone().unwrap_or_default();
                            tr data-funds=(f.funds_id) {
                                td { code { (f.funds_id) } }
                                td class="num" { (amount(&m.amount, &m.currency)) }
                                td {
                                    @for (action, label) in [("out-commit", "funds_out_commit"), ("out-abort", "funds_out_abort")] {
                                        form class="inline" method="post" action=(format!("/participants/{fsp}/funds/{action}")) {
                                            input type="hidden" name="csrf" value=(session.csrf);
                                            input type="hidden" name="funds_id" value=(f.funds_id);
                                            button type="submit" { (text(lang, label)) }
                                        }
                                        " "
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section {
            h2 { (text(lang, "endpoint_heading")) }
            form method="post" action=(format!("/participants/{fsp}/endpoint")) {
                input type="hidden" name="csrf" value=(session.csrf);
                label for="endpoint" { (text(lang, "endpoint_label")) }
                input id="endpoint" name="url" type="url" size="48" required value=(page.info.endpoint);
                " " button type="submit" { (text(lang, "endpoint_set")) }
            }
        }
        section {
            h2 { (text(lang, "accounts_heading")) }
            table {
                thead { tr {
                    th scope="col" { (text(lang, "col_account")) }
                    th scope="col" { (text(lang, "col_currency")) }
                    th scope="col" { (text(lang, "col_type")) }
                    th scope="col" class="num" { "Dr" }
                    th scope="col" class="num" { "Cr" }
                    th scope="col" class="num" { (text(lang, "col_pending")) " Dr" }
                    th scope="col" class="num" { (text(lang, "col_pending")) " Cr" }
                } }
                tbody {
                    @for a in &page.accounts {
                        tr {
                            td { (a.account_id) }
                            td { (a.currency) }
                            td { (account_type(a.r#type)) }
                            td class="num" { (amount(&a.debits_posted, &a.currency)) }
                            td class="num" { (amount(&a.credits_posted, &a.currency)) }
                            td class="num" { (amount(&a.debits_pending, &a.currency)) }
                            td class="num" { (amount(&a.credits_pending, &a.currency)) }
                        }
                    }
                }
            }
        }
        section {
            h2 { (text(lang, "transfers_heading")) }
            table {
                thead { tr {
                    th scope="col" { (text(lang, "col_transfer")) }
                    th scope="col" { (text(lang, "col_payer")) }
                    th scope="col" { (text(lang, "col_payee")) }
                    th scope="col" class="num" { (text(lang, "col_amount")) }
                    th scope="col" { (text(lang, "col_state")) }
                } }
                tbody {
                    @for t in &page.transfers {
                        @let m = t.amount.clone().unwrap_or_default();
                        tr {
                            td { a href=(format!("/transfers/{}", t.transfer_id)) { code { (t.transfer_id) } } }
                            td { (t.payer_fsp) }
                            td { (t.payee_fsp) }
                            td class="num" { (amount(&m.amount, &m.currency)) }
                            td { (transfer_state(t.state)) }
                        }
                    }
                }
            }
        }
    };
    respond(StatusCode::OK, layout(lang, Some(session), false, body))
}

/// A confirmation: `question` (what the action does, with its amount and
/// currency), and a form that posts `fields` to `action`.
pub fn confirm(
    session: &Session,
    question: &str,
    action: &str,
    fields: &[(&str, &str)],
    cancel: &str,
) -> Response {
    let lang = session.lang;
    let body = html! {
        h1 { (text(lang, "confirm_heading")) }
        p class="msg" { strong { (question) } }
        form method="post" action=(action) {
            input type="hidden" name="csrf" value=(session.csrf);
            @for (name, value) in fields {
                input type="hidden" name=(name) value=(value);
            }
            button type="submit" autofocus { (text(lang, "confirm")) }
            " "
            a href=(cancel) { (text(lang, "cancel")) }
        }
    };
    page(session, body)
}
