//! The `harambee` process killed with SIGKILL in the middle of traffic and
//! started again on the same data directory: every outcome acknowledged to a
//! participant is still there, nothing is left reserved, the ledger
//! balances, and a graceful restart reproduces the same digest.
//!
//! This test lives in the switch package because it runs the `harambee`
//! binary (Cargo builds it for the package's own integration tests).

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use harambee_proto::v1::operator_api_client::OperatorApiClient;
use harambee_proto::v1::*;
use harambee_sim::client::{self, Outcome};
use harambee_sim::dfsp::{Behaviour, Customer, Dfsp};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tonic::transport::Channel;

const TOKEN: &str = "crash-test-operator-token-0123";
const CURRENCY: &str = "USD";

struct Switch {
    child: Child,
    participant_url: String,
    op: OperatorApiClient<Channel>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn req<T>(m: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(m);
    r.metadata_mut().insert(
        "authorization",
        format!("Bearer {TOKEN}").parse().expect("ascii"),
    );
    r
}

async fn start(data_dir: &std::path::Path, kafka: Option<&(String, String)>) -> Switch {
    let mut command = Command::new(env!("CARGO_BIN_EXE_harambee"));
    if let Some((brokers, topic)) = kafka {
        command
            .env("HARAMBEE_LOG", "kafka")
            .env("HARAMBEE_KAFKA_BROKERS", brokers)
            .env("HARAMBEE_KAFKA_TOPIC", topic);
    }
    let mut child = command
        .arg("serve")
        .env("HARAMBEE_DATA_DIR", data_dir)
        .env("HARAMBEE_PARTICIPANT_LISTEN", "127.0.0.1:0")
        .env("HARAMBEE_OPERATOR_LISTEN", "127.0.0.1:0")
        .env("HARAMBEE_METRICS_LISTEN", "127.0.0.1:0")
        .env("HARAMBEE_OPERATOR_TOKEN", TOKEN)
        .env("HARAMBEE_EXPIRY_SWEEP_INTERVAL_MS", "100")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("harambee starts");
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
        op,
    }
}

/// One payment with a short expiry, so that transfers caught by the crash
/// expire soon after the restart.
async fn pay(
    api: &mut client::Api,
    payer: &str,
    payee: PartyIdentifier,
    amount: &str,
) -> Option<(String, Outcome)> {
    let party = api
        .lookup_party(LookupPartyRequest {
            party: Some(payee),
            currency: CURRENCY.into(),
        })
        .await
        .ok()?
        .into_inner()
        .party?;
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
        .ok()?
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
        .ok()?
        .into_inner();
    Some((transfer_id, client::outcome_of(&result)))
}

/// SIGKILLs the switch this many times in each test.
const KILLS: u64 = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_in_the_middle_of_traffic_loses_nothing_acknowledged() {
    crash_cycles(None).await;
}

/// The same on the Kafka event log. NEEDS the `tansu` broker (installed by
/// `.ci/run`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_on_the_kafka_log_loses_nothing_acknowledged() {
    let broker = harambee_tests::Tansu::start().await;
    let topic = format!("harambee.crash.{}", uuid::Uuid::new_v4().simple());
    crash_cycles(Some((broker.brokers.clone(), topic))).await;
}

async fn crash_cycles(kafka: Option<(String, String)>) {
    let kafka = kafka.as_ref();
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut switch = start(&data, kafka).await;
    switch
        .op
        .add_currency(req(AddCurrencyRequest {
            currency: CURRENCY.into(),
        }))
        .await
        .expect("currency");

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut members = Vec::new();
    for (i, name) in ["bank-a", "bank-b"].iter().enumerate() {
        let customer = Customer {
            party_type: PartyIdType::Msisdn,
            id: format!("25470000000{i}"),
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
        let mut stop = stop_rx.clone();
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
        api.register_party(RegisterPartyRequest {
            party: Some(PartyIdentifier {
                r#type: PartyIdType::Msisdn as i32,
                id: format!("25470000000{i}"),
                sub_id: String::new(),
            }),
        })
        .await
        .expect("party");
        members.push((name.to_string(), created.credential, dfsp));
    }

    let mut acknowledged: HashMap<String, Outcome> = HashMap::new();
    for round in 0..KILLS {
        // Traffic from both sides, then SIGKILL while it flows.
        let mut workers = Vec::new();
        for w in 0..6 {
            let (payer, credential, _) = members[w % 2].clone();
            let payee = PartyIdentifier {
                r#type: PartyIdType::Msisdn as i32,
                id: format!("25470000000{}", (w + 1) % 2),
                sub_id: String::new(),
            };
            let url = switch.participant_url.clone();
            workers.push(tokio::spawn(async move {
                let mut api = client::connect(&url, &credential).expect("client");
                let mut done = Vec::new();
                let started = Instant::now();
                while started.elapsed() < Duration::from_secs(3) {
                    match pay(
                        &mut api,
                        &payer,
                        payee.clone(),
                        &format!("{}.{:02}", 1 + done.len() % 50, w),
                    )
                    .await
                    {
                        Some(ack) => done.push(ack),
                        None => break, // the switch is gone
                    }
                }
                done
            }));
        }
        tokio::time::sleep(Duration::from_millis(250 + 150 * (round % 5))).await;
        switch.child.start_kill().expect("SIGKILL");
        let _ = switch.child.wait().await;
        for w in workers {
            for (id, outcome) in w.await.expect("worker") {
                acknowledged.insert(id, outcome);
            }
        }
        switch = start(&data, kafka).await;
    }
    assert!(
        acknowledged.len() >= 10,
        "traffic flowed before the crashes ({} acknowledged)",
        acknowledged.len()
    );

    // Every acknowledged outcome survived.
    for (id, outcome) in &acknowledged {
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
    // Nothing stays reserved once its expiry has passed.
    let deadline = Instant::now() + Duration::from_secs(15);
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
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} transfers still reserved",
            reserved.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before = switch
        .op
        .get_ledger_digest(req(GetLedgerDigestRequest {}))
        .await
        .expect("digest")
        .into_inner();
    assert!(before.balanced, "the ledger balances");

    // A graceful stop and start replays to the same digest.
    let pid = switch.child.id().expect("pid");
    let status = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(30), switch.child.wait())
        .await
        .expect("stops on SIGTERM")
        .expect("exit status");
    assert!(exit.success(), "graceful shutdown exits 0, got {exit:?}");
    let mut again = start(&data, kafka).await;
    let after = again
        .op
        .get_ledger_digest(req(GetLedgerDigestRequest {}))
        .await
        .expect("digest")
        .into_inner();
    assert_eq!(after.digest, before.digest);
    assert_eq!(after.log_offset, before.log_offset);
    let _ = stop_tx.send(true);
}
