//! Settlements over closed windows, and `Settlements`: the windows and
//! settlements of the switch, the state machine the log's settlement
//! commands drive.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use harambee_ledger::{Currency, ParticipantId, PostingPhase, TransferId};
use serde::{Deserialize, Serialize};

use crate::error::SettlementError;
use crate::net::Nets;
use crate::window::{Window, WindowId, WindowState};

/// Settlements are numbered from 1.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub struct SettlementId(pub u64);

impl fmt::Display for SettlementId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// How a participant's obligations in a currency are settled.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
pub enum SettlementModel {
    /// Each participant settles its net against all others, through the
    /// hub's multilateral settlement account.
    #[default]
    MultilateralNet,
    /// Each pair of participants settles what one owes the other; the
    /// report carries the pairwise instructions.
    BilateralNet,
    /// Each transfer settles at commit against the SETTLEMENT accounts;
    /// liquidity is checked at prepare.
    ImmediateGross,
}

/// The states of a settlement and of each of its accounts, in order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub enum SettlementState {
    PendingSettlement,
    PsTransfersRecorded,
    PsTransfersReserved,
    PsTransfersCommitted,
    Settled,
    Aborted,
}

impl SettlementState {
    /// The state an account moves to next, if any.
    pub fn next(self) -> Option<SettlementState> {
        use SettlementState::*;
        match self {
            PendingSettlement => Some(PsTransfersRecorded),
            PsTransfersRecorded => Some(PsTransfersReserved),
            PsTransfersReserved => Some(PsTransfersCommitted),
            PsTransfersCommitted => Some(Settled),
            Settled | Aborted => None,
        }
    }
}

/// An account a settlement posting names.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub enum AccountRef {
    Settlement(ParticipantId),
    Position(ParticipantId),
    HubMultilateralSettlement,
}

/// A posting for the ledger to apply: `amount` (> 0, minor units) from
/// `debit` to `credit`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SettlementPosting {
    pub debit: AccountRef,
    pub credit: AccountRef,
    pub currency: Currency,
    pub amount: i128,
    pub phase: PostingPhase,
}

/// One participant's part of a settlement.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct AccountSettlement {
    /// Its multilateral net: positive, it pays; negative, it is paid.
    pub net: i128,
    pub state: SettlementState,
    /// The operator's reference for the account's last step (e.g. the
    /// settlement bank's payment id).
    #[serde(default)]
    pub external_reference: String,
}

/// A settlement of one or more windows of one currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    pub id: SettlementId,
    pub currency: Currency,
    pub model: SettlementModel,
    pub windows: Vec<WindowId>,
    /// Why the operator created it.
    pub reason: String,
    pub created_at_ms: i64,
    /// When an account last changed state (or the settlement was created).
    pub changed_at_ms: i64,
    pub state: SettlementState,
    #[serde(with = "crate::pairs")]
    pub accounts: BTreeMap<ParticipantId, AccountSettlement>,
    pub nets: Nets,
}

impl Settlement {
    /// The settlement's state: ABORTED if aborted, otherwise that of its
    /// least advanced account (SETTLED once all are).
    fn derived_state(&self) -> SettlementState {
        if self.state == SettlementState::Aborted {
            return SettlementState::Aborted;
        }
        self.accounts
            .values()
            .map(|a| a.state)
            .min()
            .unwrap_or(SettlementState::Settled)
    }

    /// The liquidity posting of an account: SETTLEMENT to the hub for a
    /// payer, the hub to SETTLEMENT for a payee.
    fn liquidity_posting(
        &self,
        p: ParticipantId,
        net: i128,
        phase: PostingPhase,
    ) -> SettlementPosting {
        let (debit, credit) = if net > 0 {
            (
                AccountRef::Settlement(p),
                AccountRef::HubMultilateralSettlement,
            )
        } else {
            (
                AccountRef::HubMultilateralSettlement,
                AccountRef::Settlement(p),
            )
        };
        SettlementPosting {
            debit,
            credit,
            currency: self.currency,
            amount: net.abs(),
            phase,
        }
    }

    /// The position posting of an account: brings POSITION back by the net.
    fn position_posting(&self, p: ParticipantId, net: i128) -> SettlementPosting {
        let (debit, credit) = if net > 0 {
            (
                AccountRef::HubMultilateralSettlement,
                AccountRef::Position(p),
            )
        } else {
            (
                AccountRef::Position(p),
                AccountRef::HubMultilateralSettlement,
            )
        };
        SettlementPosting {
            debit,
            credit,
            currency: self.currency,
            amount: net.abs(),
            phase: PostingPhase::Posted,
        }
    }
}

/// The windows and settlements of the switch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlements {
    /// Window n is at index n - 1.
    windows: Vec<Window>,
    /// The open window of each currency that had a commit or a close.
    #[serde(with = "crate::pairs")]
    open: BTreeMap<Currency, WindowId>,
    /// Settlement n is at index n - 1.
    settlements: Vec<Settlement>,
    /// Participant-currencies not on the default (multilateral net) model.
    #[serde(with = "crate::pairs")]
    models: BTreeMap<(ParticipantId, Currency), SettlementModel>,
}

impl Settlements {
    pub fn new() -> Settlements {
        Settlements::default()
    }

    /// Sets a participant-currency's model (the default is multilateral
    /// net). It applies to transfers committed from now on.
    pub fn set_model(
        &mut self,
        participant: ParticipantId,
        currency: Currency,
        model: SettlementModel,
    ) {
        if model == SettlementModel::MultilateralNet {
            self.models.remove(&(participant, currency));
        } else {
            self.models.insert((participant, currency), model);
        }
    }

    pub fn model(&self, participant: ParticipantId, currency: Currency) -> SettlementModel {
        self.models
            .get(&(participant, currency))
            .copied()
            .unwrap_or_default()
    }

    /// Whether a transfer between these two settles gross at commit: when
    /// either side is on immediate gross settlement in the currency.
    pub fn is_gross(&self, payer: ParticipantId, payee: ParticipantId, currency: Currency) -> bool {
        self.model(payer, currency) == SettlementModel::ImmediateGross
            || self.model(payee, currency) == SettlementModel::ImmediateGross
    }

    /// Records a committed transfer in the open window of its currency
    /// (opening the first one if needed). Returns the window. Call it
    /// exactly once per commit.
    pub fn record_commit(
        &mut self,
        transfer: TransferId,
        currency: Currency,
        payer: ParticipantId,
        payee: ParticipantId,
        amount: i128,
        now_ms: i64,
    ) -> WindowId {
        let gross = self.is_gross(payer, payee, currency);
        self.record_commit_as(transfer, currency, payer, payee, amount, gross, now_ms)
    }

    /// Like `record_commit`, with whether the transfer settled gross given
    /// (the switch knows it from the ledger's posting).
    #[allow(clippy::too_many_arguments)]
    pub fn record_commit_as(
        &mut self,
        transfer: TransferId,
        currency: Currency,
        payer: ParticipantId,
        payee: ParticipantId,
        amount: i128,
        gross: bool,
        now_ms: i64,
    ) -> WindowId {
        let id = self.open_window_of(currency, now_ms);
        self.window_mut(id)
            .expect("the open window exists")
            .record(transfer, payer, payee, amount, gross);
        id
    }

    /// The open window of a currency, opened now if there is none.
    pub fn open_window_of(&mut self, currency: Currency, now_ms: i64) -> WindowId {
        if let Some(id) = self.open.get(&currency) {
            return *id;
        }
        let id = WindowId(self.windows.len() as u64 + 1);
        self.windows.push(Window::open(id, currency, now_ms));
        self.open.insert(currency, id);
        id
    }

    /// The open window of a currency, if it has one.
    pub fn open_window(&self, currency: Currency) -> Option<&Window> {
        self.open.get(&currency).and_then(|id| self.window(*id))
    }

    pub fn window(&self, id: WindowId) -> Option<&Window> {
        let index = usize::try_from(id.0).ok()?.checked_sub(1)?;
        self.windows.get(index)
    }

    fn window_mut(&mut self, id: WindowId) -> Option<&mut Window> {
        let index = usize::try_from(id.0).ok()?.checked_sub(1)?;
        self.windows.get_mut(index)
    }

    /// Every window, oldest first.
    pub fn windows(&self) -> &[Window] {
        &self.windows
    }

    pub fn settlement(&self, id: SettlementId) -> Option<&Settlement> {
        let index = usize::try_from(id.0).ok()?.checked_sub(1)?;
        self.settlements.get(index)
    }

    /// Every settlement, oldest first.
    pub fn settlements(&self) -> &[Settlement] {
        &self.settlements
    }

    /// Closes the open window `id` and opens the next of its currency.
    /// O(1) whatever the window holds: its nets were kept up to date at
    /// each commit.
    pub fn close_window(
        &mut self,
        id: WindowId,
        reason: &str,
        now_ms: i64,
    ) -> Result<WindowId, SettlementError> {
        let window = self.window(id).ok_or(SettlementError::UnknownWindow(id))?;
        if window.state != WindowState::Open {
            return Err(SettlementError::WindowNotOpen {
                id,
                state: window.state,
            });
        }
        if window.is_empty() {
            return Err(SettlementError::WindowEmpty(id));
        }
        let currency = window.currency;
        let w = self.window_mut(id).expect("checked above");
        w.state = WindowState::Closed;
        w.closed_at_ms = Some(now_ms);
        w.close_reason = reason.to_string();
        self.open.remove(&currency);
        Ok(self.open_window_of(currency, now_ms))
    }

    /// Creates a settlement of closed (or aborted) windows of one currency
    /// on a deferred net model: computes the nets and puts every window and
    /// every participant's account in PENDING_SETTLEMENT.
    pub fn create_settlement(
        &mut self,
        model: SettlementModel,
        window_ids: &[WindowId],
        reason: &str,
        now_ms: i64,
    ) -> Result<SettlementId, SettlementError> {
        if model == SettlementModel::ImmediateGross {
            return Err(SettlementError::GrossIsNotDeferred);
        }
        let first = *window_ids.first().ok_or(SettlementError::NoWindows)?;
        let currency = self
            .window(first)
            .ok_or(SettlementError::UnknownWindow(first))?
            .currency;
        let mut seen = BTreeSet::new();
        for id in window_ids {
            let w = self
                .window(*id)
                .ok_or(SettlementError::UnknownWindow(*id))?;
            if !seen.insert(*id) {
                return Err(SettlementError::WindowRepeated(*id));
            }
            if w.currency != currency {
                return Err(SettlementError::CurrencyMismatch {
                    id: *id,
                    expected: currency,
                    found: w.currency,
                });
            }
            if !matches!(w.state, WindowState::Closed | WindowState::Aborted) {
                return Err(SettlementError::WindowNotSettleable {
                    id: *id,
                    state: w.state,
                });
            }
        }
        let nets = Nets::of_windows(
            currency,
            window_ids.iter().filter_map(|id| self.window(*id)),
        );
        let id = SettlementId(self.settlements.len() as u64 + 1);
        for wid in window_ids {
            let w = self.window_mut(*wid).expect("checked above");
            w.state = WindowState::PendingSettlement;
            w.settlement = Some(id);
        }
        let accounts = nets
            .multilateral
            .iter()
            .map(|(p, net)| {
                (
                    *p,
                    AccountSettlement {
                        net: *net,
                        state: SettlementState::PendingSettlement,
                        external_reference: String::new(),
                    },
                )
            })
            .collect();
        let mut settlement = Settlement {
            id,
            currency,
            model,
            windows: window_ids.to_vec(),
            reason: reason.to_string(),
            created_at_ms: now_ms,
            changed_at_ms: now_ms,
            state: SettlementState::PendingSettlement,
            accounts,
            nets,
        };
        // Windows whose transfers were all gross have no accounts: the
        // settlement is SETTLED at once.
        settlement.state = settlement.derived_state();
        self.settlements.push(settlement);
        if self.settlements[self.settlements.len() - 1].state == SettlementState::Settled {
            self.set_windows(id, WindowState::Settled);
        }
        Ok(id)
    }

    /// Moves one participant's account to `to`, the next state of its
    /// current one, and returns the postings that step makes:
    ///
    /// - PS_TRANSFERS_RECORDED: none (the settlement transfer is recorded);
    /// - PS_TRANSFERS_RESERVED: a pending posting of the net between the
    ///   participant's SETTLEMENT account and HUB_MULTILATERAL_SETTLEMENT
    ///   (a payer's liquidity is reserved);
    /// - PS_TRANSFERS_COMMITTED: that posting posted, and a posting that
    ///   brings the participant's POSITION back by its net;
    /// - SETTLED: none.
    ///
    /// The postings `advance` would make, without making them (the same
    /// checks, the same errors).
    pub fn preview_advance(
        &self,
        id: SettlementId,
        participant: ParticipantId,
        to: SettlementState,
    ) -> Result<Vec<SettlementPosting>, SettlementError> {
        let s = self
            .settlement(id)
            .ok_or(SettlementError::UnknownSettlement(id))?;
        if matches!(s.state, SettlementState::Settled | SettlementState::Aborted) {
            return Err(SettlementError::SettlementFinished { id, state: s.state });
        }
        let account = s
            .accounts
            .get(&participant)
            .ok_or(SettlementError::NotInSettlement {
                settlement: id,
                participant,
            })?;
        if account.state.next() != Some(to) {
            return Err(SettlementError::InvalidTransition {
                from: account.state,
                to,
            });
        }
        let net = account.net;
        Ok(match to {
            _ if net == 0 => vec![],
            SettlementState::PsTransfersReserved => {
                vec![s.liquidity_posting(participant, net, PostingPhase::Pending)]
            }
            SettlementState::PsTransfersCommitted => vec![
                s.liquidity_posting(participant, net, PostingPhase::PostPending),
                s.position_posting(participant, net),
            ],
            _ => vec![],
        })
    }

    /// Moves one participant's account to `to`, the next state of its
    /// current one, and returns the postings that step makes:
    ///
    /// - PS_TRANSFERS_RECORDED: none (the settlement transfer is recorded);
    /// - PS_TRANSFERS_RESERVED: a pending posting of the net between the
    ///   participant's SETTLEMENT account and HUB_MULTILATERAL_SETTLEMENT
    ///   (a payer's liquidity is reserved);
    /// - PS_TRANSFERS_COMMITTED: that posting posted, and a posting that
    ///   brings the participant's POSITION back by its net;
    /// - SETTLED: none.
    ///
    /// Accounts with a zero net make no postings. When every account is
    /// SETTLED, so are the settlement and its windows.
    pub fn advance(
        &mut self,
        id: SettlementId,
        participant: ParticipantId,
        to: SettlementState,
        now_ms: i64,
    ) -> Result<Vec<SettlementPosting>, SettlementError> {
        let postings = self.preview_advance(id, participant, to)?;
        let index = id.0 as usize - 1;
        let s = &mut self.settlements[index];
        s.accounts
            .get_mut(&participant)
            .expect("checked above")
            .state = to;
        s.state = s.derived_state();
        s.changed_at_ms = now_ms;
        if s.state == SettlementState::Settled {
            self.set_windows(id, WindowState::Settled);
        }
        Ok(postings)
    }

    /// Aborts a settlement none of whose accounts is committed yet: voids
    /// the reservations made and returns its windows to ABORTED, from
    /// which they can be settled again. Returns the voiding postings.
    pub fn abort(
        &mut self,
        id: SettlementId,
        now_ms: i64,
    ) -> Result<Vec<SettlementPosting>, SettlementError> {
        let postings = self.preview_abort(id)?;
        let s = &mut self.settlements[id.0 as usize - 1];
        s.state = SettlementState::Aborted;
        s.changed_at_ms = now_ms;
        for a in s.accounts.values_mut() {
            a.state = SettlementState::Aborted;
        }
        self.set_windows(id, WindowState::Aborted);
        Ok(postings)
    }

    /// The postings `abort` would make, without aborting (the same checks,
    /// the same errors).
    pub fn preview_abort(
        &self,
        id: SettlementId,
    ) -> Result<Vec<SettlementPosting>, SettlementError> {
        let s = self
            .settlement(id)
            .ok_or(SettlementError::UnknownSettlement(id))?;
        if matches!(s.state, SettlementState::Settled | SettlementState::Aborted) {
            return Err(SettlementError::SettlementFinished { id, state: s.state });
        }
        if s.accounts
            .values()
            .any(|a| a.state >= SettlementState::PsTransfersCommitted)
        {
            return Err(SettlementError::AbortAfterCommit(id));
        }
        Ok(s.accounts
            .iter()
            .filter(|(_, a)| a.state == SettlementState::PsTransfersReserved && a.net != 0)
            .map(|(p, a)| s.liquidity_posting(*p, a.net, PostingPhase::VoidPending))
            .collect())
    }

    /// Notes the operator's reference for a participant's account (after
    /// a step). Unknown settlements or accounts are ignored.
    pub fn set_external_reference(
        &mut self,
        id: SettlementId,
        participant: ParticipantId,
        reference: &str,
    ) {
        let Some(index) = usize::try_from(id.0).ok().and_then(|i| i.checked_sub(1)) else {
            return;
        };
        if let Some(a) = self
            .settlements
            .get_mut(index)
            .and_then(|s| s.accounts.get_mut(&participant))
        {
            a.external_reference = reference.to_string();
        }
    }

    fn set_windows(&mut self, id: SettlementId, state: WindowState) {
        let windows = self.settlements[id.0 as usize - 1].windows.clone();
        for w in windows {
            if let Some(w) = self.window_mut(w) {
                w.state = state;
            }
        }
    }
}
