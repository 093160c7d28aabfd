//! Settlement windows: the committed transfers of a currency between two
//! closes.

use std::collections::BTreeMap;
use std::fmt;

use harambee_ledger::{Currency, ParticipantId, TransferId};
use serde::{Deserialize, Serialize};

use crate::settlement::SettlementId;

/// Windows are numbered from 1 across all currencies, in order of opening.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub struct WindowId(pub u64);

impl fmt::Display for WindowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// OPEN -> CLOSED -> PENDING_SETTLEMENT -> SETTLED; a settlement that is
/// aborted leaves its windows ABORTED, and an ABORTED window can be settled
/// again.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum WindowState {
    Open,
    Closed,
    PendingSettlement,
    Settled,
    Aborted,
}

/// One window of one currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub id: WindowId,
    pub currency: Currency,
    pub state: WindowState,
    pub opened_at_ms: i64,
    pub closed_at_ms: Option<i64>,
    /// Every committed transfer of the window, in commit order.
    pub transfers: Vec<TransferId>,
    /// (payer, payee) -> what the payer sent the payee in the window, in
    /// minor units, over the transfers settled on a net model.
    #[serde(with = "crate::pairs")]
    pub flows: BTreeMap<(ParticipantId, ParticipantId), i128>,
    /// Transfers settled gross at commit (counted in `transfers`, not in
    /// `flows`).
    pub gross_transfers: u64,
    /// The sum of the amounts of every transfer of the window.
    pub transfer_amount: i128,
    /// Why the operator closed it.
    #[serde(default)]
    pub close_reason: String,
    /// The settlement the window is (or last was) part of.
    pub settlement: Option<SettlementId>,
}

impl Window {
    pub(crate) fn open(id: WindowId, currency: Currency, now_ms: i64) -> Window {
        Window {
            id,
            currency,
            state: WindowState::Open,
            opened_at_ms: now_ms,
            closed_at_ms: None,
            transfers: Vec::new(),
            flows: BTreeMap::new(),
            gross_transfers: 0,
            transfer_amount: 0,
            close_reason: String::new(),
            settlement: None,
        }
    }

    /// Adds a committed transfer; `gross`: it was settled at commit.
    pub(crate) fn record(
        &mut self,
        transfer: TransferId,
        payer: ParticipantId,
        payee: ParticipantId,
        amount: i128,
        gross: bool,
    ) {
        assert_eq!(
            self.state,
            WindowState::Open,
            "commits go to the open window"
        );
        assert!(amount > 0, "a committed transfer moves a positive amount");
        self.transfers.push(transfer);
        self.transfer_amount += amount;
        if gross {
            self.gross_transfers += 1;
        } else {
            *self.flows.entry((payer, payee)).or_insert(0) += amount;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.transfers.is_empty()
    }
}
