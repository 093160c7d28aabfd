//! Trust in the CAs participants are registered by (issuer
//! registrations), beside the scheme CA.
//!
//! - [`RegisteredClientVerifier`]: the server side. A client certificate
//!   is accepted at the handshake if it chains to the scheme CA or to a
//!   registered CA. Which participant it is, if any, is decided after the
//!   handshake ([`issuer_match`]) and at every call (the `Authenticator`).
//! - [`RegisteredServerVerifier`]: the switch's side as a client. A
//!   participant's callback server may present a certificate of the
//!   scheme CA, or of a CA registered by a participant whose callback
//!   URLs are on that host, and no other.
//!
//! The registered CAs are read from the directory at each handshake
//! ([`IssuerRegistry`]); a verifier over them is built once per set and
//! kept until the set changes.

use std::sync::{Arc, Mutex};

use harambee_service::ports::{IssuerMatch, IssuerRegistry};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};

use crate::provider;

/// Roots of `anchors` (DERs); those that do not parse are left out.
fn roots_of(anchors: &[Vec<u8>]) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for der in anchors {
        let _ = roots.add(CertificateDer::from(der.clone()));
    }
    roots
}

/// A client verifier over `anchors` only (none: `None`).
fn client_verifier_over(anchors: &[Vec<u8>]) -> Option<Arc<dyn ClientCertVerifier>> {
    let roots = roots_of(anchors);
    if roots.is_empty() {
        return None;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .ok()
}

/// Accepts client certificates of the scheme CA or of a registered CA.
pub struct RegisteredClientVerifier {
    scheme: Arc<dyn ClientCertVerifier>,
    registry: Arc<dyn IssuerRegistry>,
    /// The verifier over the registered CAs, for the set whose digest it
    /// is kept with.
    registered: Mutex<Option<Kept>>,
}

/// A verifier over a set of registered CAs (none if the set is empty),
/// with the set's digest.
type Kept = ([u8; 32], Option<Arc<dyn ClientCertVerifier>>);

impl std::fmt::Debug for RegisteredClientVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RegisteredClientVerifier")
    }
}

impl RegisteredClientVerifier {
    pub fn new(
        scheme: Arc<dyn ClientCertVerifier>,
        registry: Arc<dyn IssuerRegistry>,
    ) -> RegisteredClientVerifier {
        RegisteredClientVerifier {
            scheme,
            registry,
            registered: Mutex::new(None),
        }
    }

    fn registered(&self) -> Option<Arc<dyn ClientCertVerifier>> {
        let (digest, anchors) = self.registry.trust_anchors();
        let mut kept = self.registered.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((held, verifier)) = kept.as_ref()
            && *held == digest
        {
            return verifier.clone();
        }
        let verifier = client_verifier_over(&anchors);
        *kept = Some((digest, verifier.clone()));
        verifier
    }
}

impl ClientCertVerifier for RegisteredClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.scheme.client_auth_mandatory()
    }

    /// No hints: a participant's certificate may come from its own CA.
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let by_scheme = self
            .scheme
            .verify_client_cert(end_entity, intermediates, now);
        if by_scheme.is_ok() {
            return by_scheme;
        }
        match self.registered() {
            Some(registered) => registered
                .verify_client_cert(end_entity, intermediates, now)
                .or(by_scheme),
            None => by_scheme,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.scheme.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.scheme.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.scheme.supported_verify_schemes()
    }
}

/// The issuer registration a verified client chain matches: a registered
/// CA with the leaf's subject that the chain verifies to (the first, in
/// the directory's order, if several do).
pub fn issuer_match(
    registry: &dyn IssuerRegistry,
    chain: &[CertificateDer<'_>],
) -> Option<IssuerMatch> {
    let (leaf, intermediates) = chain.split_first()?;
    let subject = harambee_service::certificates::subject_of_der(leaf.as_ref())?;
    let now = UnixTime::now();
    for (ca_sha256, ca_der) in registry.issuers_for_subject(&subject) {
        let Some(verifier) = client_verifier_over(std::slice::from_ref(&ca_der)) else {
            continue;
        };
        if verifier
            .verify_client_cert(leaf, intermediates, now)
            .is_ok()
        {
            return Some(IssuerMatch {
                ca_sha256,
                subject_sha256: Sha256::digest(subject.as_bytes()).into(),
            });
        }
    }
    None
}

/// Verifies a participant's server: against the scheme CA, or against
/// the CAs registered by the participants whose callbacks are on the
/// host called.
pub struct RegisteredServerVerifier {
    scheme: Arc<WebPkiServerVerifier>,
    registry: Arc<dyn IssuerRegistry>,
}

impl std::fmt::Debug for RegisteredServerVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RegisteredServerVerifier")
    }
}

impl RegisteredServerVerifier {
    pub fn new(
        scheme: Arc<WebPkiServerVerifier>,
        registry: Arc<dyn IssuerRegistry>,
    ) -> RegisteredServerVerifier {
        RegisteredServerVerifier { scheme, registry }
    }
}

/// A server name as the directory's URLs spell hosts.
pub fn host_text(name: &ServerName<'_>) -> Option<String> {
    match name {
        ServerName::DnsName(d) => Some(d.as_ref().to_string()),
        ServerName::IpAddress(ip) => Some(std::net::IpAddr::from(*ip).to_string()),
        _ => None,
    }
}

impl ServerCertVerifier for RegisteredServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let by_scheme = self.scheme.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        if by_scheme.is_ok() {
            return by_scheme;
        }
        let Some(host) = host_text(server_name) else {
            return by_scheme;
        };
        let roots = roots_of(&self.registry.callback_anchors(&host));
        if roots.is_empty() {
            return by_scheme;
        }
        let Ok(registered) =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider()).build()
        else {
            return by_scheme;
        };
        registered
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .or(by_scheme)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.scheme.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.scheme.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.scheme.supported_verify_schemes()
    }
}
