//! Why a settlement call was refused. A refused call changes nothing.

use harambee_ledger::{Currency, ParticipantId};
use thiserror::Error;

use crate::settlement::{SettlementId, SettlementState};
use crate::window::{WindowId, WindowState};

#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum SettlementError {
    #[error("Window {0} is empty")]
    WindowEmpty(WindowId),
    #[error("no open window in {0}")]
    NoOpenWindow(Currency),
    #[error("window {0} does not exist")]
    UnknownWindow(WindowId),
    #[error("window {id} is {state:?}, not OPEN")]
    WindowNotOpen { id: WindowId, state: WindowState },
    #[error("window {id} is {state:?}: only CLOSED or ABORTED windows can be settled")]
    WindowNotSettleable { id: WindowId, state: WindowState },
    #[error("window {0} is named twice")]
    WindowRepeated(WindowId),
    #[error("a settlement needs at least one window")]
    NoWindows,
    #[error("window {id} is in {found}, the settlement is in {expected}")]
    CurrencyMismatch {
        id: WindowId,
        expected: Currency,
        found: Currency,
    },
    #[error("immediate gross settlement happens at each commit, not over windows")]
    GrossIsNotDeferred,
    #[error("settlement {0} does not exist")]
    UnknownSettlement(SettlementId),
    #[error("participant {participant} has no account in settlement {settlement}")]
    NotInSettlement {
        settlement: SettlementId,
        participant: ParticipantId,
    },
    #[error("an account in {from:?} cannot move to {to:?}")]
    InvalidTransition {
        from: SettlementState,
        to: SettlementState,
    },
    #[error("settlement {0} has committed accounts and can no longer be aborted")]
    AbortAfterCommit(SettlementId),
    #[error("settlement {id} is already {state:?}")]
    SettlementFinished {
        id: SettlementId,
        state: SettlementState,
    },
}

impl SettlementError {
    /// The FSPIOP error code of the refusal: all of these are requests that
    /// do not fit the current state (3100, generic validation error).
    pub fn code(&self) -> u16 {
        3100
    }
}
