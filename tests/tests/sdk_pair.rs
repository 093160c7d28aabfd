//! Mojaloop's own DFSP client against the switch: two
//! `@mojaloop/sdk-scheme-adapter` instances (the connector Mojaloop's
//! DFSPs run in front of their core systems) pay each other through the
//! switch's FSPIOP API, and one of them pays, and is paid by, a gRPC
//! participant from `harambee-sim`, all on one ledger.
//!
//! The SDK is installed by `scripts/test setup` (`shared/ttk/sdk-pair.sh`
//! shows the same arrangement by hand). Every process here listens on a
//! port chosen at run time, on 127.0.0.1; each SDK keeps its state in a
//! Redis of its own that this test starts and stops.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use harambee_sim::client::{self, Outcome};
use harambee_sim::dfsp::Behaviour;
use harambee_tests::fspiop::{Dfsp, fspiop_participant, fund, shared_ttk, ttk_dir};
use harambee_tests::*;
use rust_decimal::Decimal;
use serde_json::{Value, json};

fn sdk_dir() -> PathBuf {
    std::env::var_os("SDK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| ttk_dir().join("sdk"))
}

/// A child process, killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port free on 127.0.0.1 now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn wait_for_port(what: &str, port: u16) {
    for _ in 0..240 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{what} does not listen on {port} within 60 s");
}

/// The SDK's signature settings: with `keys`, it signs everything it
/// sends (PUT /parties too) with its key and checks every message it
/// receives against the sender's public key, as a Mojaloop scheme with
/// JWS on has it; without, neither.
fn sdk_jws_env(name: &str, keys: Option<&std::path::Path>) -> Vec<(String, String)> {
    let pairs: Vec<(&str, String)> = match keys {
        None => vec![
            ("JWS_SIGN", "false".into()),
            ("VALIDATE_INBOUND_JWS", "false".into()),
        ],
        Some(dir) => vec![
            ("JWS_SIGN", "true".into()),
            ("JWS_SIGN_PUT_PARTIES", "true".into()),
            (
                "JWS_SIGNING_KEY_PATH",
                dir.join(format!("{name}.key")).display().to_string(),
            ),
            ("VALIDATE_INBOUND_JWS", "true".into()),
            ("VALIDATE_INBOUND_PUT_PARTIES_JWS", "true".into()),
            (
                "JWS_VERIFICATION_KEYS_DIRECTORY",
                dir.join("public").display().to_string(),
            ),
        ],
    };
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// An RSA key pair for `name` in `dir` (openssl): `<name>.key` and
/// `public/<name>.pem`.
fn key_pair(dir: &std::path::Path, name: &str) {
    std::fs::create_dir_all(dir.join("public")).expect("a key directory");
    let private = dir.join(format!("{name}.key"));
    let made = Command::new("openssl")
        .args(["genrsa", "-out"])
        .arg(&private)
        .arg("2048")
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(made.success(), "openssl genrsa");
    let public = Command::new("openssl")
        .args(["rsa", "-pubout", "-in"])
        .arg(&private)
        .arg("-out")
        .arg(dir.join("public").join(format!("{name}.pem")))
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(public.success(), "openssl rsa -pubout");
}

/// One SDK instance with its backend: `inbound` is where the switch
/// calls it (its registered FSPIOP endpoints), `outbound` its DFSP-facing
/// API.
struct Sdk {
    name: String,
    inbound: u16,
    outbound: u16,
    _processes: Vec<Process>,
    log: PathBuf,
}

impl Sdk {
    /// `keys`: with signatures, the directory of every party's keys
    /// (`<name>.key` private, `public/<name>.pem` public).
    async fn start(
        name: &str,
        hub: &str,
        redis: u16,
        dir: &std::path::Path,
        keys: Option<&std::path::Path>,
    ) -> Sdk {
        let backend = free_port();
        let (inbound, outbound, test, metrics) =
            (free_port(), free_port(), free_port(), free_port());
        let backend_log =
            std::fs::File::create(dir.join(format!("backend-{name}.log"))).expect("a log file");
        let backend_process = Process(
            Command::new("node")
                .arg(shared_ttk().join("mock-backend.js"))
                .arg(backend.to_string())
                .stdout(backend_log)
                .stderr(Stdio::null())
                .spawn()
                .expect("the mock backend starts"),
        );
        let log = dir.join(format!("sdk-{name}.log"));
        let sdk_log = std::fs::File::create(&log).expect("a log file");
        let sdk = Process(
            Command::new("node")
                .arg("-r")
                .arg(shared_ttk().join("loopback.js"))
                .arg("src/index.js")
                .current_dir(sdk_dir().join("node_modules/@mojaloop/sdk-scheme-adapter"))
                .env("DFSP_ID", name)
                .env("INBOUND_LISTEN_PORT", inbound.to_string())
                .env("OUTBOUND_LISTEN_PORT", outbound.to_string())
                .env("TEST_LISTEN_PORT", test.to_string())
                .env("METRICS_SERVER_LISTEN_PORT", metrics.to_string())
                .env("PEER_ENDPOINT", hub)
                .env("BACKEND_ENDPOINT", format!("127.0.0.1:{backend}"))
                .env("CACHE_URL", format!("redis://127.0.0.1:{redis}"))
                .envs(sdk_jws_env(name, keys))
                .env("AUTO_ACCEPT_PARTY", "true")
                .env("AUTO_ACCEPT_QUOTES", "true")
                .env("EXPIRY_SECONDS", "60")
                .env("ILP_SECRET", format!("secret-{name}"))
                .env("LOG_INDENT", "0")
                .stdout(sdk_log.try_clone().expect("a log file"))
                .stderr(sdk_log)
                .spawn()
                .expect("the SDK starts"),
        );
        wait_for_port("the mock backend", backend).await;
        wait_for_port("the SDK's inbound API", inbound).await;
        wait_for_port("the SDK's outbound API", outbound).await;
        Sdk {
            name: name.to_string(),
            inbound,
            outbound,
            _processes: vec![backend_process, sdk],
            log,
        }
    }

    /// The SDK's outbound `POST /transfers`: lookup, quote and transfer
    /// in one call, each step accepted automatically. Its answer.
    async fn pay(&self, to_type: &str, to_id: &str, amount: &str) -> Value {
        let body = json!({
            "homeTransactionId": uuid::Uuid::new_v4().to_string(),
            "from": {"idType": "MSISDN", "idValue": "255700000009", "displayName": "Payer One"},
            "to": {"idType": to_type, "idValue": to_id},
            "amountType": "SEND",
            "currency": CURRENCY,
            "amount": amount,
            "transactionType": "TRANSFER",
            "note": "paid through Harambee",
        });
        let response = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{}/transfers", self.outbound))
            .timeout(Duration::from_secs(90))
            .json(&body)
            .send()
            .await
            .expect("the SDK's outbound API answers");
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if answer["currentState"] != "COMPLETED"
            && let Some(dir) = self.log.parent()
        {
            print_logs(dir);
        }
        answer
    }
}

/// Every log of the run, to see where it stopped.
fn print_logs(dir: &std::path::Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        println!(
            "--- {}:\n{}",
            entry.path().display(),
            std::fs::read_to_string(entry.path()).unwrap_or_default()
        );
    }
}

/// What `name` owes from committed transfers (negative: is owed).
async fn position(s: &mut TestSwitch, name: &str) -> Decimal {
    let p = s.position(name).await;
    p.position.parse().expect("a decimal position")
}

#[tokio::test(flavor = "multi_thread")]
async fn two_mojaloop_sdks_and_a_grpc_participant_pay_each_other_through_the_switch() {
    pay_through_the_switch(false).await;
}

/// The same with signatures on everywhere: the SDKs sign and verify
/// every message, the switch refuses what is not signed by its sender
/// (its keys) and signs what it writes itself with its own key, which the
/// SDKs hold as `Hub`'s, and as `simbank`'s: the switch writes the gRPC
/// participant's FSPIOP messages, and vouches for them.
#[tokio::test(flavor = "multi_thread")]
async fn with_signatures_required_the_sdks_verify_what_the_switch_relays_and_signs() {
    pay_through_the_switch(true).await;
}

async fn pay_through_the_switch(signed: bool) {
    let installed = sdk_dir().join("node_modules/@mojaloop/sdk-scheme-adapter/package.json");
    assert!(
        installed.exists(),
        "the SDK is not installed at {}: run scripts/test setup",
        installed.display()
    );
    let run = tempfile::tempdir().expect("tempdir");
    let redis = free_port();
    let _redis = Process(
        Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &redis.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts"),
    );
    wait_for_port("redis", redis).await;

    // The switch in development mode, as behind a Mojaloop API gateway:
    // the SDKs send no credential.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = TestSwitch::config(dir.path());
    config.fspiop.trust_source_header = true;
    let keys = run.path().join("keys");
    if signed {
        for name in ["Hub", "dfspa", "dfspb"] {
            key_pair(&keys, name);
        }
        // The switch writes the gRPC participant's messages: its key.
        std::fs::copy(keys.join("public/Hub.pem"), keys.join("public/simbank.pem"))
            .expect("simbank's key");
        // The switch's keys of the SDKs (its own is not among them).
        let participants = keys.join("participants");
        std::fs::create_dir_all(&participants).expect("a key directory");
        for name in ["dfspa", "dfspb"] {
            std::fs::copy(
                keys.join(format!("public/{name}.pem")),
                participants.join(format!("{name}.pem")),
            )
            .expect("a participant's key");
        }
        config.fspiop.jws_signing_key = keys.join("Hub.key").display().to_string();
        config.fspiop.jws_verification_keys = participants.display().to_string();
    }
    let mut s = TestSwitch::start_with(dir, config).await;
    let hub = s.running().fspiop_addr.expect("FSPIOP API").to_string();

    let sdk_keys = signed.then_some(keys.as_path());
    let dfspa = Sdk::start("dfspa", &hub, redis, run.path(), sdk_keys).await;
    let dfspb = Sdk::start("dfspb", &hub, redis, run.path(), sdk_keys).await;
    let mut registered: Vec<Dfsp> = Vec::new();
    for sdk in [&dfspa, &dfspb] {
        let d =
            fspiop_participant(&s, &sdk.name, &format!("http://127.0.0.1:{}", sdk.inbound)).await;
        fund(&s, &sdk.name, "100000").await;
        registered.push(d);
    }
    // dfspb's customer, in the switch's oracle: FSPIOP POST /participants
    // as dfspb (as its SDK would on its backend's behalf), or, where
    // messages must be signed by their sender, through the operator's
    // oracle API.
    if signed {
        let admin = format!("http://{}", s.running().admin_addr.expect("admin API"));
        let status = reqwest::Client::new()
            .post(format!("{admin}/oracle/participants/MSISDN/255700000001"))
            .json(&json!({"fspId": "dfspb", "currency": CURRENCY}))
            .send()
            .await
            .expect("the admin API answers")
            .status();
        assert!(status.is_success(), "{status}");
    } else {
        let (status, body) = registered[1]
            .send(
                reqwest::Method::POST,
                "/participants/MSISDN/255700000001",
                "participants",
                "1.1",
                Some(json!({"fspId": "dfspb", "currency": CURRENCY})),
                Some(""),
            )
            .await;
        assert_eq!(status, 202, "{body}");
    }
    // A gRPC participant from harambee-sim, with its customers.
    let mut simbank = s
        .onboard("simbank", "100000", "100000", Behaviour::Honest)
        .await;

    // SDK to SDK.
    let (a0, b0) = (
        position(&mut s, "dfspa").await,
        position(&mut s, "dfspb").await,
    );
    let mut answer = Value::Null;
    for _ in 0..20 {
        // The alias registration is asynchronous: until it is in the
        // oracle the lookup ends 3204.
        answer = dfspa.pay("MSISDN", "255700000001", "12.5").await;
        if answer["currentState"] == "COMPLETED" || !answer.to_string().contains("3204") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        answer["currentState"], "COMPLETED",
        "dfspa pays dfspb: {answer}"
    );
    assert_eq!(
        answer["fulfil"]["body"]["transferState"], "COMMITTED",
        "{answer}"
    );
    let transfer_id = answer["transferId"]
        .as_str()
        .expect("a transfer id")
        .to_string();
    let paid = Decimal::new(125, 1);
    assert_eq!(
        position(&mut s, "dfspa").await - a0,
        paid,
        "the payer owes it"
    );
    assert_eq!(
        position(&mut s, "dfspb").await - b0,
        -paid,
        "the payee is owed it"
    );

    // SDK to gRPC: dfspa pays simbank's customer.
    let customer = simbank.customer(0);
    let sim_before = position(&mut s, "simbank").await;
    let answer = dfspa.pay("MSISDN", &customer.id, "20").await;
    assert_eq!(
        answer["currentState"], "COMPLETED",
        "dfspa pays simbank: {answer}"
    );
    assert_eq!(
        answer["fulfil"]["body"]["transferState"], "COMMITTED",
        "{answer}"
    );
    assert!(
        position(&mut s, "simbank").await < sim_before,
        "simbank was paid: it is owed more"
    );

    // gRPC to SDK: simbank pays dfspb's customer.
    let b1 = position(&mut s, "dfspb").await;
    let party = harambee_proto::v1::PartyIdentifier {
        r#type: harambee_proto::v1::PartyIdType::Msisdn as i32,
        id: "255700000001".into(),
        sub_id: String::new(),
    };
    let payer = simbank.customer(1);
    let outcome = client::pay(&mut simbank.api, "simbank", payer, party, "7", CURRENCY).await;
    if outcome != Outcome::Committed {
        print_logs(run.path());
    }
    assert_eq!(outcome, Outcome::Committed, "simbank pays dfspb");
    assert!(
        position(&mut s, "dfspb").await < b1,
        "dfspb was paid: its position fell"
    );

    // The SDK-to-SDK transfer, asked for again over FSPIOP: the switch
    // answers its state to dfspa.
    let (status, _) = registered[0]
        .send(
            reqwest::Method::GET,
            &format!("/transfers/{transfer_id}"),
            "transfers",
            "1.1",
            None,
            Some(""),
        )
        .await;
    assert_eq!(status, 202);

    if signed {
        // Each SDK checked the signatures of what it received, and none
        // failed: the relayed ones (its peer's) and the switch's own.
        for sdk in [&dfspa, &dfspb] {
            let log = std::fs::read_to_string(&sdk.log).unwrap_or_default();
            assert!(
                log.contains("Validating JWS"),
                "{} checked signatures",
                sdk.name
            );
            assert!(
                !log.contains("failed JWS validation"),
                "{}: a signature failed:\n{log}",
                sdk.name
            );
        }
        // And the switch refuses a message its sender did not sign.
        let (status, body) = registered[0]
            .send(
                reqwest::Method::POST,
                "/quotes",
                "quotes",
                "1.1",
                Some(json!({"quoteId": uuid::Uuid::new_v4().to_string()})),
                Some(""),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["errorInformation"]["errorCode"], "3105", "{body}");
    }

    // One ledger: the operator's digest balances across all three.
    let digest = s.digest().await;
    assert!(digest.balanced, "{digest:?}");
    drop(dfspa);
    drop(dfspb);
    drop(s);
}
