//! Load: many simulated participants paying each other through a running
//! switch, closed-loop (a fixed number in flight) or at a target rate,
//! bounded in time and count, with a latency histogram and a report.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use harambee_proto::v1::*;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use rust_decimal::Decimal;
use serde::Serialize;
use tokio::sync::Mutex;

use crate::client::{self, Outcome};
use crate::network::{self, Member, MemberSpec, Operator};

/// What each operation of the load is.
/// Settlement errors a load report keeps.
pub const SETTLEMENT_ERRORS_KEPT: usize = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Lookup + quote + transfer.
    Payments,
    /// Transfers only, on quotes agreed before the run.
    Transfers,
    /// Lookup + quote + transfer over FSPIOP, between simulated FSPIOP
    /// DFSPs, each step answered by the switch's callback.
    Fspiop,
    /// Transfers only over FSPIOP (`POST /transfers` to the payer's `PUT`
    /// callback), on quotes agreed before the run.
    FspiopTransfers,
    /// A legacy host's 0200 through the ISO 8583 gateway (lookup, quote
    /// and transfer on the switch) to its 0210, paying the customers of
    /// gRPC participants.
    Iso8583,
}

impl Mode {
    fn is_fspiop(self) -> bool {
        matches!(self, Mode::Fspiop | Mode::FspiopTransfers)
    }
}

/// The load to run.
#[derive(Clone, Debug)]
pub struct LoadSpec {
    pub mode: Mode,
    pub participants: usize,
    pub concurrency: usize,
    /// Operations per second to start; `None` for closed-loop.
    pub rate_per_s: Option<u64>,
    pub duration: Duration,
    /// Stop after this many operations.
    pub count: Option<u64>,
    pub currency: String,
    pub show_progress: bool,
    /// Run a settlement cycle (close the window, settle it multilateral net
    /// to SETTLED) this often during the load; `None`: never.
    pub settle_every: Option<Duration>,
    /// The switch's admin and FSPIOP APIs, for the FSPIOP modes.
    pub hub: Option<crate::fspiop::Hub>,
    /// The gateway and the host binding the switch has for the legacy
    /// host, for the ISO 8583 mode.
    pub iso8583: Option<Iso8583Target>,
}

/// Where the ISO 8583 mode's legacy host connects, and as whom.
#[derive(Clone, Debug)]
pub struct Iso8583Target {
    pub gateway: std::net::SocketAddr,
    /// The institution id (field 32) the switch binds to `participant`.
    pub institution_id: String,
    pub participant: String,
}

/// Requests in flight on one connection of the legacy host in the ISO
/// 8583 mode (under the gateway's default limit of 64): the load opens as
/// many connections as its concurrency needs.
pub const ISO8583_IN_FLIGHT_PER_CONNECTION: usize = 48;

/// Latency percentiles in milliseconds.
#[derive(Clone, Debug, Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// What happened.
#[derive(Clone, Debug, Serialize)]
pub struct LoadReport {
    pub mode: Mode,
    pub participants: usize,
    pub concurrency: usize,
    pub target_rate_per_s: Option<u64>,
    pub elapsed_s: f64,
    pub operations: u64,
    pub throughput_per_s: f64,
    pub committed_per_s: f64,
    pub latency: Latency,
    pub outcomes: BTreeMap<String, u64>,
    /// Settlement cycles taken to SETTLED during the run.
    pub settlements: u64,
    /// Why cycles failed (at most the first ten).
    pub settlement_errors: Vec<String>,
}

impl LoadReport {
    /// A readable summary.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{:?} load: {} operations in {:.1} s with {} participants, {} in flight{}\n",
            self.mode,
            self.operations,
            self.elapsed_s,
            self.participants,
            self.concurrency,
            self.target_rate_per_s
                .map(|r| format!(", target {r}/s"))
                .unwrap_or_default()
        );
        s.push_str(&format!(
            "  throughput  {:.0}/s ({:.0} committed/s)\n",
            self.throughput_per_s, self.committed_per_s
        ));
        let l = &self.latency;
        s.push_str(&format!(
            "  latency ms  p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}\n",
            l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms, l.max_ms
        ));
        for (k, v) in &self.outcomes {
            s.push_str(&format!("  {k:<20} {v}\n"));
        }
        if self.settlements > 0 || !self.settlement_errors.is_empty() {
            s.push_str(&format!(
                "  settlements          {} cycles to SETTLED during the load\n",
                self.settlements
            ));
            for e in &self.settlement_errors {
                s.push_str(&format!("  settlement error     {e}\n"));
            }
        }
        s
    }
}

/// Most participants a load onboards.
pub const PARTICIPANTS_MAX: usize = 1_000;

/// Onboards the participants and runs the load.
pub async fn run(
    mut op: Operator,
    participant_url: &str,
    spec: &LoadSpec,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<LoadReport> {
    anyhow::ensure!(
        (2..=PARTICIPANTS_MAX).contains(&spec.participants),
        "participants must be 2 to {PARTICIPANTS_MAX}"
    );
    anyhow::ensure!(spec.concurrency >= 1, "concurrency must be at least 1");
    let _ = op
        .client
        .add_currency(op.req(AddCurrencyRequest {
            currency: spec.currency.clone(),
        }))
        .await?;
    let run = uuid::Uuid::new_v4().simple().to_string()[..6].to_string();
    let mut members = Vec::with_capacity(spec.participants);
    let mut fspiop_members = Vec::new();
    let mut fspiop_quotes = Vec::new();
    if spec.mode.is_fspiop() {
        let hub = spec
            .hub
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("the FSPIOP modes need the admin and FSPIOP URLs"))?;
        for i in 0..spec.participants {
            let name = format!("load-{run}-{i}");
            let customers = (0..4)
                .map(|k| crate::dfsp::Customer {
                    party_type: PartyIdType::Msisdn,
                    id: network::customer_id(&name, k),
                    display_name: format!("{name} customer {k}"),
                })
                .collect();
            let dfsp = Arc::new(crate::dfsp::Dfsp::new(
                &name,
                crate::scenario::random_secret(),
                customers,
                vec![spec.currency.clone()],
                Decimal::ZERO,
            ));
            let mut stop = stop.clone();
            fspiop_members.push(
                crate::fspiop::onboard(
                    hub,
                    dfsp,
                    &spec.currency,
                    "1000000000000",
                    "1000000000000",
                    async move {
                        let _ = stop.wait_for(|s| *s).await;
                    },
                )
                .await?,
            );
        }
        // Transfers mode: one agreed quote per payer, to the next DFSP
        // (the registrations of parties are asynchronous: asked again
        // until they are in the oracle).
        if spec.mode == Mode::FspiopTransfers {
            for i in 0..fspiop_members.len() {
                let payer = &fspiop_members[i];
                let next = &fspiop_members[(i + 1) % fspiop_members.len()];
                let from = payer.dfsp.customers().next().cloned();
                let to = next.dfsp.customers().next().map(|c| PartyIdentifier {
                    r#type: c.party_type as i32,
                    id: c.id.clone(),
                    sub_id: String::new(),
                });
                let (Some(from), Some(to)) = (from, to) else {
                    anyhow::bail!("a simulated DFSP without customers");
                };
                let mut quoted = None;
                for _ in 0..50 {
                    match payer.quote(&from, &to, "10", &spec.currency).await {
                        Ok(q) => {
                            quoted = Some(q);
                            break;
                        }
                        Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                }
                fspiop_quotes
                    .push(quoted.ok_or_else(|| anyhow::anyhow!("no quote from {}", next.name()))?);
            }
        }
    }
    // ISO 8583 mode: the legacy host pays, the other participants (gRPC)
    // are paid.
    let mut hosts = Vec::new();
    if spec.mode == Mode::Iso8583 {
        let target = spec
            .iso8583
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("the ISO 8583 mode needs the gateway's address"))?;
        let legacy = crate::legacy::LegacySpec {
            name: target.participant.clone(),
            institution_id: target.institution_id.clone(),
            currency: spec.currency.clone(),
            liquidity: "1000000000000".into(),
            net_debit_cap: "1000000000000".into(),
            customers: 4,
            decline_every: 0,
        };
        let first =
            crate::legacy::onboard(&mut op, participant_url, &legacy, target.gateway).await?;
        let connections = spec.concurrency.div_ceil(ISO8583_IN_FLIGHT_PER_CONNECTION);
        for _ in 1..connections {
            hosts.push(first.another_connection().await?);
        }
        hosts.push(first);
    }
    let grpc_members = if spec.mode == Mode::Iso8583 {
        spec.participants - 1
    } else {
        spec.participants
    };
    for i in 0..grpc_members {
        if spec.mode.is_fspiop() {
            break;
        }
        let kind = if i % 2 == 0 {
            ParticipantKind::Bank
        } else {
            ParticipantKind::Wallet
        };
        let member_spec = MemberSpec::ample(format!("load-{run}-{i}"), kind, &spec.currency);
        let mut stop = stop.clone();
        members.push(
            network::onboard(&mut op, participant_url, &member_spec, async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await?,
        );
    }
    // Transfers mode: one agreed quote per payer, to the next participant.
    let mut quotes = Vec::new();
    if spec.mode == Mode::Transfers {
        for i in 0..members.len() {
            let payee = members[(i + 1) % members.len()].clone();
            let payer = &mut members[i];
            let party = payer
                .api
                .lookup_party(LookupPartyRequest {
                    party: Some(payee.customer(0)),
                    currency: spec.currency.clone(),
                })
                .await?
                .into_inner()
                .party;
            let q = payer
                .api
                .request_quote(QuoteRequest {
                    quote_id: uuid::Uuid::new_v4().to_string(),
                    transaction_id: uuid::Uuid::new_v4().to_string(),
                    payee: party,
                    payer: Some(Party {
                        fsp_id: payer.name.clone(),
                        ..Default::default()
                    }),
                    amount_type: AmountType::Send as i32,
                    amount: Some(Money {
                        amount: "10".into(),
                        currency: spec.currency.clone(),
                    }),
                    ..Default::default()
                })
                .await?
                .into_inner();
            quotes.push(q);
        }
    }
    let members = Arc::new(members);
    let hosts = Arc::new(hosts);
    let quotes = Arc::new(quotes);
    let fspiop_members = Arc::new(fspiop_members);
    let fspiop_quotes = Arc::new(fspiop_quotes);

    let bar = if spec.show_progress {
        let bar = ProgressBar::new(spec.count.unwrap_or(0));
        let template = if spec.count.is_some() {
            "{bar:40} {pos}/{len} {per_sec} {elapsed}"
        } else {
            "{spinner} {pos} operations {per_sec} {elapsed}"
        };
        bar.set_style(ProgressStyle::with_template(template)?);
        bar
    } else {
        ProgressBar::hidden()
    };
    let started = Instant::now();
    let deadline = started + spec.duration;
    let issued = Arc::new(AtomicU64::new(0));
    let histogram = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(
        1,
        600_000_000,
        3,
    )?));
    let outcomes = Arc::new(Mutex::new(BTreeMap::<String, u64>::new()));
    // Rate mode: a ticker hands out permits.
    let (permits_tx, permits_rx) = tokio::sync::mpsc::channel::<()>(spec.concurrency * 2);
    let permits_rx = Arc::new(Mutex::new(permits_rx));
    if let Some(rate) = spec.rate_per_s.filter(|r| *r > 0) {
        let period = Duration::from_nanos(1_000_000_000 / rate);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            while Instant::now() < deadline {
                tick.tick().await;
                if permits_tx.send(()).await.is_err() {
                    return;
                }
            }
        });
    } else {
        drop(permits_tx);
    }
    // Settlement cycles during the load, as an operator would run them.
    let settler = spec.settle_every.map(|every| {
        let mut op = op.clone();
        let currency = spec.currency.clone();
        tokio::spawn(async move {
            let (mut done, mut errors) = (0u64, Vec::new());
            loop {
                tokio::time::sleep(every).await;
                if Instant::now() >= deadline {
                    return (done, errors);
                }
                match crate::settlement::run_cycle(
                    &mut op,
                    &currency,
                    SettlementModel::DeferredMultilateralNet,
                    |_| {},
                )
                .await
                {
                    Ok(c) if c.settled.state == SettlementState::Settled as i32 => done += 1,
                    Ok(c) => errors.push(format!(
                        "settlement {} ended {}",
                        c.settled.settlement_id, c.settled.state
                    )),
                    Err(e) => errors.push(e.to_string()),
                }
                errors.truncate(SETTLEMENT_ERRORS_KEPT);
            }
        })
    });
    let rated = spec.rate_per_s.is_some();
    let mut workers = Vec::new();
    for w in 0..spec.concurrency {
        let members = members.clone();
        let hosts = hosts.clone();
        let quotes = quotes.clone();
        let fspiop_members = fspiop_members.clone();
        let fspiop_quotes = fspiop_quotes.clone();
        let issued = issued.clone();
        let histogram = histogram.clone();
        let outcomes = outcomes.clone();
        let permits = permits_rx.clone();
        let bar = bar.clone();
        let spec = spec.clone();
        workers.push(tokio::spawn(async move {
            let mut k = w;
            loop {
                if Instant::now() >= deadline {
                    return;
                }
                if rated && permits.lock().await.recv().await.is_none() {
                    return;
                }
                let n = issued.fetch_add(1, Ordering::Relaxed);
                if spec.count.is_some_and(|c| n >= c) {
                    return;
                }
                k += spec.concurrency;
                let t0 = Instant::now();
                let outcome = match spec.mode {
                    Mode::Fspiop | Mode::FspiopTransfers => {
                        fspiop_operation(&fspiop_members, &fspiop_quotes, &spec, k).await
                    }
                    Mode::Iso8583 => {
                        let host = &hosts[w % hosts.len()];
                        let payee = &members[k % members.len()];
                        let account = format!("{:013}", k % 4 + 1);
                        host.pay_outcome(&account, &payee.customer(k % 4).id, host.minor_units(10))
                            .await
                    }
                    Mode::Payments => {
                        let payer_index = k % members.len();
                        let payee: &Member =
                            &members[(payer_index + 1 + k / members.len() % (members.len() - 1))
                                % members.len()];
                        let mut api = members[payer_index].api.clone();
                        client::pay(
                            &mut api,
                            &members[payer_index].name,
                            members[payer_index].customer(k % 4),
                            payee.customer(k % 4),
                            "10",
                            &spec.currency,
                        )
                        .await
                    }
                    Mode::Transfers => {
                        let payer_index = k % members.len();
                        let mut api = members[payer_index].api.clone();
                        client::transfer_quote(&mut api, &quotes[payer_index]).await
                    }
                };
                let micros = t0.elapsed().as_micros().clamp(1, 600_000_000) as u64;
                let _ = histogram.lock().await.record(micros);
                *outcomes
                    .lock()
                    .await
                    .entry(outcome_label(&outcome))
                    .or_default() += 1;
                bar.inc(1);
            }
        }));
    }
    for w in workers {
        w.await?;
    }
    let (settlements, settlement_errors) = match settler {
        Some(task) => task.await?,
        None => (0, Vec::new()),
    };
    bar.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();
    let h = histogram.lock().await;
    let outcomes = outcomes.lock().await.clone();
    let operations: u64 = outcomes.values().sum();
    let committed = outcomes.get("committed").copied().unwrap_or(0);
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    Ok(LoadReport {
        mode: spec.mode,
        participants: spec.participants,
        concurrency: spec.concurrency,
        target_rate_per_s: spec.rate_per_s,
        elapsed_s: elapsed,
        operations,
        throughput_per_s: operations as f64 / elapsed.max(1e-9),
        committed_per_s: committed as f64 / elapsed.max(1e-9),
        settlements,
        settlement_errors,
        latency: Latency {
            p50_ms: ms(0.5),
            p90_ms: ms(0.9),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
            max_ms: h.max() as f64 / 1000.0,
        },
        outcomes,
    })
}

/// One operation of the FSPIOP modes: the `k`-th payer's transfer on its
/// agreed quote, or its payment to the customer of another DFSP.
async fn fspiop_operation(
    members: &[Arc<crate::fspiop::FspiopDfsp>],
    quotes: &[crate::fspiop::Quoted],
    spec: &LoadSpec,
    k: usize,
) -> Outcome {
    let n = members.len();
    let payer_index = k % n;
    let payer = &members[payer_index];
    if spec.mode == Mode::FspiopTransfers {
        let id = uuid::Uuid::new_v4().to_string();
        return payer.transfer(&quotes[payer_index], &id).await;
    }
    let payee = &members[(payer_index + 1 + k / n % (n - 1)) % n];
    let from = payer.dfsp.customers().nth(k % 4).cloned();
    let to = payee.dfsp.customers().nth(k % 4).map(|c| PartyIdentifier {
        r#type: c.party_type as i32,
        id: c.id.clone(),
        sub_id: String::new(),
    });
    match (from, to) {
        (Some(from), Some(to)) => payer.pay(&from, &to, "10", &spec.currency).await,
        _ => Outcome::Failed("lookup", 3204),
    }
}

fn outcome_label(o: &Outcome) -> String {
    o.label()
}
