//! A short run of the decoder's fuzz driver in every test run (the long
//! run, 10 million inputs and more: `examples/fuzz_decode.rs`).

#[path = "common/fuzz_driver.rs"]
mod fuzz_driver;
#[path = "../../switch/tests/fuzz/heap.rs"]
mod heap;

#[global_allocator]
static COUNTING: heap::Counting = heap::Counting;

#[test]
fn the_decoder_survives_two_hundred_thousand_fuzzed_inputs() {
    heap::reset();
    let (tried, decoded) = fuzz_driver::run(0x8583, 200_000);
    let used = heap::heap();
    eprintln!("{used}");
    // No input makes the decoder allocate without bound: the largest
    // allocation and the heap's growth stay under fixed ceilings, far
    // above what the valid inputs need and far below what an
    // input-sized allocation (a length field taken at its word) would be.
    assert!(used.largest_bytes <= 1 << 20, "{used}");
    assert!(used.growth_bytes() <= 16 << 20, "{used}");

    assert_eq!(tried, 200_000);
    // The mutations keep some inputs valid: the driver reaches past the
    // first bytes.
    assert!(decoded > 1_000, "{decoded} decoded");
}
