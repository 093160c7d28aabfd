//! Property tests: random sequences of commits, window closes, settlements,
//! advances and aborts over a few participants and two currencies, checked
//! after every step against the invariants of settlement.

use std::collections::{BTreeMap, BTreeSet};

use harambee_ledger::{Currency, ParticipantId, PostingPhase, TransferId};
use harambee_settlement::*;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Commit {
        payer: u32,
        payee: u32,
        amount: i128,
        currency: usize,
    },
    Close {
        currency: usize,
    },
    Settle {
        windows: Vec<usize>,
        bilateral: bool,
    },
    Advance {
        settlement: usize,
        participant: u32,
    },
    Abort {
        settlement: usize,
    },
    Gross {
        participant: u32,
        currency: usize,
        on: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (1u32..=5, 1u32..=5, 1i128..1_000_000, 0usize..2).prop_map(|(payer, payee, amount, currency)| Op::Commit { payer, payee, amount, currency }),
        2 => (0usize..2).prop_map(|currency| Op::Close { currency }),
        2 => (proptest::collection::vec(0usize..12, 1..4), any::<bool>()).prop_map(|(windows, bilateral)| Op::Settle { windows, bilateral }),
        6 => (0usize..6, 1u32..=5).prop_map(|(settlement, participant)| Op::Advance { settlement, participant }),
        1 => (0usize..6).prop_map(|settlement| Op::Abort { settlement }),
        1 => (1u32..=5, 0usize..2, any::<bool>()).prop_map(|(participant, currency, on)| Op::Gross { participant, currency, on }),
    ]
}

/// What the ledger would hold, per currency: POSITION and SETTLEMENT
/// balances (posted debits - credits) moved by commits and settlement
/// postings, and pending amounts.
#[derive(Default)]
struct Model {
    posted: BTreeMap<(Currency, AccountRef), i128>,
    pending_debits: BTreeMap<(Currency, AccountRef), i128>,
    /// Per currency: sum of posted debits and of posted credits.
    totals: BTreeMap<Currency, (i128, i128)>,
    /// Every transfer committed, with its window.
    committed: BTreeMap<TransferId, WindowId>,
    /// Every transfer committed on a net model: currency, payer, payee,
    /// amount; kept independently of the windows.
    net_transfers: BTreeMap<TransferId, (Currency, ParticipantId, ParticipantId, i128)>,
}

impl Model {
    /// What `q` sent minus received in `currency` over the net transfers
    /// the filter keeps.
    fn sent(
        &self,
        currency: Currency,
        q: ParticipantId,
        keep: impl Fn(TransferId) -> bool,
    ) -> i128 {
        self.net_transfers
            .iter()
            .filter(|(t, (c, _, _, _))| *c == currency && keep(**t))
            .map(|(_, (_, a, b, v))| {
                if *a == q {
                    *v
                } else if *b == q {
                    -v
                } else {
                    0
                }
            })
            .sum()
    }
}

impl Model {
    fn apply(&mut self, postings: &[SettlementPosting]) {
        for x in postings {
            assert!(x.amount > 0);
            let (d, c) = ((x.currency, x.debit), (x.currency, x.credit));
            match x.phase {
                PostingPhase::Posted => {
                    *self.posted.entry(d).or_default() += x.amount;
                    *self.posted.entry(c).or_default() -= x.amount;
                    let t = self.totals.entry(x.currency).or_default();
                    t.0 += x.amount;
                    t.1 += x.amount;
                }
                PostingPhase::Pending => {
                    *self.pending_debits.entry(d).or_default() += x.amount;
                }
                PostingPhase::PostPending => {
                    *self.pending_debits.entry(d).or_default() -= x.amount;
                    *self.posted.entry(d).or_default() += x.amount;
                    *self.posted.entry(c).or_default() -= x.amount;
                }
                PostingPhase::VoidPending => {
                    *self.pending_debits.entry(d).or_default() -= x.amount;
                }
            }
            assert!(self.pending_debits.get(&d).copied().unwrap_or(0) >= 0);
        }
    }
}

fn check(s: &Settlements, m: &Model, currencies: &[Currency]) {
    // At most one open window per currency, and it is the one `open_window`
    // names.
    for c in currencies {
        let open: Vec<&Window> = s
            .windows()
            .iter()
            .filter(|w| w.currency == *c && w.state == WindowState::Open)
            .collect();
        assert!(open.len() <= 1, "{c}: {} open windows", open.len());
        assert_eq!(open.first().map(|w| w.id), s.open_window(*c).map(|w| w.id));
    }
    // Every committed transfer is in exactly one window: the one it went to.
    let mut seen = BTreeSet::new();
    for w in s.windows() {
        for t in &w.transfers {
            assert!(seen.insert(*t), "transfer {t} in two windows");
            assert_eq!(m.committed.get(t), Some(&w.id));
        }
    }
    assert_eq!(seen.len(), m.committed.len());
    for st in s.settlements() {
        // Nets sum to zero; multilateral = sum of bilateral.
        assert_eq!(st.nets.multilateral.values().sum::<i128>(), 0);
        for (q, net) in &st.nets.multilateral {
            let bilateral: i128 = st
                .nets
                .bilateral
                .iter()
                .map(|((a, b), v)| {
                    if a == q {
                        *v
                    } else if b == q {
                        -v
                    } else {
                        0
                    }
                })
                .sum();
            assert_eq!(*net, bilateral, "participant {q}");
        }
        // The settlement's state is its least advanced account's.
        if st.state != SettlementState::Aborted {
            let least = st.accounts.values().map(|a| a.state).min();
            assert_eq!(Some(st.state), least.or(Some(SettlementState::Settled)));
        }
        // A settled settlement's windows are settled.
        if st.state == SettlementState::Settled {
            for w in &st.windows {
                assert_eq!(s.window(*w).map(|w| w.state), Some(WindowState::Settled));
            }
        }
    }
    // The nets of each settlement are what its windows' net transfers
    // moved, computed here from the transfers themselves.
    for st in s.settlements() {
        for (q, net) in &st.nets.multilateral {
            let expect = m.sent(st.currency, *q, |t| st.windows.contains(&m.committed[&t]));
            assert_eq!(*net, expect, "net of {q} in settlement {}", st.id);
        }
    }
    // Positions: every net transfer moves the payer's POSITION up and the
    // payee's down; settlement brings it back by the net when the
    // participant's account is committed. So a position is what the
    // transfers of windows not yet committed for it moved.
    for c in currencies {
        let participants: BTreeSet<ParticipantId> = m
            .net_transfers
            .values()
            .flat_map(|(_, a, b, _)| [*a, *b])
            .collect();
        for q in participants {
            let committed_for_q = |t: TransferId| {
                let w = m.committed[&t];
                s.window(w)
                    .and_then(|w| w.settlement)
                    .and_then(|id| s.settlement(id))
                    .and_then(|st| st.accounts.get(&q))
                    .is_some_and(|a| {
                        a.state >= SettlementState::PsTransfersCommitted
                            && a.state != SettlementState::Aborted
                    })
            };
            let position = m.sent(*c, q, |_| true)
                + m.posted
                    .get(&(*c, AccountRef::Position(q)))
                    .copied()
                    .unwrap_or(0);
            let expect = m.sent(*c, q, |t| !committed_for_q(t));
            assert_eq!(position, expect, "{c} position of {q}");
        }
        // The hub's multilateral account nets to zero over finished
        // settlements, and every posting was balanced.
        let t = m.totals.get(c).copied().unwrap_or_default();
        assert_eq!(t.0, t.1);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn settlement_invariants_hold_after_every_step(ops in proptest::collection::vec(op(), 1..200)) {
        let currencies = [Currency::parse("KES").expect("KES"), Currency::parse("USD").expect("USD")];
        let mut s = Settlements::new();
        let mut m = Model::default();
        let mut next_transfer = 1u128;
        let mut now = 0i64;
        for op in ops {
            now += 1;
            let before = s.clone();
            let result: Result<(), SettlementError> = match op {
                Op::Commit { payer, payee, amount, currency } => {
                    if payer == payee {
                        Ok(()) // the ledger refuses it; never committed
                    } else {
                        let t = TransferId(next_transfer);
                        next_transfer += 1;
                        let (c, a, b) = (currencies[currency], ParticipantId(payer), ParticipantId(payee));
                        if !s.is_gross(a, b, c) {
                            m.net_transfers.insert(t, (c, a, b, amount));
                        }
                        let w = s.record_commit(t, c, a, b, amount, now);
                        m.committed.insert(t, w);
                        Ok(())
                    }
                }
                Op::Close { currency } => match s.open_window(currencies[currency]).map(|w| w.id) {
                    Some(id) => s.close_window(id, "end of day", now).map(|_| ()),
                    None => Ok(()),
                },
                Op::Settle { windows, bilateral } => {
                    let ids: Vec<WindowId> = windows.iter().map(|i| WindowId(*i as u64 + 1)).collect();
                    let model = if bilateral { SettlementModel::BilateralNet } else { SettlementModel::MultilateralNet };
                    s.create_settlement(model, &ids, "daily", now).map(|_| ())
                }
                Op::Advance { settlement, participant } => {
                    let id = SettlementId(settlement as u64 + 1);
                    let to = s
                        .settlement(id)
                        .and_then(|st| st.accounts.get(&ParticipantId(participant)))
                        .and_then(|a| a.state.next())
                        .unwrap_or(SettlementState::PsTransfersRecorded);
                    s.advance(id, ParticipantId(participant), to, 0).map(|p| m.apply(&p))
                }
                Op::Abort { settlement } => s.abort(SettlementId(settlement as u64 + 1), 0).map(|p| m.apply(&p)),
                Op::Gross { participant, currency, on } => {
                    let model = if on { SettlementModel::ImmediateGross } else { SettlementModel::MultilateralNet };
                    s.set_model(ParticipantId(participant), currencies[currency], model);
                    Ok(())
                }
            };
            if let Err(e) = result {
                // A refused call changes nothing.
                prop_assert_eq!(&s, &before, "{} changed the state", e);
                prop_assert_eq!(e.code(), 3100);
            }
            check(&s, &m, &currencies);
        }
    }
}
