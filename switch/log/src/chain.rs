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
//! formula: `harambee audit verify` implements it for a data directory, a
//! Kafka partition or an exported JSON-lines file.
//!
//! ## Records on Kafka: positions and void records
//!
//! A Kafka partition cannot refuse a write, so two processes that both
//! believe they are the writer (a "zombie" cut off from the group
//! coordinator, and its successor) can both append. Records on Kafka
//! therefore also name the partition offset the writer meant them to get,
//! its `position`, which the hash covers:
//!
//! ```text
//! hash(n) = SHA-256( "harambee-log-v2" || offset(n) || position(n) || hash(n-1) || record text(n) )
//! ```
//!
//! A record that sits at its `position` is valid; one that does not (`at`,
//! where the broker put it, differs) is *void*: it was written by a writer
//! whose view of the partition was already stale, and every reader skips
//! it. A writer acknowledges a record only once the broker reports it at its
//! position, so nothing acknowledged is ever void, and the valid records form
//! one dense, unbroken chain whatever the number of writers. This is the
//! fencing: the first record to land at a position wins it. Because a valid
//! record sits where it says, removing or moving one is still a break, and a
//! void record cannot be turned valid without changing its hash.

use harambee_core::text::hex32;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Offset;

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

/// The hash of a record that follows `prev`, written for the Kafka
/// partition offset `position` (`None`: the embedded log, formula v1).
pub fn link_at(
    offset: Offset,
    position: Option<Offset>,
    prev: &[u8; 32],
    record: &str,
) -> [u8; 32] {
    let Some(position) = position else {
        return link(offset, prev, record);
    };
    let mut h = Sha256::new();
    h.update(b"harambee-log-v2");
    h.update(offset.to_be_bytes());
    h.update(position.to_be_bytes());
    h.update(prev);
    h.update(record.as_bytes());
    h.finalize().into()
}

/// One stored record with its chain fields, as exported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainedRecord {
    /// The record's place in the log: dense over valid records, from 0.
    pub offset: Offset,
    /// Kafka only: the partition offset the writer meant the record to get.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Offset>,
    /// Kafka only: the partition offset the broker gave it. Never stored in
    /// the message itself; set when read back, and written in exports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Offset>,
    /// Hex of the previous record's hash.
    pub prev_hash: String,
    /// Hex of this record's hash.
    pub hash: String,
    /// The record exactly as stored.
    pub record: String,
}

impl ChainedRecord {
    /// Whether the record was written for another partition offset than
    /// the one it sits at: a stale writer's, which readers skip.
    pub fn is_void(&self) -> bool {
        matches!((self.position, self.at), (Some(position), Some(at)) if position != at)
    }

    /// Whether the record's content hashes to its stored hash (it was not
    /// changed), whatever the record before it.
    pub fn hash_matches(&self) -> bool {
        hex32(&self.prev_hash)
            .zip(hex32(&self.hash))
            .is_some_and(|(prev, hash)| {
                link_at(self.offset, self.position, &prev, &self.record) == hash
            })
    }
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
    #[error(
        "partition offset {found} where {expected} was expected: a stored message is missing or out of order"
    )]
    PositionGap { expected: Offset, found: Offset },
}

impl ChainBreak {
    /// The first offset that fails.
    pub fn offset(&self) -> Offset {
        match self {
            ChainBreak::Gap { expected, .. } | ChainBreak::PositionGap { expected, .. } => {
                *expected
            }
            ChainBreak::PrevMismatch { offset }
            | ChainBreak::HashMismatch { offset }
            | ChainBreak::Malformed { offset } => *offset,
        }
    }
}

/// Checks records in order, continuing a chain. Records of a Kafka
/// partition are checked in partition order, void ones included: a void
/// record must still hash to its stored hash, and no message may be missing.
#[derive(Clone, Debug)]
pub struct Verifier {
    next: Offset,
    head: [u8; 32],
    /// The partition offset the next Kafka message must have.
    next_at: Offset,
    void: u64,
}

impl Default for Verifier {
    fn default() -> Verifier {
        Verifier {
            next: 0,
            head: GENESIS,
            next_at: 0,
            void: 0,
        }
    }
}

impl Verifier {
    /// Checks the next record (the next message, on Kafka).
    pub fn check(&mut self, r: &ChainedRecord) -> Result<(), ChainBreak> {
        if let Some(at) = r.at {
            if at != self.next_at {
                return Err(ChainBreak::PositionGap {
                    expected: self.next_at,
                    found: at,
                });
            }
            self.next_at = at + 1;
        }
        if r.is_void() {
            hex32(&r.prev_hash)
                .zip(hex32(&r.hash))
                .ok_or(ChainBreak::Malformed { offset: r.offset })?;
            if !r.hash_matches() {
                return Err(ChainBreak::HashMismatch { offset: r.offset });
            }
            self.void += 1;
            return Ok(());
        }
        if r.offset != self.next {
            return Err(ChainBreak::Gap {
                expected: self.next,
                found: r.offset,
            });
        }
        let prev = hex32(&r.prev_hash).ok_or(ChainBreak::Malformed { offset: r.offset })?;
        let hash = hex32(&r.hash).ok_or(ChainBreak::Malformed { offset: r.offset })?;
        if prev != self.head {
            return Err(ChainBreak::PrevMismatch { offset: r.offset });
        }
        if link_at(r.offset, r.position, &prev, &r.record) != hash {
            return Err(ChainBreak::HashMismatch { offset: r.offset });
        }
        self.head = hash;
        self.next += 1;
        Ok(())
    }

    /// Valid records verified so far.
    pub fn count(&self) -> Offset {
        self.next
    }

    /// Void records (stale writers' on Kafka) seen and skipped so far.
    pub fn void(&self) -> u64 {
        self.void
    }

    /// The hash of the last verified record.
    pub fn head(&self) -> [u8; 32] {
        self.head
    }

    /// The partition offset of the next Kafka message to check.
    pub fn next_message(&self) -> Offset {
        self.next_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harambee_core::text::hex;

    fn chain(records: &[&str]) -> Vec<ChainedRecord> {
        let mut prev = GENESIS;
        records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let hash = link(i as Offset, &prev, r);
                let c = ChainedRecord {
                    offset: i as Offset,
                    position: None,
                    at: None,
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
        let prev = hex32(&rehashed[2].prev_hash).expect("hex");
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

    /// A record as a Kafka writer makes it: meant for `position`, after
    /// `prev`; the broker put it `at`.
    fn kafka_record(
        offset: Offset,
        position: Offset,
        prev: [u8; 32],
        text: &str,
        at: Offset,
    ) -> ChainedRecord {
        ChainedRecord {
            offset,
            position: Some(position),
            at: Some(at),
            prev_hash: hex(&prev),
            hash: hex(&link_at(offset, Some(position), &prev, text)),
            record: text.to_string(),
        }
    }

    fn hash_of(r: &ChainedRecord) -> [u8; 32] {
        hex32(&r.hash).expect("hex")
    }

    /// Two writers race on a partition: the first record at each position
    /// wins; the loser's records are void, and the chain of the valid ones
    /// is unbroken.
    fn raced_partition() -> Vec<ChainedRecord> {
        let r0 = kafka_record(0, 0, GENESIS, "a", 0);
        let r1 = kafka_record(1, 1, hash_of(&r0), "b", 1);
        // Both writers believe the head is (offset 2, position 2, hash r1).
        let new_writer = kafka_record(2, 2, hash_of(&r1), "c-new", 2);
        let zombie = kafka_record(2, 2, hash_of(&r1), "c-zombie", 3);
        let zombie_next = kafka_record(3, 3, hash_of(&zombie), "d-zombie", 4);
        // The new writer learned the real head (offset 3, position 5).
        let after = kafka_record(3, 5, hash_of(&new_writer), "d", 5);
        vec![r0, r1, new_writer, zombie, zombie_next, after]
    }

    #[test]
    fn void_records_of_a_stale_writer_are_skipped_and_counted() {
        let partition = raced_partition();
        assert!(!partition[2].is_void());
        assert!(partition[3].is_void() && partition[4].is_void());
        let mut v = Verifier::default();
        for r in &partition {
            v.check(r).expect("a raced partition verifies");
        }
        assert_eq!((v.count(), v.void()), (4, 2));
        assert_eq!(v.head(), hash_of(&partition[5]));
    }

    #[test]
    fn tampering_on_a_raced_partition_is_found() {
        let good = raced_partition();

        // A void record that would continue the chain (its writer's view
        // was right but for a stale writer's message just before it) cannot
        // be made valid: its hash covers the position it was meant for.
        let r0 = kafka_record(0, 0, GENESIS, "a", 0);
        let stale = kafka_record(0, 0, GENESIS, "z", 1);
        let pushed = kafka_record(1, 1, hash_of(&r0), "b", 2);
        let mut revived = vec![r0, stale, pushed];
        assert_eq!(verify(&revived), Ok(1));
        revived[2].position = Some(2);
        assert_eq!(
            verify(&revived),
            Err(ChainBreak::HashMismatch { offset: 1 })
        );

        // Voiding a valid record (moving its claimed position) does too.
        let mut voided = good.clone();
        voided[2].position = Some(7);
        assert_eq!(verify(&voided), Err(ChainBreak::HashMismatch { offset: 2 }));

        // Removing any message, void or valid, leaves a hole in the partition.
        for i in [2, 3] {
            let mut removed = good.clone();
            removed.remove(i);
            assert_eq!(
                verify(&removed),
                Err(ChainBreak::PositionGap {
                    expected: i as Offset,
                    found: i as Offset + 1
                })
            );
        }

        // A void record rewritten with a new hash for the position it sits
        // at is still a stale claim: its offset is taken.
        let mut rewritten = good;
        let prev = hex32(&rewritten[3].prev_hash).expect("hex");
        rewritten[3].position = Some(3);
        rewritten[3].hash = hex(&link_at(2, Some(3), &prev, "c-zombie"));
        assert_eq!(
            verify(&rewritten),
            Err(ChainBreak::Gap {
                expected: 3,
                found: 2
            })
        );
    }
}
