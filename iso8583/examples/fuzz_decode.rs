//! The decoder's fuzz run: random bytes and mutated valid messages in both
//! shipped dialects; any panic fails the run.
//!
//! `cargo run --release -p harambee-iso8583 --example fuzz_decode -- 10000000 [seed]`

#[path = "../tests/common/fuzz_driver.rs"]
mod fuzz_driver;
#[path = "../../switch/tests/fuzz/heap.rs"]
mod heap;

#[global_allocator]
static COUNTING: heap::Counting = heap::Counting;

fn main() {
    let mut args = std::env::args().skip(1);
    let count: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(0x8583);
    let started = std::time::Instant::now();
    heap::reset();
    let (tried, decoded) = fuzz_driver::run(seed, count);
    println!(
        "{tried} inputs (seed {seed}), {decoded} decoded as messages, no panic, in {:.1} s; {}",
        started.elapsed().as_secs_f64(),
        heap::heap()
    );
}
