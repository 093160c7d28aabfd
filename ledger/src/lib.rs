//! # harambee-ledger
//!
//! The double-entry ledger at the heart of the Harambee switch: accounts per
//! participant and currency, two-phase transfers, limits with Mojaloop
//! semantics, funds in and out, and idempotency.
//!
//! ## Shape
//!
//! [`Ledger`] is a deterministic state machine. [`Command`]s go in, through
//! [`Ledger::apply`] or [`Ledger::apply_batch`]; each yields an [`Outcome`]
//! (a [`Reply`] or a [`LedgerError`] with its FSPIOP code) and zero or more
//! [`Event`]s carrying the balanced [`Posting`]s they made.
//!
//! ```text
//! Prepare   payer POSITION  --pending-->  payee POSITION     (reserve)
//! Commit    pending posted                                   (commit)
//! Abort     pending voided                                   (abort / expire)
//! FundsIn   HUB_RECONCILIATION  -->  participant SETTLEMENT
//! FundsOut  participant SETTLEMENT --pending--> HUB_RECONCILIATION, then post or void
//! ```
//!
//! A participant's *position* is the debit balance of its POSITION account
//! (what it owes); its *reserved* amount is the pending debit of POSITION;
//! its *liquidity cover* is the credit balance of its SETTLEMENT account
//! minus pending funds out. A prepare of `amount` is accepted only when
//! `position + reserved + amount` fits within the liquidity cover (else 4001)
//! and the net debit cap (else 4200).
//!
//! ## Architecture invariants
//!
//! - No I/O, no clock, no randomness, no threads. Time comes in with the
//!   command (`now_ms`). Same commands in the same order: same outcomes, same
//!   events, same [`Ledger::digest`].
//! - Balances change in exactly one function (`apply_posting`), one balanced
//!   posting at a time; every currency balances after every command.
//! - A transfer leaves RESERVED at most once, to COMMITTED or ABORTED.
//! - A refused command changes nothing, except that a prepare refused for a
//!   business reason (inactive participant, liquidity, net debit cap) is
//!   recorded as REFUSED so that its retries get the same answer.

mod command;
mod currency;
mod error;
mod event;
mod ledger;
mod snapshot;
mod store;
mod types;

pub use command::{Command, SettlementAccount, SettlementLeg};
pub use currency::{AMOUNT_MAX_INTEGER_DIGITS, Currency};
pub use error::LedgerError;
pub use event::{Event, Posting, PostingPhase};
pub use ledger::{
    BATCH_COMMANDS_MAX, BatchOutput, EXPIRE_DUE_MAX, EmittedEvent, Ledger, Outcome,
    PARTICIPANT_NAME_LENGTH_MAX, PARTICIPANTS_MAX, Reply,
};
pub use snapshot::{SNAPSHOT_VERSION, Snapshot, SnapshotError, StateDigest};
pub use store::TRANSFERS_MAX;
pub use types::{
    Account, AccountId, AccountType, Balances, FundsId, FundsKind, FundsRecord, FundsState,
    HubCurrency, Owner, Participant, ParticipantCurrency, ParticipantId, ParticipantKind,
    PositionView, Resolution, TransferId, TransferRecord, TransferState,
};
