//! Party lookup through the built-in and external oracles, and quotes.

use harambee_proto::fspiop::ErrorCode;
use harambee_proto::v1::oracle_server::{Oracle, OracleServer};
use harambee_proto::v1::*;
use harambee_tests::*;
use tonic::transport::server::TcpIncoming;

#[tokio::test]
async fn lookup_finds_the_owner_and_relays_the_party() {
    let mut s = TestSwitch::start().await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let b = s
        .onboard("wallet-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let found = a
        .api
        .lookup_party(LookupPartyRequest {
            party: Some(b.customer(1)),
            currency: CURRENCY.into(),
        })
        .await
        .expect("lookup")
        .into_inner();
    let party = found.party.expect("party");
    assert_eq!(party.fsp_id, "wallet-b");
    assert_eq!(party.display_name, "wallet-b customer 1");
}

#[tokio::test]
async fn lookup_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = TestSwitch::config(dir.path());
    config.lookup.builtin_oracle_party_types = vec!["MSISDN".into()];
    let mut s = TestSwitch::start_with(dir, config).await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    // Nobody owns it: 3204.
    let unknown = PartyIdentifier {
        r#type: PartyIdType::Msisdn as i32,
        id: "254799999999".into(),
        sub_id: String::new(),
    };
    assert_eq!(
        code(
            &a.api
                .lookup_party(LookupPartyRequest {
                    party: Some(unknown),
                    currency: String::new()
                })
                .await
                .expect_err("unknown")
        ),
        3204
    );
    // No oracle serves e-mail addresses here: 3003.
    let email = PartyIdentifier {
        r#type: PartyIdType::Email as i32,
        id: "a@example.org".into(),
        sub_id: String::new(),
    };
    assert_eq!(
        code(
            &a.api
                .lookup_party(LookupPartyRequest {
                    party: Some(email),
                    currency: String::new()
                })
                .await
                .expect_err("no oracle")
        ),
        3003
    );
    // Registered, but the owner no longer answers: 1001.
    let url = harambee_sim::scenario::closed_port_url().expect("a free port");
    s.op.set_endpoint(op_req(SetEndpointRequest {
        fsp_id: "bank-b".into(),
        url,
    }))
    .await
    .expect("endpoint");
    assert_eq!(
        code(
            &a.api
                .lookup_party(LookupPartyRequest {
                    party: Some(b.customer(0)),
                    currency: String::new()
                })
                .await
                .expect_err("unreachable")
        ),
        1001
    );
    // A party registered by another participant cannot be taken: 3003;
    // nor removed by someone else: 3040.
    let err = a
        .api
        .register_party(RegisterPartyRequest {
            party: Some(b.customer(0)),
        })
        .await
        .expect_err("taken");
    assert_eq!(code(&err), 3003);
    let err = a
        .api
        .deregister_party(DeregisterPartyRequest {
            party: Some(b.customer(0)),
        })
        .await
        .expect_err("not mine");
    assert_eq!(code(&err), 3040);
    a.api
        .deregister_party(DeregisterPartyRequest {
            party: Some(a.customer(0)),
        })
        .await
        .expect("mine");
    let err = a
        .api
        .lookup_party(LookupPartyRequest {
            party: Some(a.customer(0)),
            currency: String::new(),
        })
        .await
        .expect_err("gone");
    assert_eq!(code(&err), 3204);
}

/// A scheme-specific error code: in the party-error class, but not one the
/// FSPIOP specification publishes.
const SCHEME_CODE: u16 = 3281;

/// An external oracle that says every ACCOUNT_ID belongs to `owner`.
struct FixedOracle {
    owner: String,
}

#[tonic::async_trait]
impl Oracle for FixedOracle {
    async fn lookup_participant(
        &self,
        r: tonic::Request<LookupParticipantRequest>,
    ) -> Result<tonic::Response<LookupParticipantResponse>, tonic::Status> {
        let party = r.into_inner().party.unwrap_or_default();
        if party.id.starts_with("ACC") {
            Ok(tonic::Response::new(LookupParticipantResponse {
                fsp_id: self.owner.clone(),
            }))
        } else if party.id.starts_with("SCHEME") {
            // A scheme's own sub-code, outside the published table.
            Err(harambee_proto::fspiop::FspiopError::from_number(
                SCHEME_CODE,
                "account frozen by the scheme",
            )
            .to_status())
        } else {
            Err(harambee_proto::fspiop::FspiopError::new(
                ErrorCode::PartyNotFound,
                "unknown account",
            )
            .to_status())
        }
    }
    async fn create_participant_mapping(
        &self,
        _: tonic::Request<ParticipantMapping>,
    ) -> Result<tonic::Response<MappingResponse>, tonic::Status> {
        Ok(tonic::Response::new(MappingResponse {}))
    }
    async fn delete_participant_mapping(
        &self,
        _: tonic::Request<ParticipantMapping>,
    ) -> Result<tonic::Response<MappingResponse>, tonic::Status> {
        Ok(tonic::Response::new(MappingResponse {}))
    }
}

#[tokio::test]
async fn an_external_oracle_serves_its_party_type() {
    let mut s = TestSwitch::start().await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let _b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let incoming = TcpIncoming::from(listener);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(OracleServer::new(FixedOracle {
                owner: "bank-b".into(),
            }))
            .serve_with_incoming(incoming),
    );
    s.op.set_oracle(op_req(SetOracleRequest {
        party_type: PartyIdType::AccountId as i32,
        url: format!("http://{addr}"),
    }))
    .await
    .expect("oracle");
    let listed =
        s.op.list_oracles(op_req(ListOraclesRequest {}))
            .await
            .expect("list")
            .into_inner();
    assert_eq!(listed.oracles.len(), 1);
    // The oracle names bank-b, which does not know the account: 3204 from the owner.
    let account = PartyIdentifier {
        r#type: PartyIdType::AccountId as i32,
        id: "ACC-1".into(),
        sub_id: String::new(),
    };
    let err = a
        .api
        .lookup_party(LookupPartyRequest {
            party: Some(account),
            currency: String::new(),
        })
        .await
        .expect_err("owner says no");
    assert_eq!(code(&err), 3204);
    assert!(
        err.message().contains("no such customer"),
        "the owner's answer: {}",
        err.message()
    );
    // The oracle itself does not know it: its 3204.
    let other = PartyIdentifier {
        r#type: PartyIdType::AccountId as i32,
        id: "XYZ".into(),
        sub_id: String::new(),
    };
    let err = a
        .api
        .lookup_party(LookupPartyRequest {
            party: Some(other),
            currency: String::new(),
        })
        .await
        .expect_err("oracle says no");
    assert_eq!(code(&err), 3204);
    assert!(
        err.message().contains("unknown account"),
        "the oracle's answer: {}",
        err.message()
    );
    // A code of the scheme's own is passed on as it came, not made 2001.
    assert!(ErrorCode::from_number(SCHEME_CODE).is_none());
    let frozen = PartyIdentifier {
        r#type: PartyIdType::AccountId as i32,
        id: "SCHEME-1".into(),
        sub_id: String::new(),
    };
    let err = a
        .api
        .lookup_party(LookupPartyRequest {
            party: Some(frozen),
            currency: String::new(),
        })
        .await
        .expect_err("oracle's own code");
    assert_eq!(code(&err), SCHEME_CODE);
    assert!(
        err.message().contains("account frozen"),
        "{}",
        err.message()
    );
}

#[tokio::test]
async fn quotes_are_recorded_and_idempotent() {
    let mut s = TestSwitch::start().await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let mut b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let mut c = s
        .onboard("bank-c", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let request = quote_request(&a, &b, "50");
    let first = a
        .api
        .request_quote(request.clone())
        .await
        .expect("quote")
        .into_inner();
    assert_eq!(first.payer_fsp, "bank-a");
    assert_eq!(first.payee_fsp, "bank-b");
    assert_eq!(first.condition.len(), 43);
    let again = a
        .api
        .request_quote(request.clone())
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(again, first);
    assert_eq!(
        b.dfsp
            .stats
            .quotes
            .load(std::sync::atomic::Ordering::Relaxed),
        1,
        "the retry did not reach the payee"
    );
    let mut changed = request.clone();
    changed.amount = Some(Money {
        amount: "51".into(),
        currency: CURRENCY.into(),
    });
    assert_eq!(
        code(&a.api.request_quote(changed).await.expect_err("changed")),
        3106
    );
    // Payer and payee can read it; others cannot.
    let get = GetQuoteRequest {
        quote_id: first.quote_id.clone(),
    };
    assert_eq!(
        b.api
            .get_quote(get.clone())
            .await
            .expect("payee reads")
            .into_inner(),
        first
    );
    assert_eq!(
        code(&c.api.get_quote(get).await.expect_err("third party")),
        3000
    );
    assert_eq!(
        code(
            &a.api
                .get_quote(GetQuoteRequest {
                    quote_id: uuid::Uuid::new_v4().to_string()
                })
                .await
                .expect_err("unknown")
        ),
        3205
    );
    // The payee's refusal is relayed: amount below its fee.
    let err = a
        .api
        .request_quote(quote_request(&a, &b, "1"))
        .await
        .expect_err("below fee");
    assert_eq!(code(&err), 5101);
}
