//! The hub admin API (central-ledger's, HTTP/JSON), as a Mojaloop
//! operator's tools call it: over the network, with a real HTTP client,
//! against a running switch. What it does is what the gRPC Operator API
//! does: both are the same service operations.

use harambee_proto::v1::GetParticipantRequest;
use harambee_tests::*;
use serde_json::{Value, json};

struct Admin {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Admin {
    fn new(s: &TestSwitch, token: Option<&str>) -> Admin {
        let addr = s.running().admin_addr.expect("the admin API listens");
        Admin {
            http: reqwest::Client::new(),
            base: format!("http://{addr}"),
            token: token.map(str::to_string),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("content-type", "application/json");
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        let response = request.send().await.expect("the admin API answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
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

    /// The participant's account of `kind` in the switch's currency.
    async fn account(&self, name: &str, kind: &str) -> Value {
        let (status, accounts) = self.get(&format!("/participants/{name}/accounts")).await;
        assert_eq!(status, 200, "{accounts}");
        accounts
            .as_array()
            .expect("a list")
            .iter()
            .find(|a| a["ledgerAccountType"] == kind && a["currency"] == CURRENCY)
            .cloned()
            .unwrap_or_else(|| panic!("no {kind} account in {accounts}"))
    }
}

fn error_code(body: &Value) -> &str {
    body["errorInformation"]["errorCode"]
        .as_str()
        .unwrap_or_else(|| panic!("an errorInformation in {body}"))
}

#[tokio::test]
async fn an_operator_onboards_a_participant_and_moves_its_funds() {
    let mut s = TestSwitch::start().await;
    let admin = Admin::new(&s, Some(OPERATOR_TOKEN));

    // The hub's accounts of the currency.
    for kind in ["HUB_MULTILATERAL_SETTLEMENT", "HUB_RECONCILIATION"] {
        let (status, body) = admin
            .post(
                "/participants/Hub/accounts",
                json!({"type": kind, "currency": CURRENCY}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, hub) = admin.get("/participants/Hub/accounts").await;
    assert_eq!(status, 200);
    assert_eq!(hub.as_array().map(Vec::len), Some(2), "{hub}");

    // A participant with its currency: once.
    let (status, created) = admin
        .post(
            "/participants",
            json!({"name": "dfsp-a", "currency": CURRENCY}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["name"], "dfsp-a");
    assert_eq!(created["isActive"], 1);
    assert_eq!(created["accounts"].as_array().map(Vec::len), Some(2));
    assert!(
        created["credential"]
            .as_str()
            .is_some_and(|c| c.len() >= 32)
    );
    let (status, again) = admin
        .post(
            "/participants",
            json!({"name": "dfsp-a", "currency": CURRENCY}),
        )
        .await;
    assert_eq!((status, error_code(&again)), (400, "3000"), "{again}");

    // Its limit: set once, then adjusted.
    let limits = json!({
        "currency": CURRENCY,
        "limit": {"type": "NET_DEBIT_CAP", "value": 1000},
        "initialPosition": 0,
    });
    let (status, body) = admin
        .post(
            "/participants/dfsp-a/initialPositionAndLimits",
            limits.clone(),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = admin
        .post("/participants/dfsp-a/initialPositionAndLimits", limits)
        .await;
    assert_eq!((status, error_code(&body)), (500, "2001"), "{body}");
    let (status, body) = admin
        .put(
            "/participants/dfsp-a/limits",
            json!({"currency": CURRENCY, "limit": {"type": "NET_DEBIT_CAP", "value": "2500.50"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, limits) = admin.get("/participants/dfsp-a/limits").await;
    assert_eq!(limits[0]["limit"]["value"], json!(2500.5), "{limits}");
    // The gRPC Operator API sees the same cap: one ledger, one operation.
    let position = s.position("dfsp-a").await;
    assert_eq!(position.net_debit_cap, "2500.50");

    // Funds in, then funds out reserved and committed, on the settlement
    // account; a repeated funds in moves nothing.
    let settlement = admin.account("dfsp-a", "SETTLEMENT").await;
    let id = settlement["id"].as_u64().expect("an account id");
    let funds_in = uuid::Uuid::new_v4().to_string();
    let deposit = json!({
        "transferId": funds_in,
        "externalReference": "deposit 1",
        "action": "recordFundsIn",
        "reason": "opening deposit",
        "amount": {"amount": "5000", "currency": CURRENCY},
    });
    for _ in 0..2 {
        let (status, body) = admin
            .post(
                &format!("/participants/dfsp-a/accounts/{id}"),
                deposit.clone(),
            )
            .await;
        assert_eq!(status, 202, "{body}");
    }
    assert_eq!(
        admin.account("dfsp-a", "SETTLEMENT").await["value"],
        json!(-5000)
    );
    let funds_out = uuid::Uuid::new_v4().to_string();
    let (status, body) = admin
        .post(
            &format!("/participants/dfsp-a/accounts/{id}"),
            json!({
                "transferId": funds_out,
                "action": "recordFundsOutPrepareReserve",
                "reason": "withdrawal",
                "amount": {"amount": 1200, "currency": CURRENCY},
            }),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = admin
        .put(
            &format!("/participants/dfsp-a/accounts/{id}/transfers/{funds_out}"),
            json!({"action": "recordFundsOutCommit", "reason": "paid out"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let after = admin.account("dfsp-a", "SETTLEMENT").await;
    assert_eq!(after["value"], json!(-3800), "{after}");
    assert_eq!(after["reservedValue"], json!(0), "{after}");
    // Funds on another participant's account, or an account that is not
    // a settlement account, are refused and change nothing.
    let position_account = admin.account("dfsp-a", "POSITION").await["id"].clone();
    let (status, body) = admin
        .post(
            &format!("/participants/dfsp-a/accounts/{position_account}"),
            deposit,
        )
        .await;
    assert_eq!((status, error_code(&body)), (400, "3100"), "{body}");

    // Endpoints: typed, listed back; an unknown type is refused.
    let url = "http://127.0.0.1:4040/transfers";
    let (status, body) = admin
        .post(
            "/participants/dfsp-a/endpoints",
            json!({"type": "FSPIOP_CALLBACK_URL_TRANSFER_POST", "value": url}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (_, endpoints) = admin.get("/participants/dfsp-a/endpoints").await;
    assert_eq!(
        endpoints,
        json!([{"type": "FSPIOP_CALLBACK_URL_TRANSFER_POST", "value": url}])
    );
    let (status, body) = admin
        .post(
            "/participants/dfsp-a/endpoints",
            json!({"type": "NOT_A_TYPE", "value": url}),
        )
        .await;
    assert_eq!((status, error_code(&body)), (400, "3100"), "{body}");

    // Deactivated through the admin API, inactive on the gRPC one too.
    let (status, body) = admin
        .put("/participants/dfsp-a", json!({"isActive": false}))
        .await;
    assert_eq!((status, &body["isActive"]), (200, &json!(0)), "{body}");
    let info =
        s.op.get_participant(op_req(GetParticipantRequest {
            fsp_id: "dfsp-a".into(),
        }))
        .await
        .expect("the participant")
        .into_inner();
    assert!(!info.active);
    let (status, list) = admin.get("/participants").await;
    assert_eq!(status, 200);
    assert!(
        list.as_array()
            .is_some_and(|l| l.iter().any(|p| p["name"] == "dfsp-a"))
    );
}

#[tokio::test]
async fn the_admin_api_asks_for_the_operator_and_answers_errors_as_mojaloop_does() {
    let s = TestSwitch::start().await;
    let anonymous = Admin::new(&s, None);
    let (status, body) = anonymous.get("/participants").await;
    assert_eq!((status, error_code(&body)), (400, "3105"), "{body}");
    let stranger = Admin::new(&s, Some("not-the-operator-token"));
    let (status, body) = stranger
        .post(
            "/participants",
            json!({"name": "dfsp-x", "currency": CURRENCY}),
        )
        .await;
    assert_eq!((status, error_code(&body)), (400, "3105"), "{body}");

    let admin = Admin::new(&s, Some(OPERATOR_TOKEN));
    let (status, body) = admin.get("/no/such/resource").await;
    assert_eq!((status, error_code(&body)), (404, "3002"), "{body}");
    let (status, body) = admin
        .call(reqwest::Method::POST, "/participants", None)
        .await;
    assert_eq!((status, error_code(&body)), (400, "3101"), "{body}");
    let (status, body) = admin
        .post(
            "/participants",
            json!({"name": "Not A Name", "currency": CURRENCY}),
        )
        .await;
    assert_eq!((status, error_code(&body)), (400, "3100"), "{body}");
    let (status, body) = admin.get("/participants/nobody/accounts").await;
    assert_eq!((status, error_code(&body)), (400, "3200"), "{body}");
    // Health, in the shape of Mojaloop's services: the log as `broker`,
    // the state as `datastore`, on the admin API, central-settlement's
    // `/v2` and the FSPIOP API alike.
    let expected = json!({
        "status": "OK",
        "services": [{"name": "broker", "status": "OK"}, {"name": "datastore", "status": "OK"}],
    });
    for path in ["/health", "/v2/health"] {
        let (status, body) = admin.get(path).await;
        assert_eq!((status, &body), (200, &expected), "{path}");
    }
    let fspiop = format!("http://{}", s.running().fspiop_addr.expect("FSPIOP API"));
    let body: Value = reqwest::get(format!("{fspiop}/health"))
        .await
        .expect("the FSPIOP API answers")
        .json()
        .await
        .expect("json");
    assert_eq!(body, expected);
}

#[tokio::test]
async fn in_development_mode_the_admin_api_trusts_its_callers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = TestSwitch::config(dir.path());
    config.fspiop.trust_source_header = true;
    let s = TestSwitch::start_with(dir, config).await;
    let anonymous = Admin::new(&s, None);
    let (status, body) = anonymous
        .post(
            "/participants/Hub/accounts",
            json!({"type": "HUB_RECONCILIATION", "currency": CURRENCY}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = anonymous
        .post(
            "/participants",
            json!({"name": "dfsp-b", "currency": CURRENCY}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn a_participant_needs_the_hubs_accounts_in_its_currency_and_a_currency_that_is_one() {
    let s = TestSwitch::start().await;
    let admin = Admin::new(&s, Some(OPERATOR_TOKEN));
    // No hub accounts in XOF: 3003, as central-ledger answers, and
    // nothing is created.
    let (status, body) = admin
        .post(
            "/participants",
            json!({"name": "dfsp-x", "currency": "XOF"}),
        )
        .await;
    assert_eq!((status, error_code(&body)), (400, "3003"), "{body}");
    assert!(
        body["errorInformation"]["errorDescription"]
            .as_str()
            .is_some_and(
                |d| d.starts_with("Add Party information error - Hub reconciliation account")
            ),
        "{body}"
    );
    let (status, body) = admin.get("/participants/dfsp-x").await;
    assert_eq!((status, error_code(&body)), (400, "3200"), "{body}");
    // A currency that is not one is malformed: 3101.
    let (status, body) = admin
        .post("/participants", json!({"name": "dfsp-x", "currency": "A#"}))
        .await;
    assert_eq!((status, error_code(&body)), (400, "3101"), "{body}");
    assert!(
        body["errorInformation"]["errorDescription"]
            .as_str()
            .is_some_and(|d| d.starts_with("Malformed syntax")),
        "{body}"
    );
}

#[tokio::test]
async fn settlement_models_are_defined_once_and_a_gross_one_settles_its_currency_gross() {
    let s = TestSwitch::start().await;
    let admin = Admin::new(&s, Some(OPERATOR_TOKEN));
    let net = json!({
        "name": "DEFAULTDEFERREDNET",
        "settlementGranularity": "NET",
        "settlementInterchange": "MULTILATERAL",
        "settlementDelay": "DEFERRED",
        "requireLiquidityCheck": true,
        "ledgerAccountType": "POSITION",
        "autoPositionReset": true,
        "settlementAccountType": "SETTLEMENT",
    });
    let (status, body) = admin.post("/settlementModels", net.clone()).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = admin.post("/settlementModels", net).await;
    assert_eq!((status, error_code(&body)), (400, "3000"), "{body}");
    assert!(
        body["errorInformation"]["errorDescription"]
            .as_str()
            .is_some_and(|d| d.contains("Settlement Model already exists")),
        "{body}"
    );
    let (status, body) = admin
        .post(
            "/participants/Hub/accounts",
            json!({"type": "HUB_RECONCILIATION", "currency": CURRENCY}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = admin
        .post(
            "/participants",
            json!({"name": "dfsp-net", "currency": CURRENCY}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let gross = json!({
        "name": "CGS",
        "settlementGranularity": "GROSS",
        "settlementInterchange": "BILATERAL",
        "settlementDelay": "IMMEDIATE",
        "currency": CURRENCY,
        "requireLiquidityCheck": true,
        "ledgerAccountType": "POSITION",
        "autoPositionReset": false,
        "settlementAccountType": "SETTLEMENT",
    });
    let (status, body) = admin.post("/settlementModels", gross).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = admin
        .post(
            "/participants",
            json!({"name": "dfsp-late", "currency": CURRENCY}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    // Both the participant that held the currency and the one that came
    // after settle it gross now.
    {
        let st = s.running().ctx.service.read().expect("the state");
        let currency = harambee_ledger::Currency::parse(CURRENCY).expect("currency");
        for name in ["dfsp-net", "dfsp-late"] {
            let id = st.ledger.participant_by_name(name).expect("participant").id;
            let held = st
                .ledger
                .participant_currency(id, currency)
                .expect("currency");
            assert!(held.gross, "{name} settles {CURRENCY} gross");
        }
    }
    let (status, models) = admin.get("/settlementModels").await;
    assert_eq!(status, 200);
    assert_eq!(models.as_array().map(Vec::len), Some(2), "{models}");
    let (status, cgs) = admin.get("/settlementModels/CGS").await;
    assert_eq!(
        (status, &cgs["settlementGranularity"]),
        (200, &json!("GROSS"))
    );
    let (status, body) = admin
        .post(
            "/settlementModels",
            json!({"name": "BAD", "settlementGranularity": "SOMETIMES", "settlementInterchange": "BILATERAL",
                   "settlementDelay": "IMMEDIATE", "ledgerAccountType": "POSITION"}),
        )
        .await;
    assert_eq!((status, error_code(&body)), (400, "3100"), "{body}");
}

#[tokio::test]
async fn an_oracle_registered_by_url_is_asked_over_http_even_when_it_is_the_switch_itself() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = TestSwitch::config(dir.path());
    config.fspiop.trust_source_header = true;
    let mut s = TestSwitch::start_with(dir, config).await;
    let admin = Admin::new(&s, None);
    let mut bank = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let wallet = s
        .onboard("wallet-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    // The MSISDN oracle is the switch's own oracle API.
    let oracle = json!({
        "oracleIdType": "MSISDN",
        "endpoint": {"value": format!("{}/oracle", admin.base), "endpointType": "URL"},
        "currency": CURRENCY,
        "isDefault": true,
    });
    let (status, body) = admin.post("/oracles", oracle.clone()).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = admin.post("/oracles", oracle).await;
    assert_eq!(error_code(&body), "2001", "{status} {body}");
    let (_, oracles) = admin.get("/oracles").await;
    assert_eq!(oracles[0]["oracleIdType"], "MSISDN");
    assert_eq!(
        oracles[0]["endpoint"]["value"],
        format!("{}/oracle", admin.base)
    );
    // The oracle API answers from the built-in directory.
    let customer = wallet.customer(1);
    let (status, owners) = admin
        .get(&format!("/oracle/participants/MSISDN/{}", customer.id))
        .await;
    assert_eq!(
        (status, owners),
        (200, json!({"partyList": [{"fspId": "wallet-b"}]}))
    );
    let (_, nobody) = admin.get("/oracle/participants/MSISDN/254799999999").await;
    assert_eq!(nobody, json!({"partyList": []}));
    // A lookup asks it over HTTP, then the owner.
    let found = bank
        .api
        .lookup_party(harambee_proto::v1::LookupPartyRequest {
            party: Some(customer),
            currency: CURRENCY.into(),
        })
        .await
        .expect("lookup")
        .into_inner();
    assert_eq!(found.party.map(|p| p.fsp_id), Some("wallet-b".into()));
    let metrics = scrape(s.running().metrics_addr.expect("metrics")).await;
    assert!(
        metric(
            &metrics,
            "harambee_requests_total{api=\"admin\",call=\"OracleGet\",code=\"ok\"}"
        )
        .is_some_and(|n| n >= 2.0),
        "the lookup went through the oracle API"
    );
}
