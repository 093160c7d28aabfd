//! The ISO 8583 gateway: legacy bank hosts that speak ISO 8583:1987 over
//! TCP join the scheme as participants like any other. An adapter on the
//! service layer: a host's 0200 runs the same lookup, quote and transfer as
//! a gRPC or FSPIOP participant's requests, through the same ledger,
//! limits and idempotency.
//!
//! - `hosts.rs`: which host is which participant (its institution id,
//!   field 32, and the addresses it may connect from; on TLS, the
//!   participant its registered client certificate names).
//! - `session.rs`: one connection: framing, sign-on, echo, limits.
//! - `acquiring.rs`: a host pays (0200 -> 0210) and the response codes.
//! - `reversal.rs`: a host withdraws a payment (0400/0420 -> 0410/0430).
//! - `issuing.rs`: a host is paid: the payee port that answers lookups
//!   and quotes on its behalf and puts transfers to it as 0200 credits.
//!
//! Architecture invariant: the gateway reaches nothing below the service
//! layer, and a host acts only as the participant its binding names.

mod acquiring;
mod hosts;
mod issuing;
mod reversal;
mod session;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use harambee_iso8583::{Dialect, Framing};
use harambee_service::Service;
use harambee_service::ports::{Credential, PeerCertificate, Principal, Role};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

pub use acquiring::{response_code, transfer_id_of};
pub use hosts::{HostBinding, HostError};
pub use issuing::{Iso8583Notices, Iso8583Payees};
pub use reversal::{COMMITTED_REFUSED, ORIGINAL_UNKNOWN, OriginalData};

/// How the gateway runs.
#[derive(Clone, Debug)]
pub struct GatewaySettings {
    pub dialect: Arc<Dialect>,
    pub framing: Framing,
    pub hosts: Vec<HostBinding>,
    /// Connections open at once, all hosts together.
    pub connections_max: usize,
    /// Financial requests in flight at once on one connection; a request
    /// over the limit is answered 39=91 at once.
    pub in_flight_max: usize,
    /// A connection silent this long is sent an echo test (0800, 70=301).
    pub idle_ms: u64,
    /// An echo test unanswered this long closes the connection.
    pub echo_timeout_ms: u64,
    /// How long the transfer of a host's 0200 may take before it expires.
    pub transfer_expiry_ms: u64,
    /// The largest message a host may send, in bytes.
    pub message_max: usize,
}

impl GatewaySettings {
    pub fn new(dialect: Dialect, framing: Framing, hosts: Vec<HostBinding>) -> GatewaySettings {
        GatewaySettings {
            dialect: Arc::new(dialect),
            framing,
            hosts,
            connections_max: 256,
            in_flight_max: 64,
            idle_ms: 30_000,
            echo_timeout_ms: 10_000,
            transfer_expiry_ms: 30_000,
            message_max: 8_192,
        }
    }
}

/// A connection's byte stream: plain TCP, or TLS over it.
pub trait HostStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> HostStream for T {}

/// What a TLS handshake yields: the stream to speak on, and the SHA-256
/// of the client certificate it verified.
pub type Handshaken = std::io::Result<(Box<dyn HostStream>, Option<PeerCertificate>)>;

/// A connection's TLS handshake, bounded in time. The wiring gives it
/// (the gateway does no TLS of its own); without one, connections are
/// plain TCP and hosts are known by their addresses.
pub type Handshake =
    Arc<dyn Fn(TcpStream) -> Pin<Box<dyn Future<Output = Handshaken> + Send>> + Send + Sync>;

/// The participant a registered client certificate names.
pub(crate) fn certificate_owner(
    service: &Service,
    certificate: &PeerCertificate,
) -> Option<String> {
    match service.authenticate(Credential::Certificate(certificate), Role::Participant) {
        Ok(Principal::Participant(name)) => Some(name),
        _ => None,
    }
}

/// Serves hosts on `listener` until `stop` turns true. With `tls`, every
/// connection is a TLS handshake first (within the connection's slot),
/// and the host is the participant its client certificate is registered
/// to, through the service's `Authenticator`: the bindings of that
/// participant, whatever the address.
pub async fn serve(
    listener: TcpListener,
    service: Arc<Service>,
    payees: Arc<Iso8583Payees>,
    settings: GatewaySettings,
    tls: Option<Handshake>,
    mut stop: watch::Receiver<bool>,
) {
    let settings = Arc::new(settings);
    let connections = Arc::new(Semaphore::new(settings.connections_max));
    // Requests in progress, across every connection: a host that repeats a
    // 0200 on another connection (after a drop, say) waits for the first.
    let pending = Arc::new(acquiring::InFlight::default());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "iso8583: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped(&mut stop) => break,
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "iso8583: connection refused, {} open already", settings.connections_max);
            metrics::counter!("harambee_iso8583_connections_refused_total").increment(1);
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = session::Shared {
            service: service.clone(),
            settings: settings.clone(),
            pending: pending.clone(),
            payees: payees.clone(),
        };
        let stop = stop.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let (stream, certificate): (Box<dyn HostStream>, _) = match tls {
                None => (Box::new(stream), None),
                Some(handshake) => match handshake(stream).await {
                    Ok(done) => done,
                    Err(e) => {
                        tracing::info!(%peer, error = %e, "iso8583: TLS handshake failed");
                        metrics::counter!("harambee_iso8583_connections_refused_total")
                            .increment(1);
                        return;
                    }
                },
            };
            let host = match &certificate {
                Some(c) => certificate_owner(&shared.service, c)
                    .and_then(|owner| hosts::hosts_of(&shared.settings.hosts, &owner)),
                None => hosts::host_at(&shared.settings.hosts, peer),
            };
            let Some(host) = host else {
                tracing::warn!(%peer, on_tls = certificate.is_some(), "iso8583: a connection no host is bound to (by address, or by a registered certificate), closed");
                metrics::counter!("harambee_iso8583_connections_refused_total").increment(1);
                return;
            };
            session::run(stream, peer, host, certificate, shared, stop).await;
        });
    }
}

/// Resolves when `stop` turns true (or its sender is gone), holding no
/// borrow of it across an await.
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}

/// The address a gateway is bound to, for the logs of the binary.
pub fn describe(addr: SocketAddr, settings: &GatewaySettings) -> String {
    format!(
        "{addr} ({}, framing {:?}, {} hosts)",
        settings.dialect.name,
        settings.framing,
        settings.hosts.len()
    )
}
