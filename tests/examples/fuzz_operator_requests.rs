//! The fuzz run of the Operator API's requests: protobuf bytes decoded as
//! the server does and handed to the service's operations on a real
//! switch; any panic fails the run, and the ledger must balance and
//! replay to the same digest at the end.
//!
//! `cargo run --release -p harambee-tests --example fuzz_operator_requests -- 10000000 [seed] [lanes]`

#[path = "../../switch/tests/fuzz/heap.rs"]
mod heap;
#[path = "../tests/fuzz/operator_requests.rs"]
mod operator_requests;

#[global_allocator]
static COUNTING: heap::Counting = heap::Counting;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let count: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let seed: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(0x4f50_4552);
    let lanes: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(64);
    let started = std::time::Instant::now();
    heap::reset();
    let tally = operator_requests::run(seed, count, lanes).await;
    println!(
        "{count} inputs (seed {seed}, {lanes} lanes), no panic, balanced and replayed, in {:.1} s; {} (a whole switch)",
        started.elapsed().as_secs_f64(),
        heap::heap()
    );
    for (name, t) in operator_requests::KINDS.iter().zip(&tally) {
        println!(
            "  {name:<30} {} tried, {} decoded, {} done",
            t.tried, t.decoded, t.done
        );
    }
}
