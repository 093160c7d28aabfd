//! Property tests: random command sequences, invariants checked after every
//! batch.
//!
//! - every currency balances, nothing pending is orphaned
//!   (`Ledger::check_invariants`);
//! - the postings carried by events, replayed on their own, give exactly the
//!   ledger's balances;
//! - positions equal what the committed transfers say, liquidity what the
//!   funds records say;
//! - no transfer is reserved twice or resolved twice, and a final state never
//!   changes; a duplicate outcome emits nothing;
//! - snapshot -> JSON -> restore -> replay of the rest gives the same
//!   outcomes, events and digest as applying everything.

mod common;

use std::collections::HashMap;

use common::*;
use harambee_ledger::*;
use proptest::prelude::*;
use rust_decimal::Decimal;

#[derive(Clone, Debug)]
enum Op {
    Prepare {
        id: u8,
        payer: u8,
        payee: u8,
        cur: u8,
        amount: (u32, u32),
        expires_in_ms: i64,
        good: bool,
    },
    Commit {
        id: u8,
        good: bool,
    },
    Abort {
        id: u8,
        reason: u16,
    },
    Expire {
        id: u8,
    },
    ExpireDue {
        max: u32,
    },
    FundsIn {
        fid: u8,
        p: u8,
        cur: u8,
        amount: (u32, u32),
    },
    FundsOutReserve {
        fid: u8,
        p: u8,
        cur: u8,
        amount: (u32, u32),
    },
    FundsOutCommit {
        fid: u8,
    },
    FundsOutAbort {
        fid: u8,
    },
    SetCap {
        p: u8,
        cur: u8,
        amount: (u32, u32),
    },
    SetActive {
        p: u8,
        active: bool,
    },
    SetAccountActive {
        p: u8,
        cur: u8,
        settlement: bool,
        active: bool,
    },
}

fn amount() -> impl Strategy<Value = (u32, u32)> {
    // Mostly valid amounts (scale 0..=2), some with too many decimals or zero.
    prop_oneof![
        8 => (1u32..40_000, 0u32..=2),
        1 => (0u32..3, 0u32..=1),
        1 => (1u32..100_000, 3u32..=4),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..40, 0u8..4, 0u8..4, 0u8..3, amount(), -500i64..4000, prop::bool::weighted(0.9))
            .prop_map(|(id, payer, payee, cur, amount, expires_in_ms, good)| Op::Prepare {
                id, payer, payee, cur, amount, expires_in_ms, good
            }),
        4 => (0u8..40, prop::bool::weighted(0.85)).prop_map(|(id, good)| Op::Commit { id, good }),
        1 => (0u8..40, prop::sample::select(vec![5104u16, 5105, 1001, 0, 7000]))
            .prop_map(|(id, reason)| Op::Abort { id, reason }),
        1 => (0u8..40).prop_map(|id| Op::Expire { id }),
        1 => (0u32..8).prop_map(|max| Op::ExpireDue { max }),
        1 => (0u8..10, 0u8..4, 0u8..3, amount()).prop_map(|(fid, p, cur, amount)| Op::FundsIn { fid, p, cur, amount }),
        1 => (0u8..10, 0u8..4, 0u8..3, amount())
            .prop_map(|(fid, p, cur, amount)| Op::FundsOutReserve { fid, p, cur, amount }),
        1 => (0u8..10).prop_map(|fid| Op::FundsOutCommit { fid }),
        1 => (0u8..10).prop_map(|fid| Op::FundsOutAbort { fid }),
        1 => (0u8..4, 0u8..3, amount()).prop_map(|(p, cur, amount)| Op::SetCap { p, cur, amount }),
        1 => (0u8..4, prop::bool::weighted(0.7)).prop_map(|(p, active)| Op::SetActive { p, active }),
        1 => (0u8..4, 0u8..3, any::<bool>(), prop::bool::weighted(0.7))
            .prop_map(|(p, cur, settlement, active)| Op::SetAccountActive { p, cur, settlement, active }),
    ]
}

/// A list of batches, each a list of (op, milliseconds to advance the clock).
fn batches() -> impl Strategy<Value = Vec<Vec<(Op, i64)>>> {
    prop::collection::vec(prop::collection::vec((op(), 0i64..400), 1..40), 1..12)
}

fn currency(i: u8) -> Currency {
    // The third one is never enabled.
    match i {
        0 => usd(),
        1 => ugx(),
        _ => Currency::parse("KES").expect("KES"),
    }
}

fn participant(i: u8) -> ParticipantId {
    // 1..=3 exist; 4 does not.
    ParticipantId(u32::from(i) + 1)
}

fn dec((m, s): (u32, u32)) -> Decimal {
    Decimal::new(i64::from(m), s)
}

fn to_commands(batches: &[Vec<(Op, i64)>]) -> Vec<Vec<Command>> {
    let mut now = T0;
    batches
        .iter()
        .map(|batch| {
            batch
                .iter()
                .map(|(op, dt)| {
                    now += dt;
                    match op.clone() {
                        Op::Prepare {
                            id,
                            payer,
                            payee,
                            cur,
                            amount,
                            expires_in_ms,
                            good,
                        } => Command::Prepare {
                            transfer_id: TransferId(u128::from(id)),
                            payer: participant(payer),
                            payee: participant(payee),
                            currency: currency(cur),
                            amount: dec(amount),
                            condition: if good {
                                condition_of(&fulfilment(u64::from(id)))
                            } else {
                                [7; 32]
                            },
                            expires_at_ms: now + expires_in_ms,
                            now_ms: now,
                        },
                        Op::Commit { id, good } => Command::Commit {
                            transfer_id: TransferId(u128::from(id)),
                            fulfilment: if good {
                                fulfilment(u64::from(id))
                            } else {
                                [1; 32]
                            },
                            now_ms: now,
                        },
                        Op::Abort { id, reason } => Command::Abort {
                            transfer_id: TransferId(u128::from(id)),
                            reason,
                            now_ms: now,
                        },
                        Op::Expire { id } => Command::Expire {
                            transfer_id: TransferId(u128::from(id)),
                            now_ms: now,
                        },
                        Op::ExpireDue { max } => Command::ExpireDue { now_ms: now, max },
                        Op::FundsIn {
                            fid,
                            p,
                            cur,
                            amount,
                        } => Command::FundsIn {
                            funds_id: FundsId(u128::from(fid)),
                            participant: participant(p),
                            currency: currency(cur),
                            amount: dec(amount),
                        },
                        Op::FundsOutReserve {
                            fid,
                            p,
                            cur,
                            amount,
                        } => Command::FundsOutReserve {
                            funds_id: FundsId(u128::from(fid)),
                            participant: participant(p),
                            currency: currency(cur),
                            amount: dec(amount),
                        },
                        Op::FundsOutCommit { fid } => Command::FundsOutCommit {
                            funds_id: FundsId(u128::from(fid)),
                        },
                        Op::FundsOutAbort { fid } => Command::FundsOutAbort {
                            funds_id: FundsId(u128::from(fid)),
                        },
                        Op::SetCap { p, cur, amount } => Command::SetNetDebitCap {
                            participant: participant(p),
                            currency: currency(cur),
                            net_debit_cap: dec(amount),
                        },
                        Op::SetActive { p, active } => Command::SetParticipantActive {
                            participant: participant(p),
                            active,
                        },
                        Op::SetAccountActive {
                            p,
                            cur,
                            settlement,
                            active,
                        } => Command::SetAccountActive {
                            participant: participant(p),
                            currency: currency(cur),
                            kind: if settlement {
                                AccountType::Settlement
                            } else {
                                AccountType::Position
                            },
                            active,
                        },
                    }
                })
                .collect()
        })
        .collect()
}

/// Balances rebuilt only from the postings carried by events.
#[derive(Default)]
struct Shadow {
    balances: Vec<Balances>,
}

impl Shadow {
    fn see(&mut self, event: &Event) {
        let grow = |s: &mut Shadow, id: AccountId| {
            if s.balances.len() <= id.0 as usize {
                s.balances.resize(id.0 as usize + 1, Balances::default());
            }
        };
        match event {
            Event::CurrencyEnabled {
                reconciliation,
                multilateral_settlement,
                ..
            } => {
                grow(self, *reconciliation);
                grow(self, *multilateral_settlement);
            }
            Event::AccountsOpened {
                position,
                settlement,
                ..
            } => {
                grow(self, *position);
                grow(self, *settlement);
            }
            _ => {}
        }
        if let Some(p) = event.posting() {
            let (d, c) = (p.debit.0 as usize, p.credit.0 as usize);
            match p.phase {
                PostingPhase::Posted => {
                    self.balances[d].debits_posted += p.amount;
                    self.balances[c].credits_posted += p.amount;
                }
                PostingPhase::Pending => {
                    self.balances[d].debits_pending += p.amount;
                    self.balances[c].credits_pending += p.amount;
                }
                PostingPhase::PostPending => {
                    self.balances[d].debits_pending -= p.amount;
                    self.balances[c].credits_pending -= p.amount;
                    self.balances[d].debits_posted += p.amount;
                    self.balances[c].credits_posted += p.amount;
                }
                PostingPhase::VoidPending => {
                    self.balances[d].debits_pending -= p.amount;
                    self.balances[c].credits_pending -= p.amount;
                }
            }
        }
    }
}

/// The fixture's starting ledger, built through a batch so its events are seen.
fn start() -> (Ledger, Shadow) {
    let mut ledger = Ledger::new();
    let mut shadow = Shadow::default();
    let mut cmds = vec![
        Command::EnableCurrency {
            currency: usd(),
            scale: None,
        },
        Command::EnableCurrency {
            currency: ugx(),
            scale: None,
        },
    ];
    for (name, kind) in [
        ("bank-a", ParticipantKind::Bank),
        ("bank-b", ParticipantKind::Bank),
        ("wallet-c", ParticipantKind::Wallet),
    ] {
        cmds.push(Command::CreateParticipant {
            name: name.into(),
            kind,
        });
    }
    for p in 1..=3 {
        cmds.push(Command::OpenAccounts {
            participant: ParticipantId(p),
            currency: usd(),
            net_debit_cap: d("300"),
        });
        cmds.push(Command::FundsIn {
            funds_id: FundsId(1000 + u128::from(p)),
            participant: ParticipantId(p),
            currency: usd(),
            amount: d("250"),
        });
    }
    for p in 1..=2 {
        cmds.push(Command::OpenAccounts {
            participant: ParticipantId(p),
            currency: ugx(),
            net_debit_cap: d("50000"),
        });
    }
    let mut out = BatchOutput::default();
    ledger.apply_batch(&cmds, &mut out);
    assert!(out.outcomes.iter().all(|o| o.result.is_ok()));
    for e in &out.events {
        shadow.see(&e.event);
    }
    (ledger, shadow)
}

fn check_model(ledger: &Ledger) -> Result<(), TestCaseError> {
    let mut position: HashMap<(ParticipantId, Currency), i128> = HashMap::new();
    let mut reserved: HashMap<(ParticipantId, Currency), i128> = HashMap::new();
    for t in ledger.transfers() {
        match t.state {
            TransferState::Committed => {
                *position.entry((t.payer, t.currency)).or_default() += t.amount;
                *position.entry((t.payee, t.currency)).or_default() -= t.amount;
            }
            TransferState::Reserved => {
                *reserved.entry((t.payer, t.currency)).or_default() += t.amount
            }
            _ => {}
        }
    }
    for p in ledger.participants() {
        for c in ledger.currencies() {
            let Some(view) = ledger.position(p.id, c) else {
                continue;
            };
            prop_assert_eq!(
                view.position,
                position.get(&(p.id, c)).copied().unwrap_or(0)
            );
            prop_assert_eq!(
                view.reserved,
                reserved.get(&(p.id, c)).copied().unwrap_or(0)
            );
            prop_assert_eq!(
                view.available,
                view.liquidity.min(view.net_debit_cap) - view.position - view.reserved
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_command_sequences_keep_every_invariant(raw in batches(), split_seed in 0usize..1000) {
        let batches = to_commands(&raw);
        let (mut ledger, mut shadow) = start();
        let split = split_seed % (batches.len() + 1);
        let mut snapshot_json = None;
        let mut resolved: HashMap<TransferId, TransferState> = HashMap::new();
        let mut reserved_events: HashMap<TransferId, u32> = HashMap::new();
        let mut all_outcomes = Vec::new();
        let mut all_events = Vec::new();

        for (i, batch) in batches.iter().enumerate() {
            if i == split {
                snapshot_json = Some(serde_json::to_string(&ledger.snapshot()).expect("serialize"));
            }
            // One command at a time on a copy: an accepted prepare never
            // leaves the payer beyond its liquidity cover or net debit cap.
            let mut stepper = ledger.clone();
            let mut step_outcomes = Vec::new();
            for cmd in batch {
                // `any_due` says whether an ExpireDue at that time expires
                // something (the switch's sweep writes one only then).
                let due = match cmd {
                    Command::ExpireDue { now_ms, .. } => Some(stepper.any_due(*now_ms)),
                    _ => None,
                };
                let o = stepper.apply(cmd, &mut Vec::new());
                if let (Some(due), Command::ExpireDue { max, .. }, Ok(Reply::Expired { count })) =
                    (due, cmd, &o.result)
                    && *max > 0
                {
                    prop_assert_eq!(due, *count > 0, "any_due against ExpireDue");
                }
                if let (Command::Prepare { payer, currency, .. }, Ok(Reply::Transfer { state: TransferState::Reserved, .. }), false) =
                    (cmd, &o.result, o.duplicate)
                {
                    let v = stepper.position(*payer, *currency).expect("payer accounts");
                    prop_assert!(v.position + v.reserved <= v.liquidity, "beyond liquidity: {:?}", v);
                    prop_assert!(v.position + v.reserved <= v.net_debit_cap, "beyond cap: {:?}", v);
                }
                step_outcomes.push(o);
            }

            let mut out = BatchOutput::default();
            ledger.apply_batch(batch, &mut out);
            prop_assert_eq!(out.outcomes.len(), batch.len());
            prop_assert_eq!(&out.outcomes, &step_outcomes, "a batch is the same as its commands one by one");

            // Balanced, nothing orphaned.
            if let Err(e) = ledger.check_invariants() {
                return Err(TestCaseError::fail(format!("after batch {i}: {e}")));
            }
            // Events carry exactly the postings made.
            for e in &out.events {
                shadow.see(&e.event);
            }
            let actual: Vec<Balances> = ledger.accounts().iter().map(|a| a.balances).collect();
            prop_assert_eq!(&shadow.balances, &actual);
            // Duplicates change nothing.
            for (k, o) in out.outcomes.iter().enumerate() {
                if o.duplicate {
                    prop_assert!(out.events.iter().all(|e| e.command_index as usize != k));
                }
            }
            // Each transfer reserved at most once, resolved at most once.
            for e in &out.events {
                match &e.event {
                    Event::TransferReserved { transfer_id, .. } | Event::TransferRefused { transfer_id, .. } => {
                        let n = reserved_events.entry(*transfer_id).or_default();
                        *n += 1;
                        prop_assert_eq!(*n, 1, "transfer {} prepared twice", transfer_id);
                    }
                    Event::TransferCommitted { transfer_id, .. } | Event::TransferAborted { transfer_id, .. } => {
                        prop_assert!(!resolved.contains_key(transfer_id), "transfer {} resolved twice", transfer_id);
                        let state = ledger.transfer(*transfer_id).map(|t| t.state);
                        prop_assert!(matches!(state, Some(TransferState::Committed | TransferState::Aborted)));
                        resolved.insert(*transfer_id, state.unwrap_or(TransferState::Reserved));
                    }
                    _ => {}
                }
            }
            for (id, state) in &resolved {
                prop_assert_eq!(ledger.transfer(*id).map(|t| t.state), Some(*state), "final state of {} changed", id);
            }
            check_model(&ledger)?;
            all_outcomes.extend(out.outcomes);
            all_events.extend(out.events);
        }

        // Snapshot at `split`, restore, replay the rest: same digest.
        let snapshot: Snapshot = match snapshot_json {
            Some(json) => serde_json::from_str(&json).expect("deserialize"),
            None => ledger.snapshot(),
        };
        let mut restored = Ledger::restore(snapshot).expect("restore");
        let mut out = BatchOutput::default();
        for batch in &batches[split.min(batches.len())..] {
            restored.apply_batch(batch, &mut out);
        }
        let skipped: usize = batches[..split.min(batches.len())].iter().map(Vec::len).sum();
        prop_assert_eq!(&out.outcomes[..], &all_outcomes[skipped..]);
        prop_assert_eq!(restored.digest(), ledger.digest());

        // And replaying everything from the start gives the same digest.
        let (mut again, _) = start();
        let mut out = BatchOutput::default();
        for batch in &batches {
            again.apply_batch(batch, &mut out);
        }
        prop_assert_eq!(again.digest(), ledger.digest());
        prop_assert_eq!(out.outcomes, all_outcomes);
    }
}
