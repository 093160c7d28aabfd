//! `harambee-sim`: simulated banks and wallets against a running switch.
//!
//! - `scenario`: runs the named scenarios and prints a pass/fail table;
//!   exits non-zero if any fails.
//! - `load`: closed-loop or target-rate load of payments or transfers (over
//!   gRPC, FSPIOP, or a legacy host's ISO 8583 through the gateway), with a
//!   progress bar, a summary and a JSON report.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use harambee_sim::load::{self, LoadSpec, Mode};
use harambee_sim::network::Operator;
use harambee_sim::scenario::{self, Runner};

/// mimalloc: the request path allocates many small, short-lived buffers
/// (protobuf, HTTP/2 frames, JSON records); glibc malloc cost about a
/// seventh of the CPU under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "harambee-sim",
    version,
    about = "Simulated participants for the Harambee switch"
)]
struct Cli {
    /// The switch's participant API.
    #[arg(
        long,
        env = "HARAMBEE_PARTICIPANT_URL",
        default_value = "http://127.0.0.1:7400",
        global = true
    )]
    participant_url: String,
    /// The switch's operator API (the simulator onboards its participants).
    #[arg(
        long,
        env = "HARAMBEE_OPERATOR_URL",
        default_value = "http://127.0.0.1:7401",
        global = true
    )]
    operator_url: String,
    /// The operator credential.
    #[arg(
        long,
        env = "HARAMBEE_OPERATOR_TOKEN",
        hide_env_values = true,
        global = true
    )]
    token: Option<String>,
    /// The switch's hub admin API (the FSPIOP modes onboard through it).
    #[arg(
        long,
        env = "HARAMBEE_ADMIN_URL",
        default_value = "http://127.0.0.1:7403",
        global = true
    )]
    admin_url: String,
    /// The switch's FSPIOP API (the FSPIOP modes pay through it).
    #[arg(
        long,
        env = "HARAMBEE_FSPIOP_URL",
        default_value = "http://127.0.0.1:7404",
        global = true
    )]
    fspiop_url: String,
    /// The name the switch's admin API gives the hub in paths
    /// (the switch's `fspiop.hub_name`).
    #[arg(
        long,
        env = "HARAMBEE_FSPIOP_HUB_NAME",
        default_value = "Hub",
        global = true
    )]
    hub_name: String,
    /// The switch's ISO 8583 gateway (the `iso8583` load mode's legacy
    /// host connects to it).
    #[arg(
        long,
        env = "HARAMBEE_ISO8583_ADDR",
        default_value = "127.0.0.1:7405",
        global = true
    )]
    iso8583_addr: std::net::SocketAddr,
    /// The host binding the switch has for the `iso8583` mode's legacy
    /// host: `INSTITUTION_ID=PARTICIPANT` (the switch's
    /// `iso8583.hosts` must bind it to this machine's address).
    #[arg(
        long,
        env = "HARAMBEE_SIM_ISO8583_HOST",
        default_value = "60001=load-legacy",
        global = true
    )]
    iso8583_host: String,
    /// Currency of the simulated participants.
    #[arg(long, default_value = "KES", global = true)]
    currency: String,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Runs scenarios (all, or those named) and prints a pass/fail table.
    Scenario {
        names: Vec<String>,
        /// Lists the scenarios and exits.
        #[arg(long)]
        list: bool,
    },
    /// Drives load and reports throughput and latency.
    Load {
        #[arg(long, value_enum, default_value = "payments")]
        mode: Mode,
        #[arg(long, default_value_t = 10)]
        participants: usize,
        /// Operations in flight (closed loop), or the most in flight at a target rate.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Target operations per second; without it, closed loop.
        #[arg(long)]
        rate: Option<u64>,
        #[arg(long, default_value_t = 10)]
        duration_s: u64,
        #[arg(long)]
        count: Option<u64>,
        /// Where to write the JSON report.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Run a settlement cycle (close the window, settle it to SETTLED)
        /// every this many seconds during the load.
        #[arg(long)]
        settle_every_s: Option<u64>,
    },
    /// A victim's payments at a steady rate, alone and then beside a
    /// participant flooding the switch: their latency and its ratio.
    Flood {
        /// The victim's payments a second.
        #[arg(long, default_value_t = 50)]
        victim_rate: u64,
        /// How long each phase lasts.
        #[arg(long, default_value_t = 10)]
        phase_s: u64,
        /// The flooder's payments in flight.
        #[arg(long, default_value_t = 512)]
        flood_concurrency: usize,
        /// Where to write the JSON report.
        #[arg(long)]
        report: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let token = cli
        .token
        .clone()
        .ok_or_else(|| anyhow::anyhow!("set --token or HARAMBEE_OPERATOR_TOKEN"))?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    match cli.command {
        Cmd::Scenario { list: true, .. } => {
            for (name, what) in scenario::SCENARIOS {
                println!("{name:<24} {what}");
            }
        }
        Cmd::Scenario { names, .. } => {
            let op = Operator::connect(&cli.operator_url, &token).await?;
            let mut runner = Runner::new(
                op,
                cli.participant_url.clone(),
                cli.currency.clone(),
                stop_rx,
            );
            let reports = runner.run(&names).await;
            print!("{}", scenario::table(&reports));
            let _ = stop_tx.send(true);
            anyhow::ensure!(!reports.is_empty(), "no scenario matched");
            anyhow::ensure!(reports.iter().all(|r| r.passed), "some scenarios failed");
        }
        Cmd::Load {
            mode,
            participants,
            concurrency,
            rate,
            duration_s,
            count,
            report,
            settle_every_s,
        } => {
            let op = Operator::connect(&cli.operator_url, &token).await?;
            let (institution_id, participant) = cli
                .iso8583_host
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("--iso8583-host is INSTITUTION_ID=PARTICIPANT"))?;
            let spec = LoadSpec {
                mode,
                participants,
                concurrency,
                rate_per_s: rate,
                duration: Duration::from_secs(duration_s),
                count,
                currency: cli.currency.clone(),
                show_progress: true,
                settle_every: settle_every_s.map(Duration::from_secs),
                hub: Some(harambee_sim::fspiop::Hub {
                    admin: cli.admin_url.clone(),
                    fspiop: cli.fspiop_url.clone(),
                    operator_token: token.clone(),
                    hub_name: cli.hub_name.clone(),
                    tls: None,
                }),
                iso8583: Some(load::Iso8583Target {
                    gateway: cli.iso8583_addr,
                    institution_id: institution_id.to_string(),
                    participant: participant.to_string(),
                }),
            };
            let result = load::run(op, &cli.participant_url, &spec, stop_rx).await?;
            print!("{}", result.summary());
            if let Some(path) = report {
                std::fs::write(&path, serde_json::to_string_pretty(&result)?)?;
                println!("report written to {}", path.display());
            }
            let _ = stop_tx.send(true);
        }
        Cmd::Flood {
            victim_rate,
            phase_s,
            flood_concurrency,
            report,
        } => {
            let op = Operator::connect(&cli.operator_url, &token).await?;
            let spec = harambee_sim::flood::FloodSpec {
                currency: cli.currency.clone(),
                victim_rate_per_s: victim_rate,
                phase: Duration::from_secs(phase_s),
                flood_concurrency,
            };
            let result = harambee_sim::flood::run(op, &cli.participant_url, &spec, stop_rx).await?;
            print!("{}", result.summary());
            if let Some(path) = report {
                std::fs::write(&path, serde_json::to_string_pretty(&result)?)?;
                println!("report written to {}", path.display());
            }
            let _ = stop_tx.send(true);
        }
    }
    Ok(())
}
