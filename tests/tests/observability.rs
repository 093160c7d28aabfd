//! Metrics and health, as an operator's monitoring sees them.

use harambee_tests::*;

#[tokio::test]
async fn prometheus_metrics_count_requests_outcomes_and_latencies() {
    let mut s = TestSwitch::start().await;
    let mut a = s
        .onboard("bank-a", "100", "1000", PayeeBehaviour::Honest)
        .await;
    let b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let q = quote(&mut a, &b, "10").await;
    a.api
        .prepare_transfer(prepare_request(&q, 30_000))
        .await
        .expect("commits");
    let q = quote(&mut a, &b, "500").await;
    a.api
        .prepare_transfer(prepare_request(&q, 30_000))
        .await
        .expect("refused 4001");
    let text = scrape(s.running().metrics_addr.expect("metrics enabled")).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    for needle in [
        "harambee_requests_total{api=\"participant\",call=\"PrepareTransfer\",code=\"ok\"}",
        "harambee_transfers_total{outcome=\"committed\"}",
        "harambee_transfers_total{outcome=\"4001\"}",
        "harambee_request_seconds_bucket",
        "harambee_log_append_seconds_bucket",
        "harambee_engine_queue_depth",
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
}

#[tokio::test]
async fn health_is_served_on_both_ports() {
    let s = TestSwitch::start().await;
    for addr in [s.running().participant_addr, s.running().operator_addr] {
        let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
            .expect("url")
            .connect()
            .await
            .expect("connect");
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
        let service = if addr == s.running().participant_addr {
            "harambee.v1.ParticipantApi"
        } else {
            "harambee.v1.OperatorApi"
        };
        let status = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health")
            .into_inner()
            .status;
        assert_eq!(
            status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
            "{service}"
        );
    }
}
