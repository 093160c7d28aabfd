//! The switch's HTTP/1.1 servers (the FSPIOP API, the hub admin API), with
//! a bound on every connection, so that a slow or hostile client holds
//! nothing past them:
//!
//! - `connections_max` open at once (one more is closed at accept);
//! - `header_timeout_ms` to send a request's headers (a slowloris client
//!   that trickles them is cut off);
//! - `connection_max_ms` for the whole connection, idle keep-alive
//!   included: then it is closed gracefully, and if the client does not
//!   read what it is sent (so the close cannot finish), it is dropped
//!   `CLOSE_GRACE_MS` later.
//!
//! On TLS, the handshake runs inside the connection's slot, within the
//! handshake timeout, and every request on the connection carries its
//! [`PeerIdentity`] (the verified client certificate) in its extensions.

use std::sync::Arc;
use std::time::Duration;

use harambee_service::ports::PeerIdentity;
use harambee_tls::{Acceptor, PeerStream};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt as _;

/// How long a connection told to close may take to finish its answer.
pub const CLOSE_GRACE_MS: u64 = 5_000;

/// The bounds of one server's connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    pub connections_max: usize,
    pub header_timeout_ms: u64,
    pub connection_max_ms: u64,
}

/// Serves `router` on `listener` within `limits` until `stop` turns true,
/// through `tls`'s handshake when there is one; `name` names the server
/// in logs and metrics.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: HttpLimits,
    tls: Option<Acceptor>,
    name: &'static str,
    mut stop: watch::Receiver<bool>,
) {
    let open = Arc::new(Semaphore::new(limits.connections_max));
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(server = name, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped(&mut stop) => return,
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            tracing::warn!(server = name, %peer, limit = limits.connections_max, "connection refused: too many open");
            metrics::counter!("harambee_http_connections_refused_total", "server" => name)
                .increment(1);
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let tls = tls.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let stream = match tls {
                None => PeerStream::plain(stream),
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(s) => s,
                    Err(e) => {
                        harambee_tls::handshake_failed(name, peer, &e);
                        return;
                    }
                },
            };
            let identity: PeerIdentity = stream.identity();
            let service = hyper::service::service_fn(
                move |mut request: hyper::Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(identity);
                    router.clone().oneshot(request)
                },
            );
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_millis(limits.header_timeout_ms))
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            let lifetime = tokio::time::sleep(Duration::from_millis(limits.connection_max_ms));
            tokio::select! {
                served = connection.as_mut() => {
                    if let Err(e) = served {
                        tracing::debug!(server = name, %peer, error = %e, "connection ended");
                    }
                    return;
                }
                _ = lifetime => {
                    metrics::counter!("harambee_http_connections_expired_total", "server" => name)
                        .increment(1);
                }
                _ = stopped(&mut stop) => {}
            }
            connection.as_mut().graceful_shutdown();
            let grace = Duration::from_millis(CLOSE_GRACE_MS);
            if tokio::time::timeout(grace, connection).await.is_err() {
                tracing::debug!(server = name, %peer, "connection dropped: it did not close in time");
            }
        });
    }
}

/// Resolves when `stop` turns true (or its sender is gone), holding no
/// borrow of it across an await.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}
