//! State digest, invariant check, and versioned snapshot / restore.

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::currency::Currency;
use crate::error::LedgerError;
use crate::ledger::Ledger;
use crate::types::{
    Account, AccountId, AccountType, Balances, FundsKind, FundsRecord, FundsState, HubCurrency,
    Owner, Participant, ParticipantCurrency, ParticipantId, TransferId, TransferRecord,
    TransferState,
};

/// Version of the snapshot format written by [`Ledger::snapshot`].
pub const SNAPSHOT_VERSION: u32 = 1;

/// The whole state of a ledger as plain data, in a canonical order (every
/// list sorted by id), so that equal states give equal snapshots.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Snapshot {
    pub version: u32,
    pub currencies: Vec<HubCurrency>,
    pub participants: Vec<Participant>,
    pub participant_currencies: Vec<ParticipantCurrency>,
    pub accounts: Vec<Account>,
    pub transfers: Vec<TransferRecord>,
    pub refusals: Vec<(TransferId, LedgerError)>,
    pub funds: Vec<FundsRecord>,
    /// Amounts held pending by settlement steps: ((settlement id, debit
    /// account, credit account), amount). Absent in older snapshots.
    #[serde(default)]
    pub settlement_pending: Vec<((u64, AccountId, AccountId), i128)>,
}

/// Why a snapshot could not be restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot version {found} is not supported (this build reads {SNAPSHOT_VERSION})")]
    UnsupportedVersion { found: u32 },
    #[error("snapshot is inconsistent: {0}")]
    Inconsistent(String),
}

/// A SHA-256 digest of the ledger state.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StateDigest(pub [u8; 32]);

impl StateDigest {
    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl std::fmt::Debug for StateDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl std::fmt::Display for StateDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Feeds fixed-width little-endian encodings into SHA-256.
struct Feed(Sha256);

impl Feed {
    fn u8(&mut self, v: u8) {
        self.0.update([v]);
    }
    fn u16(&mut self, v: u16) {
        self.0.update(v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.update(v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.update(v.to_le_bytes());
    }
    fn u128(&mut self, v: u128) {
        self.0.update(v.to_le_bytes());
    }
    fn i128(&mut self, v: i128) {
        self.0.update(v.to_le_bytes());
    }
    fn bytes(&mut self, v: &[u8]) {
        self.u32(v.len() as u32);
        self.0.update(v);
    }
    fn currency(&mut self, c: Currency) {
        self.0.update(c.as_bytes());
    }
    fn tag(&mut self, name: &str) {
        self.bytes(name.as_bytes());
    }
    fn balances(&mut self, b: &Balances) {
        self.i128(b.debits_posted);
        self.i128(b.credits_posted);
        self.i128(b.debits_pending);
        self.i128(b.credits_pending);
    }
}

impl Ledger {
    /// A digest of the whole state. Two ledgers have the same digest exactly
    /// when they hold the same currencies, participants, accounts, balances,
    /// transfers and funds records, however they got there.
    pub fn digest(&self) -> StateDigest {
        let mut f = Feed(Sha256::new());
        f.tag("harambee-ledger-state");
        f.u32(SNAPSHOT_VERSION);

        f.tag("currencies");
        let mut currencies: Vec<&HubCurrency> = self.currencies.values().collect();
        currencies.sort_by_key(|h| h.currency);
        f.u32(currencies.len() as u32);
        for h in currencies {
            f.currency(h.currency);
            f.u32(h.reconciliation.0);
            f.u32(h.multilateral_settlement.0);
            // Only a scale a command chose: the digests of states from
            // before scales could be chosen stay the same.
            if let Some(scale) = h.scale {
                f.tag("scale");
                f.u32(scale);
            }
        }

        f.tag("participants");
        f.u32(self.participants.len() as u32);
        for p in &self.participants {
            f.u32(p.id.0);
            f.bytes(p.name.as_bytes());
            f.u8(p.kind as u8);
            f.u8(u8::from(p.active));
        }

        f.tag("participant-currencies");
        let mut pcs: Vec<&ParticipantCurrency> = self.participant_currencies.values().collect();
        pcs.sort_by_key(|pc| (pc.participant, pc.currency));
        f.u32(pcs.len() as u32);
        for pc in pcs {
            f.u32(pc.participant.0);
            f.currency(pc.currency);
            f.u32(pc.position.0);
            f.u32(pc.settlement.0);
            f.i128(pc.net_debit_cap);
            if pc.gross {
                f.tag("gross");
            }
        }

        f.tag("accounts");
        f.u32(self.accounts.len() as u32);
        for a in &self.accounts {
            f.u32(a.id.0);
            match a.owner {
                Owner::Hub => f.u32(0),
                Owner::Participant(p) => f.u32(p.0),
            }
            f.currency(a.currency);
            f.u8(a.kind as u8);
            f.balances(&a.balances);
            // Only a deactivated account says so: the digests of states
            // from before accounts could be deactivated stay the same.
            if !a.active {
                f.tag("inactive");
            }
        }

        f.tag("transfers");
        let mut records: Vec<&TransferRecord> = self.transfers.values().collect();
        records.sort_unstable_by_key(|t| t.id);
        f.u32(records.len() as u32);
        for t in records {
            let id = &t.id;
            f.u128(t.id.0);
            f.u32(t.payer.0);
            f.u32(t.payee.0);
            f.currency(t.currency);
            f.i128(t.amount);
            f.0.update(t.condition);
            f.i64(t.expires_at_ms);
            f.i64(t.prepared_at_ms);
            f.u8(t.state as u8);
            f.u16(t.reason);
            match t.resolution {
                None => f.u8(0),
                Some(crate::types::Resolution::Fulfil(x)) => {
                    f.u8(1);
                    f.0.update(x);
                }
                Some(crate::types::Resolution::Reject(code)) => {
                    f.u8(2);
                    f.u16(code);
                }
                Some(crate::types::Resolution::Expire) => f.u8(3),
            }
            f.i64(t.resolved_at_ms);
            // Only when set, so digests without gross transfers are those
            // of earlier builds.
            if t.gross {
                f.tag("gross");
            }
            if let Some(e) = self.refusals.get(id) {
                f.bytes(e.to_string().as_bytes());
            }
        }

        f.tag("funds");
        let mut funds: Vec<&FundsRecord> = self.funds.values().collect();
        funds.sort_unstable_by_key(|r| r.id);
        f.u32(funds.len() as u32);
        for r in funds {
            f.u128(r.id.0);
            f.u8(r.kind as u8);
            f.u32(r.participant.0);
            f.currency(r.currency);
            f.i128(r.amount);
            f.u8(r.state as u8);
        }
        // Only when there is any, so digests of ledgers without settlement
        // postings are those of earlier builds.
        if !self.settlement_pending.is_empty() {
            f.tag("settlement_pending");
            f.u32(self.settlement_pending.len() as u32);
            for ((settlement, debit, credit), amount) in &self.settlement_pending {
                f.u128(u128::from(*settlement));
                f.u32(debit.0);
                f.u32(credit.0);
                f.i128(*amount);
            }
        }
        StateDigest(f.0.finalize().into())
    }

    /// Checks every invariant of the state and names the first one broken:
    ///
    /// - per currency, posted debits equal posted credits and pending debits
    ///   equal pending credits (the ledger balances);
    /// - no pending amount is negative, and every pending amount on an account
    ///   is explained by a RESERVED transfer or a reserved funds out (nothing
    ///   pending is orphaned);
    /// - every account, participant-currency and record refers to things that
    ///   exist, in the right currency.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut totals: FxHashMap<Currency, Balances> = FxHashMap::default();
        for (i, a) in self.accounts.iter().enumerate() {
            if a.id.0 as usize != i {
                return Err(format!("account at index {i} has id {}", a.id.0));
            }
            let b = &a.balances;
            if b.debits_pending < 0 || b.credits_pending < 0 {
                return Err(format!("account {} has negative pending amounts", i));
            }
            if !self.currencies.contains_key(&a.currency) {
                return Err(format!("account {i} is in a currency that is not enabled"));
            }
            let t = totals.entry(a.currency).or_default();
            t.debits_posted += b.debits_posted;
            t.credits_posted += b.credits_posted;
            t.debits_pending += b.debits_pending;
            t.credits_pending += b.credits_pending;
        }
        for (c, t) in &totals {
            if t.debits_posted != t.credits_posted {
                return Err(format!(
                    "{c} posted debits {} != posted credits {}",
                    t.debits_posted, t.credits_posted
                ));
            }
            if t.debits_pending != t.credits_pending {
                return Err(format!(
                    "{c} pending debits {} != pending credits {}",
                    t.debits_pending, t.credits_pending
                ));
            }
        }

        // Recompute every pending amount from the records that explain it.
        let mut expected = vec![(0i128, 0i128); self.accounts.len()];
        let account_of = |p: ParticipantId, c: Currency| {
            self.participant_currencies
                .get(&(p, c))
                .copied()
                .ok_or_else(|| format!("participant {p} has no {c} accounts"))
        };
        let mut reserved = 0usize;
        for t in self.transfers.values() {
            if self.participant(t.payer).is_none() && t.state != TransferState::Refused {
                return Err(format!("transfer {} has an unknown payer", t.id));
            }
            if t.state == TransferState::Refused {
                if !self.refusals.contains_key(&t.id) {
                    return Err(format!("refused transfer {} has no recorded error", t.id));
                }
                continue;
            }
            if t.state.is_final() != t.resolution.is_some() {
                return Err(format!("transfer {} state and resolution disagree", t.id));
            }
            if t.state == TransferState::Reserved {
                reserved += 1;
                if self.in_flight.get(&t.id) != Some(&t.expires_at_ms) {
                    return Err(format!("reserved transfer {} is not in flight", t.id));
                }
                let payer = account_of(t.payer, t.currency)?;
                let payee = account_of(t.payee, t.currency)?;
                let (debit, credit) = if t.gross {
                    (payer.settlement, payee.settlement)
                } else {
                    (payer.position, payee.position)
                };
                expected[debit.0 as usize].0 += t.amount;
                expected[credit.0 as usize].1 += t.amount;
            }
        }
        if reserved != self.in_flight.len() {
            return Err(format!(
                "{} transfers in flight but {reserved} reserved",
                self.in_flight.len()
            ));
        }
        for r in self.funds.values() {
            let pc = account_of(r.participant, r.currency)?;
            if r.kind == FundsKind::In && r.state != FundsState::Committed {
                return Err(format!("funds in {} is not committed", r.id));
            }
            if r.state == FundsState::Reserved {
                let hub = self
                    .currencies
                    .get(&r.currency)
                    .ok_or_else(|| format!("funds {} in a disabled currency", r.id))?;
                expected[pc.settlement.0 as usize].0 += r.amount;
                expected[hub.reconciliation.0 as usize].1 += r.amount;
            }
        }
        for ((_, debit, credit), amount) in &self.settlement_pending {
            if *amount <= 0 {
                return Err("a settlement holds a non-positive pending amount".into());
            }
            let (d, c) = (debit.0 as usize, credit.0 as usize);
            if d >= expected.len() || c >= expected.len() {
                return Err("a settlement holds pending on an unknown account".into());
            }
            expected[d].0 += amount;
            expected[c].1 += amount;
        }
        for (a, (debits, credits)) in self.accounts.iter().zip(expected) {
            if a.balances.debits_pending != debits || a.balances.credits_pending != credits {
                return Err(format!(
                    "account {} pending ({}, {}) is not explained by reserved records ({debits}, {credits})",
                    a.id.0, a.balances.debits_pending, a.balances.credits_pending
                ));
            }
        }
        for pc in self.participant_currencies.values() {
            for (id, kind) in [
                (pc.position, AccountType::Position),
                (pc.settlement, AccountType::Settlement),
            ] {
                let a = self
                    .account(id)
                    .ok_or_else(|| format!("account {} missing", id.0))?;
                if a.kind != kind
                    || a.currency != pc.currency
                    || a.owner != Owner::Participant(pc.participant)
                {
                    return Err(format!(
                        "account {} does not match its participant currency",
                        id.0
                    ));
                }
            }
        }
        Ok(())
    }

    /// The state as a versioned, serializable snapshot.
    pub fn snapshot(&self) -> Snapshot {
        let mut currencies: Vec<HubCurrency> = self.currencies.values().copied().collect();
        currencies.sort_by_key(|h| h.currency);
        let mut participant_currencies: Vec<ParticipantCurrency> =
            self.participant_currencies.values().copied().collect();
        participant_currencies.sort_by_key(|pc| (pc.participant, pc.currency));
        let mut transfers: Vec<TransferRecord> = self.transfers.values().cloned().collect();
        transfers.sort_unstable_by_key(|t| t.id);
        let mut refusals: Vec<(TransferId, LedgerError)> =
            self.refusals.iter().map(|(k, v)| (*k, v.clone())).collect();
        refusals.sort_unstable_by_key(|(k, _)| *k);
        let mut funds: Vec<FundsRecord> = self.funds.values().cloned().collect();
        funds.sort_unstable_by_key(|r| r.id);
        Snapshot {
            version: SNAPSHOT_VERSION,
            currencies,
            participants: self.participants.clone(),
            participant_currencies,
            accounts: self.accounts.clone(),
            transfers,
            refusals,
            funds,
            settlement_pending: self
                .settlement_pending
                .iter()
                .map(|(k, v)| (*k, *v))
                .collect(),
        }
    }

    /// Rebuilds a ledger from a snapshot, checking the version and every
    /// invariant. The restored ledger answers every later command exactly as
    /// the ledger the snapshot was taken from.
    pub fn restore(snapshot: Snapshot) -> Result<Ledger, SnapshotError> {
        if snapshot.version != SNAPSHOT_VERSION {
            return Err(SnapshotError::UnsupportedVersion {
                found: snapshot.version,
            });
        }
        let bad = SnapshotError::Inconsistent;
        let mut ledger = Ledger::new();
        for h in snapshot.currencies {
            if ledger.currencies.insert(h.currency, h).is_some() {
                return Err(bad(format!("currency {} listed twice", h.currency)));
            }
        }
        for (i, p) in snapshot.participants.into_iter().enumerate() {
            if p.id.0 as usize != i + 1 {
                return Err(bad(format!(
                    "participant at position {i} has id {}",
                    p.id.0
                )));
            }
            if ledger
                .participant_names
                .insert(p.name.clone(), p.id)
                .is_some()
            {
                return Err(bad(format!("participant name {} listed twice", p.name)));
            }
            ledger.participants.push(p);
        }
        ledger.accounts = snapshot.accounts;
        for h in ledger.currencies.values() {
            for (id, kind) in [
                (h.reconciliation, AccountType::HubReconciliation),
                (
                    h.multilateral_settlement,
                    AccountType::HubMultilateralSettlement,
                ),
            ] {
                let ok = ledger
                    .accounts
                    .get(id.0 as usize)
                    .is_some_and(|a: &Account| {
                        a.kind == kind && a.owner == Owner::Hub && a.currency == h.currency
                    });
                if !ok {
                    return Err(bad(format!(
                        "hub account {} of {} is wrong",
                        id.0, h.currency
                    )));
                }
            }
        }
        for pc in snapshot.participant_currencies {
            if ledger.participant(pc.participant).is_none() {
                return Err(bad(format!(
                    "accounts of unknown participant {}",
                    pc.participant
                )));
            }
            if ledger
                .participant_currencies
                .insert((pc.participant, pc.currency), pc)
                .is_some()
            {
                return Err(bad(format!(
                    "{} {} listed twice",
                    pc.participant, pc.currency
                )));
            }
        }
        for t in snapshot.transfers {
            if t.state == TransferState::Reserved {
                ledger.in_flight.insert(t.id, t.expires_at_ms);
            }
            if ledger.transfers.is_full() {
                return Err(bad("more transfers than a ledger holds".into()));
            }
            if !ledger.transfers.insert(t) {
                return Err(bad("a transfer is listed twice".into()));
            }
        }
        for (id, e) in snapshot.refusals {
            if ledger.transfers.get(&id).map(|t| t.state) != Some(TransferState::Refused) {
                return Err(bad(format!(
                    "refusal for {id}, which is not a refused transfer"
                )));
            }
            ledger.refusals.insert(id, e);
        }
        for r in snapshot.funds {
            if ledger.funds.insert(r.id, r).is_some() {
                return Err(bad("a funds record is listed twice".into()));
            }
        }
        for (key, amount) in snapshot.settlement_pending {
            if ledger.settlement_pending.insert(key, amount).is_some() {
                return Err(bad("a settlement pending amount is listed twice".into()));
            }
        }
        ledger.check_invariants().map_err(bad)?;
        Ok(ledger)
    }
}
