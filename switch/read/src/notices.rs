//! Notices on the wire: a [`NoticeDraft`] (derived from the log by the
//! pure core, see `harambee_core::notices`) turned into the wire
//! `Notification`, reading names and transfers from a state, and the form
//! the notices projection stores. Both are immutable once they exist (a
//! participant's name, a final transfer), so any state at or after the
//! record gives the same notification.

use harambee_core::notices::{NoticeDraft, NoticeKind};
use harambee_core::state::State;
use harambee_core::text::settlement_state_name;
use harambee_ledger::{Currency, ParticipantId, TransferId};
use harambee_proto::v1::{self, Money, Notification, notification};

use harambee_proto::validate;

/// The recipient's name and the wire notification of a draft, from any
/// state at or after the record that made it.
pub fn materialize(state: &State, draft: &NoticeDraft) -> Option<(String, Notification)> {
    use notification::Kind;
    let name = |id: ParticipantId| state.ledger.participant_name(id).map(str::to_string);
    let recipient = name(draft.participant)?;
    let money = |currency: Currency, amount: i128| Money {
        amount: state.ledger.decimal(currency, amount).to_string(),
        currency: currency.to_string(),
    };
    let amount_text =
        |currency: Currency, amount: i128| state.ledger.decimal(currency, amount).to_string();
    let kind = match &draft.kind {
        NoticeKind::TransferCommitted(id) | NoticeKind::TransferAborted(id) => {
            let t = state.ledger.transfer(*id)?;
            let result = harambee_proto::convert::transfer_result(
                t,
                state.ledger.decimal(t.currency, t.amount),
                name(t.payer)?,
                name(t.payee)?,
            );
            if matches!(draft.kind, NoticeKind::TransferCommitted(_)) {
                Kind::TransferCommitted(result)
            } else {
                Kind::TransferAborted(result)
            }
        }
        NoticeKind::WindowClosed {
            window_id,
            currency,
            closed_at_ms,
        } => Kind::WindowClosed(v1::SettlementWindowNotice {
            window_id: *window_id,
            currency: currency.to_string(),
            closed: Some(validate::timestamp(*closed_at_ms)),
        }),
        NoticeKind::SettlementChanged {
            settlement_id,
            currency,
            state: s,
            net,
        } => Kind::SettlementChanged(v1::SettlementNotice {
            settlement_id: *settlement_id,
            currency: currency.to_string(),
            state: settlement_state_name(*s).to_string(),
            net_amount: amount_text(*currency, *net),
        }),
        NoticeKind::Funds {
            funds_id,
            action,
            currency,
            amount,
        } => Kind::Funds(v1::FundsNotice {
            funds_id: harambee_core::text::uuid_string(funds_id.0),
            action: action.to_string(),
            amount: Some(money(*currency, *amount)),
        }),
        NoticeKind::NetDebitCapChanged {
            currency,
            net_debit_cap,
            exposure,
        } => Kind::NetDebitCapChanged(v1::LimitNotice {
            currency: currency.to_string(),
            net_debit_cap: amount_text(*currency, *net_debit_cap),
            exposure: amount_text(*currency, *exposure),
        }),
        NoticeKind::PositionAlert {
            currency,
            limit,
            exposure,
        } => Kind::PositionAlert(v1::LimitNotice {
            currency: currency.to_string(),
            net_debit_cap: amount_text(*currency, *limit),
            exposure: amount_text(*currency, *exposure),
        }),
    };
    Some((
        recipient,
        Notification {
            sequence: draft.sequence,
            time: Some(validate::timestamp(draft.time_ms)),
            kind: Some(kind),
        },
    ))
}

/// How a notice is stored for the Notifications stream: a transfer's by
/// its kind and id (the final transfer is read when the notice is sent),
/// any other whole, as an encoded `Notification`.
#[derive(Clone, Debug, PartialEq)]
pub enum StoredNotice {
    Transfer {
        kind: &'static str,
        transfer_id: TransferId,
    },
    Whole(Box<Notification>),
}

/// Stored kinds of transfer notices.
pub const STORED_TRANSFER_COMMITTED: &str = "TRANSFER_COMMITTED";
pub const STORED_TRANSFER_ABORTED: &str = "TRANSFER_ABORTED";
/// The stored kind of every other notice.
pub const STORED_WHOLE: &str = "WHOLE";

/// The stored form of a draft, from a state at or after its record.
pub fn to_stored(state: &State, draft: &NoticeDraft) -> Option<(String, StoredNotice)> {
    let (kind, transfer_id) = match &draft.kind {
        NoticeKind::TransferCommitted(id) => (STORED_TRANSFER_COMMITTED, *id),
        NoticeKind::TransferAborted(id) => (STORED_TRANSFER_ABORTED, *id),
        _ => {
            return materialize(state, draft)
                .map(|(name, n)| (name, StoredNotice::Whole(Box::new(n))));
        }
    };
    let name = state.ledger.participant(draft.participant)?.name.clone();
    Some((name, StoredNotice::Transfer { kind, transfer_id }))
}

/// The notification a stored notice stands for: a transfer's read from
/// `state`, which holds every transfer.
pub fn from_stored(
    state: &State,
    participant: ParticipantId,
    sequence: u64,
    time_ms: i64,
    stored: StoredNotice,
) -> Option<Notification> {
    match stored {
        StoredNotice::Whole(n) => Some(*n),
        StoredNotice::Transfer { kind, transfer_id } => {
            let kind = if kind == STORED_TRANSFER_COMMITTED {
                NoticeKind::TransferCommitted(transfer_id)
            } else {
                NoticeKind::TransferAborted(transfer_id)
            };
            let draft = NoticeDraft {
                participant,
                sequence,
                time_ms,
                kind,
            };
            materialize(state, &draft).map(|(_, n)| n)
        }
    }
}
