//! ILP conditions and fulfilments, the way a payee DFSP makes them.
//!
//! - fulfilment = HMAC-SHA256(payee secret, canonical encoding of the agreed
//!   transaction terms): 32 bytes only the payee can produce;
//! - condition = SHA-256(fulfilment): given to the payer in the quote and
//!   locked into the transfer by the switch;
//! - both travel as base64url without padding (43 characters).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// The terms a payee agreed to in a quote; the fulfilment is bound to them,
/// so a transfer that differs in any of them cannot be fulfilled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransactionTerms<'a> {
    pub transaction_id: &'a str,
    pub quote_id: &'a str,
    pub payer_fsp: &'a str,
    pub payee_fsp: &'a str,
    /// Party id type and id of the payee, e.g. ("MSISDN", "256700000001").
    pub payee_party: (&'a str, &'a str),
    /// Transfer amount as a canonical decimal string ("100.5" not "100.50").
    pub amount: &'a str,
    pub currency: &'a str,
    /// Quote expiry, milliseconds since the Unix epoch.
    pub expires_at_ms: i64,
}

impl TransactionTerms<'_> {
    /// Unambiguous byte encoding: every field length-prefixed.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        for field in [
            self.transaction_id,
            self.quote_id,
            self.payer_fsp,
            self.payee_fsp,
            self.payee_party.0,
            self.payee_party.1,
            self.amount,
            self.currency,
        ] {
            out.extend_from_slice(&(field.len() as u32).to_be_bytes());
            out.extend_from_slice(field.as_bytes());
        }
        out.extend_from_slice(&self.expires_at_ms.to_be_bytes());
        out
    }
}

/// Why a base64url ILP value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IlpError {
    #[error("not base64url without padding: {0}")]
    Encoding(String),
    #[error("decodes to {0} bytes, expected 32")]
    Length(usize),
}

/// The payee's fulfilment for these terms.
pub fn fulfilment(secret: &[u8], terms: &TransactionTerms<'_>) -> [u8; 32] {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(&terms.encode());
    mac.finalize().into_bytes().into()
}

/// The condition that locks a transfer to `fulfilment`.
pub fn condition(fulfilment: &[u8; 32]) -> [u8; 32] {
    Sha256::digest(fulfilment).into()
}

/// base64url without padding.
pub fn encode(value: &[u8; 32]) -> String {
    URL_SAFE_NO_PAD.encode(value)
}

/// Decodes a 43-character base64url value of exactly 32 bytes.
pub fn decode(text: &str) -> Result<[u8; 32], IlpError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|e| IlpError::Encoding(e.to_string()))?;
    let len = bytes.len();
    bytes.try_into().map_err(|_| IlpError::Length(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms() -> TransactionTerms<'static> {
        TransactionTerms {
            transaction_id: "b51ec534-ee48-4575-b6a9-ead2955b8069",
            quote_id: "7c23e80c-d078-4077-8263-2c047876fcf6",
            payer_fsp: "bank-a",
            payee_fsp: "wallet-b",
            payee_party: ("MSISDN", "256700000001"),
            amount: "100.5",
            currency: "UGX",
            expires_at_ms: 1_700_000_030_000,
        }
    }

    #[test]
    fn fulfilment_is_bound_to_secret_and_every_term() {
        let base = fulfilment(b"secret", &terms());
        assert_eq!(base, fulfilment(b"secret", &terms()), "deterministic");
        assert_ne!(base, fulfilment(b"other secret", &terms()));
        let mut changed = Vec::new();
        let t = terms();
        changed.push(TransactionTerms {
            transaction_id: "x",
            ..t.clone()
        });
        changed.push(TransactionTerms {
            quote_id: "x",
            ..t.clone()
        });
        changed.push(TransactionTerms {
            payer_fsp: "x",
            ..t.clone()
        });
        changed.push(TransactionTerms {
            payee_fsp: "x",
            ..t.clone()
        });
        changed.push(TransactionTerms {
            payee_party: ("MSISDN", "256700000002"),
            ..t.clone()
        });
        changed.push(TransactionTerms {
            amount: "100.50",
            ..t.clone()
        });
        changed.push(TransactionTerms {
            currency: "KES",
            ..t.clone()
        });
        changed.push(TransactionTerms {
            expires_at_ms: 1,
            ..t.clone()
        });
        // Length prefixes keep field boundaries apart.
        changed.push(TransactionTerms {
            payer_fsp: "bank-awallet-b",
            payee_fsp: "",
            ..t.clone()
        });
        for c in changed {
            assert_ne!(fulfilment(b"secret", &c), base, "{c:?}");
        }
    }

    #[test]
    fn reference_vectors_round_trip() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/reference/ilp/condition-fulfilment-vectors.json"
        );
        let text = std::fs::read_to_string(path).expect("shared/reference beside the repository");
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        let pairs = v["valid_pairs"].as_array().expect("valid_pairs");
        assert!(!pairs.is_empty());
        for pair in pairs {
            let f_text = pair["fulfilment"].as_str().expect("fulfilment");
            let c_text = pair["condition"].as_str().expect("condition");
            let f = decode(f_text).expect("valid fulfilment");
            assert_eq!(encode(&f), f_text);
            assert_eq!(encode(&condition(&f)), c_text);
        }
        for n in v["negative_vectors"].as_array().expect("negative_vectors") {
            let (Some(f_text), Some(c_text)) =
                (n["fulfilment"].as_str(), n["against_condition"].as_str())
            else {
                continue;
            };
            if let Ok(f) = decode(f_text) {
                assert_ne!(encode(&condition(&f)), c_text, "{n}");
            }
        }
    }

    #[test]
    fn decode_refuses_malformed_values() {
        assert!(matches!(decode("abc"), Err(IlpError::Length(2))));
        assert!(matches!(decode(&"A".repeat(44)), Err(IlpError::Length(33))));
        assert!(matches!(
            decode("GRzLaTP7DJ9t4P+a/BA0WA9wzzlsugf00-Tn6kESAfM"),
            Err(IlpError::Encoding(_))
        ));
        assert!(matches!(
            decode("GRzLaTP7DJ9t4P-a_BA0WA9wzzlsugf00-Tn6kESAfM="),
            Err(IlpError::Encoding(_))
        ));
        assert!(decode("GRzLaTP7DJ9t4P-a_BA0WA9wzzlsugf00-Tn6kESAfM").is_ok());
    }
}
