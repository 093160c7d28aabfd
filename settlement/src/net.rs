//! Net positions of a set of windows: the bilateral matrix and the
//! multilateral nets derived from it.

use std::collections::BTreeMap;

use harambee_ledger::{Currency, ParticipantId};
use serde::{Deserialize, Serialize};

use crate::window::Window;

/// What each participant owes (positive) or is owed (negative), in minor
/// units of `currency`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nets {
    pub currency: Currency,
    /// Per participant: sent minus received. Sums to zero.
    #[serde(with = "crate::pairs")]
    pub multilateral: BTreeMap<ParticipantId, i128>,
    /// Per pair (a, b) with a < b: what a sent b minus what b sent a;
    /// positive: a owes b. Pairs that exchanged nothing are absent.
    #[serde(with = "crate::pairs")]
    pub bilateral: BTreeMap<(ParticipantId, ParticipantId), i128>,
}

impl Nets {
    /// The nets of the flows of `windows` (all of `currency`).
    pub fn of_windows<'a>(
        currency: Currency,
        windows: impl IntoIterator<Item = &'a Window>,
    ) -> Nets {
        let mut flows: BTreeMap<(ParticipantId, ParticipantId), i128> = BTreeMap::new();
        for w in windows {
            assert_eq!(w.currency, currency, "windows of one currency");
            for (pair, amount) in &w.flows {
                *flows.entry(*pair).or_insert(0) += amount;
            }
        }
        Nets::of_flows(currency, &flows)
    }

    /// The nets of (payer, payee) -> amount flows.
    pub fn of_flows(
        currency: Currency,
        flows: &BTreeMap<(ParticipantId, ParticipantId), i128>,
    ) -> Nets {
        let mut bilateral: BTreeMap<(ParticipantId, ParticipantId), i128> = BTreeMap::new();
        let mut multilateral: BTreeMap<ParticipantId, i128> = BTreeMap::new();
        for (&(payer, payee), &amount) in flows {
            // Sent to oneself: nets to nothing (the ledger refuses it
            // anyway), but the participant still has an account.
            multilateral.entry(payer).or_insert(0);
            multilateral.entry(payee).or_insert(0);
            if payer == payee {
                continue;
            }
            *multilateral.entry(payer).or_insert(0) += amount;
            *multilateral.entry(payee).or_insert(0) -= amount;
            let (key, signed) = if payer < payee {
                ((payer, payee), amount)
            } else {
                ((payee, payer), -amount)
            };
            *bilateral.entry(key).or_insert(0) += signed;
        }
        let nets = Nets {
            currency,
            multilateral,
            bilateral,
        };
        debug_assert_eq!(nets.multilateral.values().sum::<i128>(), 0);
        nets
    }

    /// The net of one participant (0 if it took no part).
    pub fn of(&self, participant: ParticipantId) -> i128 {
        self.multilateral.get(&participant).copied().unwrap_or(0)
    }

    /// What `a` owes `b` after bilateral netting (negative: b owes a).
    pub fn between(&self, a: ParticipantId, b: ParticipantId) -> i128 {
        if a < b {
            self.bilateral.get(&(a, b)).copied().unwrap_or(0)
        } else {
            -self.bilateral.get(&(b, a)).copied().unwrap_or(0)
        }
    }
}
