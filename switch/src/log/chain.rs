//! The hash chain that makes the log tamper-evident.
//!
//! Every stored record carries the hash of the record before it:
//!
//! ```text
//! hash(n) = SHA-256( "harambee-log-v1" || offset(n) as u64 big-endian || hash(n-1) || record text(n) )
//! hash(-1) = 32 zero bytes
//! ```
//!
//! Changing, removing, inserting or reordering any stored record changes
//! every hash after it, so `verify` finds the first record that does not
//! follow from the one before. An auditor needs only the records and this
//! formula: `harambee audit verify` implements it for a data directory or an
//! exported JSON-lines file.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Offset;

/// The hash before the first record.
pub const GENESIS: [u8; 32] = [0; 32];

/// The hash of a record that follows `prev`.
pub fn link(offset: Offset, prev: &[u8; 32], record: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"harambee-log-v1");
    h.update(offset.to_be_bytes());
    h.update(prev);
    h.update(record.as_bytes());
    h.finalize().into()
}

/// One stored record with its chain fields, as exported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainedRecord {
    pub offset: Offset,
    /// Hex of the previous record's hash.
    pub prev_hash: String,
    /// Hex of this record's hash.
    pub hash: String,
    /// The record exactly as stored.
    pub record: String,
}

/// Where the chain breaks.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("offset {found} where {expected} was expected: a record is missing or out of order")]
    Gap { expected: Offset, found: Offset },
    #[error("record {offset}: prev_hash does not match the hash of record {offset} - 1")]
    PrevMismatch { offset: Offset },
    #[error("record {offset}: its content does not hash to its stored hash (it was changed)")]
    HashMismatch { offset: Offset },
    #[error("record {offset}: malformed hash field")]
    Malformed { offset: Offset },
}

impl ChainBreak {
    /// The first offset that fails.
    pub fn offset(&self) -> Offset {
        match self {
            ChainBreak::Gap { expected, .. } => *expected,
            ChainBreak::PrevMismatch { offset }
            | ChainBreak::HashMismatch { offset }
            | ChainBreak::Malformed { offset } => *offset,
        }
    }
}

/// Checks records in order, continuing a chain.
#[derive(Clone, Debug)]
pub struct Verifier {
    next: Offset,
    head: [u8; 32],
}

impl Default for Verifier {
    fn default() -> Verifier {
        Verifier {
            next: 0,
            head: GENESIS,
        }
    }
}

impl Verifier {
    /// Checks the next record.
    pub fn check(&mut self, r: &ChainedRecord) -> Result<(), ChainBreak> {
        if r.offset != self.next {
            return Err(ChainBreak::Gap {
                expected: self.next,
                found: r.offset,
            });
        }
        let prev = parse_hex32(&r.prev_hash).ok_or(ChainBreak::Malformed { offset: r.offset })?;
        let hash = parse_hex32(&r.hash).ok_or(ChainBreak::Malformed { offset: r.offset })?;
        if prev != self.head {
            return Err(ChainBreak::PrevMismatch { offset: r.offset });
        }
        if link(r.offset, &prev, &r.record) != hash {
            return Err(ChainBreak::HashMismatch { offset: r.offset });
        }
        self.head = hash;
        self.next += 1;
        Ok(())
    }

    /// Records verified so far.
    pub fn count(&self) -> Offset {
        self.next
    }

    /// The hash of the last verified record.
    pub fn head(&self) -> [u8; 32] {
        self.head
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses 64 hex digits.
pub fn parse_hex32(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(records: &[&str]) -> Vec<ChainedRecord> {
        let mut prev = GENESIS;
        records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let hash = link(i as Offset, &prev, r);
                let c = ChainedRecord {
                    offset: i as Offset,
                    prev_hash: hex(&prev),
                    hash: hex(&hash),
                    record: r.to_string(),
                };
                prev = hash;
                c
            })
            .collect()
    }

    fn verify(records: &[ChainedRecord]) -> Result<Offset, ChainBreak> {
        let mut v = Verifier::default();
        for r in records {
            v.check(r)?;
        }
        Ok(v.count())
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify(&chain(&["a", "b", "c"])), Ok(3));
        assert_eq!(verify(&[]), Ok(0));
    }

    #[test]
    fn every_kind_of_tampering_is_found_where_it_happened() {
        let good = chain(&["a", "b", "c", "d"]);
        let mut changed = good.clone();
        changed[2].record = "C".into();
        assert_eq!(
            verify(&changed),
            Err(ChainBreak::HashMismatch { offset: 2 })
        );

        // Rehashing the changed record does not help: the next one breaks.
        let mut rehashed = changed.clone();
        let prev = parse_hex32(&rehashed[2].prev_hash).expect("hex");
        rehashed[2].hash = hex(&link(2, &prev, "C"));
        assert_eq!(
            verify(&rehashed),
            Err(ChainBreak::PrevMismatch { offset: 3 })
        );

        let mut removed = good.clone();
        removed.remove(1);
        assert_eq!(
            verify(&removed),
            Err(ChainBreak::Gap {
                expected: 1,
                found: 2
            })
        );

        let mut swapped = good.clone();
        swapped.swap(1, 2);
        assert_eq!(verify(&swapped).map_err(|e| e.offset()), Err(1));

        let mut bad = good;
        bad[0].hash = "zz".into();
        assert_eq!(verify(&bad), Err(ChainBreak::Malformed { offset: 0 }));
    }
}
