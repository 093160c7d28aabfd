//! The operator commands: a CLI over the Operator API of a running switch.

use clap::Subcommand;
use std::path::PathBuf;

use harambee_proto::v1::operator_api_client::OperatorApiClient;
use harambee_proto::v1::*;
use tonic::transport::Channel;

#[derive(Subcommand)]
pub(crate) enum OperatorCmd {
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
pub(crate) enum WindowAction {
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
pub(crate) enum SettlementAction {
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
pub(crate) enum KindArg {
    Bank,
    Wallet,
}

/// How a settlement nets.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum ModelArg {
    /// Deferred multilateral net.
    Multilateral,
    /// Deferred bilateral net.
    Bilateral,
}

/// The state a settlement account is moved to.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum TargetArg {
    Recorded,
    Reserved,
    Committed,
    Settled,
}

/// A settlement report.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum ReportArg {
    NetPositions,
    Bilateral,
    Transfers,
}

/// A report's format.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum FormatArg {
    Csv,
    Json,
}

#[derive(clap::Args)]
pub(crate) struct OperatorArgs {
    /// Operator API URL.
    #[arg(
        long,
        env = "HARAMBEE_OPERATOR_URL",
        default_value = "http://127.0.0.1:7401",
        global = true
    )]
    url: String,
    /// Operator credential (not needed with a client certificate).
    #[arg(
        long,
        env = "HARAMBEE_OPERATOR_TOKEN",
        hide_env_values = true,
        global = true
    )]
    token: Option<String>,
    /// The operator's client certificate (PEM), on an Operator API on
    /// TLS (an `https://` URL); it identifies the operator.
    #[arg(long, env = "HARAMBEE_OPERATOR_CERT", global = true, requires = "key")]
    cert: Option<PathBuf>,
    /// The key of `--cert` (PEM).
    #[arg(long, env = "HARAMBEE_OPERATOR_KEY", global = true, requires = "cert")]
    key: Option<PathBuf>,
    /// The scheme CA (PEM) the switch's certificate must chain to, for an
    /// `https://` URL.
    #[arg(long, env = "HARAMBEE_OPERATOR_CA", global = true)]
    ca: Option<PathBuf>,
}

impl OperatorArgs {
    /// A channel to the Operator API: on TLS for an `https://` URL,
    /// verifying the switch against `--ca`, presenting `--cert`.
    async fn connect(&self) -> anyhow::Result<Channel> {
        let mut endpoint = Channel::from_shared(self.url.clone())?;
        if self.url.starts_with("https://") {
            let ca = self
                .ca
                .as_ref()
                .ok_or_else(|| anyhow::anyhow!("an https:// URL needs --ca (the scheme CA)"))?;
            let mut tls = tonic::transport::ClientTlsConfig::new()
                .ca_certificate(tonic::transport::Certificate::from_pem(std::fs::read(ca)?));
            if let (Some(cert), Some(key)) = (&self.cert, &self.key) {
                tls = tls.identity(tonic::transport::Identity::from_pem(
                    std::fs::read(cert)?,
                    std::fs::read(key)?,
                ));
            }
            endpoint = endpoint.tls_config(tls)?;
        }
        Ok(endpoint.connect().await?)
    }
}

#[derive(Subcommand)]
pub(crate) enum ParticipantAction {
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
    /// Registers a client certificate (PEM file) as the participant's
    /// identity on mTLS; up to eight at once, for a rollover.
    AddCertificate {
        fsp_id: String,
        certificate: PathBuf,
    },
    /// Removes a registration (revocation: effective for the next call).
    RemoveCertificate {
        fsp_id: String,
        /// SHA-256 of the certificate's DER, 64 hex digits.
        sha256: String,
    },
    /// The participant's registered certificates and issuers.
    Certificates {
        fsp_id: String,
    },
    /// Registers the participant by a CA (PEM file: the scheme CA or the
    /// participant's own) and the subject its certificates bear: any
    /// certificate of that CA with that subject is the participant's, and
    /// its callback servers may present certificates of that CA.
    AddIssuer {
        fsp_id: String,
        ca: PathBuf,
        /// The subject, as the switch prints subjects ("C=KE, O=Bank A,
        /// CN=bank-a").
        #[arg(
            long,
            conflicts_with = "subject_of",
            required_unless_present = "subject_of"
        )]
        subject: Option<String>,
        /// Take the subject from this certificate (PEM) of the participant.
        #[arg(long)]
        subject_of: Option<PathBuf>,
    },
    /// Removes an issuer registration (effective for the next call).
    RemoveIssuer {
        fsp_id: String,
        /// SHA-256 of the CA certificate's DER, 64 hex digits.
        ca_sha256: String,
        #[arg(long)]
        subject: String,
    },
}

/// The subject of the first certificate in a PEM file, as the switch
/// compares subjects.
fn subject_of(path: &std::path::Path) -> anyhow::Result<String> {
    let pem =
        std::fs::read(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    let der = harambee_tls::certificates_from_pem(&pem)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    harambee_service::certificates::subject_of_der(der[0].as_ref())
        .ok_or_else(|| anyhow::anyhow!("{}: not an X.509 certificate", path.display()))
}

#[derive(Subcommand)]
pub(crate) enum FundsAction {
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

/// A response as the CLI prints it.
fn show<T: std::fmt::Debug>(response: tonic::Response<T>) -> String {
    format!("{:#?}", response.into_inner())
}

fn req<T>(token: &str, message: T) -> anyhow::Result<tonic::Request<T>> {
    let mut r = tonic::Request::new(message);
    if !token.is_empty() {
        r.metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
    }
    Ok(r)
}

/// Money as the API takes it.
fn money(amount: String, currency: String) -> Option<Money> {
    Some(Money { amount, currency })
}

/// The id given, or a fresh UUID.
fn fresh(id: Option<String>) -> String {
    id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

pub(crate) async fn operator(cmd: OperatorCmd) -> anyhow::Result<()> {
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
    // With a client certificate the connection says who the operator is;
    // a token is not needed (and not looked at).
    let token = match (&args.token, &args.cert) {
        (Some(t), _) => t.clone(),
        (None, Some(_)) => String::new(),
        (None, None) => {
            anyhow::bail!("set --token or HARAMBEE_OPERATOR_TOKEN, or --cert and --key")
        }
    };
    let mut c = OperatorApiClient::new(args.connect().await?);
    let t = token.as_str();
    let result: Result<String, tonic::Status> = match cmd {
        OperatorCmd::Participant { action, .. } => participant(&mut c, t, action).await?,
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
        OperatorCmd::Funds { action, .. } => funds(&mut c, t, action).await?,
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
        OperatorCmd::Settlement { action, .. } => settlement(&mut c, t, action).await?,
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

/// `participant` subcommands.
async fn participant(
    c: &mut OperatorApiClient<Channel>,
    t: &str,
    action: ParticipantAction,
) -> anyhow::Result<Result<String, tonic::Status>> {
    Ok(match action {
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
        ParticipantAction::AddCertificate {
            fsp_id,
            certificate,
        } => c
            .add_participant_certificate(req(
                t,
                AddParticipantCertificateRequest {
                    fsp_id,
                    certificate_pem: std::fs::read_to_string(&certificate)
                        .map_err(|e| anyhow::anyhow!("reading {}: {e}", certificate.display()))?,
                },
            )?)
            .await
            .map(show),
        ParticipantAction::RemoveCertificate { fsp_id, sha256 } => c
            .remove_participant_certificate(req(
                t,
                RemoveParticipantCertificateRequest { fsp_id, sha256 },
            )?)
            .await
            .map(show),
        ParticipantAction::Certificates { fsp_id } => c
            .list_participant_certificates(req(t, ListParticipantCertificatesRequest { fsp_id })?)
            .await
            .map(show),
        ParticipantAction::AddIssuer {
            fsp_id,
            ca,
            subject,
            subject_of: sample,
        } => {
            let subject = match (subject, sample) {
                (Some(s), _) => s,
                (None, Some(path)) => subject_of(&path)?,
                (None, None) => anyhow::bail!("give --subject or --subject-of"),
            };
            c.add_participant_issuer(req(
                t,
                AddParticipantIssuerRequest {
                    fsp_id,
                    ca_certificate_pem: std::fs::read_to_string(&ca)
                        .map_err(|e| anyhow::anyhow!("reading {}: {e}", ca.display()))?,
                    subject,
                },
            )?)
            .await
            .map(show)
        }
        ParticipantAction::RemoveIssuer {
            fsp_id,
            ca_sha256,
            subject,
        } => c
            .remove_participant_issuer(req(
                t,
                RemoveParticipantIssuerRequest {
                    fsp_id,
                    ca_sha256,
                    subject,
                },
            )?)
            .await
            .map(show),
    })
}

/// `funds` subcommands.
async fn funds(
    c: &mut OperatorApiClient<Channel>,
    t: &str,
    action: FundsAction,
) -> anyhow::Result<Result<String, tonic::Status>> {
    Ok(match action {
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
    })
}

/// `settlement` subcommands.
async fn settlement(
    c: &mut OperatorApiClient<Channel>,
    t: &str,
    action: SettlementAction,
) -> anyhow::Result<Result<String, tonic::Status>> {
    Ok(match action {
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
    })
}
