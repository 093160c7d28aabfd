//! Central-settlement's API over HTTP (at `/v2` beside the admin API):
//! an operator's tool closes the settlement window, settles it on a
//! deferred net model and moves every participant's account through its
//! states to SETTLED, as Mojaloop's settlement collections do; refusals
//! answer as central-settlement does.

use harambee_proto::v1::*;
use harambee_tests::*;
use serde_json::{Value, json};

async fn pay(a: &mut Member, b: &Member, amount: &str) -> TransferResult {
    let q = quote(a, b, amount).await;
    a.api
        .prepare_transfer(prepare_request(&q, 30_000))
        .await
        .expect("prepare")
        .into_inner()
}

/// An operator's HTTP client of the switch's admin port.
struct Operator {
    http: reqwest::Client,
    base: String,
}

impl Operator {
    fn of(s: &TestSwitch) -> Operator {
        Operator {
            http: reqwest::Client::new(),
            base: format!("http://{}", s.running().admin_addr.expect("admin API")),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(OPERATOR_TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the admin API answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }
}

fn error_code(body: &Value) -> &str {
    body["errorInformation"]["errorCode"]
        .as_str()
        .unwrap_or_default()
}

/// The accounts of a settlement, as (participant id, account id, state,
/// net amount).
fn accounts(settlement: &Value) -> Vec<(u64, u64, String, f64)> {
    settlement["participants"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| {
            let pid = p["id"].as_u64().unwrap_or_default();
            p["accounts"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |a| {
                    (
                        pid,
                        a["id"].as_u64().unwrap_or_default(),
                        a["state"].as_str().unwrap_or_default().to_string(),
                        a["netSettlementAmount"]["amount"]
                            .as_f64()
                            .unwrap_or(f64::NAN),
                    )
                })
        })
        .collect()
}

#[tokio::test]
async fn an_operator_settles_a_window_through_central_settlements_api() {
    let mut s = TestSwitch::start().await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let op = Operator::of(&s);
    let (status, _) = op
        .post(
            "/settlementModels",
            json!({
                "name": "DEFERREDNETKES",
                "settlementGranularity": "NET",
                "settlementInterchange": "MULTILATERAL",
                "settlementDelay": "DEFERRED",
                "currency": CURRENCY,
                "requireLiquidityCheck": true,
                "ledgerAccountType": "POSITION",
                "autoPositionReset": true,
                "settlementAccountType": "SETTLEMENT",
            }),
        )
        .await;
    assert_eq!(status, 201);
    let paid = pay(&mut a, &b, "30").await;
    assert_eq!(paid.state, TransferState::Committed as i32, "{paid:?}");

    // Lists need a filter; the open window is found by state and currency.
    let (status, body) = op.get("/v2/settlementWindows").await;
    assert_eq!((status, error_code(&body)), (400, "3100"), "{body}");
    let (status, body) = op
        .get(&format!(
            "/v2/settlementWindows?state=OPEN&currency={CURRENCY}"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    let window = body[0]["settlementWindowId"]
        .as_u64()
        .expect("an open window");
    assert_eq!(body[0]["state"], "OPEN");
    let (status, body) = op
        .get("/v2/settlementWindows?participantId=0&state=open")
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (400, "3101"),
        "a state not named so: {body}"
    );
    let (status, body) = op.get("/v2/settlementWindows?state=SETTLED").await;
    assert_eq!(
        (status, error_code(&body)),
        (400, "3100"),
        "nothing settled yet: {body}"
    );

    // Closing answers the window opened in its place; a closed window
    // cannot be closed again.
    let (status, body) = op
        .post(
            &format!("/v2/settlementWindows/{window}"),
            json!({"state": "CLOSED", "reason": "end of day"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "OPEN");
    let next = body["settlementWindowId"]
        .as_u64()
        .expect("the next window");
    assert_ne!(next, window);
    let (status, body) = op
        .post(
            &format!("/v2/settlementWindows/{window}"),
            json!({"state": "CLOSED", "reason": "again"}),
        )
        .await;
    assert_eq!((status, error_code(&body)), (400, "3100"), "{body}");
    let (status, body) = op
        .post(
            &format!("/v2/settlementWindows/{next}"),
            json!({"state": "CLOSED", "reason": "nothing in it"}),
        )
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (400, "3100"),
        "an empty window: {body}"
    );
    let (status, body) = op.get(&format!("/v2/settlementWindows/{window}")).await;
    assert_eq!(status, 200);
    assert_eq!(body["state"], "CLOSED");
    assert_eq!(body["reason"], "end of day");
    assert_eq!(body["content"][0]["currencyId"], CURRENCY);
    assert_eq!(body["content"][0]["ledgerAccountType"], "POSITION");

    // The settlement: the payer owes 30, the payee is owed it.
    let (status, body) = op
        .post(
            "/v2/settlements",
            json!({"settlementModel": "NOSUCHMODEL", "reason": "r", "settlementWindows": [{"id": window}]}),
        )
        .await;
    assert_eq!((status, error_code(&body)), (400, "3100"), "{body}");
    let (status, settlement) = op
        .post(
            "/v2/settlements",
            // The window's id as a string, as Mojaloop's tools fill it in.
            json!({"settlementModel": "DEFERREDNETKES", "reason": "daily", "settlementWindows": [{"id": window.to_string()}]}),
        )
        .await;
    assert_eq!(status, 200, "{settlement}");
    assert_eq!(settlement["state"], "PENDING_SETTLEMENT");
    assert_eq!(settlement["settlementWindows"][0]["id"], window);
    assert_eq!(
        settlement["settlementWindows"][0]["state"],
        "PENDING_SETTLEMENT"
    );
    let id = settlement["id"].as_u64().expect("a settlement id");
    let mut nets: Vec<f64> = accounts(&settlement).iter().map(|a| a.3).collect();
    nets.sort_by(f64::total_cmp);
    assert_eq!(nets, vec![-30.0, 30.0], "{settlement}");
    // The account ids are the participants' POSITION accounts.
    let (_, admin_accounts) = op.get("/participants/bank-a/accounts").await;
    let position = admin_accounts
        .as_array()
        .and_then(|a| a.iter().find(|a| a["ledgerAccountType"] == "POSITION"))
        .and_then(|a| a["id"].as_u64())
        .expect("bank-a's position account");
    assert!(
        accounts(&settlement)
            .iter()
            .any(|a| a.1 == position && a.3 == 30.0)
    );

    // A wrong account and a skipped state are answered per account; the
    // settlement does not move.
    let (pid, aid) = (accounts(&settlement)[0].0, accounts(&settlement)[0].1);
    let (status, body) = op
        .put(
            &format!("/v2/settlements/{id}"),
            json!({"participants": [{"id": pid, "accounts": [
                {"id": aid + 1000, "state": "PS_TRANSFERS_RECORDED", "reason": "r"},
            ]}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["participants"][0]["accounts"][0]["errorInformation"]["errorCode"], "3000",
        "{body}"
    );
    let (status, body) = op
        .put(
            &format!("/v2/settlements/{id}"),
            json!({"participants": [{"id": pid, "accounts": [
                {"id": aid, "state": "PS_TRANSFERS_COMMITTED", "reason": "r"},
            ]}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["participants"][0]["accounts"][0]["errorInformation"]["errorCode"], "3000",
        "{body}"
    );
    let (_, body) = op.get(&format!("/v2/settlements/{id}")).await;
    assert_eq!(body["state"], "PENDING_SETTLEMENT");
    let (status, body) = op
        .put(
            &format!("/v2/settlements/{id}"),
            json!({"state": "SETTLED", "reason": "r"}),
        )
        .await;
    assert_eq!((status, error_code(&body)), (400, "3100"), "{body}");

    // Every account through every state, one participant at a time; the
    // settlement follows the least advanced, SETTLING between.
    for state in [
        "PS_TRANSFERS_RECORDED",
        "PS_TRANSFERS_RESERVED",
        "PS_TRANSFERS_COMMITTED",
        "SETTLED",
    ] {
        for (i, (pid, aid, _, _)) in accounts(&settlement).into_iter().enumerate() {
            let (status, body) = op
                .put(
                    &format!("/v2/settlements/{id}"),
                    json!({"participants": [{"id": pid, "accounts": [
                        {"id": aid, "state": state, "reason": "step", "externalReference": "ref-1"},
                    ]}]}),
                )
                .await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(
                body["participants"][0]["accounts"][0]["state"], state,
                "{body}"
            );
            let (_, now) = op.get(&format!("/v2/settlements/{id}")).await;
            if state == "SETTLED" && i == 0 {
                assert_eq!(now["state"], "SETTLING", "{now}");
            }
        }
    }
    let (_, done) = op.get(&format!("/v2/settlements/{id}")).await;
    assert_eq!(done["state"], "SETTLED", "{done}");
    assert_eq!(done["settlementWindows"][0]["state"], "SETTLED", "{done}");
    let (status, listed) = op
        .get(&format!(
            "/v2/settlements?state=SETTLED&currency={CURRENCY}"
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(listed[0]["id"], id);
    let (status, body) = op
        .put(
            &format!("/v2/settlements/{id}"),
            json!({"state": "ABORTED", "reason": "too late"}),
        )
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (400, "3100"),
        "a settled settlement: {body}"
    );
    let (status, body) = op.get(&format!("/v2/settlements/{}", id + 99)).await;
    assert_eq!((status, error_code(&body)), (400, "3100"), "{body}");
    // The same API at the root, as older deployments serve it.
    let (status, _) = op.get(&format!("/settlements/{id}")).await;
    assert_eq!(status, 200);
    // The ledger still balances.
    assert!(s.digest().await.balanced);
}

/// As on a fresh Mojaloop hub, an operator's tool finds an OPEN window
/// before any payment, in every currency the hub has; `?state=OPEN` lists
/// the window that took the latest payment first, so the tool closes the
/// one with transfers; closing an empty one is refused in
/// central-settlement's words.
#[tokio::test]
async fn every_currency_has_an_open_window_from_the_start_and_the_busy_one_is_listed_first() {
    let mut s = TestSwitch::start().await;
    let op = Operator::of(&s);
    // A second currency, enabled after the first by the hub's accounts in it.
    let (status, body) = op
        .post(
            "/participants/Hub/accounts",
            json!({"type": "HUB_MULTILATERAL_SETTLEMENT", "currency": "USD"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    let (status, open) = op.get("/v2/settlementWindows?state=OPEN").await;
    assert_eq!(status, 200, "an OPEN window on a fresh hub: {open}");
    let open = open.as_array().cloned().unwrap_or_default();
    assert_eq!(open.len(), 2, "one per currency: {open:?}");
    assert!(open.iter().all(|w| w["state"] == "OPEN"), "{open:?}");
    // Nothing paid yet: the newest (USD's) first, and it is empty.
    let usd = open[0]["settlementWindowId"].as_u64().expect("an id");
    let kes = open[1]["settlementWindowId"].as_u64().expect("an id");
    let (status, body) = op
        .post(
            &format!("/v2/settlementWindows/{usd}"),
            json!({"state": "CLOSED", "reason": "end of day"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_code(&body), "3100");
    assert_eq!(
        body["errorInformation"]["errorDescription"],
        format!("Generic validation error - Window {usd} is empty")
    );

    // A payment in the first currency puts its window first.
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let paid = pay(&mut a, &b, "12").await;
    assert_eq!(paid.state, TransferState::Committed as i32, "{paid:?}");
    let (status, open) = op.get("/v2/settlementWindows?state=OPEN").await;
    assert_eq!(status, 200, "{open}");
    assert_eq!(open[0]["settlementWindowId"].as_u64(), Some(kes), "{open}");

    // Closing it answers the window opened in its place, OPEN.
    let (status, next) = op
        .post(
            &format!("/v2/settlementWindows/{kes}"),
            json!({"state": "CLOSED", "reason": "end of day"}),
        )
        .await;
    assert_eq!(status, 200, "{next}");
    assert_eq!(next["state"], "OPEN");
    let next_id = next["settlementWindowId"].as_u64().expect("an id");
    assert!(next_id != kes && next_id != usd, "{next}");
    let (status, closed) = op.get(&format!("/v2/settlementWindows/{kes}")).await;
    assert_eq!((status, closed["state"].as_str()), (200, Some("CLOSED")));
}
