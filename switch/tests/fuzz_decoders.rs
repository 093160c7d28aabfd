//! A short run of the switch decoders' fuzz driver in every test run: log
//! records, snapshots and the config (the long run, 10 million inputs:
//! `examples/fuzz_decoders.rs`).

#[path = "fuzz/driver.rs"]
mod driver;

#[test]
fn the_decoders_survive_a_hundred_thousand_fuzzed_inputs() {
    let tally = driver::run(0x4841_5241, 100_000);
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
