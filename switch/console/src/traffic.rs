//! Throughput and outcomes over the last minutes, from the switch's own
//! metrics: the console samples the process's Prometheus text every
//! [`SAMPLE_INTERVAL_MS`], keeps [`SAMPLES_MAX`] samples of the
//! `harambee_transfer_outcomes_total` counter (one series per outcome:
//! `committed`, or the FSPIOP code of a refusal or abort), and shows the
//! differences.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

/// How often the metrics are sampled.
pub const SAMPLE_INTERVAL_MS: u64 = 5_000;
/// Samples kept: 15 minutes at one every 5 seconds.
pub const SAMPLES_MAX: usize = 180;
/// A page shown samples anew when the last sample is older than this.
pub const FRESH_SAMPLE_GAP_MS: i64 = 1_000;
/// The minutes the overview shows.
pub const MINUTES_SHOWN: usize = 5;
/// Outcomes one sample keeps (codes are a few dozen).
pub const OUTCOMES_MAX: usize = 64;

const COUNTER: &str = "harambee_transfer_outcomes_total";

/// Where the console reads the switch's metrics: the Prometheus text
/// exposition of the process, if a recorder is installed.
#[derive(Clone)]
pub struct MetricsSource(pub Arc<dyn Fn() -> Option<String> + Send + Sync>);

impl std::fmt::Debug for MetricsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsSource")
    }
}

/// Outcome → transfers so far.
type Counts = BTreeMap<String, u64>;

#[derive(Clone, Debug)]
struct Sample {
    at_ms: i64,
    counts: Counts,
}

/// The samples taken.
#[derive(Debug, Default)]
pub struct Traffic {
    samples: Mutex<VecDeque<Sample>>,
}

/// What the overview shows of the traffic.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Whether there are two samples to compare (else nothing is known).
    pub known: bool,
    /// Transfers resolved in each of the last minutes, oldest first.
    pub per_minute: Vec<u64>,
    /// Outcome → transfers over the last [`MINUTES_SHOWN`] minutes,
    /// most frequent first.
    pub outcomes: Vec<(String, u64)>,
    /// Transfers per second over the last sample interval.
    pub per_second_now: u64,
}

/// The outcome counters in a Prometheus text exposition.
pub fn parse(text: &str) -> Counts {
    let mut counts = Counts::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(COUNTER) else {
            continue;
        };
        let Some(rest) = rest.strip_prefix("{") else {
            continue;
        };
        let Some((labels, value)) = rest.split_once("} ") else {
            continue;
        };
        let Some(outcome) = labels.split(',').find_map(|l| {
            l.strip_prefix("outcome=\"")
                .and_then(|v| v.strip_suffix('"'))
        }) else {
            continue;
        };
        // Counters are exposed as integers, or as floats ("12" or "12.0").
        let Some(value) = value
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
        else {
            continue;
        };
        if counts.len() < OUTCOMES_MAX {
            counts.insert(outcome.to_string(), value as u64);
        }
    }
    counts
}

fn total(c: &Counts) -> u64 {
    c.values().sum()
}

/// What `later` counted since `earlier` (a counter that went down, a
/// reset, counts from zero).
fn delta(earlier: &Counts, later: &Counts) -> Counts {
    later
        .iter()
        .map(|(k, v)| {
            let before = earlier.get(k).copied().unwrap_or(0);
            (k.clone(), if *v >= before { v - before } else { *v })
        })
        .collect()
}

impl Traffic {
    /// Records a sample of `text` taken at `at_ms`.
    pub fn sample(&self, at_ms: i64, text: &str) {
        let mut samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        if samples.len() >= SAMPLES_MAX {
            samples.pop_front();
        }
        samples.push_back(Sample {
            at_ms,
            counts: parse(text),
        });
        debug_assert!(samples.len() <= SAMPLES_MAX);
    }

    /// Records a sample of what `read` returns, unless one was taken in
    /// the last `gap_ms` (a page shown gets the latest numbers).
    pub fn sample_fresh(&self, at_ms: i64, gap_ms: i64, read: impl FnOnce() -> Option<String>) {
        let recent = {
            let samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
            samples.back().is_some_and(|s| at_ms - s.at_ms < gap_ms)
        };
        if !recent && let Some(text) = read() {
            self.sample(at_ms, &text);
        }
    }

    /// The traffic of the last minutes, as of `now_ms`.
    pub fn summary(&self, now_ms: i64) -> Summary {
        let samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        let Some(last) = samples.back() else {
            return Summary::default();
        };
        if samples.len() < 2 {
            return Summary::default();
        }
        // The latest sample at or before `at_ms` (the first if none is).
        let at = |at_ms: i64| -> &Sample {
            samples
                .iter()
                .rev()
                .find(|s| s.at_ms <= at_ms)
                .unwrap_or(&samples[0])
        };
        let minute_ms = 60_000i64;
        let per_minute = (0..MINUTES_SHOWN)
            .rev()
            .map(|m| {
                let end = now_ms - minute_ms * m as i64;
                let start = end - minute_ms;
                total(&delta(&at(start).counts, &at(end).counts))
            })
            .collect();
        let window = delta(
            &at(now_ms - minute_ms * MINUTES_SHOWN as i64).counts,
            &last.counts,
        );
        let mut outcomes: Vec<(String, u64)> = window.into_iter().filter(|(_, n)| *n > 0).collect();
        outcomes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let before = &samples[samples.len() - 2];
        let seconds = ((last.at_ms - before.at_ms) / 1000).max(1);
        let per_second_now = total(&delta(&before.counts, &last.counts)) / seconds as u64;
        Summary {
            known: true,
            per_minute,
            outcomes,
            per_second_now,
        }
    }
}

/// Samples `source` into `traffic` every [`SAMPLE_INTERVAL_MS`] until the
/// console is dropped.
pub(crate) fn start_sampling(
    traffic: &Arc<Traffic>,
    source: MetricsSource,
    now_ms: impl Fn() -> i64 + Send + 'static,
) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let traffic = Arc::downgrade(traffic);
    runtime.spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(SAMPLE_INTERVAL_MS));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(traffic) = traffic.upgrade() else {
                return;
            };
            if let Some(text) = (source.0)() {
                traffic.sample(now_ms(), &text);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(committed: u64, limit: u64) -> String {
        format!(
            "# TYPE {COUNTER} counter\n{COUNTER}{{outcome=\"committed\"}} {committed}\n{COUNTER}{{outcome=\"4200\"}} {limit}\nother_total 9\n"
        )
    }

    #[test]
    fn outcome_counters_are_read_from_the_exposition() {
        let counts = parse(&text(12, 3));
        assert_eq!(counts.get("committed"), Some(&12));
        assert_eq!(counts.get("4200"), Some(&3));
        assert_eq!(counts.len(), 2);
        assert!(parse("garbage {\n} x").is_empty());
        let labelled = format!("{COUNTER}{{node=\"a\",outcome=\"3100\"}} 7.0");
        assert_eq!(parse(&labelled).get("3100"), Some(&7));
    }

    #[test]
    fn the_summary_is_the_difference_over_the_last_minutes() {
        let t = Traffic::default();
        assert!(!t.summary(0).known, "nothing sampled");
        let minute = 60_000;
        t.sample(0, &text(0, 0));
        t.sample(minute, &text(60, 0));
        t.sample(2 * minute, &text(180, 6));
        t.sample(2 * minute + 5_000, &text(230, 6));
        let s = t.summary(2 * minute + 5_000);
        assert!(s.known);
        assert_eq!(s.per_second_now, 10);
        assert_eq!(s.per_minute.len(), MINUTES_SHOWN);
        // The last minute: from the sample at 1:05 or before (1:00) to 2:05.
        assert_eq!(*s.per_minute.last().expect("minutes"), 230 + 6 - 60);
        assert_eq!(
            s.outcomes,
            vec![("committed".to_string(), 230), ("4200".to_string(), 6)]
        );
    }

    #[test]
    fn samples_are_bounded() {
        let t = Traffic::default();
        for i in 0..(SAMPLES_MAX as i64 + 50) {
            t.sample(i * 5_000, &text(i as u64, 0));
        }
        assert_eq!(t.samples.lock().expect("lock").len(), SAMPLES_MAX);
    }
}
