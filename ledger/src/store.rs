//! Transfer storage: records in an append-only vector, found through a
//! compact hash index.
//!
//! Keeping the 150-byte records out of the hash table makes the table's
//! entries 20 bytes, so growing it moves little memory and more of it stays
//! in cache; the vector grows by reallocation, which the allocator does by
//! remapping pages for large sizes. Records are never removed.

use std::collections::hash_map::Entry;

use rustc_hash::FxHashMap;

use crate::currency::Currency;
use crate::types::{ParticipantId, TransferId, TransferRecord, TransferState};

/// Most transfers one ledger holds (the index is a `u32`).
pub const TRANSFERS_MAX: usize = u32::MAX as usize;

#[derive(Clone, Debug, Default)]
pub(crate) struct TransferStore {
    records: Vec<TransferRecord>,
    index: FxHashMap<TransferId, u32>,
}

impl TransferStore {
    pub fn get(&self, id: &TransferId) -> Option<&TransferRecord> {
        let slot = *self.index.get(id)?;
        self.records.get(slot as usize)
    }

    pub fn get_mut(&mut self, id: &TransferId) -> Option<&mut TransferRecord> {
        let slot = *self.index.get(id)?;
        self.records.get_mut(slot as usize)
    }

    /// Whether another record fits.
    pub fn is_full(&self) -> bool {
        self.records.len() >= TRANSFERS_MAX
    }

    /// Adds a record whose id is not yet stored. Returns false (and stores
    /// nothing) if the id is already there.
    pub fn insert(&mut self, record: TransferRecord) -> bool {
        assert!(!self.is_full(), "transfer store full: check is_full first");
        // `len() < TRANSFERS_MAX` fits in u32.
        let slot = self.records.len() as u32;
        match self.index.entry(record.id) {
            Entry::Occupied(_) => false,
            Entry::Vacant(v) => {
                v.insert(slot);
                self.records.push(record);
                true
            }
        }
    }

    /// Makes room for `additional` more records without reallocating, and
    /// writes the new record space once so that the operating system maps
    /// its pages now (at start) rather than during later batches.
    pub fn reserve(&mut self, additional: usize) {
        let additional = additional.min(TRANSFERS_MAX - self.records.len());
        self.index.reserve(additional);
        let len = self.records.len();
        let blank = TransferRecord {
            id: TransferId(0),
            payer: ParticipantId(0),
            payee: ParticipantId(0),
            currency: self
                .records
                .first()
                .map_or_else(Currency::placeholder, |r| r.currency),
            amount: 0,
            condition: [0; 32],
            expires_at_ms: 0,
            prepared_at_ms: 0,
            state: TransferState::Refused,
            reason: 0,
            resolution: None,
            resolved_at_ms: 0,
            gross: false,
        };
        self.records.resize(len + additional, blank);
        self.records.truncate(len);
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Records in the order they were first stored.
    pub fn values(&self) -> std::slice::Iter<'_, TransferRecord> {
        self.records.iter()
    }
}
