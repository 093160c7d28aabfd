//! Starting and stopping a switch: the event log, the engine, the two gRPC
//! servers, the metrics endpoint and the background tasks.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use harambee_proto::cluster::v1::cluster_server::ClusterServer;
use harambee_proto::v1::operator_api_server::OperatorApiServer;
use harambee_proto::v1::participant_api_server::ParticipantApiServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::config::{LogKind, StoreKind};
use crate::datadir::DataDirLock;
use harambee_cluster::{CLUSTER_MESSAGE_MAX_BYTES, ClusterService, GrpcForwarder};
use harambee_grpc::edge::Ctx;
use harambee_grpc::operator_api::OperatorService;
use harambee_grpc::participant_api::ParticipantService;

use harambee_engine::election::Election;
use harambee_engine::engine::{Engine, EngineHealth, EngineOptions, Forwarder, Leadership};
use harambee_engine::snapshots::{PgSnapshots, SnapshotStore, SqliteSnapshots};
use harambee_proto::client::Channels;
use harambee_read::projection::{PgProjections, ProjectionStore, SqliteProjections};

use harambee_fspiop::payees::{FspiopNotices, FspiopOracle, FspiopPayees, Pending};
use harambee_grpc::callbacks::{GrpcNotices, GrpcOracle, GrpcPayees};
use harambee_log::CommandLog;
use harambee_log::kafka;
use harambee_log::sqlite::SqliteLog;
use harambee_service::auth::CredentialAuthenticator;
use harambee_service::ports::{Routed, RoutedNotices, RoutedOracle, SystemClock};
use harambee_service::{Ports, Service, Settings};

/// The embedded stores in a data directory, with their WAL files: what a
/// starting process reads from the disk, not from the page cache.
pub const EMBEDDED_FILES: &[&str] = &[
    "log.db",
    "log.db-wal",
    "snapshots.db",
    "snapshots.db-wal",
    "projections.db",
    "projections.db-wal",
];

/// A running switch.
pub struct Running {
    pub participant_addr: SocketAddr,
    pub operator_addr: SocketAddr,
    pub metrics_addr: Option<SocketAddr>,
    /// The Cluster API, when `cluster = true`.
    pub cluster_addr: Option<SocketAddr>,
    /// The hub admin API (HTTP/JSON), unless `fspiop.admin_listen` is empty.
    pub admin_addr: Option<SocketAddr>,
    /// The operator console, when `console.listen` is set.
    pub console_addr: Option<SocketAddr>,
    /// The FSPIOP v1.1 API, unless `fspiop.listen` is empty.
    pub fspiop_addr: Option<SocketAddr>,
    /// The ISO 8583 gateway, when `iso8583.listen` is set.
    pub iso8583_addr: Option<SocketAddr>,
    pub ctx: Ctx,
    /// The read side's store (for tools and tests that read it).
    pub projections: Arc<dyn ProjectionStore>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    election: Option<(Arc<Election>, Arc<dyn Forwarder>)>,
    health: watch::Receiver<EngineHealth>,
    /// Released last, when everything else has stopped.
    lock: DataDirLock,
}

impl Running {
    /// Resolves, with the reason, if the engine fails: the switch can then
    /// no longer serve, and the process must exit (see `engine`).
    pub async fn failed(&self) -> String {
        let mut health = self.health.clone();
        match health
            .wait_for(|h| matches!(h, EngineHealth::Failed(_)))
            .await
        {
            Ok(h) => match &*h {
                EngineHealth::Failed(reason) => reason.clone(),
                _ => String::new(),
            },
            Err(_) => std::future::pending().await,
        }
    }

    /// Stops accepting requests, lets in-flight ones finish, stops the tasks.
    pub async fn stop(self) {
        let Running {
            shutdown,
            tasks,
            ctx,
            election,
            lock,
            ..
        } = self;
        let _ = shutdown.send(true);
        // The engine stops once every handle to it is gone: servers and
        // tasks first, the engine (the first task) last.
        drop(ctx);
        for task in tasks.into_iter().rev() {
            if tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .is_err()
            {
                tracing::warn!("a task did not stop within 30 s");
            }
        }
        // Leave the writer group last: another node takes over at once.
        drop(election);
        drop(lock);
    }
}

/// Largest Operator API answer (a page of transfers or postings).
pub const OPERATOR_RESPONSE_MAX_BYTES: usize = 16 << 20;

/// The file in the data directory that holds the key the ISO 8583
/// gateway derives its hosts' conditions and fulfilments from.
pub const ISO8583_SECRET_FILE: &str = "iso8583-secret";

/// The gateway's key: read from the data directory, or made (32 random
/// bytes, owner-only) on the first start.
fn iso8583_secret(data_dir: &std::path::Path) -> anyhow::Result<[u8; 32]> {
    let path = data_dir.join(ISO8583_SECRET_FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let text = text.trim();
        anyhow::ensure!(
            text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()),
            "{}: not 64 hex digits",
            path.display()
        );
        let mut key = [0u8; 32];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16)?;
        }
        return Ok(key);
    }
    let key: [u8; 32] = rand::random();
    let text: String = key.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::create_dir_all(data_dir)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(&path)?, text.as_bytes())?;
    Ok(key)
}

/// Starts a switch on the embedded backends in `config.data_dir`.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    config.check()?;
    // One process per data directory, and it starts from what the disk
    // holds (a predecessor may have seen writes fail).
    let lock = DataDirLock::acquire(&config.data_dir)?;
    let files: Vec<_> = EMBEDDED_FILES
        .iter()
        .map(|f| config.data_dir.join(f))
        .collect();
    crate::datadir::read_from_disk(&files)?;
    let (log, trail) = open_log_with_trail(&config).await?;
    let (projections, snapshots) = open_stores(&config).await?;
    // The scheme PKI, when configured: the APIs on TLS, the cluster link,
    // and the switch's calls to `https://` endpoints (verified against
    // the scheme CA, the switch presenting its own certificate).
    let pki = if config.tls.pki_configured() {
        Some(harambee_tls::Pki::load(
            std::path::Path::new(&config.tls.cert_file),
            std::path::Path::new(&config.tls.key_file),
            std::path::Path::new(&config.tls.ca_file),
        )?)
    } else {
        None
    };
    // In a cluster: the Cluster API's address (announced in the log when
    // this node becomes the writer) and the writer election.
    let mut cluster_listener = None;
    let mut election = None;
    let leadership = if config.cluster.enabled {
        let listener = TcpListener::bind(&config.cluster.listen).await?;
        let scheme = if config.tls.cluster { "https" } else { "http" };
        let url = if config.cluster.advertise_url.is_empty() {
            format!("{scheme}://{}", listener.local_addr()?)
        } else {
            config.cluster.advertise_url.clone()
        };
        let node = if config.cluster.node_name.is_empty() {
            format!("node-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
        } else {
            config.cluster.node_name.clone()
        };
        let joined = Election::join(
            &config.kafka.brokers,
            &config.kafka.topic,
            config.kafka.replication,
            config.kafka.session_timeout_ms,
            &node,
        )
        .await?;
        let elected = joined.elected();
        let mut grpc_forwarder = GrpcForwarder::new(&config.cluster.token);
        if let Some(pki) = &pki {
            grpc_forwarder = grpc_forwarder.with_tls(pki.grpc_client_config());
        }
        let forwarder: Arc<dyn Forwarder> = Arc::new(grpc_forwarder);
        election = Some((Arc::new(joined), forwarder.clone()));
        cluster_listener = Some(listener);
        tracing::info!(%node, %url, "cluster node");
        Leadership::Elected {
            elected,
            node,
            url,
            forwarder,
        }
    } else {
        Leadership::Sole
    };
    let projections_handle = projections.clone();
    let (engine, engine_task) = Engine::start(
        log,
        Some(snapshots),
        EngineOptions {
            snapshot_interval_records: config.ledger.snapshot_interval_records,
            ledger_capacity_transfers: config.ledger.capacity_transfers,
            feed_bytes_max: harambee_engine::feed::FEED_BYTES_MAX,
        },
        leadership,
    )
    .await?;
    let health = engine.health();
    let (shutdown, stop) = watch::channel(false);
    let mut tasks = vec![engine_task];
    // Participants registered by a CA and a subject: the TLS layer trusts
    // those CAs beside the scheme CA, for the participants' certificates
    // and for their callback servers.
    let issuers: Arc<dyn harambee_service::ports::IssuerRegistry> = Arc::new(
        harambee_service::certificates::DirectoryIssuers::new(engine.clone()),
    );
    let client_tls = match &pki {
        Some(pki) => Some(pki.client_config_with(Some(issuers.clone()))?),
        None => None,
    };
    let channels = Arc::new(match &pki {
        Some(pki) => {
            let registry = issuers.clone();
            Channels::with_tls(pki.grpc_client_config()).with_host_anchors(Arc::new(
                move |host: &str| {
                    registry
                        .callback_anchors(host)
                        .iter()
                        .map(|der| harambee_tls::pem_of_der(der))
                        .collect()
                },
            ))
        }
        None => Channels::default(),
    });
    // What the switch asked of FSPIOP participants, answered by their
    // callbacks to the FSPIOP API.
    let pending = Arc::new(Pending::default());
    // The switch's signing key and participants' keys (FSPIOP signatures).
    let signer = if !config.fspiop.sign_callbacks || config.fspiop.listen.is_empty() {
        None
    } else if config.fspiop.jws_signing_key.is_empty() && config.cluster.enabled {
        // Every node answers as the hub: they need one key between them,
        // which a node cannot make on its own.
        tracing::warn!(
            "the switch's FSPIOP messages go unsigned: in a cluster, set fspiop.jws_signing_key to the same key on every node"
        );
        None
    } else if config.fspiop.jws_signing_key.is_empty() {
        let path = config.data_dir.join(harambee_fspiop::jws::SIGNING_KEY_FILE);
        // Making a key takes a moment of CPU: off the runtime's workers.
        let (signer, made) =
            tokio::task::spawn_blocking(move || harambee_fspiop::jws::Signer::load_or_make(&path))
                .await??;
        let path = config.data_dir.join(harambee_fspiop::jws::SIGNING_KEY_FILE);
        if made {
            tracing::info!(key = %path.display(), "made the switch's FSPIOP signing key; give participants its public key, beside it");
        }
        Some(Arc::new(signer))
    } else {
        Some(Arc::new(harambee_fspiop::jws::Signer::from_file(
            std::path::Path::new(&config.fspiop.jws_signing_key),
        )?))
    };
    let keys = if config.fspiop.jws_verification_keys.is_empty() {
        None
    } else {
        Some(Arc::new(harambee_fspiop::jws::Keys::from_dir(
            std::path::Path::new(&config.fspiop.jws_verification_keys),
        )?))
    };
    // The switch's callbacks to FSPIOP participants, one sender for all.
    // The ISO 8583 gateway's payee port: its hosts' conditions come from a
    // key kept in the data directory (made on the first start).
    let iso8583_payees = harambee_iso8583_gateway::Iso8583Payees::new(
        iso8583_secret(&config.data_dir)?,
        &config.iso8583.institution_id,
    );
    let authenticator = Arc::new(CredentialAuthenticator::new(
        engine.clone(),
        &auth_settings(&config)?,
    ));
    if !config.api.operators_file.is_empty() {
        tasks.push(tokio::spawn(reload_operators_on_hangup(
            authenticator.clone(),
            std::path::PathBuf::from(&config.api.operators_file),
            stop.clone(),
        )));
    }
    let mut callbacks = harambee_fspiop::callbacks::Callbacks::new(signer.clone())
        .with_hub_name(&config.fspiop.hub_name);
    if let Some(tls) = &client_tls {
        callbacks = callbacks.with_tls(tls.clone());
    }
    let service = Service::new(
        engine.clone(),
        projections.clone(),
        Ports {
            payees: Arc::new(Routed {
                grpc: Arc::new(GrpcPayees {
                    channels: channels.clone(),
                }),
                fspiop: Arc::new(match &client_tls {
                    Some(tls) => {
                        FspiopPayees::new(pending.clone(), signer.clone()).with_tls(tls.clone())
                    }
                    None => FspiopPayees::new(pending.clone(), signer.clone()),
                }),
                iso8583: iso8583_payees.clone(),
            }),
            oracle: Arc::new(RoutedOracle {
                grpc: Arc::new(GrpcOracle {
                    channels: channels.clone(),
                }),
                fspiop: Arc::new(match &client_tls {
                    Some(tls) => FspiopOracle::default()
                        .with_hub_name(&config.fspiop.hub_name)
                        .with_tls(tls.clone()),
                    None => FspiopOracle::default().with_hub_name(&config.fspiop.hub_name),
                }),
            }),
            authenticator: authenticator.clone(),
            clock: Arc::new(SystemClock),
            audit: Some(trail),
        },
        settings(&config),
        stop.clone(),
    );
    let ctx = Ctx {
        service: service.clone(),
    };

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    // gRPC health on every port tells what the engine can do, at once.
    tasks.push(tokio::spawn(report_health(
        health_reporter,
        health.clone(),
        config.cluster.enabled,
        stop.clone(),
    )));
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(harambee_proto::FILE_DESCRIPTOR_SET)
        .build_v1()?;

    let limit = config.api.message_size_max_bytes;
    // TLS, where configured: participants' client certificates are
    // verified against the scheme CA or a CA a participant is registered
    // by (required when bearer credentials are off), operators' against
    // the scheme CA (optional).
    let acceptor = |on: bool,
                    clients: harambee_tls::ClientCertificates,
                    alpn: &[u8],
                    facing: Facing|
     -> anyhow::Result<Option<harambee_tls::Acceptor>> {
        // An empty protocol: none offered (ISO 8583 has no ALPN name).
        let protocols: &[&[u8]] = if alpn.is_empty() {
            &[]
        } else {
            std::slice::from_ref(&alpn)
        };
        match (&pki, on) {
            (Some(pki), true) if facing == Facing::Participants => Ok(Some(
                harambee_tls::Acceptor::new(
                    pki.server_config_with(Some(clients), protocols, Some(issuers.clone()))?,
                    config.tls.handshake_timeout_ms,
                )
                .with_issuers(issuers.clone()),
            )),
            (Some(pki), true) => Ok(Some(harambee_tls::Acceptor::new(
                pki.server_config(Some(clients), protocols)?,
                config.tls.handshake_timeout_ms,
            ))),
            _ => Ok(None),
        }
    };
    let participants = if config.api.participant_bearer {
        harambee_tls::ClientCertificates::Optional
    } else {
        harambee_tls::ClientCertificates::Required
    };
    let operators = harambee_tls::ClientCertificates::Optional;
    use Facing::{Participants, Scheme};
    let participant_tls = acceptor(
        config.tls.participant_api,
        participants,
        b"h2",
        Participants,
    )?;
    let operator_tls = acceptor(config.tls.operator_api, operators, b"h2", Scheme)?;
    let fspiop_tls = acceptor(
        config.tls.fspiop_api,
        participants,
        b"http/1.1",
        Participants,
    )?;
    let admin_tls = acceptor(config.tls.admin_api, operators, b"http/1.1", Scheme)?;
    let console_tls = acceptor(config.tls.console, operators, b"http/1.1", Scheme)?;
    // Legacy hosts have no other credential: a certificate is required.
    let iso8583_tls: Option<harambee_iso8583_gateway::Handshake> = acceptor(
        config.tls.iso8583,
        harambee_tls::ClientCertificates::Required,
        b"",
        Participants,
    )?
    .map(|acceptor| -> harambee_iso8583_gateway::Handshake {
        Arc::new(move |tcp| {
            let acceptor = acceptor.clone();
            Box::pin(async move {
                let stream = acceptor.accept(tcp).await?;
                let certificate = stream.identity().certificate;
                Ok((
                    Box::new(stream) as Box<dyn harambee_iso8583_gateway::HostStream>,
                    certificate,
                ))
            })
        })
    });
    // Nodes present the switch's certificate to each other, and the
    // cluster credential besides.
    let cluster_tls = acceptor(
        config.tls.cluster,
        harambee_tls::ClientCertificates::Required,
        b"h2",
        Scheme,
    )?;
    let connection_limits = harambee_tls::ConnectionLimits {
        connections_max: config.api.connections_max as usize,
        idle_timeout_ms: config.api.idle_timeout_ms,
    };
    let participant_listener = TcpListener::bind(&config.api.participant_listen).await?;
    let participant_addr = participant_listener.local_addr()?;
    // The writer picks up the transfers left reserved before it became
    // the writer: by a previous process, or by the writer it took over from.
    {
        let mut writer = engine.writer_changes();
        let transfers = service.transfers.clone();
        let mut stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                if *writer.borrow_and_update() {
                    transfers.resume();
                }
                tokio::select! {
                    changed = writer.changed() => if changed.is_err() { break },
                    _ = stop.wait_for(|s| *s) => break,
                }
            }
        }));
    }
    let participant = ParticipantApiServer::new(ParticipantService { ctx: ctx.clone() })
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let mut stop_p = stop.clone();
    let server = grpc_server(&config.api)
        .add_service(health_service.clone())
        .add_service(reflection.clone())
        .add_service(participant)
        .serve_with_incoming_shutdown(
            harambee_tls::incoming(
                participant_listener,
                participant_tls,
                "participant",
                connection_limits,
            ),
            async move {
                let _ = stop_p.wait_for(|s| *s).await;
            },
        );
    tasks.push(tokio::spawn(async move {
        if let Err(e) = server.await {
            tracing::error!(error = %e, "participant API server failed");
        }
    }));

    let operator_listener = TcpListener::bind(&config.api.operator_listen).await?;
    let operator_addr = operator_listener.local_addr()?;
    let operator = OperatorApiServer::new(OperatorService { ctx: ctx.clone() })
        .max_decoding_message_size(limit)
        // Answers are pages of up to 1,000 rows: far more than a request.
        .max_encoding_message_size(OPERATOR_RESPONSE_MAX_BYTES);
    let mut stop_o = stop.clone();
    let server = grpc_server(&config.api)
        .add_service(health_service.clone())
        .add_service(reflection)
        .add_service(operator)
        .serve_with_incoming_shutdown(
            harambee_tls::incoming(
                operator_listener,
                operator_tls,
                "operator",
                connection_limits,
            ),
            async move {
                let _ = stop_o.wait_for(|s| *s).await;
            },
        );
    tasks.push(tokio::spawn(async move {
        if let Err(e) = server.await {
            tracing::error!(error = %e, "operator API server failed");
        }
    }));

    let cluster_addr = match cluster_listener {
        Some(listener) => {
            let addr = listener.local_addr()?;
            let cluster = ClusterServer::new(ClusterService {
                engine: engine.clone(),
                service: service.clone(),
            })
            .max_decoding_message_size(CLUSTER_MESSAGE_MAX_BYTES)
            .max_encoding_message_size(CLUSTER_MESSAGE_MAX_BYTES);
            let mut stop_c = stop.clone();
            let server = grpc_server(&config.api)
                .add_service(health_service.clone())
                .add_service(cluster)
                .serve_with_incoming_shutdown(
                    harambee_tls::incoming(listener, cluster_tls, "cluster", connection_limits),
                    async move {
                        let _ = stop_c.wait_for(|s| *s).await;
                    },
                );
            tasks.push(tokio::spawn(async move {
                if let Err(e) = server.await {
                    tracing::error!(error = %e, "cluster API server failed");
                }
            }));
            if let Some((election, forwarder)) = &election {
                tasks.push(tokio::spawn(harambee_engine::election::supervise(
                    election.clone(),
                    engine.clone(),
                    forwarder.clone(),
                    stop.clone(),
                )));
            }
            Some(addr)
        }
        None => None,
    };

    let console_addr = if config.console.listen.is_empty() {
        None
    } else {
        let listener = TcpListener::bind(&config.console.listen).await?;
        let addr = listener.local_addr()?;
        let router = harambee_console::router(
            ctx.clone(),
            harambee_console::ConsoleSettings {
                session_ttl_ms: config.console.session_ttl_ms,
                sessions_max: usize::try_from(config.console.sessions_max).unwrap_or(usize::MAX),
                secure_cookies: config.tls.console,
                metrics: prometheus().clone().map(|handle| {
                    harambee_console::traffic::MetricsSource(Arc::new(move || {
                        Some(handle.render())
                    }))
                }),
                stop: Some(stop.clone()),
            },
        );
        tasks.push(tokio::spawn(crate::http::serve(
            listener,
            router,
            http_limits(&config),
            console_tls.clone(),
            "console",
            stop.clone(),
        )));
        Some(addr)
    };

    let admin_addr = if config.fspiop.admin_listen.is_empty() {
        None
    } else {
        let listener = TcpListener::bind(&config.fspiop.admin_listen).await?;
        let addr = listener.local_addr()?;
        let router = harambee_fspiop::operator_router(
            service.clone(),
            harambee_fspiop::admin::AdminSettings {
                trust_callers: config.fspiop.trust_source_header,
                hub_name: config.fspiop.hub_name.clone(),
            },
        );
        tasks.push(tokio::spawn(crate::http::serve(
            listener,
            router,
            http_limits(&config),
            admin_tls,
            "admin",
            stop.clone(),
        )));
        Some(addr)
    };

    let fspiop_addr = if config.fspiop.listen.is_empty() {
        None
    } else {
        let listener = TcpListener::bind(&config.fspiop.listen).await?;
        let addr = listener.local_addr()?;
        let router = harambee_fspiop::api::router(
            service.clone(),
            harambee_fspiop::api::ApiSettings {
                trust_source_header: config.fspiop.trust_source_header,
                keys: keys.clone(),
            },
            callbacks.clone(),
            pending.clone(),
        );
        tasks.push(tokio::spawn(crate::http::serve(
            listener,
            router,
            http_limits(&config),
            fspiop_tls,
            "fspiop",
            stop.clone(),
        )));
        Some(addr)
    };

    let metrics_addr = if config.api.metrics_listen.is_empty() {
        None
    } else {
        let listener = TcpListener::bind(&config.api.metrics_listen).await?;
        let addr = listener.local_addr()?;
        tasks.push(tokio::spawn(serve_metrics(listener, stop.clone())));
        Some(addr)
    };

    tasks.push(tokio::spawn(harambee_service::sweep::run(
        service.clone(),
        stop.clone(),
    )));
    tasks.push(tokio::spawn(harambee_read::projection::run(
        engine.clone(),
        projections,
        stop.clone(),
    )));
    tasks.push(tokio::spawn(harambee_service::notices::run(
        service.clone(),
        Arc::new(RoutedNotices {
            grpc: Arc::new(GrpcNotices::new(channels.clone())),
            fspiop: Arc::new(FspiopNotices::new(callbacks.clone())),
            iso8583: Arc::new(harambee_iso8583_gateway::Iso8583Notices(
                iso8583_payees.clone(),
            )),
        }),
        stop.clone(),
    )));
    if config.log.kind == LogKind::Kafka && config.kafka.publish_events {
        let publisher = harambee_read::events::Publisher::connect(
            &config.kafka.brokers,
            &harambee_read::events::events_topic(&config.kafka.topic),
            config.kafka.replication,
        )
        .await?;
        tasks.push(tokio::spawn(harambee_read::events::run(
            engine.clone(),
            publisher,
            stop.clone(),
        )));
    }
    let iso8583_addr = if config.iso8583.listen.is_empty() {
        None
    } else {
        let settings = config.iso8583.settings()?;
        let listener = TcpListener::bind(&config.iso8583.listen).await?;
        let addr = listener.local_addr()?;
        tracing::info!(gateway = %harambee_iso8583_gateway::describe(addr, &settings), "ISO 8583 gateway listening");
        tasks.push(tokio::spawn(harambee_iso8583_gateway::serve(
            listener,
            service.clone(),
            iso8583_payees.clone(),
            settings,
            iso8583_tls.clone(),
            stop.clone(),
        )));
        Some(addr)
    };
    tracing::info!(%participant_addr, %operator_addr, ?metrics_addr, ?cluster_addr, ?admin_addr, ?console_addr, ?fspiop_addr, ?iso8583_addr, data_dir = %config.data_dir.display(), "switch started");
    Ok(Running {
        participant_addr,
        operator_addr,
        metrics_addr,
        cluster_addr,
        admin_addr,
        console_addr,
        fspiop_addr,
        iso8583_addr,
        ctx,
        projections: projections_handle,
        shutdown,
        tasks,
        election,
        health,
        lock,
    })
}

/// Whom a TLS port faces: participants (their registered CAs trusted
/// beside the scheme CA) or the scheme's own (operators, other nodes:
/// the scheme CA only).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Facing {
    Participants,
    Scheme,
}

/// A gRPC server with the per-connection bounds of `[api]`: the switch
/// pings every connection and closes one whose pings go unanswered (a
/// client that stopped reading); each call has a deadline to its answer,
/// its request's arrival included (a stalled request body); and a
/// connection carries at most so many calls at once. Connections that
/// send nothing are closed by [`harambee_tls::incoming`].
fn grpc_server(api: &crate::config::ApiConfig) -> tonic::transport::Server {
    let streams = u32::try_from(api.streams_per_connection_max).unwrap_or(u32::MAX);
    tonic::transport::Server::builder()
        .timeout(Duration::from_millis(api.request_timeout_ms))
        .http2_keepalive_interval(Some(Duration::from_millis(api.keepalive_interval_ms)))
        .http2_keepalive_timeout(Some(Duration::from_millis(api.keepalive_timeout_ms)))
        .max_concurrent_streams(streams)
}

/// Keeps gRPC health (the whole server and each service) in step with the
/// engine: SERVING only while it writes or follows the log.
async fn report_health(
    reporter: tonic_health::server::HealthReporter,
    mut health: watch::Receiver<EngineHealth>,
    cluster: bool,
    mut stop: watch::Receiver<bool>,
) {
    use tonic::server::NamedService;
    let mut services = vec![
        "",
        <ParticipantApiServer<ParticipantService> as NamedService>::NAME,
        <OperatorApiServer<OperatorService> as NamedService>::NAME,
    ];
    if cluster {
        services.push(<ClusterServer<ClusterService> as NamedService>::NAME);
    }
    loop {
        let status = if health.borrow_and_update().is_serving() {
            tonic_health::ServingStatus::Serving
        } else {
            tonic_health::ServingStatus::NotServing
        };
        for service in &services {
            reporter.set_service_status(service, status).await;
        }
        let ended = tokio::select! {
            changed = health.changed() => changed.is_err(),
            _ = stop.wait_for(|s| *s) => true,
        };
        if ended {
            for service in &services {
                reporter
                    .set_service_status(service, tonic_health::ServingStatus::NotServing)
                    .await;
            }
            return;
        }
    }
}

/// Who may authenticate, from the configuration (the operators file read
/// here, once at start).
fn auth_settings(config: &Config) -> anyhow::Result<harambee_service::auth::AuthSettings> {
    let operators = if config.api.operators_file.is_empty() {
        Vec::new()
    } else {
        crate::config::OperatorsFile::read(std::path::Path::new(&config.api.operators_file))?
    };
    Ok(harambee_service::auth::AuthSettings {
        operators,
        operator_token: config.api.operator_token.clone(),
        cluster_token: config.cluster.enabled.then(|| config.cluster.token.clone()),
        participant_bearer: config.api.participant_bearer,
    })
}

/// Reads the operators file again on each SIGHUP: operators added,
/// removed or given new credentials take effect from the next call, with
/// no restart. A file that does not read keeps the operators as they
/// were (and says why in the log).
async fn reload_operators_on_hangup(
    authenticator: Arc<CredentialAuthenticator>,
    path: std::path::PathBuf,
    mut stop: watch::Receiver<bool>,
) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "no SIGHUP handler: the operators file is read at start only");
                return;
            }
        };
        loop {
            tokio::select! {
                got = hangups.recv() => if got.is_none() { return },
                _ = stop.wait_for(|s| *s) => return,
            }
            let reloaded = crate::config::OperatorsFile::read(&path).and_then(|entries| {
                authenticator
                    .reload_operators(&entries)
                    .map_err(|e| anyhow::anyhow!(e.description))
            });
            match reloaded {
                Ok(credentials) => {
                    metrics::counter!("harambee_operators_reloads_total", "result" => "ok")
                        .increment(1);
                    tracing::info!(file = %path.display(), credentials, "operators file read again");
                }
                Err(e) => {
                    metrics::counter!("harambee_operators_reloads_total", "result" => "refused")
                        .increment(1);
                    tracing::error!(file = %path.display(), error = %e, "operators file not read again: the operators stay as they were");
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (authenticator, path, stop.wait_for(|s| *s).await);
    }
}

/// The bounds of the HTTP servers' connections, from the configuration.
fn http_limits(config: &Config) -> crate::http::HttpLimits {
    crate::http::HttpLimits {
        connections_max: usize::try_from(config.fspiop.connections_max).unwrap_or(usize::MAX),
        header_timeout_ms: config.fspiop.header_timeout_ms,
        connection_max_ms: config.fspiop.connection_max_ms,
    }
}

/// The service layer's settings, from the configuration.
fn settings(config: &Config) -> Settings {
    Settings {
        lookup_timeout_ms: config.lookup.timeout_ms,
        builtin_oracle_party_types: config.lookup.builtin_oracle_party_types.clone(),
        quote_timeout_ms: config.quote.timeout_ms,
        quote_grace_ms: config.quote.grace_ms,
        quote_held_max_ms: config.quote.held_max_ms,
        callback_timeout_ms: config.transfer.callback_timeout_ms,
        expiry_sweep_interval_ms: config.transfer.expiry_sweep_interval_ms,
        transfer_lifetime_max_ms: config.transfer.lifetime_max_ms,
        admission: harambee_service::admission::AdmissionSettings {
            in_flight_max: config.admission.participant_in_flight_max,
            rate_per_s: config.admission.participant_rate_per_s,
            burst: config.admission.participant_burst,
        },
    }
}

/// The process-wide Prometheus recorder (installed once).
fn prometheus() -> &'static Option<metrics_exporter_prometheus::PrometheusHandle> {
    static HANDLE: std::sync::OnceLock<Option<metrics_exporter_prometheus::PrometheusHandle>> =
        std::sync::OnceLock::new();
    HANDLE.get_or_init(|| {
        use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
        const SECONDS: &[f64] = &[
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            30.0,
        ];
        const RECORDS: &[f64] = &[
            1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0, 4096.0, 16384.0,
        ];
        PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_records".into()), RECORDS))
            .ok()?
            .install_recorder()
            .ok()
    })
}

/// A minimal HTTP/1.1 endpoint: any GET answers with the metrics.
async fn serve_metrics(listener: TcpListener, mut stop: watch::Receiver<bool>) {
    let handle = prometheus().clone();
    loop {
        let (mut socket, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(_) => continue,
            },
            _ = stop.wait_for(|s| *s) => return,
        };
        let body = handle.as_ref().map(|h| h.render()).unwrap_or_default();
        tokio::spawn(async move {
            let mut request = [0u8; 1024];
            let _ = tokio::time::timeout(Duration::from_secs(2), socket.read(&mut request)).await;
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
        });
    }
}

/// Opens the event log the configuration names (creating the Kafka topic
/// if needed; refusing an embedded log whose hash chain is broken).
pub async fn open_log(config: &Config) -> anyhow::Result<Arc<dyn CommandLog>> {
    Ok(open_log_with_trail(config).await?.0)
}

/// [`open_log`], and the log's audit trail for the Operator API: on the
/// embedded log, verified to its end already (the start's own check).
pub async fn open_log_with_trail(
    config: &Config,
) -> anyhow::Result<(Arc<dyn CommandLog>, Arc<harambee_log::audit::Trail>)> {
    use harambee_log::audit::{Trail, TrailSource};
    harambee_log::kafka::set_timeout_ms(config.kafka.timeout_ms);
    Ok(match config.log.kind {
        LogKind::Sqlite => {
            let sqlite_log = Arc::new(SqliteLog::open(&config.data_dir.join("log.db")).await?);
            // Refuse to start on a log that was tampered with: the whole
            // chain, before anything is appended.
            let trail = Arc::new(Trail::new(TrailSource::Sqlite(sqlite_log.clone())));
            let status = trail.refresh(u64::MAX).await?;
            if let Some(broken) = status.broken {
                return Err(harambee_log::sqlite::AuditError::Break(broken).into());
            }
            tracing::info!(
                records = status.verified.records,
                head = %status.verified.head,
                "event log hash chain verified"
            );
            (sqlite_log as Arc<dyn CommandLog>, trail)
        }
        LogKind::Kafka => {
            kafka::create_topic(
                &config.kafka.brokers,
                &config.kafka.topic,
                1,
                config.kafka.replication,
            )
            .await?;
            let target = kafka::KafkaTarget {
                brokers: config.kafka.brokers.clone(),
                topic: config.kafka.topic.clone(),
                partition: 0,
            };
            let trail = Arc::new(Trail::new(TrailSource::Kafka(target.clone())));
            let log: Arc<dyn CommandLog> = Arc::new(kafka::KafkaLog::open(target).await?);
            (log, trail)
        }
    })
}

/// Opens the projection store and the snapshot store the configuration
/// names.
pub async fn open_stores(
    config: &Config,
) -> anyhow::Result<(Arc<dyn ProjectionStore>, Arc<dyn SnapshotStore>)> {
    // Projections, and where snapshots go: next to the log (embedded) or in
    // PostgreSQL, shared by the nodes of a deployment.
    Ok(match config.store.kind {
        StoreKind::Sqlite => (
            Arc::new(SqliteProjections::open(&config.data_dir.join("projections.db")).await?),
            Arc::new(SqliteSnapshots::open(&config.data_dir.join("snapshots.db")).await?),
        ),
        StoreKind::Postgres => {
            let pg = PgProjections::connect(&config.store.postgres_url).await?;
            let log_name = match config.log.kind {
                LogKind::Kafka => format!("kafka:{}", config.kafka.topic),
                LogKind::Sqlite => format!(
                    "sqlite:{}",
                    std::fs::canonicalize(&config.data_dir)?
                        .join("log.db")
                        .display()
                ),
            };
            let snapshots = PgSnapshots::new(pg.pool(), &log_name);
            (Arc::new(pg), Arc::new(snapshots))
        }
    })
}
