//! A legacy bank host on ISO 8583: it connects to the switch's gateway
//! over TCP (ASCII 1987 dialect, 2-byte length headers), signs on, pays
//! with 0200 account transfers, and is paid: it approves the switch's 0200
//! credits to its customers (declining every n-th if told to), answers echo
//! tests, and acknowledges the 0420 reversal of a credit by undoing it.
//!
//! It keeps its own books (what it was credited and what was reversed),
//! so a demo can show that the host and the switch agree.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use harambee_iso8583::{Dialect, Framing, Message, Mti, decode, encode, transmission_time};
use harambee_proto::v1::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use crate::client::Outcome;

/// The host's connection to the gateway: plain TCP or TLS.
pub trait HostIo: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static> HostIo for T {}
use crate::network::{self, Operator};

/// How long the host waits for the switch's answer to one request.
pub const ANSWER_TIMEOUT_MS: u64 = 60_000;

/// Messages queued for the host's writer.
const OUTBOX_DEPTH: usize = 4_096;

/// The largest message the host reads.
const MESSAGE_MAX: usize = 8_192;

/// What the host counts.
#[derive(Debug, Default)]
pub struct LegacyStats {
    /// The host's own 0200s the switch approved, and their sum in minor
    /// units.
    pub payments_approved: AtomicU64,
    pub paid_minor: AtomicI64,
    /// 0200 credits approved, and their sum in minor units (less what
    /// reversals undid).
    pub credits_approved: AtomicU64,
    pub credited_minor: AtomicI64,
    /// 0200 credits declined (the host's rule, or no such customer).
    pub credits_declined: AtomicU64,
    /// 0420/0421 reversal advices acknowledged, and what they undid.
    pub reversals: AtomicU64,
    /// Echo tests answered.
    pub echoes: AtomicU64,
}

/// A connected, signed-on legacy host.
pub struct LegacyHost {
    pub name: String,
    pub institution_id: String,
    pub currency: String,
    /// ISO 4217 numeric code of `currency`, field 49.
    currency_numeric: String,
    /// Decimal places of the currency's minor unit.
    minor_digits: u32,
    customers: Vec<String>,
    outbox: mpsc::Sender<Message>,
    /// Requests sent, by STAN, waiting for their answer.
    awaited: Mutex<HashMap<String, oneshot::Sender<Message>>>,
    /// Credits approved, by (STAN, RRN) of the switch's 0200, with their
    /// amount in minor units: a reversal undoes the one it names.
    credits: Mutex<HashMap<(String, String), i64>>,
    reversed: Mutex<HashSet<(String, String)>>,
    /// The host's STAN sequence, shared by its connections.
    stan: Arc<AtomicU32>,
    rrn_base: u64,
    gateway: SocketAddr,
    /// On TLS: the host's certificate, presented to the gateway.
    tls: Option<tokio_rustls::TlsConnector>,
    spec: LegacySpec,
    /// Decline every n-th credit (0: approve all).
    decline_every: u64,
    credits_seen: AtomicU64,
    pub stats: LegacyStats,
}

/// What to onboard and how to connect.
#[derive(Clone, Debug)]
pub struct LegacySpec {
    pub name: String,
    /// Its institution id (field 32), as the gateway's host binding names it.
    pub institution_id: String,
    pub currency: String,
    pub liquidity: String,
    pub net_debit_cap: String,
    pub customers: usize,
    /// Decline every n-th credit (0: approve all).
    pub decline_every: u64,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// ISO 4217 numeric code (field 49) and minor digits of `code`, from the
/// ledger's table of currencies.
fn currency_numeric(code: &str) -> anyhow::Result<(String, u32)> {
    let currency = harambee_ledger::Currency::parse(code)?;
    Ok((format!("{:03}", currency.numeric()), currency.scale()))
}

/// Onboards the legacy bank through the Operator API (its endpoint is the
/// gateway, `iso8583:<institution id>`), registers its customers, connects
/// to the gateway at `gateway` and signs on.
pub async fn onboard(
    op: &mut Operator,
    participant_url: &str,
    spec: &LegacySpec,
    gateway: SocketAddr,
) -> anyhow::Result<Arc<LegacyHost>> {
    anyhow::ensure!(
        spec.customers <= network::CUSTOMERS_MAX,
        "a legacy bank has at most {} customers",
        network::CUSTOMERS_MAX
    );
    let customers: Vec<String> = (0..spec.customers)
        .map(|k| network::customer_id(&spec.name, k))
        .collect();
    network::enrol(
        op,
        participant_url,
        &network::Enrolment {
            name: &spec.name,
            kind: ParticipantKind::Bank,
            currency: &spec.currency,
            liquidity: &spec.liquidity,
            net_debit_cap: &spec.net_debit_cap,
            endpoint: &format!("iso8583:{}", spec.institution_id),
            parties: &customers,
        },
    )
    .await?;
    // On mTLS the host presents the certificate the operator registered
    // for its participant.
    let tls = match &op.scheme {
        Some(scheme) => Some(scheme.participant(&spec.name)?.tls_connector()?),
        None => None,
    };
    LegacyHost::connect_on(spec, customers, gateway, tls).await
}

impl LegacyHost {
    /// Connects to the gateway and signs on.
    pub async fn connect(
        spec: &LegacySpec,
        customers: Vec<String>,
        gateway: SocketAddr,
    ) -> anyhow::Result<Arc<LegacyHost>> {
        Self::connect_on(spec, customers, gateway, None).await
    }

    /// [`LegacyHost::connect`], on TLS through `tls` when given.
    pub async fn connect_on(
        spec: &LegacySpec,
        customers: Vec<String>,
        gateway: SocketAddr,
        tls: Option<tokio_rustls::TlsConnector>,
    ) -> anyhow::Result<Arc<LegacyHost>> {
        // RRNs unique across runs: the second of the start, then a
        // counter (the STAN).
        let rrn_base = (now_ms() as u64 / 1_000 % 1_000_000) * 1_000_000;
        Self::open(
            spec,
            customers,
            gateway,
            tls,
            Arc::new(AtomicU32::new(1)),
            rrn_base,
        )
        .await
    }

    /// Another connection of the same host, signed on: its STANs and RRNs
    /// continue the host's one sequence (two connections never send the
    /// same request keys, which the switch would take as one payment).
    pub async fn another_connection(&self) -> anyhow::Result<Arc<LegacyHost>> {
        Self::open(
            &self.spec,
            self.customers.clone(),
            self.gateway,
            self.tls.clone(),
            self.stan.clone(),
            self.rrn_base,
        )
        .await
    }

    async fn open(
        spec: &LegacySpec,
        customers: Vec<String>,
        gateway: SocketAddr,
        tls: Option<tokio_rustls::TlsConnector>,
        stan: Arc<AtomicU32>,
        rrn_base: u64,
    ) -> anyhow::Result<Arc<LegacyHost>> {
        let (currency_numeric, minor_digits) = currency_numeric(&spec.currency)?;
        let tcp = TcpStream::connect(gateway).await?;
        tcp.set_nodelay(true)?;
        let stream: Box<dyn HostIo> = match &tls {
            Some(connector) => {
                let name = rustls::pki_types::ServerName::try_from("localhost")?;
                Box::new(connector.connect(name, tcp).await?)
            }
            None => Box::new(tcp),
        };
        let (reader, mut writer) = tokio::io::split(stream);
        let (outbox, mut queued) = mpsc::channel::<Message>(OUTBOX_DEPTH);
        let dialect = Arc::new(Dialect::ascii_1987());
        let write_dialect = dialect.clone();
        tokio::spawn(async move {
            while let Some(m) = queued.recv().await {
                let Ok(bytes) = encode(&write_dialect, &m) else {
                    tracing::error!(mti = %m.mti, "legacy host: a message that cannot be encoded");
                    continue;
                };
                let Ok(framed) = Framing::Binary2.frame(&bytes) else {
                    continue;
                };
                if writer.write_all(&framed).await.is_err() {
                    return;
                }
            }
        });
        let host = Arc::new(LegacyHost {
            name: spec.name.clone(),
            institution_id: spec.institution_id.clone(),
            currency: spec.currency.clone(),
            currency_numeric,
            minor_digits,
            customers,
            outbox,
            awaited: Mutex::new(HashMap::new()),
            credits: Mutex::new(HashMap::new()),
            reversed: Mutex::new(HashSet::new()),
            stan,
            rrn_base,
            gateway,
            tls,
            spec: spec.clone(),
            decline_every: spec.decline_every,
            credits_seen: AtomicU64::new(0),
            stats: LegacyStats::default(),
        });
        let reading = host.clone();
        tokio::spawn(async move { reading.read_loop(reader, dialect).await });
        let mut sign_on = Message::new(Mti::new(b"0800").expect("a constant MTI"));
        sign_on.set(7, transmission_time(now_ms())).set(70, "001");
        let answer = host.request(sign_on).await?;
        anyhow::ensure!(
            answer.text(39) == Some("00"),
            "the gateway refused the sign-on of {}: 39={:?}",
            spec.name,
            answer.text(39)
        );
        Ok(host)
    }

    /// The MSISDN of the host's k-th customer.
    pub fn customer(&self, k: usize) -> Option<&str> {
        self.customers.get(k).map(String::as_str)
    }

    /// Whole units of the currency as minor units.
    pub fn minor_units(&self, units: u64) -> u64 {
        units * 10u64.pow(self.minor_digits)
    }

    fn next_stan(&self) -> String {
        format!(
            "{:06}",
            self.stan.fetch_add(1, Ordering::Relaxed) % 1_000_000
        )
    }

    /// Sends `m` (with a new STAN unless it has one) and waits for its
    /// answer.
    async fn request(&self, mut m: Message) -> anyhow::Result<Message> {
        let stan = match m.text(11) {
            Some(stan) => stan.to_string(),
            None => {
                let stan = self.next_stan();
                m.set(11, &stan);
                stan
            }
        };
        let (tx, rx) = oneshot::channel();
        self.lock_awaited().insert(stan.clone(), tx);
        if self.outbox.send(m).await.is_err() {
            self.lock_awaited().remove(&stan);
            anyhow::bail!("the connection to the gateway is closed");
        }
        match tokio::time::timeout(Duration::from_millis(ANSWER_TIMEOUT_MS), rx).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => anyhow::bail!("the connection to the gateway closed"),
            Err(_) => {
                self.lock_awaited().remove(&stan);
                anyhow::bail!("no answer from the gateway in {ANSWER_TIMEOUT_MS} ms")
            }
        }
    }

    fn lock_awaited(&self) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<Message>>> {
        self.awaited.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Pays `minor` minor units from the host's account `from` to the
    /// MSISDN `to` with a 0200, and answers the 0210's field 39.
    pub async fn pay(&self, from: &str, to: &str, minor: u64) -> anyhow::Result<String> {
        let now = transmission_time(now_ms());
        let stan = self.next_stan();
        let rrn = (self.rrn_base + stan.parse::<u64>().unwrap_or(0)) % 1_000_000_000_000;
        let mut m = Message::new(Mti::new(b"0200").expect("a constant MTI"));
        m.set(3, "400000")
            .set(4, format!("{minor:012}"))
            .set(7, &now)
            .set(11, &stan)
            .set(12, &now[4..])
            .set(13, &now[..4])
            .set(32, &self.institution_id)
            .set(37, format!("{rrn:012}"))
            .set(49, &self.currency_numeric)
            .set(102, from)
            .set(103, to);
        let answer = self.request(m).await?;
        Ok(answer.text(39).unwrap_or("96").to_string())
    }

    /// [`LegacyHost::pay`] as an outcome of the simulator's reports.
    pub async fn pay_outcome(&self, from: &str, to: &str, minor: u64) -> Outcome {
        match self.pay(from, to, minor).await {
            Ok(code) if code == "00" => {
                self.stats.payments_approved.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .paid_minor
                    .fetch_add(i64::try_from(minor).unwrap_or(i64::MAX), Ordering::Relaxed);
                Outcome::Committed
            }
            Ok(code) => Outcome::Declined(code),
            Err(e) => {
                tracing::warn!(error = %e, "legacy host: a payment without an answer");
                Outcome::Failed("transfer", 2003)
            }
        }
    }

    async fn read_loop(
        self: Arc<Self>,
        mut reader: tokio::io::ReadHalf<Box<dyn HostIo>>,
        dialect: Arc<Dialect>,
    ) {
        let mut buf = Vec::with_capacity(4_096);
        let mut chunk = vec![0u8; 4_096];
        loop {
            loop {
                match Framing::Binary2.split(&buf, MESSAGE_MAX) {
                    Ok(Some((start, end))) => {
                        match decode(&dialect, &buf[start..end]) {
                            Ok(m) => self.take(m),
                            Err(e) => {
                                tracing::warn!(error = %e, "legacy host: an unreadable message")
                            }
                        }
                        buf.drain(..end);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "legacy host: framing broken, disconnecting");
                        return;
                    }
                }
            }
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => {
                    // Whoever waits hears the connection is gone.
                    self.lock_awaited().clear();
                    return;
                }
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// One message from the gateway.
    fn take(&self, m: Message) {
        match m.mti.as_bytes() {
            b"0210" | b"0810" | b"0430" | b"0410" => {
                let stan = m.text(11).unwrap_or_default().to_string();
                if let Some(waiter) = self.lock_awaited().remove(&stan) {
                    let _ = waiter.send(m);
                }
            }
            b"0800" => {
                self.stats.echoes.fetch_add(1, Ordering::Relaxed);
                self.answer(&m, &[7, 11, 70], "00");
            }
            b"0200" => {
                let code = self.credit(&m);
                self.answer(&m, &[3, 4, 7, 11, 12, 13, 32, 37, 49, 102, 103], code);
            }
            b"0420" | b"0421" => {
                self.reverse(&m);
                self.answer(&m, &[3, 4, 7, 11, 32, 37, 49, 90, 103], "00");
            }
            _ => tracing::debug!(mti = %m.mti, "legacy host: ignored"),
        }
    }

    fn answer(&self, request: &Message, echoed: &[usize], code: &str) {
        if request.mti.response().is_none() {
            return;
        }
        if self
            .outbox
            .try_send(request.response_to(echoed, code))
            .is_err()
        {
            tracing::warn!("legacy host: the outbox is full, an answer is dropped");
        }
    }

    /// The switch's 0200 credit to a customer: approved (00), or declined
    /// for an unknown account (14) or by the host's rule (05).
    fn credit(&self, m: &Message) -> &'static str {
        let to = m.text(103).unwrap_or_default();
        let minor: i64 = m.text(4).and_then(|t| t.parse().ok()).unwrap_or(0);
        if !self.customers.iter().any(|c| c == to) || minor <= 0 {
            self.stats.credits_declined.fetch_add(1, Ordering::Relaxed);
            return "14";
        }
        let key = (
            m.text(11).unwrap_or_default().to_string(),
            m.text(37).unwrap_or_default().to_string(),
        );
        if self
            .reversed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&key)
        {
            // Its reversal came first: never credited.
            self.stats.credits_declined.fetch_add(1, Ordering::Relaxed);
            return "05";
        }
        let seen = self.credits_seen.fetch_add(1, Ordering::Relaxed) + 1;
        if self.decline_every > 0 && seen.is_multiple_of(self.decline_every) {
            self.stats.credits_declined.fetch_add(1, Ordering::Relaxed);
            return "05";
        }
        let fresh = self
            .credits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, minor)
            .is_none();
        if fresh {
            self.stats.credits_approved.fetch_add(1, Ordering::Relaxed);
            self.stats
                .credited_minor
                .fetch_add(minor, Ordering::Relaxed);
        }
        "00"
    }

    /// A reversal advice: the credit it names (field 90's STAN, the RRN)
    /// is undone once.
    fn reverse(&self, m: &Message) {
        let original_stan = m.text(90).and_then(|t| t.get(4..10)).unwrap_or_default();
        let key = (
            original_stan.to_string(),
            m.text(37).unwrap_or_default().to_string(),
        );
        let first = self
            .reversed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.clone());
        if !first {
            return;
        }
        let undone = self
            .credits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
        self.stats.reversals.fetch_add(1, Ordering::Relaxed);
        if let Some(minor) = undone {
            self.stats
                .credited_minor
                .fetch_sub(minor, Ordering::Relaxed);
        }
    }

    /// What the host's books say it owes the scheme, in minor units: what
    /// it paid less what it was credited (and not reversed). The switch's
    /// position of the host must be the same.
    pub fn owed_minor(&self) -> i64 {
        self.stats.paid_minor.load(Ordering::Relaxed)
            - self.stats.credited_minor.load(Ordering::Relaxed)
    }

    /// `minor` minor units as a decimal amount of the currency.
    pub fn decimal(&self, minor: i64) -> rust_decimal::Decimal {
        rust_decimal::Decimal::new(minor, self.minor_digits)
    }
}
