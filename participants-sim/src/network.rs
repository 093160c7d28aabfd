//! Onboarding simulated participants on a running switch through its
//! Operator API, as a hub operator would: participant, callback endpoint,
//! accounts with a net debit cap, opening liquidity, and the parties each
//! one owns registered with the built-in oracle.

use std::sync::Arc;

use harambee_proto::v1::operator_api_client::OperatorApiClient;
use harambee_proto::v1::*;
use rust_decimal::Decimal;
use tonic::transport::Channel;

use crate::client::{self, Api};
use crate::dfsp::{Behaviour, Customer, Dfsp};
use crate::tls::{Identity, Scheme};

/// The operator's side of a switch.
#[derive(Clone)]
pub struct Operator {
    pub client: OperatorApiClient<Channel>,
    token: String,
    /// On mTLS: the scheme's PKI, issuing the members' certificates,
    /// which the operator registers and the members present.
    pub scheme: Option<Scheme>,
}

impl Operator {
    /// An operator over an existing client.
    pub fn new(client: OperatorApiClient<Channel>, token: &str) -> Operator {
        Operator {
            client,
            token: token.to_string(),
            scheme: None,
        }
    }

    pub async fn connect(url: &str, token: &str) -> anyhow::Result<Operator> {
        let channel = Channel::from_shared(url.to_string())?.connect().await?;
        Ok(Operator {
            client: OperatorApiClient::new(channel),
            token: token.to_string(),
            scheme: None,
        })
    }

    /// An operator on mTLS, identified by `identity`'s certificate alone;
    /// the members it onboards get certificates of `scheme`.
    pub async fn connect_tls(
        url: &str,
        identity: &Identity,
        scheme: Scheme,
    ) -> anyhow::Result<Operator> {
        let channel = Channel::from_shared(url.to_string())?
            .tls_config(identity.grpc_client())?
            .connect()
            .await?;
        Ok(Operator {
            client: OperatorApiClient::new(channel),
            token: String::new(),
            scheme: Some(scheme),
        })
    }

    /// A request carrying the operator credential (none on mTLS).
    pub fn req<T>(&self, message: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(message);
        if !self.token.is_empty()
            && let Ok(v) = format!("Bearer {}", self.token).parse()
        {
            r.metadata_mut().insert("authorization", v);
        }
        r
    }

    /// A participant's positions, one per currency.
    pub async fn positions(&mut self, fsp_id: &str) -> Result<Vec<PositionInfo>, tonic::Status> {
        let request = self.req(GetPositionsRequest {
            fsp_id: fsp_id.to_string(),
        });
        Ok(self
            .client
            .get_positions(request)
            .await?
            .into_inner()
            .positions)
    }
}

/// What to onboard.
#[derive(Clone, Debug)]
pub struct MemberSpec {
    pub name: String,
    pub kind: ParticipantKind,
    pub currency: String,
    pub liquidity: String,
    pub net_debit_cap: String,
    pub customers: usize,
    pub fee: Decimal,
    pub behaviour: Behaviour,
    pub secret: [u8; 32],
}

impl MemberSpec {
    /// A participant for load: honest, four customers, no fee, and
    /// liquidity and a net debit cap no load exhausts.
    pub fn ample(name: String, kind: ParticipantKind, currency: &str) -> MemberSpec {
        MemberSpec {
            name,
            kind,
            currency: currency.to_string(),
            liquidity: "1000000000000".into(),
            net_debit_cap: "1000000000000".into(),
            customers: 4,
            fee: Decimal::ZERO,
            behaviour: Behaviour::Honest,
            secret: crate::scenario::random_secret(),
        }
    }
}

/// A simulated participant on the switch.
#[derive(Clone)]
pub struct Member {
    pub name: String,
    pub currency: String,
    pub dfsp: Arc<Dfsp>,
    pub api: Api,
    pub credential: String,
    pub callback: String,
}

impl Member {
    /// The identifier of the member's k-th customer.
    pub fn customer(&self, k: usize) -> PartyIdentifier {
        PartyIdentifier {
            r#type: PartyIdType::Msisdn as i32,
            id: customer_id(&self.name, k),
            sub_id: String::new(),
        }
    }
}

/// The most customers a simulated member has (`customer_id` gives k two
/// digits).
pub const CUSTOMERS_MAX: usize = 100;

/// The MSISDN of a member's k-th customer: 2547, nine digits from a hash
/// of the name (64-bit FNV-1a), two from k; fifteen digits, the most an
/// MSISDN has. Stable across runs and machines, so a test can name a
/// member's customer; members with different names share none but by a
/// one-in-10^9 chance per pair.
pub fn customer_id(name: &str, k: usize) -> String {
    assert!(k < CUSTOMERS_MAX, "customer {k} of at most {CUSTOMERS_MAX}");
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("2547{:09}{k:02}", hash % 1_000_000_000)
}

/// Starts the member's callback server on 127.0.0.1 and onboards it.
pub async fn onboard(
    op: &mut Operator,
    participant_url: &str,
    spec: &MemberSpec,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Member> {
    anyhow::ensure!(
        spec.customers <= CUSTOMERS_MAX,
        "a simulated member has at most {CUSTOMERS_MAX} customers"
    );
    let customers: Vec<Customer> = (0..spec.customers)
        .map(|k| Customer {
            party_type: PartyIdType::Msisdn,
            id: customer_id(&spec.name, k),
            display_name: format!("{} customer {k}", spec.name),
        })
        .collect();
    let dfsp = Arc::new(Dfsp::new(
        &spec.name,
        spec.secret,
        customers,
        vec![spec.currency.clone()],
        spec.fee,
    ));
    dfsp.set_behaviour(spec.behaviour);
    // On mTLS the callback server runs on the member's certificate and
    // asks the switch for its own.
    let callback = match &op.scheme {
        Some(scheme) => {
            let identity = scheme.participant(&spec.name)?;
            let (addr, _) = dfsp
                .clone()
                .serve_tls("127.0.0.1:0", Some(identity.grpc_server()), shutdown)
                .await?;
            format!("https://localhost:{}", addr.port())
        }
        None => {
            let (addr, _) = dfsp.clone().serve("127.0.0.1:0", shutdown).await?;
            format!("http://{addr}")
        }
    };
    let ids: Vec<String> = (0..spec.customers)
        .map(|k| customer_id(&spec.name, k))
        .collect();
    let (credential, api) = enrol(
        op,
        participant_url,
        &Enrolment {
            name: &spec.name,
            kind: spec.kind,
            currency: &spec.currency,
            liquidity: &spec.liquidity,
            net_debit_cap: &spec.net_debit_cap,
            endpoint: &callback,
            parties: &ids,
        },
    )
    .await?;
    Ok(Member {
        name: spec.name.clone(),
        currency: spec.currency.clone(),
        dfsp,
        api,
        credential,
        callback,
    })
}

/// A participant as the operator enrols it.
pub struct Enrolment<'a> {
    pub name: &'a str,
    pub kind: ParticipantKind,
    pub currency: &'a str,
    pub liquidity: &'a str,
    pub net_debit_cap: &'a str,
    /// Its endpoint: a gRPC callback URL, or `iso8583:<institution id>`.
    pub endpoint: &'a str,
    /// The MSISDNs it owns, registered with the built-in oracle.
    pub parties: &'a [String],
}

/// Enrols a participant: creates it (or, if it exists, rotates its
/// credential), sets its endpoint, opens its accounts with a net debit
/// cap, puts in its opening liquidity and registers its parties. Returns
/// its credential and a client of the participant API.
pub async fn enrol(
    op: &mut Operator,
    participant_url: &str,
    e: &Enrolment<'_>,
) -> anyhow::Result<(String, Api)> {
    let created = op
        .client
        .create_participant(op.req(CreateParticipantRequest {
            fsp_id: e.name.to_string(),
            kind: e.kind as i32,
            name: e.name.to_string(),
        }))
        .await?
        .into_inner();
    let credential = if created.credential.is_empty() {
        // It existed already (a second run against the same switch).
        op.client
            .rotate_credential(op.req(RotateCredentialRequest {
                fsp_id: e.name.to_string(),
            }))
            .await?
            .into_inner()
            .credential
    } else {
        created.credential
    };
    op.client
        .set_endpoint(op.req(SetEndpointRequest {
            fsp_id: e.name.to_string(),
            url: e.endpoint.to_string(),
        }))
        .await?;
    op.client
        .add_participant_currency(op.req(AddParticipantCurrencyRequest {
            fsp_id: e.name.to_string(),
            currency: e.currency.to_string(),
            net_debit_cap: e.net_debit_cap.to_string(),
            settlement_model: SettlementModel::DeferredMultilateralNet as i32,
        }))
        .await?;
    if e.liquidity != "0" {
        op.client
            .funds_in(op.req(FundsRequest {
                funds_id: uuid::Uuid::new_v4().to_string(),
                fsp_id: e.name.to_string(),
                amount: Some(Money {
                    amount: e.liquidity.to_string(),
                    currency: e.currency.to_string(),
                }),
                reason: "opening liquidity".into(),
            }))
            .await?;
    }
    // On mTLS the operator registers the member's certificate, and the
    // member connects on it; its bearer credential is not used.
    let mut api = match &op.scheme {
        Some(scheme) => {
            let identity = scheme.participant(e.name)?;
            op.client
                .add_participant_certificate(op.req(AddParticipantCertificateRequest {
                    fsp_id: e.name.to_string(),
                    certificate_pem: identity.cert_text(),
                }))
                .await?;
            client::connect_tls(participant_url, &identity)?
        }
        None => client::connect(participant_url, &credential)?,
    };
    for id in e.parties {
        let party = PartyIdentifier {
            r#type: PartyIdType::Msisdn as i32,
            id: id.clone(),
            sub_id: String::new(),
        };
        api.register_party(RegisterPartyRequest { party: Some(party) })
            .await?;
    }
    Ok((credential, api))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loads name their participants `load-{run}-{i}` with a random run:
    /// two loads on one switch must not give two participants one
    /// customer's MSISDN (the second would be refused with 3003).
    #[test]
    fn customers_of_differently_named_members_do_not_share_an_msisdn() {
        let mut owner: std::collections::HashMap<String, String> = Default::default();
        for run in 0..1_000u32 {
            // Six hex digits, as load's run ids are.
            let run = format!("{:06x}", run.wrapping_mul(2_654_435_761) & 0xff_ffff);
            for i in 0..3 {
                let name = format!("load-{run}-{i}");
                for k in 0..4 {
                    let id = customer_id(&name, k);
                    if let Some(other) = owner.insert(id.clone(), name.clone()) {
                        assert_eq!(other, name, "{id} is a customer of {other} and of {name}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_customer_id_is_an_msisdn() {
        for name in ["bank-a", "wallet-g", "load-0a1b2c-2", ""] {
            for k in [0, 1, CUSTOMERS_MAX - 1] {
                let id = customer_id(name, k);
                assert!(id.len() <= 15 && id.starts_with("2547"), "{id}");
                assert!(id.bytes().all(|b| b.is_ascii_digit()), "{id}");
                assert_eq!(id, customer_id(name, k), "stable");
            }
        }
        assert_ne!(customer_id("bank-a", 0), customer_id("bank-a", 1));
    }
}
