//! `harambee`: the switch (`serve`), the demo (`demo`), and an operator CLI
//! over the Operator API.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use harambee_proto::v1::operator_api_client::OperatorApiClient;
use harambee_proto::v1::*;
use harambee_switch::{config::Config, demo, server};
use tonic::transport::Channel;

/// mimalloc: the request path allocates many small, short-lived buffers
/// (protobuf, HTTP/2 frames, JSON records); glibc malloc cost about a
/// seventh of the CPU under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

#[derive(Subcommand)]
enum OperatorCmd {
    /// Participants: create, list, show, activate, deactivate, set endpoint.
    Participant {
        #[command(subcommand)]
        action: ParticipantAction,
        #[command(flatten)]
        op: OperatorArgs,
    },
    /// Enables a currency on the hub.
    Currency {
        currency: String,
        #[command(flatten)]
        op: OperatorArgs,
    },
    /// Opens a participant's accounts in a currency with a net debit cap.
    Accounts {
        fsp_id: String,
        currency: String,
        net_debit_cap: String,
        #[command(flatten)]
        op: OperatorArgs,
    },
    /// Sets a net debit cap.
    Limit {
        fsp_id: String,
        currency: String,
        net_debit_cap: String,
        #[command(flatten)]
        op: OperatorArgs,
    },
    /// Funds in and out.
    Funds {
        #[command(subcommand)]
        action: FundsAction,
        #[command(flatten)]
        op: OperatorArgs,
    },
    /// A participant's positions.
    Positions {
        fsp_id: String,
        #[command(flatten)]
        op: OperatorArgs,
    },
    /// One transfer, or the transfers of a participant.
    Transfers {
        /// A transfer id; without it, lists.
        transfer_id: Option<String>,
        #[arg(long, default_value = "")]
        fsp_id: String,
        #[command(flatten)]
        op: OperatorArgs,
    },
    /// The ledger digest and whether it balances.
    Digest {
        #[command(flatten)]
        op: OperatorArgs,
    },
    /// Settlement windows: list, show, close.
    Window {
        #[command(subcommand)]
        action: WindowAction,
        #[command(flatten)]
        op: OperatorArgs,
    },
    /// Settlements: create, list, show, advance, abort, report.
    Settlement {
        #[command(subcommand)]
        action: SettlementAction,
        #[command(flatten)]
        op: OperatorArgs,
    },
}

#[derive(Subcommand)]
enum WindowAction {
    /// Windows of a currency (all currencies without one).
    List {
        #[arg(long, default_value = "")]
        currency: String,
    },
    Show {
        window_id: u64,
    },
    /// Closes the open window of a currency; the next opens at once.
    Close {
        currency: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
}

#[derive(Subcommand)]
enum SettlementAction {
    /// Creates a settlement over closed windows.
    Create {
        currency: String,
        /// The windows to settle.
        #[arg(required = true)]
        window_ids: Vec<u64>,
        #[arg(long, value_enum, default_value_t = ModelArg::Multilateral)]
        model: ModelArg,
        #[arg(long, default_value = "")]
        reason: String,
    },
    List,
    Show {
        settlement_id: u64,
    },
    /// Moves one participant's account to the next state: recorded,
    /// reserved, committed or settled.
    Advance {
        settlement_id: u64,
        fsp_id: String,
        #[arg(value_enum)]
        target: TargetArg,
        #[arg(long, default_value = "")]
        external_reference: String,
    },
    Abort {
        settlement_id: u64,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Writes a report: net-positions, bilateral or transfers, as JSON or
    /// CSV, to a file (standard output without --out).
    Report {
        settlement_id: u64,
        #[arg(value_enum)]
        kind: ReportArg,
        #[arg(long, value_enum, default_value_t = FormatArg::Csv)]
        format: FormatArg,
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// A participant's kind.
#[derive(Clone, Copy, clap::ValueEnum)]
enum KindArg {
    Bank,
    Wallet,
}

/// How a settlement nets.
#[derive(Clone, Copy, clap::ValueEnum)]
enum ModelArg {
    /// Deferred multilateral net.
    Multilateral,
    /// Deferred bilateral net.
    Bilateral,
}

/// The state a settlement account is moved to.
#[derive(Clone, Copy, clap::ValueEnum)]
enum TargetArg {
    Recorded,
    Reserved,
    Committed,
    Settled,
}

/// A settlement report.
#[derive(Clone, Copy, clap::ValueEnum)]
enum ReportArg {
    NetPositions,
    Bilateral,
    Transfers,
}

/// A report's format.
#[derive(Clone, Copy, clap::ValueEnum)]
enum FormatArg {
    Csv,
    Json,
}

#[derive(clap::Args)]
struct OperatorArgs {
    /// Operator API URL.
    #[arg(
        long,
        env = "HARAMBEE_OPERATOR_URL",
        default_value = "http://127.0.0.1:7401",
        global = true
    )]
    url: String,
    /// Operator credential.
    #[arg(
        long,
        env = "HARAMBEE_OPERATOR_TOKEN",
        hide_env_values = true,
        global = true
    )]
    token: Option<String>,
}

#[derive(Subcommand)]
enum ParticipantAction {
    Create {
        fsp_id: String,
        #[arg(long, value_enum, default_value_t = KindArg::Bank)]
        kind: KindArg,
    },
    List,
    Show {
        fsp_id: String,
    },
    Activate {
        fsp_id: String,
    },
    Deactivate {
        fsp_id: String,
    },
    Endpoint {
        fsp_id: String,
        url: String,
    },
}

#[derive(Subcommand)]
enum FundsAction {
    In {
        fsp_id: String,
        amount: String,
        currency: String,
        #[arg(long)]
        id: Option<String>,
    },
    OutReserve {
        fsp_id: String,
        amount: String,
        currency: String,
        #[arg(long)]
        id: Option<String>,
    },
    OutCommit {
        id: String,
    },
    OutAbort {
        id: String,
    },
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Serve { config, data_dir } => {
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
        Cmd::Demo { seed } => {
            if std::env::var_os("RUST_LOG").is_some() {
                init_tracing();
            }
            demo::run(seed).await
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
        Cmd::Operator(cmd) => operator(cmd).await,
    }
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
        harambee_switch::projection::rebuild_from_log(log.as_ref(), store.as_ref(), |offset| {
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
    }
}

/// A response as the CLI prints it.
fn show<T: std::fmt::Debug>(response: tonic::Response<T>) -> String {
    format!("{:#?}", response.into_inner())
}

fn req<T>(token: &str, message: T) -> anyhow::Result<tonic::Request<T>> {
    let mut r = tonic::Request::new(message);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    Ok(r)
}

async fn operator(cmd: OperatorCmd) -> anyhow::Result<()> {
    let args = match &cmd {
        OperatorCmd::Participant { op, .. }
        | OperatorCmd::Currency { op, .. }
        | OperatorCmd::Accounts { op, .. }
        | OperatorCmd::Limit { op, .. }
        | OperatorCmd::Funds { op, .. }
        | OperatorCmd::Positions { op, .. }
        | OperatorCmd::Transfers { op, .. }
        | OperatorCmd::Window { op, .. }
        | OperatorCmd::Settlement { op, .. }
        | OperatorCmd::Digest { op } => op,
    };
    let token = args
        .token
        .clone()
        .ok_or_else(|| anyhow::anyhow!("set --token or HARAMBEE_OPERATOR_TOKEN"))?;
    let mut c = OperatorApiClient::new(Channel::from_shared(args.url.clone())?.connect().await?);
    let t = token.as_str();
    let money = |amount: String, currency: String| Some(Money { amount, currency });
    let fresh = |id: Option<String>| id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let result: Result<String, tonic::Status> = match cmd {
        OperatorCmd::Participant { action, .. } => match action {
            ParticipantAction::Create { fsp_id, kind } => {
                let kind = match kind {
                    KindArg::Bank => ParticipantKind::Bank,
                    KindArg::Wallet => ParticipantKind::Wallet,
                };
                c.create_participant(req(
                    t,
                    CreateParticipantRequest {
                        fsp_id: fsp_id.clone(),
                        kind: kind as i32,
                        name: fsp_id,
                    },
                )?)
                .await
                .map(show)
            }
            ParticipantAction::List => c
                .list_participants(req(t, ListParticipantsRequest::default())?)
                .await
                .map(show),
            ParticipantAction::Show { fsp_id } => c
                .get_participant(req(t, GetParticipantRequest { fsp_id })?)
                .await
                .map(show),
            ParticipantAction::Activate { fsp_id } => c
                .set_participant_active(req(
                    t,
                    SetParticipantActiveRequest {
                        fsp_id,
                        active: true,
                    },
                )?)
                .await
                .map(show),
            ParticipantAction::Deactivate { fsp_id } => c
                .set_participant_active(req(
                    t,
                    SetParticipantActiveRequest {
                        fsp_id,
                        active: false,
                    },
                )?)
                .await
                .map(show),
            ParticipantAction::Endpoint { fsp_id, url } => c
                .set_endpoint(req(t, SetEndpointRequest { fsp_id, url })?)
                .await
                .map(show),
        },
        OperatorCmd::Currency { currency, .. } => c
            .add_currency(req(t, AddCurrencyRequest { currency })?)
            .await
            .map(show),
        OperatorCmd::Accounts {
            fsp_id,
            currency,
            net_debit_cap,
            ..
        } => c
            .add_participant_currency(req(
                t,
                AddParticipantCurrencyRequest {
                    fsp_id,
                    currency,
                    net_debit_cap,
                    settlement_model: 0,
                },
            )?)
            .await
            .map(show),
        OperatorCmd::Limit {
            fsp_id,
            currency,
            net_debit_cap,
            ..
        } => c
            .set_net_debit_cap(req(
                t,
                SetNetDebitCapRequest {
                    fsp_id,
                    currency,
                    net_debit_cap,
                },
            )?)
            .await
            .map(show),
        OperatorCmd::Funds { action, .. } => match action {
            FundsAction::In {
                fsp_id,
                amount,
                currency,
                id,
            } => c
                .funds_in(req(
                    t,
                    FundsRequest {
                        funds_id: fresh(id),
                        fsp_id,
                        amount: money(amount, currency),
                        reason: String::new(),
                    },
                )?)
                .await
                .map(show),
            FundsAction::OutReserve {
                fsp_id,
                amount,
                currency,
                id,
            } => c
                .funds_out_reserve(req(
                    t,
                    FundsRequest {
                        funds_id: fresh(id),
                        fsp_id,
                        amount: money(amount, currency),
                        reason: String::new(),
                    },
                )?)
                .await
                .map(show),
            FundsAction::OutCommit { id } => c
                .funds_out_commit(req(
                    t,
                    FundsActionRequest {
                        funds_id: id,
                        reason: String::new(),
                    },
                )?)
                .await
                .map(show),
            FundsAction::OutAbort { id } => c
                .funds_out_abort(req(
                    t,
                    FundsActionRequest {
                        funds_id: id,
                        reason: String::new(),
                    },
                )?)
                .await
                .map(show),
        },
        OperatorCmd::Positions { fsp_id, .. } => c
            .get_positions(req(t, GetPositionsRequest { fsp_id })?)
            .await
            .map(show),
        OperatorCmd::Transfers {
            transfer_id: Some(transfer_id),
            ..
        } => c
            .get_transfer(req(t, GetTransferRequest { transfer_id })?)
            .await
            .map(show),
        OperatorCmd::Transfers {
            transfer_id: None,
            fsp_id,
            ..
        } => c
            .list_transfers(req(
                t,
                ListTransfersRequest {
                    fsp_id,
                    ..Default::default()
                },
            )?)
            .await
            .map(show),
        OperatorCmd::Digest { .. } => c
            .get_ledger_digest(req(t, GetLedgerDigestRequest {})?)
            .await
            .map(show),
        OperatorCmd::Window { action, .. } => match action {
            WindowAction::List { currency } => c
                .list_settlement_windows(req(
                    t,
                    ListSettlementWindowsRequest {
                        currency,
                        ..Default::default()
                    },
                )?)
                .await
                .map(show),
            WindowAction::Show { window_id } => c
                .get_settlement_window(req(t, GetSettlementWindowRequest { window_id })?)
                .await
                .map(show),
            WindowAction::Close { currency, reason } => c
                .close_settlement_window(req(t, CloseSettlementWindowRequest { currency, reason })?)
                .await
                .map(show),
        },
        OperatorCmd::Settlement { action, .. } => match action {
            SettlementAction::Create {
                currency,
                window_ids,
                model,
                reason,
            } => {
                let model = match model {
                    ModelArg::Multilateral => SettlementModel::DeferredMultilateralNet,
                    ModelArg::Bilateral => SettlementModel::DeferredBilateralNet,
                };
                c.create_settlement(req(
                    t,
                    CreateSettlementRequest {
                        currency,
                        model: model as i32,
                        window_ids,
                        reason,
                    },
                )?)
                .await
                .map(show)
            }
            SettlementAction::List => c
                .list_settlements(req(t, ListSettlementsRequest::default())?)
                .await
                .map(show),
            SettlementAction::Show { settlement_id } => c
                .get_settlement(req(t, GetSettlementRequest { settlement_id })?)
                .await
                .map(show),
            SettlementAction::Advance {
                settlement_id,
                fsp_id,
                target,
                external_reference,
            } => {
                let target = match target {
                    TargetArg::Recorded => SettlementState::PsTransfersRecorded,
                    TargetArg::Reserved => SettlementState::PsTransfersReserved,
                    TargetArg::Committed => SettlementState::PsTransfersCommitted,
                    TargetArg::Settled => SettlementState::Settled,
                };
                c.advance_settlement_participant(req(
                    t,
                    AdvanceSettlementParticipantRequest {
                        settlement_id,
                        fsp_id,
                        target: target as i32,
                        reason: String::new(),
                        external_reference,
                    },
                )?)
                .await
                .map(show)
            }
            SettlementAction::Abort {
                settlement_id,
                reason,
            } => c
                .abort_settlement(req(
                    t,
                    AbortSettlementRequest {
                        settlement_id,
                        reason,
                    },
                )?)
                .await
                .map(show),
            SettlementAction::Report {
                settlement_id,
                kind,
                format,
                out,
            } => {
                let kind = match kind {
                    ReportArg::NetPositions => ReportKind::NetPositions,
                    ReportArg::Bilateral => ReportKind::BilateralMatrix,
                    ReportArg::Transfers => ReportKind::Transfers,
                };
                let format = match format {
                    FormatArg::Csv => ReportFormat::Csv,
                    FormatArg::Json => ReportFormat::Json,
                };
                match c
                    .get_settlement_report(req(
                        t,
                        GetSettlementReportRequest {
                            settlement_id,
                            kind: kind as i32,
                            format: format as i32,
                        },
                    )?)
                    .await
                {
                    Ok(r) => {
                        let r = r.into_inner();
                        match out {
                            Some(path) => {
                                std::fs::write(&path, &r.content)?;
                                Ok(format!("{} written to {}", r.file_name, path.display()))
                            }
                            None => Ok(String::from_utf8_lossy(&r.content).into_owned()),
                        }
                    }
                    Err(e) => Err(e),
                }
            }
        },
    };
    match result {
        Ok(text) => {
            println!("{text}");
            Ok(())
        }
        Err(status) => {
            let e = harambee_proto::fspiop::FspiopError::from_status(&status);
            anyhow::bail!("error {}: {}", e.code, e.description)
        }
    }
}
