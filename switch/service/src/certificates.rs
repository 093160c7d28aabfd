//! Participants' client certificates: registered and removed by a hub
//! operator, as directory records in the log (so every registration is
//! audited and replayed), and looked up by the authenticator when a TLS
//! connection presents one.
//!
//! A registration names a certificate by the SHA-256 of its DER. The TLS
//! handshake checks the chain to the scheme CA and the validity period;
//! the registration says whose it is. Two may be registered to one
//! participant at once (a rollover: register the new one, move the
//! participant's clients over, remove the old one), and a removal takes
//! effect for the next call.
//!
//! A participant can instead be registered by the CA that issues its
//! certificates and the subject they bear (an *issuer registration*):
//! any certificate of that CA with that subject is the participant's, so
//! it renews its certificates with no registration. The CA may be the
//! scheme CA or the participant's own; the TLS layer trusts the
//! registered CAs beside the scheme CA ([`DirectoryIssuers`]), and
//! verifies the participant's callback servers against them too.

use harambee_core::error::{ErrorCode, SwitchError};
use harambee_core::record::DirectoryCommand;
use harambee_core::state::{CERTIFICATE_SUBJECT_LENGTH_MAX, ISSUER_CA_DER_BYTES_MAX};
use sha2::{Digest, Sha256};

use crate::Service;
use crate::ports::{Acting, IssuerRegistry};
use harambee_engine::engine::Engine;

/// Largest PEM text accepted for one certificate.
pub const CERTIFICATE_PEM_BYTES_MAX: usize = 16 * 1024;

/// What the switch reads of a certificate it is asked to register.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateInfo {
    /// SHA-256 of the DER.
    pub sha256: [u8; 32],
    /// The subject, as RFC 4514 text.
    pub subject: String,
    pub not_after_ms: i64,
}

/// What the switch reads of a CA certificate it is asked to register.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuerInfo {
    /// SHA-256 of the CA certificate's DER.
    pub ca_sha256: [u8; 32],
    pub ca_der: Vec<u8>,
    /// The CA's subject, as the certificate lists it.
    pub ca_subject: String,
    pub not_after_ms: i64,
}

fn invalid(why: impl AsRef<str>) -> SwitchError {
    SwitchError::new(ErrorCode::ValidationError, why)
}

/// Reads one end-entity certificate from PEM text: refused (3100) if it
/// is not one, is a CA, or has expired at `now_ms`.
pub fn inspect_pem(pem: &str, now_ms: i64) -> Result<CertificateInfo, SwitchError> {
    if pem.len() > CERTIFICATE_PEM_BYTES_MAX {
        return Err(invalid(format!(
            "certificate: longer than {CERTIFICATE_PEM_BYTES_MAX} bytes"
        )));
    }
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|_| invalid("certificate: not a PEM certificate"))?;
    if block.label != "CERTIFICATE" {
        return Err(invalid("certificate: the PEM block is not a CERTIFICATE"));
    }
    let (_, cert) = x509_parser::parse_x509_certificate(&block.contents)
        .map_err(|_| invalid("certificate: not an X.509 certificate"))?;
    if cert.is_ca() {
        return Err(invalid(
            "certificate: a CA certificate cannot identify a participant",
        ));
    }
    let not_after_ms = cert.validity().not_after.timestamp().saturating_mul(1000);
    if not_after_ms <= now_ms {
        return Err(invalid("certificate: expired"));
    }
    let subject = clipped(cert.subject().to_string());
    Ok(CertificateInfo {
        sha256: Sha256::digest(&block.contents).into(),
        subject,
        not_after_ms,
    })
}

/// Reads one CA certificate from PEM text: refused (3100) if it is not
/// one, is not a CA, or has expired at `now_ms`.
pub fn inspect_ca_pem(pem: &str, now_ms: i64) -> Result<IssuerInfo, SwitchError> {
    if pem.len() > CERTIFICATE_PEM_BYTES_MAX {
        return Err(invalid(format!(
            "CA certificate: longer than {CERTIFICATE_PEM_BYTES_MAX} bytes"
        )));
    }
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|_| invalid("CA certificate: not a PEM certificate"))?;
    if block.label != "CERTIFICATE" {
        return Err(invalid(
            "CA certificate: the PEM block is not a CERTIFICATE",
        ));
    }
    if block.contents.len() > ISSUER_CA_DER_BYTES_MAX {
        return Err(invalid(format!(
            "CA certificate: longer than {ISSUER_CA_DER_BYTES_MAX} bytes of DER"
        )));
    }
    let (_, cert) = x509_parser::parse_x509_certificate(&block.contents)
        .map_err(|_| invalid("CA certificate: not an X.509 certificate"))?;
    if !cert.is_ca() {
        return Err(invalid(
            "CA certificate: not a CA (register an end-entity certificate with add-certificate)",
        ));
    }
    let not_after_ms = cert.validity().not_after.timestamp().saturating_mul(1000);
    if not_after_ms <= now_ms {
        return Err(invalid("CA certificate: expired"));
    }
    Ok(IssuerInfo {
        ca_sha256: Sha256::digest(&block.contents).into(),
        ca_subject: clipped(cert.subject().to_string()),
        ca_der: block.contents.clone(),
        not_after_ms,
    })
}

/// The subject of a certificate as the switch compares subjects (the
/// RDNs in the certificate's order, `C=KE, O=Bank A, CN=bank-a`).
pub fn subject_of_der(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.subject().to_string())
}

fn clipped(mut subject: String) -> String {
    subject.truncate(
        (0..=CERTIFICATE_SUBJECT_LENGTH_MAX.min(subject.len()))
            .rev()
            .find(|i| subject.is_char_boundary(*i))
            .unwrap_or(0),
    );
    subject
}

impl Service {
    /// Registers `participant` by the CA in `ca_pem` and `subject`: a
    /// certificate chaining to that CA and bearing that subject is the
    /// participant's.
    pub async fn add_issuer(
        &self,
        by: &Acting,
        participant: &str,
        ca_pem: &str,
        subject: &str,
    ) -> Result<IssuerInfo, SwitchError> {
        let info = inspect_ca_pem(ca_pem, self.now_ms())?;
        let subject = subject.trim();
        if subject.is_empty() || subject.len() > CERTIFICATE_SUBJECT_LENGTH_MAX {
            return Err(invalid(format!(
                "subject: 1 to {CERTIFICATE_SUBJECT_LENGTH_MAX} bytes"
            )));
        }
        self.directory(
            by,
            DirectoryCommand::AddIssuer {
                participant: participant.to_string(),
                ca_der: info.ca_der.clone(),
                ca_subject: info.ca_subject.clone(),
                subject: subject.to_string(),
                now_ms: self.now_ms(),
            },
        )
        .await?;
        Ok(info)
    }

    /// Removes an issuer registration of `participant`: from now on its
    /// certificates prove nothing.
    pub async fn remove_issuer(
        &self,
        by: &Acting,
        participant: &str,
        ca_sha256: [u8; 32],
        subject: &str,
    ) -> Result<(), SwitchError> {
        self.directory(
            by,
            DirectoryCommand::RemoveIssuer {
                participant: participant.to_string(),
                ca_sha256,
                subject: subject.trim().to_string(),
                now_ms: self.now_ms(),
            },
        )
        .await?;
        Ok(())
    }

    /// Registers `pem` as a client certificate of `participant`.
    pub async fn add_certificate(
        &self,
        by: &Acting,
        participant: &str,
        pem: &str,
    ) -> Result<CertificateInfo, SwitchError> {
        let info = inspect_pem(pem, self.now_ms())?;
        self.directory(
            by,
            DirectoryCommand::AddCertificate {
                participant: participant.to_string(),
                certificate_sha256: info.sha256,
                subject: info.subject.clone(),
                now_ms: self.now_ms(),
            },
        )
        .await?;
        Ok(info)
    }

    /// Removes a registered certificate of `participant`: from now on it
    /// proves nothing.
    pub async fn remove_certificate(
        &self,
        by: &Acting,
        participant: &str,
        sha256: [u8; 32],
    ) -> Result<(), SwitchError> {
        self.directory(
            by,
            DirectoryCommand::RemoveCertificate {
                participant: participant.to_string(),
                certificate_sha256: sha256,
                now_ms: self.now_ms(),
            },
        )
        .await?;
        Ok(())
    }
}

/// The directory's issuer registrations, as the TLS layer reads them at
/// each handshake.
pub struct DirectoryIssuers {
    engine: Engine,
}

impl DirectoryIssuers {
    pub fn new(engine: Engine) -> DirectoryIssuers {
        DirectoryIssuers { engine }
    }
}

impl IssuerRegistry for DirectoryIssuers {
    fn trust_anchors(&self) -> ([u8; 32], Vec<Vec<u8>>) {
        let Ok(st) = self.engine.read() else {
            return ([0; 32], Vec::new());
        };
        let mut seen = std::collections::BTreeMap::new();
        for issuer in st.directory.issuers() {
            seen.entry(issuer.ca_sha256.clone())
                .or_insert_with(|| issuer.ca_der.clone());
        }
        let mut digest = Sha256::new();
        for ca in seen.keys() {
            digest.update(ca.as_bytes());
        }
        (digest.finalize().into(), seen.into_values().collect())
    }

    fn issuers_for_subject(&self, subject: &str) -> Vec<([u8; 32], Vec<u8>)> {
        let Ok(st) = self.engine.read() else {
            return Vec::new();
        };
        st.directory
            .issuers()
            .filter(|i| i.subject == subject)
            .map(|i| (Sha256::digest(&i.ca_der).into(), i.ca_der.clone()))
            .collect()
    }

    fn callback_anchors(&self, host: &str) -> Vec<Vec<u8>> {
        let Ok(st) = self.engine.read() else {
            return Vec::new();
        };
        let participants = st.directory.participants_on_host(host);
        let mut out: Vec<Vec<u8>> = Vec::new();
        for participant in participants {
            for issuer in st.directory.issuers_of(participant) {
                if !out.contains(&issuer.ca_der) {
                    out.push(issuer.ca_der.clone());
                }
            }
        }
        out
    }
}
