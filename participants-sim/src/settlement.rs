//! A settlement cycle as a central-bank settlement operator runs it through
//! the Operator API: close the open window of a currency, create a
//! deferred multilateral net settlement over it, take every participant's
//! account through PS_TRANSFERS_RECORDED, PS_TRANSFERS_RESERVED,
//! PS_TRANSFERS_COMMITTED and SETTLED, and fetch the net positions report.

use harambee_proto::v1::*;

use crate::network::Operator;

/// What one cycle did.
#[derive(Clone, Debug)]
pub struct Cycle {
    /// The window closed.
    pub window: SettlementWindow,
    /// The settlement as created (participants with their nets).
    pub created: Settlement,
    /// The settlement at the end (SETTLED).
    pub settled: Settlement,
    /// The net positions report, as CSV.
    pub net_positions_csv: String,
    /// The bilateral matrix, as CSV.
    pub bilateral_csv: String,
}

/// Runs one settlement cycle of `currency`. `on_step` is told each state
/// the settlement reaches.
pub async fn run_cycle(
    op: &mut Operator,
    currency: &str,
    model: SettlementModel,
    mut on_step: impl FnMut(SettlementState),
) -> anyhow::Result<Cycle> {
    let window = op
        .client
        .close_settlement_window(op.req(CloseSettlementWindowRequest {
            currency: currency.into(),
            reason: "settlement cycle".into(),
        }))
        .await?
        .into_inner();
    let created = op
        .client
        .create_settlement(op.req(CreateSettlementRequest {
            currency: currency.into(),
            model: model as i32,
            window_ids: vec![window.window_id],
            reason: "settlement cycle".into(),
        }))
        .await?
        .into_inner();
    let id = created.settlement_id;
    for step in [
        SettlementState::PsTransfersRecorded,
        SettlementState::PsTransfersReserved,
        SettlementState::PsTransfersCommitted,
        SettlementState::Settled,
    ] {
        for p in &created.participants {
            op.client
                .advance_settlement_participant(op.req(AdvanceSettlementParticipantRequest {
                    settlement_id: id,
                    fsp_id: p.fsp_id.clone(),
                    target: step as i32,
                    reason: String::new(),
                    external_reference: String::new(),
                }))
                .await?;
        }
        on_step(step);
    }
    // A window whose transfers were all gross has no accounts to advance:
    // read the final state back.
    let settled = op
        .client
        .get_settlement(op.req(GetSettlementRequest { settlement_id: id }))
        .await?
        .into_inner();
    let report = |kind: ReportKind| {
        let mut client = op.client.clone();
        let request = op.req(GetSettlementReportRequest {
            settlement_id: id,
            kind: kind as i32,
            format: ReportFormat::Csv as i32,
        });
        async move {
            let r = client.get_settlement_report(request).await?.into_inner();
            anyhow::Ok(String::from_utf8(r.content)?)
        }
    };
    let net_positions_csv = report(ReportKind::NetPositions).await?;
    let bilateral_csv = report(ReportKind::BilateralMatrix).await?;
    Ok(Cycle {
        window,
        created,
        settled,
        net_positions_csv,
        bilateral_csv,
    })
}
