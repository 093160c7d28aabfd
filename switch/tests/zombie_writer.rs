//! Two processes that both believe they are the ledger writer (a zombie cut
//! off from the group coordinator, and its successor) append to the same
//! Kafka partition at once. NEEDS `tansu` (see `harambee_tests::Tansu`).
//!
//! What must hold: the log never forks. Each append is either acknowledged,
//! with its records at the offsets it returned, or fails as contended; the
//! valid records form one dense, unbroken hash chain; the losers' records
//! are void, skipped by readers and counted by `harambee audit verify`,
//! which passes on the partition and on its export, and still finds an edit.

use std::process::Command;

use harambee_core::record::{DirectoryCommand, LedgerCommand, LogRecord};
use harambee_ledger::Currency;
use harambee_log::kafka::{self, KafkaLog, KafkaTarget};
use harambee_log::{CommandLog, LogError, Offset};
use harambee_tests::Tansu;

fn records(n: usize, tag: &str) -> Vec<LogRecord> {
    (0..n)
        .map(|i| {
            if i % 2 == 0 {
                LogRecord::Directory(DirectoryCommand::SetOracle {
                    party_type: format!("{tag}-{i}"),
                    url: None,
                    now_ms: 1,
                })
            } else {
                LogRecord::Ledger(LedgerCommand::enable_currency(
                    Currency::parse("KES").expect("KES"),
                    1,
                ))
            }
        })
        .collect()
}

fn harambee(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_harambee"))
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

const ROUNDS: usize = 12;
const BATCH_RECORDS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_writers_racing_on_one_partition_never_fork_the_log() {
    let broker = Tansu::start().await;
    let target = KafkaTarget {
        brokers: broker.brokers.clone(),
        topic: "zombie.log".into(),
        partition: 0,
    };
    kafka::create_topic(&target.brokers, &target.topic, 1, 1)
        .await
        .expect("topic");
    let zombie = KafkaLog::open(target.clone()).await.expect("open zombie");
    let successor = KafkaLog::open(target.clone())
        .await
        .expect("open successor");
    assert_eq!(zombie.append(&records(2, "start")).await.expect("start"), 0);
    // The successor takes over: it reads the end as the zombie left it.
    assert_eq!(successor.resync().await.expect("resync"), 2);

    // Both now append as if alone. The first round certainly collides: both
    // batches are written for partition offsets 2..6.
    let mut acknowledged: Vec<(Offset, Vec<LogRecord>)> = Vec::new();
    let mut contended = 0;
    for round in 0..ROUNDS {
        let mine = records(BATCH_RECORDS, &format!("zombie{round}"));
        let theirs = records(BATCH_RECORDS, &format!("successor{round}"));
        let (a, b) = tokio::join!(zombie.append(&mine), successor.append(&theirs));
        for (result, batch) in [(a, mine), (b, theirs)] {
            match result {
                Ok(offset) => acknowledged.push((offset, batch)),
                Err(LogError::Contended(_)) => contended += 1,
                Err(e) => panic!("round {round}: {e}"),
            }
        }
    }
    assert!(
        contended >= 1,
        "two batches for the same positions cannot both land there"
    );

    // A reader that joins now sees one dense log.
    let reader = KafkaLog::open(target.clone()).await.expect("open reader");
    let end = reader.end().await.expect("end");
    let log = reader.read(0, 100_000).await.expect("read");
    assert_eq!(log.len() as Offset, end);
    for (i, (offset, _)) in log.iter().enumerate() {
        assert_eq!(*offset, i as Offset, "offsets are dense");
    }
    // Every acknowledged record is in it, where its append said, once.
    for (first, batch) in &acknowledged {
        for (i, record) in batch.iter().enumerate() {
            let at = (*first as usize) + i;
            assert_eq!(&log[at].1, record, "acknowledged record at {at}");
        }
    }
    let acknowledged_records: usize = acknowledged.iter().map(|(_, b)| b.len()).sum();
    assert!(end as usize >= 2 + acknowledged_records);
    // Nothing appears twice: every record of the test is distinct by tag.
    let mut tags: Vec<String> = log
        .iter()
        .filter_map(|(_, r)| match r {
            LogRecord::Directory(DirectoryCommand::SetOracle { party_type, .. }) => {
                Some(party_type.clone())
            }
            _ => None,
        })
        .collect();
    let count = tags.len();
    tags.sort();
    tags.dedup();
    assert_eq!(tags.len(), count, "no record applied twice");

    // Both writers learn the same end and go on from it.
    assert_eq!(zombie.resync().await.expect("resync"), end);
    assert_eq!(successor.resync().await.expect("resync"), end);
    assert_eq!(
        successor.append(&records(1, "after")).await.expect("after"),
        end
    );

    // The audit, from the command line, on the partition itself.
    let brokers = broker.brokers.clone();
    let (status, out) = harambee(&[
        "audit",
        "verify",
        "--kafka-brokers",
        &brokers,
        "--kafka-topic",
        "zombie.log",
    ]);
    assert_eq!(status, 0, "{out}");
    assert!(
        out.contains(&format!("verified {} records", end + 1)),
        "{out}"
    );
    let void: u64 = out
        .lines()
        .find_map(|l| {
            l.strip_suffix(
                " void records (appended by a writer whose view was stale; never applied)",
            )
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("void records are counted: {out}"));
    assert!(void >= 1);

    // And on an export, which holds the void messages too.
    let dir = tempfile::tempdir().expect("tempdir");
    let export = dir.path().join("log.jsonl");
    let export_path = export.to_string_lossy().into_owned();
    let (status, _) = harambee(&[
        "audit",
        "export",
        "--kafka-brokers",
        &brokers,
        "--kafka-topic",
        "zombie.log",
        "--out",
        &export_path,
    ]);
    assert_eq!(status, 0);
    let lines: Vec<String> = std::fs::read_to_string(&export)
        .expect("export")
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(lines.len() as u64, end + 1 + void);
    let (status, out) = harambee(&["audit", "verify", "--file", &export_path]);
    assert_eq!(status, 0, "{out}");

    // Editing the last acknowledged record's content is found there.
    let (first, batch) = acknowledged.last().expect("something was acknowledged");
    let edited_offset = first + batch.len() as Offset - 1;
    let mut edited = lines.clone();
    let line = edited
        .iter_mut()
        .find(|l| {
            let row: serde_json::Value = serde_json::from_str(l).expect("json");
            row["offset"] == edited_offset && row["position"] == row["at"]
        })
        .expect("the record is exported");
    *line = line.replacen("KES", "UGX", 1).replacen("-", "+", 1);
    assert_ne!(lines, edited, "the edit changed the export");
    std::fs::write(&export, edited.join("\n")).expect("write");
    let (status, out) = harambee(&["audit", "verify", "--file", &export_path]);
    assert_eq!(status, 1, "{out}");
    assert!(
        out.contains(&format!("BROKEN at offset {edited_offset}")),
        "{out}"
    );
}
