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

use harambee_core::error::{ErrorCode, SwitchError};
use harambee_core::record::DirectoryCommand;
use harambee_core::state::CERTIFICATE_SUBJECT_LENGTH_MAX;
use sha2::{Digest, Sha256};

use crate::Service;
use crate::ports::Acting;

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
    let mut subject = cert.subject().to_string();
    subject.truncate(
        (0..=CERTIFICATE_SUBJECT_LENGTH_MAX.min(subject.len()))
            .rev()
            .find(|i| subject.is_char_boundary(*i))
            .unwrap_or(0),
    );
    Ok(CertificateInfo {
        sha256: Sha256::digest(&block.contents).into(),
        subject,
        not_after_ms,
    })
}

impl Service {
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
