//! Notices: what the switch tells each participant happened (a transfer
//! committed to it or aborted, a window closed, a settlement step, funds
//! in or out, a new net debit cap, a position near its limit).
//!
//! Notices are derived from the log, record by record, as part of the one
//! replay path (`feed::apply_records`): every path that applies a record
//! gets the same notices with the same numbers. Each participant's notices
//! are numbered 1, 2, 3, ... in log order by [`NoticeSequences`], which is
//! part of the state (and of its snapshots), so the numbers are stable
//! across restarts and the same on every node of a cluster.
//!
//! A draft names ids only; the read side turns it into what it sends
//! (`harambee_read::notices::materialize`), reading names and transfers
//! from a state.

use std::collections::BTreeMap;

use harambee_ledger::Ledger;
use harambee_ledger::{Currency, Event, FundsId, ParticipantId, TransferId};
use harambee_settlement::{SettlementState, Settlements};
use serde::{Deserialize, Serialize};

/// A prepare that takes the payer's exposure (position + reserved) from
/// below to at least this share of its limit (the lower of liquidity and
/// net debit cap) raises a position alert.
pub const POSITION_ALERT_PERCENT: i128 = 80;

/// Each participant's last notice number, and the latest time a record
/// carried (the time of notices derived from records that carry none).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeSequences {
    #[serde(with = "participant_map")]
    last: BTreeMap<ParticipantId, u64>,
    #[serde(default)]
    last_time_ms: i64,
}

impl NoticeSequences {
    /// The number of the participant's latest notice (0: none yet).
    pub fn last(&self, participant: ParticipantId) -> u64 {
        self.last.get(&participant).copied().unwrap_or(0)
    }

    fn next(&mut self, participant: ParticipantId) -> u64 {
        let n = self.last.entry(participant).or_insert(0);
        *n += 1;
        *n
    }
}

/// What a notice is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoticeKind {
    TransferCommitted(TransferId),
    TransferAborted(TransferId),
    WindowClosed {
        window_id: u64,
        currency: Currency,
        closed_at_ms: i64,
    },
    SettlementChanged {
        settlement_id: u64,
        currency: Currency,
        state: SettlementState,
        net: i128,
    },
    Funds {
        funds_id: FundsId,
        action: &'static str,
        currency: Currency,
        amount: i128,
    },
    NetDebitCapChanged {
        currency: Currency,
        net_debit_cap: i128,
        exposure: i128,
    },
    PositionAlert {
        currency: Currency,
        limit: i128,
        exposure: i128,
    },
}

/// A notice for one participant, numbered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoticeDraft {
    pub participant: ParticipantId,
    pub sequence: u64,
    pub time_ms: i64,
    pub kind: NoticeKind,
}

/// The notices of one applied record. `time_ms` is the record's time (0 if
/// it carries none); `events` what it did; `ledger` and `settlements` as
/// they are right after it; `sequences` numbers the notices.
pub(crate) fn derive(
    ledger: &Ledger,
    settlements: &Settlements,
    sequences: &mut NoticeSequences,
    settlement: Option<&crate::record::SettlementCommand>,
    time_ms: i64,
    events: &[Event],
    out: &mut Vec<NoticeDraft>,
) {
    if time_ms > sequences.last_time_ms {
        sequences.last_time_ms = time_ms;
    }
    let time_ms = sequences.last_time_ms;
    let mut kinds: Vec<(ParticipantId, NoticeKind)> = Vec::new();
    for event in events {
        match event {
            Event::TransferCommitted {
                transfer_id, payee, ..
            } => kinds.push((*payee, NoticeKind::TransferCommitted(*transfer_id))),
            Event::TransferAborted {
                transfer_id,
                payer,
                payee,
                ..
            } => {
                kinds.push((*payer, NoticeKind::TransferAborted(*transfer_id)));
                kinds.push((*payee, NoticeKind::TransferAborted(*transfer_id)));
            }
            Event::TransferReserved { payer, posting, .. } => {
                if let Some(alert) =
                    position_alert(ledger, *payer, posting.currency, posting.amount)
                {
                    kinds.push((*payer, alert));
                }
            }
            Event::FundsIn {
                funds_id,
                participant,
                posting,
            }
            | Event::FundsOutReserved {
                funds_id,
                participant,
                posting,
            }
            | Event::FundsOutCommitted {
                funds_id,
                participant,
                posting,
            }
            | Event::FundsOutAborted {
                funds_id,
                participant,
                posting,
            } => kinds.push((
                *participant,
                NoticeKind::Funds {
                    funds_id: *funds_id,
                    action: funds_action(event),
                    currency: posting.currency,
                    amount: posting.amount,
                },
            )),
            Event::NetDebitCapSet {
                participant,
                currency,
                net_debit_cap,
            } => {
                let exposure = ledger
                    .position(*participant, *currency)
                    .map_or(0, |v| v.position + v.reserved);
                kinds.push((
                    *participant,
                    NoticeKind::NetDebitCapChanged {
                        currency: *currency,
                        net_debit_cap: *net_debit_cap,
                        exposure,
                    },
                ));
            }
            _ => {}
        }
    }
    if let Some(command) = settlement {
        settlement_notices(ledger, settlements, command, &mut kinds);
    }
    for (participant, kind) in kinds {
        let sequence = sequences.next(participant);
        out.push(NoticeDraft {
            participant,
            sequence,
            time_ms,
            kind,
        });
    }
}

fn funds_action(event: &Event) -> &'static str {
    match event {
        Event::FundsIn { .. } => "FUNDS_IN",
        Event::FundsOutReserved { .. } => "FUNDS_OUT_RESERVED",
        Event::FundsOutCommitted { .. } => "FUNDS_OUT_COMMITTED",
        _ => "FUNDS_OUT_ABORTED",
    }
}

/// An alert if reserving `amount` took the payer's exposure across
/// `POSITION_ALERT_PERCENT` of its limit.
fn position_alert(
    ledger: &Ledger,
    payer: ParticipantId,
    currency: Currency,
    amount: i128,
) -> Option<NoticeKind> {
    let view = ledger.position(payer, currency)?;
    let limit = view.liquidity.min(view.net_debit_cap);
    if limit <= 0 {
        return None;
    }
    let after = view.position + view.reserved;
    let before = after - amount;
    let threshold = limit.saturating_mul(POSITION_ALERT_PERCENT);
    let crossed = before.saturating_mul(100) < threshold && after.saturating_mul(100) >= threshold;
    crossed.then_some(NoticeKind::PositionAlert {
        currency,
        limit,
        exposure: after,
    })
}

/// The participants a settlement command changed, with what they see.
fn settlement_notices(
    ledger: &Ledger,
    settlements: &Settlements,
    command: &crate::record::SettlementCommand,
    kinds: &mut Vec<(ParticipantId, NoticeKind)>,
) {
    use crate::record::SettlementCommand;
    let changed = |id: u64, only: Option<ParticipantId>, kinds: &mut Vec<_>| {
        let Some(s) = settlements.settlement(harambee_settlement::SettlementId(id)) else {
            return;
        };
        for (participant, account) in &s.accounts {
            if only.is_some_and(|p| p != *participant) {
                continue;
            }
            kinds.push((
                *participant,
                NoticeKind::SettlementChanged {
                    settlement_id: id,
                    currency: s.currency,
                    state: if s.state == SettlementState::Aborted {
                        SettlementState::Aborted
                    } else {
                        account.state
                    },
                    net: account.net,
                },
            ));
        }
    };
    match command {
        SettlementCommand::CloseWindow { currency, .. } => {
            // The window just closed is the newest closed one of the
            // currency.
            let Some(w) = settlements
                .windows()
                .iter()
                .filter(|w| w.currency == *currency && w.closed_at_ms.is_some())
                .max_by_key(|w| w.id)
            else {
                return;
            };
            let mut members: Vec<ParticipantId> =
                w.flows.keys().flat_map(|(a, b)| [*a, *b]).collect();
            members.sort_unstable();
            members.dedup();
            for p in members {
                kinds.push((
                    p,
                    NoticeKind::WindowClosed {
                        window_id: w.id.0,
                        currency: w.currency,
                        closed_at_ms: w.closed_at_ms.unwrap_or(0),
                    },
                ));
            }
        }
        SettlementCommand::CreateSettlement { .. } => {
            if let Some(s) = settlements.settlements().last() {
                changed(s.id.0, None, kinds);
            }
        }
        SettlementCommand::Advance {
            settlement_id,
            participant,
            ..
        } => changed(*settlement_id, Some(participant.resolve(ledger)), kinds),
        SettlementCommand::Abort { settlement_id, .. } => changed(*settlement_id, None, kinds),
    }
}

/// A map keyed by participant as a list of pairs (JSON keys are strings).
mod participant_map {
    use std::collections::BTreeMap;

    use harambee_ledger::ParticipantId;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(
        map: &BTreeMap<ParticipantId, u64>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        map.iter().collect::<Vec<_>>().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<ParticipantId, u64>, D::Error> {
        Ok(Vec::<(ParticipantId, u64)>::deserialize(d)?
            .into_iter()
            .collect())
    }
}
