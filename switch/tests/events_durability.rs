//! The events topic is at least once for real: over 20,000 transfers, with
//! the broker (Tansu on its sqlite storage, holding the log and the events
//! topic) killed and started again in the middle, a downstream consumer
//! reading `<log topic>.events` from the start sees every event of every
//! transfer, and after deduplication by (log offset, index) each exactly
//! once. NEEDS the `tansu` broker (installed by `.ci/run`).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use common::*;
use harambee_proto::v1::ledger_event::Kind;
use harambee_proto::v1::*;
use harambee_sim::load::{LoadSpec, Mode};
use harambee_sim::network::Operator;

/// Transfers the load makes, at least.
const TRANSFERS: u64 = 20_000;

/// Transfers the load tries (some are refused with 2003 while the broker
/// is away).
const ATTEMPTS: u64 = 21_000;

/// Every transfer the Operator API lists, by id, with its state.
async fn all_transfers(switch: &mut Switch) -> HashMap<String, i32> {
    let mut out = HashMap::new();
    let mut token = String::new();
    loop {
        let page = switch
            .op
            .list_transfers(req(ListTransfersRequest {
                page: Some(PageRequest {
                    page_size: 1_000,
                    page_token: token.clone(),
                }),
                ..Default::default()
            }))
            .await
            .expect("transfers")
            .into_inner();
        out.extend(page.transfers.into_iter().map(|t| (t.transfer_id, t.state)));
        token = page.page.map(|p| p.next_page_token).unwrap_or_default();
        if token.is_empty() {
            return out;
        }
    }
}

/// The kinds of transfer event each transfer has on the topic.
fn transfer_events(
    events: &BTreeMap<(u64, u32), LedgerEvent>,
) -> HashMap<String, Vec<&'static str>> {
    let mut out: HashMap<String, Vec<&'static str>> = HashMap::new();
    for e in events.values() {
        let (kind, id) = match e.kind.as_ref() {
            Some(Kind::TransferReserved(t)) => ("reserved", &t.transfer_id),
            Some(Kind::TransferCommitted(t)) => ("committed", &t.transfer_id),
            Some(Kind::TransferAborted(t)) => ("aborted", &t.transfer_id),
            Some(Kind::TransferRefused(t)) => ("refused", &t.transfer_id),
            _ => continue,
        };
        out.entry(id.clone()).or_default().push(kind);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_of_20000_transfers_is_on_the_topic_across_a_broker_restart() {
    let broker_dir = tempfile::tempdir().expect("tempdir");
    let mut broker = harambee_tests::Tansu::start_durable(broker_dir.path()).await;
    let topic = format!("harambee.events.{}", uuid::Uuid::new_v4().simple());
    let mut env = kafka_env(&broker.brokers, &topic);
    env.push(("HARAMBEE_KAFKA_TIMEOUT_MS".into(), "2000".into()));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut switch = start(&dir.path().join("data"), &env).await;

    // Transfers only (each on a quote agreed before), many in flight.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let spec = LoadSpec {
        mode: Mode::Transfers,
        participants: 4,
        concurrency: 32,
        rate_per_s: None,
        duration: Duration::from_secs(600),
        count: Some(ATTEMPTS),
        currency: CURRENCY.into(),
        show_progress: false,
        settle_every: None,
        hub: None,
        iso8583: None,
    };
    let op = Operator::new(switch.op.clone(), TOKEN);
    let url = switch.participant_url.clone();
    let load = tokio::spawn(async move { harambee_sim::load::run(op, &url, &spec, stop_rx).await });

    // The broker goes away in the middle, and comes back.
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    while switch.digest().await.transfer_count < TRANSFERS / 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the load did not get going"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    broker.kill();
    tokio::time::sleep(Duration::from_secs(6)).await;
    broker.restart().await;
    let report = load.await.expect("load").expect("load report");
    let committed = report.outcomes.get("committed").copied().unwrap_or(0);
    assert!(
        committed >= TRANSFERS / 2,
        "transfers went through: {:?}",
        report.outcomes
    );

    wait_nothing_reserved(&mut switch, Duration::from_secs(60)).await;
    let digest = switch.digest().await;
    let transfers = all_transfers(&mut switch).await;
    assert_eq!(transfers.len() as u64, digest.transfer_count);
    assert!(
        transfers.len() as u64 >= TRANSFERS,
        "{} transfers",
        transfers.len()
    );

    // A consumer reads the topic from its start until every transfer has
    // its final event.
    let events_topic = format!("{topic}.events");
    let (events, messages) = harambee_tests::read_events(
        &broker.brokers,
        &events_topic,
        Duration::from_secs(180),
        |events| {
            let kinds = transfer_events(events);
            transfers.keys().all(|id| {
                kinds.get(id).is_some_and(|k| {
                    k.iter()
                        .any(|k| matches!(*k, "committed" | "aborted" | "refused"))
                })
            })
        },
    );
    let kinds = transfer_events(&events);
    for (id, state) in &transfers {
        let mut got = kinds.get(id).cloned().unwrap_or_default();
        got.sort_unstable();
        let want: &[&[&str]] = if *state == TransferState::Committed as i32 {
            &[&["committed", "reserved"]]
        } else {
            &[&["aborted", "reserved"], &["refused"]]
        };
        assert!(
            want.contains(&got.as_slice()),
            "transfer {id} (state {state}): each of its events exactly once, got {got:?}"
        );
    }
    // No hole inside a record: its events are indexed 0, 1, 2, ...
    let mut by_offset: BTreeMap<u64, BTreeSet<u32>> = BTreeMap::new();
    for (offset, index) in events.keys() {
        by_offset.entry(*offset).or_default().insert(*index);
    }
    for (offset, indexes) in &by_offset {
        let max = indexes.iter().max().copied().unwrap_or(0);
        assert_eq!(
            indexes.len() as u32,
            max + 1,
            "record {offset}: every event, none missing"
        );
    }
    eprintln!(
        "{} transfers, {} events, {messages} messages read (duplicates included)",
        transfers.len(),
        events.len()
    );
    let _ = stop_tx.send(true);
    switch.stop_gracefully().await;
}
