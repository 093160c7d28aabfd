//! Settlement reports, as JSON or CSV files: per-participant nets, the
//! bilateral matrix, and the transfers of the settlement's windows.

use harambee_proto::fspiop::{ErrorCode, FspiopError};
use harambee_proto::v1::{Report, ReportKind};
use harambee_settlement::SettlementId;
use serde_json::json;

use harambee_proto::convert::settlement_state;

use harambee_core::state::State;

/// One report of a settlement.
pub fn settlement_report(
    st: &State,
    id: SettlementId,
    kind: ReportKind,
    csv: bool,
) -> Result<Report, FspiopError> {
    let s = st.settlements.settlement(id).ok_or_else(|| {
        FspiopError::new(
            ErrorCode::ValidationError,
            format!("settlement {id} does not exist"),
        )
    })?;
    let c = s.currency;
    let name = |p: harambee_ledger::ParticipantId| {
        st.ledger
            .participant(p)
            .map(|x| x.name.clone())
            .unwrap_or_default()
    };
    let amount = |v: i128| st.ledger.decimal(c, v).to_string();
    let (slug, header, rows): (&str, &[&str], Vec<Vec<String>>) = match kind {
        ReportKind::NetPositions => (
            "net-positions",
            &["fsp_id", "currency", "net_amount", "state"],
            s.accounts
                .iter()
                .map(|(p, a)| {
                    vec![
                        name(*p),
                        c.to_string(),
                        amount(a.net),
                        settlement_state(a.state)
                            .as_str_name()
                            .trim_start_matches("SETTLEMENT_STATE_")
                            .to_string(),
                    ]
                })
                .collect(),
        ),
        ReportKind::BilateralMatrix => (
            "bilateral-matrix",
            &["payer_fsp", "payee_fsp", "currency", "amount"],
            // Each pair once, the debtor first.
            s.nets
                .bilateral
                .iter()
                .filter(|(_, v)| **v != 0)
                .map(|((a, b), v)| {
                    let (from, to) = if *v > 0 { (*a, *b) } else { (*b, *a) };
                    vec![name(from), name(to), c.to_string(), amount(v.abs())]
                })
                .collect(),
        ),
        ReportKind::Transfers => (
            "transfers",
            &[
                "window_id",
                "transfer_id",
                "payer_fsp",
                "payee_fsp",
                "currency",
                "amount",
                "committed_at_ms",
            ],
            s.windows
                .iter()
                .filter_map(|w| st.settlements.window(*w))
                .flat_map(|w| w.transfers.iter().map(move |t| (w.id, *t)))
                .filter_map(|(w, t)| {
                    let t = st.ledger.transfer(t)?;
                    Some(vec![
                        w.to_string(),
                        harambee_core::text::uuid_string(t.id.0),
                        name(t.payer),
                        name(t.payee),
                        c.to_string(),
                        amount(t.amount),
                        t.resolved_at_ms.to_string(),
                    ])
                })
                .collect(),
        ),
        ReportKind::Unspecified => {
            return Err(FspiopError::new(
                ErrorCode::ValidationError,
                "kind: required",
            ));
        }
    };
    let file = format!("settlement-{id}-{slug}");
    if csv {
        let mut text = header.join(",");
        text.push('\n');
        for row in &rows {
            let cells: Vec<String> = row.iter().map(|v| csv_cell(v)).collect();
            text.push_str(&cells.join(","));
            text.push('\n');
        }
        Ok(Report {
            content_type: "text/csv".into(),
            file_name: format!("{file}.csv"),
            content: text.into_bytes(),
        })
    } else {
        let records: Vec<serde_json::Value> = rows
            .iter()
            .map(|row| {
                serde_json::Value::Object(
                    header
                        .iter()
                        .zip(row)
                        .map(|(k, v)| (k.to_string(), json!(v)))
                        .collect(),
                )
            })
            .collect();
        let body = json!({
            "settlement_id": id.0,
            "currency": c.to_string(),
            "report": slug,
            "rows": records,
        });
        let content = serde_json::to_vec_pretty(&body).map_err(|e| {
            FspiopError::new(ErrorCode::InternalServerError, format!("report: {e}"))
        })?;
        Ok(Report {
            content_type: "application/json".into(),
            file_name: format!("{file}.json"),
            content,
        })
    }
}

/// A CSV cell, quoted when it holds a comma, a quote or a line break.
fn csv_cell(v: &str) -> String {
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}
