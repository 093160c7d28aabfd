//! The fuzz run of the participant API's requests: protobuf bytes decoded
//! as the server does and checked as the edge and the service layer do,
//! valid prepares through the log's record format; any panic fails the run.
//!
//! `cargo run --release -p harambee-tests --example fuzz_requests -- 10000000 [seed]`

#[path = "../../switch/tests/fuzz/heap.rs"]
mod heap;
#[path = "../tests/fuzz/requests.rs"]
mod requests;

#[global_allocator]
static COUNTING: heap::Counting = heap::Counting;

const KINDS: [&str; 9] = [
    "LookupParty",
    "RegisterParty",
    "RequestQuote",
    "PrepareTransfer",
    "FulfilTransfer",
    "GetTransfer",
    "GetQuote",
    "DeregisterParty",
    "Notifications",
];

fn main() {
    let mut args = std::env::args().skip(1);
    let count: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let seed: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(0x5052_4f54);
    let started = std::time::Instant::now();
    heap::reset();
    let tally = requests::run(seed, count);
    println!(
        "{count} inputs (seed {seed}), no panic, in {:.1} s; {}",
        started.elapsed().as_secs_f64(),
        heap::heap()
    );
    for (name, t) in KINDS.iter().zip(tally.iter()) {
        println!(
            "  {name:<16} {} tried, {} decoded, {} valid",
            t.tried, t.decoded, t.valid
        );
    }
}
