//! A short run of the switch decoders' fuzz driver in every test run: log
//! records, snapshots and the config (the long run, 10 million inputs:
//! `examples/fuzz_decoders.rs`).

#[path = "fuzz/driver.rs"]
mod driver;
#[path = "fuzz/heap.rs"]
mod heap;

#[global_allocator]
static COUNTING: heap::Counting = heap::Counting;

#[test]
fn the_decoders_survive_a_hundred_thousand_fuzzed_inputs() {
    heap::reset();
    let tally = driver::run(0x4841_5241, 100_000);
    let used = heap::heap();
    eprintln!("{used}");
    // No input makes the decoders allocate without bound: the largest
    // allocation and the heap's growth stay under fixed ceilings, far
    // above what the valid inputs need and far below what an
    // input-sized allocation (a length field taken at its word) would be.
    assert!(used.largest_bytes <= 8 << 20, "{used}");
    assert!(used.growth_bytes() <= 64 << 20, "{used}");

    assert_eq!(
        tally.records.0 + tally.snapshots.0 + tally.configs.0,
        100_000
    );
    // The mutations keep some inputs valid: the driver reaches past the
    // first bytes of each decoder.
    assert!(tally.records.1 > 1_000, "{tally:?}");
    assert!(tally.snapshots.1 > 10, "{tally:?}");
    assert!(tally.configs.1 > 10, "{tally:?}");
}
