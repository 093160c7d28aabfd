// The fuzz driver of the switch's own decoders, shared by
// `examples/fuzz_decoders.rs` (the long run) and `tests/fuzz_decoders.rs`
// (a short run in every test run). Included with `#[path]`; not a test
// target of its own.
//
// What is fuzzed, each from a corpus of valid inputs (the golden log and
// snapshot fixtures, a full config) mutated byte-wise and JSON/TOML-wise,
// and from random bytes:
// - the log record decoder (`LogRecord::decode`, every format): whatever
//   decodes must encode and decode again;
// - the snapshot decoder and the state rebuilt from it
//   (`StateSnapshot::from_json`, `State::restore`);
// - the TOML config (`Config` and its checks).
// A panic is the failure.

use harambee_core::record::LogRecord;
use harambee_core::state::{State, StateSnapshot};
use harambee_switch::config::Config;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The largest input tried: far past any valid record of the corpus.
const INPUT_MAX: usize = 64 * 1024;

/// How many inputs of each kind were tried and were valid.
#[derive(Debug, Default)]
pub struct Tally {
    pub records: (u64, u64),
    pub snapshots: (u64, u64),
    pub configs: (u64, u64),
}

fn records() -> Vec<String> {
    let mut out = Vec::new();
    for text in [
        include_str!("../fixtures/log/every-kind-v1.jsonl"),
        include_str!("../fixtures/log/every-kind-v2.jsonl"),
    ] {
        for line in text.lines() {
            let entry: serde_json::Value = serde_json::from_str(line).expect("a fixture line");
            out.push(entry["record"].as_str().expect("a record").to_string());
        }
    }
    out
}

fn snapshots() -> Vec<String> {
    vec![
        include_str!("../fixtures/snapshot/every-kind-state-v5.json").to_string(),
        include_str!("../fixtures/snapshot/every-kind-state-v6.json").to_string(),
        include_str!("../fixtures/snapshot/every-kind-state-v7.json").to_string(),
        include_str!("../fixtures/snapshot/every-kind-state-v8.json").to_string(),
    ]
}

fn configs() -> Vec<String> {
    let full = toml::to_string(&Config::default()).expect("the default config is TOML");
    vec![
        full,
        "data_dir = \"d\"\n[api]\noperator_token = \"0123456789abcdef\"\n[transfer]\ncallback_timeout_ms = 5\n".into(),
    ]
}

/// Values that stress a decoder where a number, a string or a list stood.
const WILD: &[&str] = &[
    "18446744073709551616",
    "-1",
    "1e308",
    "0.0000000000000000000000000001",
    "null",
    "true",
    "[]",
    "{}",
    "\"\"",
    "\"\\u0000\"",
    "99999999999999999999999999999999999999",
    "\"ZZZ\"",
];

/// One input: random bytes, or a corpus entry with bytes changed,
/// inserted, removed, cut, duplicated, or a token swapped for a wild one.
fn input(rng: &mut StdRng, corpus: &[String], out: &mut Vec<u8>) {
    out.clear();
    if rng.random_range(0..10) == 0 {
        for _ in 0..rng.random_range(0..300) {
            out.push(rng.random());
        }
        return;
    }
    out.extend_from_slice(corpus[rng.random_range(0..corpus.len())].as_bytes());
    for _ in 0..1 + rng.random_range(0..4) {
        if out.is_empty() {
            break;
        }
        let at = rng.random_range(0..out.len());
        match rng.random_range(0..8) {
            0 => out[at] = rng.random(),
            1 => out[at] = b"0123456789{}[]\",:-.e"[rng.random_range(0..20)],
            2 => out.insert(at, rng.random()),
            3 => {
                out.remove(at);
            }
            4 => out.truncate(at),
            5 => {
                // A token (up to the next delimiter) swapped for a wild value.
                let end = out[at..]
                    .iter()
                    .position(|b| b",}]\n".contains(b))
                    .map_or(out.len(), |p| at + p);
                let wild = WILD[rng.random_range(0..WILD.len())].as_bytes();
                out.splice(at..end, wild.iter().copied());
            }
            6 if out.len() < INPUT_MAX / 2 => {
                // A stretch repeated.
                let end = (at + rng.random_range(1..64)).min(out.len());
                let piece = out[at..end].to_vec();
                out.splice(at..at, piece);
            }
            _ => out[at] ^= 1 << rng.random_range(0..8),
        }
    }
    out.truncate(INPUT_MAX);
}

/// Tries `count` inputs: most of them records (the decoder on the hot
/// path), one in 50 a snapshot, one in 20 a config.
pub fn run(seed: u64, count: u64) -> Tally {
    let mut rng = StdRng::seed_from_u64(seed);
    let (records, snapshots, configs) = (records(), snapshots(), configs());
    let mut tally = Tally::default();
    let mut buf = Vec::with_capacity(4096);
    for i in 0..count {
        if i % 50 == 7 {
            input(&mut rng, &snapshots, &mut buf);
            tally.snapshots.0 += 1;
            let text = String::from_utf8_lossy(&buf);
            if let Ok(Some(snapshot)) = StateSnapshot::from_json(&text)
                && State::restore(snapshot).is_ok()
            {
                tally.snapshots.1 += 1;
            }
        } else if i % 20 == 3 {
            input(&mut rng, &configs, &mut buf);
            tally.configs.0 += 1;
            let text = String::from_utf8_lossy(&buf);
            if let Ok(config) = toml::from_str::<Config>(&text)
                && config.check().is_ok()
            {
                tally.configs.1 += 1;
            }
        } else {
            input(&mut rng, &records, &mut buf);
            tally.records.0 += 1;
            let text = String::from_utf8_lossy(&buf);
            if let Ok(record) = LogRecord::decode(&text) {
                tally.records.1 += 1;
                // Whatever decodes is a record: written again, it reads
                // back the same (a format-1 record naming a participant
                // by id alone is not written until named).
                if let Ok(again) = record.encode() {
                    let read = LogRecord::decode(&again).expect("an encoded record decodes");
                    assert_eq!(read, record, "{text}");
                }
            }
        }
    }
    tally
}
