//! Failpoints: faults the tests inject into a running switch, to prove
//! what it does when something that should never happen does (a panic
//! while applying, a log that reports a wrong offset).
//!
//! Only debug builds have them (the test suite runs those); in a release
//! build `hit` is a constant `false` and the optimiser removes the checks.
//! They are set with `HARAMBEE_FAILPOINTS`, a comma-separated list of
//! `name@offset`: the failpoint `name` fires once the log offset it is
//! checked at reaches `offset`.

/// Panics while applying the record at the offset (the state lock held).
pub const APPLY_PANIC: &str = "apply-panic";
/// The log reports an append one offset further than it was.
pub const APPEND_OFFSET_SKEW: &str = "append-offset-skew";

/// Whether failpoint `name` fires at log offset `offset`.
#[cfg(debug_assertions)]
pub fn hit(name: &str, offset: u64) -> bool {
    static SET: std::sync::OnceLock<Vec<(String, u64)>> = std::sync::OnceLock::new();
    let set = SET.get_or_init(|| {
        std::env::var("HARAMBEE_FAILPOINTS")
            .unwrap_or_default()
            .split(',')
            .filter_map(|item| {
                let (n, at) = item.trim().split_once('@')?;
                Some((n.to_string(), at.parse().ok()?))
            })
            .collect()
    });
    set.iter().any(|(n, at)| n == name && offset >= *at)
}

/// Whether failpoint `name` fires at log offset `offset` (never, in a
/// release build).
#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn hit(_name: &str, _offset: u64) -> bool {
    false
}
