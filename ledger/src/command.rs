//! Commands: the only way to change the ledger.
//!
//! A command carries everything its outcome depends on, including the time
//! (`now_ms`, milliseconds since the Unix epoch, chosen by whoever appended
//! the command to the log). Applying the same commands in the same order
//! therefore always gives the same outcomes, events and state.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::currency::Currency;
use crate::event::PostingPhase;
use crate::types::{AccountType, FundsId, ParticipantId, ParticipantKind, TransferId};

/// An account a settlement leg names: the participant's own POSITION or
/// SETTLEMENT account, or the hub's HUB_MULTILATERAL_SETTLEMENT, in the
/// command's currency.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum SettlementAccount {
    Position,
    Settlement,
    HubMultilateralSettlement,
}

/// One posting a settlement step makes (minor units, > 0).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SettlementLeg {
    pub debit: SettlementAccount,
    pub credit: SettlementAccount,
    pub amount: i128,
    pub phase: PostingPhase,
}

/// One request to the ledger.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Command {
    /// Enables a currency on the hub and opens its hub accounts; `scale`:
    /// the decimals the ledger keeps its amounts at (from the currency's
    /// ISO 4217 minor unit to [`crate::currency::AMOUNT_SCALE_MAX`]),
    /// `None` for its ISO minor unit, as before scales could be chosen.
    /// Idempotent: enabling an enabled currency returns the same reply,
    /// whatever the scale asked.
    EnableCurrency {
        currency: Currency,
        #[serde(default)]
        scale: Option<u32>,
    },
    /// Creates a participant. The name is its identity: the same name with
    /// the same kind returns the existing participant; with another kind 3106.
    CreateParticipant { name: String, kind: ParticipantKind },
    /// Opens the POSITION and SETTLEMENT accounts of a participant in a
    /// currency, with its initial net debit cap (a decimal >= 0).
    OpenAccounts {
        participant: ParticipantId,
        currency: Currency,
        net_debit_cap: Decimal,
    },
    /// Activates or deactivates a participant. An inactive participant can
    /// neither send nor receive transfers.
    SetParticipantActive {
        participant: ParticipantId,
        active: bool,
    },
    /// Activates or deactivates one of a participant's accounts (POSITION
    /// or SETTLEMENT) in a currency. While either is inactive the
    /// participant neither sends nor receives transfers in the currency,
    /// and while its SETTLEMENT account is, no funds come in and no new
    /// funds out are reserved.
    SetAccountActive {
        participant: ParticipantId,
        currency: Currency,
        kind: AccountType,
        active: bool,
    },
    /// Sets the net debit cap of a participant in a currency (a decimal >= 0).
    SetNetDebitCap {
        participant: ParticipantId,
        currency: Currency,
        net_debit_cap: Decimal,
    },
    /// Records liquidity deposited at the settlement bank.
    FundsIn {
        funds_id: FundsId,
        participant: ParticipantId,
        currency: Currency,
        amount: Decimal,
    },
    /// Reserves a withdrawal of liquidity; commit or abort it later.
    FundsOutReserve {
        funds_id: FundsId,
        participant: ParticipantId,
        currency: Currency,
        amount: Decimal,
    },
    /// Posts a reserved withdrawal.
    FundsOutCommit { funds_id: FundsId },
    /// Releases a reserved withdrawal.
    FundsOutAbort { funds_id: FundsId },
    /// Phase one of a transfer: checks the payer's limits and reserves the
    /// amount.
    Prepare {
        transfer_id: TransferId,
        payer: ParticipantId,
        payee: ParticipantId,
        currency: Currency,
        amount: Decimal,
        /// SHA-256 of the fulfilment the payee will present.
        condition: [u8; 32],
        expires_at_ms: i64,
        now_ms: i64,
    },
    /// Phase two: the payee's fulfilment. A fulfilment whose SHA-256 is not
    /// the condition aborts the transfer (3100); one that arrives at or after
    /// the expiration aborts it as expired (3303).
    Commit {
        transfer_id: TransferId,
        fulfilment: [u8; 32],
        now_ms: i64,
    },
    /// Phase two: the payee rejects the transfer with an FSPIOP code
    /// (1000..=5999), or the switch aborts it (for example 1001 when the payee
    /// cannot be reached).
    Abort {
        transfer_id: TransferId,
        reason: u16,
        now_ms: i64,
    },
    /// Aborts one reserved transfer whose expiration has passed (3303).
    Expire {
        transfer_id: TransferId,
        now_ms: i64,
    },
    /// Aborts, in expiration order, up to `max` reserved transfers whose
    /// expiration is at or before `now_ms`. This is what the expiry sweep
    /// appends to the log.
    ExpireDue { now_ms: i64, max: u32 },
    /// The postings of one step of a settlement for one participant
    /// (computed by `harambee-settlement`): applied all or none. Pending
    /// legs reserve; post-pending and void-pending legs need the matching
    /// pending amounts on both accounts. No limit is checked: the
    /// settlement bank has moved (or is moving) the money.
    Settle {
        settlement_id: u64,
        participant: ParticipantId,
        currency: Currency,
        legs: Vec<SettlementLeg>,
    },
    /// Puts a participant-currency on immediate gross settlement (`gross`)
    /// or back on deferred net settlement. It applies to transfers prepared
    /// from then on.
    SetSettlementModel {
        participant: ParticipantId,
        currency: Currency,
        gross: bool,
    },
}
