//! Ledger apply rate: batches of 8,000 commands (4,000 prepares and their
//! 4,000 commits) across 100 participants. One transfer = prepare + commit.
//!
//! - `fresh`: each batch on a ledger that holds no transfers yet.
//! - `steady`: one ledger that keeps every transfer, as the switch's does:
//!   it starts with 1,000,000 committed transfers and grows by 4,000 per
//!   iteration for the whole run (several million by the end). Its store is
//!   allocated up front, as a deployment does at start.
//!
//! Run: `cargo bench -p harambee-benches --bench ledger_apply`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use harambee_benches::{funded_ledger, transfer_batch};
use harambee_ledger::BatchOutput;

const PARTICIPANTS: u32 = 100;
const TRANSFERS_PER_BATCH: u32 = 4_000;
/// Transfers the steady ledger is sized for: the 1,000,000 it starts with
/// plus what a run adds (about 4,000 per iteration, well under 8,000,000).
const STEADY_CAPACITY: usize = 12_000_000;

fn ledger_apply(c: &mut Criterion) {
    let mut group = c.benchmark_group("ledger_apply");
    group.throughput(Throughput::Elements(u64::from(TRANSFERS_PER_BATCH)));
    group.measurement_time(Duration::from_secs(8));

    let base = funded_ledger(PARTICIPANTS);
    let batch = transfer_batch(1, TRANSFERS_PER_BATCH, PARTICIPANTS);
    group.bench_function("fresh_8000_commands", |b| {
        b.iter_batched(
            || (base.clone(), BatchOutput::default()),
            |(mut ledger, mut out)| {
                ledger.apply_batch(black_box(&batch), &mut out);
                (ledger, out)
            },
            BatchSize::LargeInput,
        )
    });

    let mut ledger = funded_ledger(PARTICIPANTS);
    // Allocate up front, as a deployment does at start (TigerBeetle style):
    // growth of the store would otherwise pause a few batches for a rehash.
    ledger.reserve_transfers(STEADY_CAPACITY);
    let mut out = BatchOutput::default();
    let mut next_id: u128 = 1;
    while ledger.transfer_count() < 1_000_000 {
        out.clear();
        ledger.apply_batch(
            &transfer_batch(next_id, TRANSFERS_PER_BATCH, PARTICIPANTS),
            &mut out,
        );
        next_id += u128::from(TRANSFERS_PER_BATCH);
    }
    group.bench_function("steady_8000_commands", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let cmds = transfer_batch(next_id, TRANSFERS_PER_BATCH, PARTICIPANTS);
                next_id += u128::from(TRANSFERS_PER_BATCH);
                out.clear();
                let start = Instant::now();
                ledger.apply_batch(black_box(&cmds), &mut out);
                total += start.elapsed();
            }
            total
        })
    });
    group.finish();
    // Every transfer of the run committed: the figure is not one of refusals.
    assert_eq!(ledger.check_invariants(), Ok(()));
    assert!(
        ledger
            .transfers()
            .all(|t| t.state == harambee_ledger::TransferState::Committed)
    );
}

criterion_group!(benches, ledger_apply);
criterion_main!(benches);
