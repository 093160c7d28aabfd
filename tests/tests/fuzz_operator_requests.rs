//! A short run of the Operator API requests' fuzz driver in every test
//! run (the long run: `examples/fuzz_operator_requests.rs`).

#[path = "fuzz/operator_requests.rs"]
mod operator_requests;

#[tokio::test]
async fn every_operator_request_survives_fuzzed_inputs_and_the_log_replays() {
    let tally = operator_requests::run(0x4f50_4552, 50_000, 8).await;
    for (name, t) in operator_requests::KINDS.iter().zip(&tally) {
        // Every kind is reached past its decoding; most kinds also take
        // some inputs (the operations themselves run).
        assert!(t.decoded > 100, "{name}: {t:?}");
    }
    let done: u64 = tally.iter().map(|t| t.done).sum();
    assert!(done > 300, "some inputs were valid requests: {tally:?}");
}
