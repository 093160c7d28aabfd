//! What the tests that run the `harambee` binary share: starting a switch
//! process, onboarding two banks with simulated payee callbacks, and a
//! payment as a participant makes it.

#![allow(dead_code)] // each test binary uses its own part of this module

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use harambee_proto::v1::operator_api_client::OperatorApiClient;
use harambee_proto::v1::*;
use harambee_sim::client::{self, Outcome};
use harambee_sim::dfsp::{Behaviour, Customer, Dfsp};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tonic::transport::Channel;

pub const TOKEN: &str = "crash-test-operator-token-0123";
pub const CURRENCY: &str = "USD";

/// A `harambee serve` process.
pub struct Switch {
    pub child: Child,
    pub participant_url: String,
    pub operator_url: String,
    pub op: OperatorApiClient<Channel>,
    /// The Cluster API's URL, when it is a node of a cluster.
    pub cluster_url: Option<String>,
    /// What it wrote on standard error (also echoed to the test's).
    pub stderr: Arc<Mutex<String>>,
}

/// The binary under test: `HARAMBEE_TEST_BIN` if set (to run a test
/// against another build, say the one before a fix), else this build's.
pub fn binary() -> String {
    std::env::var("HARAMBEE_TEST_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_harambee").to_string())
}

/// Most of a process's standard error the harness keeps.
const STDERR_KEPT_MAX_BYTES: usize = 4 << 20;

/// Echoes a child's standard error and keeps it.
fn keep_stderr(stderr: tokio::process::ChildStderr) -> Arc<Mutex<String>> {
    let kept = Arc::new(Mutex::new(String::new()));
    let sink = kept.clone();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("{line}");
            let mut text = sink.lock().unwrap_or_else(|p| p.into_inner());
            if text.len() < STDERR_KEPT_MAX_BYTES {
                text.push_str(&line);
                text.push('\n');
            }
        }
    });
    kept
}

/// A `harambee serve` command on `data_dir` with `env`, on free ports.
fn serve_command(data_dir: &std::path::Path, env: &[(String, String)]) -> Command {
    let mut command = Command::new(binary());
    for (k, v) in env {
        command.env(k, v);
    }
    command
        .arg("serve")
        .env("HARAMBEE_DATA_DIR", data_dir)
        .env("HARAMBEE_PARTICIPANT_LISTEN", "127.0.0.1:0")
        .env("HARAMBEE_OPERATOR_LISTEN", "127.0.0.1:0")
        .env("HARAMBEE_METRICS_LISTEN", "127.0.0.1:0")
        .env("HARAMBEE_CLUSTER_LISTEN", "127.0.0.1:0")
        .env("HARAMBEE_FSPIOP_ADMIN_LISTEN", "127.0.0.1:0")
        .env("HARAMBEE_FSPIOP_LISTEN", "127.0.0.1:0")
        .env("HARAMBEE_OPERATOR_TOKEN", TOKEN)
        .env("HARAMBEE_EXPIRY_SWEEP_INTERVAL_MS", "100")
        .env(
            "RUST_LOG",
            std::env::var("HARAMBEE_TEST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Runs `harambee serve` on `data_dir` until it exits by itself (within
/// `timeout`); returns its exit status and standard error.
pub async fn serve_until_exit(
    data_dir: &std::path::Path,
    env: &[(String, String)],
    timeout: Duration,
) -> (std::process::ExitStatus, String) {
    let mut child = serve_command(data_dir, env)
        .spawn()
        .expect("harambee starts");
    let stderr = keep_stderr(child.stderr.take().expect("stderr"));
    let status = tokio::time::timeout(timeout, child.wait())
        .await
        .expect("exits by itself")
        .expect("exit status");
    // Let the echo task take the last lines.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let text = stderr.lock().unwrap_or_else(|p| p.into_inner()).clone();
    (status, text)
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// An operator request.
pub fn req<T>(m: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(m);
    r.metadata_mut().insert(
        "authorization",
        format!("Bearer {TOKEN}").parse().expect("ascii"),
    );
    r
}

/// Environment for a switch on the Kafka log `topic` of `brokers`.
pub fn kafka_env(brokers: &str, topic: &str) -> Vec<(String, String)> {
    vec![
        ("HARAMBEE_LOG".into(), "kafka".into()),
        ("HARAMBEE_KAFKA_BROKERS".into(), brokers.into()),
        ("HARAMBEE_KAFKA_TOPIC".into(), topic.into()),
    ]
}

/// Starts `harambee serve` on `data_dir` with `env`, on free ports, and
/// waits for its ready line.
pub async fn start(data_dir: &std::path::Path, env: &[(String, String)]) -> Switch {
    let mut child = serve_command(data_dir, env)
        .spawn()
        .expect("harambee starts");
    let stderr = keep_stderr(child.stderr.take().expect("stderr"));
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.starts_with("harambee ready ") {
                return line;
            }
        }
        panic!("harambee exited before it was ready");
    })
    .await
    .expect("ready in time");
    // Keep reading stdout so the process never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let field = |name: &str| {
        ready
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .expect("address in the ready line")
            .to_string()
    };
    let op = OperatorApiClient::new(
        Channel::from_shared(format!("http://{}", field("operator")))
            .expect("url")
            .connect()
            .await
            .expect("operator"),
    );
    Switch {
        child,
        participant_url: format!("http://{}", field("participant")),
        operator_url: format!("http://{}", field("operator")),
        op,
        cluster_url: Some(field("cluster"))
            .filter(|a| !a.is_empty())
            .map(|a| format!("http://{a}")),
        stderr,
    }
}

/// The gRPC health of `service` ("" for the whole server) at `url`, or
/// `None` if the server does not answer.
pub async fn health(url: &str, service: &str) -> Option<i32> {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    let channel = Channel::from_shared(url.to_string())
        .ok()?
        .connect_timeout(Duration::from_secs(2))
        .connect()
        .await
        .ok()?;
    let mut client = HealthClient::new(channel);
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: service.to_string(),
    });
    request.set_timeout(Duration::from_secs(2));
    client
        .check(request)
        .await
        .ok()
        .map(|r| r.into_inner().status)
}

/// SERVING in gRPC health.
pub const SERVING: i32 = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
/// NOT_SERVING in gRPC health.
pub const NOT_SERVING: i32 =
    tonic_health::pb::health_check_response::ServingStatus::NotServing as i32;

/// Waits until every one of `urls` reports `status` for the whole server,
/// at most `timeout`; `false` if they did not.
pub async fn wait_health(urls: &[&str], status: i32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let mut all = true;
        for url in urls {
            all &= health(url, "").await == Some(status);
        }
        if all {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the traffic workers saw: acknowledged outcomes and failure codes,
/// each with when.
#[derive(Default)]
pub struct Seen {
    pub acks: Vec<(String, Outcome, Instant)>,
    pub failures: Vec<(u16, Instant)>,
}

/// Four workers paying both ways through `url` until `stop`.
pub fn traffic(
    url: &str,
    members: &[Member],
    stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<Seen>> {
    (0..4)
        .map(|w| {
            let (payer, credential, _) = members[w % 2].clone();
            let payee = msisdn((w + 1) % 2);
            let url = url.to_string();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut api = client::connect(&url, &credential).expect("client");
                let mut seen = Seen::default();
                while !*stop.borrow() {
                    let amount = format!("{}.{:02}", 1 + seen.acks.len() % 50, w);
                    match pay_or_code(&mut api, &payer, payee.clone(), &amount).await {
                        Ok((id, outcome)) => seen.acks.push((id, outcome, Instant::now())),
                        Err(code) => {
                            seen.failures.push((code, Instant::now()));
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
                seen
            })
        })
        .collect()
}

/// What all the workers saw.
pub async fn collect(workers: Vec<tokio::task::JoinHandle<Seen>>) -> Seen {
    let mut all = Seen::default();
    for w in workers {
        let seen = w.await.expect("worker");
        all.acks.extend(seen.acks);
        all.failures.extend(seen.failures);
    }
    all
}

impl Switch {
    pub async fn digest(&mut self) -> LedgerDigest {
        self.op
            .get_ledger_digest(req(GetLedgerDigestRequest {}))
            .await
            .expect("digest")
            .into_inner()
    }

    /// SIGTERM, and waits for a clean exit.
    pub async fn stop_gracefully(mut self) {
        let pid = self.child.id().expect("pid");
        let status = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .expect("kill");
        assert!(status.success());
        let exit = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("stops on SIGTERM")
            .expect("exit status");
        assert!(exit.success(), "graceful shutdown exits 0, got {exit:?}");
    }
}

/// A bank of the tests: its name, API credential and simulated DFSP.
pub type Member = (String, String, Arc<Dfsp>);

/// The MSISDN of bank `i`'s one customer.
pub fn msisdn(i: usize) -> PartyIdentifier {
    PartyIdentifier {
        r#type: PartyIdType::Msisdn as i32,
        id: format!("25470000000{i}"),
        sub_id: String::new(),
    }
}

/// Onboards bank-a (honest) and bank-b (rejects every fifth transfer)
/// through `switch`'s Operator API, each with a callback server that runs
/// until `stop` turns true, 100,000 USD of liquidity and one registered
/// customer.
pub async fn onboard_two_banks(
    switch: &mut Switch,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<Member> {
    onboard_banks(switch, stop, &["bank-a", "bank-b"]).await
}

/// Onboards the banks `names` as `onboard_two_banks` does: the second
/// rejects every fifth transfer, the others are honest; bank `i`'s
/// customer is `msisdn(i)`.
pub async fn onboard_banks(
    switch: &mut Switch,
    stop: tokio::sync::watch::Receiver<bool>,
    names: &[&str],
) -> Vec<Member> {
    switch
        .op
        .add_currency(req(AddCurrencyRequest {
            currency: CURRENCY.into(),
        }))
        .await
        .expect("currency");
    let mut members = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let party = msisdn(i);
        let customer = Customer {
            party_type: PartyIdType::Msisdn,
            id: party.id.clone(),
            display_name: name.to_string(),
        };
        let dfsp = Arc::new(Dfsp::new(
            name,
            [i as u8 + 1; 32],
            vec![customer],
            vec![CURRENCY.into()],
            rust_decimal::Decimal::ZERO,
        ));
        dfsp.set_behaviour(if i == 1 {
            Behaviour::RejectEvery(5)
        } else {
            Behaviour::Honest
        });
        let mut stop = stop.clone();
        let (addr, _) = dfsp
            .clone()
            .serve("127.0.0.1:0", async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await
            .expect("callback");
        let created = switch
            .op
            .create_participant(req(CreateParticipantRequest {
                fsp_id: name.to_string(),
                kind: ParticipantKind::Bank as i32,
                name: name.to_string(),
            }))
            .await
            .expect("participant")
            .into_inner();
        switch
            .op
            .set_endpoint(req(SetEndpointRequest {
                fsp_id: name.to_string(),
                url: format!("http://{addr}"),
            }))
            .await
            .expect("endpoint");
        switch
            .op
            .add_participant_currency(req(AddParticipantCurrencyRequest {
                fsp_id: name.to_string(),
                currency: CURRENCY.into(),
                net_debit_cap: "100000".into(),
                settlement_model: 0,
            }))
            .await
            .expect("accounts");
        switch
            .op
            .funds_in(req(FundsRequest {
                funds_id: uuid::Uuid::new_v4().to_string(),
                fsp_id: name.to_string(),
                amount: Some(Money {
                    amount: "100000".into(),
                    currency: CURRENCY.into(),
                }),
                reason: String::new(),
            }))
            .await
            .expect("funds");
        let mut api =
            client::connect(&switch.participant_url, &created.credential).expect("client");
        api.register_party(RegisterPartyRequest { party: Some(party) })
            .await
            .expect("party");
        members.push((name.to_string(), created.credential, dfsp));
    }
    members
}

/// One payment with a short expiry, so that transfers caught by a crash
/// expire soon after. `None` when any step failed.
pub async fn pay(
    api: &mut client::Api,
    payer: &str,
    payee: PartyIdentifier,
    amount: &str,
) -> Option<(String, Outcome)> {
    pay_or_code(api, payer, payee, amount).await.ok()
}

/// Like `pay`, with the FSPIOP code of the step that failed (0: the
/// transfer stayed RESERVED, not acknowledged as final).
pub async fn pay_or_code(
    api: &mut client::Api,
    payer: &str,
    payee: PartyIdentifier,
    amount: &str,
) -> Result<(String, Outcome), u16> {
    let code = |s: tonic::Status| harambee_proto::fspiop::FspiopError::from_status(&s).code;
    let party = api
        .lookup_party(LookupPartyRequest {
            party: Some(payee),
            currency: CURRENCY.into(),
        })
        .await
        .map_err(code)?
        .into_inner()
        .party
        .ok_or(2001u16)?;
    let quote = api
        .request_quote(QuoteRequest {
            quote_id: uuid::Uuid::new_v4().to_string(),
            transaction_id: uuid::Uuid::new_v4().to_string(),
            payee: Some(party),
            payer: Some(Party {
                fsp_id: payer.into(),
                ..Default::default()
            }),
            amount_type: AmountType::Send as i32,
            amount: Some(Money {
                amount: amount.into(),
                currency: CURRENCY.into(),
            }),
            ..Default::default()
        })
        .await
        .map_err(code)?
        .into_inner();
    let transfer_id = uuid::Uuid::new_v4().to_string();
    let expires = now_ms() + 2_000;
    let result = api
        .prepare_transfer(PrepareTransferRequest {
            transfer_id: transfer_id.clone(),
            payee_fsp: quote.payee_fsp.clone(),
            amount: quote.transfer_amount.clone(),
            ilp_packet: quote.ilp_packet.clone(),
            condition: quote.condition.clone(),
            expiration: Some(prost_types::Timestamp {
                seconds: expires / 1000,
                nanos: ((expires % 1000) * 1_000_000) as i32,
            }),
            ..Default::default()
        })
        .await
        .map_err(code)?
        .into_inner();
    // RESERVED: the switch could not record the payee's answer yet; the
    // outcome is not acknowledged (the transfer finishes later).
    if result.state == TransferState::Reserved as i32 {
        return Err(0);
    }
    Ok((transfer_id, client::outcome_of(&result)))
}

/// Waits until no transfer is RESERVED (their expiries have passed and the
/// sweep aborted them), at most `timeout`.
pub async fn wait_nothing_reserved(switch: &mut Switch, timeout: Duration) {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let reserved = switch
            .op
            .list_transfers(req(ListTransfersRequest {
                state: TransferState::Reserved as i32,
                ..Default::default()
            }))
            .await
            .expect("list")
            .into_inner()
            .transfers;
        if reserved.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} transfers still reserved",
            reserved.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Checks that every acknowledged outcome is what `switch` holds.
pub async fn check_acknowledged(
    switch: &mut Switch,
    acknowledged: &std::collections::HashMap<String, Outcome>,
) {
    for (id, outcome) in acknowledged {
        let t = switch
            .op
            .get_transfer(req(GetTransferRequest {
                transfer_id: id.clone(),
            }))
            .await
            .expect("acknowledged transfer exists")
            .into_inner();
        assert_eq!(&client::outcome_of(&t), outcome, "transfer {id}");
    }
}
