//! Settlement windows and settlements, call by call: every error the
//! operator can meet, and whole cycles with four participants whose
//! postings are applied to a small model of the ledger's accounts.

use std::collections::BTreeMap;

use harambee_ledger::{Currency, ParticipantId, PostingPhase, TransferId};
use harambee_settlement::*;

fn kes() -> Currency {
    Currency::parse("KES").expect("KES")
}

fn p(n: u32) -> ParticipantId {
    ParticipantId(n)
}

/// The four balances of every account the postings touched, as the ledger
/// keeps them: [debits_posted, credits_posted, debits_pending, credits_pending].
#[derive(Default)]
struct Accounts(BTreeMap<AccountRef, [i128; 4]>);

impl Accounts {
    fn apply(&mut self, postings: &[SettlementPosting]) {
        for x in postings {
            assert!(x.amount > 0, "{x:?}");
            let (d, c) = (x.debit, x.credit);
            match x.phase {
                PostingPhase::Posted => {
                    self.0.entry(d).or_default()[0] += x.amount;
                    self.0.entry(c).or_default()[1] += x.amount;
                }
                PostingPhase::Pending => {
                    self.0.entry(d).or_default()[2] += x.amount;
                    self.0.entry(c).or_default()[3] += x.amount;
                }
                PostingPhase::PostPending => {
                    let (a, b) = (self.0.entry(d).or_default(), x.amount);
                    a[2] -= b;
                    a[0] += b;
                    let a = self.0.entry(c).or_default();
                    a[3] -= b;
                    a[1] += b;
                }
                PostingPhase::VoidPending => {
                    self.0.entry(d).or_default()[2] -= x.amount;
                    self.0.entry(c).or_default()[3] -= x.amount;
                }
            }
        }
        for (account, b) in &self.0 {
            assert!(
                b[2] >= 0 && b[3] >= 0,
                "{account:?}: negative pending {b:?}"
            );
        }
    }

    /// debits - credits, posted.
    fn posted(&self, a: AccountRef) -> i128 {
        self.0.get(&a).map_or(0, |b| b[0] - b[1])
    }

    fn pending(&self, a: AccountRef) -> (i128, i128) {
        self.0.get(&a).map_or((0, 0), |b| (b[2], b[3]))
    }
}

/// Four participants, transfers both ways, in one window; positions as the
/// ledger would hold them (sent - received).
fn four_participants(s: &mut Settlements) -> (BTreeMap<ParticipantId, i128>, WindowId) {
    let mut position: BTreeMap<ParticipantId, i128> = BTreeMap::new();
    let transfers = [
        (1, 2, 10_000),
        (2, 1, 2_500),
        (1, 3, 4_000),
        (3, 4, 7_000),
        (4, 1, 1_000),
        (2, 4, 3_000),
        (4, 2, 500),
        (3, 1, 2_000),
    ];
    let mut window = None;
    for (i, (a, b, amount)) in transfers.into_iter().enumerate() {
        window = Some(s.record_commit(TransferId(i as u128 + 1), kes(), p(a), p(b), amount, 1_000));
        *position.entry(p(a)).or_default() += amount;
        *position.entry(p(b)).or_default() -= amount;
    }
    (position, window.expect("a window"))
}

#[test]
fn the_open_window_takes_the_commits_and_closing_opens_the_next() {
    let mut s = Settlements::new();
    assert!(s.open_window(kes()).is_none());
    let (_, w1) = four_participants(&mut s);
    let open = s.open_window(kes()).expect("open");
    assert_eq!(
        (open.id, open.state, open.transfers.len()),
        (w1, WindowState::Open, 8)
    );
    let w2 = s.close_window(w1, "end of day", 2_000).expect("close");
    assert_ne!(w1, w2);
    let closed = s.window(w1).expect("window");
    assert_eq!(
        (closed.state, closed.closed_at_ms),
        (WindowState::Closed, Some(2_000))
    );
    let next = s.open_window(kes()).expect("next");
    assert_eq!(
        (next.id, next.state, next.opened_at_ms),
        (w2, WindowState::Open, 2_000)
    );
    // New commits go to the new window only.
    let w = s.record_commit(TransferId(99), kes(), p(1), p(2), 5, 2_500);
    assert_eq!(w, w2);
    assert_eq!(s.window(w1).expect("w1").transfers.len(), 8);
    // Another currency has windows of its own.
    let usd = Currency::parse("USD").expect("USD");
    let u = s.record_commit(TransferId(100), usd, p(1), p(2), 5, 2_600);
    assert!(u != w1 && u != w2);
}

#[test]
fn closing_an_empty_window_is_refused_with_3100() {
    let mut s = Settlements::new();
    let (_, w1) = four_participants(&mut s);
    let w2 = s.close_window(w1, "end of day", 2_000).expect("close");
    let e = s.close_window(w2, "end of day", 3_000).expect_err("empty");
    assert_eq!(e, SettlementError::WindowEmpty(w2));
    assert_eq!(e.code(), 3100);
    assert_eq!(e.to_string(), format!("Window {w2} is empty"));
    assert_eq!(
        s.window(w2).expect("w2").state,
        WindowState::Open,
        "nothing changed"
    );
    // Closing a closed or unknown window.
    assert!(matches!(
        s.close_window(w1, "end of day", 3_000),
        Err(SettlementError::WindowNotOpen { .. })
    ));
    assert!(matches!(
        s.close_window(WindowId(42), "end of day", 3_000),
        Err(SettlementError::UnknownWindow(_))
    ));
}

#[test]
fn settling_an_open_window_or_a_window_twice_is_refused() {
    let mut s = Settlements::new();
    let (_, w1) = four_participants(&mut s);
    assert!(matches!(
        s.create_settlement(SettlementModel::MultilateralNet, &[w1], "daily", 1_500),
        Err(SettlementError::WindowNotSettleable {
            state: WindowState::Open,
            ..
        })
    ));
    s.close_window(w1, "end of day", 2_000).expect("close");
    assert!(matches!(
        s.create_settlement(SettlementModel::MultilateralNet, &[w1, w1], "daily", 2_100),
        Err(SettlementError::WindowRepeated(_))
    ));
    assert!(matches!(
        s.create_settlement(SettlementModel::ImmediateGross, &[w1], "daily", 2_100),
        Err(SettlementError::GrossIsNotDeferred)
    ));
    assert!(matches!(
        s.create_settlement(SettlementModel::MultilateralNet, &[], "daily", 2_100),
        Err(SettlementError::NoWindows)
    ));
    let id = s
        .create_settlement(SettlementModel::MultilateralNet, &[w1], "daily", 2_100)
        .expect("settle");
    assert_eq!(
        s.window(w1).expect("w1").state,
        WindowState::PendingSettlement
    );
    assert!(matches!(
        s.create_settlement(SettlementModel::MultilateralNet, &[w1], "daily", 2_200),
        Err(SettlementError::WindowNotSettleable {
            state: WindowState::PendingSettlement,
            ..
        })
    ));
    // Taken to SETTLED, it cannot be settled again either.
    settle_all(&mut s, id, &mut Accounts::default());
    assert!(matches!(
        s.create_settlement(SettlementModel::MultilateralNet, &[w1], "daily", 2_300),
        Err(SettlementError::WindowNotSettleable {
            state: WindowState::Settled,
            ..
        })
    ));
    assert!(matches!(
        s.advance(id, p(1), SettlementState::Settled, 0),
        Err(SettlementError::SettlementFinished { .. })
    ));
}

/// Takes every account through every state, in order, applying the
/// postings.
fn settle_all(s: &mut Settlements, id: SettlementId, accounts: &mut Accounts) {
    let participants: Vec<ParticipantId> = s
        .settlement(id)
        .expect("settlement")
        .accounts
        .keys()
        .copied()
        .collect();
    for to in [
        SettlementState::PsTransfersRecorded,
        SettlementState::PsTransfersReserved,
        SettlementState::PsTransfersCommitted,
        SettlementState::Settled,
    ] {
        for q in &participants {
            let postings = s.advance(id, *q, to, 0).expect("advance");
            accounts.apply(&postings);
        }
    }
}

fn whole_cycle(model: SettlementModel) {
    let mut s = Settlements::new();
    let (position, w1) = four_participants(&mut s);
    s.close_window(w1, "end of day", 2_000).expect("close");
    let id = s
        .create_settlement(model, &[w1], "daily", 2_100)
        .expect("settle");
    let st = s.settlement(id).expect("settlement").clone();
    assert_eq!(
        (st.model, st.state),
        (model, SettlementState::PendingSettlement)
    );
    // The nets: what each sent minus received, summing to zero; each
    // multilateral net is the sum of its bilateral nets.
    for (q, net) in &st.nets.multilateral {
        assert_eq!(net, &position[q], "net of {q}");
        let bilateral: i128 = (1..=4).map(|o| st.nets.between(*q, p(o))).sum();
        assert_eq!(*net, bilateral);
    }
    assert_eq!(st.nets.multilateral.values().sum::<i128>(), 0);
    assert_eq!(st.nets.between(p(1), p(2)), 7_500);
    assert_eq!(st.nets.between(p(2), p(1)), -7_500);
    assert_eq!(st.nets.between(p(1), p(3)), 2_000);

    let mut accounts = Accounts::default();
    let participants: Vec<ParticipantId> = st.accounts.keys().copied().collect();
    let steps = [
        SettlementState::PsTransfersRecorded,
        SettlementState::PsTransfersReserved,
        SettlementState::PsTransfersCommitted,
        SettlementState::Settled,
    ];
    for to in steps {
        for (i, q) in participants.iter().enumerate() {
            // Skipping a state is refused and changes nothing.
            if let Some(after) = to.next() {
                assert!(matches!(
                    s.advance(id, *q, after, 0),
                    Err(SettlementError::InvalidTransition { .. })
                ));
            }
            let postings = s.advance(id, *q, to, 0).expect("advance");
            accounts.apply(&postings);
            let net = position[q];
            match to {
                SettlementState::PsTransfersReserved => {
                    assert_eq!(postings.len(), 1);
                    assert_eq!(postings[0].phase, PostingPhase::Pending);
                    let expect = if net > 0 { (net, 0) } else { (0, -net) };
                    assert_eq!(accounts.pending(AccountRef::Settlement(*q)), expect);
                }
                SettlementState::PsTransfersCommitted => assert_eq!(postings.len(), 2),
                _ => assert!(postings.is_empty()),
            }
            // The settlement is as far as its least advanced account.
            let state = s.settlement(id).expect("settlement").state;
            if i + 1 < participants.len() {
                assert!(
                    state < to,
                    "{state:?} while some accounts are behind {to:?}"
                );
            } else {
                assert_eq!(state, to);
            }
        }
        // Not finished before the last step.
        if to != SettlementState::Settled {
            assert_eq!(
                s.window(w1).expect("w1").state,
                WindowState::PendingSettlement
            );
        }
    }
    assert_eq!(s.window(w1).expect("w1").state, WindowState::Settled);
    for q in &participants {
        // POSITION back where it was before the window (the window moved
        // it by the net; the settlement by minus the net) ...
        assert_eq!(position[q] + accounts.posted(AccountRef::Position(*q)), 0);
        // ... and SETTLEMENT moved by the net: a payer's liquidity down.
        assert_eq!(accounts.posted(AccountRef::Settlement(*q)), position[q]);
        assert_eq!(accounts.pending(AccountRef::Settlement(*q)), (0, 0));
    }
    assert_eq!(accounts.posted(AccountRef::HubMultilateralSettlement), 0);
}

#[test]
fn a_multilateral_net_settlement_goes_through_every_state() {
    whole_cycle(SettlementModel::MultilateralNet);
}

#[test]
fn a_bilateral_net_settlement_goes_through_every_state() {
    whole_cycle(SettlementModel::BilateralNet);
}

#[test]
fn an_aborted_settlement_voids_its_reservations_and_its_windows_can_be_settled_again() {
    let mut s = Settlements::new();
    let (position, w1) = four_participants(&mut s);
    s.close_window(w1, "end of day", 2_000).expect("close");
    let id = s
        .create_settlement(SettlementModel::MultilateralNet, &[w1], "daily", 2_100)
        .expect("settle");
    let mut accounts = Accounts::default();
    for q in [p(1), p(2)] {
        accounts.apply(
            &s.advance(id, q, SettlementState::PsTransfersRecorded, 0)
                .expect("rec"),
        );
        accounts.apply(
            &s.advance(id, q, SettlementState::PsTransfersReserved, 0)
                .expect("res"),
        );
    }
    assert_eq!(
        accounts.pending(AccountRef::Settlement(p(1))),
        (position[&p(1)], 0)
    );
    let voids = s.abort(id, 0).expect("abort");
    assert_eq!(voids.len(), 2);
    accounts.apply(&voids);
    for q in [p(1), p(2)] {
        assert_eq!(accounts.pending(AccountRef::Settlement(q)), (0, 0));
    }
    assert_eq!(s.settlement(id).expect("s").state, SettlementState::Aborted);
    assert_eq!(s.window(w1).expect("w1").state, WindowState::Aborted);
    assert!(matches!(
        s.abort(id, 0),
        Err(SettlementError::SettlementFinished { .. })
    ));
    // Settled again, to the end.
    let again = s
        .create_settlement(SettlementModel::MultilateralNet, &[w1], "daily", 3_000)
        .expect("again");
    settle_all(&mut s, again, &mut accounts);
    assert_eq!(s.window(w1).expect("w1").state, WindowState::Settled);
    for (q, net) in &position {
        assert_eq!(net + accounts.posted(AccountRef::Position(*q)), 0);
    }
}

#[test]
fn a_settlement_with_committed_accounts_cannot_be_aborted() {
    let mut s = Settlements::new();
    let (_, w1) = four_participants(&mut s);
    s.close_window(w1, "end of day", 2_000).expect("close");
    let id = s
        .create_settlement(SettlementModel::MultilateralNet, &[w1], "daily", 2_100)
        .expect("settle");
    for to in [
        SettlementState::PsTransfersRecorded,
        SettlementState::PsTransfersReserved,
        SettlementState::PsTransfersCommitted,
    ] {
        s.advance(id, p(3), to, 0).expect("advance");
    }
    assert_eq!(s.abort(id, 0), Err(SettlementError::AbortAfterCommit(id)));
    assert_eq!(
        s.settlement(id).expect("s").state,
        SettlementState::PendingSettlement
    );
}

#[test]
fn unknown_settlements_and_participants_are_refused() {
    let mut s = Settlements::new();
    let (_, w1) = four_participants(&mut s);
    s.close_window(w1, "end of day", 2_000).expect("close");
    let id = s
        .create_settlement(SettlementModel::MultilateralNet, &[w1], "daily", 2_100)
        .expect("settle");
    assert!(matches!(
        s.advance(
            SettlementId(9),
            p(1),
            SettlementState::PsTransfersRecorded,
            0
        ),
        Err(SettlementError::UnknownSettlement(_))
    ));
    assert!(matches!(
        s.advance(id, p(77), SettlementState::PsTransfersRecorded, 0),
        Err(SettlementError::NotInSettlement { .. })
    ));
    let usd = Currency::parse("USD").expect("USD");
    s.record_commit(TransferId(500), usd, p(1), p(2), 5, 2_200);
    let u = s.open_window(usd).expect("usd").id;
    s.close_window(u, "end of day", 2_300).expect("close usd");
    let w2 = s.open_window(kes()).expect("kes").id;
    s.record_commit(TransferId(501), kes(), p(1), p(2), 5, 2_400);
    s.close_window(w2, "end of day", 2_500).expect("close");
    assert!(matches!(
        s.create_settlement(SettlementModel::MultilateralNet, &[w2, u], "daily", 2_600),
        Err(SettlementError::CurrencyMismatch { .. })
    ));
}

#[test]
fn gross_transfers_belong_to_a_window_but_not_to_its_nets() {
    let mut s = Settlements::new();
    s.set_model(p(3), kes(), SettlementModel::ImmediateGross);
    assert!(s.is_gross(p(1), p(3), kes()));
    assert!(!s.is_gross(p(1), p(2), kes()));
    let w = s.record_commit(TransferId(1), kes(), p(1), p(3), 100, 1);
    s.record_commit(TransferId(2), kes(), p(1), p(2), 40, 2);
    let window = s.window(w).expect("w");
    assert_eq!((window.transfers.len(), window.gross_transfers), (2, 1));
    s.close_window(w, "end of day", 3).expect("close");
    let id = s
        .create_settlement(SettlementModel::MultilateralNet, &[w], "daily", 4)
        .expect("settle");
    let st = s.settlement(id).expect("s");
    assert_eq!(st.nets.of(p(1)), 40);
    assert_eq!(st.nets.of(p(3)), 0);
    assert!(!st.accounts.contains_key(&p(3)));
}

#[test]
fn the_whole_state_survives_a_json_round_trip() {
    let mut s = Settlements::new();
    s.set_model(p(4), kes(), SettlementModel::ImmediateGross);
    let (_, w1) = four_participants(&mut s);
    s.close_window(w1, "end of day", 2_000).expect("close");
    let id = s
        .create_settlement(SettlementModel::BilateralNet, &[w1], "daily", 2_100)
        .expect("settle");
    s.advance(id, p(1), SettlementState::PsTransfersRecorded, 0)
        .expect("advance");
    let text = serde_json::to_string(&s).expect("serialize");
    let back: Settlements = serde_json::from_str(&text).expect("deserialize");
    assert_eq!(back, s);
}
