//! Settlement for Harambee: settlement windows, settlement models (deferred
//! multilateral net, deferred bilateral net, immediate gross), net
//! computation and the settlement state machine.
//!
//! Like `harambee-ledger`, this crate is pure: no I/O, no clock, no
//! randomness. Time arrives with each call (`now_ms`). The switch feeds it
//! every committed transfer (`Settlements::record_commit`) and applies the
//! postings it returns to the ledger; it never touches accounts itself.
//!
//! - **Windows** ([`window`]): per currency, exactly one OPEN window takes
//!   every committed transfer; closing it opens the next. A window keeps
//!   its transfer ids and, updated at each commit, the amount each payer
//!   sent each payee, so closing a window of any size is O(1) and a
//!   settlement's nets are computed from at most participants² sums.
//! - **Nets** ([`net`]): bilateral matrix and multilateral nets; positive:
//!   the participant owes (net sender).
//! - **Settlements** ([`settlement`]): over one or more closed windows of a
//!   currency, advanced per participant account through
//!   PENDING_SETTLEMENT -> PS_TRANSFERS_RECORDED -> PS_TRANSFERS_RESERVED ->
//!   PS_TRANSFERS_COMMITTED -> SETTLED (or ABORTED), each step returning the
//!   balanced postings it makes between the participant's SETTLEMENT and
//!   POSITION accounts and the hub's HUB_MULTILATERAL_SETTLEMENT.
//!
//! Architecture invariant: nothing here reads a clock or does I/O, and the
//! same calls in the same order give the same state (iteration orders are
//! those of `BTreeMap`s).

pub mod error;
pub mod net;
mod pairs;
pub mod settlement;
pub mod window;

pub use error::SettlementError;
pub use net::Nets;
pub use settlement::{
    AccountRef, AccountSettlement, Settlement, SettlementId, SettlementModel, SettlementPosting,
    SettlementState, Settlements,
};
pub use window::{Window, WindowId, WindowState};
