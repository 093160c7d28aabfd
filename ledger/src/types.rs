//! Identifiers, accounts, balances and the records the ledger keeps.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::currency::Currency;

/// Formats a 128-bit id as a canonical lower-case UUID string.
fn fmt_uuid(v: u128, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let h = format!("{v:032x}");
    write!(
        f,
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(pub u128);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt_uuid(self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt_uuid(self.0, f)
            }
        }
    };
}

uuid_id!(
    /// A transfer id: the UUID chosen by the payer, as 128 bits.
    TransferId
);
uuid_id!(
    /// A funds-in or funds-out id: a UUID chosen by the operator.
    FundsId
);

/// A participant, numbered by the ledger in order of creation from 1.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub struct ParticipantId(pub u32);

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Index of an account in the ledger, assigned in order of creation.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub struct AccountId(pub u32);

/// What a participant is. The hub itself is not a participant: it owns the
/// hub accounts of each currency.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub enum ParticipantKind {
    Bank,
    Wallet,
}

/// The kind of an account.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub enum AccountType {
    /// A participant's net obligation from transfers: debited when it pays,
    /// credited when it is paid. Positive balance: it owes the scheme.
    Position,
    /// A participant's liquidity held at the settlement bank: credited by
    /// funds in, debited by funds out. Its balance is the liquidity cover.
    Settlement,
    /// The hub's counterpart of funds in and funds out, one per currency.
    HubReconciliation,
    /// The hub's counterpart of net settlements, one per currency.
    HubMultilateralSettlement,
}

/// Who owns an account.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub enum Owner {
    Hub,
    Participant(ParticipantId),
}

/// Debit and credit totals of an account, posted and pending, in minor units.
/// All four only ever grow, except pending amounts, which shrink when a
/// pending posting is posted or voided.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct Balances {
    pub debits_posted: i128,
    pub credits_posted: i128,
    pub debits_pending: i128,
    pub credits_pending: i128,
}

impl Balances {
    /// Posted debits minus posted credits.
    pub fn debit_balance(&self) -> i128 {
        self.debits_posted - self.credits_posted
    }

    /// Posted credits minus posted debits.
    pub fn credit_balance(&self) -> i128 {
        self.credits_posted - self.debits_posted
    }
}

/// One account of the ledger.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Account {
    pub id: AccountId,
    pub owner: Owner,
    pub currency: Currency,
    pub kind: AccountType,
    pub balances: Balances,
    /// A participant's account the operator deactivated is false: the
    /// participant neither sends nor receives in its currency until it is
    /// active again; on an inactive SETTLEMENT account no funds come in
    /// and no new funds out are reserved (one reserved before may still
    /// be committed or aborted, and settlements still post).
    #[serde(default = "active_by_default")]
    pub active: bool,
}

/// Accounts in states written before accounts could be deactivated.
fn active_by_default() -> bool {
    true
}

/// The state of a transfer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum TransferState {
    /// Prepared: the amount is pending on both positions.
    Reserved,
    /// Fulfilled: the amount is posted.
    Committed,
    /// Rejected by the payee, expired or badly fulfilled: the pending amount
    /// was voided.
    Aborted,
    /// The prepare itself was refused (limits, inactive participant...);
    /// nothing was ever reserved. Kept so that a retry gets the same answer.
    Refused,
}

impl TransferState {
    /// Whether the transfer can change no more.
    pub fn is_final(&self) -> bool {
        !matches!(self, TransferState::Reserved)
    }
}

/// The request that resolved a transfer, kept to answer retries.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Resolution {
    /// A commit carrying this fulfilment (which may have been wrong).
    Fulfil([u8; 32]),
    /// A rejection by the payee with this FSPIOP code.
    Reject(u16),
    /// The expiry sweep or an expire command.
    Expire,
}

/// Everything the ledger knows about one transfer.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct TransferRecord {
    pub id: TransferId,
    pub payer: ParticipantId,
    pub payee: ParticipantId,
    pub currency: Currency,
    /// Amount in minor units.
    pub amount: i128,
    /// SHA-256 of the fulfilment the payee must present.
    pub condition: [u8; 32],
    pub expires_at_ms: i64,
    pub prepared_at_ms: i64,
    pub state: TransferState,
    /// FSPIOP code of the refusal or abort; 0 while reserved or committed.
    pub reason: u16,
    pub resolution: Option<Resolution>,
    /// Time of the command that resolved it; 0 while reserved.
    pub resolved_at_ms: i64,
    /// Settled gross: reserved and posted between the SETTLEMENT accounts
    /// (a side was on immediate gross settlement at prepare), not the
    /// POSITION accounts.
    #[serde(default)]
    pub gross: bool,
}

/// Direction of a funds movement.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum FundsKind {
    In,
    Out,
}

/// The state of a funds movement.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum FundsState {
    /// Funds out reserved: pending on SETTLEMENT and HUB_RECONCILIATION.
    Reserved,
    /// Posted: funds in recorded, or funds out committed.
    Committed,
    /// A reserved funds out that the operator aborted.
    Aborted,
}

/// A funds-in or funds-out record.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct FundsRecord {
    pub id: FundsId,
    pub kind: FundsKind,
    pub participant: ParticipantId,
    pub currency: Currency,
    pub amount: i128,
    pub state: FundsState,
}

/// A participant as the ledger knows it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Participant {
    pub id: ParticipantId,
    pub name: String,
    pub kind: ParticipantKind,
    pub active: bool,
}

/// The accounts and limit of one participant in one currency.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ParticipantCurrency {
    pub participant: ParticipantId,
    pub currency: Currency,
    pub position: AccountId,
    pub settlement: AccountId,
    /// Net debit cap in minor units.
    pub net_debit_cap: i128,
    /// On immediate gross settlement: its transfers settle at commit
    /// against the SETTLEMENT accounts.
    #[serde(default)]
    pub gross: bool,
}

/// The hub accounts of one enabled currency.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct HubCurrency {
    pub currency: Currency,
    pub reconciliation: AccountId,
    pub multilateral_settlement: AccountId,
    /// The decimals the ledger keeps the currency's amounts at, as the
    /// command that enabled it said; `None` (a command of a build before
    /// scales existed): its ISO 4217 minor unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<u32>,
}

impl HubCurrency {
    /// The decimals of the ledger's unit of the currency.
    pub fn scale(&self) -> u32 {
        self.scale.unwrap_or(self.currency.scale())
    }
}

/// A participant's exposure in one currency, as the limit check sees it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct PositionView {
    pub participant: ParticipantId,
    pub currency: Currency,
    /// Posted debits minus posted credits of POSITION: what it owes.
    pub position: i128,
    /// Pending debits of POSITION: prepared outgoing transfers.
    pub reserved: i128,
    /// SETTLEMENT credit balance minus pending funds out.
    pub liquidity: i128,
    pub net_debit_cap: i128,
    /// How much more it can send now: min(liquidity, cap) - position - reserved.
    pub available: i128,
}
