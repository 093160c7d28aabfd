//! Typed configuration: defaults, then a TOML file, then `HARAMBEE_*`
//! environment variables.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Everything `harambee serve` can be told, in sections (a TOML table
/// each): `[api]`, `[transfer]`, `[quote]`, `[lookup]`, `[ledger]`,
/// `[log]`, `[kafka]`, `[store]`, `[cluster]`, `[fspiop]`, `[iso8583]`,
/// `[admission]`, `[tls]`. Every setting also has a
/// `HARAMBEE_*` variable ([`ENVIRONMENT`]).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the embedded event log and snapshots live.
    pub data_dir: PathBuf,
    pub api: ApiConfig,
    pub transfer: TransferConfig,
    pub quote: QuoteConfig,
    pub lookup: LookupConfig,
    pub ledger: LedgerConfig,
    pub log: LogConfig,
    pub kafka: KafkaConfig,
    pub store: StoreConfig,
    pub cluster: ClusterConfig,
    pub fspiop: FspiopConfig,
    pub iso8583: Iso8583Config,
    pub admission: AdmissionConfig,
    pub tls: TlsConfig,
    pub console: ConsoleConfig,
}

/// `[console]`: the operator console, web pages for hub and settlement
/// operators (docs/CONSOLE.md). Off unless `listen` is set.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Where the console listens; empty (the default) to disable.
    pub listen: String,
    /// How long an operator's session lasts from sign-in.
    pub session_ttl_ms: u64,
    /// Sessions open at once.
    pub sessions_max: u64,
}

impl Default for ConsoleConfig {
    fn default() -> ConsoleConfig {
        ConsoleConfig {
            listen: String::new(),
            session_ttl_ms: 1_800_000,
            sessions_max: 256,
        }
    }
}

/// `[tls]`: TLS on the switch's APIs, and the scheme's PKI. Every API set
/// here runs on TLS with the switch's certificate. The participant APIs
/// (gRPC and FSPIOP) ask for a client certificate, verified against
/// `ca_file`, and a registered one identifies its participant (required
/// when `api.participant_bearer` is false). The operator APIs (gRPC and
/// the hub admin HTTP API) ask for one too, optionally: a certificate
/// listed in the operators file identifies its operator.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM: the switch's certificate (and any intermediates).
    pub cert_file: String,
    /// PEM: the switch's private key (PKCS#8).
    pub key_file: String,
    /// PEM: the scheme CA. Participants' and operators' client
    /// certificates must chain to it.
    pub ca_file: String,
    /// The participant API (gRPC) on TLS, with client certificates.
    pub participant_api: bool,
    /// The Operator API (gRPC) on TLS; an operator's client certificate,
    /// when presented, identifies the operator.
    pub operator_api: bool,
    /// The FSPIOP API (`fspiop.listen`) on TLS, with client certificates
    /// as the participant API; `FSPIOP-Source` must name the
    /// certificate's participant.
    pub fspiop_api: bool,
    /// The hub admin and settlement HTTP API (`fspiop.admin_listen`) on
    /// TLS, with operators' client certificates as the Operator API.
    pub admin_api: bool,
    /// The ISO 8583 gateway on TLS: each host presents a client
    /// certificate registered to its participant (its binding's), which
    /// is then who it is, from whatever address.
    pub iso8583: bool,
    /// The cluster link on TLS: each node presents the switch's
    /// certificate (required) besides the cluster credential, and the
    /// address it advertises is `https://`.
    pub cluster: bool,
    /// The operator console (`console.listen`) on TLS; an operator's
    /// client certificate, when presented, can sign them in, and the
    /// session cookie is marked `Secure`.
    pub console: bool,
    /// Most time a TLS handshake may take.
    pub handshake_timeout_ms: u64,
}

impl Default for TlsConfig {
    fn default() -> TlsConfig {
        TlsConfig {
            cert_file: String::new(),
            key_file: String::new(),
            ca_file: String::new(),
            participant_api: false,
            operator_api: false,
            fspiop_api: false,
            admin_api: false,
            iso8583: false,
            cluster: false,
            console: false,
            handshake_timeout_ms: 10_000,
        }
    }
}

impl TlsConfig {
    /// Whether anything runs on TLS.
    pub fn any(&self) -> bool {
        self.participant_api
            || self.operator_api
            || self.fspiop_api
            || self.admin_api
            || self.iso8583
            || self.cluster
            || self.console
    }

    /// Whether the scheme PKI's files are set: then the switch also calls
    /// `https://` endpoints on it.
    pub fn pki_configured(&self) -> bool {
        !self.cert_file.is_empty() || !self.key_file.is_empty() || !self.ca_file.is_empty()
    }
}

/// One operator, as the operators file (`api.operators_file`) lists it
/// under `[[operators]]`: a name, its roles, and the SHA-256 of its
/// credential, never the credential itself.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OperatorConfig {
    /// Who the log names for this operator's actions.
    pub name: String,
    /// Any of `hub-operator`, `settlement-operator`, `auditor`.
    pub roles: Vec<String>,
    /// 64 hex digits: SHA-256 of the operator's bearer token.
    pub token_sha256: String,
    /// 64 hex digits: SHA-256 of the DER of the operator's client
    /// certificate (on an Operator API on TLS).
    pub certificate_sha256: String,
}

/// The operators file: `[[operators]]` entries.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OperatorsFile {
    pub operators: Vec<OperatorConfig>,
}

impl OperatorsFile {
    /// Reads an operators file: its entries, checked.
    pub fn read(path: &Path) -> anyhow::Result<Vec<harambee_service::auth::OperatorEntry>> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("api.operators_file: reading {}: {e}", path.display()))?;
        let file: OperatorsFile = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("api.operators_file {}: {e}", path.display()))?;
        file.entries()
    }

    /// The entries as the authenticator takes them; refuses a name, role
    /// or digest that cannot be right, and one name with two sets of
    /// roles.
    pub fn entries(&self) -> anyhow::Result<Vec<harambee_service::auth::OperatorEntry>> {
        use harambee_service::ports::OperatorRole;
        let digest = |what: &str, name: &str, text: &str| -> anyhow::Result<Option<[u8; 32]>> {
            if text.is_empty() {
                return Ok(None);
            }
            harambee_core::text::hex32(&text.to_ascii_lowercase())
                .map(Some)
                .ok_or_else(|| anyhow::anyhow!("operator {name}: {what} must be 64 hex digits"))
        };
        let mut out: Vec<harambee_service::auth::OperatorEntry> = Vec::new();
        for o in &self.operators {
            anyhow::ensure!(
                !o.name.is_empty()
                    && o.name.len() <= harambee_core::record::OPERATOR_NAME_LENGTH_MAX
                    && o.name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b)),
                "operator name {:?}: 1 to 64 letters, digits, '-', '_', '.' or '@'",
                o.name
            );
            let mut roles = Vec::new();
            for r in &o.roles {
                let role = OperatorRole::parse(r).ok_or_else(|| {
                    anyhow::anyhow!(
                        "operator {}: role {r:?} is not hub-operator, settlement-operator or auditor",
                        o.name
                    )
                })?;
                if !roles.contains(&role) {
                    roles.push(role);
                }
            }
            anyhow::ensure!(!roles.is_empty(), "operator {}: no roles", o.name);
            roles.sort();
            let entry = harambee_service::auth::OperatorEntry {
                name: o.name.clone(),
                roles,
                token_sha256: digest("token_sha256", &o.name, &o.token_sha256)?,
                certificate_sha256: digest("certificate_sha256", &o.name, &o.certificate_sha256)?,
            };
            anyhow::ensure!(
                entry.token_sha256.is_some() || entry.certificate_sha256.is_some(),
                "operator {}: give token_sha256 or certificate_sha256",
                o.name
            );
            if let Some(same) = out.iter().find(|e| e.name == entry.name) {
                anyhow::ensure!(
                    same.roles == entry.roles,
                    "operator {}: listed twice with different roles (two entries of one name are a rollover of its credential)",
                    o.name
                );
            }
            let taken = |e: &harambee_service::auth::OperatorEntry| {
                (e.token_sha256.is_some() && e.token_sha256 == entry.token_sha256)
                    || (e.certificate_sha256.is_some()
                        && e.certificate_sha256 == entry.certificate_sha256)
            };
            anyhow::ensure!(
                !out.iter().any(taken),
                "operator {}: a credential listed twice",
                o.name
            );
            out.push(entry);
        }
        Ok(out)
    }
}

/// `[admission]`: each participant's limits, apart from every other's, on
/// every API (gRPC, FSPIOP, ISO 8583). Over one, a request is refused at
/// once with 2005 (server busy) and changes nothing. 0 is no limit.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdmissionConfig {
    /// Requests of one participant in flight at once.
    pub participant_in_flight_max: u64,
    /// Requests of one participant a second, sustained.
    pub participant_rate_per_s: u64,
    /// Requests of one participant at once above the rate.
    pub participant_burst: u64,
}

impl Default for AdmissionConfig {
    fn default() -> AdmissionConfig {
        let d = harambee_service::admission::AdmissionSettings::default();
        AdmissionConfig {
            participant_in_flight_max: d.in_flight_max,
            participant_rate_per_s: d.rate_per_s,
            participant_burst: d.burst,
        }
    }
}

/// `[api]`: where the switch listens, and who may operate it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Participant API address (port 0: any free port).
    pub participant_listen: String,
    /// Operator API address.
    pub operator_listen: String,
    /// Prometheus metrics address; empty to disable.
    pub metrics_listen: String,
    /// The credential of the one operator of the embedded default and of
    /// development, who holds every role (the log names it `operator`).
    /// Required unless `operators_file` names the operators.
    pub operator_token: String,
    /// A file holding the operator's credential (its first line), read
    /// at start in place of `operator_token`, so that the secret is in
    /// neither the config nor the environment.
    pub operator_token_file: String,
    /// Largest gRPC message accepted.
    pub message_size_max_bytes: usize,
    /// A TOML file of `[[operators]]` (name, roles, SHA-256 of a token or
    /// of a client certificate): the operators and what each may do.
    pub operators_file: String,
    /// Whether participants may authenticate with bearer credentials;
    /// false: only with registered client certificates (on TLS).
    pub participant_bearer: bool,
    /// gRPC connections open at once, on each of the participant,
    /// operator and cluster APIs; a connection over the limit is closed
    /// as it is accepted (`harambee_grpc_connections_refused_total`).
    pub connections_max: u64,
    /// A gRPC connection on which nothing arrives for this long is
    /// closed: before its first request (a client that connects and
    /// sends nothing) as after. The switch pings every connection each
    /// `keepalive_interval_ms`, so a client that is there answers in time.
    pub idle_timeout_ms: u64,
    /// How often the switch pings each gRPC connection (HTTP/2 PING).
    pub keepalive_interval_ms: u64,
    /// A ping not answered within this closes the connection: a client
    /// that stopped reading holds nothing past it.
    pub keepalive_timeout_ms: u64,
    /// Longest a gRPC call takes to its answer, the time to receive its
    /// request included (for `Notifications`: until the stream starts).
    /// A call past it fails with a gRPC deadline status and its
    /// resources are released. Longer than every wait the switch does on
    /// a caller's behalf (transfer callbacks, quotes, lookups).
    pub request_timeout_ms: u64,
    /// Calls in progress at once on one gRPC connection (HTTP/2 streams).
    pub streams_per_connection_max: u64,
}

/// `[transfer]`: how long a transfer may wait, and for what.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TransferConfig {
    /// Longest wait for a payee to answer a transfer. A payee that has not
    /// answered by then is given up on: the transfer stays reserved until
    /// its expiry, when it is aborted (3303), unless the payee answers on
    /// its own (`FulfilTransfer`) before.
    pub callback_timeout_ms: u64,
    /// Furthest ahead a transfer's expiry may lie: a prepare whose expiry
    /// is later is refused (3100) before anything is reserved.
    pub lifetime_max_ms: u64,
    /// How often the expiry sweep runs.
    pub expiry_sweep_interval_ms: u64,
}

/// `[quote]`: asking payees for terms, and keeping them.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuoteConfig {
    /// How long an agreed quote stays in the switch's memory after it
    /// expired (repeats of it are answered from memory meanwhile, and from
    /// the quotes projection after).
    pub grace_ms: u64,
    /// Longest any quote stays in the switch's memory, whatever its expiry.
    pub held_max_ms: u64,
    /// Longest wait for a payee's quote.
    pub timeout_ms: u64,
}

/// `[lookup]`: finding who owns a party.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LookupConfig {
    /// Longest wait for a party lookup (oracle and owner).
    pub timeout_ms: u64,
    /// Party types the built-in oracle serves when no external oracle is set.
    pub builtin_oracle_party_types: Vec<String>,
}

/// `[ledger]`: memory and snapshots.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LedgerConfig {
    /// Transfers the ledger allocates room for at start.
    pub capacity_transfers: usize,
    /// Log records applied between two snapshots.
    pub snapshot_interval_records: u64,
}

/// `[log]`: where the command log lives.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub kind: LogKind,
}

/// `[kafka]`: the log (and the events topic) on Kafka.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap servers when the log is on Kafka, "host:port,...".
    pub brokers: String,
    /// The log topic (created by the switch if missing; never auto-created).
    pub topic: String,
    /// Replication factor given to the topic when the switch creates it.
    pub replication: i32,
    /// Kafka group session timeout of the writer election: how long a dead
    /// writer keeps the role before another node takes over.
    pub session_timeout_ms: u64,
    /// How long a broker round trip (an append, a read, a topic creation)
    /// may take before the switch answers 2003.
    pub timeout_ms: u64,
    /// Publish ledger events, protobuf-encoded, on `<topic>.events`.
    pub publish_events: bool,
}

/// `[store]`: where the projections (the SQL tables the operator's queries
/// read) live.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    pub kind: StoreKind,
    /// PostgreSQL URL when `kind = "postgres"`, e.g.
    /// `postgres://harambee@db.example:5432/harambee`.
    pub postgres_url: String,
}

/// `[fspiop]`: Mojaloop's HTTP APIs.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FspiopConfig {
    /// Where the participant-facing FSPIOP v1.1 API listens; empty to
    /// disable.
    pub listen: String,
    /// Where the hub admin API (central-ledger's, HTTP/JSON) listens;
    /// empty to disable.
    pub admin_listen: String,
    /// Development mode, off by default: trust the caller as a Mojaloop
    /// deployment behind its API gateway does (`FSPIOP-Source` names the
    /// participant, and the admin API asks for no operator credential).
    /// Never in production: anyone who reaches the port is trusted.
    pub trust_source_header: bool,
    /// What the hub names itself in the messages it writes
    /// (`FSPIOP-Source`) and in the admin API's paths
    /// (`/participants/{hub_name}/accounts`): `Hub` by default, as in
    /// Mojaloop (older Mojaloop deployments said `switch`).
    pub hub_name: String,
    /// Whether the switch signs the messages it writes itself (JWS,
    /// RS256, as Mojaloop's signature specification v1.1 has it). On by
    /// default, as in Mojaloop's hub.
    pub sign_callbacks: bool,
    /// The switch's RSA private key (PEM, PKCS#8 or PKCS#1) that signs
    /// them. Empty: `fspiop-signing-key.pem` in the data directory, made
    /// on the first start (2048 bits) with its public key beside it
    /// (`fspiop-signing-key.pub.pem`, to give to participants).
    pub jws_signing_key: String,
    /// A directory of participants' public keys, `<fspId>.pem`; when set,
    /// every FSPIOP message with a body from a participant must carry its
    /// valid `FSPIOP-Signature` (3105 otherwise). Empty: not checked.
    pub jws_verification_keys: String,
    /// HTTP connections (FSPIOP and admin APIs, each) open at once.
    pub connections_max: u64,
    /// Longest a client may take to send a request's headers.
    pub header_timeout_ms: u64,
    /// Longest an HTTP connection stays open, idle keep-alive included.
    pub connection_max_ms: u64,
}

/// `[iso8583]`: the gateway for legacy bank hosts (ISO 8583:1987 over
/// TCP).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Iso8583Config {
    /// Where the gateway listens; empty (the default) to disable.
    pub listen: String,
    /// `ascii-1987` (hex bitmaps, ASCII numerics), `binary-1987` (binary
    /// bitmaps, BCD numerics), or the path of a dialect JSON file.
    pub dialect: String,
    /// The length header: `binary2` (2 bytes big-endian), `ascii4` (4
    /// digits) or `none`.
    pub framing: String,
    /// The hosts, each `INSTITUTION_ID=PARTICIPANT@ADDRESS[;ADDRESS...]`:
    /// the institution id it puts in field 32, the participant it acts
    /// as, and the addresses it may connect from.
    pub hosts: Vec<String>,
    /// Connections open at once, all hosts together.
    pub connections_max: u64,
    /// Financial requests in flight at once on one connection.
    pub in_flight_max: u64,
    /// A connection silent this long is sent an echo test.
    pub idle_ms: u64,
    /// An echo test unanswered this long closes the connection.
    pub echo_timeout_ms: u64,
    /// How long the transfer of a host's 0200 may take before it expires.
    pub transfer_expiry_ms: u64,
    /// The largest message a host may send, in bytes.
    pub message_max: u64,
    /// The switch's own institution id, in field 32 of the 0200 credits
    /// it sends hosts that are paid.
    pub institution_id: String,
}

impl Default for Iso8583Config {
    fn default() -> Iso8583Config {
        Iso8583Config {
            listen: String::new(),
            dialect: "ascii-1987".into(),
            framing: "binary2".into(),
            hosts: Vec::new(),
            connections_max: 256,
            in_flight_max: 64,
            idle_ms: 30_000,
            echo_timeout_ms: 10_000,
            transfer_expiry_ms: 30_000,
            message_max: 8_192,
            institution_id: "999".into(),
        }
    }
}

impl Iso8583Config {
    /// The gateway's settings, or why they cannot be made.
    pub fn settings(&self) -> anyhow::Result<harambee_iso8583_gateway::GatewaySettings> {
        use harambee_iso8583::{Dialect, Framing};
        let dialect = match self.dialect.as_str() {
            "ascii-1987" => Dialect::ascii_1987(),
            "binary-1987" => Dialect::binary_1987(),
            path => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    anyhow::anyhow!("iso8583.dialect {path:?}: not ascii-1987, binary-1987 or a readable file: {e}")
                })?;
                Dialect::from_json(&text)
                    .map_err(|e| anyhow::anyhow!("iso8583.dialect {path:?}: {e}"))?
            }
        };
        let framing = match self.framing.as_str() {
            "binary2" => Framing::Binary2,
            "ascii4" => Framing::Ascii4,
            "none" => Framing::None,
            other => anyhow::bail!("iso8583.framing {other:?}: expected binary2, ascii4 or none"),
        };
        let hosts = self
            .hosts
            .iter()
            .map(|h| harambee_iso8583_gateway::HostBinding::parse(h))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("iso8583.hosts: {e}"))?;
        let mut institutions: Vec<&str> = hosts.iter().map(|h| h.institution_id.as_str()).collect();
        institutions.sort_unstable();
        anyhow::ensure!(
            institutions.windows(2).all(|w| w[0] != w[1]),
            "iso8583.hosts: an institution id is bound twice"
        );
        for (name, value) in [
            ("connections_max", self.connections_max),
            ("in_flight_max", self.in_flight_max),
            ("idle_ms", self.idle_ms),
            ("echo_timeout_ms", self.echo_timeout_ms),
            ("transfer_expiry_ms", self.transfer_expiry_ms),
            ("message_max", self.message_max),
        ] {
            anyhow::ensure!(value > 0, "iso8583.{name} must be > 0");
        }
        anyhow::ensure!(
            self.message_max <= framing.max_len() as u64 && self.message_max <= 65_535,
            "iso8583.message_max: at most what the framing can announce"
        );
        anyhow::ensure!(
            (1..=11).contains(&self.institution_id.len())
                && self.institution_id.bytes().all(|b| b.is_ascii_digit()),
            "iso8583.institution_id must be 1 to 11 digits"
        );
        let mut s = harambee_iso8583_gateway::GatewaySettings::new(dialect, framing, hosts);
        s.connections_max = self.connections_max as usize;
        s.in_flight_max = self.in_flight_max as usize;
        s.idle_ms = self.idle_ms;
        s.echo_timeout_ms = self.echo_timeout_ms;
        s.transfer_expiry_ms = self.transfer_expiry_ms;
        s.message_max = self.message_max as usize;
        Ok(s)
    }
}

/// `[cluster]`: several nodes on one Kafka log.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// Several nodes share the Kafka log: the ledger writer is elected
    /// through the Kafka consumer group `<topic>.writer`, the other nodes
    /// follow the log and hand their records to it. Off: this node is the
    /// log's only writer.
    pub enabled: bool,
    /// Where this node serves the Cluster API to the other nodes.
    pub listen: String,
    /// The URL the other nodes use to reach `listen`; empty: made from the
    /// bound address (set it when listening on 0.0.0.0).
    pub advertise_url: String,
    /// This node's name in the cluster; empty: a random one at each start.
    pub node_name: String,
    /// The credential the nodes present to each other on the Cluster API:
    /// at least 16 characters, never the operator's. Required when
    /// `enabled`.
    pub token: String,
    /// A file holding `token` (its first line), read at start.
    pub token_file: String,
}

/// The event log backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogKind {
    /// A SQLite file in the data directory (the embedded default).
    #[default]
    Sqlite,
    /// A Kafka topic (Apache Kafka, Redpanda, Tansu).
    Kafka,
}

/// The projection store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// SQLite files in the data directory (the embedded default).
    #[default]
    Sqlite,
    /// A PostgreSQL database.
    Postgres,
}

impl Default for ApiConfig {
    fn default() -> ApiConfig {
        ApiConfig {
            participant_listen: "127.0.0.1:7400".into(),
            operator_listen: "127.0.0.1:7401".into(),
            metrics_listen: "127.0.0.1:9400".into(),
            operator_token: String::new(),
            operator_token_file: String::new(),
            message_size_max_bytes: 64 * 1024,
            operators_file: String::new(),
            participant_bearer: true,
            connections_max: 4_096,
            idle_timeout_ms: 60_000,
            keepalive_interval_ms: 20_000,
            keepalive_timeout_ms: 20_000,
            request_timeout_ms: 60_000,
            streams_per_connection_max: 256,
        }
    }
}

impl Default for TransferConfig {
    fn default() -> TransferConfig {
        TransferConfig {
            callback_timeout_ms: 10_000,
            lifetime_max_ms: 86_400_000,
            expiry_sweep_interval_ms: 500,
        }
    }
}

impl Default for QuoteConfig {
    fn default() -> QuoteConfig {
        QuoteConfig {
            grace_ms: 60_000,
            held_max_ms: 86_400_000,
            timeout_ms: 10_000,
        }
    }
}

impl Default for LookupConfig {
    fn default() -> LookupConfig {
        LookupConfig {
            timeout_ms: 5_000,
            builtin_oracle_party_types: [
                "MSISDN",
                "ACCOUNT_ID",
                "IBAN",
                "EMAIL",
                "ALIAS",
                "PERSONAL_ID",
                "BUSINESS",
                "DEVICE",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

impl Default for LedgerConfig {
    fn default() -> LedgerConfig {
        LedgerConfig {
            capacity_transfers: 100_000,
            snapshot_interval_records: 200_000,
        }
    }
}

impl Default for LogConfig {
    fn default() -> LogConfig {
        LogConfig {
            kind: LogKind::Sqlite,
        }
    }
}

impl Default for KafkaConfig {
    fn default() -> KafkaConfig {
        KafkaConfig {
            brokers: String::new(),
            topic: "harambee.log".into(),
            replication: 1,
            session_timeout_ms: 10_000,
            timeout_ms: harambee_log::kafka::KAFKA_TIMEOUT_MS,
            publish_events: true,
        }
    }
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig {
            kind: StoreKind::Sqlite,
            postgres_url: String::new(),
        }
    }
}

impl Default for FspiopConfig {
    fn default() -> FspiopConfig {
        FspiopConfig {
            listen: "127.0.0.1:7404".into(),
            admin_listen: "127.0.0.1:7403".into(),
            trust_source_header: false,
            hub_name: "Hub".into(),
            sign_callbacks: true,
            jws_signing_key: String::new(),
            jws_verification_keys: String::new(),
            connections_max: 4_096,
            header_timeout_ms: 10_000,
            connection_max_ms: 300_000,
        }
    }
}

impl Default for ClusterConfig {
    fn default() -> ClusterConfig {
        ClusterConfig {
            enabled: false,
            listen: "127.0.0.1:7402".into(),
            advertise_url: String::new(),
            node_name: String::new(),
            token: String::new(),
            token_file: String::new(),
        }
    }
}

/// Sets one setting from the text of its environment variable.
type Setter = fn(&mut Config, &str, String) -> anyhow::Result<()>;

fn num<T: std::str::FromStr>(name: &str, value: String) -> anyhow::Result<T> {
    value
        .parse()
        .map_err(|_| anyhow::anyhow!("{name}={value:?} is not a number"))
}

fn flag(name: &str, value: String) -> anyhow::Result<bool> {
    match value.as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => anyhow::bail!("{name}={value:?}: expected true or false"),
    }
}

/// Every setting's environment variable: its name, the setting it sets
/// (`section.field`), and how.
pub const ENVIRONMENT: &[(&str, &str, Setter)] = &[
    ("HARAMBEE_DATA_DIR", "data_dir", |c, _, v| {
        c.data_dir = v.into();
        Ok(())
    }),
    (
        "HARAMBEE_PARTICIPANT_LISTEN",
        "api.participant_listen",
        |c, _, v| {
            c.api.participant_listen = v;
            Ok(())
        },
    ),
    (
        "HARAMBEE_OPERATOR_LISTEN",
        "api.operator_listen",
        |c, _, v| {
            c.api.operator_listen = v;
            Ok(())
        },
    ),
    (
        "HARAMBEE_METRICS_LISTEN",
        "api.metrics_listen",
        |c, _, v| {
            c.api.metrics_listen = v;
            Ok(())
        },
    ),
    (
        "HARAMBEE_OPERATOR_TOKEN",
        "api.operator_token",
        |c, _, v| {
            c.api.operator_token = v;
            Ok(())
        },
    ),
    (
        "HARAMBEE_OPERATOR_TOKEN_FILE",
        "api.operator_token_file",
        |c, _, v| {
            c.api.operator_token_file = v;
            Ok(())
        },
    ),
    (
        "HARAMBEE_OPERATORS_FILE",
        "api.operators_file",
        |c, _, v| {
            c.api.operators_file = v;
            Ok(())
        },
    ),
    (
        "HARAMBEE_PARTICIPANT_BEARER",
        "api.participant_bearer",
        |c, n, v| {
            c.api.participant_bearer = flag(n, v)?;
            Ok(())
        },
    ),
    (
        "HARAMBEE_API_CONNECTIONS_MAX",
        "api.connections_max",
        |c, n, v| {
            c.api.connections_max = num(n, v)?;
            Ok(())
        },
    ),
    (
        "HARAMBEE_API_IDLE_TIMEOUT_MS",
        "api.idle_timeout_ms",
        |c, n, v| {
            c.api.idle_timeout_ms = num(n, v)?;
            Ok(())
        },
    ),
    (
        "HARAMBEE_API_KEEPALIVE_INTERVAL_MS",
        "api.keepalive_interval_ms",
        |c, n, v| {
            c.api.keepalive_interval_ms = num(n, v)?;
            Ok(())
        },
    ),
    (
        "HARAMBEE_API_KEEPALIVE_TIMEOUT_MS",
        "api.keepalive_timeout_ms",
        |c, n, v| {
            c.api.keepalive_timeout_ms = num(n, v)?;
            Ok(())
        },
    ),
    (
        "HARAMBEE_API_REQUEST_TIMEOUT_MS",
        "api.request_timeout_ms",
        |c, n, v| {
            c.api.request_timeout_ms = num(n, v)?;
            Ok(())
        },
    ),
    (
        "HARAMBEE_API_STREAMS_PER_CONNECTION_MAX",
        "api.streams_per_connection_max",
        |c, n, v| {
            c.api.streams_per_connection_max = num(n, v)?;
            Ok(())
        },
    ),
    ("HARAMBEE_TLS_CERT_FILE", "tls.cert_file", |c, _, v| {
        c.tls.cert_file = v;
        Ok(())
    }),
    ("HARAMBEE_TLS_KEY_FILE", "tls.key_file", |c, _, v| {
        c.tls.key_file = v;
        Ok(())
    }),
    ("HARAMBEE_TLS_CA_FILE", "tls.ca_file", |c, _, v| {
        c.tls.ca_file = v;
        Ok(())
    }),
    (
        "HARAMBEE_TLS_PARTICIPANT_API",
        "tls.participant_api",
        |c, n, v| {
            c.tls.participant_api = flag(n, v)?;
            Ok(())
        },
    ),
    (
        "HARAMBEE_TLS_OPERATOR_API",
        "tls.operator_api",
        |c, n, v| {
            c.tls.operator_api = flag(n, v)?;
            Ok(())
        },
    ),
    ("HARAMBEE_TLS_FSPIOP_API", "tls.fspiop_api", |c, n, v| {
        c.tls.fspiop_api = flag(n, v)?;
        Ok(())
    }),
    ("HARAMBEE_TLS_ADMIN_API", "tls.admin_api", |c, n, v| {
        c.tls.admin_api = flag(n, v)?;
        Ok(())
    }),
    ("HARAMBEE_TLS_ISO8583", "tls.iso8583", |c, n, v| {
        c.tls.iso8583 = flag(n, v)?;
        Ok(())
    }),
    ("HARAMBEE_TLS_CLUSTER", "tls.cluster", |c, n, v| {
        c.tls.cluster = flag(n, v)?;
        Ok(())
    }),
    ("HARAMBEE_TLS_CONSOLE", "tls.console", |c, n, v| {
        c.tls.console = flag(n, v)?;
        Ok(())
    }),
    ("HARAMBEE_CONSOLE_LISTEN", "console.listen", |c, _, v| {
        c.console.listen = v;
        Ok(())
    }),
    (
        "HARAMBEE_CONSOLE_SESSION_TTL_MS",
        "console.session_ttl_ms",
        |c, n, v| {
            c.console.session_ttl_ms = num(n, v)?;
            Ok(())
        },
    ),
    (
        "HARAMBEE_CONSOLE_SESSIONS_MAX",
        "console.sessions_max",
        |c, n, v| {
            c.console.sessions_max = num(n, v)?;
            Ok(())
        },
    ),
    (
        "HARAMBEE_TLS_HANDSHAKE_TIMEOUT_MS",
        "tls.handshake_timeout_ms",
        |c, n, v| {
            c.tls.handshake_timeout_ms = num(n, v)?;
            Ok(())
        },
    ),
    (
        "HARAMBEE_MESSAGE_SIZE_MAX_BYTES",
        "api.message_size_max_bytes",
        |c, n, v| {
            c.api.message_size_max_bytes = num(n, v)?;
            Ok(())
        },
    ),
    (
        "HARAMBEE_TRANSFER_CALLBACK_TIMEOUT_MS",
        "transfer.callback_timeout_ms",
        |c, n, v| {
            c.transfer.callback_timeout_ms = num(n, v)?;
            Ok(())
        },
    ),
    (
        "HARAMBEE_ADMISSION_PARTICIPANT_IN_FLIGHT_MAX",
        "admission.participant_in_flight_max",
        |c, n, v| {
            c.admission.participant_in_flight_max = num(n, v)?;
            Ok(())
        },
    ),
    (
        "HARAMBEE_ADMISSION_PARTICIPANT_RATE_PER_S",
        "admission.participant_rate_per_s",
        |c, n, v| {
            c.admission.participant_rate_per_s = num(n, v)?;
            Ok(())
        },
    ),
    (
        "HARAMBEE_ADMISSION_PARTICIPANT_BURST",
        "admission.participant_burst",
        |c, n, v| {
            c.admission.participant_burst = num(n, v)?;
            Ok(())
        },
    ),
    (
        "HARAMBEE_TRANSFER_LIFETIME_MAX_MS",
        "transfer.lifetime_max_ms",
        |c, n, v| {
            c.transfer.lifetime_max_ms = num(n, v)?;
            Ok(())
        },
    ),
    (
        "HARAMBEE_EXPIRY_SWEEP_INTERVAL_MS",
        "transfer.expiry_sweep_interval_ms",
        |c, n, v| {
            c.transfer.expiry_sweep_interval_ms = num(n, v)?;
            Ok(())
        },
    ),
    ("HARAMBEE_QUOTE_GRACE_MS", "quote.grace_ms", |c, n, v| {
        c.quote.grace_ms = num(n, v)?;
        Ok(())
    }),
    (
        "HARAMBEE_QUOTE_HELD_MAX_MS",
        "quote.held_max_ms",
        |c, n, v| {
            c.quote.held_max_ms = num(n, v)?;
            Ok(())
        },
    ),
    (
        "HARAMBEE_QUOTE_TIMEOUT_MS",
        "quote.timeout_ms",
        |c, n, v| {
            c.quote.timeout_ms = num(n, v)?;
            Ok(())
        },
    ),
    (
        "HARAMBEE_LOOKUP_TIMEOUT_MS",
        "lookup.timeout_ms",
        |c, n, v| {
            c.lookup.timeout_ms = num(n, v)?;
            Ok(())
        },
    ),
    (
        "HARAMBEE_BUILTIN_ORACLE_PARTY_TYPES",
        "lookup.builtin_oracle_party_types",
        |c, _, v| {
            // A comma-separated list; empty: the built-in oracle serves none.
            c.lookup.builtin_oracle_party_types = v
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(String::from)
                .collect();
            Ok(())
        },
    ),
    (
        "HARAMBEE_LEDGER_CAPACITY_TRANSFERS",
        "ledger.capacity_transfers",
        |c, n, v| {
            c.ledger.capacity_transfers = num(n, v)?;
            Ok(())
        },
    ),
    (
        "HARAMBEE_SNAPSHOT_INTERVAL_RECORDS",
        "ledger.snapshot_interval_records",
        |c, n, v| {
            c.ledger.snapshot_interval_records = num(n, v)?;
            Ok(())
        },
    ),
    ("HARAMBEE_LOG", "log.kind", |c, n, v| {
        c.log.kind = match v.as_str() {
            "sqlite" => LogKind::Sqlite,
            "kafka" => LogKind::Kafka,
            _ => anyhow::bail!("{n}={v:?}: expected sqlite or kafka"),
        };
        Ok(())
    }),
    ("HARAMBEE_KAFKA_BROKERS", "kafka.brokers", |c, _, v| {
        c.kafka.brokers = v;
        Ok(())
    }),
    ("HARAMBEE_KAFKA_TOPIC", "kafka.topic", |c, _, v| {
        c.kafka.topic = v;
        Ok(())
    }),
    (
        "HARAMBEE_KAFKA_REPLICATION",
        "kafka.replication",
        |c, n, v| {
            c.kafka.replication = num(n, v)?;
            Ok(())
        },
    ),
    (
        "HARAMBEE_KAFKA_SESSION_TIMEOUT_MS",
        "kafka.session_timeout_ms",
        |c, n, v| {
            c.kafka.session_timeout_ms = num(n, v)?;
            Ok(())
        },
    ),
    (
        "HARAMBEE_KAFKA_TIMEOUT_MS",
        "kafka.timeout_ms",
        |c, n, v| {
            c.kafka.timeout_ms = num(n, v)?;
            Ok(())
        },
    ),
    (
        "HARAMBEE_KAFKA_PUBLISH_EVENTS",
        "kafka.publish_events",
        |c, n, v| {
            c.kafka.publish_events = flag(n, v)?;
            Ok(())
        },
    ),
    ("HARAMBEE_STORE", "store.kind", |c, n, v| {
        c.store.kind = match v.as_str() {
            "sqlite" => StoreKind::Sqlite,
            "postgres" => StoreKind::Postgres,
            _ => anyhow::bail!("{n}={v:?}: expected sqlite or postgres"),
        };
        Ok(())
    }),
    ("HARAMBEE_POSTGRES_URL", "store.postgres_url", |c, _, v| {
        c.store.postgres_url = v;
        Ok(())
    }),
    ("HARAMBEE_FSPIOP_LISTEN", "fspiop.listen", |c, _, v| {
        c.fspiop.listen = v;
        Ok(())
    }),
    (
        "HARAMBEE_FSPIOP_ADMIN_LISTEN",
        "fspiop.admin_listen",
        |c, _, v| {
            c.fspiop.admin_listen = v;
            Ok(())
        },
    ),
    (
        "HARAMBEE_FSPIOP_TRUST_SOURCE_HEADER",
        "fspiop.trust_source_header",
        |c, n, v| {
            c.fspiop.trust_source_header = flag(n, v)?;
            Ok(())
        },
    ),
    (
        "HARAMBEE_FSPIOP_CONNECTIONS_MAX",
        "fspiop.connections_max",
        |c, n, v| {
            c.fspiop.connections_max = num(n, v)?;
            Ok(())
        },
    ),
    (
        "HARAMBEE_FSPIOP_HEADER_TIMEOUT_MS",
        "fspiop.header_timeout_ms",
        |c, n, v| {
            c.fspiop.header_timeout_ms = num(n, v)?;
            Ok(())
        },
    ),
    (
        "HARAMBEE_FSPIOP_CONNECTION_MAX_MS",
        "fspiop.connection_max_ms",
        |c, n, v| {
            c.fspiop.connection_max_ms = num(n, v)?;
            Ok(())
        },
    ),
    ("HARAMBEE_FSPIOP_HUB_NAME", "fspiop.hub_name", |c, _, v| {
        c.fspiop.hub_name = v;
        Ok(())
    }),
    (
        "HARAMBEE_FSPIOP_SIGN_CALLBACKS",
        "fspiop.sign_callbacks",
        |c, n, v| {
            c.fspiop.sign_callbacks = flag(n, v)?;
            Ok(())
        },
    ),
    (
        "HARAMBEE_FSPIOP_JWS_SIGNING_KEY",
        "fspiop.jws_signing_key",
        |c, _, v| {
            c.fspiop.jws_signing_key = v;
            Ok(())
        },
    ),
    (
        "HARAMBEE_FSPIOP_JWS_VERIFICATION_KEYS",
        "fspiop.jws_verification_keys",
        |c, _, v| {
            c.fspiop.jws_verification_keys = v;
            Ok(())
        },
    ),
    ("HARAMBEE_CLUSTER", "cluster.enabled", |c, n, v| {
        c.cluster.enabled = flag(n, v)?;
        Ok(())
    }),
    ("HARAMBEE_CLUSTER_LISTEN", "cluster.listen", |c, _, v| {
        c.cluster.listen = v;
        Ok(())
    }),
    (
        "HARAMBEE_CLUSTER_ADVERTISE_URL",
        "cluster.advertise_url",
        |c, _, v| {
            c.cluster.advertise_url = v;
            Ok(())
        },
    ),
    ("HARAMBEE_NODE_NAME", "cluster.node_name", |c, _, v| {
        c.cluster.node_name = v;
        Ok(())
    }),
    ("HARAMBEE_CLUSTER_TOKEN", "cluster.token", |c, _, v| {
        c.cluster.token = v;
        Ok(())
    }),
    (
        "HARAMBEE_CLUSTER_TOKEN_FILE",
        "cluster.token_file",
        |c, _, v| {
            c.cluster.token_file = v;
            Ok(())
        },
    ),
    ("HARAMBEE_ISO8583_LISTEN", "iso8583.listen", |c, _, v| {
        c.iso8583.listen = v;
        Ok(())
    }),
    ("HARAMBEE_ISO8583_DIALECT", "iso8583.dialect", |c, _, v| {
        c.iso8583.dialect = v;
        Ok(())
    }),
    ("HARAMBEE_ISO8583_FRAMING", "iso8583.framing", |c, _, v| {
        c.iso8583.framing = v;
        Ok(())
    }),
    ("HARAMBEE_ISO8583_HOSTS", "iso8583.hosts", |c, _, v| {
        // A comma-separated list of INSTITUTION_ID=PARTICIPANT@ADDRESSES.
        c.iso8583.hosts = v
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect();
        Ok(())
    }),
    (
        "HARAMBEE_ISO8583_CONNECTIONS_MAX",
        "iso8583.connections_max",
        |c, n, v| {
            c.iso8583.connections_max = num(n, v)?;
            Ok(())
        },
    ),
    (
        "HARAMBEE_ISO8583_IN_FLIGHT_MAX",
        "iso8583.in_flight_max",
        |c, n, v| {
            c.iso8583.in_flight_max = num(n, v)?;
            Ok(())
        },
    ),
    ("HARAMBEE_ISO8583_IDLE_MS", "iso8583.idle_ms", |c, n, v| {
        c.iso8583.idle_ms = num(n, v)?;
        Ok(())
    }),
    (
        "HARAMBEE_ISO8583_ECHO_TIMEOUT_MS",
        "iso8583.echo_timeout_ms",
        |c, n, v| {
            c.iso8583.echo_timeout_ms = num(n, v)?;
            Ok(())
        },
    ),
    (
        "HARAMBEE_ISO8583_TRANSFER_EXPIRY_MS",
        "iso8583.transfer_expiry_ms",
        |c, n, v| {
            c.iso8583.transfer_expiry_ms = num(n, v)?;
            Ok(())
        },
    ),
    (
        "HARAMBEE_ISO8583_INSTITUTION_ID",
        "iso8583.institution_id",
        |c, _, v| {
            c.iso8583.institution_id = v;
            Ok(())
        },
    ),
    (
        "HARAMBEE_ISO8583_MESSAGE_MAX",
        "iso8583.message_max",
        |c, n, v| {
            c.iso8583.message_max = num(n, v)?;
            Ok(())
        },
    ),
];

impl Config {
    /// Defaults, overridden by `file` if given, then by the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
                toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
            }
            None => Config::default(),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        config.read_secret_files()?;
        config.check()?;
        Ok(config)
    }

    /// Reads the secrets named by the `*_file` settings into their
    /// settings; a secret given both ways is refused. The error names the
    /// file, never the secret.
    pub fn read_secret_files(&mut self) -> anyhow::Result<()> {
        fn read(name: &str, path: &str, value: &mut String) -> anyhow::Result<()> {
            if path.is_empty() {
                return Ok(());
            }
            anyhow::ensure!(
                value.is_empty(),
                "{name} is set twice: in the file {path} and directly; keep one"
            );
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("{name}: reading {path}: {e}"))?;
            *value = text.lines().next().unwrap_or_default().trim().to_string();
            anyhow::ensure!(!value.is_empty(), "{name}: the file {path} is empty");
            Ok(())
        }
        read(
            "api.operator_token",
            &self.api.operator_token_file.clone(),
            &mut self.api.operator_token,
        )?;
        read(
            "cluster.token",
            &self.cluster.token_file.clone(),
            &mut self.cluster.token,
        )
    }

    /// Applies the `HARAMBEE_*` overrides ([`ENVIRONMENT`]) that `get` has.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        for (name, _, set) in ENVIRONMENT {
            if let Some(value) = get(name) {
                set(self, name, value)?;
            }
        }
        Ok(())
    }

    /// Refuses configurations that cannot work.
    pub fn check(&self) -> anyhow::Result<()> {
        self.iso8583.settings()?;
        anyhow::ensure!(
            self.api.operator_token.len() >= 16
                || (self.api.operator_token.is_empty() && !self.api.operators_file.is_empty()),
            "api.operator_token (or HARAMBEE_OPERATOR_TOKEN) must be set, at least 16 characters, unless api.operators_file names the operators"
        );
        anyhow::ensure!(
            !(self.tls.any() || self.tls.pki_configured())
                || (!self.tls.cert_file.is_empty()
                    && !self.tls.key_file.is_empty()
                    && !self.tls.ca_file.is_empty()),
            "tls: cert_file, key_file and ca_file must be set together, and when anything runs on TLS"
        );
        anyhow::ensure!(
            self.api.participant_bearer || self.tls.participant_api,
            "api.participant_bearer = false leaves participants no way in: run the participant API on TLS (tls.participant_api)"
        );
        anyhow::ensure!(
            self.api.participant_bearer
                || self.fspiop.listen.is_empty()
                || self.fspiop.trust_source_header
                || self.tls.fspiop_api,
            "api.participant_bearer = false leaves FSPIOP participants no way in: run the FSPIOP API on TLS (tls.fspiop_api)"
        );
        anyhow::ensure!(
            self.tls.handshake_timeout_ms > 0,
            "tls.handshake_timeout_ms must be > 0"
        );
        anyhow::ensure!(
            (1..=32).contains(&self.fspiop.hub_name.len())
                && self
                    .fspiop
                    .hub_name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "fspiop.hub_name must be 1 to 32 letters, digits, '-' or '_'"
        );
        anyhow::ensure!(
            self.transfer.callback_timeout_ms > 0,
            "transfer.callback_timeout_ms must be > 0"
        );
        anyhow::ensure!(
            self.transfer.lifetime_max_ms > 0,
            "transfer.lifetime_max_ms must be > 0"
        );
        anyhow::ensure!(self.quote.held_max_ms > 0, "quote.held_max_ms must be > 0");
        anyhow::ensure!(
            self.fspiop.connections_max > 0
                && self.fspiop.header_timeout_ms > 0
                && self.fspiop.connection_max_ms > 0,
            "fspiop.connections_max, header_timeout_ms and connection_max_ms must be > 0"
        );
        anyhow::ensure!(
            self.admission.participant_rate_per_s == 0 || self.admission.participant_burst > 0,
            "admission.participant_burst must be > 0 when there is a participant_rate_per_s"
        );
        anyhow::ensure!(
            self.transfer.expiry_sweep_interval_ms > 0,
            "transfer.expiry_sweep_interval_ms must be > 0"
        );
        anyhow::ensure!(
            self.api.connections_max > 0
                && self.api.streams_per_connection_max > 0
                && self.api.keepalive_timeout_ms > 0
                && self.api.keepalive_interval_ms > 0,
            "api.connections_max, streams_per_connection_max, keepalive_interval_ms and keepalive_timeout_ms must be > 0"
        );
        anyhow::ensure!(
            self.api.keepalive_interval_ms < self.api.idle_timeout_ms,
            "api.keepalive_interval_ms must be less than api.idle_timeout_ms, or clients that are there are cut off between pings"
        );
        let longest_wait_ms = self
            .transfer
            .callback_timeout_ms
            .max(self.quote.timeout_ms)
            .max(self.lookup.timeout_ms);
        anyhow::ensure!(
            self.api.request_timeout_ms > longest_wait_ms,
            "api.request_timeout_ms ({}) must be longer than the longest wait for a participant ({longest_wait_ms} ms: transfer.callback_timeout_ms, quote.timeout_ms, lookup.timeout_ms)",
            self.api.request_timeout_ms
        );
        anyhow::ensure!(
            self.console.session_ttl_ms >= 1_000 && self.console.sessions_max > 0,
            "console.session_ttl_ms must be at least 1000 and console.sessions_max > 0"
        );
        anyhow::ensure!(
            self.api.message_size_max_bytes >= 4096,
            "api.message_size_max_bytes must be >= 4096"
        );
        anyhow::ensure!(
            !self.cluster.enabled
                || (self.cluster.token.len() >= 16
                    && self.cluster.token != self.api.operator_token),
            "cluster.token (or HARAMBEE_CLUSTER_TOKEN, or cluster.token_file) must be set when cluster.enabled: at least 16 characters, and not the operator token"
        );
        anyhow::ensure!(
            !self.cluster.enabled || self.log.kind == LogKind::Kafka,
            "cluster.enabled needs log.kind = \"kafka\": the nodes share the Kafka event log"
        );
        anyhow::ensure!(
            (1_000..=300_000).contains(&self.kafka.session_timeout_ms),
            "kafka.session_timeout_ms must be between 1000 and 300000"
        );
        anyhow::ensure!(
            (500..=300_000).contains(&self.kafka.timeout_ms),
            "kafka.timeout_ms must be between 500 and 300000"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_the_file() {
        let mut c: Config = toml::from_str(
            "[api]\noperator_token = \"from-file-0123456789\"\n[quote]\ntimeout_ms = 5",
        )
        .expect("toml");
        assert_eq!(c.quote.timeout_ms, 5);
        c.apply_env(|k| {
            (k == "HARAMBEE_OPERATOR_TOKEN").then(|| "from-env-0123456789".to_string())
        })
        .expect("env");
        assert_eq!(c.api.operator_token, "from-env-0123456789");
        assert!(c.check().is_ok());
    }

    /// The settings as `section.field` paths, with their values.
    fn leaves(config: &Config) -> Vec<(String, toml::Value)> {
        let toml::Value::Table(top) = toml::Value::try_from(config).expect("config as toml") else {
            panic!("the config is not a table");
        };
        let mut out = Vec::new();
        for (key, value) in top {
            match value {
                toml::Value::Table(section) => {
                    for (field, v) in section {
                        out.push((format!("{key}.{field}"), v));
                    }
                }
                v => out.push((key, v)),
            }
        }
        out
    }

    /// Every setting has its `HARAMBEE_*` variable: for each setting of the
    /// config, a value in its variable changes that setting.
    #[test]
    fn every_setting_has_an_environment_variable() {
        let base = Config::default();
        let settings = leaves(&base);
        assert!(settings.len() >= 29, "only {} settings", settings.len());
        let mut missing = Vec::new();
        for (path, default) in &settings {
            let Some((name, _, _)) = ENVIRONMENT.iter().find(|(_, p, _)| p == path) else {
                missing.push(path.clone());
                continue;
            };
            let value = match (path.as_str(), default) {
                ("log.kind", _) => "kafka".to_string(),
                ("store.kind", _) => "postgres".to_string(),
                (_, toml::Value::Boolean(b)) => (!b).to_string(),
                (_, toml::Value::Integer(n)) => (n + 7).to_string(),
                (_, toml::Value::Array(_)) => "MSISDN,IBAN".to_string(),
                _ => "changed-by-the-environment".to_string(),
            };
            let mut c = base.clone();
            c.apply_env(|k| (k == *name).then(|| value.clone()))
                .unwrap_or_else(|e| panic!("{name}={value}: {e}"));
            let changed = leaves(&c)
                .into_iter()
                .find(|(p, _)| p == path)
                .is_some_and(|(_, v)| v != *default);
            if !changed {
                missing.push(path.clone());
            }
        }
        assert!(
            missing.is_empty(),
            "settings without a working variable: {missing:?}"
        );
        assert_eq!(
            ENVIRONMENT.len(),
            settings.len(),
            "one variable per setting"
        );
    }

    #[test]
    fn bad_configurations_are_refused() {
        assert!(Config::default().check().is_err(), "no operator token");
        assert!(toml::from_str::<Config>("no_such_field = 1").is_err());
        assert!(toml::from_str::<Config>("[kafka]\nno_such_field = 1").is_err());
        assert!(
            toml::from_str::<Config>("operator_token = \"x\"").is_err(),
            "settings live in their sections"
        );
        let mut c = Config::default();
        c.api.operator_token = "x".repeat(16);
        assert!(
            c.apply_env(|k| (k == "HARAMBEE_EXPIRY_SWEEP_INTERVAL_MS").then(|| "soon".to_string()))
                .is_err()
        );
    }

    #[test]
    fn a_cluster_needs_its_own_token() {
        let mut c = Config::default();
        c.api.operator_token = "operator-token-0123456789".into();
        c.log.kind = LogKind::Kafka;
        c.cluster.enabled = true;
        assert!(c.check().is_err(), "no cluster token");
        c.cluster.token = c.api.operator_token.clone();
        assert!(
            c.check().is_err(),
            "the operator token is not the cluster's"
        );
        c.cluster.token = "short".into();
        assert!(c.check().is_err(), "too short");
        c.cluster.token = "cluster-token-0123456789".into();
        assert!(c.check().is_ok());
    }

    #[test]
    fn secrets_are_read_from_their_files_and_never_twice() {
        let dir = tempfile::tempdir().expect("tempdir");
        let op = dir.path().join("operator-token");
        std::fs::write(&op, "operator-token-from-file\n").expect("writes");
        let cluster = dir.path().join("cluster-token");
        std::fs::write(&cluster, "cluster-token-from-file\n").expect("writes");
        let mut c = Config::default();
        c.api.operator_token_file = op.display().to_string();
        c.cluster.token_file = cluster.display().to_string();
        c.read_secret_files().expect("read");
        assert_eq!(c.api.operator_token, "operator-token-from-file");
        assert_eq!(c.cluster.token, "cluster-token-from-file");
        // Given both ways: refused, and the error names the file, not the
        // secret.
        let e = c.read_secret_files().expect_err("twice").to_string();
        assert!(e.contains("set twice"), "{e}");
        assert!(!e.contains("operator-token-from-file"), "{e}");
        let mut c = Config::default();
        c.api.operator_token_file = dir.path().join("missing").display().to_string();
        assert!(c.read_secret_files().is_err());
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "").expect("writes");
        let mut c = Config::default();
        c.cluster.token_file = empty.display().to_string();
        assert!(c.read_secret_files().is_err(), "an empty file");
    }
}
