//! Simulated participants and operators on the scheme's mTLS: each one's
//! certificate comes from a development PKI (`harambee pki`'s directory),
//! as a real scheme's CA would issue it, and is what the participant
//! presents to the switch and serves its callbacks with.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use harambee_tls::dev::{DevPki, Holder, Issued};
use tonic::transport::{Certificate, ClientTlsConfig, Identity as GrpcIdentity, ServerTlsConfig};

/// The scheme's CA, issuing the simulated members' certificates.
pub struct SchemePki {
    dev: DevPki,
    ca_pem: Vec<u8>,
}

/// One certificate holder's files and what its clients and servers run
/// on.
#[derive(Clone)]
pub struct Identity {
    pub issued: Issued,
    pub ca_file: PathBuf,
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    pub ca_pem: Vec<u8>,
}

impl SchemePki {
    /// The PKI of `dir`, made there if there is none.
    pub fn open(dir: &Path) -> anyhow::Result<SchemePki> {
        let dev = DevPki::open_or_create(dir, 30)?;
        let ca_pem = std::fs::read(dev.ca_file())?;
        Ok(SchemePki { dev, ca_pem })
    }

    fn identity(&self, holder: Holder, name: &str) -> anyhow::Result<Identity> {
        let issued = self.dev.issue(holder, name, &[], false)?;
        Ok(Identity {
            cert_pem: std::fs::read(&issued.cert_file)?,
            key_pem: std::fs::read(&issued.key_file)?,
            ca_pem: self.ca_pem.clone(),
            ca_file: self.dev.ca_file(),
            issued,
        })
    }

    /// The switch's certificate (made if missing).
    pub fn switch(&self) -> anyhow::Result<Identity> {
        self.identity(Holder::Switch, "switch")
    }

    /// A participant's certificate (made if missing).
    pub fn participant(&self, name: &str) -> anyhow::Result<Identity> {
        self.identity(Holder::Participant, name)
    }

    /// An operator's certificate (made if missing).
    pub fn operator(&self, name: &str) -> anyhow::Result<Identity> {
        self.identity(Holder::Operator, name)
    }

    pub fn ca_file(&self) -> PathBuf {
        self.dev.ca_file()
    }
}

impl Identity {
    /// The certificate as PEM text (what the operator registers).
    pub fn cert_text(&self) -> String {
        String::from_utf8_lossy(&self.cert_pem).into_owned()
    }

    /// A gRPC client presenting this certificate, trusting the scheme CA.
    pub fn grpc_client(&self) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca_pem))
            .identity(GrpcIdentity::from_pem(&self.cert_pem, &self.key_pem))
    }

    /// A gRPC server on this certificate, asking every client (the
    /// switch) for a certificate of the scheme.
    pub fn grpc_server(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(GrpcIdentity::from_pem(&self.cert_pem, &self.key_pem))
            .client_ca_root(Certificate::from_pem(&self.ca_pem))
    }

    /// An HTTPS client presenting this certificate, trusting the scheme
    /// CA only.
    pub fn https_client(&self) -> anyhow::Result<reqwest::Client> {
        let mut pem = self.cert_pem.clone();
        pem.extend_from_slice(&self.key_pem);
        Ok(reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&self.ca_pem)?)
            .identity(reqwest::Identity::from_pem(&pem)?)
            .pool_max_idle_per_host(256)
            .build()?)
    }

    /// A TLS client (for the ISO 8583 gateway) presenting this
    /// certificate, trusting the scheme CA only.
    pub fn tls_connector(&self) -> anyhow::Result<tokio_rustls::TlsConnector> {
        Ok(tokio_rustls::TlsConnector::from(
            self.pki()?.client_config()?,
        ))
    }

    /// This certificate's files as the TLS crate reads them.
    fn pki(&self) -> anyhow::Result<harambee_tls::Pki> {
        Ok(harambee_tls::Pki::load(
            &self.issued.cert_file,
            &self.issued.key_file,
            &self.ca_file,
        )?)
    }

    /// The handshake of an HTTPS server on this certificate, asking every
    /// client for a certificate of the scheme.
    pub fn https_acceptor(&self) -> anyhow::Result<harambee_tls::Acceptor> {
        let pki =
            harambee_tls::Pki::load(&self.issued.cert_file, &self.issued.key_file, &self.ca_file)?;
        let config = pki.server_config(
            Some(harambee_tls::ClientCertificates::Required),
            &[b"http/1.1"],
        )?;
        Ok(harambee_tls::Acceptor::new(config, 10_000))
    }
}

/// Serves `app` on `listener` over HTTPS (`acceptor`'s handshake) until
/// `shutdown`.
pub async fn serve_https(
    listener: tokio::net::TcpListener,
    acceptor: harambee_tls::Acceptor,
    app: axum::Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    use tower::ServiceExt as _;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => return,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper::service::service_fn(
                move |request: hyper::Request<hyper::body::Incoming>| app.clone().oneshot(request),
            );
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Shared by the members of one run.
pub type Scheme = Arc<SchemePki>;
