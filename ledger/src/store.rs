//! Transfer storage: records in an append-only vector, found through a
//! compact hash index.
//!
//! Keeping the 150-byte records out of the hash table makes the table's
//! entries 20 bytes, so growing it moves little memory and more of it stays
//! in cache; the vector grows by reallocation, which the allocator does by
//! remapping pages for large sizes. Records are never removed.

use std::collections::hash_map::Entry;

use rustc_hash::FxHashMap;

use crate::types::{TransferId, TransferRecord};

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

    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Records in the order they were first stored.
    pub fn values(&self) -> std::slice::Iter<'_, TransferRecord> {
        self.records.iter()
    }
}
