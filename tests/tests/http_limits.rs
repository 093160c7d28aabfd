//! The HTTP APIs (FSPIOP, hub admin) bound every connection (issue 15,
//! point 4): a slowloris client that never finishes its headers is cut
//! off, a connection lives at most `fspiop.connection_max_ms` (idle
//! keep-alive included), and a connection over `fspiop.connections_max` is
//! closed at once, unanswered. Real sockets, bounded waits.

use std::net::SocketAddr;
use std::time::Duration;

use harambee_tests::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A request any HTTP server answers (404 or an FSPIOP error).
const REQUEST: &[u8] = b"GET /no-such-resource HTTP/1.1\r\nHost: switch\r\n\r\n";

/// Reads until the server closes the connection (at most `bound`), and
/// returns what it sent.
async fn until_closed(stream: &mut TcpStream, bound: Duration) -> Vec<u8> {
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    let read = tokio::time::timeout(bound, async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "still open after {bound:?}; got {got:?}");
    got
}

async fn switch_with(
    configure: impl FnOnce(&mut harambee_switch::config::Config),
) -> (TestSwitch, SocketAddr) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = TestSwitch::config(dir.path());
    configure(&mut config);
    let s = TestSwitch::start_with(dir, config).await;
    let addr = s.running().fspiop_addr.expect("the FSPIOP API listens");
    (s, addr)
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let (_s, addr) = switch_with(|c| c.fspiop.header_timeout_ms = 300).await;
    let mut slow = TcpStream::connect(addr).await.expect("connects");
    slow.write_all(b"GET /parties/MSISDN/254700000001 HTTP/1.1\r\nHost: switch\r\n")
        .await
        .expect("writes");
    // And nothing more: the server closes it (it may say 408 first).
    let got = until_closed(&mut slow, Duration::from_secs(20)).await;
    let text = String::from_utf8_lossy(&got);
    assert!(
        got.is_empty() || text.starts_with("HTTP/1.1 408"),
        "no answer but a timeout: {text}"
    );
    // A client that does finish is served.
    let mut fine = TcpStream::connect(addr).await.expect("connects");
    fine.write_all(REQUEST).await.expect("writes");
    let mut head = [0u8; 12];
    fine.read_exact(&mut head).await.expect("an answer");
    assert!(head.starts_with(b"HTTP/1.1 "), "{head:?}");
}

#[tokio::test]
async fn connections_are_bounded_in_number_and_in_lifetime() {
    let (_s, addr) = switch_with(|c| {
        c.fspiop.connections_max = 2;
        c.fspiop.header_timeout_ms = 60_000;
        c.fspiop.connection_max_ms = 1_500;
    })
    .await;
    // One connection served and kept alive, one open and silent.
    let mut kept = TcpStream::connect(addr).await.expect("connects");
    kept.write_all(REQUEST).await.expect("writes");
    let mut head = [0u8; 12];
    kept.read_exact(&mut head).await.expect("an answer");
    assert!(head.starts_with(b"HTTP/1.1 "), "{head:?}");
    let mut silent = TcpStream::connect(addr).await.expect("connects");

    // A third is over the limit: closed at once, unanswered.
    let mut third = TcpStream::connect(addr).await.expect("connects");
    let _ = third.write_all(REQUEST).await;
    let got = until_closed(&mut third, Duration::from_secs(20)).await;
    assert!(got.is_empty(), "over the limit, yet answered: {got:?}");

    // Both others are closed once their lifetime is over (the header
    // timeout, a minute, is not what closes the silent one).
    until_closed(&mut kept, Duration::from_secs(20)).await;
    until_closed(&mut silent, Duration::from_secs(20)).await;

    // And their places are free again.
    let mut again = TcpStream::connect(addr).await.expect("connects");
    again.write_all(REQUEST).await.expect("writes");
    again.read_exact(&mut head).await.expect("an answer");
    assert!(head.starts_with(b"HTTP/1.1 "), "{head:?}");
}
