//! The simulator's own tools against a real switch: every scenario passes,
//! and a small load run reports what it did.

use std::time::Duration;

use harambee_proto::v1::*;
use harambee_sim::load::{self, LoadSpec, Mode};
use harambee_sim::network::Operator;
use harambee_sim::scenario::{Runner, SCENARIOS, table};
use harambee_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_passes_against_the_switch() {
    let s = TestSwitch::start().await;
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let op = Operator::new(s.op.clone(), OPERATOR_TOKEN);
    let mut runner = Runner::new(op, s.participant_url.clone(), CURRENCY.into(), stop_rx);
    let reports = runner.run(&[]).await;
    assert_eq!(reports.len(), SCENARIOS.len());
    assert!(reports.iter().all(|r| r.passed), "{}", table(&reports));
    // Asking for one by name runs only that one; an unknown name runs none.
    assert_eq!(runner.run(&["unknown-transfer".to_string()]).await.len(), 1);
    assert!(
        runner
            .run(&["no-such-scenario".to_string()])
            .await
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_reports_every_operation() {
    let s = TestSwitch::start().await;
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    for mode in [Mode::Payments, Mode::Transfers] {
        let spec = LoadSpec {
            mode,
            participants: 3,
            concurrency: 4,
            rate_per_s: None,
            duration: Duration::from_secs(30),
            count: Some(40),
            currency: CURRENCY.into(),
            show_progress: false,
            settle_every: None,
            hub: None,
            iso8583: None,
        };
        let op = Operator::new(s.op.clone(), OPERATOR_TOKEN);
        let report = load::run(op, &s.participant_url, &spec, stop_rx.clone())
            .await
            .expect("load");
        assert_eq!(report.operations, 40, "{mode:?}: bounded by count");
        assert_eq!(
            report.outcomes.get("committed"),
            Some(&40),
            "{mode:?}: {:?}",
            report.outcomes
        );
        assert!(report.latency.p50_ms > 0.0 && report.latency.p50_ms <= report.latency.p99_ms);
        let json = serde_json::to_value(&report).expect("json");
        assert_eq!(json["operations"], 40);
    }
    // A target rate is honoured within its bound: 20/s for 1 s starts at most ~21.
    let spec = LoadSpec {
        mode: Mode::Transfers,
        participants: 2,
        concurrency: 4,
        rate_per_s: Some(20),
        duration: Duration::from_secs(1),
        count: None,
        currency: CURRENCY.into(),
        show_progress: false,
        settle_every: None,
        hub: None,
        iso8583: None,
    };
    let op = Operator::new(s.op.clone(), OPERATOR_TOKEN);
    let report = load::run(op, &s.participant_url, &spec, stop_rx)
        .await
        .expect("rated load");
    assert!(
        (1..=22).contains(&report.operations),
        "{} operations at 20/s for 1 s",
        report.operations
    );
}

/// The load mode runs settlement cycles while payments flow: each closes
/// the window and takes a settlement to SETTLED, and the ledger balances.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_runs_settlement_cycles_while_payments_flow() {
    let mut s = TestSwitch::start().await;
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let spec = LoadSpec {
        mode: Mode::Transfers,
        participants: 3,
        concurrency: 4,
        rate_per_s: None,
        duration: Duration::from_secs(3),
        count: None,
        currency: CURRENCY.into(),
        show_progress: false,
        settle_every: Some(Duration::from_millis(700)),
        hub: None,
        iso8583: None,
    };
    let op = Operator::new(s.op.clone(), OPERATOR_TOKEN);
    let report = load::run(op, &s.participant_url, &spec, stop_rx)
        .await
        .expect("load");
    assert!(report.settlements >= 2, "{report:?}");
    assert!(
        report.settlement_errors.is_empty(),
        "{:?}",
        report.settlement_errors
    );
    assert!(report.outcomes.get("committed").copied().unwrap_or(0) > 0);
    let settled =
        s.op.list_settlements(op_req(ListSettlementsRequest {
            state: SettlementState::Settled as i32,
            ..Default::default()
        }))
        .await
        .expect("list")
        .into_inner()
        .settlements;
    assert_eq!(settled.len() as u64, report.settlements);
    assert!(s.digest().await.balanced);
}

/// The load's FSPIOP modes: simulated FSPIOP DFSPs, onboarded through
/// the admin API, make full payments (lookup, quote, transfer, each with
/// its callback) and transfers alone over FSPIOP, all committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_runs_over_fspiop_in_both_modes() {
    let mut s = TestSwitch::start().await;
    let hub = harambee_sim::fspiop::Hub {
        admin: format!("http://{}", s.running().admin_addr.expect("admin API")),
        fspiop: format!("http://{}", s.running().fspiop_addr.expect("FSPIOP API")),
        operator_token: OPERATOR_TOKEN.into(),
        hub_name: s.config.fspiop.hub_name.clone(),
        tls: None,
    };
    for mode in [Mode::Fspiop, Mode::FspiopTransfers] {
        let (_stop, stop_rx) = tokio::sync::watch::channel(false);
        let spec = LoadSpec {
            mode,
            participants: 3,
            concurrency: 4,
            rate_per_s: None,
            duration: Duration::from_secs(30),
            count: Some(30),
            currency: CURRENCY.into(),
            show_progress: false,
            settle_every: None,
            hub: Some(hub.clone()),
            iso8583: None,
        };
        let op = Operator::new(s.op.clone(), OPERATOR_TOKEN);
        let report = load::run(op, &s.participant_url, &spec, stop_rx)
            .await
            .expect("FSPIOP load");
        assert_eq!(
            report.outcomes.get("committed"),
            Some(&30),
            "{mode:?}: {:?}",
            report.outcomes
        );
    }
    assert!(s.digest().await.balanced);
}

/// The load's ISO 8583 mode: a legacy host connects to the gateway, signs
/// on and pays gRPC participants' customers with 0200s, every one approved
/// in its 0210; the money moved once per payment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_runs_over_iso8583_through_the_gateway() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = TestSwitch::config(dir.path());
    config.iso8583.listen = "127.0.0.1:0".into();
    config.iso8583.hosts = vec!["60009=load-legacy@127.0.0.1".into()];
    let mut s = TestSwitch::start_with(dir, config).await;
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let spec = LoadSpec {
        mode: Mode::Iso8583,
        participants: 3,
        // Two connections: more in flight than one carries.
        concurrency: load::ISO8583_IN_FLIGHT_PER_CONNECTION + 2,
        rate_per_s: None,
        duration: Duration::from_secs(60),
        count: Some(120),
        currency: CURRENCY.into(),
        show_progress: false,
        settle_every: None,
        hub: None,
        iso8583: Some(load::Iso8583Target {
            gateway: s.running().iso8583_addr.expect("the gateway listens"),
            institution_id: "60009".into(),
            participant: "load-legacy".into(),
        }),
    };
    let op = Operator::new(s.op.clone(), OPERATOR_TOKEN);
    let report = load::run(op, &s.participant_url, &spec, stop_rx)
        .await
        .expect("load");
    assert_eq!(report.operations, 120);
    assert_eq!(
        report.outcomes.get("committed"),
        Some(&120),
        "{:?}",
        report.outcomes
    );
    // 120 payments of 10.00 KES each.
    assert_eq!(s.position("load-legacy").await.position, "1200.00");
    assert!(s.digest().await.balanced);
}

/// The flood benchmark's run: a flooder over its admission limit is
/// refused 2005 while the victim's payments all commit, alone and beside
/// the flood (the latencies are the benchmark's to report, not asserted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooder_is_refused_2005_while_the_victim_pays() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = TestSwitch::config(dir.path());
    config.admission.participant_in_flight_max = 4;
    let s = TestSwitch::start_with(dir, config).await;
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let spec = harambee_sim::flood::FloodSpec {
        currency: CURRENCY.into(),
        victim_rate_per_s: 10,
        phase: Duration::from_secs(1),
        flood_concurrency: 32,
    };
    let op = Operator::new(s.op.clone(), OPERATOR_TOKEN);
    let report = harambee_sim::flood::run(op, &s.participant_url, &spec, stop_rx)
        .await
        .expect("flood");
    assert!(report.alone.payments >= 5, "{report:?}");
    assert_eq!(report.alone.committed, report.alone.payments, "{report:?}");
    assert_eq!(
        report.flooded.committed, report.flooded.payments,
        "{report:?}"
    );
    let refused: u64 = report
        .flooder_outcomes
        .iter()
        .filter(|(k, _)| k.ends_with("2005"))
        .map(|(_, v)| v)
        .sum();
    assert!(
        refused > 0,
        "the flooder is refused over its limit: {report:?}"
    );
    assert!(report.summary().contains("p99 ratio"));
}
