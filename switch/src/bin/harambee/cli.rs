//! The command line: `serve`, `demo`, `audit`, `projections`, and the
//! operator commands (in [`crate::operator`]).

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use harambee_switch::{config::Config, server};

use crate::operator::{OperatorCmd, operator};

/// Exit status of `serve` when the ledger engine failed (EX_SOFTWARE).
const ENGINE_FAILED_EXIT_CODE: i32 = 70;

/// How long `serve` keeps answering NOT_SERVING after the engine failed,
/// before it exits.
const ENGINE_FAILED_EXIT_DELAY_MS: u64 = 500;

#[derive(Parser)]
#[command(
    name = "harambee",
    version,
    about = "Harambee: an interoperable instant-payment switch"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Runs the switch.
    Serve {
        /// TOML configuration file; HARAMBEE_* environment variables override it.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data directory (event log, snapshots); overrides the file.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Runs a switch with simulated banks and wallets making real payments.
    Demo {
        /// Seed of the payment mix.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// The whole run on mTLS, on a development PKI made for it.
        #[arg(long)]
        tls: bool,
        /// Also serves the operator console, and keeps the switch running
        /// after the payments (its window left for you to settle in the
        /// console) until Ctrl-C.
        #[arg(long, conflicts_with = "tls")]
        console: bool,
    },
    /// Exports or verifies the tamper-evident event log, offline.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Rebuilds the projections (transfers, postings, positions, parties,
    /// quotes) from the event log.
    Projections {
        #[command(subcommand)]
        action: ProjectionsAction,
    },
    /// Makes a development PKI: a scheme CA, and certificates for the
    /// switch, participants and operators (not for production: a scheme
    /// has its own CA).
    Pki(crate::pki::PkiArgs),
    /// Operator commands against a running switch.
    #[command(flatten)]
    Operator(OperatorCmd),
}

#[derive(Subcommand)]
enum ProjectionsAction {
    /// Replays the whole log and writes every projection row again (safe
    /// while the switch runs: rows are only replaced by the same or newer).
    Rebuild {
        /// The switch's TOML configuration; HARAMBEE_* variables override it.
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum AuditAction {
    /// Checks the hash chain and reports the first break (exit 1 if broken).
    Verify {
        /// A switch's data directory (stopped or running).
        #[arg(long, conflicts_with_all = ["file", "kafka_brokers"])]
        data_dir: Option<PathBuf>,
        /// An export written by `audit export`.
        #[arg(long, conflicts_with = "kafka_brokers")]
        file: Option<PathBuf>,
        #[command(flatten)]
        kafka: KafkaLogArgs,
    },
    /// Writes the log with its hash chain as JSON lines.
    Export {
        /// A switch's data directory (the embedded log).
        #[arg(long, conflicts_with = "kafka_brokers")]
        data_dir: Option<PathBuf>,
        #[command(flatten)]
        kafka: KafkaLogArgs,
        /// Output file; standard output without it.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Lists who did what and when: every change an operator made, with
    /// the operator, the role it acted in, the time and the record.
    Operators {
        /// A switch's data directory (the embedded log).
        #[arg(long, conflicts_with = "kafka_brokers")]
        data_dir: Option<PathBuf>,
        #[command(flatten)]
        kafka: KafkaLogArgs,
        /// Only this operator's actions.
        #[arg(long)]
        operator: Option<String>,
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// A log on Kafka, for the audit commands.
#[derive(clap::Args)]
struct KafkaLogArgs {
    /// Bootstrap servers of a log on Kafka ("host:port,...").
    #[arg(long)]
    kafka_brokers: Option<String>,
    /// The log topic.
    #[arg(long, default_value = "harambee.log")]
    kafka_topic: String,
}

impl KafkaLogArgs {
    fn target(&self) -> Option<harambee_log::kafka::KafkaTarget> {
        Some(harambee_log::kafka::KafkaTarget {
            brokers: self.kafka_brokers.clone()?,
            topic: self.kafka_topic.clone(),
            partition: 0,
        })
    }
}

fn init_tracing() {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is
/// called, not when the future is first polled: a signal that comes right
/// after the switch says it is ready is not lost.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Parses the command line and runs the command.
pub(crate) async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Serve { config, data_dir } => serve(config, data_dir).await,
        Cmd::Demo { seed, tls, console } => {
            if std::env::var_os("RUST_LOG").is_some() {
                init_tracing();
            }
            demo(seed, tls, console).await
        }
        Cmd::Audit { action } => audit(action).await,
        Cmd::Projections {
            action: ProjectionsAction::Rebuild { config, data_dir },
        } => {
            let mut config = Config::load(config.as_deref())?;
            if let Some(d) = data_dir {
                config.data_dir = d;
            }
            rebuild_projections(config).await
        }
        Cmd::Pki(args) => crate::pki::pki(args),
        Cmd::Operator(cmd) => operator(cmd).await,
    }
}

/// `serve`: runs the switch until SIGINT or SIGTERM, or until its engine
/// fails (exit 70, for the supervisor to restart it from its log).
async fn serve(config: Option<PathBuf>, data_dir: Option<PathBuf>) -> anyhow::Result<()> {
    init_tracing();
    // A write past RLIMIT_FSIZE is an error the stores handle (as
    // a full disk), not a signal that kills the process.
    harambee_switch::datadir::ignore_file_size_signal();
    let mut config = Config::load(config.as_deref())?;
    if let Some(d) = data_dir {
        config.data_dir = d;
    }
    let signal = shutdown_signal();
    let running = server::start(config).await?;
    // One line for scripts and tests that start the switch on port 0.
    println!(
        "harambee ready participant={} operator={} metrics={} cluster={}",
        running.participant_addr,
        running.operator_addr,
        running
            .metrics_addr
            .map(|a| a.to_string())
            .unwrap_or_default(),
        running
            .cluster_addr
            .map(|a| a.to_string())
            .unwrap_or_default()
    );
    tokio::select! {
        _ = signal => {}
        reason = running.failed() => {
            // Health says NOT_SERVING on every port already; give
            // load balancers a moment to see it, then exit for the
            // supervisor to restart the switch from its log.
            tracing::error!(%reason, "the ledger engine stopped; exiting so that the supervisor restarts the switch");
            tokio::time::sleep(std::time::Duration::from_millis(ENGINE_FAILED_EXIT_DELAY_MS)).await;
            std::process::exit(ENGINE_FAILED_EXIT_CODE);
        }
    }
    tracing::info!("shutting down");
    running.stop().await;
    Ok(())
}

async fn rebuild_projections(config: Config) -> anyhow::Result<()> {
    config.check()?;
    let log = server::open_log(&config).await?;
    let (store, _) = server::open_stores(&config).await?;
    let end = log.end().await?;
    let bar = indicatif::ProgressBar::new(end);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} replaying {pos}/{len} records [{bar:40}] {per_sec} eta {eta}",
        )?
        .progress_chars("=> "),
    );
    let started = std::time::Instant::now();
    let rebuilt =
        harambee_read::projection::rebuild_from_log(log.as_ref(), store.as_ref(), |offset| {
            bar.set_position(offset)
        })
        .await?;
    bar.finish_and_clear();
    println!(
        "rebuilt projections from {} records in {:.1} s: {} transfers, {} postings, {} positions",
        rebuilt.records,
        started.elapsed().as_secs_f64(),
        rebuilt.transfers,
        rebuilt.postings,
        rebuilt.positions
    );
    Ok(())
}

async fn audit(action: AuditAction) -> anyhow::Result<()> {
    use harambee_log::audit;
    match action {
        AuditAction::Verify {
            data_dir,
            file,
            kafka,
        } => {
            use harambee_log::sqlite::AuditError;
            let checked = match (data_dir, file, kafka.target()) {
                (Some(dir), None, None) => audit::verify_data_dir(&dir).await,
                (None, None, Some(target)) => audit::verify_kafka(target).await,
                (None, Some(path), None) => {
                    audit::verify_export(std::io::BufReader::new(std::fs::File::open(&path)?))?
                        .map_err(AuditError::Break)
                }
                _ => anyhow::bail!("give one of --data-dir, --file or --kafka-brokers"),
            };
            let result = match checked {
                Ok(v) => Ok(v),
                Err(AuditError::Break(b)) => Err(b),
                Err(e) => return Err(e.into()),
            };
            match result {
                Ok(v) => {
                    println!("verified {} records; head hash {}", v.records, v.head);
                    if v.void > 0 {
                        println!(
                            "{} void records (appended by a writer whose view was stale; never applied)",
                            v.void
                        );
                    }
                    Ok(())
                }
                Err(b) => {
                    println!("BROKEN at offset {}: {b}", b.offset());
                    std::process::exit(1);
                }
            }
        }
        AuditAction::Export {
            data_dir,
            kafka,
            out,
        } => {
            let mut sink: Box<dyn std::io::Write> = match out {
                Some(path) => Box::new(std::io::BufWriter::new(std::fs::File::create(&path)?)),
                None => Box::new(std::io::stdout().lock()),
            };
            let n = match (data_dir, kafka.target()) {
                (Some(dir), None) => audit::export(&dir, &mut sink).await?,
                (None, Some(target)) => audit::export_kafka(target, &mut sink).await?,
                _ => anyhow::bail!("give --data-dir or --kafka-brokers"),
            };
            sink.flush()?;
            eprintln!("exported {n} messages");
            Ok(())
        }
        AuditAction::Operators {
            data_dir,
            kafka,
            operator,
            json,
        } => {
            use std::io::Write as _;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            if !json {
                writeln!(
                    out,
                    "{:>8}  {:<24}  {:<16}  {:<19}  {:<26}  details",
                    "offset", "time (UTC)", "operator", "role", "action"
                )?;
            }
            let mut listed = 0u64;
            let each = |a: audit::OperatorAction| -> Result<(), harambee_log::sqlite::AuditError> {
                if operator.as_ref().is_some_and(|o| *o != a.operator) {
                    return Ok(());
                }
                listed += 1;
                if json {
                    serde_json::to_writer(&mut out, &a).map_err(std::io::Error::from)?;
                    writeln!(out)?;
                } else {
                    writeln!(
                        out,
                        "{:>8}  {:<24}  {:<16}  {:<19}  {:<26}  {}",
                        a.offset,
                        harambee_core::text::utc_datetime_ms(a.time_ms),
                        a.operator,
                        a.role,
                        a.action,
                        a.details
                    )?;
                }
                Ok(())
            };
            let read = match (data_dir, kafka.target()) {
                (Some(dir), None) => audit::operator_actions(&dir, each).await?,
                (None, Some(target)) => audit::operator_actions_kafka(target, each).await?,
                _ => anyhow::bail!("give --data-dir or --kafka-brokers"),
            };
            out.flush()?;
            drop(out);
            eprintln!("{listed} operator actions in {read} records");
            Ok(())
        }
    }
}

/// The demo, in a build that has it.
#[cfg(feature = "demo")]
async fn demo(seed: u64, tls: bool, console: bool) -> anyhow::Result<()> {
    let signal = console.then(shutdown_signal);
    harambee_switch::demo::run(seed, tls, signal).await
}

/// A production build leaves the simulated participants out.
#[cfg(not(feature = "demo"))]
async fn demo(_seed: u64, _tls: bool, _console: bool) -> anyhow::Result<()> {
    anyhow::bail!(
        "this build of harambee has no demo: production builds leave the simulated participants out. Run it with: cargo run --release --features demo -- demo"
    )
}
