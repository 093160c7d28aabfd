//! Typed configuration: defaults, then a TOML file, then `HARAMBEE_*`
//! environment variables.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Everything `harambee serve` can be told.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the embedded event log and snapshots live.
    pub data_dir: PathBuf,
    /// Participant API address (port 0: any free port).
    pub participant_listen: String,
    /// Operator API address.
    pub operator_listen: String,
    /// Prometheus metrics address; empty to disable.
    pub metrics_listen: String,
    /// The operator's credential. Required; no default.
    pub operator_token: String,
    /// Longest wait for a payee to answer a transfer. A payee that has not
    /// answered by then is given up on: the transfer stays reserved until
    /// its expiry, when it is aborted (3303).
    pub transfer_callback_timeout_ms: u64,
    /// Furthest ahead a transfer's expiry may lie: a prepare whose expiry
    /// is later is refused (3100) before anything is reserved.
    pub transfer_lifetime_max_ms: u64,
    /// How long an agreed quote stays in the switch's memory after it
    /// expired (repeats of it are answered from memory meanwhile, and from
    /// the quotes projection after).
    pub quote_grace_ms: u64,
    /// Longest any quote stays in the switch's memory, whatever its expiry.
    pub quote_held_max_ms: u64,
    /// Longest wait for a payee's quote.
    pub quote_timeout_ms: u64,
    /// Longest wait for a party lookup (oracle and owner).
    pub lookup_timeout_ms: u64,
    /// How often the expiry sweep runs.
    pub expiry_sweep_interval_ms: u64,
    /// Party types the built-in oracle serves when no external oracle is set.
    pub builtin_oracle_party_types: Vec<String>,
    /// Largest gRPC message accepted.
    pub message_size_max_bytes: usize,
    /// Transfers the ledger allocates room for at start.
    pub ledger_capacity_transfers: usize,
    /// Log records applied between two snapshots.
    pub snapshot_interval_records: u64,
    /// Where the event log lives.
    pub log: LogKind,
    /// Kafka bootstrap servers when `log = "kafka"`, "host:port,...".
    pub kafka_brokers: String,
    /// The log topic (created by the switch if missing; never auto-created).
    pub kafka_topic: String,
    /// Replication factor given to the topic when the switch creates it.
    pub kafka_replication: i32,
    /// Where projections (the SQL tables the operator's queries read) live.
    pub store: StoreKind,
    /// PostgreSQL URL when `store = "postgres"`, e.g.
    /// `postgres://harambee@db.example:5432/harambee`.
    pub postgres_url: String,
    /// Several nodes share the Kafka log (`log = "kafka"`): the ledger
    /// writer is elected through the Kafka consumer group
    /// `<kafka_topic>.writer`, the other nodes follow the log and hand their
    /// records to it. Off: this node is the log's only writer.
    pub cluster: bool,
    /// Where this node serves the Cluster API to the other nodes.
    pub cluster_listen: String,
    /// The URL the other nodes use to reach `cluster_listen`; empty: made
    /// from the bound address (set it when listening on 0.0.0.0).
    pub cluster_advertise_url: String,
    /// This node's name in the cluster; empty: a random one at each start.
    pub node_name: String,
    /// Kafka group session timeout of the writer election: how long a dead
    /// writer keeps the role before another node takes over.
    pub kafka_session_timeout_ms: u64,
    /// How long a broker round trip (an append, a read, a topic creation)
    /// may take before the switch answers 2003.
    pub kafka_timeout_ms: u64,
    /// Publish ledger events, protobuf-encoded, on `<kafka_topic>.events`.
    pub kafka_publish_events: bool,
}

/// The event log backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogKind {
    /// A SQLite file in the data directory (the embedded default).
    Sqlite,
    /// A Kafka topic (Apache Kafka, Redpanda, Tansu).
    Kafka,
}

/// The projection store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// SQLite files in the data directory (the embedded default).
    Sqlite,
    /// A PostgreSQL database.
    Postgres,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            data_dir: PathBuf::from("harambee-data"),
            participant_listen: "127.0.0.1:7400".into(),
            operator_listen: "127.0.0.1:7401".into(),
            metrics_listen: "127.0.0.1:9400".into(),
            operator_token: String::new(),
            transfer_callback_timeout_ms: 10_000,
            transfer_lifetime_max_ms: 86_400_000,
            quote_grace_ms: 60_000,
            quote_held_max_ms: 86_400_000,
            quote_timeout_ms: 10_000,
            lookup_timeout_ms: 5_000,
            expiry_sweep_interval_ms: 500,
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
            message_size_max_bytes: 64 * 1024,
            ledger_capacity_transfers: 100_000,
            snapshot_interval_records: 200_000,
            log: LogKind::Sqlite,
            kafka_brokers: String::new(),
            kafka_topic: "harambee.log".into(),
            kafka_replication: 1,
            store: StoreKind::Sqlite,
            postgres_url: String::new(),
            cluster: false,
            cluster_listen: "127.0.0.1:7402".into(),
            cluster_advertise_url: String::new(),
            node_name: String::new(),
            kafka_session_timeout_ms: 10_000,
            kafka_timeout_ms: harambee_log::kafka::KAFKA_TIMEOUT_MS,
            kafka_publish_events: true,
        }
    }
}

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
        config.check()?;
        Ok(config)
    }

    /// Applies `HARAMBEE_<FIELD>` overrides from `get`.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        fn num<T: std::str::FromStr>(name: &str, value: String) -> anyhow::Result<T> {
            value
                .parse()
                .map_err(|_| anyhow::anyhow!("{name}={value:?} is not a number"))
        }
        if let Some(v) = get("HARAMBEE_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = get("HARAMBEE_PARTICIPANT_LISTEN") {
            self.participant_listen = v;
        }
        if let Some(v) = get("HARAMBEE_OPERATOR_LISTEN") {
            self.operator_listen = v;
        }
        if let Some(v) = get("HARAMBEE_METRICS_LISTEN") {
            self.metrics_listen = v;
        }
        if let Some(v) = get("HARAMBEE_OPERATOR_TOKEN") {
            self.operator_token = v;
        }
        if let Some(v) = get("HARAMBEE_TRANSFER_CALLBACK_TIMEOUT_MS") {
            self.transfer_callback_timeout_ms = num("HARAMBEE_TRANSFER_CALLBACK_TIMEOUT_MS", v)?;
        }
        if let Some(v) = get("HARAMBEE_TRANSFER_LIFETIME_MAX_MS") {
            self.transfer_lifetime_max_ms = num("HARAMBEE_TRANSFER_LIFETIME_MAX_MS", v)?;
        }
        if let Some(v) = get("HARAMBEE_QUOTE_GRACE_MS") {
            self.quote_grace_ms = num("HARAMBEE_QUOTE_GRACE_MS", v)?;
        }
        if let Some(v) = get("HARAMBEE_QUOTE_HELD_MAX_MS") {
            self.quote_held_max_ms = num("HARAMBEE_QUOTE_HELD_MAX_MS", v)?;
        }
        if let Some(v) = get("HARAMBEE_STORE") {
            self.store = match v.as_str() {
                "sqlite" => StoreKind::Sqlite,
                "postgres" => StoreKind::Postgres,
                _ => anyhow::bail!("HARAMBEE_STORE={v:?}: expected sqlite or postgres"),
            };
        }
        if let Some(v) = get("HARAMBEE_LOG") {
            self.log = match v.as_str() {
                "sqlite" => LogKind::Sqlite,
                "kafka" => LogKind::Kafka,
                _ => anyhow::bail!("HARAMBEE_LOG={v:?}: expected sqlite or kafka"),
            };
        }
        if let Some(v) = get("HARAMBEE_KAFKA_BROKERS") {
            self.kafka_brokers = v;
        }
        if let Some(v) = get("HARAMBEE_KAFKA_TOPIC") {
            self.kafka_topic = v;
        }
        if let Some(v) = get("HARAMBEE_POSTGRES_URL") {
            self.postgres_url = v;
        }
        if let Some(v) = get("HARAMBEE_EXPIRY_SWEEP_INTERVAL_MS") {
            self.expiry_sweep_interval_ms = num("HARAMBEE_EXPIRY_SWEEP_INTERVAL_MS", v)?;
        }
        if let Some(v) = get("HARAMBEE_SNAPSHOT_INTERVAL_RECORDS") {
            self.snapshot_interval_records = num("HARAMBEE_SNAPSHOT_INTERVAL_RECORDS", v)?;
        }
        if let Some(v) = get("HARAMBEE_QUOTE_TIMEOUT_MS") {
            self.quote_timeout_ms = num("HARAMBEE_QUOTE_TIMEOUT_MS", v)?;
        }
        if let Some(v) = get("HARAMBEE_LOOKUP_TIMEOUT_MS") {
            self.lookup_timeout_ms = num("HARAMBEE_LOOKUP_TIMEOUT_MS", v)?;
        }
        if let Some(v) = get("HARAMBEE_BUILTIN_ORACLE_PARTY_TYPES") {
            // A comma-separated list; empty: the built-in oracle serves none.
            self.builtin_oracle_party_types = v
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(String::from)
                .collect();
        }
        if let Some(v) = get("HARAMBEE_MESSAGE_SIZE_MAX_BYTES") {
            self.message_size_max_bytes = num("HARAMBEE_MESSAGE_SIZE_MAX_BYTES", v)?;
        }
        if let Some(v) = get("HARAMBEE_LEDGER_CAPACITY_TRANSFERS") {
            self.ledger_capacity_transfers = num("HARAMBEE_LEDGER_CAPACITY_TRANSFERS", v)?;
        }
        if let Some(v) = get("HARAMBEE_KAFKA_REPLICATION") {
            self.kafka_replication = num("HARAMBEE_KAFKA_REPLICATION", v)?;
        }
        let flag = |name: &str, value: String| -> anyhow::Result<bool> {
            match value.as_str() {
                "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" => Ok(false),
                _ => anyhow::bail!("{name}={value:?}: expected true or false"),
            }
        };
        if let Some(v) = get("HARAMBEE_CLUSTER") {
            self.cluster = flag("HARAMBEE_CLUSTER", v)?;
        }
        if let Some(v) = get("HARAMBEE_CLUSTER_LISTEN") {
            self.cluster_listen = v;
        }
        if let Some(v) = get("HARAMBEE_CLUSTER_ADVERTISE_URL") {
            self.cluster_advertise_url = v;
        }
        if let Some(v) = get("HARAMBEE_NODE_NAME") {
            self.node_name = v;
        }
        if let Some(v) = get("HARAMBEE_KAFKA_SESSION_TIMEOUT_MS") {
            self.kafka_session_timeout_ms = num("HARAMBEE_KAFKA_SESSION_TIMEOUT_MS", v)?;
        }
        if let Some(v) = get("HARAMBEE_KAFKA_TIMEOUT_MS") {
            self.kafka_timeout_ms = num("HARAMBEE_KAFKA_TIMEOUT_MS", v)?;
        }
        if let Some(v) = get("HARAMBEE_KAFKA_PUBLISH_EVENTS") {
            self.kafka_publish_events = flag("HARAMBEE_KAFKA_PUBLISH_EVENTS", v)?;
        }
        Ok(())
    }

    /// Refuses configurations that cannot work.
    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.operator_token.len() >= 16,
            "operator_token (or HARAMBEE_OPERATOR_TOKEN) must be set, at least 16 characters"
        );
        anyhow::ensure!(
            self.transfer_callback_timeout_ms > 0,
            "transfer_callback_timeout_ms must be > 0"
        );
        anyhow::ensure!(
            self.transfer_lifetime_max_ms > 0,
            "transfer_lifetime_max_ms must be > 0"
        );
        anyhow::ensure!(self.quote_held_max_ms > 0, "quote_held_max_ms must be > 0");
        anyhow::ensure!(
            self.expiry_sweep_interval_ms > 0,
            "expiry_sweep_interval_ms must be > 0"
        );
        anyhow::ensure!(
            self.message_size_max_bytes >= 4096,
            "message_size_max_bytes must be >= 4096"
        );
        anyhow::ensure!(
            !self.cluster || self.log == LogKind::Kafka,
            "cluster = true needs log = \"kafka\": the nodes share the Kafka event log"
        );
        anyhow::ensure!(
            (1_000..=300_000).contains(&self.kafka_session_timeout_ms),
            "kafka_session_timeout_ms must be between 1000 and 300000"
        );
        anyhow::ensure!(
            (500..=300_000).contains(&self.kafka_timeout_ms),
            "kafka_timeout_ms must be between 500 and 300000"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_the_file() {
        let mut c: Config =
            toml::from_str("operator_token = \"from-file-0123456789\"\nquote_timeout_ms = 5")
                .expect("toml");
        assert_eq!(c.quote_timeout_ms, 5);
        c.apply_env(|k| {
            (k == "HARAMBEE_OPERATOR_TOKEN").then(|| "from-env-0123456789".to_string())
        })
        .expect("env");
        assert_eq!(c.operator_token, "from-env-0123456789");
        assert!(c.check().is_ok());
    }

    /// Every setting has its `HARAMBEE_<FIELD>` variable: for each field
    /// of the config, a value in that variable changes that field.
    #[test]
    fn every_setting_has_an_environment_variable() {
        let base = Config::default();
        let toml::Value::Table(fields) = toml::Value::try_from(&base).expect("config as toml")
        else {
            panic!("the config is not a table");
        };
        assert!(fields.len() >= 29, "only {} fields", fields.len());
        let mut missing = Vec::new();
        for (field, default) in &fields {
            let name = format!("HARAMBEE_{}", field.to_uppercase());
            let value = match (field.as_str(), default) {
                ("log", _) => "kafka".to_string(),
                ("store", _) => "postgres".to_string(),
                (_, toml::Value::Boolean(b)) => (!b).to_string(),
                (_, toml::Value::Integer(n)) => (n + 7).to_string(),
                (_, toml::Value::Array(_)) => "MSISDN,IBAN".to_string(),
                _ => "changed-by-the-environment".to_string(),
            };
            let mut c = base.clone();
            c.apply_env(|k| (k == name).then(|| value.clone()))
                .unwrap_or_else(|e| panic!("{name}={value}: {e}"));
            let after = toml::Value::try_from(&c).expect("config as toml");
            if after.get(field) == Some(default) {
                missing.push(name);
            }
        }
        assert!(
            missing.is_empty(),
            "settings without a variable: {missing:?}"
        );
    }

    #[test]
    fn bad_configurations_are_refused() {
        assert!(Config::default().check().is_err(), "no operator token");
        assert!(toml::from_str::<Config>("no_such_field = 1").is_err());
        let mut c = Config {
            operator_token: "x".repeat(16),
            ..Config::default()
        };
        assert!(
            c.apply_env(|k| (k == "HARAMBEE_EXPIRY_SWEEP_INTERVAL_MS").then(|| "soon".to_string()))
                .is_err()
        );
    }
}
