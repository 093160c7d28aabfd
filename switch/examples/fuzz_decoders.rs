//! The fuzz run of the switch's decoders: log records (every format),
//! snapshots and the state rebuilt from them, and the TOML config, from
//! mutated valid inputs and random bytes; any panic fails the run.
//!
//! `cargo run --release -p harambee-switch --example fuzz_decoders -- 10000000 [seed]`

#[path = "../tests/fuzz/driver.rs"]
mod driver;
#[path = "../tests/fuzz/heap.rs"]
mod heap;

#[global_allocator]
static COUNTING: heap::Counting = heap::Counting;

fn main() {
    let mut args = std::env::args().skip(1);
    let count: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let seed: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(0x4841_5241);
    let started = std::time::Instant::now();
    heap::reset();
    let t = driver::run(seed, count);
    let used = heap::heap();
    println!(
        "{count} inputs (seed {seed}), no panic, in {:.1} s: records {} tried, {} decoded; snapshots {} tried, {} restored; configs {} tried, {} valid",
        started.elapsed().as_secs_f64(),
        t.records.0,
        t.records.1,
        t.snapshots.0,
        t.snapshots.1,
        t.configs.0,
        t.configs.1
    );
    println!("{used}");
}
