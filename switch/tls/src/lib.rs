//! TLS for every API of the switch, on rustls (no OpenSSL).
//!
//! - [`Pki`]: the switch's certificate and key and the scheme CA, read
//!   from PEM files once at start.
//! - [`Pki::server_config`]: a server configuration that asks for a
//!   client certificate and verifies it against the scheme CA (chain,
//!   validity period, key usage). Whether a verified certificate proves
//!   anything is not decided here: the service's `Authenticator` looks
//!   it up among the registrations in the log.
//! - [`Acceptor`]: the handshake of one accepted connection, bounded in
//!   time, yielding a [`PeerStream`] that carries the verified client
//!   certificate's digest ([`PeerIdentity`]) to every request on it; and
//!   [`incoming`], a listener's connections for a gRPC server.
//!
//! - [`dev`]: a development PKI in one directory (`harambee pki`).
//!
//! Architecture invariant: a connection's identity is read from the
//! handshake's verified certificate and nothing else; a plain (non-TLS)
//! connection has none.

pub mod dev;
pub mod issuers;

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use harambee_service::ports::{IssuerRegistry, PeerCertificate, PeerIdentity};
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

/// Most handshakes of one listener in progress at once: a client that
/// opens connections and never finishes a handshake holds at most this
/// many, each for at most the handshake timeout.
pub const HANDSHAKES_MAX: usize = 256;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{what} {path}: {error}")]
    File {
        what: &'static str,
        path: String,
        error: String,
    },
    #[error("{0}")]
    Config(String),
}

fn file_error(what: &'static str, path: &Path, error: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        what,
        path: path.display().to_string(),
        error: error.to_string(),
    }
}

/// The crypto provider every configuration uses (ring).
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// SHA-256 of a certificate's DER: how registrations name certificates.
pub fn certificate_sha256(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}

/// A certificate's DER as PEM text.
pub fn pem_of_der(der: &[u8]) -> String {
    use base64::Engine as _;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in text.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

/// Certificates from PEM text (every `CERTIFICATE` block, in order).
pub fn certificates_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem).collect();
    let certs = certs.map_err(|e| format!("not PEM certificates: {e}"))?;
    if certs.is_empty() {
        return Err("no CERTIFICATE in the PEM text".into());
    }
    Ok(certs)
}

/// The switch's side of the scheme PKI.
#[derive(Clone, Debug)]
pub struct Pki {
    chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
    roots: Arc<RootCertStore>,
    /// The same three as PEM text, for tonic's client configuration.
    chain_pem: Arc<[u8]>,
    key_pem: Arc<[u8]>,
    ca_pem: Arc<[u8]>,
}

impl Pki {
    /// Reads the switch's certificate chain and key and the scheme CA.
    pub fn load(cert_file: &Path, key_file: &Path, ca_file: &Path) -> Result<Pki, TlsError> {
        let read = |what, path: &Path| std::fs::read(path).map_err(|e| file_error(what, path, e));
        let chain_pem = read("tls.cert_file", cert_file)?;
        let key_pem = read("tls.key_file", key_file)?;
        let ca_pem = read("tls.ca_file", ca_file)?;
        let chain = certificates_from_pem(&chain_pem)
            .map_err(|e| file_error("tls.cert_file", cert_file, e))?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| file_error("tls.key_file", key_file, e))?;
        let mut roots = RootCertStore::empty();
        for ca in
            certificates_from_pem(&ca_pem).map_err(|e| file_error("tls.ca_file", ca_file, e))?
        {
            roots
                .add(ca)
                .map_err(|e| file_error("tls.ca_file", ca_file, e))?;
        }
        Ok(Pki {
            chain,
            key: Arc::new(key),
            roots: Arc::new(roots),
            chain_pem: chain_pem.into(),
            key_pem: key_pem.into(),
            ca_pem: ca_pem.into(),
        })
    }

    /// A server configuration offering `alpn` (for gRPC, `h2`). With
    /// `client_certificates`, the server asks every client for a
    /// certificate and refuses the handshake of one that presents a
    /// certificate not chaining to the scheme CA (or expired, or not for
    /// client authentication); `optional` lets a client present none (it
    /// must then prove who it is some other way).
    pub fn server_config(
        &self,
        client_certificates: Option<ClientCertificates>,
        alpn: &[&[u8]],
    ) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        self.server_config_with(client_certificates, alpn, None)
    }

    /// [`Pki::server_config`], accepting client certificates of the CAs
    /// in `issuers` too (the participants' registered CAs).
    pub fn server_config_with(
        &self,
        client_certificates: Option<ClientCertificates>,
        alpn: &[&[u8]],
        issuers: Option<Arc<dyn IssuerRegistry>>,
    ) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?;
        let builder = match client_certificates {
            None => builder.with_no_client_auth(),
            Some(mode) => {
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(self.roots.clone(), provider());
                let verifier = match mode {
                    ClientCertificates::Required => verifier,
                    ClientCertificates::Optional => verifier.allow_unauthenticated(),
                };
                let verifier = verifier
                    .build()
                    .map_err(|e| TlsError::Config(e.to_string()))?;
                match issuers {
                    Some(registry) => builder.with_client_cert_verifier(Arc::new(
                        issuers::RegisteredClientVerifier::new(verifier, registry),
                    )),
                    None => builder.with_client_cert_verifier(verifier),
                }
            }
        };
        let mut config = builder
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| TlsError::Config(format!("the switch's certificate and key: {e}")))?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }

    /// A client configuration for the switch's calls to participants
    /// (FSPIOP callbacks over HTTPS): the server must present a
    /// certificate of the scheme CA for the host it is called at, and the
    /// switch presents its own certificate when asked for one.
    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        self.client_config_with(None)
    }

    /// [`Pki::client_config`], where a participant's server may also
    /// present a certificate of a CA the participant is registered by
    /// (`issuers`), on the hosts of its callback URLs.
    pub fn client_config_with(
        &self,
        issuers: Option<Arc<dyn IssuerRegistry>>,
    ) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?;
        let builder = match issuers {
            Some(registry) => {
                let scheme = rustls::client::WebPkiServerVerifier::builder_with_provider(
                    self.roots.clone(),
                    provider(),
                )
                .build()
                .map_err(|e| TlsError::Config(e.to_string()))?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(
                        issuers::RegisteredServerVerifier::new(scheme, registry),
                    ))
            }
            None => builder.with_root_certificates(self.roots.clone()),
        };
        let config = builder
            .with_client_auth_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| TlsError::Config(format!("the switch's certificate and key: {e}")))?;
        Ok(Arc::new(config))
    }

    /// The same for gRPC (participants' PayeeCallback, oracles, the other
    /// nodes of a cluster), as tonic takes it.
    pub fn grpc_client_config(&self) -> tonic::transport::ClientTlsConfig {
        tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(&*self.ca_pem))
            .identity(tonic::transport::Identity::from_pem(
                &*self.chain_pem,
                &*self.key_pem,
            ))
    }
}

/// Whether a client must present a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientCertificates {
    Required,
    Optional,
}

/// The TLS handshake of accepted connections.
#[derive(Clone)]
pub struct Acceptor {
    acceptor: tokio_rustls::TlsAcceptor,
    handshake_timeout: Duration,
    /// Where a client certificate is matched against the participants'
    /// issuer registrations.
    issuers: Option<Arc<dyn IssuerRegistry>>,
}

impl Acceptor {
    pub fn new(config: Arc<rustls::ServerConfig>, handshake_timeout_ms: u64) -> Acceptor {
        Acceptor {
            acceptor: tokio_rustls::TlsAcceptor::from(config),
            handshake_timeout: Duration::from_millis(handshake_timeout_ms),
            issuers: None,
        }
    }

    /// Matches each client certificate against `issuers` after the
    /// handshake ([`issuers::issuer_match`]).
    pub fn with_issuers(mut self, issuers: Arc<dyn IssuerRegistry>) -> Acceptor {
        self.issuers = Some(issuers);
        self
    }

    /// The handshake of `stream`, within the timeout; the connection and
    /// the certificate the client presented (verified), if any.
    pub async fn accept(&self, stream: TcpStream) -> io::Result<PeerStream> {
        let remote_addr = stream.peer_addr().ok();
        let tls = tokio::time::timeout(self.handshake_timeout, self.acceptor.accept(stream))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
        let chain = tls.get_ref().1.peer_certificates().unwrap_or_default();
        let certificate = chain.first().map(|leaf| PeerCertificate {
            sha256: certificate_sha256(leaf.as_ref()),
            issuer: self
                .issuers
                .as_deref()
                .and_then(|registry| issuers::issuer_match(registry, chain)),
        });
        Ok(PeerStream {
            inner: Inner::Tls(Box::new(tls)),
            identity: PeerIdentity {
                remote_addr,
                certificate,
            },
            idle: None,
            _slot: None,
        })
    }
}

/// An accepted connection, plain or TLS, with who is at the other end.
pub struct PeerStream {
    inner: Inner,
    identity: PeerIdentity,
    /// When set, a read that waits longer than this for a byte fails
    /// (`TimedOut`), and the server closes the connection.
    idle: Option<Idle>,
    /// The connection's place among the listener's connections, given
    /// back when the connection is dropped.
    _slot: Option<OwnedSemaphorePermit>,
}

struct Idle {
    timeout: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
    server: &'static str,
}

enum Inner {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl PeerStream {
    /// A plain connection: no certificate.
    pub fn plain(stream: TcpStream) -> PeerStream {
        let remote_addr = stream.peer_addr().ok();
        PeerStream {
            inner: Inner::Plain(stream),
            identity: PeerIdentity {
                remote_addr,
                certificate: None,
            },
            idle: None,
            _slot: None,
        }
    }

    pub fn identity(&self) -> PeerIdentity {
        self.identity
    }

    /// Fails reads that wait more than `timeout` for a byte, counted in
    /// `harambee_connections_idle_closed_total{server}`.
    pub fn with_idle_timeout(mut self, timeout: Duration, server: &'static str) -> PeerStream {
        self.idle = Some(Idle {
            timeout,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            server,
        });
        self
    }

    /// Holds `slot` for as long as the connection lives.
    pub fn holding(mut self, slot: OwnedSemaphorePermit) -> PeerStream {
        self._slot = Some(slot);
        self
    }
}

impl AsyncRead for PeerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = match &mut this.inner {
            Inner::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        };
        let Some(idle) = &mut this.idle else {
            return polled;
        };
        match polled {
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                let next = tokio::time::Instant::now() + idle.timeout;
                idle.deadline.as_mut().reset(next);
                Poll::Ready(Ok(()))
            }
            // Waiting for the client: the deadline's timer wakes this
            // task too, and then the wait is over.
            Poll::Pending => match idle.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    metrics::counter!("harambee_connections_idle_closed_total", "server" => idle.server)
                        .increment(1);
                    tracing::debug!(server = idle.server, peer = ?this.identity.remote_addr, "idle connection closed");
                    Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "nothing received within the idle timeout",
                    )))
                }
                Poll::Pending => Poll::Pending,
            },
            other => other,
        }
    }
}

impl AsyncWrite for PeerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().inner {
            Inner::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().inner {
            Inner::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.inner {
            Inner::Plain(s) => s.is_write_vectored(),
            Inner::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Plain(s) => Pin::new(s).poll_flush(cx),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Every request on the connection carries its [`PeerIdentity`] (tonic
/// puts it in the request's extensions).
impl tonic::transport::server::Connected for PeerStream {
    type ConnectInfo = PeerIdentity;

    fn connect_info(&self) -> PeerIdentity {
        self.identity
    }
}

/// Bounds on a gRPC listener's connections.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Connections open at once; one over it is closed as it is accepted.
    pub connections_max: usize,
    /// A connection on which nothing arrives for this long is closed.
    pub idle_timeout_ms: u64,
}

/// The connections of `listener` for a gRPC server, TCP_NODELAY set,
/// through `acceptor`'s handshake when there is one. At most
/// `limits.connections_max` are open at once (one more is closed at
/// once and counted in `harambee_grpc_connections_refused_total`), and
/// each is closed when nothing arrives on it for `limits.idle_timeout_ms`.
/// Handshakes run beside each other, at most [`HANDSHAKES_MAX`] at once;
/// one that fails or times out closes its connection and is counted
/// (`harambee_tls_handshake_failures_total`), nothing else. The stream
/// ends when the server drops it.
pub fn incoming(
    listener: TcpListener,
    acceptor: Option<Acceptor>,
    server: &'static str,
    limits: ConnectionLimits,
) -> impl futures::Stream<Item = io::Result<PeerStream>> + Send + 'static {
    assert!(limits.connections_max > 0 && limits.idle_timeout_ms > 0);
    let idle_timeout = Duration::from_millis(limits.idle_timeout_ms);
    let (tx, rx) = mpsc::channel::<io::Result<PeerStream>>(64);
    tokio::spawn(async move {
        let handshakes = Arc::new(Semaphore::new(HANDSHAKES_MAX));
        let connections = Arc::new(Semaphore::new(limits.connections_max));
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = tx.closed() => return,
            };
            let (stream, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(server, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(slot) = connections.clone().try_acquire_owned() else {
                metrics::counter!("harambee_grpc_connections_refused_total", "server" => server)
                    .increment(1);
                tracing::warn!(server, %peer, "connection refused: too many connections open");
                continue;
            };
            let _ = stream.set_nodelay(true);
            let Some(acceptor) = acceptor.clone() else {
                let stream = PeerStream::plain(stream)
                    .holding(slot)
                    .with_idle_timeout(idle_timeout, server);
                if tx.send(Ok(stream)).await.is_err() {
                    return;
                }
                continue;
            };
            let Ok(permit) = handshakes.clone().try_acquire_owned() else {
                metrics::counter!("harambee_tls_handshakes_refused_total", "server" => server)
                    .increment(1);
                tracing::warn!(server, %peer, "connection refused: too many TLS handshakes in progress");
                continue;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let _permit = permit;
                match acceptor.accept(stream).await {
                    Ok(s) => {
                        let s = s.holding(slot).with_idle_timeout(idle_timeout, server);
                        let _ = tx.send(Ok(s)).await;
                    }
                    Err(e) => handshake_failed(server, peer, &e),
                }
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

/// Counts and logs a failed handshake (the client's side of the story is
/// the TLS alert it was sent; nothing about the switch is told).
pub fn handshake_failed(server: &'static str, peer: SocketAddr, error: &io::Error) {
    metrics::counter!("harambee_tls_handshake_failures_total", "server" => server).increment(1);
    tracing::info!(server, %peer, error = %error, "TLS handshake failed");
}
