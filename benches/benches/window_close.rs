//! Settlement window close: a window holding 1,000,000 committed transfers
//! between 100 participants is closed, and a settlement is created over it
//! (computing the bilateral and multilateral nets). The target is
//! under 1 s of state-machine time for the close.
//!
//! Also measured: recording the 1,000,000 commits (the per-commit cost the
//! switch pays on the hot path so that the close is cheap).
//!
//! Run: `cargo bench -p harambee-benches --bench window_close`

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use harambee_ledger::{Currency, ParticipantId, TransferId};
use harambee_settlement::{SettlementModel, Settlements, WindowId};

const PARTICIPANTS: u32 = 100;
const TRANSFERS: u64 = 1_000_000;

/// A window of `TRANSFERS` commits between pseudo-random pairs.
fn filled(currency: Currency) -> (Settlements, WindowId) {
    let mut s = Settlements::new();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut window = None;
    for t in 0..TRANSFERS {
        // xorshift: deterministic pairs, no randomness source.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let payer = (x % u64::from(PARTICIPANTS)) as u32 + 1;
        let payee = ((x >> 32) % u64::from(PARTICIPANTS - 1)) as u32 + 1;
        let payee = if payee >= payer { payee + 1 } else { payee };
        window = Some(s.record_commit(
            TransferId(u128::from(t) + 1),
            currency,
            ParticipantId(payer),
            ParticipantId(payee),
            i128::from(100 + x % 100_000),
            0,
        ));
    }
    (s, window.expect("a window"))
}

fn window_close(c: &mut Criterion) {
    let kes = Currency::parse("KES").expect("KES");
    let (full, window) = filled(kes);
    assert_eq!(
        full.window(window).expect("window").transfers.len() as u64,
        TRANSFERS
    );
    let mut group = c.benchmark_group("window_close");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("close_1m_transfers", |b| {
        b.iter_batched(
            || full.clone(),
            |mut s| {
                let next = s
                    .close_window(black_box(window), "end of day", 1)
                    .expect("close");
                (s, next)
            },
            BatchSize::LargeInput,
        )
    });
    let mut closed = full.clone();
    closed.close_window(window, "end of day", 1).expect("close");
    group.bench_function("settle_1m_transfers_multilateral", |b| {
        b.iter_batched(
            || closed.clone(),
            |mut s| {
                let id = s
                    .create_settlement(SettlementModel::MultilateralNet, &[window], "daily", 2)
                    .expect("settle");
                let nets = &s.settlement(id).expect("settlement").nets;
                assert_eq!(nets.multilateral.values().sum::<i128>(), 0);
                s
            },
            BatchSize::LargeInput,
        )
    });
    group.sample_size(10);
    group.bench_function("record_1m_commits", |b| b.iter(|| filled(black_box(kes))));
    group.finish();
}

criterion_group!(benches, window_close);
criterion_main!(benches);
