//! A short run of the participant API requests' fuzz driver in every test
//! run (the long run, 10 million inputs: `examples/fuzz_requests.rs`).

#[path = "fuzz/requests.rs"]
mod requests;

#[test]
fn every_request_survives_a_hundred_thousand_fuzzed_inputs() {
    let tally = requests::run(0x5052_4f54, 100_000);
    for (kind, t) in tally.iter().enumerate() {
        // Every kind is reached past its decoding, and some inputs stay
        // valid: the checks themselves run.
        assert!(t.decoded > 1_000 && t.valid > 10, "kind {kind}: {t:?}");
    }
}
