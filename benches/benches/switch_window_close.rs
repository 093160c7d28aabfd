//! Settlement window close through the switch's state machine: a `State`
//! (ledger, directory, settlements) that has applied 1,000,000 two-phase
//! transfers (prepare + commit records, as replay would) applies the
//! `CloseWindow` record, then the next transfer's records. The close is
//! one record among the others: transfers before and after it are applied
//! by the same loop, so they continue around it.
//!
//! Run: `cargo bench -p harambee-benches --bench switch_window_close`

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use harambee_benches::{funded_ledger, transfer_batch, usd};
use harambee_core::record::{LedgerCommand, LogRecord, SettlementCommand};
use harambee_core::state::{Applied, SettlementReply, State};

const PARTICIPANTS: u32 = 100;
const TRANSFERS: u32 = 1_000_000;
const PER_BATCH: u32 = 4_000;

fn filled() -> State {
    let mut state = State {
        ledger: funded_ledger(PARTICIPANTS),
        ..State::default()
    };
    state.ledger.reserve_transfers(TRANSFERS as usize + 1_000);
    let mut first = 1u128;
    while first <= u128::from(TRANSFERS) {
        for command in transfer_batch(first, PER_BATCH, PARTICIPANTS) {
            let offset = state.next_offset;
            let command = LedgerCommand::from_ledger(&command).expect("a log command");
            state.apply(offset, &LogRecord::Ledger(command));
        }
        first += u128::from(PER_BATCH);
    }
    state
}

fn close() -> LogRecord {
    LogRecord::Settlement(SettlementCommand::CloseWindow {
        currency: usd(),
        reason: "benchmark".into(),
        now_ms: 1,
    })
}

fn switch_window_close(c: &mut Criterion) {
    let state = filled();
    let open = state.settlements.open_window(usd()).expect("open window");
    assert_eq!(
        open.transfers.len() as u32,
        TRANSFERS,
        "every transfer committed"
    );
    let mut group = c.benchmark_group("switch_window_close");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("close_record_1m_transfers", |b| {
        b.iter_batched(
            || state.clone(),
            |mut s| {
                let offset = s.next_offset;
                let applied = s.apply(offset, black_box(&close()));
                assert!(matches!(
                    applied,
                    Applied::Settlement {
                        result: Ok(SettlementReply::WindowClosed { .. }),
                        ..
                    }
                ));
                s
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, switch_window_close);
criterion_main!(benches);
