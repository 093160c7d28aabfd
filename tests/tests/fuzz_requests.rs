//! A short run of the participant API requests' fuzz driver in every test
//! run (the long run, 10 million inputs: `examples/fuzz_requests.rs`).

#[path = "../../switch/tests/fuzz/heap.rs"]
mod heap;
#[path = "fuzz/requests.rs"]
mod requests;

#[global_allocator]
static COUNTING: heap::Counting = heap::Counting;

#[test]
fn every_request_survives_a_hundred_thousand_fuzzed_inputs() {
    heap::reset();
    let tally = requests::run(0x5052_4f54, 100_000);
    let used = heap::heap();
    eprintln!("{used}");
    // No input makes the checks allocate without bound: the largest
    // allocation and the heap's growth stay under fixed ceilings, far
    // above what the valid inputs need and far below what an
    // input-sized allocation (a length field taken at its word) would be.
    assert!(used.largest_bytes <= 1 << 20, "{used}");
    assert!(used.growth_bytes() <= 16 << 20, "{used}");

    for (kind, t) in tally.iter().enumerate() {
        // Every kind is reached past its decoding, and some inputs stay
        // valid: the checks themselves run.
        assert!(t.decoded > 1_000 && t.valid > 10, "kind {kind}: {t:?}");
    }
}
