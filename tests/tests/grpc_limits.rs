//! The gRPC APIs' bounds on each connection (issue 15), over real
//! sockets:
//!
//! - a connection that sends nothing is closed after `api.idle_timeout_ms`,
//!   on the participant and the operator API, while a participant's
//!   notification stream, quiet for many idle timeouts, stays open (the
//!   switch's pings are answered) and still delivers;
//! - a call whose request never finishes arriving fails at
//!   `api.request_timeout_ms`, and nothing moves;
//! - connections past `api.connections_max` are closed as they are
//!   accepted, the open ones go on, and a closed one gives its place back.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use harambee_proto::v1::notification::Kind;
use harambee_proto::v1::*;
use harambee_tests::*;
use hyper::body::{Body, Bytes, Frame};

/// A switch whose waits for participants are short, so that the call
/// deadline can be short too.
fn config(dir: &std::path::Path) -> harambee_switch::config::Config {
    let mut config = TestSwitch::config(dir);
    config.transfer.callback_timeout_ms = 1_000;
    config.quote.timeout_ms = 1_000;
    config.lookup.timeout_ms = 1_000;
    config.api.request_timeout_ms = 1_500;
    config.api.idle_timeout_ms = 800;
    config.api.keepalive_interval_ms = 200;
    config.api.keepalive_timeout_ms = 2_000;
    config
}

/// Whether the other end closes `stream` within 20 s.
async fn closed(stream: &mut tokio::net::TcpStream) -> bool {
    closed_within(stream, Duration::from_secs(20)).await
}

#[tokio::test]
async fn silent_connections_are_closed_and_quiet_notification_streams_are_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path());
    let mut s = TestSwitch::start_with(dir, config).await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let mut b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let mut stream = b
        .api
        .notifications(NotificationsRequest { from_sequence: 0 })
        .await
        .expect("notifications")
        .into_inner();

    for addr in [s.running().participant_addr, s.running().operator_addr] {
        let mut silent = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connects");
        assert!(
            closed(&mut silent).await,
            "{addr}: a silent connection is still open"
        );
    }

    // Quiet for about four idle timeouts, then a payment: the stream is
    // still there and tells b.
    tokio::time::sleep(Duration::from_millis(3_200)).await;
    let q = quote(&mut a, &b, "12").await;
    let t = a
        .api
        .prepare_transfer(prepare_request(&q, 30_000))
        .await
        .expect("prepare")
        .into_inner();
    assert_eq!(t.state, TransferState::Committed as i32);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let next = tokio::time::timeout_at(deadline, stream.message())
            .await
            .expect("the commit is notified in time")
            .expect("the stream is open")
            .expect("a notification");
        if let Some(Kind::TransferCommitted(c)) = &next.kind
            && c.transfer_id == t.transfer_id
        {
            break;
        }
    }
}

/// A request body that never comes.
struct Stalled;

impl Body for Stalled {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Pending
    }
}

#[tokio::test]
async fn a_call_whose_request_never_arrives_fails_at_its_deadline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path());
    let mut s = TestSwitch::start_with(dir, config).await;
    let _a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let before = s.digest().await;

    let tcp = tokio::net::TcpStream::connect(s.running().operator_addr)
        .await
        .expect("connects");
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .expect("HTTP/2");
    tokio::spawn(connection);
    let request = hyper::Request::post(format!(
        "http://{}/harambee.v1.OperatorApi/FundsIn",
        s.running().operator_addr
    ))
    .header("content-type", "application/grpc")
    .header("te", "trailers")
    .header("authorization", format!("Bearer {OPERATOR_TOKEN}"))
    .body(Stalled)
    .expect("request");
    let answer = tokio::time::timeout(Duration::from_secs(20), sender.send_request(request))
        .await
        .expect("an answer within the deadline, not a connection held forever")
        .expect("a response");
    let status = answer
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none");
    // CANCELLED: the call's deadline passed (tonic's name for it).
    assert_eq!(status, "1", "grpc-status of the stalled call");
    assert_eq!(s.digest().await, before, "nothing moved");
}

#[tokio::test]
async fn connections_past_the_limit_are_closed_as_they_arrive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = config(dir.path());
    config.api.idle_timeout_ms = 60_000;
    // The test's own operator client holds one.
    config.api.connections_max = 3;
    let mut s = TestSwitch::start_with(dir, config).await;
    let addr = s.running().operator_addr;
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(
            tokio::net::TcpStream::connect(addr)
                .await
                .expect("connects"),
        );
    }
    let mut over = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    assert!(closed(&mut over).await, "the fourth connection is closed");
    // The open connection goes on.
    s.op.list_participants(op_req(ListParticipantsRequest::default()))
        .await
        .expect("served on the open connection");
    let metrics = scrape(s.running().metrics_addr.expect("metrics")).await;
    let refused = metric(
        &metrics,
        "harambee_grpc_connections_refused_total{server=\"operator\"}",
    );
    assert!(refused.is_some_and(|n| n >= 1.0), "counted: {refused:?}");

    // Closed connections give their places back.
    drop(held);
    let url = format!("http://{addr}");
    let mut served = false;
    for _ in 0..50 {
        let fresh = tonic::transport::Channel::from_shared(url.clone())
            .expect("url")
            .connect()
            .await;
        if let Ok(channel) = fresh {
            let mut op = harambee_proto::v1::operator_api_client::OperatorApiClient::new(channel);
            if op
                .list_participants(op_req(ListParticipantsRequest::default()))
                .await
                .is_ok()
            {
                served = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served, "a new connection is served once places are free");
}
