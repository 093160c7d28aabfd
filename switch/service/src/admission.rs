//! Admission: each participant's requests, limited apart from everyone
//! else's, so that a flood from one does not slow the others.
//!
//! Every adapter admits a participant's request, once its identity is
//! known and before any work, through [`Service::admit`]
//! (`crate::Service::admit`). Two limits, each per participant:
//!
//! - requests in flight at once (the [`Admitted`] guard holds a place
//!   until the request is done, including the work an adapter does after
//!   it has answered, as FSPIOP's callbacks);
//! - a rate: a token bucket of `burst` requests refilled at `rate_per_s`.
//!
//! Over either, the request is refused at once with 2005 (server busy)
//! and changes nothing. A limit of 0 is no limit.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use harambee_core::error::{ErrorCode, SwitchError};

/// The limits, each per participant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdmissionSettings {
    /// Requests in flight at once; 0: no limit.
    pub in_flight_max: u64,
    /// Requests a second, sustained; 0: no limit.
    pub rate_per_s: u64,
    /// Requests at once above the rate (the bucket's size); at least 1
    /// when there is a rate.
    pub burst: u64,
}

impl Default for AdmissionSettings {
    fn default() -> AdmissionSettings {
        AdmissionSettings {
            in_flight_max: 1_024,
            rate_per_s: 20_000,
            burst: 20_000,
        }
    }
}

/// One token, in the bucket's units: a millionth of a token is kept so
/// that a slow refill is not lost to rounding.
const TOKEN: u64 = 1_000_000;

/// One participant's budget.
struct Budget {
    in_flight: AtomicU64,
    bucket: Mutex<Bucket>,
}

struct Bucket {
    /// In millionths of a token.
    tokens: u64,
    refilled: Instant,
}

/// The participants' budgets.
pub struct Admission {
    settings: AdmissionSettings,
    budgets: Mutex<HashMap<String, Arc<Budget>>>,
}

/// A request admitted: it holds its participant's place in flight until
/// it is dropped.
#[must_use = "the place in flight is given back when this is dropped"]
pub struct Admitted {
    budget: Option<Arc<Budget>>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if let Some(b) = self.budget.take() {
            let before = b.in_flight.fetch_sub(1, Ordering::AcqRel);
            debug_assert!(before > 0, "a place in flight given back twice");
        }
    }
}

impl std::fmt::Debug for Admitted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Admitted")
    }
}

impl Admission {
    pub fn new(settings: AdmissionSettings) -> Admission {
        Admission {
            settings,
            budgets: Mutex::new(HashMap::new()),
        }
    }

    /// Admits one request of `participant` (an authenticated name, so the
    /// budgets are as many as the participants), or refuses it with 2005.
    pub fn admit(&self, participant: &str) -> Result<Admitted, SwitchError> {
        let s = self.settings;
        if s.in_flight_max == 0 && s.rate_per_s == 0 {
            return Ok(Admitted { budget: None });
        }
        let budget = {
            let mut budgets = self.budgets.lock().unwrap_or_else(|p| p.into_inner());
            match budgets.get(participant) {
                Some(b) => b.clone(),
                None => {
                    let b = Arc::new(Budget {
                        in_flight: AtomicU64::new(0),
                        bucket: Mutex::new(Bucket {
                            tokens: s.burst.max(1).saturating_mul(TOKEN),
                            refilled: Instant::now(),
                        }),
                    });
                    budgets.insert(participant.to_string(), b.clone());
                    b
                }
            }
        };
        let held = budget.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        // From here the guard gives the place back, whatever is refused.
        let admitted = Admitted {
            budget: Some(budget.clone()),
        };
        if s.in_flight_max > 0 && held > s.in_flight_max {
            return Err(busy(participant, "requests in flight", s.in_flight_max));
        }
        if s.rate_per_s > 0 {
            let mut bucket = budget.bucket.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let elapsed_us =
                u64::try_from(now.duration_since(bucket.refilled).as_micros()).unwrap_or(u64::MAX);
            // rate_per_s tokens a second = rate_per_s millionths a microsecond.
            let full = s.burst.max(1).saturating_mul(TOKEN);
            bucket.tokens = bucket
                .tokens
                .saturating_add(elapsed_us.saturating_mul(s.rate_per_s))
                .min(full);
            bucket.refilled = now;
            if bucket.tokens < TOKEN {
                return Err(busy(participant, "requests a second", s.rate_per_s));
            }
            bucket.tokens -= TOKEN;
        }
        Ok(admitted)
    }

    /// Requests of `participant` in flight now.
    pub fn in_flight(&self, participant: &str) -> u64 {
        self.budgets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(participant)
            .map_or(0, |b| b.in_flight.load(Ordering::Acquire))
    }
}

fn busy(participant: &str, what: &str, limit: u64) -> SwitchError {
    metrics::counter!("harambee_admission_refused_total", "limit" => what.to_string()).increment(1);
    tracing::debug!(%participant, limit, "{what}: over the participant's limit");
    SwitchError::new(
        ErrorCode::ServerBusy,
        format!("over the participant's limit of {limit} {what}: try again shortly"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_in_flight_are_limited_per_participant_and_given_back() {
        let a = Admission::new(AdmissionSettings {
            in_flight_max: 2,
            rate_per_s: 0,
            burst: 0,
        });
        let one = a.admit("bank-a").expect("first");
        let two = a.admit("bank-a").expect("second");
        let over = a.admit("bank-a").expect_err("third");
        assert_eq!(over.code, ErrorCode::ServerBusy);
        assert_eq!(a.in_flight("bank-a"), 2, "a refusal holds no place");
        // Another participant is not affected.
        let _other = a.admit("bank-b").expect("bank-b");
        drop(one);
        let _three = a.admit("bank-a").expect("a place was given back");
        drop(two);
        assert_eq!(a.in_flight("bank-a"), 1);
    }

    #[test]
    fn the_rate_allows_a_burst_then_refuses_until_it_refills() {
        let a = Admission::new(AdmissionSettings {
            in_flight_max: 0,
            rate_per_s: 1,
            burst: 3,
        });
        for i in 0..3 {
            drop(a.admit("bank-a").unwrap_or_else(|e| panic!("{i}: {e}")));
        }
        let over = a.admit("bank-a").expect_err("over the burst");
        assert_eq!(over.code, ErrorCode::ServerBusy);
        assert!(a.admit("bank-b").is_ok(), "bank-b has its own bucket");
        assert_eq!(a.in_flight("bank-a"), 0);
    }

    #[test]
    fn no_limits_admit_everything() {
        let a = Admission::new(AdmissionSettings {
            in_flight_max: 0,
            rate_per_s: 0,
            burst: 0,
        });
        let held: Vec<Admitted> = (0..10_000)
            .map(|_| a.admit("bank-a").expect("admitted"))
            .collect();
        assert_eq!(held.len(), 10_000);
    }
}
