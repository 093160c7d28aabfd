//! Message signing as Mojaloop's signature specification v1.1 has it
//! (`shared/reference/fspiop/fspiop-v1.1-Signature.md`): a JWS over the
//! whole body, in the `FSPIOP-Signature` header as
//! `{"signature", "protectedHeader"}`, whose protected header names the
//! algorithm and protects `FSPIOP-URI`, `FSPIOP-HTTP-Method`,
//! `FSPIOP-Source`, `FSPIOP-Destination` (when known) and `Date`.
//!
//! - [`Signer`]: the switch's own key; it signs the messages the switch
//!   writes itself (relayed messages keep their sender's signature).
//! - [`Keys`]: participants' public keys, one PEM file per participant
//!   (`<fspId>.pem`) in a directory, as Mojaloop's connectors keep them;
//!   when configured, every message with a body a participant sends must
//!   carry its valid signature, or it is refused with 3105.
//!
//! Signing and verifying are ring's (constant-time big-number arithmetic:
//! the switch's key does not leak through the time a signature takes).
//! The `rsa` crate only makes the switch's key on its first start and
//! reads public keys, neither of which touches a secret an attacker can
//! time. Keys are RSA of 2,048 to 8,192 bits; a shorter one is refused
//! when it is read.

use std::collections::HashMap;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use harambee_core::error::ErrorCode;
use ring::rand::SystemRandom;
use ring::signature::{self as ring_signature, RsaKeyPair, UnparsedPublicKey};
use rsa::RsaPrivateKey;
use rsa::pkcs1::{DecodeRsaPublicKey, EncodeRsaPublicKey};
use rsa::pkcs8::{DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Map, Value, json};
use thiserror::Error;

use crate::error::HttpError;

/// Most participants' keys read from a directory.
pub const KEYS_MAX: usize = 10_000;

/// Largest key file read, in bytes.
pub const KEY_FILE_MAX_BYTES: u64 = 64 * 1024;

/// Longest `FSPIOP-Signature` header read (the specification bounds the
/// protected header to 32,768 characters and the signature to 512).
pub const SIGNATURE_HEADER_MAX_BYTES: usize = 34 * 1024;

/// Why a key could not be read.
#[derive(Debug, Error)]
pub enum JwsError {
    #[error("{path}: {reason}")]
    Key { path: String, reason: String },
    #[error("{path}: more than {KEYS_MAX} keys")]
    TooManyKeys { path: String },
}

/// The headers a signature protects.
#[derive(Clone, Debug)]
pub struct Protected<'a> {
    pub method: &'a str,
    pub uri: &'a str,
    pub source: &'a str,
    pub destination: Option<&'a str>,
    pub date: &'a str,
}

fn read_key_file(path: &Path) -> Result<String, JwsError> {
    let fail = |reason: String| JwsError::Key {
        path: path.display().to_string(),
        reason,
    };
    let size = std::fs::metadata(path)
        .map_err(|e| fail(e.to_string()))?
        .len();
    if size > KEY_FILE_MAX_BYTES {
        return Err(fail(format!("larger than {KEY_FILE_MAX_BYTES} bytes")));
    }
    std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))
}

/// The file of the switch's signing key in its data directory, when the
/// configuration names none.
pub const SIGNING_KEY_FILE: &str = "fspiop-signing-key.pem";

/// The size of a key the switch makes itself.
pub const SIGNING_KEY_BITS: usize = 2048;

/// Where the public key of the private key at `path` is written:
/// `x.pem` → `x.pub.pem`.
pub fn public_key_path(path: &Path) -> std::path::PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!("{stem}.pub.pem"))
}

/// Writes a private key readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Shortest RSA key accepted, to sign or to verify.
pub const KEY_BITS_MIN: usize = 2048;

/// The switch's signing key (RS256).
pub struct Signer {
    key: RsaKeyPair,
    rng: SystemRandom,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(RS256)")
    }
}

impl Signer {
    /// The key in a PEM file (PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA
    /// PRIVATE KEY`).
    pub fn from_file(path: &Path) -> Result<Signer, JwsError> {
        let pem = read_key_file(path)?;
        Signer::from_pem(&pem).map_err(|reason| JwsError::Key {
            path: path.display().to_string(),
            reason,
        })
    }

    /// The key in `path`, or, when there is no such file, a new 2048-bit
    /// key written there (PKCS#8, readable by its owner only) with its
    /// public key beside it ([`public_key_path`]); true if it was made.
    pub fn load_or_make(path: &Path) -> Result<(Signer, bool), JwsError> {
        if path.exists() {
            return Ok((Signer::from_file(path)?, false));
        }
        let fail = |reason: String| JwsError::Key {
            path: path.display().to_string(),
            reason,
        };
        let key = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, SIGNING_KEY_BITS)
            .map_err(|e| fail(e.to_string()))?;
        let private = key
            .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
            .map_err(|e| fail(e.to_string()))?;
        let public = key
            .to_public_key()
            .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
            .map_err(|e| fail(e.to_string()))?;
        let signer = Signer::from_pem(&private).map_err(fail)?;
        // The public key first: a private key without it would be kept
        // and never given out.
        std::fs::write(public_key_path(path), public).map_err(|e| fail(e.to_string()))?;
        write_private(path, private.as_bytes()).map_err(|e| fail(e.to_string()))?;
        Ok((signer, true))
    }

    /// [`Signer::sign`] on tokio's blocking pool, off the runtime's
    /// workers (an RSA signature takes a millisecond or more of CPU);
    /// `None` only if the pool is gone (the switch is stopping).
    pub async fn sign_off_runtime(
        self: &std::sync::Arc<Self>,
        headers: &Protected<'_>,
        body: &str,
    ) -> Option<String> {
        let signer = self.clone();
        let (method, uri, source, date) = (
            headers.method.to_string(),
            headers.uri.to_string(),
            headers.source.to_string(),
            headers.date.to_string(),
        );
        let destination = headers.destination.map(str::to_string);
        let body = body.to_string();
        tokio::task::spawn_blocking(move || {
            let protected = Protected {
                method: &method,
                uri: &uri,
                source: &source,
                destination: destination.as_deref(),
                date: &date,
            };
            signer.sign(&protected, &body)
        })
        .await
        .ok()
    }

    /// A PEM RSA private key: PKCS#8 (`PRIVATE KEY`) or PKCS#1 (`RSA
    /// PRIVATE KEY`), of [`KEY_BITS_MIN`] bits or more.
    pub fn from_pem(pem: &str) -> Result<Signer, String> {
        let der = PrivateKeyDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| format!("not a PEM private key: {e}"))?;
        let key = match &der {
            PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
            _ => return Err("not an RSA private key".into()),
        }
        .map_err(|e| format!("not an RSA private key of {KEY_BITS_MIN} to 8192 bits ({e})"))?;
        Ok(Signer {
            key,
            rng: SystemRandom::new(),
        })
    }

    /// The `FSPIOP-Signature` of `body` sent with `headers`.
    pub fn sign(&self, headers: &Protected<'_>, body: &str) -> String {
        let mut protected = Map::new();
        protected.insert("alg".into(), json!("RS256"));
        protected.insert("FSPIOP-URI".into(), json!(headers.uri));
        protected.insert("FSPIOP-HTTP-Method".into(), json!(headers.method));
        protected.insert("FSPIOP-Source".into(), json!(headers.source));
        if let Some(d) = headers.destination {
            protected.insert("FSPIOP-Destination".into(), json!(d));
        }
        protected.insert("Date".into(), json!(headers.date));
        let protected = URL_SAFE_NO_PAD.encode(Value::Object(protected).to_string());
        let input = format!("{protected}.{}", URL_SAFE_NO_PAD.encode(body));
        let mut signature = vec![0u8; self.key.public().modulus_len()];
        // Fails only on a signature buffer of the wrong length (it is the
        // modulus's) or a broken random source; neither comes from input.
        self.key
            .sign(
                &ring_signature::RSA_PKCS1_SHA256,
                &self.rng,
                input.as_bytes(),
                &mut signature,
            )
            .expect("RSA signing with a buffer of the modulus's length");
        json!({
            "signature": URL_SAFE_NO_PAD.encode(&signature),
            "protectedHeader": protected,
        })
        .to_string()
    }
}

/// A participant's public key: PKCS#1 `RSAPublicKey` DER, as ring takes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey(Vec<u8>);

impl PublicKey {
    /// A PEM RSA public key: SubjectPublicKeyInfo (`PUBLIC KEY`) or PKCS#1
    /// (`RSA PUBLIC KEY`), of [`KEY_BITS_MIN`] bits or more.
    pub fn from_pem(pem: &str) -> Result<PublicKey, String> {
        let key = rsa::RsaPublicKey::from_public_key_pem(pem)
            .or_else(|_| rsa::RsaPublicKey::from_pkcs1_pem(pem))
            .map_err(|e| format!("not an RSA public key: {e}"))?;
        let bits = key.n().bits();
        if bits < KEY_BITS_MIN {
            return Err(format!(
                "an RSA key of {bits} bits: at least {KEY_BITS_MIN} are needed"
            ));
        }
        let der = key
            .to_pkcs1_der()
            .map_err(|e| format!("not an RSA public key: {e}"))?;
        Ok(PublicKey(der.as_bytes().to_vec()))
    }
}

/// Participants' public keys, by participant name.
#[derive(Default)]
pub struct Keys {
    keys: HashMap<String, PublicKey>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keys({} participants)", self.keys.len())
    }
}

fn refused(detail: impl AsRef<str>) -> HttpError {
    HttpError::new(ErrorCode::InvalidSignature, detail)
}

impl Keys {
    /// Every `<participant>.pem` in `dir`.
    pub fn from_dir(dir: &Path) -> Result<Keys, JwsError> {
        let fail = |reason: String| JwsError::Key {
            path: dir.display().to_string(),
            reason,
        };
        let mut keys = HashMap::new();
        for entry in std::fs::read_dir(dir).map_err(|e| fail(e.to_string()))? {
            let path = entry.map_err(|e| fail(e.to_string()))?.path();
            let Some(name) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".pem"))
            else {
                continue;
            };
            if keys.len() >= KEYS_MAX {
                return Err(JwsError::TooManyKeys {
                    path: dir.display().to_string(),
                });
            }
            let pem = read_key_file(&path)?;
            let key = PublicKey::from_pem(&pem).map_err(|reason| JwsError::Key {
                path: path.display().to_string(),
                reason,
            })?;
            keys.insert(name.to_string(), key);
        }
        Ok(Keys { keys })
    }

    /// Adds (or replaces) `participant`'s key.
    pub fn insert(&mut self, participant: &str, key: PublicKey) {
        self.keys.insert(participant.to_string(), key);
    }

    /// Checks the `FSPIOP-Signature` `header` of `body`, sent with
    /// `headers`, against the key of `headers.source`; 3105 if it is
    /// missing, malformed, protects other headers or does not verify.
    pub fn verify(
        &self,
        header: Option<&str>,
        headers: &Protected<'_>,
        body: &[u8],
    ) -> Result<(), HttpError> {
        let header = header.ok_or_else(|| refused("FSPIOP-Signature header is required"))?;
        if header.len() > SIGNATURE_HEADER_MAX_BYTES {
            return Err(refused("FSPIOP-Signature is too long"));
        }
        let key = self.keys.get(headers.source).ok_or_else(|| {
            refused(format!(
                "no signature key is registered for {}",
                headers.source
            ))
        })?;
        let parsed: Value = serde_json::from_str(header)
            .map_err(|_| refused("FSPIOP-Signature is not a JSON object"))?;
        let (Some(signature), Some(protected)) = (
            parsed.get("signature").and_then(Value::as_str),
            parsed.get("protectedHeader").and_then(Value::as_str),
        ) else {
            return Err(refused(
                "FSPIOP-Signature needs signature and protectedHeader",
            ));
        };
        let decoded: Value = URL_SAFE_NO_PAD
            .decode(protected.trim_end_matches('='))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| refused("protectedHeader is not base64url JSON"))?;
        let field = |name: &str| decoded.get(name).and_then(Value::as_str);
        let expect = |name: &str, wanted: &str| -> Result<(), HttpError> {
            match field(name) {
                Some(v) if v == wanted => Ok(()),
                Some(v) => Err(refused(format!(
                    "the signature protects {name} {v:?}, the message has {wanted:?}"
                ))),
                None => Err(refused(format!("the signature does not protect {name}"))),
            }
        };
        expect("FSPIOP-URI", headers.uri)?;
        expect("FSPIOP-HTTP-Method", headers.method)?;
        expect("FSPIOP-Source", headers.source)?;
        if field("FSPIOP-Destination").is_some() {
            expect(
                "FSPIOP-Destination",
                headers.destination.unwrap_or_default(),
            )?;
        }
        if field("Date").is_some() {
            expect("Date", headers.date)?;
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature.trim_end_matches('='))
            .map_err(|_| refused("signature is not base64url"))?;
        let input = format!("{protected}.{}", URL_SAFE_NO_PAD.encode(body));
        let algorithm = match field("alg") {
            Some("RS256") => &ring_signature::RSA_PKCS1_2048_8192_SHA256,
            Some("RS384") => &ring_signature::RSA_PKCS1_2048_8192_SHA384,
            Some("RS512") => &ring_signature::RSA_PKCS1_2048_8192_SHA512,
            other => {
                return Err(refused(format!("alg {other:?}: RS256, RS384 or RS512")));
            }
        };
        let verified = UnparsedPublicKey::new(algorithm, &key.0)
            .verify(input.as_bytes(), &signature)
            .is_ok();
        if !verified {
            return Err(refused(format!(
                "the signature does not verify with {}'s key",
                headers.source
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_made_once_kept_private_and_its_public_key_verifies_what_it_signs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(SIGNING_KEY_FILE);
        let (signer, made) = Signer::load_or_make(&path).expect("made");
        assert!(made);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("key").permissions().mode();
            assert_eq!(mode & 0o077, 0, "the private key is its owner's only");
        }
        let (again, made) = Signer::load_or_make(&path).expect("loaded");
        assert!(!made, "the key is kept across starts");
        let protected = Protected {
            method: "PUT",
            uri: "/transfers/1",
            source: "Hub",
            destination: Some("dfsp-a"),
            date: "Tue, 01 Dec 2026 19:00:00 GMT",
        };
        let public = std::fs::read_to_string(public_key_path(&path)).expect("public key");
        let public = PublicKey::from_pem(&public).expect("a public key");
        for s in [&signer, &again] {
            let header = s.sign(&protected, "{}");
            let v: Value = serde_json::from_str(&header).expect("json");
            let input = format!(
                "{}.{}",
                v["protectedHeader"].as_str().expect("protected"),
                URL_SAFE_NO_PAD.encode("{}")
            );
            let signature = URL_SAFE_NO_PAD
                .decode(v["signature"].as_str().expect("signature"))
                .expect("b64");
            UnparsedPublicKey::new(&ring_signature::RSA_PKCS1_2048_8192_SHA256, &public.0)
                .verify(input.as_bytes(), &signature)
                .expect("it verifies with the public key beside it");
        }
    }
    use rsa::BigUint;

    /// The RSA key of the signature specification's example (section 4).
    fn spec_key() -> RsaPrivateKey {
        let n = |s: &str| BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(s).expect("base64url"));
        RsaPrivateKey::from_components(
            n("ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"),
            n("AQAB"),
            n("Eq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyWPEAeP88vLNO97IjlA7_GQ5sLKMgvfTeXZx9SE-7YwVol2NXOoAJe46sui395IW_GO-pWJ1O0BkTGoVEn2bKVRUCgu-GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3Mkqzjkn439X0M_V51gfpRLI9JYanrC4D4qAdGcopV_0ZHHzQlBjudU2QvXt4ehNYTCBr6XCLQUShb1juUO1ZdiYoFaFQT5Tw8bGUl_x_jTj3ccPDVZFD9pIuhLhBOneufuBiB4cS98l2SR_RQyGWSeWjnczT0QU91p1DhOVRuOopznQ"),
            vec![
                n("4BzEEOtIpmVdVEZNCqS7baC4crd0pqnRH_5IB3jw3bcxGn6QLvnEtfdUdiYrqBdss1l58BQ3KhooKeQTa9AB0Hw_Py5PJdTJNPY8cQn7ouZ2KKDcmnPGBY5t7yLc1QlQ5xHdwW1VhvKn-nXqhJTBgIPgtldC-KDV5z-y2XDwGUc"),
                n("uQPEfgmVtjL0Uyyx88GZFF1fOunH3-7cepKmtH4pxhtCoHqpWmT8YAmZxaewHgHAjLYsp1ZSe7zFYHj7C6ul7TjeLQeZD_YwD66t62wDmpe_HlB-TnBA-njbglfIsRLtXlnDzQkv5dTltRJ11BKBBypeeF6689rjcJIDEz9RWdc"),
            ],
        )
        .expect("the specification's key")
    }

    fn headers<'a>(uri: &'a str, destination: Option<&'a str>) -> Protected<'a> {
        Protected {
            method: "PUT",
            uri,
            source: "Hub",
            destination,
            date: "Tue, 01 Dec 2026 19:00:00 GMT",
        }
    }

    fn public_of(key: &RsaPrivateKey) -> PublicKey {
        let pem = key
            .to_public_key()
            .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
            .expect("pem");
        PublicKey::from_pem(&pem).expect("a public key")
    }

    fn signer_of(key: &RsaPrivateKey) -> Signer {
        let pem = key.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).expect("pem");
        Signer::from_pem(&pem).expect("a signing key")
    }

    fn keys() -> (Signer, Keys) {
        let key = spec_key();
        let mut keys = Keys::default();
        keys.insert("Hub", public_of(&key));
        (signer_of(&key), keys)
    }

    /// PKCS#1 v1.5 signatures are deterministic: the same key, headers
    /// and body sign to the same header, whatever ring's blinding does,
    /// and it verifies. (The specification's example signature is cut
    /// short in its text, so it cannot serve as a vector.)
    #[test]
    fn signing_is_deterministic_and_verifies() {
        let key = spec_key();
        let (signer, mut keys) = (signer_of(&key), Keys::default());
        keys.insert("dfsp1", public_of(&key));
        let protected = Protected {
            method: "POST",
            uri: "/quotes",
            source: "dfsp1",
            destination: None,
            date: "Tue, 01 Dec 2026 19:00:00 GMT",
        };
        let header = signer.sign(&protected, "{}");
        assert_eq!(keys.verify(Some(&header), &protected, b"{}"), Ok(()));
        let again = signer.sign(&protected, "{}");
        assert_eq!(header, again, "deterministic");
    }

    #[test]
    fn short_keys_are_refused() {
        let short = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).expect("key");
        let pem = short.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).expect("pem");
        assert!(Signer::from_pem(&pem).is_err(), "a 1024-bit signing key");
        let public = short
            .to_public_key()
            .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
            .expect("pem");
        let refused = PublicKey::from_pem(&public).expect_err("a 1024-bit public key");
        assert!(refused.contains("2048"), "{refused}");
    }

    #[test]
    fn a_signed_message_verifies_and_a_changed_one_does_not() {
        let (signer, keys) = keys();
        let body = r#"{"transferState":"COMMITTED"}"#;
        let h = headers("/transfers/1", Some("dfsp1"));
        let signature = signer.sign(&h, body);
        assert_eq!(keys.verify(Some(&signature), &h, body.as_bytes()), Ok(()));
        let code = |r: Result<(), HttpError>| r.err().map(|e| e.code);
        // Another body, URI, method, destination or sender: 3105.
        assert_eq!(code(keys.verify(Some(&signature), &h, b"{}")), Some(3105));
        let other_uri = headers("/transfers/2", Some("dfsp1"));
        assert_eq!(
            code(keys.verify(Some(&signature), &other_uri, body.as_bytes())),
            Some(3105)
        );
        let other_destination = headers("/transfers/1", Some("dfsp2"));
        assert_eq!(
            code(keys.verify(Some(&signature), &other_destination, body.as_bytes())),
            Some(3105)
        );
        let mut other_method = h.clone();
        other_method.method = "POST";
        assert_eq!(
            code(keys.verify(Some(&signature), &other_method, body.as_bytes())),
            Some(3105)
        );
        let mut unknown = h.clone();
        unknown.source = "dfsp9";
        assert_eq!(
            code(keys.verify(Some(&signature), &unknown, body.as_bytes())),
            Some(3105)
        );
        assert_eq!(code(keys.verify(None, &h, body.as_bytes())), Some(3105));
        assert_eq!(
            code(keys.verify(Some("not json"), &h, body.as_bytes())),
            Some(3105)
        );
    }

    #[test]
    fn the_protected_header_holds_what_the_specification_asks() {
        let (signer, _) = keys();
        let signature: Value =
            serde_json::from_str(&signer.sign(&headers("/quotes/1", None), "{}")).expect("json");
        let protected: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(
                    signature["protectedHeader"]
                        .as_str()
                        .expect("protectedHeader"),
                )
                .expect("base64url"),
        )
        .expect("json");
        assert_eq!(protected["alg"], "RS256");
        assert_eq!(protected["FSPIOP-URI"], "/quotes/1");
        assert_eq!(protected["FSPIOP-HTTP-Method"], "PUT");
        assert_eq!(protected["FSPIOP-Source"], "Hub");
        assert_eq!(protected["Date"], "Tue, 01 Dec 2026 19:00:00 GMT");
        // An unknown destination is not protected.
        assert!(protected.get("FSPIOP-Destination").is_none());
    }

    #[test]
    fn keys_are_read_from_pem_files_by_participant() {
        use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
        let dir = tempfile::tempdir().expect("tempdir");
        let key = spec_key();
        let public = key
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("pem");
        std::fs::write(dir.path().join("dfsp1.pem"), public).expect("write");
        std::fs::write(dir.path().join("notes.txt"), "not a key").expect("write");
        let keys = Keys::from_dir(dir.path()).expect("keys");
        let private = key.to_pkcs8_pem(LineEnding::LF).expect("pem");
        let path = dir.path().join("hub-key");
        std::fs::write(&path, private.as_bytes()).expect("write");
        let signer = Signer::from_file(&path).expect("the signing key");
        let mut h = headers("/parties/MSISDN/1", None);
        h.source = "dfsp1";
        let signature = signer.sign(&h, "{}");
        assert_eq!(keys.verify(Some(&signature), &h, b"{}"), Ok(()));
        std::fs::write(
            dir.path().join("broken.pem"),
            "-----BEGIN PUBLIC KEY-----\nxx\n",
        )
        .expect("write");
        assert!(
            Keys::from_dir(dir.path()).is_err(),
            "a broken key file is an error"
        );
    }
}
