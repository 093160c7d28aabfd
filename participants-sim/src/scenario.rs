//! Named scenarios against a running switch: the happy path and each error
//! a participant can meet, each checked against the outcome FSPIOP says it
//! must have. Every scenario onboards its own simulated participants, so
//! scenarios do not disturb each other or what else runs on the switch.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use harambee_proto::fspiop::FspiopError;
use harambee_proto::v1::*;
use rust_decimal::Decimal;

use crate::client::{self, Outcome};
use crate::dfsp::Behaviour;
use crate::network::{self, Member, MemberSpec, Operator};

/// The scenarios, in the order they run.
pub const SCENARIOS: &[(&str, &str)] = &[
    (
        "happy-path",
        "lookup, quote and transfer commit; the payee is told",
    ),
    ("payee-rejects", "the payee rejects: ABORTED 5104"),
    (
        "wrong-fulfilment",
        "the payee's fulfilment does not match: ABORTED 3100",
    ),
    ("payee-silent", "no answer before the expiry: ABORTED 3303"),
    (
        "payee-unreachable",
        "the payee's endpoint is down: ABORTED 1001",
    ),
    (
        "insufficient-liquidity",
        "beyond the liquidity cover: ABORTED 4001",
    ),
    ("net-debit-cap", "beyond the net debit cap: ABORTED 4200"),
    ("unknown-party", "nobody owns the party: lookup 3204"),
    (
        "owner-unreachable",
        "the party's owner does not answer: lookup 1001",
    ),
    (
        "modified-quote",
        "the same quote id with other content: 3106",
    ),
    ("inactive-payee", "a deactivated payee: quote 3201"),
    (
        "duplicate-prepare",
        "a retried prepare returns the same outcome and moves money once",
    ),
    (
        "modified-prepare",
        "the same transfer id with other content: 3106",
    ),
    (
        "unknown-transfer",
        "reading a transfer that does not exist: 3208",
    ),
    ("not-your-transfer", "reading someone else's transfer: 3000"),
    (
        "bad-amount",
        "an amount with too many decimals: 3100, nothing changes",
    ),
];

/// The result of one scenario.
#[derive(Clone, Debug)]
pub struct Report {
    pub name: &'static str,
    pub passed: bool,
    pub detail: String,
}

/// What scenarios share.
pub struct Runner {
    pub op: Operator,
    pub participant_url: String,
    pub currency: String,
    run: String,
    stop: tokio::sync::watch::Receiver<bool>,
    count: usize,
}

/// An http:// URL on 127.0.0.1 where nothing listens (the port was free a
/// moment ago).
pub fn closed_port_url() -> std::io::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(format!("http://{}", listener.local_addr()?))
}

/// A fresh secret for a simulated payee's fulfilments.
pub fn random_secret() -> [u8; 32] {
    use rand::RngCore;
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    secret
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn code(s: &tonic::Status) -> u16 {
    FspiopError::from_status(s).code
}

type Check = Result<String, String>;

fn expect(what: &str, got: Outcome, wanted: Outcome) -> Check {
    if got == wanted {
        Ok(format!("{what}: {}", got.label()))
    } else {
        Err(format!(
            "{what}: got {}, expected {}",
            got.label(),
            wanted.label()
        ))
    }
}

impl Runner {
    pub fn new(
        op: Operator,
        participant_url: String,
        currency: String,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> Runner {
        let run = uuid::Uuid::new_v4().simple().to_string()[..6].to_string();
        Runner {
            op,
            participant_url,
            currency,
            run,
            stop,
            count: 0,
        }
    }

    async fn member(
        &mut self,
        liquidity: &str,
        cap: &str,
        behaviour: Behaviour,
    ) -> Result<Member, String> {
        self.count += 1;
        let spec = MemberSpec {
            name: format!("sim-{}-{}", self.run, self.count),
            kind: ParticipantKind::Wallet,
            currency: self.currency.clone(),
            liquidity: liquidity.into(),
            net_debit_cap: cap.into(),
            customers: 2,
            fee: Decimal::ZERO,
            behaviour,
            secret: random_secret(),
        };
        let mut stop = self.stop.clone();
        network::onboard(&mut self.op, &self.participant_url, &spec, async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await
        .map_err(|e| format!("onboarding failed: {e}"))
    }

    /// Points a member's callback endpoint at a port where nothing listens.
    async fn take_offline(&mut self, m: &Member) -> Result<(), String> {
        let url = closed_port_url().map_err(|e| e.to_string())?;
        let r = self.op.req(SetEndpointRequest {
            fsp_id: m.name.clone(),
            url,
        });
        self.op
            .client
            .set_endpoint(r)
            .await
            .map_err(|s| format!("set endpoint: {}", code(&s)))?;
        Ok(())
    }

    async fn pair(
        &mut self,
        payer_liquidity: &str,
        payer_cap: &str,
        payee: Behaviour,
    ) -> Result<(Member, Member), String> {
        let a = self
            .member(payer_liquidity, payer_cap, Behaviour::Honest)
            .await?;
        let b = self.member("1000", "1000", payee).await?;
        Ok((a, b))
    }

    async fn quote(
        &self,
        a: &mut Member,
        b: &Member,
        amount: &str,
    ) -> Result<QuoteResponse, String> {
        let party = a
            .api
            .lookup_party(LookupPartyRequest {
                party: Some(b.customer(0)),
                currency: self.currency.clone(),
            })
            .await
            .map_err(|s| format!("lookup failed with {}", code(&s)))?
            .into_inner()
            .party;
        a.api
            .request_quote(QuoteRequest {
                quote_id: uuid::Uuid::new_v4().to_string(),
                transaction_id: uuid::Uuid::new_v4().to_string(),
                payee: party,
                payer: Some(Party {
                    fsp_id: a.name.clone(),
                    ..Default::default()
                }),
                amount_type: AmountType::Send as i32,
                amount: Some(Money {
                    amount: amount.into(),
                    currency: self.currency.clone(),
                }),
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner())
            .map_err(|s| format!("quote failed with {}", code(&s)))
    }

    fn prepare(q: &QuoteResponse, expires_in_ms: i64) -> PrepareTransferRequest {
        let at = now_ms() + expires_in_ms;
        PrepareTransferRequest {
            transfer_id: uuid::Uuid::new_v4().to_string(),
            payee_fsp: q.payee_fsp.clone(),
            amount: q.transfer_amount.clone(),
            ilp_packet: q.ilp_packet.clone(),
            condition: q.condition.clone(),
            expiration: Some(prost_types::Timestamp {
                seconds: at / 1000,
                nanos: ((at % 1000) * 1_000_000) as i32,
            }),
            quote_id: q.quote_id.clone(),
            transaction_id: q.transaction_id.clone(),
            extensions: vec![],
        }
    }

    async fn transfer(
        &self,
        a: &mut Member,
        q: &QuoteResponse,
        expires_in_ms: i64,
    ) -> Result<(String, Outcome), String> {
        let r = Self::prepare(q, expires_in_ms);
        let id = r.transfer_id.clone();
        match a.api.prepare_transfer(r).await {
            Ok(t) => Ok((id, client::outcome_of(&t.into_inner()))),
            Err(s) => Ok((id, Outcome::Failed("transfer", code(&s)))),
        }
    }

    async fn simple(
        &mut self,
        liquidity: &str,
        cap: &str,
        payee: Behaviour,
        amount: &str,
        expires_in_ms: i64,
        wanted: Outcome,
    ) -> Check {
        let (mut a, b) = self.pair(liquidity, cap, payee).await?;
        let q = self.quote(&mut a, &b, amount).await?;
        let (_, got) = self.transfer(&mut a, &q, expires_in_ms).await?;
        expect("transfer", got, wanted)
    }

    async fn run_one(&mut self, name: &str) -> Check {
        match name {
            "happy-path" => {
                let (mut a, b) = self.pair("1000", "1000", Behaviour::Honest).await?;
                let q = self.quote(&mut a, &b, "25").await?;
                let (id, got) = self.transfer(&mut a, &q, 30_000).await?;
                expect("transfer", got, Outcome::Committed)?;
                let deadline = now_ms() + 5_000;
                loop {
                    let told = b.dfsp.notifications().iter().any(|n| matches!(&n.kind, Some(notification::Kind::TransferCommitted(t)) if t.transfer_id == id));
                    if told {
                        return Ok("committed; payee notified".into());
                    }
                    if now_ms() > deadline {
                        return Err("committed, but the payee was not notified within 5 s".into());
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            "payee-rejects" => {
                self.simple(
                    "1000",
                    "1000",
                    Behaviour::Reject(5104),
                    "10",
                    30_000,
                    Outcome::Aborted(5104),
                )
                .await
            }
            "wrong-fulfilment" => {
                self.simple(
                    "1000",
                    "1000",
                    Behaviour::WrongFulfilment,
                    "10",
                    30_000,
                    Outcome::Aborted(3100),
                )
                .await
            }
            "payee-silent" => {
                self.simple(
                    "1000",
                    "1000",
                    Behaviour::Silent,
                    "10",
                    1_500,
                    Outcome::Aborted(3303),
                )
                .await
            }
            "insufficient-liquidity" => {
                self.simple(
                    "100",
                    "1000",
                    Behaviour::Honest,
                    "150",
                    30_000,
                    Outcome::Aborted(4001),
                )
                .await
            }
            "net-debit-cap" => {
                self.simple(
                    "1000",
                    "100",
                    Behaviour::Honest,
                    "150",
                    30_000,
                    Outcome::Aborted(4200),
                )
                .await
            }
            "payee-unreachable" => {
                let (mut a, b) = self.pair("1000", "1000", Behaviour::Honest).await?;
                let q = self.quote(&mut a, &b, "10").await?;
                self.take_offline(&b).await?;
                let (_, got) = self.transfer(&mut a, &q, 30_000).await?;
                expect("transfer", got, Outcome::Aborted(1001))
            }
            "unknown-party" => {
                let (mut a, _) = self.pair("1000", "1000", Behaviour::Honest).await?;
                let party = PartyIdentifier {
                    r#type: PartyIdType::Msisdn as i32,
                    id: "254799999999999".into(),
                    sub_id: String::new(),
                };
                match a
                    .api
                    .lookup_party(LookupPartyRequest {
                        party: Some(party),
                        currency: String::new(),
                    })
                    .await
                {
                    Err(s) if code(&s) == 3204 => Ok("lookup: 3204".into()),
                    Err(s) => Err(format!("lookup: {} instead of 3204", code(&s))),
                    Ok(_) => Err("lookup succeeded".into()),
                }
            }
            "owner-unreachable" => {
                let (mut a, b) = self.pair("1000", "1000", Behaviour::Honest).await?;
                self.take_offline(&b).await?;
                match a
                    .api
                    .lookup_party(LookupPartyRequest {
                        party: Some(b.customer(0)),
                        currency: String::new(),
                    })
                    .await
                {
                    Err(s) if code(&s) == 1001 => Ok("lookup: 1001".into()),
                    Err(s) => Err(format!("lookup: {} instead of 1001", code(&s))),
                    Ok(_) => Err("lookup succeeded".into()),
                }
            }
            "modified-quote" => {
                let (mut a, b) = self.pair("1000", "1000", Behaviour::Honest).await?;
                let q = self.quote(&mut a, &b, "10").await?;
                let changed = QuoteRequest {
                    quote_id: q.quote_id.clone(),
                    transaction_id: q.transaction_id.clone(),
                    payee: Some(Party {
                        identifier: Some(b.customer(0)),
                        fsp_id: b.name.clone(),
                        ..Default::default()
                    }),
                    payer: Some(Party {
                        fsp_id: a.name.clone(),
                        ..Default::default()
                    }),
                    amount_type: AmountType::Send as i32,
                    amount: Some(Money {
                        amount: "11".into(),
                        currency: self.currency.clone(),
                    }),
                    ..Default::default()
                };
                match a.api.request_quote(changed).await {
                    Err(s) if code(&s) == 3106 => Ok("3106".into()),
                    Err(s) => Err(format!("{} instead of 3106", code(&s))),
                    Ok(_) => Err("accepted".into()),
                }
            }
            "inactive-payee" => {
                let (mut a, b) = self.pair("1000", "1000", Behaviour::Honest).await?;
                let r = self.op.req(SetParticipantActiveRequest {
                    fsp_id: b.name.clone(),
                    active: false,
                });
                self.op
                    .client
                    .set_participant_active(r)
                    .await
                    .map_err(|s| format!("deactivate: {}", code(&s)))?;
                match self.quote(&mut a, &b, "10").await {
                    Err(e) if e.ends_with("3201") => Ok("quote: 3201".into()),
                    Err(e) => Err(e),
                    Ok(_) => Err("quote succeeded".into()),
                }
            }
            "duplicate-prepare" => {
                let (mut a, b) = self.pair("1000", "1000", Behaviour::Honest).await?;
                let q = self.quote(&mut a, &b, "10").await?;
                let r = Self::prepare(&q, 30_000);
                let first = a
                    .api
                    .prepare_transfer(r.clone())
                    .await
                    .map_err(|s| format!("prepare: {}", code(&s)))?
                    .into_inner();
                let second = a
                    .api
                    .prepare_transfer(r)
                    .await
                    .map_err(|s| format!("retry: {}", code(&s)))?
                    .into_inner();
                if first != second {
                    return Err("the retry returned another outcome".into());
                }
                let positions = self
                    .op
                    .positions(&a.name)
                    .await
                    .map_err(|s| code(&s).to_string())?;
                let position = positions
                    .first()
                    .map(|p| p.position.clone())
                    .unwrap_or_default();
                if position.parse::<Decimal>().ok() == Some(Decimal::new(10, 0)) {
                    Ok(format!("same outcome, position {position}"))
                } else {
                    Err(format!("position {position} after two prepares of 10"))
                }
            }
            "modified-prepare" => {
                let (mut a, b) = self.pair("1000", "1000", Behaviour::Honest).await?;
                let q = self.quote(&mut a, &b, "10").await?;
                let r = Self::prepare(&q, 30_000);
                a.api
                    .prepare_transfer(r.clone())
                    .await
                    .map_err(|s| format!("prepare: {}", code(&s)))?;
                let mut changed = r;
                changed.amount = Some(Money {
                    amount: "11".into(),
                    currency: self.currency.clone(),
                });
                match a.api.prepare_transfer(changed).await {
                    Err(s) if code(&s) == 3106 => Ok("3106".into()),
                    Err(s) => Err(format!("{} instead of 3106", code(&s))),
                    Ok(_) => Err("accepted".into()),
                }
            }
            "unknown-transfer" => {
                let (mut a, _) = self.pair("1000", "1000", Behaviour::Honest).await?;
                match a
                    .api
                    .get_transfer(GetTransferRequest {
                        transfer_id: uuid::Uuid::new_v4().to_string(),
                    })
                    .await
                {
                    Err(s) if code(&s) == 3208 => Ok("3208".into()),
                    Err(s) => Err(format!("{} instead of 3208", code(&s))),
                    Ok(_) => Err("found".into()),
                }
            }
            "not-your-transfer" => {
                let (mut a, b) = self.pair("1000", "1000", Behaviour::Honest).await?;
                let mut c = self.member("0", "0", Behaviour::Honest).await?;
                let q = self.quote(&mut a, &b, "10").await?;
                let (id, _) = self.transfer(&mut a, &q, 30_000).await?;
                match c
                    .api
                    .get_transfer(GetTransferRequest { transfer_id: id })
                    .await
                {
                    Err(s) if code(&s) == 3000 => Ok("3000".into()),
                    Err(s) => Err(format!("{} instead of 3000", code(&s))),
                    Ok(_) => Err("a third party read the transfer".into()),
                }
            }
            "bad-amount" => {
                let (mut a, b) = self.pair("1000", "1000", Behaviour::Honest).await?;
                let q = self.quote(&mut a, &b, "10").await?;
                let mut r = Self::prepare(&q, 30_000);
                r.amount = Some(Money {
                    amount: "10.00001".into(),
                    currency: self.currency.clone(),
                });
                match a.api.prepare_transfer(r).await {
                    Err(s) if code(&s) == 3100 => Ok("3100".into()),
                    Err(s) => Err(format!("{} instead of 3100", code(&s))),
                    Ok(_) => Err("accepted".into()),
                }
            }
            other => Err(format!("no scenario named {other}")),
        }
    }

    /// Runs the named scenarios (all when `names` is empty).
    pub async fn run(&mut self, names: &[String]) -> Vec<Report> {
        let mut reports = Vec::new();
        let enable = self.op.req(AddCurrencyRequest {
            currency: self.currency.clone(),
        });
        if let Err(s) = self.op.client.add_currency(enable).await {
            reports.push(Report {
                name: "setup",
                passed: false,
                detail: format!("enabling {}: {}", self.currency, code(&s)),
            });
            return reports;
        }
        for (name, _) in SCENARIOS {
            if !names.is_empty() && !names.iter().any(|n| n == name) {
                continue;
            }
            let (passed, detail) = match self.run_one(name).await {
                Ok(d) => (true, d),
                Err(d) => (false, d),
            };
            reports.push(Report {
                name,
                passed,
                detail,
            });
        }
        reports
    }
}

/// The pass/fail table.
pub fn table(reports: &[Report]) -> String {
    let mut out = format!("{:<24} {:<6} {}\n", "scenario", "result", "detail");
    for r in reports {
        out.push_str(&format!(
            "{:<24} {:<6} {}\n",
            r.name,
            if r.passed { "pass" } else { "FAIL" },
            r.detail
        ));
    }
    let passed = reports.iter().filter(|r| r.passed).count();
    out.push_str(&format!(
        "{} passed, {} failed\n",
        passed,
        reports.len() - passed
    ));
    out
}
