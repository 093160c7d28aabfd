//! Flood: does one participant's flood slow the others down? A victim
//! participant pays at a steady rate twice, first alone and then while a
//! flooder runs payments closed-loop with many in flight; the report gives
//! the victim's latency both times and their ratio, and what the flooder
//! got (its payments, and how many the switch refused with 2005, server
//! busy, over its admission limits).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use harambee_proto::v1::*;
use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::sync::Mutex;

use crate::client;
use crate::network::{self, Member, MemberSpec, Operator};

/// Most flooding requests in flight.
pub const FLOOD_CONCURRENCY_MAX: usize = 4_096;

/// What to run.
#[derive(Clone, Debug)]
pub struct FloodSpec {
    pub currency: String,
    /// The victim's payments a second, in each phase.
    pub victim_rate_per_s: u64,
    /// How long each phase lasts.
    pub phase: Duration,
    /// The flooder's payments in flight.
    pub flood_concurrency: usize,
}

/// The victim's latency in one phase, milliseconds.
#[derive(Clone, Debug, Serialize)]
pub struct Phase {
    pub payments: u64,
    pub committed: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// What happened.
#[derive(Clone, Debug, Serialize)]
pub struct FloodReport {
    pub victim_rate_per_s: u64,
    pub flood_concurrency: usize,
    pub alone: Phase,
    pub flooded: Phase,
    /// The victim's p99 under the flood over its p99 alone.
    pub p99_ratio: f64,
    pub flooder_outcomes: BTreeMap<String, u64>,
    pub flooder_per_s: f64,
}

impl FloodReport {
    pub fn summary(&self) -> String {
        let line = |name: &str, p: &Phase| {
            format!(
                "  victim {name:<8} {} payments ({} committed)  p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms\n",
                p.payments, p.committed, p.p50_ms, p.p99_ms, p.max_ms
            )
        };
        let mut s = format!(
            "Flood: a victim paying {}/s, alone and then beside a flooder with {} payments in flight\n",
            self.victim_rate_per_s, self.flood_concurrency
        );
        s.push_str(&line("alone", &self.alone));
        s.push_str(&line("flooded", &self.flooded));
        s.push_str(&format!(
            "  p99 ratio (flooded / alone) {:.2}\n",
            self.p99_ratio
        ));
        s.push_str(&format!(
            "  flooder: {:.0} requests/s\n",
            self.flooder_per_s
        ));
        for (k, v) in &self.flooder_outcomes {
            s.push_str(&format!("    {k:<22} {v}\n"));
        }
        s
    }
}

/// Onboards the victim, the flooder and a payee, and runs both phases.
pub async fn run(
    mut op: Operator,
    participant_url: &str,
    spec: &FloodSpec,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<FloodReport> {
    anyhow::ensure!(
        spec.victim_rate_per_s >= 1,
        "the victim's rate must be at least 1/s"
    );
    anyhow::ensure!(
        (1..=FLOOD_CONCURRENCY_MAX).contains(&spec.flood_concurrency),
        "the flood's concurrency must be 1 to {FLOOD_CONCURRENCY_MAX}"
    );
    let _ = op
        .client
        .add_currency(op.req(AddCurrencyRequest {
            currency: spec.currency.clone(),
        }))
        .await?;
    let run = uuid::Uuid::new_v4().simple().to_string()[..6].to_string();
    let mut members = Vec::new();
    for role in ["victim", "flooder", "payee"] {
        let spec = MemberSpec::ample(
            format!("flood-{run}-{role}"),
            ParticipantKind::Bank,
            &spec.currency,
        );
        let mut stop = stop.clone();
        members.push(
            network::onboard(&mut op, participant_url, &spec, async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await?,
        );
    }
    let [victim, flooder, payee]: [Member; 3] = members
        .try_into()
        .map_err(|_| anyhow::anyhow!("three members"))?;
    let alone = victim_phase(&victim, &payee, spec).await?;

    let flooding = Arc::new(AtomicBool::new(true));
    let outcomes = Arc::new(Mutex::new(BTreeMap::<String, u64>::new()));
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..spec.flood_concurrency {
        let (flooder, payee, flooding, outcomes) = (
            flooder.clone(),
            payee.clone(),
            flooding.clone(),
            outcomes.clone(),
        );
        let currency = spec.currency.clone();
        workers.push(tokio::spawn(async move {
            let mut api = flooder.api.clone();
            let mut k = w;
            while flooding.load(Ordering::Relaxed) {
                k += 1;
                let outcome = client::pay(
                    &mut api,
                    &flooder.name,
                    flooder.customer(k % 4),
                    payee.customer(k % 4),
                    "1",
                    &currency,
                )
                .await;
                *outcomes.lock().await.entry(outcome.label()).or_default() += 1;
            }
        }));
    }
    // Let the flood build up before the victim pays.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let flooded = victim_phase(&victim, &payee, spec).await?;
    flooding.store(false, Ordering::Relaxed);
    for w in workers {
        w.await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let flooder_outcomes = outcomes.lock().await.clone();
    // A payment refused at its lookup is one request, at its quote two;
    // any other is three (lookup, quote, transfer).
    let requests: u64 = flooder_outcomes
        .iter()
        .map(|(k, v)| {
            if k.starts_with("lookup") {
                *v
            } else if k.starts_with("quote") {
                v * 2
            } else {
                v * 3
            }
        })
        .sum();
    Ok(FloodReport {
        victim_rate_per_s: spec.victim_rate_per_s,
        flood_concurrency: spec.flood_concurrency,
        p99_ratio: flooded.p99_ms / alone.p99_ms.max(1e-9),
        alone,
        flooded,
        flooder_outcomes,
        flooder_per_s: requests as f64 / elapsed.max(1e-9),
    })
}

/// The victim's payments at its rate for one phase.
async fn victim_phase(victim: &Member, payee: &Member, spec: &FloodSpec) -> anyhow::Result<Phase> {
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    let period = Duration::from_nanos(1_000_000_000 / spec.victim_rate_per_s);
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let deadline = Instant::now() + spec.phase;
    let mut running = Vec::new();
    let mut k = 0usize;
    while Instant::now() < deadline {
        tick.tick().await;
        k += 1;
        let (mut api, victim_name) = (victim.api.clone(), victim.name.clone());
        let (from, to) = (victim.customer(k % 4), payee.customer(k % 4));
        let currency = spec.currency.clone();
        running.push(tokio::spawn(async move {
            let t0 = Instant::now();
            let outcome = client::pay(&mut api, &victim_name, from, to, "1", &currency).await;
            (outcome, t0.elapsed())
        }));
    }
    let mut committed = 0;
    for r in running {
        let (outcome, took) = r.await?;
        if matches!(outcome, client::Outcome::Committed) {
            committed += 1;
        }
        let micros = took.as_micros().clamp(1, 600_000_000) as u64;
        histogram.record(micros)?;
    }
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    Ok(Phase {
        payments: histogram.len(),
        committed,
        p50_ms: ms(0.5),
        p99_ms: ms(0.99),
        max_ms: histogram.max() as f64 / 1000.0,
    })
}
