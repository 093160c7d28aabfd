//! `harambee demo`: a switch on the embedded default in a temporary data
//! directory, two banks and two wallets simulated in-process on gRPC (each
//! a real PayeeCallback server on 127.0.0.1) and one wallet on FSPIOP (a
//! real HTTP server, onboarded through the admin API as a Mojaloop DFSP
//! is) and one legacy bank host on ISO 8583 (a real TCP client of the
//! switch's gateway), a few hundred real payments among them, some
//! failing for liquidity, limits and payee rejections, then a settlement
//! and a summary.
//!
//! With `--tls` the whole run is on mTLS, on a development PKI made for
//! it: the participant, Operator, FSPIOP and admin APIs and the ISO 8583
//! gateway on TLS, bearer
//! credentials off, every member identified by its registered
//! certificate, the operator by its certificate in the operators file,
//! and the switch's callbacks to the members on HTTPS and gRPC over TLS,
//! presenting the switch's certificate; the legacy host reaches the ISO
//! 8583 gateway on TLS with its registered certificate.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use harambee_proto::v1::*;
use harambee_sim::client;
use harambee_sim::dfsp::{Behaviour, Customer, Dfsp};
use harambee_sim::fspiop::{self, FspiopDfsp};
use harambee_sim::legacy::{self, LegacyHost, LegacySpec};
use harambee_sim::network::{self, MemberSpec, Operator};
use harambee_sim::tls::SchemePki;
use indicatif::{ProgressBar, ProgressStyle};
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;

use crate::config::{ApiConfig, Config};
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

/// The wallet on FSPIOP, after the gRPC members.
const FSPIOP_WALLET: &str = "wallet-e";
const FSPIOP_LIQUIDITY: &str = "800000";
const FSPIOP_NET_DEBIT_CAP: &str = "800000";

/// The legacy bank on ISO 8583, after the FSPIOP wallet: its institution
/// id (field 32) and its host's rule (declines every 20th credit).
const LEGACY_BANK: &str = "bank-f";
const LEGACY_INSTITUTION: &str = "60001";
const LEGACY_LIQUIDITY: &str = "1000000";
const LEGACY_NET_DEBIT_CAP: &str = "1000000";
const LEGACY_DECLINE_EVERY: u64 = 20;

/// Every participant's name: the gRPC members, the FSPIOP wallet, the
/// legacy bank.
fn names() -> Vec<&'static str> {
    MEMBERS
        .iter()
        .map(|m| m.name)
        .chain([FSPIOP_WALLET, LEGACY_BANK])
        .collect()
}

/// The k-th customer of the FSPIOP wallet.
fn fspiop_customer(k: usize) -> PartyIdentifier {
    PartyIdentifier {
        r#type: PartyIdType::Msisdn as i32,
        id: network::customer_id(FSPIOP_WALLET, k),
        sub_id: String::new(),
    }
}

/// The demo's operator on mTLS.
const TLS_OPERATOR: &str = "demo-operator";

/// Runs the demo and prints its report. Returns an error if anything that
/// must hold does not (the ledger must balance, payments must commit).
/// `tls`: the whole run on mTLS. `console`: the operator console on too,
/// and after the payments the switch keeps running, its window open for
/// the newcomer to close and settle in the console, until `console`
/// resolves (the binary's SIGINT or SIGTERM).
pub async fn run(
    seed: u64,
    tls: bool,
    console: Option<impl std::future::Future<Output = ()>>,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        !(tls && console.is_some()),
        "--console runs without --tls: the console's sign-in is the demo's operator token"
    );
    let dir = tempfile::tempdir()?;
    let token = uuid::Uuid::new_v4().to_string();
    let mut config = Config {
        data_dir: dir.path().join("data"),
        api: ApiConfig {
            participant_listen: "127.0.0.1:0".into(),
            operator_listen: "127.0.0.1:0".into(),
            metrics_listen: "127.0.0.1:0".into(),
            operator_token: token.clone(),
            ..ApiConfig::default()
        },
        fspiop: crate::config::FspiopConfig {
            admin_listen: "127.0.0.1:0".into(),
            listen: "127.0.0.1:0".into(),
            ..crate::config::FspiopConfig::default()
        },
        iso8583: crate::config::Iso8583Config {
            listen: "127.0.0.1:0".into(),
            hosts: vec![format!("{LEGACY_INSTITUTION}={LEGACY_BANK}@127.0.0.1")],
            ..crate::config::Iso8583Config::default()
        },
        ..Config::default()
    };
    if console.is_some() {
        config.console.listen = "127.0.0.1:0".into();
    }
    // On mTLS: a scheme CA for the run, the switch's and the operator's
    // certificates, and an operators file naming the operator by its
    // certificate's digest.
    let scheme = if tls {
        let scheme = Arc::new(SchemePki::open(&dir.path().join("pki"))?);
        let switch = scheme.switch()?;
        let operator = scheme.operator(TLS_OPERATOR)?;
        let operators_file = dir.path().join("operators.toml");
        let file = crate::config::OperatorsFile {
            operators: vec![crate::config::OperatorConfig {
                name: TLS_OPERATOR.into(),
                roles: ["hub-operator", "settlement-operator", "auditor"]
                    .map(String::from)
                    .to_vec(),
                token_sha256: String::new(),
                certificate_sha256: operator.issued.sha256_hex(),
            }],
        };
        std::fs::write(&operators_file, toml::to_string(&file)?)?;
        config.api.operator_token = String::new();
        config.api.operators_file = operators_file.display().to_string();
        config.api.participant_bearer = false;
        config.tls.cert_file = switch.issued.cert_file.display().to_string();
        config.tls.key_file = switch.issued.key_file.display().to_string();
        config.tls.ca_file = scheme.ca_file().display().to_string();
        config.tls.participant_api = true;
        config.tls.operator_api = true;
        config.tls.fspiop_api = true;
        config.tls.admin_api = true;
        config.tls.iso8583 = true;
        Some((scheme, operator))
    } else {
        None
    };
    println!(
        "Harambee demo: a switch on the embedded default (SQLite event log) in {}{}",
        dir.path().display(),
        if tls {
            ", on mTLS (a development PKI made for the run)"
        } else {
            ""
        }
    );
    let hub_name = config.fspiop.hub_name.clone();
    let running = server::start(config).await?;
    // On TLS the switch is reached by the name its certificate holds.
    let url = |addr: std::net::SocketAddr| {
        if tls {
            format!("https://localhost:{}", addr.port())
        } else {
            format!("http://{addr}")
        }
    };
    let participant_url = url(running.participant_addr);
    println!("  participant API  {participant_url}");
    println!("  operator API     {}", url(running.operator_addr));
    let (Some(admin_addr), Some(fspiop_addr)) = (running.admin_addr, running.fspiop_addr) else {
        anyhow::bail!("the demo needs the FSPIOP and admin APIs");
    };
    println!("  FSPIOP API       {}", url(fspiop_addr));
    println!("  hub admin API    {}", url(admin_addr));
    let Some(iso8583_addr) = running.iso8583_addr else {
        anyhow::bail!("the demo needs the ISO 8583 gateway");
    };
    println!(
        "  ISO 8583 gateway {iso8583_addr}{}",
        if tls {
            " (plain TCP: not on TLS yet)"
        } else {
            ""
        }
    );
    if let Some(m) = running.metrics_addr {
        println!("  metrics          http://{m}/metrics");
    }

    let mut op = match &scheme {
        Some((scheme, operator)) => {
            println!(
                "  operator         {TLS_OPERATOR}, by its certificate (sha256 {})",
                operator.issued.sha256_hex()
            );
            Operator::connect_tls(&url(running.operator_addr), operator, scheme.clone()).await?
        }
        None => Operator::connect(&url(running.operator_addr), &token).await?,
    };
    op.client
        .add_currency(op.req(AddCurrencyRequest {
            currency: CURRENCY.into(),
        }))
        .await?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut members = Vec::new();
    for (i, m) in MEMBERS.iter().enumerate() {
        let mut secret = [0u8; 32];
        rand::rngs::StdRng::seed_from_u64(seed ^ (i as u64 + 1)).fill(&mut secret);
        let spec = MemberSpec {
            name: m.name.into(),
            kind: m.kind,
            currency: CURRENCY.into(),
            liquidity: m.liquidity.into(),
            net_debit_cap: m.net_debit_cap.into(),
            customers: DEMO_CUSTOMERS,
            fee: Decimal::new(10, 0),
            behaviour: m.behaviour,
            secret,
        };
        let mut stop = stop_rx.clone();
        let member = network::onboard(&mut op, &participant_url, &spec, async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await?;
        println!(
            "  onboarded {:<9} {:<6} liquidity {:>9} {CURRENCY}, net debit cap {:>9} {CURRENCY}, {} customers, callback {}",
            m.name,
            if m.kind == ParticipantKind::Bank {
                "bank"
            } else {
                "wallet"
            },
            m.liquidity,
            m.net_debit_cap,
            DEMO_CUSTOMERS,
            member.callback
        );
        members.push(member);
    }

    // The wallet on FSPIOP, onboarded as a Mojaloop operator does.
    let mut secret = [0u8; 32];
    rand::rngs::StdRng::seed_from_u64(seed ^ 0xf5).fill(&mut secret);
    let customers = (0..DEMO_CUSTOMERS)
        .map(|k| Customer {
            party_type: PartyIdType::Msisdn,
            id: network::customer_id(FSPIOP_WALLET, k),
            display_name: format!("{FSPIOP_WALLET} customer {k}"),
        })
        .collect();
    let dfsp = Arc::new(Dfsp::new(
        FSPIOP_WALLET,
        secret,
        customers,
        vec![CURRENCY.into()],
        Decimal::new(10, 0),
    ));
    let hub = fspiop::Hub {
        admin: url(admin_addr),
        fspiop: url(fspiop_addr),
        operator_token: if tls { String::new() } else { token.clone() },
        hub_name,
        tls: scheme.as_ref().map(|(_, identity)| fspiop::HubTls {
            operator: op.clone(),
            identity: identity.clone(),
        }),
    };
    let mut stop = stop_rx.clone();
    let wallet: Arc<FspiopDfsp> = fspiop::onboard(
        &hub,
        dfsp,
        CURRENCY,
        FSPIOP_LIQUIDITY,
        FSPIOP_NET_DEBIT_CAP,
        async move {
            let _ = stop.wait_for(|s| *s).await;
        },
    )
    .await?;
    println!(
        "  onboarded {FSPIOP_WALLET:<9} wallet liquidity {FSPIOP_LIQUIDITY:>9} {CURRENCY}, net debit cap {FSPIOP_NET_DEBIT_CAP:>9} {CURRENCY}, {DEMO_CUSTOMERS} customers, on FSPIOP (admin API, {} callbacks)",
        if tls { "HTTPS" } else { "HTTP" }
    );

    // The legacy bank: its host connects to the gateway and signs on.
    let host: Arc<LegacyHost> = legacy::onboard(
        &mut op,
        &participant_url,
        &LegacySpec {
            name: LEGACY_BANK.into(),
            institution_id: LEGACY_INSTITUTION.into(),
            currency: CURRENCY.into(),
            liquidity: LEGACY_LIQUIDITY.into(),
            net_debit_cap: LEGACY_NET_DEBIT_CAP.into(),
            customers: DEMO_CUSTOMERS,
            decline_every: LEGACY_DECLINE_EVERY,
        },
        iso8583_addr,
    )
    .await?;
    println!(
        "  onboarded {LEGACY_BANK:<9} bank   liquidity {LEGACY_LIQUIDITY:>9} {CURRENCY}, net debit cap {LEGACY_NET_DEBIT_CAP:>9} {CURRENCY}, {DEMO_CUSTOMERS} customers, a legacy host on ISO 8583 (institution {LEGACY_INSTITUTION}, signed on{})",
        if tls { ", on TLS" } else { "" }
    );

    // The payments: random payer, random payee customer of another member.
    let participants = MEMBERS.len() + 2;
    let (fspiop_index, legacy_index) = (MEMBERS.len(), MEMBERS.len() + 1);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut plan = Vec::with_capacity(DEMO_PAYMENTS);
    for _ in 0..DEMO_PAYMENTS {
        let payer = rng.random_range(0..participants);
        let mut payee = rng.random_range(0..participants - 1);
        if payee >= payer {
            payee += 1;
        }
        let customer = rng.random_range(0..DEMO_CUSTOMERS);
        let amount = rng.random_range(50..20_000u32);
        plan.push((payer, payee, customer, amount));
    }
    let bar = ProgressBar::new(DEMO_PAYMENTS as u64);
    bar.set_style(
        ProgressStyle::with_template("  payments {bar:40} {pos}/{len} {per_sec} {msg}")?
            .progress_chars("=> "),
    );
    let started = Instant::now();
    let (results_tx, mut results_rx) = tokio::sync::mpsc::channel(DEMO_PAYMENTS);
    // Payments the FSPIOP wallet, and the legacy bank, make or receive.
    let over = |index: usize| {
        plan.iter()
            .filter(|(payer, payee, _, _)| *payer == index || *payee == index)
            .count()
    };
    let (over_fspiop, over_iso8583) = (over(fspiop_index), over(legacy_index));
    let work = Arc::new(tokio::sync::Mutex::new(plan.into_iter()));
    let mut workers = Vec::new();
    for _ in 0..DEMO_CONCURRENCY {
        let work = work.clone();
        let results_tx = results_tx.clone();
        let members = members.clone();
        let wallet = wallet.clone();
        let host = host.clone();
        workers.push(tokio::spawn(async move {
            loop {
                let next = work.lock().await.next();
                let Some((payer, payee, customer, amount)) = next else {
                    return;
                };
                let party = match members.get(payee) {
                    Some(m) => m.customer(customer),
                    None if payee == fspiop_index => fspiop_customer(customer),
                    None => PartyIdentifier {
                        r#type: PartyIdType::Msisdn as i32,
                        id: host.customer(customer).unwrap_or_default().to_string(),
                        sub_id: String::new(),
                    },
                };
                let t0 = Instant::now();
                let outcome = match members.get(payer) {
                    None if payer == legacy_index => {
                        let account = format!("{:013}", customer + 1);
                        host.pay_outcome(&account, &party.id, host.minor_units(u64::from(amount)))
                            .await
                    }
                    Some(m) => {
                        let mut api = m.api.clone();
                        client::pay(
                            &mut api,
                            MEMBERS[payer].name,
                            m.customer(customer),
                            party,
                            &amount.to_string(),
                            CURRENCY,
                        )
                        .await
                    }
                    None => {
                        let from = wallet
                            .dfsp
                            .customer_of(PartyIdType::Msisdn, &fspiop_customer(customer).id)
                            .cloned();
                        match from {
                            Some(from) => {
                                wallet
                                    .pay(&from, &party, &amount.to_string(), CURRENCY)
                                    .await
                            }
                            None => client::Outcome::Failed("lookup", 3204),
                        }
                    }
                };
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
    println!(
        "  {over_fspiop} of them to or from {FSPIOP_WALLET} over FSPIOP (GET /parties, POST /quotes, POST /transfers and their callbacks)"
    );
    println!(
        "  {over_iso8583} of them to or from {LEGACY_BANK} over ISO 8583 (its 0200s answered 0210; the switch's 0200 credits to it, answered 0210)"
    );
    println!("  the rest over gRPC");
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
            "declined 39=51" => "the legacy bank's 0200 over its liquidity (4001)",
            "declined 39=61" => "the legacy bank's 0200 over its net debit cap (4200)",
            "declined 39=05" => "the legacy bank's 0200 rejected by the payee",
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
    for name in names() {
        for p in op.positions(name).await? {
            println!(
                "  {:<9} {:>12} {:>10} {:>12} {:>12} {:>12}",
                name, p.position, p.reserved, p.liquidity, p.net_debit_cap, p.available
            );
        }
    }
    let notified: u64 = members
        .iter()
        .map(|m| {
            m.dfsp
                .stats
                .committed_notifications
                .load(std::sync::atomic::Ordering::Relaxed)
        })
        .sum();
    let digest = op
        .client
        .get_ledger_digest(op.req(GetLedgerDigestRequest {}))
        .await?
        .into_inner();
    let owed = host.decimal(host.owed_minor());
    let stats = &host.stats;
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    println!();
    println!(
        "The legacy host's books ({LEGACY_BANK}, ISO 8583): {} of its 0200s approved, {} credits approved and {} declined, {} reversals, {} echo tests",
        load(&stats.payments_approved),
        load(&stats.credits_approved),
        load(&stats.credits_declined),
        load(&stats.reversals),
        load(&stats.echoes),
    );
    let legacy_position = op
        .positions(LEGACY_BANK)
        .await?
        .into_iter()
        .next()
        .map(|p| p.position)
        .unwrap_or_default();
    let agrees = legacy_position.parse::<Decimal>().ok() == Some(owed);
    println!(
        "  it owes the scheme {owed} {CURRENCY} by its books; the switch's position: {legacy_position} ({})",
        if agrees {
            "they agree"
        } else {
            "THEY DISAGREE"
        }
    );
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

    if let Some(wait) = console {
        let addr = running
            .console_addr
            .ok_or_else(|| anyhow::anyhow!("the console did not start"))?;
        println!();
        println!("The operator console: http://{addr}/");
        println!("  sign in with the operator token {token}");
        println!(
            "  then, under Settlement: close the {CURRENCY} window, settle it multilateral net, advance every participant to SETTLED, download the reports"
        );
        println!("  the switch keeps running; Ctrl-C stops it");
        wait.await;
        println!("stopping");
        let _ = stop_tx.send(true);
        running.stop().await;
        anyhow::ensure!(digest.balanced, "the ledger does not balance");
        anyhow::ensure!(
            outcomes.get("committed").copied().unwrap_or(0) > 0,
            "no payment committed"
        );
        return Ok(());
    }

    // The settlement operator's day: close the window, settle it net.
    println!();
    println!("Settlement: the window closes and is settled multilateral net");
    let cycle = harambee_sim::settlement::run_cycle(
        &mut op,
        CURRENCY,
        SettlementModel::DeferredMultilateralNet,
        |step| {
            let name = step.as_str_name().trim_start_matches("SETTLEMENT_STATE_");
            println!("  every account -> {name}");
        },
    )
    .await?;
    println!(
        "  window {} closed: {} transfers, {} {CURRENCY}",
        cycle.window.window_id, cycle.window.transfer_count, cycle.window.transfer_amount
    );
    let state = SettlementState::try_from(cycle.settled.state)
        .map(|s| s.as_str_name().trim_start_matches("SETTLEMENT_STATE_"))
        .unwrap_or("?");
    println!("  settlement {}: {state}", cycle.settled.settlement_id);
    println!("  net positions report (positive: pays, negative: is paid):");
    for line in cycle.net_positions_csv.lines() {
        println!("    {line}");
    }
    println!("  bilateral matrix:");
    for line in cycle.bilateral_csv.lines() {
        println!("    {line}");
    }
    println!("  positions after settlement:");
    for name in names() {
        for p in op.positions(name).await? {
            println!(
                "    {:<9} position {:>12}  liquidity {:>12}",
                name, p.position, p.liquidity
            );
        }
    }
    let after = op
        .client
        .get_ledger_digest(op.req(GetLedgerDigestRequest {}))
        .await?
        .into_inner();
    println!(
        "  ledger balanced:   {}",
        if after.balanced { "yes" } else { "NO" }
    );
    if !tls {
        println!();
        println!(
            "To close and settle the window yourself in the operator console: harambee demo --console"
        );
    }

    let _ = stop_tx.send(true);
    running.stop().await;
    anyhow::ensure!(digest.balanced, "the ledger does not balance");
    anyhow::ensure!(
        agrees,
        "the legacy host's books ({owed}) and its position ({legacy_position}) disagree"
    );
    anyhow::ensure!(
        after.balanced,
        "the ledger does not balance after settlement"
    );
    anyhow::ensure!(
        cycle.settled.state == SettlementState::Settled as i32,
        "the settlement did not reach SETTLED"
    );
    anyhow::ensure!(
        outcomes.get("committed").copied().unwrap_or(0) > 0,
        "no payment committed"
    );
    Ok(())
}
