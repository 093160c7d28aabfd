//! The log format meant to last: golden fixtures of every record format.
//!
//! `fixtures/log/*-v1.jsonl` are logs written by the builds of format 1
//! (`every-kind-v1`: one record of every kind; `demo-v1`: a whole `harambee
//! demo` run, exported with `harambee audit export`). `every-kind-v2.jsonl`
//! is the same log as the current build writes it. Each line is a stored
//! record with its hash chain. Every build must verify each fixture and
//! replay it to the ledger digest it had when it was written; the fixtures
//! are never edited. (`HARAMBEE_WRITE_FIXTURES=1` writes a missing v2
//! fixture; it never overwrites one.)

use std::path::PathBuf;

use harambee_core::record::{LogRecord, RECORD_FORMAT_VERSION, RecordError};
use harambee_core::state::State;
use harambee_core::text::hex;
use harambee_log::chain::{self, ChainedRecord, Verifier};

/// The ledger digest of `every-kind-*` replayed, as its writer had it.
const EVERY_KIND_DIGEST: &str = "2175797b8c9d0acaab80d36700354d7bf6e03bbda84d35d7a60bc3ba08e30b25";
/// The ledger digest the demo run of `demo-v1` printed after its payments,
/// when its log held `DEMO_PAYMENTS_RECORDS` records (settlement followed).
const DEMO_PAYMENTS_DIGEST: &str =
    "dd60c98ee93d118aec2f5dbcd2f164f531416522e448750f098f4b1f7b88c397";
const DEMO_PAYMENTS_RECORDS: usize = 1254;
/// The ledger digest of the whole of `demo-v1` (after the settlement), as
/// the build that wrote it replays it.
const DEMO_DIGEST: &str = "156eaea8de26775fd68032a4b0cdf40192fcc31d925a890c43d723606f1251cd";

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/log")
        .join(name)
}

fn load(name: &str) -> Vec<ChainedRecord> {
    let text = std::fs::read_to_string(fixture_path(name)).expect("fixture");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("a chained record"))
        .collect()
}

/// Verifies the chain of `rows` and returns its head.
fn verify(rows: &[ChainedRecord]) -> [u8; 32] {
    let mut verifier = Verifier::default();
    for row in rows {
        verifier
            .check(row)
            .unwrap_or_else(|b| panic!("the chain breaks: {b:?}"));
    }
    assert_eq!(verifier.count(), rows.len() as u64);
    verifier.head()
}

/// Decodes and applies every record; returns the state.
fn replay(rows: &[ChainedRecord]) -> State {
    let mut state = State::default();
    for row in rows {
        let record = LogRecord::decode(&row.record)
            .unwrap_or_else(|e| panic!("record {} does not decode: {e}", row.offset));
        state.apply(row.offset, &record);
    }
    state
}

/// The log as this build writes the same commands: each record named
/// against the state before it, given a time where format 1 carried none
/// (the latest time before it; the first record's, before any), encoded
/// in the current format and chained again.
fn rewrite(rows: &[ChainedRecord]) -> Vec<ChainedRecord> {
    let records: Vec<LogRecord> = rows
        .iter()
        .map(|r| LogRecord::decode(&r.record).expect("decodes"))
        .collect();
    let mut time_ms = records
        .iter()
        .map(LogRecord::time_ms)
        .find(|t| *t > 0)
        .expect("a record with a time");
    let mut state = State::default();
    let mut prev = chain::GENESIS;
    let mut out = Vec::new();
    for (row, record) in rows.iter().zip(&records) {
        let mut named = record.with_names(&state.ledger);
        if named.time_ms() == 0 {
            *named.time_ms_mut() = time_ms;
        }
        time_ms = named.time_ms();
        let text = named.encode().expect("a named record encodes");
        let back = LogRecord::decode(&text).expect("the new text decodes");
        assert_eq!(back, named, "record {} round-trips", row.offset);
        let hash = chain::link(row.offset, &prev, &text);
        out.push(ChainedRecord {
            offset: row.offset,
            position: None,
            at: None,
            prev_hash: hex(&prev),
            hash: hex(&hash),
            record: text,
        });
        prev = hash;
        state.apply(row.offset, record);
    }
    out
}

fn to_jsonl(rows: &[ChainedRecord]) -> String {
    rows.iter()
        .map(|r| serde_json::to_string(r).expect("json") + "\n")
        .collect()
}

#[test]
fn format_1_logs_verify_and_replay_to_the_digest_they_had() {
    for (name, digest) in [
        ("every-kind-v1.jsonl", EVERY_KIND_DIGEST),
        ("demo-v1.jsonl", DEMO_DIGEST),
    ] {
        let rows = load(name);
        assert!(rows.iter().all(|r| r.record.starts_with("{\"v\":1,")));
        verify(&rows);
        assert_eq!(replay(&rows).ledger.digest().to_hex(), digest, "{name}");
    }
    let demo = load("demo-v1.jsonl");
    assert_eq!(
        replay(&demo[..DEMO_PAYMENTS_RECORDS])
            .ledger
            .digest()
            .to_hex(),
        DEMO_PAYMENTS_DIGEST,
        "the digest the demo printed"
    );
}

#[test]
fn the_current_format_is_pinned_by_its_fixture_and_replays_to_the_same_digest() {
    assert_eq!(
        RECORD_FORMAT_VERSION, 2,
        "a new format needs its own fixture"
    );
    let rewritten = rewrite(&load("every-kind-v1.jsonl"));
    let path = fixture_path("every-kind-v2.jsonl");
    if !path.exists() && std::env::var_os("HARAMBEE_WRITE_FIXTURES").is_some() {
        std::fs::write(&path, to_jsonl(&rewritten)).expect("write the fixture");
    }
    let pinned = load("every-kind-v2.jsonl");
    assert_eq!(
        to_jsonl(&pinned),
        to_jsonl(&rewritten),
        "this build writes format 2 as its fixture has it"
    );
    verify(&pinned);
    assert!(pinned.iter().all(|r| r.record.starts_with("{\"v\":2,")));
    assert_eq!(replay(&pinned).ledger.digest().to_hex(), EVERY_KIND_DIGEST);
}

#[test]
fn a_whole_demo_log_rewritten_in_the_current_format_replays_to_the_same_digest() {
    let rewritten = rewrite(&load("demo-v1.jsonl"));
    verify(&rewritten);
    assert_eq!(replay(&rewritten).ledger.digest().to_hex(), DEMO_DIGEST);
}

#[test]
fn format_2_reads_as_an_auditor_expects() {
    let pinned = load("every-kind-v2.jsonl");
    let prepare = pinned
        .iter()
        .map(|r| serde_json::from_str::<serde_json::Value>(&r.record).expect("json"))
        .find(|v| v["record"]["type"] == "transfer_prepare")
        .expect("a prepare");
    assert_eq!(prepare["v"], 2);
    assert!(prepare["time_ms"].as_i64().is_some_and(|t| t > 0));
    let r = &prepare["record"];
    assert_eq!(r["payer"], "bank-a", "participants by name");
    assert_eq!(r["payee"], "wallet-b");
    assert_eq!(r["amount"], "10.50");
    let id = r["transfer_id"].as_str().expect("a string id");
    assert_eq!(
        harambee_core::text::parse_uuid(id)
            .map(harambee_core::text::uuid_string)
            .as_deref(),
        Some(id)
    );
    let condition = r["condition"].as_str().expect("hex");
    assert_eq!(condition.len(), 64);
    assert!(
        condition
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    // Every record carries a time.
    for row in &pinned {
        let v: serde_json::Value = serde_json::from_str(&row.record).expect("json");
        assert!(
            v["time_ms"].as_i64().is_some_and(|t| t > 0),
            "{}",
            row.record
        );
    }
}

#[test]
fn unknown_versions_and_malformed_records_are_refused() {
    let pinned = load("every-kind-v2.jsonl");
    let text = &pinned[0].record;
    let future = text.replacen("\"v\":2", "\"v\":3", 1);
    assert!(matches!(
        LogRecord::decode(&future),
        Err(RecordError::Version(3))
    ));
    let extra = text.replacen("\"v\":2,", "\"v\":2,\"extra\":1,", 1);
    assert!(matches!(
        LogRecord::decode(&extra),
        Err(RecordError::Malformed(_))
    ));
    assert!(LogRecord::decode("{not json").is_err());
    let prepare = pinned
        .iter()
        .find(|r| r.record.contains("transfer_prepare"))
        .expect("a prepare");
    let mut value: serde_json::Value = serde_json::from_str(&prepare.record).expect("json");
    value["record"]["condition"] = "ab".repeat(32).into();
    let lower = serde_json::to_string(&value).expect("json");
    assert!(LogRecord::decode(&lower).is_ok());
    value["record"]["condition"] = "AB".repeat(32).into();
    let upper = serde_json::to_string(&value).expect("json");
    assert!(
        LogRecord::decode(&upper).is_err(),
        "hashes are lower-case hex"
    );
}

#[test]
fn a_record_naming_a_participant_by_id_only_is_not_written() {
    let rows = load("every-kind-v1.jsonl");
    let open = rows
        .iter()
        .map(|r| LogRecord::decode(&r.record).expect("decodes"))
        .find(|r| format!("{r:?}").contains("OpenAccounts"))
        .expect("an OpenAccounts");
    assert!(matches!(open.encode(), Err(RecordError::Unnamed(_))));
}

/// The snapshot of a state pins the snapshot's shape: a change to it fails
/// here until `STATE_SNAPSHOT_VERSION` is bumped and a fixture for the new
/// version is added beside this one.
#[test]
fn the_snapshot_shape_is_pinned_by_its_version() {
    use harambee_core::state::{STATE_SNAPSHOT_VERSION, StateSnapshot};
    let rows = load("every-kind-v2.jsonl");
    // Up to the quote release: a released quote's filter is 2 MiB of bits.
    let end = rows
        .iter()
        .position(|r| r.record.contains("\"expire_quotes\""))
        .expect("an expire_quotes record");
    let state = replay(&rows[..end]);
    let snapshot = serde_json::to_string_pretty(&state.snapshot()).expect("json") + "\n";
    let name = format!("every-kind-state-v{STATE_SNAPSHOT_VERSION}.json");
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/snapshot")
        .join(&name);
    if !path.exists() && std::env::var_os("HARAMBEE_WRITE_FIXTURES").is_some() {
        std::fs::write(&path, &snapshot).expect("write the fixture");
    }
    let pinned = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!("no {name}: a new snapshot version needs its fixture (HARAMBEE_WRITE_FIXTURES=1)")
    });
    assert_eq!(
        pinned, snapshot,
        "the snapshot's shape changed: bump STATE_SNAPSHOT_VERSION and add its fixture"
    );
    let restored = State::restore(
        StateSnapshot::from_json(&pinned)
            .expect("json")
            .expect("this version"),
    )
    .expect("restores");
    assert_eq!(restored.ledger.digest(), state.ledger.digest());
    // A snapshot of another version is not read: the log is replayed.
    let mut value: serde_json::Value = serde_json::from_str(&pinned).expect("json");
    value.as_object_mut().expect("an object").remove("version");
    let unversioned = serde_json::to_string(&value).expect("json");
    assert!(
        StateSnapshot::from_json(&unversioned)
            .expect("json")
            .is_none()
    );
    value["version"] = (STATE_SNAPSHOT_VERSION + 1).into();
    let newer = serde_json::to_string(&value).expect("json");
    assert!(StateSnapshot::from_json(&newer).expect("json").is_none());
}

/// What a prepare carried for the payee is kept while its transfer is
/// reserved, and only then.
#[test]
fn pending_terms_follow_the_reserved_transfers() {
    let rows = load("every-kind-v2.jsonl");
    let mut state = State::default();
    let mut reserved_seen = 0;
    for row in &rows {
        let record = LogRecord::decode(&row.record).expect("decodes");
        state.apply(row.offset, &record);
        let in_flight: std::collections::BTreeSet<_> =
            state.ledger.in_flight().map(|(id, _)| id).collect();
        let kept: std::collections::BTreeSet<_> = state.pending_terms.keys().copied().collect();
        assert_eq!(kept, in_flight, "after record {}", row.offset);
        reserved_seen = reserved_seen.max(in_flight.len());
    }
    assert!(reserved_seen > 0, "the log reserves transfers");
    assert!(state.pending_terms.is_empty());
}
