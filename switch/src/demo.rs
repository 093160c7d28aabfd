//! `harambee demo`: a switch on the embedded default in a temporary data
//! directory, two banks and two wallets simulated in-process (each a real
//! gRPC PayeeCallback server on 127.0.0.1), a few hundred real payments over
//! gRPC, some failing for liquidity, limits and payee rejections, then a
//! summary.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use harambee_proto::v1::operator_api_client::OperatorApiClient;
use harambee_proto::v1::*;
use harambee_sim::client;
use harambee_sim::dfsp::{Behaviour, Customer, Dfsp};
use indicatif::{ProgressBar, ProgressStyle};
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use tonic::transport::Channel;

use crate::config::Config;
use crate::server;

/// Payments the demo makes.
pub const DEMO_PAYMENTS: usize = 400;
/// Payments in flight at once.
pub const DEMO_CONCURRENCY: usize = 16;
/// Customers per simulated participant.
pub const DEMO_CUSTOMERS: usize = 20;
const CURRENCY: &str = "KES";

struct Member {
    name: &'static str,
    kind: ParticipantKind,
    liquidity: &'static str,
    net_debit_cap: &'static str,
    behaviour: Behaviour,
}

const MEMBERS: [Member; 4] = [
    Member {
        name: "bank-a",
        kind: ParticipantKind::Bank,
        liquidity: "2000000",
        net_debit_cap: "1500000",
        behaviour: Behaviour::Honest,
    },
    Member {
        name: "bank-b",
        kind: ParticipantKind::Bank,
        liquidity: "1000000",
        net_debit_cap: "1000000",
        behaviour: Behaviour::RejectEvery(25),
    },
    // Little liquidity: some of its payments fail with 4001.
    Member {
        name: "wallet-c",
        kind: ParticipantKind::Wallet,
        liquidity: "60000",
        net_debit_cap: "500000",
        behaviour: Behaviour::Honest,
    },
    // Plenty of liquidity, a small net debit cap: some fail with 4200.
    Member {
        name: "wallet-d",
        kind: ParticipantKind::Wallet,
        liquidity: "900000",
        net_debit_cap: "40000",
        behaviour: Behaviour::Honest,
    },
];

fn operator_request<T>(token: &str, message: T) -> anyhow::Result<tonic::Request<T>> {
    let mut r = tonic::Request::new(message);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    Ok(r)
}

/// Runs the demo and prints its report. Returns an error if anything that
/// must hold does not (the ledger must balance, payments must commit).
pub async fn run(seed: u64) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let token = uuid::Uuid::new_v4().to_string();
    let config = Config {
        data_dir: dir.path().join("data"),
        participant_listen: "127.0.0.1:0".into(),
        operator_listen: "127.0.0.1:0".into(),
        metrics_listen: "127.0.0.1:0".into(),
        operator_token: token.clone(),
        ..Config::default()
    };
    println!(
        "Harambee demo: a switch on the embedded default (SQLite event log) in {}",
        dir.path().display()
    );
    let running = server::start(config).await?;
    let participant_url = format!("http://{}", running.participant_addr);
    println!("  participant API  {participant_url}");
    println!("  operator API     http://{}", running.operator_addr);
    if let Some(m) = running.metrics_addr {
        println!("  metrics          http://{m}/metrics");
    }

    let mut op = OperatorApiClient::new(
        Channel::from_shared(format!("http://{}", running.operator_addr))?
            .connect()
            .await?,
    );
    op.add_currency(operator_request(
        &token,
        AddCurrencyRequest {
            currency: CURRENCY.into(),
        },
    )?)
    .await?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut dfsps = Vec::new();
    let mut apis = Vec::new();
    for (i, m) in MEMBERS.iter().enumerate() {
        let customers: Vec<Customer> = (0..DEMO_CUSTOMERS)
            .map(|k| Customer {
                party_type: PartyIdType::Msisdn,
                id: format!("2547{:02}{:06}", i + 10, k),
                display_name: format!("Customer {k} of {}", m.name),
            })
            .collect();
        let mut secret = [0u8; 32];
        rand::rngs::StdRng::seed_from_u64(seed ^ (i as u64 + 1)).fill(&mut secret);
        let dfsp = Arc::new(Dfsp::new(
            m.name,
            secret,
            customers,
            vec![CURRENCY.into()],
            Decimal::new(10, 0),
        ));
        dfsp.set_behaviour(m.behaviour);
        let mut stop = stop_rx.clone();
        let (addr, _) = dfsp
            .clone()
            .serve("127.0.0.1:0", async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await?;
        let created = op
            .create_participant(operator_request(
                &token,
                CreateParticipantRequest {
                    fsp_id: m.name.into(),
                    kind: m.kind as i32,
                    name: m.name.into(),
                },
            )?)
            .await?
            .into_inner();
        op.set_endpoint(operator_request(
            &token,
            SetEndpointRequest {
                fsp_id: m.name.into(),
                url: format!("http://{addr}"),
            },
        )?)
        .await?;
        op.add_participant_currency(operator_request(
            &token,
            AddParticipantCurrencyRequest {
                fsp_id: m.name.into(),
                currency: CURRENCY.into(),
                net_debit_cap: m.net_debit_cap.into(),
                settlement_model: SettlementModel::DeferredMultilateralNet as i32,
            },
        )?)
        .await?;
        op.funds_in(operator_request(
            &token,
            FundsRequest {
                funds_id: uuid::Uuid::new_v4().to_string(),
                fsp_id: m.name.into(),
                amount: Some(Money {
                    amount: m.liquidity.into(),
                    currency: CURRENCY.into(),
                }),
                reason: "opening liquidity".into(),
            },
        )?)
        .await?;
        let mut api = client::connect(&participant_url, &created.credential)?;
        for c in dfsp.customers() {
            api.register_party(RegisterPartyRequest {
                party: Some(PartyIdentifier {
                    r#type: c.party_type as i32,
                    id: c.id.clone(),
                    sub_id: String::new(),
                }),
            })
            .await?;
        }
        println!(
            "  onboarded {:<9} {:<6} liquidity {:>9} {CURRENCY}, net debit cap {:>9} {CURRENCY}, {} customers, callback {addr}",
            m.name,
            if m.kind == ParticipantKind::Bank {
                "bank"
            } else {
                "wallet"
            },
            m.liquidity,
            m.net_debit_cap,
            DEMO_CUSTOMERS
        );
        dfsps.push(dfsp);
        apis.push(api);
    }

    // The payments: random payer, random payee customer of another member.
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut plan = Vec::with_capacity(DEMO_PAYMENTS);
    for _ in 0..DEMO_PAYMENTS {
        let payer = rng.random_range(0..MEMBERS.len());
        let mut payee = rng.random_range(0..MEMBERS.len() - 1);
        if payee >= payer {
            payee += 1;
        }
        let customer = rng.random_range(0..DEMO_CUSTOMERS);
        let amount = rng.random_range(50..20_000u32);
        plan.push((payer, payee, customer, amount));
    }
    let customers: Vec<Vec<Customer>> = dfsps
        .iter()
        .map(|d| {
            let mut c: Vec<Customer> = d.customers().cloned().collect();
            c.sort_by(|a, b| a.id.cmp(&b.id));
            c
        })
        .collect();

    let bar = ProgressBar::new(DEMO_PAYMENTS as u64);
    bar.set_style(
        ProgressStyle::with_template("  payments {bar:40} {pos}/{len} {per_sec} {msg}")?
            .progress_chars("=> "),
    );
    let started = Instant::now();
    let (results_tx, mut results_rx) = tokio::sync::mpsc::channel(DEMO_PAYMENTS);
    let work = Arc::new(tokio::sync::Mutex::new(plan.into_iter()));
    let mut workers = Vec::new();
    for _ in 0..DEMO_CONCURRENCY {
        let work = work.clone();
        let results_tx = results_tx.clone();
        let apis = apis.clone();
        let customers = customers.clone();
        workers.push(tokio::spawn(async move {
            loop {
                let next = work.lock().await.next();
                let Some((payer, payee, customer, amount)) = next else {
                    return;
                };
                let c = &customers[payee][customer];
                let party = PartyIdentifier {
                    r#type: c.party_type as i32,
                    id: c.id.clone(),
                    sub_id: String::new(),
                };
                let mut api = apis[payer].clone();
                let t0 = Instant::now();
                let outcome = client::pay(
                    &mut api,
                    MEMBERS[payer].name,
                    party,
                    &amount.to_string(),
                    CURRENCY,
                )
                .await;
                let _ = results_tx.send((outcome, t0.elapsed())).await;
            }
        }));
    }
    drop(results_tx);
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut latencies = Vec::with_capacity(DEMO_PAYMENTS);
    while let Some((outcome, latency)) = results_rx.recv().await {
        *outcomes.entry(outcome.label()).or_default() += 1;
        latencies.push(latency);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    latencies.sort();

    println!();
    println!(
        "Payments: {DEMO_PAYMENTS} in {:.2} s ({:.0}/s), {DEMO_CONCURRENCY} in flight, each lookup + quote + transfer",
        elapsed.as_secs_f64(),
        DEMO_PAYMENTS as f64 / elapsed.as_secs_f64()
    );
    if !latencies.is_empty() {
        let p =
            |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1000.0;
        println!(
            "  latency ms: p50 {:.1}  p99 {:.1}  max {:.1}",
            p(0.5),
            p(0.99),
            p(1.0)
        );
    }
    for (label, n) in &outcomes {
        let why = match label.as_str() {
            "committed" => "the money moved",
            "aborted 4001" => "payer's liquidity cover exceeded",
            "aborted 4200" => "payer's net debit cap exceeded",
            "aborted 5104" => "rejected by the payee",
            _ => "",
        };
        println!("  {label:<16} {n:>5}  {why}");
    }

    println!();
    println!("Positions ({CURRENCY}; position > 0: owes the scheme, < 0: is owed):");
    println!(
        "  {:<9} {:>12} {:>10} {:>12} {:>12} {:>12}",
        "", "position", "reserved", "liquidity", "cap", "available"
    );
    for m in &MEMBERS {
        let positions = op
            .get_positions(operator_request(
                &token,
                GetPositionsRequest {
                    fsp_id: m.name.into(),
                },
            )?)
            .await?
            .into_inner();
        for p in positions.positions {
            println!(
                "  {:<9} {:>12} {:>10} {:>12} {:>12} {:>12}",
                m.name, p.position, p.reserved, p.liquidity, p.net_debit_cap, p.available
            );
        }
    }
    let notified: u64 = dfsps
        .iter()
        .map(|d| {
            d.stats
                .committed_notifications
                .load(std::sync::atomic::Ordering::Relaxed)
        })
        .sum();
    let digest = op
        .get_ledger_digest(operator_request(&token, GetLedgerDigestRequest {})?)
        .await?
        .into_inner();
    println!();
    println!("Payees told of commits: {notified} notices");
    println!(
        "Ledger balanced:   {}",
        if digest.balanced { "yes" } else { "NO" }
    );
    println!("Ledger digest:     {}", digest.digest);
    println!(
        "Transfers held:    {}   event log records: {}",
        digest.transfer_count, digest.log_offset
    );
    println!();
    println!("Settlement (window close, net settlement) arrives with the settlement engine.");

    let _ = stop_tx.send(true);
    running.stop().await;
    anyhow::ensure!(digest.balanced, "the ledger does not balance");
    anyhow::ensure!(
        outcomes.get("committed").copied().unwrap_or(0) > 0,
        "no payment committed"
    );
    Ok(())
}
