//! The audit page: the ledger digest and whether it balances, the log's
//! head and its hash chain verified, and what operators did (who, in
//! which role, what, when).

use axum::Router;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use harambee_proto::v1::operator_api_server::OperatorApi;
use harambee_proto::v1::*;
use maud::html;
use serde::Deserialize;

use crate::catalog::{fill, text};
use crate::pages::{self, time_of};
use crate::{App, Signed, answer, call};

/// Operator actions the page lists.
pub const ACTIONS_SHOWN_MAX: u32 = 200;

pub(crate) fn routes() -> Router<App> {
    Router::new().route("/audit", get(audit))
}

#[derive(Deserialize, Default)]
struct AuditQuery {
    #[serde(default)]
    operator: String,
}

async fn audit(
    State(app): State<App>,
    Signed(session): Signed,
    Query(q): Query<AuditQuery>,
) -> Response {
    let loaded = async {
        let digest = app
            .ops
            .get_ledger_digest(call(&session, GetLedgerDigestRequest {}))
            .await?
            .into_inner();
        let chain = app
            .ops
            .verify_log_chain(call(&session, VerifyLogChainRequest {}))
            .await?
            .into_inner();
        let actions = app
            .ops
            .list_operator_actions(call(
                &session,
                ListOperatorActionsRequest {
                    operator: q.operator.trim().to_string(),
                    limit: ACTIONS_SHOWN_MAX,
                },
            ))
            .await?
            .into_inner();
        let lang = session.lang;
        let yes_no = |b: bool| text(lang, if b { "yes" } else { "no" });
        let body = html! {
            h1 { (text(lang, "audit_heading")) }
            section aria-labelledby="ledger" {
                h2 id="ledger" { (text(lang, "ledger_heading")) }
                table class="facts" { tbody {
                    tr { th scope="row" { (text(lang, "digest")) } td data-field="digest" { code { (digest.digest) } } }
                    tr { th scope="row" { (text(lang, "digest_offset")) } td data-field="log_offset" { (digest.log_offset) } }
                    tr { th scope="row" { (text(lang, "balanced")) } td data-field="balanced" { (yes_no(digest.balanced)) } }
                    tr { th scope="row" { (text(lang, "col_transfers")) } td { (digest.transfer_count) } }
                    tr { th scope="row" { (text(lang, "writer")) } td { (yes_no(digest.writer)) " " (digest.writer_node) } }
                } }
            }
            section aria-labelledby="chain" {
                h2 id="chain" { (text(lang, "chain_heading")) }
                @if !chain.available {
                    p { (text(lang, "chain_unavailable")) }
                } @else {
                    @if chain.intact {
                        p class="msg" role="status" data-field="chain" {
                            (fill(lang, if chain.complete { "chain_intact" } else { "chain_intact_so_far" }, &[("records", &chain.records.to_string())]))
                        }
                    } @else {
                        p class="msg bad" role="alert" data-field="chain" {
                            (fill(lang, "chain_broken", &[("offset", &chain.break_offset.to_string()), ("why", &chain.break_description)]))
                        }
                    }
                    table class="facts" { tbody {
                        tr { th scope="row" { (text(lang, "chain_head")) } td data-field="head" { code { (chain.head) } } }
                        tr { th scope="row" { (text(lang, "chain_records")) } td data-field="records" { (chain.records) } }
                        tr { th scope="row" { (text(lang, "chain_void")) } td { (chain.void_records) } }
                        tr { th scope="row" { (text(lang, "chain_verified")) } td { (time_of(chain.verified.as_ref())) } }
                    } }
                }
            }
            section aria-labelledby="actions" {
                h2 id="actions" { (text(lang, "actions_heading")) }
                p { (fill(lang, "actions_help", &[("kept", &actions.kept.to_string())])) }
                form method="get" action="/audit" role="search" {
                    label for="operator" { (text(lang, "col_operator")) }
                    input id="operator" name="operator" value=(q.operator);
                    " " button type="submit" { (text(lang, "search")) }
                }
                @if actions.actions.is_empty() { p { (text(lang, "none_yet")) } }
                @else {
                    table {
                        thead { tr {
                            th scope="col" { (text(lang, "col_time")) }
                            th scope="col" { (text(lang, "col_operator")) }
                            th scope="col" { (text(lang, "col_role")) }
                            th scope="col" { (text(lang, "col_what")) }
                            th scope="col" { (text(lang, "col_details")) }
                            th scope="col" { (text(lang, "col_log")) }
                        } }
                        tbody {
                            @for a in &actions.actions {
                                tr data-action=(a.action) {
                                    td { (time_of(a.time.as_ref())) }
                                    td data-field="operator" { (a.operator) }
                                    td { (a.role) }
                                    td { (a.action) }
                                    td { code class="details" { (a.details) } }
                                    td { (a.log_offset) }
                                }
                            }
                        }
                    }
                }
            }
        };
        Ok(pages::page(&session, body))
    };
    answer(&session, "/", loaded.await)
}
