//! A development PKI in one directory (`harambee pki`): a scheme CA, and
//! the certificates it issues to the switch, to participants and to
//! operators. It is what the demo and the tests run mTLS on; a scheme in
//! production has its own CA, and the switch only reads its files
//! ([`crate::Pki::load`]).
//!
//! The directory:
//!
//! ```text
//! ca.pem  ca.key                    the scheme CA
//! switch.pem  switch.key            the switch (server, and client of callbacks and the cluster)
//! participants/NAME.pem  NAME.key   a participant (client of the switch, server of its callbacks)
//! operators/NAME.pem  NAME.key      an operator (client of the Operator API)
//! ```
//!
//! An existing CA is kept and issues the new certificates; an existing
//! certificate is kept unless it is renewed (rotation: the new one beside
//! the old one's registration until the old one is removed). Keys are
//! written readable by their owner only.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::{TlsError, certificate_sha256, certificates_from_pem};

/// Longest name of a certificate's owner (it is a file name too).
pub const NAME_BYTES_MAX: usize = 64;

/// Most days a development certificate is valid.
pub const VALIDITY_DAYS_MAX: u32 = 3_650;

/// Who a certificate is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holder {
    Switch,
    Participant,
    Operator,
}

impl Holder {
    pub fn as_str(self) -> &'static str {
        match self {
            Holder::Switch => "switch",
            Holder::Participant => "participant",
            Holder::Operator => "operator",
        }
    }
}

/// One certificate and key in the directory.
#[derive(Clone, Debug)]
pub struct Issued {
    pub holder: Holder,
    pub name: String,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// SHA-256 of the certificate's DER: what the operator registers.
    pub sha256: [u8; 32],
    /// Made now (false: it was there and kept).
    pub made: bool,
}

impl Issued {
    pub fn sha256_hex(&self) -> String {
        self.sha256.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A development CA in its directory.
pub struct DevPki {
    dir: PathBuf,
    issuer: Issuer<'static, KeyPair>,
    /// Made now (false: the directory had one).
    pub ca_made: bool,
    validity_days: u32,
}

fn io_error(what: &'static str, path: &Path, e: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        what,
        path: path.display().to_string(),
        error: e.to_string(),
    }
}

fn rcgen_error(what: &str, e: rcgen::Error) -> TlsError {
    TlsError::Config(format!("{what}: {e}"))
}

/// A name that is safe as a file name and as a certificate's CN.
fn check_name(name: &str) -> Result<(), TlsError> {
    let fine = !name.is_empty()
        && name.len() <= NAME_BYTES_MAX
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if fine {
        Ok(())
    } else {
        Err(TlsError::Config(format!(
            "name {name:?}: 1 to {NAME_BYTES_MAX} letters, digits, '-', '_' or '.', not starting with '.'"
        )))
    }
}

/// Writes `text` to `path`, readable by its owner only when `secret`.
fn write(path: &Path, text: &str, secret: bool) -> Result<(), TlsError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io_error("directory", parent, e))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    let mut file = options.open(path).map_err(|e| io_error("file", path, e))?;
    std::io::Write::write_all(&mut file, text.as_bytes()).map_err(|e| io_error("file", path, e))
}

fn read(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|e| io_error("file", path, e))
}

/// The validity of a certificate made now: from an hour ago (clocks
/// differ) for `days`.
fn validity(params: &mut CertificateParams, days: u32) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(i64::from(days));
}

impl DevPki {
    /// The CA of `dir`, made (valid `validity_days`) if the directory has
    /// none; its certificates are valid `validity_days` too.
    pub fn open_or_create(dir: &Path, validity_days: u32) -> Result<DevPki, TlsError> {
        if validity_days == 0 || validity_days > VALIDITY_DAYS_MAX {
            return Err(TlsError::Config(format!(
                "validity: 1 to {VALIDITY_DAYS_MAX} days"
            )));
        }
        let (cert, key) = (dir.join("ca.pem"), dir.join("ca.key"));
        if cert.exists() || key.exists() {
            let signing = KeyPair::from_pem(&read(&key)?)
                .map_err(|e| rcgen_error("the CA's key (ca.key)", e))?;
            let issuer = Issuer::from_ca_cert_pem(&read(&cert)?, signing)
                .map_err(|e| rcgen_error("the CA's certificate (ca.pem)", e))?;
            return Ok(DevPki {
                dir: dir.to_path_buf(),
                issuer,
                ca_made: false,
                validity_days,
            });
        }
        let signing = KeyPair::generate().map_err(|e| rcgen_error("a key", e))?;
        let mut params =
            CertificateParams::new(Vec::<String>::new()).map_err(|e| rcgen_error("the CA", e))?;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params
            .distinguished_name
            .push(DnType::CommonName, "Harambee development scheme CA");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Harambee development PKI");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        validity(&mut params, validity_days);
        let ca = params
            .self_signed(&signing)
            .map_err(|e| rcgen_error("the CA", e))?;
        write(&key, &signing.serialize_pem(), true)?;
        write(&cert, &ca.pem(), false)?;
        Ok(DevPki {
            dir: dir.to_path_buf(),
            issuer: Issuer::new(params, signing),
            ca_made: true,
            validity_days,
        })
    }

    /// The CA's certificate file (what `tls.ca_file` names).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// Where `holder`'s certificate named `name` is (certificate, key).
    pub fn files(&self, holder: Holder, name: &str) -> (PathBuf, PathBuf) {
        let base = match holder {
            Holder::Switch => self.dir.join("switch"),
            Holder::Participant => self.dir.join("participants").join(name),
            Holder::Operator => self.dir.join("operators").join(name),
        };
        (base.with_extension("pem"), base.with_extension("key"))
    }

    /// `holder`'s certificate `name`: kept if there is one and not
    /// `renew`, else issued now. `hosts`: the names and addresses a
    /// server certificate (the switch's, a participant's) is valid for,
    /// besides `localhost` and `127.0.0.1`.
    pub fn issue(
        &self,
        holder: Holder,
        name: &str,
        hosts: &[String],
        renew: bool,
    ) -> Result<Issued, TlsError> {
        check_name(name)?;
        let (cert_file, key_file) = self.files(holder, name);
        if cert_file.exists() && !renew {
            let pem = read(&cert_file)?;
            let der = certificates_from_pem(pem.as_bytes())
                .map_err(|e| io_error("certificate", &cert_file, e))?;
            return Ok(Issued {
                holder,
                name: name.to_string(),
                sha256: certificate_sha256(der[0].as_ref()),
                cert_file,
                key_file,
                made: false,
            });
        }
        let server = holder != Holder::Operator;
        let mut sans = Vec::new();
        if server {
            sans.push("localhost".to_string());
            sans.push("127.0.0.1".to_string());
            for host in hosts {
                if !sans.contains(host) {
                    sans.push(host.clone());
                }
            }
        }
        let mut params = CertificateParams::new(sans).map_err(|e| rcgen_error(name, e))?;
        params.distinguished_name.push(DnType::CommonName, name);
        params
            .distinguished_name
            .push(DnType::OrganizationalUnitName, holder.as_str());
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = if server {
            vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ]
        } else {
            vec![ExtendedKeyUsagePurpose::ClientAuth]
        };
        validity(&mut params, self.validity_days);
        let key = KeyPair::generate().map_err(|e| rcgen_error("a key", e))?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| rcgen_error(name, e))?;
        write(&key_file, &key.serialize_pem(), true)?;
        write(&cert_file, &cert.pem(), false)?;
        Ok(Issued {
            holder,
            name: name.to_string(),
            sha256: certificate_sha256(cert.der().as_ref()),
            cert_file,
            key_file,
            made: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dev_pki_issues_certificates_the_switch_accepts_and_keeps_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = DevPki::open_or_create(dir.path(), 30).expect("CA");
        assert!(pki.ca_made);
        let switch = pki
            .issue(Holder::Switch, "switch", &[], false)
            .expect("switch");
        let bank = pki
            .issue(
                Holder::Participant,
                "bank-a",
                &["bank-a.example".into()],
                false,
            )
            .expect("bank");
        let ops = pki.issue(Holder::Operator, "ops", &[], false).expect("ops");
        assert!(switch.made && bank.made && ops.made);
        // The switch loads what it made and builds its configurations.
        let loaded =
            crate::Pki::load(&switch.cert_file, &switch.key_file, &pki.ca_file()).expect("loads");
        loaded
            .server_config(Some(crate::ClientCertificates::Required), &[b"h2"])
            .expect("server");
        loaded.client_config().expect("client");
        // Opened again: the same CA, the certificates kept, or renewed.
        let again = DevPki::open_or_create(dir.path(), 30).expect("again");
        assert!(!again.ca_made);
        let kept = again
            .issue(Holder::Participant, "bank-a", &[], false)
            .expect("kept");
        assert!(!kept.made);
        assert_eq!(kept.sha256, bank.sha256);
        let renewed = again
            .issue(Holder::Participant, "bank-a", &[], true)
            .expect("renewed");
        assert!(renewed.made);
        assert_ne!(renewed.sha256, bank.sha256);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&renewed.key_file)
                .expect("key")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "a key is its owner's only");
        }
    }

    #[test]
    fn bad_names_and_validities_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(DevPki::open_or_create(dir.path(), 0).is_err());
        assert!(DevPki::open_or_create(dir.path(), VALIDITY_DAYS_MAX + 1).is_err());
        let pki = DevPki::open_or_create(dir.path(), 1).expect("CA");
        for bad in [
            "",
            "../x",
            ".hidden",
            "a/b",
            "a b",
            &"x".repeat(NAME_BYTES_MAX + 1),
        ] {
            assert!(
                pki.issue(Holder::Participant, bad, &[], false).is_err(),
                "{bad:?}"
            );
        }
    }
}
