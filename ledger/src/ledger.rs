//! The ledger state machine: applies commands, checks limits, moves money.

use rust_decimal::Decimal;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::command::{Command, SettlementAccount, SettlementLeg};
use crate::currency::Currency;
use crate::error::LedgerError;
use crate::event::{Event, Posting, PostingPhase};
use crate::store::TransferStore;
use crate::types::{
    Account, AccountId, AccountType, Balances, FundsId, FundsKind, FundsRecord, FundsState,
    HubCurrency, Owner, Participant, ParticipantCurrency, ParticipantId, ParticipantKind,
    PositionView, Resolution, TransferId, TransferRecord, TransferState,
};

/// Most participants one ledger holds.
pub const PARTICIPANTS_MAX: usize = 100_000;
/// Longest participant name, in bytes.
pub const PARTICIPANT_NAME_LENGTH_MAX: usize = 32;
/// Most commands in one batch.
pub const BATCH_COMMANDS_MAX: usize = 1 << 20;
/// Most transfers one `ExpireDue` command may abort.
pub const EXPIRE_DUE_MAX: u32 = 100_000;

/// The answer to a successful command.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Reply {
    CurrencyEnabled {
        currency: Currency,
    },
    Participant {
        participant: ParticipantId,
    },
    AccountsOpened {
        participant: ParticipantId,
        currency: Currency,
    },
    ParticipantActive {
        participant: ParticipantId,
        active: bool,
    },
    AccountActive {
        account: AccountId,
        active: bool,
    },
    NetDebitCap {
        participant: ParticipantId,
        currency: Currency,
        net_debit_cap: i128,
    },
    Funds {
        funds_id: FundsId,
        state: FundsState,
    },
    /// The transfer's state after the command. `reason` is the FSPIOP code
    /// of an abort (3100 bad fulfilment, 3303 expired, the payee's code for
    /// a rejection), 0 otherwise.
    Transfer {
        transfer_id: TransferId,
        state: TransferState,
        reason: u16,
    },
    /// How many transfers an `ExpireDue` aborted.
    Expired {
        count: u32,
    },
    /// A participant-currency's settlement model.
    SettlementModel {
        participant: ParticipantId,
        currency: Currency,
        gross: bool,
    },
    /// A settlement step's postings were applied.
    Settled {
        settlement_id: u64,
        participant: ParticipantId,
        postings: u32,
    },
}

/// The outcome of one command.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Outcome {
    pub result: Result<Reply, LedgerError>,
    /// True when the command repeated an earlier one and the recorded
    /// outcome was returned: nothing changed.
    pub duplicate: bool,
}

impl Outcome {
    fn new(result: Result<Reply, LedgerError>) -> Outcome {
        Outcome {
            result,
            duplicate: false,
        }
    }
    fn duplicate(result: Result<Reply, LedgerError>) -> Outcome {
        Outcome {
            result,
            duplicate: true,
        }
    }
}

/// An event and the index, within its batch, of the command that caused it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct EmittedEvent {
    pub command_index: u32,
    pub event: Event,
}

/// Outcomes and events of a batch; reuse it between batches to keep its
/// allocations.
#[derive(Default, Debug)]
pub struct BatchOutput {
    /// One outcome per command, in command order.
    pub outcomes: Vec<Outcome>,
    /// Events in the order they happened.
    pub events: Vec<EmittedEvent>,
}

impl BatchOutput {
    pub fn clear(&mut self) {
        self.outcomes.clear();
        self.events.clear();
    }
}

/// The double-entry ledger.
///
/// Architecture invariant: nothing here reads a clock, a random number or
/// the outside world. The state is a function of the commands applied.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    pub(crate) currencies: FxHashMap<Currency, HubCurrency>,
    pub(crate) participants: Vec<Participant>,
    pub(crate) participant_names: FxHashMap<String, ParticipantId>,
    pub(crate) participant_currencies: FxHashMap<(ParticipantId, Currency), ParticipantCurrency>,
    pub(crate) accounts: Vec<Account>,
    pub(crate) transfers: TransferStore,
    /// Full errors of refused prepares, to answer their retries.
    pub(crate) refusals: FxHashMap<TransferId, LedgerError>,
    pub(crate) funds: FxHashMap<FundsId, FundsRecord>,
    /// Amounts settlement steps hold pending, by (settlement id, debit
    /// account, credit account); removed when posted or voided.
    pub(crate) settlement_pending: std::collections::BTreeMap<(u64, AccountId, AccountId), i128>,
    /// The RESERVED transfers and their expirations. Only in-flight
    /// transfers are here, so it stays small and in cache. Derived state:
    /// rebuilt on restore.
    pub(crate) in_flight: FxHashMap<TransferId, i64>,
}

impl Ledger {
    /// An empty ledger: no currency, no participant.
    pub fn new() -> Ledger {
        Ledger::default()
    }

    /// Allocates room for `additional` more transfers now, so that growing
    /// the transfer store never pauses a batch later (capped at
    /// [`crate::TRANSFERS_MAX`]). A deployment calls this at start with the
    /// number of transfers it expects to hold.
    pub fn reserve_transfers(&mut self, additional: usize) {
        self.transfers.reserve(additional);
    }

    /// Applies a batch of commands in order.
    ///
    /// Panics if the batch holds more than [`BATCH_COMMANDS_MAX`] commands:
    /// batching is the caller's job.
    pub fn apply_batch(&mut self, commands: &[Command], out: &mut BatchOutput) {
        assert!(commands.len() <= BATCH_COMMANDS_MAX, "batch too large");
        out.outcomes.reserve(commands.len());
        let mut events = Vec::new();
        for (index, command) in commands.iter().enumerate() {
            let outcome = self.apply(command, &mut events);
            out.outcomes.push(outcome);
            // `index` < BATCH_COMMANDS_MAX < u32::MAX.
            let command_index = index as u32;
            out.events
                .extend(events.drain(..).map(|event| EmittedEvent {
                    command_index,
                    event,
                }));
        }
    }

    /// Applies one command, appending the events it caused to `events`.
    pub fn apply(&mut self, command: &Command, events: &mut Vec<Event>) -> Outcome {
        match command {
            Command::EnableCurrency { currency, scale } => {
                self.enable_currency(*currency, *scale, events)
            }
            Command::CreateParticipant { name, kind } => {
                self.create_participant(name, *kind, events)
            }
            Command::OpenAccounts {
                participant,
                currency,
                net_debit_cap,
            } => self.open_accounts(*participant, *currency, *net_debit_cap, events),
            Command::SetParticipantActive {
                participant,
                active,
            } => self.set_active(*participant, *active, events),
            Command::SetAccountActive {
                participant,
                currency,
                kind,
                active,
            } => self.set_account_active(*participant, *currency, *kind, *active, events),
            Command::SetNetDebitCap {
                participant,
                currency,
                net_debit_cap,
            } => self.set_net_debit_cap(*participant, *currency, *net_debit_cap, events),
            Command::FundsIn {
                funds_id,
                participant,
                currency,
                amount,
            } => self.funds_in(*funds_id, *participant, *currency, *amount, events),
            Command::FundsOutReserve {
                funds_id,
                participant,
                currency,
                amount,
            } => self.funds_out_reserve(*funds_id, *participant, *currency, *amount, events),
            Command::Settle {
                settlement_id,
                participant,
                currency,
                legs,
            } => self.settle(*settlement_id, *participant, *currency, legs, events),
            Command::SetSettlementModel {
                participant,
                currency,
                gross,
            } => self.set_settlement_model(*participant, *currency, *gross, events),
            Command::FundsOutCommit { funds_id } => self.funds_out_resolve(*funds_id, true, events),
            Command::FundsOutAbort { funds_id } => self.funds_out_resolve(*funds_id, false, events),
            Command::Prepare {
                transfer_id,
                payer,
                payee,
                currency,
                amount,
                condition,
                expires_at_ms,
                now_ms,
            } => self.prepare(
                PrepareArgs {
                    id: *transfer_id,
                    payer: *payer,
                    payee: *payee,
                    currency: *currency,
                    amount: *amount,
                    condition: *condition,
                    expires_at_ms: *expires_at_ms,
                    now_ms: *now_ms,
                },
                events,
            ),
            Command::Commit {
                transfer_id,
                fulfilment,
                now_ms,
            } => self.resolve(
                *transfer_id,
                Resolution::Fulfil(*fulfilment),
                *now_ms,
                events,
            ),
            Command::Abort {
                transfer_id,
                reason,
                now_ms,
            } => {
                if !(1000..=5999).contains(reason) {
                    return Outcome::new(Err(LedgerError::Validation(format!(
                        "abort reason {reason} is not an FSPIOP error code (1000..=5999)"
                    ))));
                }
                self.resolve(*transfer_id, Resolution::Reject(*reason), *now_ms, events)
            }
            Command::Expire {
                transfer_id,
                now_ms,
            } => self.resolve(*transfer_id, Resolution::Expire, *now_ms, events),
            Command::ExpireDue { now_ms, max } => self.expire_due(*now_ms, *max, events),
        }
    }

    // ----- reference data -------------------------------------------------

    fn enable_currency(
        &mut self,
        currency: Currency,
        scale: Option<u32>,
        events: &mut Vec<Event>,
    ) -> Outcome {
        if self.currencies.contains_key(&currency) {
            return Outcome::duplicate(Ok(Reply::CurrencyEnabled { currency }));
        }
        if let Some(s) = scale
            && !(currency.scale()..=crate::currency::AMOUNT_SCALE_MAX).contains(&s)
        {
            return Outcome::new(Err(LedgerError::Validation(format!(
                "{currency} cannot be kept at {s} decimals: from {} to {}",
                currency.scale(),
                crate::currency::AMOUNT_SCALE_MAX
            ))));
        }
        let reconciliation =
            self.open_account(Owner::Hub, currency, AccountType::HubReconciliation);
        let multilateral_settlement =
            self.open_account(Owner::Hub, currency, AccountType::HubMultilateralSettlement);
        self.currencies.insert(
            currency,
            HubCurrency {
                currency,
                reconciliation,
                multilateral_settlement,
                scale,
            },
        );
        events.push(Event::CurrencyEnabled {
            currency,
            scale: scale.unwrap_or(currency.scale()),
            reconciliation,
            multilateral_settlement,
        });
        Outcome::new(Ok(Reply::CurrencyEnabled { currency }))
    }

    fn create_participant(
        &mut self,
        name: &str,
        kind: ParticipantKind,
        events: &mut Vec<Event>,
    ) -> Outcome {
        if let Some(&id) = self.participant_names.get(name) {
            let existing = &self.participants[index_of(id)];
            return if existing.kind == kind {
                Outcome::duplicate(Ok(Reply::Participant { participant: id }))
            } else {
                Outcome::new(Err(LedgerError::ModifiedRequest(name.to_string())))
            };
        }
        if let Err(e) = validate_name(name) {
            return Outcome::new(Err(e));
        }
        if self.participants.len() >= PARTICIPANTS_MAX {
            return Outcome::new(Err(LedgerError::LimitReached("participants".into())));
        }
        // Ids start at 1; `len() < PARTICIPANTS_MAX` fits in u32.
        let id = ParticipantId(self.participants.len() as u32 + 1);
        self.participants.push(Participant {
            id,
            name: name.to_string(),
            kind,
            active: true,
        });
        self.participant_names.insert(name.to_string(), id);
        events.push(Event::ParticipantCreated {
            participant: id,
            name: name.to_string(),
            kind,
        });
        Outcome::new(Ok(Reply::Participant { participant: id }))
    }

    fn open_accounts(
        &mut self,
        participant: ParticipantId,
        currency: Currency,
        net_debit_cap: Decimal,
        events: &mut Vec<Event>,
    ) -> Outcome {
        let result = (|| {
            self.participant(participant)
                .ok_or(LedgerError::ParticipantNotFound(participant))?;
            self.hub(currency)?;
            let cap = self.cap_units(currency, net_debit_cap)?;
            if let Some(pc) = self.participant_currencies.get(&(participant, currency)) {
                return if pc.net_debit_cap == cap {
                    Ok(None)
                } else {
                    Err(LedgerError::ModifiedRequest(format!(
                        "{participant} {currency} accounts"
                    )))
                };
            }
            Ok(Some(cap))
        })();
        let cap = match result {
            Ok(Some(cap)) => cap,
            Ok(None) => {
                return Outcome::duplicate(Ok(Reply::AccountsOpened {
                    participant,
                    currency,
                }));
            }
            Err(e) => return Outcome::new(Err(e)),
        };
        let owner = Owner::Participant(participant);
        let position = self.open_account(owner, currency, AccountType::Position);
        let settlement = self.open_account(owner, currency, AccountType::Settlement);
        self.participant_currencies.insert(
            (participant, currency),
            ParticipantCurrency {
                participant,
                currency,
                position,
                settlement,
                net_debit_cap: cap,
                gross: false,
            },
        );
        events.push(Event::AccountsOpened {
            participant,
            currency,
            position,
            settlement,
            net_debit_cap: cap,
        });
        Outcome::new(Ok(Reply::AccountsOpened {
            participant,
            currency,
        }))
    }

    fn set_active(
        &mut self,
        participant: ParticipantId,
        active: bool,
        events: &mut Vec<Event>,
    ) -> Outcome {
        let Some(p) = self
            .participants
            .get_mut(participant.0.wrapping_sub(1) as usize)
        else {
            return Outcome::new(Err(LedgerError::ParticipantNotFound(participant)));
        };
        let reply = Ok(Reply::ParticipantActive {
            participant,
            active,
        });
        if p.active == active {
            return Outcome::duplicate(reply);
        }
        p.active = active;
        events.push(Event::ParticipantActiveSet {
            participant,
            active,
        });
        Outcome::new(reply)
    }

    fn set_account_active(
        &mut self,
        participant: ParticipantId,
        currency: Currency,
        kind: AccountType,
        active: bool,
        events: &mut Vec<Event>,
    ) -> Outcome {
        if self.participant(participant).is_none() {
            return Outcome::new(Err(LedgerError::ParticipantNotFound(participant)));
        }
        let Some(pc) = self.participant_currency(participant, currency) else {
            return Outcome::new(Err(LedgerError::AccountsNotFound(
                participant,
                currency.to_string(),
            )));
        };
        let account = match kind {
            AccountType::Position => pc.position,
            AccountType::Settlement => pc.settlement,
            AccountType::HubReconciliation | AccountType::HubMultilateralSettlement => {
                return Outcome::new(Err(LedgerError::Validation(
                    "only a participant's POSITION or SETTLEMENT account can be deactivated".into(),
                )));
            }
        };
        let reply = Ok(Reply::AccountActive { account, active });
        let a = &mut self.accounts[account.0 as usize];
        if a.active == active {
            return Outcome::duplicate(reply);
        }
        a.active = active;
        events.push(Event::AccountActiveSet {
            participant,
            currency,
            account,
            active,
        });
        Outcome::new(reply)
    }

    /// Whether both of a participant's accounts in a currency are active.
    fn accounts_active(&self, pc: &ParticipantCurrency) -> bool {
        self.accounts[pc.position.0 as usize].active
            && self.accounts[pc.settlement.0 as usize].active
    }

    fn set_net_debit_cap(
        &mut self,
        participant: ParticipantId,
        currency: Currency,
        net_debit_cap: Decimal,
        events: &mut Vec<Event>,
    ) -> Outcome {
        let cap = match self
            .participant_currency_checked(participant, currency)
            .and_then(|_| self.cap_units(currency, net_debit_cap))
        {
            Ok(cap) => cap,
            Err(e) => return Outcome::new(Err(e)),
        };
        let reply = Ok(Reply::NetDebitCap {
            participant,
            currency,
            net_debit_cap: cap,
        });
        let Some(pc) = self
            .participant_currencies
            .get_mut(&(participant, currency))
        else {
            return Outcome::new(Err(LedgerError::AccountsNotFound(
                participant,
                currency.to_string(),
            )));
        };
        if pc.net_debit_cap == cap {
            return Outcome::duplicate(reply);
        }
        pc.net_debit_cap = cap;
        events.push(Event::NetDebitCapSet {
            participant,
            currency,
            net_debit_cap: cap,
        });
        Outcome::new(reply)
    }

    // ----- funds in and out -------------------------------------------------

    /// Checks an existing funds record against a repeated request.
    fn funds_replay(
        &self,
        funds_id: FundsId,
        kind: FundsKind,
        participant: ParticipantId,
        currency: Currency,
        amount: Decimal,
    ) -> Option<Outcome> {
        let record = self.funds.get(&funds_id)?;
        let same = record.kind == kind
            && record.participant == participant
            && record.currency == currency
            && self.units(currency, amount).ok() == Some(record.amount);
        Some(if same {
            Outcome::duplicate(Ok(Reply::Funds {
                funds_id,
                state: record.state,
            }))
        } else {
            Outcome::new(Err(LedgerError::ModifiedRequest(funds_id.to_string())))
        })
    }

    fn funds_in(
        &mut self,
        funds_id: FundsId,
        participant: ParticipantId,
        currency: Currency,
        amount: Decimal,
        events: &mut Vec<Event>,
    ) -> Outcome {
        if let Some(o) = self.funds_replay(funds_id, FundsKind::In, participant, currency, amount) {
            return o;
        }
        let (pc, hub, minor) = match self.funds_accounts(participant, currency, amount) {
            Ok(v) => v,
            Err(e) => return Outcome::new(Err(e)),
        };
        let posting = Posting {
            debit: hub.reconciliation,
            credit: pc.settlement,
            currency,
            amount: minor,
            phase: PostingPhase::Posted,
        };
        self.apply_posting(&posting);
        self.funds.insert(
            funds_id,
            FundsRecord {
                id: funds_id,
                kind: FundsKind::In,
                participant,
                currency,
                amount: minor,
                state: FundsState::Committed,
            },
        );
        events.push(Event::FundsIn {
            funds_id,
            participant,
            posting,
        });
        Outcome::new(Ok(Reply::Funds {
            funds_id,
            state: FundsState::Committed,
        }))
    }

    fn funds_out_reserve(
        &mut self,
        funds_id: FundsId,
        participant: ParticipantId,
        currency: Currency,
        amount: Decimal,
        events: &mut Vec<Event>,
    ) -> Outcome {
        if let Some(o) = self.funds_replay(funds_id, FundsKind::Out, participant, currency, amount)
        {
            return o;
        }
        let (pc, hub, minor) = match self.funds_accounts(participant, currency, amount) {
            Ok(v) => v,
            Err(e) => return Outcome::new(Err(e)),
        };
        // Liquidity that backs the current exposure cannot be withdrawn.
        let view = self.position_of(&pc);
        let withdrawable = view.liquidity - (view.position + view.reserved).max(0);
        if minor > withdrawable {
            return Outcome::new(Err(LedgerError::InsufficientLiquidity {
                required: minor,
                available: withdrawable,
            }));
        }
        let posting = Posting {
            debit: pc.settlement,
            credit: hub.reconciliation,
            currency,
            amount: minor,
            phase: PostingPhase::Pending,
        };
        self.apply_posting(&posting);
        self.funds.insert(
            funds_id,
            FundsRecord {
                id: funds_id,
                kind: FundsKind::Out,
                participant,
                currency,
                amount: minor,
                state: FundsState::Reserved,
            },
        );
        events.push(Event::FundsOutReserved {
            funds_id,
            participant,
            posting,
        });
        Outcome::new(Ok(Reply::Funds {
            funds_id,
            state: FundsState::Reserved,
        }))
    }

    fn funds_out_resolve(
        &mut self,
        funds_id: FundsId,
        commit: bool,
        events: &mut Vec<Event>,
    ) -> Outcome {
        let Some(record) = self.funds.get(&funds_id) else {
            return Outcome::new(Err(LedgerError::FundsNotFound(funds_id)));
        };
        let target = if commit {
            FundsState::Committed
        } else {
            FundsState::Aborted
        };
        match (record.kind, record.state) {
            (FundsKind::In, _) => {
                return Outcome::new(Err(LedgerError::FundsNotReserved(funds_id)));
            }
            (FundsKind::Out, FundsState::Reserved) => {}
            (FundsKind::Out, state) if state == target => {
                return Outcome::duplicate(Ok(Reply::Funds { funds_id, state }));
            }
            (FundsKind::Out, _) => {
                return Outcome::new(Err(LedgerError::ModifiedRequest(funds_id.to_string())));
            }
        }
        let record = record.clone();
        let Some(pc) = self
            .participant_currencies
            .get(&(record.participant, record.currency))
            .copied()
        else {
            return Outcome::new(Err(LedgerError::AccountsNotFound(
                record.participant,
                record.currency.to_string(),
            )));
        };
        let Some(hub) = self.currencies.get(&record.currency).copied() else {
            return Outcome::new(Err(LedgerError::UnknownCurrency(
                record.currency.to_string(),
            )));
        };
        let posting = Posting {
            debit: pc.settlement,
            credit: hub.reconciliation,
            currency: record.currency,
            amount: record.amount,
            phase: if commit {
                PostingPhase::PostPending
            } else {
                PostingPhase::VoidPending
            },
        };
        self.apply_posting(&posting);
        if let Some(r) = self.funds.get_mut(&funds_id) {
            r.state = target;
        }
        let participant = record.participant;
        events.push(if commit {
            Event::FundsOutCommitted {
                funds_id,
                participant,
                posting,
            }
        } else {
            Event::FundsOutAborted {
                funds_id,
                participant,
                posting,
            }
        });
        Outcome::new(Ok(Reply::Funds {
            funds_id,
            state: target,
        }))
    }

    fn funds_accounts(
        &self,
        participant: ParticipantId,
        currency: Currency,
        amount: Decimal,
    ) -> Result<(ParticipantCurrency, HubCurrency, i128), LedgerError> {
        let hub = self.hub(currency)?;
        let pc = self.participant_currency_checked(participant, currency)?;
        if !self.accounts[pc.settlement.0 as usize].active {
            return Err(LedgerError::Validation(format!(
                "participant {participant}'s SETTLEMENT account in {currency} is inactive"
            )));
        }
        let minor = self.units(currency, amount)?;
        Ok((pc, hub, minor))
    }

    // ----- settlement ------------------------------------------------------------

    fn set_settlement_model(
        &mut self,
        participant: ParticipantId,
        currency: Currency,
        gross: bool,
        events: &mut Vec<Event>,
    ) -> Outcome {
        let pc = match self.participant_currency_checked(participant, currency) {
            Ok(pc) => pc,
            Err(e) => return Outcome::new(Err(e)),
        };
        let reply = Reply::SettlementModel {
            participant,
            currency,
            gross,
        };
        if pc.gross == gross {
            return Outcome::duplicate(Ok(reply));
        }
        if let Some(pc) = self
            .participant_currencies
            .get_mut(&(participant, currency))
        {
            pc.gross = gross;
        }
        events.push(Event::SettlementModelSet {
            participant,
            currency,
            gross,
        });
        Outcome::new(Ok(reply))
    }

    /// Most legs one settlement step may carry.
    pub const SETTLEMENT_LEGS_MAX: usize = 16;

    fn settle(
        &mut self,
        settlement_id: u64,
        participant: ParticipantId,
        currency: Currency,
        legs: &[SettlementLeg],
        events: &mut Vec<Event>,
    ) -> Outcome {
        type Checked = (Vec<Posting>, Vec<((u64, AccountId, AccountId), i128)>);
        let checked = (|| -> Result<Checked, LedgerError> {
            if legs.len() > Self::SETTLEMENT_LEGS_MAX {
                return Err(LedgerError::Validation(format!(
                    "at most {} settlement legs",
                    Self::SETTLEMENT_LEGS_MAX
                )));
            }
            let hub = self.hub(currency)?;
            let pc = self.participant_currency_checked(participant, currency)?;
            let account = |a: SettlementAccount| match a {
                SettlementAccount::Position => pc.position,
                SettlementAccount::Settlement => pc.settlement,
                SettlementAccount::HubMultilateralSettlement => hub.multilateral_settlement,
            };
            // What this settlement holds pending between two accounts, as
            // the legs change it (all legs are checked before any applies).
            let mut pending: Vec<((u64, AccountId, AccountId), i128)> = Vec::new();
            let mut postings = Vec::with_capacity(legs.len());
            for leg in legs {
                let (debit, credit) = (account(leg.debit), account(leg.credit));
                if leg.amount <= 0 || debit == credit {
                    return Err(LedgerError::Validation(
                        "a settlement leg moves a positive amount between two accounts".into(),
                    ));
                }
                let key = (settlement_id, debit, credit);
                let slot = match pending.iter().position(|(k, _)| *k == key) {
                    Some(i) => i,
                    None => {
                        let held = self.settlement_pending.get(&key).copied().unwrap_or(0);
                        pending.push((key, held));
                        pending.len() - 1
                    }
                };
                match leg.phase {
                    PostingPhase::Posted => {}
                    PostingPhase::Pending => pending[slot].1 += leg.amount,
                    PostingPhase::PostPending | PostingPhase::VoidPending => {
                        if pending[slot].1 < leg.amount {
                            return Err(LedgerError::Validation(
                                "a settlement leg resolves more than the settlement holds pending"
                                    .into(),
                            ));
                        }
                        pending[slot].1 -= leg.amount;
                    }
                }
                postings.push(Posting {
                    debit,
                    credit,
                    currency,
                    amount: leg.amount,
                    phase: leg.phase,
                });
            }
            Ok((postings, pending))
        })();
        let (postings, pending) = match checked {
            Ok(p) => p,
            Err(e) => return Outcome::new(Err(e)),
        };
        for (key, amount) in pending {
            if amount == 0 {
                self.settlement_pending.remove(&key);
            } else {
                self.settlement_pending.insert(key, amount);
            }
        }
        for posting in &postings {
            self.apply_posting(posting);
            events.push(Event::SettlementPosted {
                settlement_id,
                participant,
                posting: *posting,
            });
        }
        Outcome::new(Ok(Reply::Settled {
            settlement_id,
            participant,
            postings: postings.len() as u32,
        }))
    }

    // ----- transfers -------------------------------------------------------------

    fn prepare(&mut self, a: PrepareArgs, events: &mut Vec<Event>) -> Outcome {
        if let Some(record) = self.transfers.get(&a.id) {
            let same = record.payer == a.payer
                && record.payee == a.payee
                && record.currency == a.currency
                && record.condition == a.condition
                && record.expires_at_ms == a.expires_at_ms
                && self.units(a.currency, a.amount).ok() == Some(record.amount);
            if !same {
                return Outcome::new(Err(LedgerError::ModifiedRequest(a.id.to_string())));
            }
            if record.state == TransferState::Refused {
                let error = self.refusals.get(&a.id).cloned().unwrap_or_else(|| {
                    LedgerError::Validation(format!("transfer {} was refused", a.id))
                });
                return Outcome::duplicate(Err(error));
            }
            return Outcome::duplicate(Ok(transfer_reply(record)));
        }

        // Malformed requests: answered, not recorded.
        let checked = (|| {
            self.hub(a.currency)?;
            let amount = self.units(a.currency, a.amount)?;
            if a.payer == a.payee {
                return Err(LedgerError::Validation(
                    "payer and payee are the same participant".into(),
                ));
            }
            if a.expires_at_ms <= a.now_ms {
                return Err(LedgerError::ExpiryInPast {
                    expires_at_ms: a.expires_at_ms,
                    now_ms: a.now_ms,
                });
            }
            let payer_pc = self
                .participant_currencies
                .get(&(a.payer, a.currency))
                .copied();
            let payee_pc = self
                .participant_currencies
                .get(&(a.payee, a.currency))
                .copied();
            if self.participant(a.payer).is_none() {
                return Err(LedgerError::PayerUnavailable(a.payer));
            }
            if self.participant(a.payee).is_none() {
                return Err(LedgerError::PayeeUnavailable(a.payee));
            }
            let payer_pc = payer_pc.ok_or_else(|| {
                LedgerError::PayerCurrencyUnsupported(a.payer, a.currency.to_string())
            })?;
            let payee_pc = payee_pc.ok_or_else(|| {
                LedgerError::PayeeCurrencyUnsupported(a.payee, a.currency.to_string())
            })?;
            Ok((amount, payer_pc, payee_pc))
        })();
        let (amount, payer_pc, payee_pc) = match checked {
            Ok(v) => v,
            Err(e) => return Outcome::new(Err(e)),
        };

        if self.transfers.is_full() {
            return Outcome::new(Err(LedgerError::LimitReached("transfers".into())));
        }
        let mut record = TransferRecord {
            id: a.id,
            payer: a.payer,
            payee: a.payee,
            currency: a.currency,
            amount,
            condition: a.condition,
            expires_at_ms: a.expires_at_ms,
            prepared_at_ms: a.now_ms,
            state: TransferState::Reserved,
            reason: 0,
            resolution: None,
            resolved_at_ms: 0,
            gross: payer_pc.gross || payee_pc.gross,
        };

        // Business refusals: recorded, so that a retry gets the same answer.
        if let Err(error) =
            self.check_standing_and_limits(&a, amount, &payer_pc, &payee_pc, record.gross)
        {
            record.state = TransferState::Refused;
            record.reason = error.code();
            record.resolved_at_ms = a.now_ms;
            events.push(Event::TransferRefused {
                transfer_id: a.id,
                payer: a.payer,
                payee: a.payee,
                reason: record.reason,
            });
            self.transfers.insert(record);
            self.refusals.insert(a.id, error.clone());
            return Outcome::new(Err(error));
        }

        // Gross: the money moves between the SETTLEMENT accounts, and the
        // payer's liquidity is held at once.
        let (debit, credit) = if record.gross {
            (payer_pc.settlement, payee_pc.settlement)
        } else {
            (payer_pc.position, payee_pc.position)
        };
        let posting = Posting {
            debit,
            credit,
            currency: a.currency,
            amount,
            phase: PostingPhase::Pending,
        };
        self.apply_posting(&posting);
        self.transfers.insert(record);
        self.in_flight.insert(a.id, a.expires_at_ms);
        events.push(Event::TransferReserved {
            transfer_id: a.id,
            payer: a.payer,
            payee: a.payee,
            expires_at_ms: a.expires_at_ms,
            posting,
        });
        Outcome::new(Ok(Reply::Transfer {
            transfer_id: a.id,
            state: TransferState::Reserved,
            reason: 0,
        }))
    }

    fn check_standing_and_limits(
        &self,
        a: &PrepareArgs,
        amount: i128,
        payer_pc: &ParticipantCurrency,
        payee_pc: &ParticipantCurrency,
        gross: bool,
    ) -> Result<(), LedgerError> {
        if !self.participant(a.payer).is_some_and(|p| p.active) || !self.accounts_active(payer_pc) {
            return Err(LedgerError::PayerUnavailable(a.payer));
        }
        if !self.participant(a.payee).is_some_and(|p| p.active) || !self.accounts_active(payee_pc) {
            return Err(LedgerError::PayeeUnavailable(a.payee));
        }
        let view = self.position_of(payer_pc);
        let required = view.position + view.reserved + amount;
        if required > view.liquidity {
            return Err(LedgerError::InsufficientLiquidity {
                required,
                available: view.liquidity,
            });
        }
        // A gross transfer leaves the position alone: only the liquidity
        // that covers it matters.
        if !gross && required > view.net_debit_cap {
            return Err(LedgerError::NetDebitCapExceeded {
                required,
                cap: view.net_debit_cap,
            });
        }
        Ok(())
    }

    /// Commit, abort or expire a transfer.
    fn resolve(
        &mut self,
        id: TransferId,
        request: Resolution,
        now_ms: i64,
        events: &mut Vec<Event>,
    ) -> Outcome {
        let Some(record) = self.transfers.get(&id) else {
            return Outcome::new(Err(LedgerError::TransferNotFound(id)));
        };
        match record.state {
            TransferState::Reserved => {}
            TransferState::Refused => {
                return Outcome::new(Err(LedgerError::TransferNotReserved {
                    id,
                    state: record.state,
                }));
            }
            TransferState::Committed | TransferState::Aborted => {
                return match record.resolution {
                    // The same request again: the recorded outcome.
                    Some(r) if r == request => Outcome::duplicate(Ok(transfer_reply(record))),
                    // A payee answering after the expiry: it learns the outcome.
                    Some(Resolution::Expire) if !matches!(request, Resolution::Expire) => {
                        Outcome::duplicate(Ok(transfer_reply(record)))
                    }
                    _ if matches!(request, Resolution::Expire) => {
                        Outcome::new(Err(LedgerError::TransferNotReserved {
                            id,
                            state: record.state,
                        }))
                    }
                    _ => Outcome::new(Err(LedgerError::ModifiedRequest(id.to_string()))),
                };
            }
        }

        let expired = now_ms >= record.expires_at_ms;
        let (state, reason) = match request {
            Resolution::Expire if !expired => {
                return Outcome::new(Err(LedgerError::NotYetExpired {
                    id,
                    expires_at_ms: record.expires_at_ms,
                    now_ms,
                }));
            }
            _ if expired => (TransferState::Aborted, 3303),
            Resolution::Fulfil(fulfilment) => {
                let digest: [u8; 32] = Sha256::digest(fulfilment).into();
                if digest == record.condition {
                    (TransferState::Committed, 0)
                } else {
                    (TransferState::Aborted, 3100)
                }
            }
            Resolution::Reject(code) => (TransferState::Aborted, code),
            Resolution::Expire => (TransferState::Aborted, 3303),
        };
        let posting = self.finish_transfer(id, request, state, reason, now_ms, events);
        debug_assert!(posting.is_some());
        match self.transfers.get(&id) {
            Some(record) => Outcome::new(Ok(transfer_reply(record))),
            None => Outcome::new(Err(LedgerError::TransferNotFound(id))),
        }
    }

    /// Moves a RESERVED transfer to its final state and emits the event.
    fn finish_transfer(
        &mut self,
        id: TransferId,
        request: Resolution,
        state: TransferState,
        reason: u16,
        now_ms: i64,
        events: &mut Vec<Event>,
    ) -> Option<Posting> {
        let record = self.transfers.get_mut(&id)?;
        assert_eq!(
            record.state,
            TransferState::Reserved,
            "only a reserved transfer resolves"
        );
        let in_flight = self.in_flight.remove(&id);
        assert_eq!(
            in_flight,
            Some(record.expires_at_ms),
            "every reserved transfer is in flight"
        );
        record.state = state;
        record.reason = reason;
        record.resolution = Some(request);
        record.resolved_at_ms = now_ms;
        let (payer, payee, currency, amount, gross) = (
            record.payer,
            record.payee,
            record.currency,
            record.amount,
            record.gross,
        );
        let payer_pc = self.participant_currencies.get(&(payer, currency))?;
        let payee_pc = self.participant_currencies.get(&(payee, currency))?;
        let (debit, credit) = if gross {
            (payer_pc.settlement, payee_pc.settlement)
        } else {
            (payer_pc.position, payee_pc.position)
        };
        let posting = Posting {
            debit,
            credit,
            currency,
            amount,
            phase: if state == TransferState::Committed {
                PostingPhase::PostPending
            } else {
                PostingPhase::VoidPending
            },
        };
        self.apply_posting(&posting);
        events.push(if state == TransferState::Committed {
            Event::TransferCommitted {
                transfer_id: id,
                payer,
                payee,
                posting,
            }
        } else {
            Event::TransferAborted {
                transfer_id: id,
                payer,
                payee,
                reason,
                resolution: request,
                posting,
            }
        });
        Some(posting)
    }

    fn expire_due(&mut self, now_ms: i64, max: u32, events: &mut Vec<Event>) -> Outcome {
        if max > EXPIRE_DUE_MAX {
            return Outcome::new(Err(LedgerError::Validation(format!(
                "expire-due max {max} is above {EXPIRE_DUE_MAX}"
            ))));
        }
        // In expiration order, then id order: deterministic whatever the
        // order of the hash map.
        let mut due: Vec<(i64, TransferId)> = self
            .in_flight
            .iter()
            .filter(|(_, expires_at_ms)| **expires_at_ms <= now_ms)
            .map(|(id, expires_at_ms)| (*expires_at_ms, *id))
            .collect();
        due.sort_unstable();
        due.truncate(max as usize);
        for &(_, id) in &due {
            self.finish_transfer(
                id,
                Resolution::Expire,
                TransferState::Aborted,
                3303,
                now_ms,
                events,
            );
        }
        // `due.len() <= max`, a u32.
        let count = due.len() as u32;
        Outcome::new(Ok(Reply::Expired { count }))
    }

    // ----- postings -----------------------------------------------------------

    /// The only place where balances change.
    fn apply_posting(&mut self, p: &Posting) {
        assert!(p.amount > 0, "postings move a positive amount");
        assert_ne!(p.debit, p.credit, "a posting moves between two accounts");
        let (d, c) = (p.debit.0 as usize, p.credit.0 as usize);
        debug_assert_eq!(self.accounts[d].currency, p.currency);
        debug_assert_eq!(self.accounts[c].currency, p.currency);
        {
            let debit = &mut self.accounts[d].balances;
            match p.phase {
                PostingPhase::Posted => debit.debits_posted += p.amount,
                PostingPhase::Pending => debit.debits_pending += p.amount,
                PostingPhase::PostPending => {
                    debit.debits_pending -= p.amount;
                    debit.debits_posted += p.amount;
                }
                PostingPhase::VoidPending => debit.debits_pending -= p.amount,
            }
            assert!(debit.debits_pending >= 0, "pending debits went negative");
        }
        let credit = &mut self.accounts[c].balances;
        match p.phase {
            PostingPhase::Posted => credit.credits_posted += p.amount,
            PostingPhase::Pending => credit.credits_pending += p.amount,
            PostingPhase::PostPending => {
                credit.credits_pending -= p.amount;
                credit.credits_posted += p.amount;
            }
            PostingPhase::VoidPending => credit.credits_pending -= p.amount,
        }
        assert!(credit.credits_pending >= 0, "pending credits went negative");
    }

    fn open_account(&mut self, owner: Owner, currency: Currency, kind: AccountType) -> AccountId {
        // Bounded by PARTICIPANTS_MAX * currencies * 2 + hub accounts.
        let id = AccountId(self.accounts.len() as u32);
        self.accounts.push(Account {
            id,
            owner,
            currency,
            kind,
            balances: Balances::default(),
            active: true,
        });
        id
    }

    // ----- queries ------------------------------------------------------------

    /// A participant by id.
    pub fn participant(&self, id: ParticipantId) -> Option<&Participant> {
        self.participants.get(index_of(id))
    }

    /// The name of a participant (the one way to turn an id into a name).
    pub fn participant_name(&self, id: ParticipantId) -> Option<&str> {
        self.participant(id).map(|p| p.name.as_str())
    }

    /// A participant by name.
    pub fn participant_by_name(&self, name: &str) -> Option<&Participant> {
        self.participant_names
            .get(name)
            .and_then(|id| self.participant(*id))
    }

    /// All participants, in id order.
    pub fn participants(&self) -> &[Participant] {
        &self.participants
    }

    /// All accounts, in id order.
    pub fn accounts(&self) -> &[Account] {
        &self.accounts
    }

    /// One account.
    pub fn account(&self, id: AccountId) -> Option<&Account> {
        self.accounts.get(id.0 as usize)
    }

    /// The hub accounts of a currency, if enabled.
    pub fn hub_currency(&self, currency: Currency) -> Option<&HubCurrency> {
        self.currencies.get(&currency)
    }

    /// The decimals the ledger keeps a currency's amounts at: the scale it
    /// was enabled with (its ISO minor unit for one not enabled).
    pub fn scale_of(&self, currency: Currency) -> u32 {
        self.currencies
            .get(&currency)
            .map_or(currency.scale(), HubCurrency::scale)
    }

    /// An amount in the ledger's units of its currency (refused if it has
    /// more decimals than the ledger keeps).
    pub fn units(&self, currency: Currency, amount: Decimal) -> Result<i128, LedgerError> {
        currency.to_units(amount, self.scale_of(currency))
    }

    /// A count of the ledger's units of a currency as a decimal, with the
    /// currency's ISO decimals unless it needs more.
    pub fn decimal(&self, currency: Currency, units: i128) -> Decimal {
        currency.from_units(units, self.scale_of(currency))
    }

    /// A net debit cap (a decimal >= 0) in the ledger's units.
    fn cap_units(&self, currency: Currency, cap: Decimal) -> Result<i128, LedgerError> {
        if cap.is_zero() {
            return Ok(0);
        }
        self.units(currency, cap)
    }

    /// Enabled currencies, sorted by code.
    pub fn currencies(&self) -> Vec<Currency> {
        let mut v: Vec<Currency> = self.currencies.keys().copied().collect();
        v.sort();
        v
    }

    /// A participant's accounts and limit in a currency.
    pub fn participant_currency(
        &self,
        participant: ParticipantId,
        currency: Currency,
    ) -> Option<&ParticipantCurrency> {
        self.participant_currencies.get(&(participant, currency))
    }

    /// A participant's position, reservations, liquidity and headroom.
    pub fn position(&self, participant: ParticipantId, currency: Currency) -> Option<PositionView> {
        self.participant_currencies
            .get(&(participant, currency))
            .map(|pc| self.position_of(pc))
    }

    /// A transfer by id (refused prepares included).
    pub fn transfer(&self, id: TransferId) -> Option<&TransferRecord> {
        self.transfers.get(&id)
    }

    /// The RESERVED transfers, with their expiry, in no particular order.
    pub fn in_flight(&self) -> impl Iterator<Item = (TransferId, i64)> + '_ {
        self.in_flight
            .iter()
            .map(|(id, expires_at_ms)| (*id, *expires_at_ms))
    }

    /// Number of RESERVED transfers.
    pub fn in_flight_count(&self) -> usize {
        self.in_flight.len()
    }

    /// Whether a RESERVED transfer has expired by `now_ms` (an `ExpireDue`
    /// at that time would abort it).
    pub fn any_due(&self, now_ms: i64) -> bool {
        self.in_flight
            .values()
            .any(|expires_at_ms| *expires_at_ms <= now_ms)
    }

    /// Number of transfers known, refused prepares included.
    pub fn transfer_count(&self) -> usize {
        self.transfers.len()
    }

    /// Iterates over every transfer, in no particular order.
    pub fn transfers(&self) -> impl Iterator<Item = &TransferRecord> {
        self.transfers.values()
    }

    /// A funds-in or funds-out record by id.
    pub fn funds(&self, id: FundsId) -> Option<&FundsRecord> {
        self.funds.get(&id)
    }

    /// Every funds-in and funds-out record, in no order.
    pub fn all_funds(&self) -> impl Iterator<Item = &FundsRecord> {
        self.funds.values()
    }

    fn position_of(&self, pc: &ParticipantCurrency) -> PositionView {
        let pos = &self.accounts[pc.position.0 as usize].balances;
        let set = &self.accounts[pc.settlement.0 as usize].balances;
        let position = pos.debit_balance();
        let reserved = pos.debits_pending;
        let liquidity = set.credit_balance() - set.debits_pending;
        PositionView {
            participant: pc.participant,
            currency: pc.currency,
            position,
            reserved,
            liquidity,
            net_debit_cap: pc.net_debit_cap,
            available: liquidity.min(pc.net_debit_cap) - position - reserved,
        }
    }

    fn hub(&self, currency: Currency) -> Result<HubCurrency, LedgerError> {
        self.currencies
            .get(&currency)
            .copied()
            .ok_or_else(|| LedgerError::UnknownCurrency(currency.to_string()))
    }

    fn participant_currency_checked(
        &self,
        participant: ParticipantId,
        currency: Currency,
    ) -> Result<ParticipantCurrency, LedgerError> {
        self.participant(participant)
            .ok_or(LedgerError::ParticipantNotFound(participant))?;
        self.hub(currency)?;
        self.participant_currencies
            .get(&(participant, currency))
            .copied()
            .ok_or_else(|| LedgerError::AccountsNotFound(participant, currency.to_string()))
    }
}

struct PrepareArgs {
    id: TransferId,
    payer: ParticipantId,
    payee: ParticipantId,
    currency: Currency,
    amount: Decimal,
    condition: [u8; 32],
    expires_at_ms: i64,
    now_ms: i64,
}

fn transfer_reply(record: &TransferRecord) -> Reply {
    Reply::Transfer {
        transfer_id: record.id,
        state: record.state,
        reason: record.reason,
    }
}

/// Index into `participants` of an id; ids start at 1, so 0 maps past the end.
fn index_of(id: ParticipantId) -> usize {
    (id.0 as usize).wrapping_sub(1)
}

fn validate_name(name: &str) -> Result<(), LedgerError> {
    let ok_len = !name.is_empty() && name.len() <= PARTICIPANT_NAME_LENGTH_MAX;
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let ok_start = name.bytes().next().is_some_and(|b| b != b'-');
    if ok_len && ok_chars && ok_start {
        Ok(())
    } else {
        Err(LedgerError::Validation(format!(
            "participant name {:?} must be 1 to {PARTICIPANT_NAME_LENGTH_MAX} characters of a-z, 0-9 and '-', not starting with '-'",
            name.chars().take(40).collect::<String>()
        )))
    }
}
