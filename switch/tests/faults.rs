//! Broker and database faults under load: the Kafka broker (Tansu on its
//! sqlite storage) and PostgreSQL are killed in the middle of traffic and
//! started again. While the broker is down the switch answers 2003 rather
//! than accept what it cannot make durable; when it is back the switch
//! reconnects by itself and nothing acknowledged is lost. A PostgreSQL
//! outage stops only the projections and the queries that read them (2003);
//! they catch up when it is back.
//!
//! NEEDS the `tansu` broker (installed by `.ci/run`) and the PostgreSQL
//! server binaries (`initdb`, `pg_ctl`): the database test runs a private
//! PostgreSQL server on a free port, not the shared one.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use harambee_proto::v1::*;
use harambee_sim::client::{self, Outcome};

/// Records the log must grow by before the test goes on: enough for the
/// ten acknowledged payments it counts before and after the fault.
const PROGRESS_RECORDS: u64 = 60;

/// Waits until the log has grown by `records` records (traffic under way),
/// at most `timeout`.
async fn wait_progress(switch: &mut Switch, records: u64, timeout: Duration) {
    let start = switch.digest().await.log_offset;
    let deadline = Instant::now() + timeout;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if let Ok(d) = switch
            .op
            .get_ledger_digest(req(GetLedgerDigestRequest {}))
            .await
            && d.get_ref().log_offset > start + records
        {
            return;
        }
        assert!(Instant::now() < deadline, "traffic did not resume");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_under_load_answers_2003_and_loses_nothing() {
    let broker_dir = tempfile::tempdir().expect("tempdir");
    let mut broker = harambee_tests::Tansu::start_durable(broker_dir.path()).await;
    let topic = format!("harambee.faults.{}", uuid::Uuid::new_v4().simple());
    let mut env = kafka_env(&broker.brokers, &topic);
    env.push(("HARAMBEE_KAFKA_TIMEOUT_MS".into(), "2000".into()));
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut switch = start(&data, &env).await;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let members = onboard_two_banks(&mut switch, stop_rx).await;

    let (traffic_tx, traffic_rx) = tokio::sync::watch::channel(false);
    let workers = traffic(&switch.participant_url, &members, traffic_rx);
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Traffic under way (a few records per payment), however loaded the
    // machine: the fault comes after enough acknowledgements to count.
    wait_progress(&mut switch, PROGRESS_RECORDS, Duration::from_secs(60)).await;

    // Down for several of the log's broker timeouts (2 s here).
    broker.kill();
    let down_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(14)).await;
    broker.restart().await;
    let up_at = Instant::now();
    wait_progress(&mut switch, PROGRESS_RECORDS, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = traffic_tx.send(true);
    let seen = collect(workers).await;

    let during = |at: Instant| at > down_at + Duration::from_secs(1) && at < up_at;
    assert!(
        seen.acks.iter().filter(|(_, _, at)| *at < down_at).count() >= 10,
        "traffic flowed before the fault"
    );
    assert!(
        seen.failures
            .iter()
            .any(|(code, at)| *code == 2003 && *at > down_at),
        "the switch reported unavailability (2003) while the broker was down: {:?}",
        seen.failures.iter().map(|(c, _)| c).collect::<Vec<_>>()
    );
    assert_eq!(
        seen.acks.iter().filter(|(_, _, at)| during(*at)).count(),
        0,
        "nothing is acknowledged while the log cannot make it durable"
    );
    assert!(
        seen.acks.iter().filter(|(_, _, at)| *at > up_at).count() >= 10,
        "the switch reconnected and traffic went on"
    );

    let acknowledged: HashMap<String, Outcome> = seen
        .acks
        .into_iter()
        .map(|(id, outcome, _)| (id, outcome))
        .collect();
    check_acknowledged(&mut switch, &acknowledged).await;
    wait_nothing_reserved(&mut switch, Duration::from_secs(30)).await;
    let before = switch.digest().await;
    assert!(before.balanced, "every currency balances");

    // Everything is on the restarted broker: a new process replays it all.
    switch.stop_gracefully().await;
    std::fs::remove_dir_all(&data).expect("fresh data directory");
    let mut again = start(&data, &env).await;
    let after = again.digest().await;
    assert_eq!(
        (after.log_offset, after.digest),
        (before.log_offset, before.digest)
    );
    check_acknowledged(&mut again, &acknowledged).await;
    again.stop_gracefully().await;
    let _ = stop_tx.send(true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_under_load_loses_no_projected_row() {
    let pg = harambee_tests::PrivatePostgres::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let env: Vec<(String, String)> = [
        ("HARAMBEE_STORE", "postgres"),
        ("HARAMBEE_POSTGRES_URL", pg.url.as_str()),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .into();
    let mut switch = start(&data, &env).await;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let members = onboard_two_banks(&mut switch, stop_rx).await;

    let (traffic_tx, traffic_rx) = tokio::sync::watch::channel(false);
    let workers = traffic(&switch.participant_url, &members, traffic_rx);
    tokio::time::sleep(Duration::from_secs(2)).await;

    pg.crash();
    let down_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The projection cannot be read: the Operator API says so.
    let listed = switch
        .op
        .list_transfers(req(ListTransfersRequest::default()))
        .await;
    let status = listed.expect_err("no projection while PostgreSQL is down");
    assert_eq!(
        harambee_proto::fspiop::FspiopError::from_status(&status).code,
        2003
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    pg.start_again().await;
    let up_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _ = traffic_tx.send(true);
    let seen = collect(workers).await;
    assert!(
        seen.acks
            .iter()
            .filter(|(_, _, at)| *at > down_at && *at < up_at)
            .count()
            >= 10,
        "payments go on without the database: the log is the truth"
    );

    let acknowledged: HashMap<String, Outcome> = seen
        .acks
        .into_iter()
        .map(|(id, outcome, _)| (id, outcome))
        .collect();
    check_acknowledged(&mut switch, &acknowledged).await;
    wait_nothing_reserved(&mut switch, Duration::from_secs(30)).await;
    // The projection caught up: every acknowledged transfer is there with
    // its outcome (at most a minute for the retrying rebuild).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut projected: HashMap<String, Outcome> = HashMap::new();
        let mut token = String::new();
        loop {
            let page = switch
                .op
                .list_transfers(req(ListTransfersRequest {
                    page: Some(PageRequest {
                        page_size: 1000,
                        page_token: token.clone(),
                    }),
                    ..Default::default()
                }))
                .await
                .map(|r| r.into_inner());
            let page = match page {
                Ok(page) => page,
                Err(e) => {
                    eprintln!("list transfers: {e}");
                    break;
                }
            };
            for t in &page.transfers {
                projected.insert(t.transfer_id.clone(), client::outcome_of(t));
            }
            token = page.page.map(|p| p.next_page_token).unwrap_or_default();
            if token.is_empty() {
                break;
            }
        }
        let missing: Vec<(&String, &Outcome, Option<&Outcome>)> = acknowledged
            .iter()
            .filter(|(id, outcome)| projected.get(*id) != Some(outcome))
            .map(|(id, outcome)| (id, outcome, projected.get(id)))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} acknowledged transfers not projected after PostgreSQL came back ({} rows), e.g. {:?}",
            missing.len(),
            acknowledged.len(),
            projected.len(),
            missing.first()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    switch.stop_gracefully().await;
    let _ = stop_tx.send(true);
}
