//! The CommandLog contract, checked on both backends: SQLite (embedded) and
//! Kafka (a Tansu broker; these tests NEED `tansu`, see `Tansu::start`).
//! And a whole switch on Kafka.

use harambee_core::record::{DirectoryCommand, LedgerCommand, LogRecord};
use harambee_ledger::Currency;
use harambee_log::chain::Verifier;
use harambee_log::kafka::{self, KafkaLog, KafkaTarget};
use harambee_log::sqlite::SqliteLog;
use harambee_log::{CommandLog, LOG_BATCH_RECORDS_MAX, LogError};
use harambee_switch::config::LogKind;
use harambee_tests::*;

fn records(n: usize, tag: &str) -> Vec<LogRecord> {
    (0..n)
        .map(|i| {
            if i % 2 == 0 {
                LogRecord::Directory(DirectoryCommand::SetOracle {
                    party_type: format!("T{tag}{i}"),
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

async fn contract(log: &dyn CommandLog) {
    assert_eq!(log.end().await.expect("end"), 0);
    assert!(log.read(0, 10).await.expect("read empty").is_empty());
    let first = records(3, "a");
    assert_eq!(log.append(&first).await.expect("append"), 0);
    assert_eq!(log.end().await.expect("end"), 3);
    let second = records(2, "b");
    assert_eq!(log.append(&second).await.expect("append"), 3);
    let all: Vec<LogRecord> = first.iter().chain(second.iter()).cloned().collect();
    let read = log.read(0, 100).await.expect("read");
    assert_eq!(
        read.iter().map(|(o, _)| *o).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4]
    );
    assert_eq!(read.into_iter().map(|(_, r)| r).collect::<Vec<_>>(), all);
    let middle = log.read(2, 2).await.expect("read middle");
    assert_eq!(middle.iter().map(|(o, _)| *o).collect::<Vec<_>>(), [2, 3]);
    assert!(log.read(5, 10).await.expect("past the end").is_empty());
    let too_many = records(LOG_BATCH_RECORDS_MAX + 1, "c");
    assert!(matches!(
        log.append(&too_many).await,
        Err(LogError::BatchTooLarge(_))
    ));
    assert_eq!(
        log.end().await.expect("end"),
        5,
        "a refused append adds nothing"
    );
}

#[tokio::test]
async fn sqlite_log_keeps_the_contract_and_its_chain_across_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("log.db");
    contract(&SqliteLog::open(&path).await.expect("open")).await;
    let reopened = SqliteLog::open(&path).await.expect("reopen");
    assert_eq!(reopened.append(&records(2, "d")).await.expect("append"), 5);
    let (count, _) = reopened.verify_chain().await.expect("chain intact");
    assert_eq!(count, 7);
}

#[tokio::test]
async fn kafka_log_keeps_the_contract_and_its_chain_across_reopening() {
    let broker = Tansu::start().await;
    let topic = format!("harambee.test.{}", uuid::Uuid::new_v4().simple());
    kafka::create_topic(&broker.brokers, &topic, 1, 1)
        .await
        .expect("create topic");
    kafka::create_topic(&broker.brokers, &topic, 1, 1)
        .await
        .expect("creating it again is fine");
    let target = KafkaTarget {
        brokers: broker.brokers.clone(),
        topic: topic.clone(),
        partition: 0,
    };
    contract(&KafkaLog::open(target.clone()).await.expect("open")).await;
    let reopened = KafkaLog::open(target).await.expect("reopen");
    assert_eq!(reopened.append(&records(2, "d")).await.expect("append"), 5);
    let mut verifier = Verifier::default();
    for row in reopened.chained(0, 100).await.expect("chained") {
        verifier.check(&row).expect("chain intact");
    }
    assert_eq!(verifier.count(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_on_kafka_pays_and_restarts_to_the_same_state() {
    let broker = Tansu::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = TestSwitch::config(dir.path());
    config.log.kind = LogKind::Kafka;
    config.kafka.brokers = broker.brokers.clone();
    config.kafka.topic = format!("harambee.switch.{}", uuid::Uuid::new_v4().simple());
    let mut s = TestSwitch::start_with(dir, config).await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    for amount in ["10", "20"] {
        let q = quote(&mut a, &b, amount).await;
        let t = a
            .api
            .prepare_transfer(prepare_request(&q, 30_000))
            .await
            .expect("prepare")
            .into_inner();
        assert_eq!(t.state, harambee_proto::v1::TransferState::Committed as i32);
    }
    let before = s.digest().await;
    assert!(before.balanced);
    s.restart().await;
    let after = s.digest().await;
    assert_eq!(
        (after.digest, after.log_offset),
        (before.digest, before.log_offset)
    );
}

/// A broker on durable storage, killed and restarted: the log finds its
/// head again and appends go on from there, the chain intact, nothing lost.
/// (This caught Tansu emptying topics created with `cleanup.policy =
/// delete` and `retention.ms = -1`; see `kafka::create_topic`.)
#[tokio::test]
async fn kafka_log_survives_a_broker_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut broker = Tansu::start_durable(dir.path()).await;
    let topic = format!("harambee.test.{}", uuid::Uuid::new_v4().simple());
    kafka::create_topic(&broker.brokers, &topic, 1, 1)
        .await
        .expect("create topic");
    let target = KafkaTarget {
        brokers: broker.brokers.clone(),
        topic: topic.clone(),
        partition: 0,
    };
    let log = KafkaLog::open(target.clone()).await.expect("open");
    assert_eq!(log.append(&records(3, "a")).await.expect("append"), 0);
    // SIGKILL: what was acknowledged must survive a crash.
    broker.kill();
    broker.restart().await;
    // The same handle reconnects by itself.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let offset = loop {
        match log.append(&records(2, "b")).await {
            Ok(offset) => break offset,
            Err(e) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "no append after the restart: {e}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
        }
    };
    assert_eq!(offset, 3);
    let reopened = KafkaLog::open(target).await.expect("reopen");
    assert_eq!(reopened.end().await.expect("end"), 5);
    let mut verifier = Verifier::default();
    for row in reopened.chained(0, 100).await.expect("chained") {
        verifier.check(&row).expect("chain intact");
    }
    assert_eq!(verifier.count(), 5);
}
