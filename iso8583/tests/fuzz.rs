//! A short run of the decoder's fuzz driver in every test run (the long
//! run, 10 million inputs and more: `examples/fuzz_decode.rs`).

#[path = "common/fuzz_driver.rs"]
mod fuzz_driver;

#[test]
fn the_decoder_survives_two_hundred_thousand_fuzzed_inputs() {
    let (tried, decoded) = fuzz_driver::run(0x8583, 200_000);
    assert_eq!(tried, 200_000);
    // The mutations keep some inputs valid: the driver reaches past the
    // first bytes.
    assert!(decoded > 1_000, "{decoded} decoded");
}
