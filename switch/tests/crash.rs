//! The `harambee` process killed with SIGKILL in the middle of traffic and
//! started again on the same data directory: every outcome acknowledged to a
//! participant is still there, nothing is left reserved, the ledger
//! balances, and a graceful restart reproduces the same digest.
//!
//! This test lives in the switch package because it runs the `harambee`
//! binary (Cargo builds it for the package's own integration tests).

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use harambee_proto::v1::*;
use harambee_sim::client::{self, Outcome};

/// SIGKILLs the switch this many times in each test.
const KILLS: u64 = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_in_the_middle_of_traffic_loses_nothing_acknowledged() {
    crash_cycles(None).await;
}

/// The same on the Kafka event log. NEEDS the `tansu` broker (installed by
/// `.ci/run`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_on_the_kafka_log_loses_nothing_acknowledged() {
    let broker = harambee_tests::Tansu::start().await;
    let topic = format!("harambee.crash.{}", uuid::Uuid::new_v4().simple());
    crash_cycles(Some((broker.brokers.clone(), topic))).await;
}

async fn crash_cycles(kafka: Option<(String, String)>) {
    let env = kafka
        .map(|(brokers, topic)| kafka_env(&brokers, &topic))
        .unwrap_or_default();
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut switch = start(&data, &env).await;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let members = onboard_two_banks(&mut switch, stop_rx).await;

    let mut acknowledged: HashMap<String, Outcome> = HashMap::new();
    for round in 0..KILLS {
        // Traffic from both sides, then SIGKILL while it flows.
        let mut workers = Vec::new();
        for w in 0..6 {
            let (payer, credential, _) = members[w % 2].clone();
            let payee = msisdn((w + 1) % 2);
            let url = switch.participant_url.clone();
            workers.push(tokio::spawn(async move {
                let mut api = client::connect(&url, &credential).expect("client");
                let mut done = Vec::new();
                let started = Instant::now();
                while started.elapsed() < Duration::from_secs(3) {
                    match pay(
                        &mut api,
                        &payer,
                        payee.clone(),
                        &format!("{}.{:02}", 1 + done.len() % 50, w),
                    )
                    .await
                    {
                        Some(ack) => done.push(ack),
                        None => break, // the switch is gone
                    }
                }
                done
            }));
        }
        tokio::time::sleep(Duration::from_millis(250 + 150 * (round % 5))).await;
        switch.child.start_kill().expect("SIGKILL");
        let _ = switch.child.wait().await;
        for w in workers {
            for (id, outcome) in w.await.expect("worker") {
                acknowledged.insert(id, outcome);
            }
        }
        switch = start(&data, &env).await;
    }
    assert!(
        acknowledged.len() >= 10,
        "traffic flowed before the crashes ({} acknowledged)",
        acknowledged.len()
    );

    // Every acknowledged outcome survived.
    check_acknowledged(&mut switch, &acknowledged).await;
    // Nothing stays reserved once its expiry has passed.
    wait_nothing_reserved(&mut switch, Duration::from_secs(15)).await;
    let before = switch
        .op
        .get_ledger_digest(req(GetLedgerDigestRequest {}))
        .await
        .expect("digest")
        .into_inner();
    assert!(before.balanced, "the ledger balances");

    // A graceful stop and start replays to the same digest.
    switch.stop_gracefully().await;
    let mut again = start(&data, &env).await;
    let after = again
        .op
        .get_ledger_digest(req(GetLedgerDigestRequest {}))
        .await
        .expect("digest")
        .into_inner();
    assert_eq!(after.digest, before.digest);
    assert_eq!(after.log_offset, before.log_offset);
    let _ = stop_tx.send(true);
}
