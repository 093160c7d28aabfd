//! Events: what applying a command did, with the postings it made.
//!
//! Every event that moves money carries exactly the postings it applied, and
//! every posting debits one account and credits another by the same amount,
//! so each event is balanced on its own. Consumers (projections, reports,
//! notifications) never need to recompute anything from commands.

use serde::{Deserialize, Serialize};

use crate::currency::Currency;
use crate::types::{AccountId, FundsId, ParticipantId, ParticipantKind, Resolution, TransferId};

/// How a posting affects the two accounts.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum PostingPhase {
    /// Posted at once: adds to debits_posted and credits_posted.
    Posted,
    /// Two-phase, first half: adds to debits_pending and credits_pending.
    Pending,
    /// Posts an earlier pending posting: moves the amount from pending to
    /// posted on both sides.
    PostPending,
    /// Voids an earlier pending posting: removes the amount from pending on
    /// both sides.
    VoidPending,
}

/// One balanced movement: `amount` minor units debited from `debit` and
/// credited to `credit`, both in `currency`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Posting {
    pub debit: AccountId,
    pub credit: AccountId,
    pub currency: Currency,
    pub amount: i128,
    pub phase: PostingPhase,
}

/// What a command did.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Event {
    CurrencyEnabled {
        currency: Currency,
        scale: u32,
        reconciliation: AccountId,
        multilateral_settlement: AccountId,
    },
    ParticipantCreated {
        participant: ParticipantId,
        name: String,
        kind: ParticipantKind,
    },
    AccountsOpened {
        participant: ParticipantId,
        currency: Currency,
        position: AccountId,
        settlement: AccountId,
        net_debit_cap: i128,
    },
    ParticipantActiveSet {
        participant: ParticipantId,
        active: bool,
    },
    AccountActiveSet {
        participant: ParticipantId,
        currency: Currency,
        account: AccountId,
        active: bool,
    },
    NetDebitCapSet {
        participant: ParticipantId,
        currency: Currency,
        net_debit_cap: i128,
    },
    /// Liquidity recorded: HUB_RECONCILIATION debited, SETTLEMENT credited.
    FundsIn {
        funds_id: FundsId,
        participant: ParticipantId,
        posting: Posting,
    },
    /// Withdrawal reserved: SETTLEMENT pending debit, HUB_RECONCILIATION
    /// pending credit.
    FundsOutReserved {
        funds_id: FundsId,
        participant: ParticipantId,
        posting: Posting,
    },
    FundsOutCommitted {
        funds_id: FundsId,
        participant: ParticipantId,
        posting: Posting,
    },
    FundsOutAborted {
        funds_id: FundsId,
        participant: ParticipantId,
        posting: Posting,
    },
    /// Prepare accepted: payer POSITION pending debit, payee POSITION pending
    /// credit.
    TransferReserved {
        transfer_id: TransferId,
        payer: ParticipantId,
        payee: ParticipantId,
        expires_at_ms: i64,
        posting: Posting,
    },
    /// Prepare refused for a business reason (limits, inactive participant,
    /// unsupported currency). Nothing was reserved.
    TransferRefused {
        transfer_id: TransferId,
        payer: ParticipantId,
        payee: ParticipantId,
        reason: u16,
    },
    TransferCommitted {
        transfer_id: TransferId,
        payer: ParticipantId,
        payee: ParticipantId,
        posting: Posting,
    },
    TransferAborted {
        transfer_id: TransferId,
        payer: ParticipantId,
        payee: ParticipantId,
        reason: u16,
        resolution: Resolution,
        posting: Posting,
    },
    /// A participant-currency's settlement model changed.
    SettlementModelSet {
        participant: ParticipantId,
        currency: Currency,
        gross: bool,
    },
    /// One posting of a settlement step for a participant.
    SettlementPosted {
        settlement_id: u64,
        participant: ParticipantId,
        posting: Posting,
    },
}

impl Event {
    /// The posting this event applied, if it moved money.
    pub fn posting(&self) -> Option<&Posting> {
        match self {
            Event::FundsIn { posting, .. }
            | Event::FundsOutReserved { posting, .. }
            | Event::FundsOutCommitted { posting, .. }
            | Event::FundsOutAborted { posting, .. }
            | Event::TransferReserved { posting, .. }
            | Event::TransferCommitted { posting, .. }
            | Event::TransferAborted { posting, .. }
            | Event::SettlementPosted { posting, .. } => Some(posting),
            _ => None,
        }
    }
}
