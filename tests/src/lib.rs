//! Black-box tests for Harambee. Each file in `tests/tests/` is one test
//! binary. This library is their harness: a real switch on 127.0.0.1 port
//! 0 in a temporary data directory, real simulated participants serving
//! PayeeCallback on port 0, and clients that talk to them over gRPC like a
//! participant and an operator would. Nothing of the switch is mocked.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use harambee_proto::fspiop::FspiopError;
use harambee_proto::v1::operator_api_client::OperatorApiClient;
use harambee_proto::v1::*;
use harambee_sim::client;
use harambee_sim::dfsp::Behaviour;
use harambee_sim::network::{self, MemberSpec, Operator};
use harambee_switch::config::Config;
use harambee_switch::server::{self, Running};
use rust_decimal::Decimal;
use tonic::transport::Channel;

/// `shared/reference/`, checked out next to this repository.
pub fn reference_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference")
}

/// Reads and parses a JSON file from `shared/reference/`.
pub fn reference_json(relative: &str) -> serde_json::Value {
    let path = reference_dir().join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (is shared/ next to the repository?)",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub const CURRENCY: &str = "KES";
pub const OPERATOR_TOKEN: &str = "test-operator-token-0123456789";

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub fn timestamp(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

/// The FSPIOP code of a failed call.
pub fn code(status: &tonic::Status) -> u16 {
    FspiopError::from_status(status).code
}

/// An operator request with the credential.
pub fn op_req<T>(message: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.metadata_mut().insert(
        "authorization",
        format!("Bearer {OPERATOR_TOKEN}").parse().expect("ascii"),
    );
    r
}

pub mod fspiop;
pub mod webdriver;

/// Lower-case hex SHA-256 of `text`: how an operators file names a token.
pub fn sha256_hex(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub use harambee_sim::network::Member;

/// A switch running in this process on 127.0.0.1, with its data directory.
pub struct TestSwitch {
    pub running: Option<Running>,
    pub op: OperatorApiClient<Channel>,
    pub participant_url: String,
    pub config: Config,
    stop: tokio::sync::watch::Sender<bool>,
    pub dir: tempfile::TempDir,
}

impl TestSwitch {
    pub fn config(dir: &std::path::Path) -> Config {
        let mut config = Config {
            data_dir: dir.join("data"),
            ..Config::default()
        };
        config.api.participant_listen = "127.0.0.1:0".into();
        config.api.operator_listen = "127.0.0.1:0".into();
        config.api.metrics_listen = "127.0.0.1:0".into();
        config.fspiop.admin_listen = "127.0.0.1:0".into();
        config.fspiop.listen = "127.0.0.1:0".into();
        config.api.operator_token = OPERATOR_TOKEN.into();
        config.transfer.expiry_sweep_interval_ms = 100;
        config
    }

    pub async fn start() -> TestSwitch {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = Self::config(dir.path());
        Self::start_with(dir, config).await
    }

    pub async fn start_with(dir: tempfile::TempDir, config: Config) -> TestSwitch {
        let running = server::start(config.clone()).await.expect("switch starts");
        let op = OperatorApiClient::new(
            Channel::from_shared(format!("http://{}", running.operator_addr))
                .expect("url")
                .connect()
                .await
                .expect("operator API"),
        );
        let participant_url = format!("http://{}", running.participant_addr);
        let (stop, _) = tokio::sync::watch::channel(false);
        let mut s = TestSwitch {
            running: Some(running),
            op,
            participant_url,
            config,
            stop,
            dir,
        };
        s.op.add_currency(op_req(AddCurrencyRequest {
            currency: CURRENCY.into(),
        }))
        .await
        .expect("currency");
        s
    }

    /// Stops the switch (gracefully) and starts it again on the same data
    /// directory and ports chosen anew.
    pub async fn restart(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
        let running = server::start(self.config.clone())
            .await
            .expect("switch restarts");
        self.op = OperatorApiClient::new(
            Channel::from_shared(format!("http://{}", running.operator_addr))
                .expect("url")
                .connect()
                .await
                .expect("operator API"),
        );
        self.participant_url = format!("http://{}", running.participant_addr);
        self.running = Some(running);
    }

    pub fn running(&self) -> &Running {
        self.running.as_ref().expect("running")
    }

    /// Onboards a simulated participant with three MSISDN customers and a
    /// fee of 1 on its quotes.
    pub async fn onboard(
        &mut self,
        name: &str,
        liquidity: &str,
        net_debit_cap: &str,
        behaviour: Behaviour,
    ) -> Member {
        let spec = MemberSpec {
            name: name.into(),
            kind: ParticipantKind::Bank,
            currency: CURRENCY.into(),
            liquidity: liquidity.into(),
            net_debit_cap: net_debit_cap.into(),
            customers: 3,
            fee: Decimal::new(1, 0),
            behaviour,
            secret: [name.len() as u8; 32],
        };
        let mut stop = self.stop.subscribe();
        let mut op = Operator::new(self.op.clone(), OPERATOR_TOKEN);
        network::onboard(&mut op, &self.participant_url, &spec, async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await
        .expect("onboarding")
    }

    /// A fresh client for a member (after a restart the URL changes).
    pub fn reconnect(&self, m: &mut Member) {
        m.api = client::connect(&self.participant_url, &m.credential).expect("client");
    }

    pub async fn digest(&mut self) -> LedgerDigest {
        self.op
            .get_ledger_digest(op_req(GetLedgerDigestRequest {}))
            .await
            .expect("digest")
            .into_inner()
    }

    pub async fn position(&mut self, name: &str) -> PositionInfo {
        let p = self
            .op
            .get_positions(op_req(GetPositionsRequest {
                fsp_id: name.into(),
            }))
            .await
            .expect("positions")
            .into_inner();
        p.positions
            .into_iter()
            .find(|p| p.currency == CURRENCY)
            .expect("position in the currency")
    }
}

impl Drop for TestSwitch {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Quotes `amount` from `payer` to `payee`'s first customer.
pub async fn quote(payer: &mut Member, payee: &Member, amount: &str) -> QuoteResponse {
    payer
        .api
        .request_quote(quote_request(payer, payee, amount))
        .await
        .expect("quote")
        .into_inner()
}

pub fn quote_request(payer: &Member, payee: &Member, amount: &str) -> QuoteRequest {
    QuoteRequest {
        quote_id: uuid::Uuid::new_v4().to_string(),
        transaction_id: uuid::Uuid::new_v4().to_string(),
        payee: Some(Party {
            identifier: Some(payee.customer(0)),
            fsp_id: payee.name.clone(),
            ..Default::default()
        }),
        payer: Some(Party {
            fsp_id: payer.name.clone(),
            ..Default::default()
        }),
        amount_type: AmountType::Send as i32,
        amount: Some(Money {
            amount: amount.into(),
            currency: CURRENCY.into(),
        }),
        ..Default::default()
    }
}

/// The prepare request for a quote, expiring in `expires_in_ms`.
pub fn prepare_request(q: &QuoteResponse, expires_in_ms: i64) -> PrepareTransferRequest {
    PrepareTransferRequest {
        transfer_id: uuid::Uuid::new_v4().to_string(),
        payee_fsp: q.payee_fsp.clone(),
        amount: q.transfer_amount.clone(),
        ilp_packet: q.ilp_packet.clone(),
        condition: q.condition.clone(),
        expiration: Some(timestamp(now_ms() + expires_in_ms)),
        quote_id: q.quote_id.clone(),
        transaction_id: q.transaction_id.clone(),
        extensions: vec![],
    }
}

/// Waits, in bounded steps, until `check` holds.
pub async fn eventually(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

pub use harambee_sim::dfsp::Behaviour as PayeeBehaviour;

/// The local PostgreSQL server the tests that need one use (trust auth).
/// Override with `HARAMBEE_TEST_POSTGRES` (a URL to a maintenance database).
pub fn postgres_admin_url() -> String {
    std::env::var("HARAMBEE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database created for one test, dropped by [`TestDatabase::drop_database`].
pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    /// Creates a fresh, uniquely named database. Needs PostgreSQL on
    /// 127.0.0.1:5432 (or `HARAMBEE_TEST_POSTGRES`).
    pub async fn create() -> TestDatabase {
        use sqlx::Connection;
        let admin = postgres_admin_url();
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("this test needs PostgreSQL at {admin}: {e}"));
        let name = format!("harambee_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create database");
        let base = admin
            .rsplit_once('/')
            .map(|(b, _)| b.to_string())
            .unwrap_or(admin);
        TestDatabase {
            url: format!("{base}/{name}"),
            name,
        }
    }

    pub async fn drop_database(self) {
        use sqlx::Connection;
        if let Ok(mut conn) = sqlx::PgConnection::connect(&postgres_admin_url()).await {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn)
            .await;
        }
    }
}

/// A Tansu broker (Kafka-compatible) on a free 127.0.0.1 port with in-memory
/// storage, for the tests that NEED Kafka. `.ci/run` installs `tansu`
/// (`cargo install tansu --locked --features dynostore,libsql`); the binary is
/// looked up on PATH, then in ~/.cargo/bin. Killed when dropped.
pub struct Tansu {
    child: std::process::Child,
    pub brokers: String,
    port: u16,
    /// The working directory of a broker on sqlite storage (it survives a
    /// restart); None: in memory.
    durable: Option<PathBuf>,
}

impl Tansu {
    pub fn binary() -> PathBuf {
        let on_path = std::env::var_os("PATH")
            .map(|p| {
                std::env::split_paths(&p)
                    .map(|d| d.join("tansu"))
                    .find(|c| c.is_file())
            })
            .unwrap_or_default();
        on_path.unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cargo/bin/tansu")
        })
    }

    /// A broker keeping everything in memory, on a free port.
    pub async fn start() -> Tansu {
        Self::launch(free_port(), None).await
    }

    /// A broker on sqlite storage in `dir` (its working directory), which
    /// keeps the topics across `kill` and `restart`.
    pub async fn start_durable(dir: &std::path::Path) -> Tansu {
        std::fs::create_dir_all(dir.join("data")).expect("broker directory");
        Self::launch(free_port(), Some(dir.to_path_buf())).await
    }

    async fn launch(port: u16, durable: Option<PathBuf>) -> Tansu {
        let binary = Self::binary();
        assert!(
            binary.is_file(),
            "this test needs the tansu broker ({}); .ci/run installs it",
            binary.display()
        );
        let url = format!("tcp://127.0.0.1:{port}");
        let mut command = std::process::Command::new(&binary);
        command.args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
            "--storage-engine",
        ]);
        match &durable {
            // The path is relative to the broker's working directory.
            Some(dir) => {
                command.arg("sqlite:///data/tansu.db").current_dir(dir);
            }
            None => {
                command.arg("memory://tansu/");
            }
        }
        let child = command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("tansu starts");
        let brokers = format!("127.0.0.1:{port}");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(&brokers).await.is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "tansu did not listen on {brokers}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Tansu {
            child,
            brokers,
            port,
            durable,
        }
    }

    /// SIGKILLs the broker.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the broker with SIGTERM (SIGKILL if it has not exited after
    /// 10 s).
    pub async fn stop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while matches!(self.child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.kill();
    }

    /// Starts the broker again on the same port and storage (after `stop`
    /// or `kill`; kills it if it still runs), once the port is free (a
    /// broker started while the old one holds it may panic).
    pub async fn restart(&mut self) {
        self.kill();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::net::TcpListener::bind(("127.0.0.1", self.port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "port {} not released",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let again = Self::launch(self.port, self.durable.take()).await;
        // Replacing `self` drops the old, already reaped, child.
        *self = again;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A PostgreSQL server of a test's own, in a temporary directory on a free
/// port, so that a test can stop and start it without disturbing the
/// shared one. NEEDS the PostgreSQL server binaries (`initdb`, `pg_ctl`,
/// Debian's `postgresql` package, as `.ci/run` makes sure); run as root it
/// runs them as the `postgres` user.
pub struct PrivatePostgres {
    dir: tempfile::TempDir,
    port: u16,
    /// `postgres://...` URL of its `postgres` database.
    pub url: String,
}

impl PrivatePostgres {
    fn bin(name: &str) -> PathBuf {
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        versions.sort();
        versions
            .last()
            .map(|v| v.join("bin").join(name))
            .filter(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from(name))
    }

    /// Runs a PostgreSQL program, as `postgres` when we are root.
    fn run(&self, program: &str, args: &[&str]) {
        let binary = Self::bin(program);
        let status = if is_root() {
            std::process::Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&binary)
                .args(args)
                .stdout(std::process::Stdio::null())
                .status()
        } else {
            std::process::Command::new(&binary)
                .args(args)
                .stdout(std::process::Stdio::null())
                .status()
        }
        .unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
        assert!(status.success(), "{program} {args:?}: {status}");
    }

    fn data(&self) -> String {
        self.dir.path().join("pg").display().to_string()
    }

    /// initdb and start.
    pub async fn start() -> PrivatePostgres {
        let dir = tempfile::tempdir().expect("tempdir");
        if is_root() {
            let status = std::process::Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(status.success());
        }
        let port = free_port();
        let pg = PrivatePostgres {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            dir,
            port,
        };
        let data = pg.data();
        pg.run(
            "initdb",
            &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"],
        );
        pg.start_again().await;
        pg
    }

    /// Starts the server (again) and waits until it accepts connections.
    pub async fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("pg.log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log,
                "-w",
                "start",
            ],
        );
    }

    /// Stops the server the hard way (as a crash would: no checkpoint,
    /// connections cut).
    pub fn crash(&self) {
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data();
        let binary = Self::bin("pg_ctl");
        let mut command = if is_root() {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&binary);
            c
        } else {
            std::process::Command::new(&binary)
        };
        let _ = command
            .args(["-D", &data, "-m", "immediate", "stop"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

/// Reads the events topic from the start until `done` holds on what was
/// read (deduplicated by position), at most `timeout`. Also returns how many
/// messages were read in all (duplicates included).
pub fn read_events(
    brokers: &str,
    topic: &str,
    timeout: Duration,
    done: impl Fn(&std::collections::BTreeMap<(u64, u32), harambee_proto::v1::LedgerEvent>) -> bool,
) -> (
    std::collections::BTreeMap<(u64, u32), harambee_proto::v1::LedgerEvent>,
    usize,
) {
    use prost::Message as _;
    use rdkafka::Message as _;
    use rdkafka::consumer::Consumer as _;
    let consumer: rdkafka::consumer::BaseConsumer = rdkafka::config::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set(
            "group.id",
            format!("reader-{}", uuid::Uuid::new_v4().simple()),
        )
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "5")
        .set("session.timeout.ms", "6000")
        .create()
        .expect("consumer");
    let mut assignment = rdkafka::TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, rdkafka::Offset::Beginning)
        .expect("partition");
    consumer.assign(&assignment).expect("assign");
    let mut events = std::collections::BTreeMap::new();
    let mut messages = 0;
    let deadline = std::time::Instant::now() + timeout;
    let mut last_position = -1i64;
    let mut checked_at = std::time::Instant::now();
    loop {
        // `done` may be costly: asked when the topic is quiet, or every
        // quarter of a second.
        let message = consumer.poll(Duration::from_millis(100));
        if message.is_none() || checked_at.elapsed() > Duration::from_millis(250) {
            checked_at = std::time::Instant::now();
            if done(&events) {
                break;
            }
        }
        if std::time::Instant::now() >= deadline {
            let watermarks = consumer.fetch_watermarks(topic, 0, Duration::from_secs(5));
            panic!(
                "events not on the topic; have {} events, read up to partition offset {last_position} (watermarks {watermarks:?}); the last: {:?}",
                events.len(),
                events.values().last()
            );
        }
        if let Some(message) = message {
            let message = message.expect("message");
            last_position = last_position.max(message.offset());
            let event =
                harambee_proto::v1::LedgerEvent::decode(message.payload().expect("payload"))
                    .expect("a harambee_proto::v1::LedgerEvent");
            messages += 1;
            let at = (event.log_offset, event.index);
            if let Some(before) = events.get(&at) {
                assert_eq!(before, &event, "a republished event is the same event");
            }
            events.insert(at, event);
        }
    }
    (events, messages)
}

/// The Prometheus text of a metrics endpoint.
pub async fn scrape(addr: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(addr)
        .await
        .expect("metrics endpoint");
    socket
        .write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("write");
    let mut body = String::new();
    socket.read_to_string(&mut body).await.expect("read");
    body
}

/// The value of an unlabelled gauge or counter in Prometheus text.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// A development PKI for one test (`harambee pki`'s), in a directory of
/// its own: the scheme CA and the switch's certificate, and participants'
/// certificates on demand.
pub struct TestPki {
    pub dev: harambee_tls::dev::DevPki,
    pub switch: harambee_tls::dev::Issued,
    pub ca: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestPki {
    pub fn new() -> TestPki {
        let dir = tempfile::tempdir().expect("tempdir");
        let dev = harambee_tls::dev::DevPki::open_or_create(dir.path(), 2).expect("dev PKI");
        let switch = dev
            .issue(harambee_tls::dev::Holder::Switch, "switch", &[], false)
            .expect("the switch's certificate");
        TestPki {
            ca: dev.ca_file(),
            dev,
            switch,
            _dir: dir,
        }
    }

    /// A participant's certificate (client, and server of its callbacks).
    pub fn participant(&self, name: &str) -> harambee_tls::dev::Issued {
        self.dev
            .issue(harambee_tls::dev::Holder::Participant, name, &[], false)
            .expect("a participant's certificate")
    }

    /// The switch's TLS files in `config` (what runs on TLS is the test's
    /// to say).
    pub fn configure(&self, config: &mut Config) {
        config.tls.cert_file = self.switch.cert_file.display().to_string();
        config.tls.key_file = self.switch.key_file.display().to_string();
        config.tls.ca_file = self.ca.display().to_string();
    }
}

impl Default for TestPki {
    fn default() -> TestPki {
        TestPki::new()
    }
}

/// PEM files as rustls takes them, for the tests' own TLS clients and
/// servers (built on rustls directly, not on the switch's TLS crate).
pub mod pem {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use std::path::Path;

    pub fn roots(ca: &Path) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(ca).expect("ca") {
            roots.add(c.expect("ca")).expect("a root");
        }
        roots
    }

    pub fn chain(cert: &Path) -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_file_iter(cert)
            .expect("cert")
            .map(|c| c.expect("cert"))
            .collect()
    }

    pub fn key(key: &Path) -> PrivateKeyDer<'static> {
        PrivateKeyDer::from_pem_file(key).expect("key")
    }
}

/// Reads `stream` until the other end closes it, for at most `bound`;
/// whether it closed in time.
pub async fn closed_within(stream: &mut tokio::net::TcpStream, bound: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut chunk = [0u8; 256];
    tokio::time::timeout(bound, async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// Certificates of a CA made for one test, beside the dev PKI's: a
/// participant's own issuing CA, another scheme.
mod test_ca {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };

    /// A certificate authority made for one test.
    pub struct Ca {
        pub pem: String,
        issuer: Issuer<'static, KeyPair>,
    }

    impl Ca {
        pub fn new(name: &str) -> Ca {
            let key = KeyPair::generate().expect("key");
            let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(DnType::CommonName, name);
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            let cert = params.self_signed(&key).expect("CA certificate");
            Ca {
                pem: cert.pem(),
                issuer: Issuer::new(params, key),
            }
        }

        /// A leaf certificate and its key, as PEM: a client's, or with
        /// `server` a server's for localhost and 127.0.0.1 that is also a
        /// client's (as the switch's is, for its calls to participants).
        pub fn issue(&self, name: &str, server: bool, expired: bool) -> (String, String) {
            let key = KeyPair::generate().expect("key");
            let sans = if server {
                vec!["localhost".to_string(), "127.0.0.1".to_string()]
            } else {
                Vec::new()
            };
            let mut params = CertificateParams::new(sans).expect("params");
            params.distinguished_name.push(DnType::CommonName, name);
            params.extended_key_usages = if server {
                vec![
                    ExtendedKeyUsagePurpose::ServerAuth,
                    ExtendedKeyUsagePurpose::ClientAuth,
                ]
            } else {
                vec![ExtendedKeyUsagePurpose::ClientAuth]
            };
            if expired {
                params.not_before = rcgen::date_time_ymd(2020, 1, 1);
                params.not_after = rcgen::date_time_ymd(2021, 1, 1);
            }
            let cert = params.signed_by(&key, &self.issuer).expect("certificate");
            (cert.pem(), key.serialize_pem())
        }
    }

    /// Writes `pem` (certificate, key) to `dir` and names it as an identity
    /// the test clients take.
    pub fn issued(
        dir: &std::path::Path,
        name: &str,
        pem: &(String, String),
    ) -> harambee_tls::dev::Issued {
        let cert_file = dir.join(format!("{name}.pem"));
        let key_file = dir.join(format!("{name}.key"));
        std::fs::write(&cert_file, &pem.0).expect("write");
        std::fs::write(&key_file, &pem.1).expect("write");
        harambee_tls::dev::Issued {
            holder: harambee_tls::dev::Holder::Participant,
            name: name.into(),
            cert_file,
            key_file,
            sha256: harambee_tls::certificate_sha256(
                harambee_tls::certificates_from_pem(pem.0.as_bytes()).expect("PEM")[0].as_ref(),
            ),
            made: true,
        }
    }
}
pub use test_ca::{Ca, issued};
