//! Scale-out: two `harambee serve` processes share one Kafka log (Tansu)
//! and one PostgreSQL database. Both serve participant traffic; one writes
//! the log, the other follows it and hands its records over. The writer is
//! killed with SIGKILL in the middle of traffic; the follower takes over
//! through the Kafka consumer group and traffic goes on. The cluster link
//! runs on TLS (a dev PKI's certificates): nodes present the switch's
//! certificate to each other besides the cluster credential.
//!
//! NEEDS the `tansu` broker (installed by `.ci/run`) and PostgreSQL on
//! 127.0.0.1:5432 (the test creates and drops its own database).

mod common;

use std::collections::HashMap;
use std::str::FromStr;
use std::time::{Duration, Instant};

use common::*;
use harambee_proto::v1::*;
use harambee_sim::client::{self, Outcome};
use rust_decimal::Decimal;

/// Polls `switch` until `check` holds on its digest, at most `timeout`.
async fn wait_digest(
    switch: &mut Switch,
    what: &str,
    timeout: Duration,
    check: impl Fn(&LedgerDigest) -> bool,
) -> LedgerDigest {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(d) = switch
            .op
            .get_ledger_digest(req(GetLedgerDigestRequest {}))
            .await
            && check(d.get_ref())
        {
            return d.into_inner();
        }
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every committed transfer in the projection, summed into what each
/// participant owes: sent minus received.
async fn positions_from_projection(switch: &mut Switch) -> (HashMap<String, Decimal>, usize) {
    let mut owes: HashMap<String, Decimal> = HashMap::new();
    let mut count = 0;
    let mut token = String::new();
    loop {
        let page = switch
            .op
            .list_transfers(req(ListTransfersRequest {
                state: TransferState::Committed as i32,
                page: Some(PageRequest {
                    page_size: 1000,
                    page_token: token.clone(),
                }),
                ..Default::default()
            }))
            .await
            .expect("list")
            .into_inner();
        for t in &page.transfers {
            let amount =
                Decimal::from_str(&t.amount.as_ref().expect("amount").amount).expect("decimal");
            *owes.entry(t.payer_fsp.clone()).or_default() += amount;
            *owes.entry(t.payee_fsp.clone()).or_default() -= amount;
            count += 1;
        }
        token = page.page.map(|p| p.next_page_token).unwrap_or_default();
        if token.is_empty() {
            return (owes, count);
        }
    }
}

/// A worker's acknowledged payments, each with when it was acknowledged.
type Acks = Vec<(String, Outcome, Instant)>;

/// The nodes' own credential on the Cluster API.
const CLUSTER_TOKEN: &str = "cluster-token-0123456789";

/// How long the roles must stay put after a node joins before the test
/// takes them as settled: longer than the 6 s session, within which a
/// member's heartbeat learns of a rebalance.
const ROLES_SETTLED_MS: u64 = 8_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_serve_traffic_and_the_follower_takes_over_from_a_killed_writer() {
    let broker = harambee_tests::Tansu::start().await;
    let db = harambee_tests::TestDatabase::create().await;
    let topic = format!("harambee.cluster.{}", uuid::Uuid::new_v4().simple());
    let dirs = tempfile::tempdir().expect("tempdir");
    let dev = harambee_tls::dev::DevPki::open_or_create(&dirs.path().join("pki"), 2).expect("PKI");
    let node_cert = dev
        .issue(harambee_tls::dev::Holder::Switch, "switch", &[], false)
        .expect("the nodes' certificate");
    let (cert_file, key_file, ca_file) = (
        node_cert.cert_file.display().to_string(),
        node_cert.key_file.display().to_string(),
        dev.ca_file().display().to_string(),
    );
    let env = |node: &str| {
        let mut env = kafka_env(&broker.brokers, &topic);
        env.extend(
            [
                ("HARAMBEE_TLS_CERT_FILE", cert_file.as_str()),
                ("HARAMBEE_TLS_KEY_FILE", key_file.as_str()),
                ("HARAMBEE_TLS_CA_FILE", ca_file.as_str()),
                ("HARAMBEE_TLS_CLUSTER", "true"),
                ("HARAMBEE_CLUSTER", "true"),
                ("HARAMBEE_CLUSTER_TOKEN", CLUSTER_TOKEN),
                ("HARAMBEE_NODE_NAME", node),
                ("HARAMBEE_KAFKA_SESSION_TIMEOUT_MS", "6000"),
                ("HARAMBEE_STORE", "postgres"),
                ("HARAMBEE_POSTGRES_URL", &db.url),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        env
    };

    // Node a alone: it is elected and onboards the banks.
    let mut a = start(&dirs.path().join("a"), &env("a")).await;
    wait_digest(&mut a, "node a elected", Duration::from_secs(60), |d| {
        d.writer && d.writer_node == "a"
    })
    .await;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let members = onboard_two_banks(&mut a, stop_rx).await;

    // Node b joins; the group may move the role on a rebalance, and that
    // rebalance reaches a only at its next heartbeat (seconds after b
    // answers): wait until exactly one node writes, the other has applied
    // all it wrote, and it has stayed so for longer than a session.
    let mut b = start(&dirs.path().join("b"), &env("b")).await;
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut settled: Option<(bool, Instant)> = None;
    let (mut writer, mut follower) = loop {
        let da = a.digest().await;
        let db_ = b.digest().await;
        if da.writer != db_.writer && da.log_offset == db_.log_offset && da.digest == db_.digest {
            match settled {
                Some((a_writes, since)) if a_writes == da.writer => {
                    if since.elapsed() >= Duration::from_millis(ROLES_SETTLED_MS) {
                        break if da.writer { (a, b) } else { (b, a) };
                    }
                }
                _ => settled = Some((da.writer, Instant::now())),
            }
        } else {
            settled = None;
        }
        assert!(Instant::now() < deadline, "one writer, one follower");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let writer_name = writer.digest().await.writer_node;

    // The cluster link is on TLS and takes only the cluster's own
    // credential: neither none nor the operator's token, and nothing
    // without a certificate of the scheme.
    {
        use harambee_proto::cluster::v1::SubmitRequest;
        use harambee_proto::cluster::v1::cluster_client::ClusterClient;
        use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
        let url = writer
            .cluster_url
            .clone()
            .expect("a cluster node")
            .replace("http://", "https://");
        let ca = Certificate::from_pem(std::fs::read(&ca_file).expect("ca"));
        let tls = ClientTlsConfig::new().ca_certificate(ca.clone());
        let without = Channel::from_shared(url.clone())
            .expect("url")
            .tls_config(tls.clone())
            .expect("tls");
        if let Ok(channel) = without.connect().await {
            let refused = ClusterClient::new(channel)
                .submit(tonic::Request::new(SubmitRequest { records: vec![] }))
                .await
                .expect_err("no certificate");
            assert_ne!(
                refused.code(),
                tonic::Code::Unauthenticated,
                "the handshake refuses it first: {refused:?}"
            );
        }
        let identity = Identity::from_pem(
            std::fs::read(&cert_file).expect("cert"),
            std::fs::read(&key_file).expect("key"),
        );
        let channel = Channel::from_shared(url)
            .expect("url")
            .tls_config(tls.identity(identity))
            .expect("tls")
            .connect()
            .await
            .expect("cluster API");
        let mut client = ClusterClient::new(channel);
        let probe = |token: Option<&str>| {
            let mut r = tonic::Request::new(SubmitRequest { records: vec![] });
            if let Some(t) = token {
                r.metadata_mut().insert(
                    "authorization",
                    format!("Bearer {t}").parse().expect("ascii"),
                );
            }
            r
        };
        for (token, what) in [(None, "no credential"), (Some(TOKEN), "the operator token")] {
            let refused = client.submit(probe(token)).await.expect_err(what);
            assert_eq!(
                refused.code(),
                tonic::Code::Unauthenticated,
                "{what}: {refused:?}"
            );
        }
        client
            .submit(probe(Some(CLUSTER_TOKEN)))
            .await
            .expect("the cluster token");
    }

    // Traffic on both nodes: each bank pays the other through each node.
    let (traffic_tx, traffic_rx) = tokio::sync::watch::channel(false);
    let mut workers = Vec::new();
    for (w, url) in [
        writer.participant_url.clone(),
        writer.participant_url.clone(),
        follower.participant_url.clone(),
        follower.participant_url.clone(),
    ]
    .into_iter()
    .enumerate()
    {
        let (payer, credential, _) = members[w % 2].clone();
        let payee = msisdn((w + 1) % 2);
        let on_follower = w >= 2;
        let stop = traffic_rx.clone();
        workers.push(tokio::spawn(async move {
            let mut api = client::connect(&url, &credential).expect("client");
            let mut acks: Acks = Vec::new();
            let mut failures = 0u64;
            while !*stop.borrow() {
                let amount = format!("{}.{:02}", 1 + acks.len() % 50, w);
                match pay(&mut api, &payer, payee.clone(), &amount).await {
                    Some((id, outcome)) => acks.push((id, outcome, Instant::now())),
                    None => {
                        failures += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
            (on_follower, acks, failures)
        }));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;

    // SIGKILL the writer in the middle of it.
    writer.child.start_kill().expect("SIGKILL");
    let _ = writer.child.wait().await;
    let killed_at = Instant::now();
    let taken_over = wait_digest(
        &mut follower,
        "the follower takes over",
        Duration::from_secs(90),
        |d| d.writer,
    )
    .await;
    assert_ne!(
        taken_over.writer_node, writer_name,
        "a new writer announced"
    );
    let takeover = Instant::now();
    eprintln!(
        "takeover {} ms after the kill",
        takeover.duration_since(killed_at).as_millis()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _ = traffic_tx.send(true);

    let mut acknowledged: HashMap<String, Outcome> = HashMap::new();
    let (mut before_kill, mut after_takeover) = (0, 0);
    for w in workers {
        let (on_follower, acks, _failures) = w.await.expect("worker");
        for (id, outcome, at) in acks {
            if at < killed_at {
                before_kill += 1;
            }
            if on_follower && at > takeover {
                after_takeover += 1;
            }
            acknowledged.insert(id, outcome);
        }
    }
    assert!(
        before_kill >= 10,
        "traffic flowed on both nodes ({before_kill})"
    );
    assert!(
        after_takeover >= 10,
        "traffic went on after the takeover ({after_takeover})"
    );

    // Every acknowledged outcome is there; nothing stays reserved.
    let mut survivor = follower;
    check_acknowledged(&mut survivor, &acknowledged).await;
    wait_nothing_reserved(&mut survivor, Duration::from_secs(30)).await;
    let live = survivor.digest().await;
    assert!(live.balanced, "every currency balances");

    // No transfer applied twice: the positions are the sums of the
    // committed transfers (projected in PostgreSQL by the writers).
    let (owes, committed) = positions_from_projection(&mut survivor).await;
    assert!(committed >= 20, "{committed} committed transfers");
    for (name, _, _) in &members {
        let positions = survivor
            .op
            .get_positions(req(GetPositionsRequest {
                fsp_id: name.clone(),
            }))
            .await
            .expect("positions")
            .into_inner()
            .positions;
        let position = Decimal::from_str(&positions[0].position).expect("decimal");
        assert_eq!(
            position,
            owes.get(name).copied().unwrap_or_default(),
            "{name}: position = committed sent - committed received"
        );
        assert_eq!(
            positions[0].reserved.parse::<Decimal>().ok(),
            Some(Decimal::ZERO)
        );
    }

    // A new node with an empty data directory replays the whole log and
    // reaches the live state, digest for digest.
    let mut fresh = start(&dirs.path().join("c"), &env("c")).await;
    let replayed = wait_digest(
        &mut fresh,
        "the new node replays the whole log",
        Duration::from_secs(60),
        |d| d.log_offset >= live.log_offset,
    )
    .await;
    let live = survivor.digest().await;
    assert_eq!(replayed.log_offset, live.log_offset);
    assert_eq!(replayed.digest, live.digest);
    assert!(!replayed.writer, "the new node follows");

    fresh.stop_gracefully().await;
    survivor.stop_gracefully().await;
    let _ = stop_tx.send(true);
    db.drop_database().await;
}
