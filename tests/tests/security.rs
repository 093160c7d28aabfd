//! Attacks on the switch's identities (issue 15), over real sockets:
//!
//! - the participant API on mTLS: no client certificate, one from another
//!   CA, an expired one, a valid one nobody registered, one revoked (its
//!   registration removed), a bearer credential once bearer credentials
//!   are off; and bank A's certificate trying to read bank B's transfer;
//! - each operator role calling what it may not, and every change an
//!   operator makes recorded in the log with the operator's name.
//!
//! Each refusal moves nothing and says nothing about the secrets.

use harambee_proto::v1::operator_api_client::OperatorApiClient;
use harambee_proto::v1::participant_api_client::ParticipantApiClient;
use harambee_proto::v1::*;
use harambee_tests::*;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use sha2::{Digest, Sha256};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

/// A certificate authority made for one test.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
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

    /// A leaf certificate and its key, as PEM.
    fn issue(&self, name: &str, server: bool, expired: bool) -> (String, String) {
        let key = KeyPair::generate().expect("key");
        let sans = if server {
            vec!["localhost".to_string(), "127.0.0.1".to_string()]
        } else {
            Vec::new()
        };
        let mut params = CertificateParams::new(sans).expect("params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![if server {
            ExtendedKeyUsagePurpose::ServerAuth
        } else {
            ExtendedKeyUsagePurpose::ClientAuth
        }];
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let cert = params.signed_by(&key, &self.issuer).expect("certificate");
        (cert.pem(), key.serialize_pem())
    }
}

/// SHA-256 of a PEM certificate's DER, in hex.
fn fingerprint(pem: &str) -> String {
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    use base64::Engine as _;
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("base64");
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A participant API client on TLS, presenting `identity` if given.
async fn connect(
    addr: std::net::SocketAddr,
    ca_pem: &str,
    identity: Option<&(String, String)>,
) -> Result<ParticipantApiClient<Channel>, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca_pem))
        .domain_name("localhost");
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    let channel = Channel::from_shared(format!("https://localhost:{}", addr.port()))
        .expect("url")
        .tls_config(tls)?
        .connect()
        .await?;
    Ok(ParticipantApiClient::new(channel))
}

/// A call that proves who the caller is without changing anything: a
/// transfer nobody made is 3208 to an authenticated caller, 3105 to
/// anyone else.
async fn probe(api: &mut ParticipantApiClient<Channel>, transfer_id: &str) -> u16 {
    match api
        .get_transfer(GetTransferRequest {
            transfer_id: transfer_id.into(),
        })
        .await
    {
        Ok(_) => 0,
        Err(status) => code(&status),
    }
}

async fn create(op: &mut OperatorApiClient<Channel>, name: &str) -> String {
    op.create_participant(op_req(CreateParticipantRequest {
        fsp_id: name.into(),
        kind: ParticipantKind::Bank as i32,
        name: name.into(),
    }))
    .await
    .expect("participant")
    .into_inner()
    .credential
}

#[tokio::test]
async fn the_participant_api_on_mtls_takes_identity_from_registered_certificates_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scheme = Ca::new("test scheme CA");
    let other = Ca::new("another CA");
    let pki = dir.path().join("pki");
    std::fs::create_dir_all(&pki).expect("pki dir");
    let (switch_cert, switch_key) = scheme.issue("switch", true, false);
    std::fs::write(pki.join("switch.pem"), &switch_cert).expect("write");
    std::fs::write(pki.join("switch.key"), &switch_key).expect("write");
    std::fs::write(pki.join("ca.pem"), &scheme.pem).expect("write");
    let mut config = TestSwitch::config(dir.path());
    config.tls.cert_file = pki.join("switch.pem").display().to_string();
    config.tls.key_file = pki.join("switch.key").display().to_string();
    config.tls.ca_file = pki.join("ca.pem").display().to_string();
    config.tls.participant_api = true;
    config.api.participant_bearer = false;
    let mut s = TestSwitch::start_with(dir, config).await;
    let addr = s.running().participant_addr;
    let bearer_a = create(&mut s.op, "bank-a").await;
    create(&mut s.op, "bank-b").await;
    let bank_a = scheme.issue("bank-a", false, false);
    let bank_a_next = scheme.issue("bank-a rollover", false, false);
    let bank_b = scheme.issue("bank-b", false, false);
    for (who, cert) in [
        ("bank-a", &bank_a),
        ("bank-a", &bank_a_next),
        ("bank-b", &bank_b),
    ] {
        let registered =
            s.op.add_participant_certificate(op_req(AddParticipantCertificateRequest {
                fsp_id: who.into(),
                certificate_pem: cert.0.clone(),
            }))
            .await
            .expect("registered")
            .into_inner();
        assert_eq!(registered.sha256, fingerprint(&cert.0));
    }
    // bank-a's certificate cannot be registered to bank-b as well.
    let twice =
        s.op.add_participant_certificate(op_req(AddParticipantCertificateRequest {
            fsp_id: "bank-b".into(),
            certificate_pem: bank_a.0.clone(),
        }))
        .await
        .expect_err("one owner per certificate");
    assert_eq!(code(&twice), 3100);
    // An expired certificate is not registered.
    let expired = scheme.issue("bank-a old", false, true);
    let refused =
        s.op.add_participant_certificate(op_req(AddParticipantCertificateRequest {
            fsp_id: "bank-a".into(),
            certificate_pem: expired.0.clone(),
        }))
        .await
        .expect_err("expired");
    assert_eq!(code(&refused), 3100);

    let unknown = uuid::Uuid::new_v4().to_string();
    // Registered certificates, both of a rollover, act as their owner.
    let mut a = connect(addr, &scheme.pem, Some(&bank_a)).await.expect("a");
    assert_eq!(probe(&mut a, &unknown).await, 3208);
    let mut a_next = connect(addr, &scheme.pem, Some(&bank_a_next))
        .await
        .expect("a, rollover");
    assert_eq!(probe(&mut a_next, &unknown).await, 3208);

    // Without a certificate, with another CA's, with an expired one, the
    // handshake fails: no call reaches the service (with TLS 1.3 the
    // client learns it at its first call).
    for identity in [
        None,
        Some(other.issue("bank-a", false, false)),
        Some(expired),
    ] {
        if let Ok(mut api) = connect(addr, &scheme.pem, identity.as_ref()).await {
            let answer = probe(&mut api, &unknown).await;
            assert!(
                !matches!(answer, 0 | 3105 | 3208),
                "the service answered {answer}: the handshake was not refused"
            );
        }
    }

    // A valid certificate of the scheme that nobody registered proves
    // nothing.
    let stray = scheme.issue("stray", false, false);
    let mut stray = connect(addr, &scheme.pem, Some(&stray)).await.expect("tls");
    assert_eq!(probe(&mut stray, &unknown).await, 3105);

    // Bearer credentials are off: bank-a's, on a connection without a
    // certificate, reaches nothing.
    let bearer_call = || {
        let mut call = tonic::Request::new(GetTransferRequest {
            transfer_id: unknown.clone(),
        });
        call.metadata_mut().insert(
            "authorization",
            format!("Bearer {bearer_a}").parse().expect("ascii"),
        );
        call
    };
    if let Ok(mut api) = connect(addr, &scheme.pem, None).await {
        let refused = api.get_transfer(bearer_call()).await.expect_err("refused");
        assert!(!matches!(code(&refused), 3105 | 3208), "{refused:?}");
    }
    // On bank-b's connection the certificate is the identity: bank-a's
    // bearer beside it is ignored (bank-b may read nothing of bank-a's,
    // and is answered as bank-b).
    let mut b = connect(addr, &scheme.pem, Some(&bank_b)).await.expect("b");
    let status = b.get_transfer(bearer_call()).await.expect_err("not found");
    assert_eq!(code(&status), 3208);

    // Revocation: the removed registration proves nothing from the next
    // call, on the connection already open too; the rollover's other
    // certificate goes on.
    s.op.remove_participant_certificate(op_req(RemoveParticipantCertificateRequest {
        fsp_id: "bank-a".into(),
        sha256: fingerprint(&bank_a.0),
    }))
    .await
    .expect("removed");
    assert_eq!(probe(&mut a, &unknown).await, 3105);
    assert_eq!(probe(&mut a_next, &unknown).await, 3208);
    let listed =
        s.op.list_participant_certificates(op_req(ListParticipantCertificatesRequest {
            fsp_id: "bank-a".into(),
        }))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.certificates.len(), 1);
    assert_eq!(listed.certificates[0].sha256, fingerprint(&bank_a_next.0));
    assert!(listed.certificates[0].subject.contains("bank-a rollover"));
}

const HUB_TOKEN: &str = "hub-operator-token-0123456789";
const SETTLEMENT_TOKEN: &str = "settlement-operator-token-0123456789";
const AUDITOR_TOKEN: &str = "auditor-token-0123456789";

fn as_op<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii"),
    );
    r
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn each_operator_role_may_do_only_its_own_work_and_the_log_names_who_did_what() {
    let dir = tempfile::tempdir().expect("tempdir");
    let operators = dir.path().join("operators.toml");
    std::fs::write(
        &operators,
        format!(
            "[[operators]]\nname = \"hub-ops\"\nroles = [\"hub-operator\"]\ntoken_sha256 = \"{}\"\n\n\
             [[operators]]\nname = \"central-bank\"\nroles = [\"settlement-operator\"]\ntoken_sha256 = \"{}\"\n\n\
             [[operators]]\nname = \"inspector\"\nroles = [\"auditor\"]\ntoken_sha256 = \"{}\"\n",
            sha256_hex(HUB_TOKEN),
            sha256_hex(SETTLEMENT_TOKEN),
            sha256_hex(AUDITOR_TOKEN)
        ),
    )
    .expect("operators file");
    let mut config = TestSwitch::config(dir.path());
    config.api.operators_file = operators.display().to_string();
    let data_dir = config.data_dir.clone();
    let mut s = TestSwitch::start_with(dir, config).await;
    let create = |token: &str, name: &str| {
        as_op(
            token,
            CreateParticipantRequest {
                fsp_id: name.into(),
                kind: ParticipantKind::Bank as i32,
                name: name.into(),
            },
        )
    };

    // Neither the auditor nor the settlement operator may onboard.
    for token in [AUDITOR_TOKEN, SETTLEMENT_TOKEN] {
        let refused =
            s.op.create_participant(create(token, "bank-x"))
                .await
                .expect_err("not a hub operator");
        assert_eq!(refused.code(), tonic::Code::PermissionDenied);
        assert_eq!(code(&refused), 3000);
        assert!(!refused.message().contains(token));
    }
    // A token nobody holds proves nothing.
    let unknown =
        s.op.get_ledger_digest(as_op("not-a-token-0123456789", GetLedgerDigestRequest {}))
            .await
            .expect_err("unknown");
    assert_eq!(code(&unknown), 3105);
    // Nothing was created.
    let listed =
        s.op.list_participants(as_op(AUDITOR_TOKEN, ListParticipantsRequest::default()))
            .await
            .expect("the auditor reads")
            .into_inner();
    assert!(listed.participants.iter().all(|p| p.fsp_id != "bank-x"));

    // The hub operator onboards and funds; the settlement operator may not
    // fund, the hub operator may not close a window.
    s.op.create_participant(create(HUB_TOKEN, "bank-x"))
        .await
        .expect("the hub operator onboards");
    let refused =
        s.op.funds_in(as_op(
            SETTLEMENT_TOKEN,
            FundsRequest {
                funds_id: uuid::Uuid::new_v4().to_string(),
                fsp_id: "bank-x".into(),
                amount: Some(Money {
                    amount: "10".into(),
                    currency: CURRENCY.into(),
                }),
                ..Default::default()
            },
        ))
        .await
        .expect_err("not a hub operator");
    assert_eq!(code(&refused), 3000);
    let refused =
        s.op.close_settlement_window(as_op(
            HUB_TOKEN,
            CloseSettlementWindowRequest {
                currency: CURRENCY.into(),
                ..Default::default()
            },
        ))
        .await
        .expect_err("not a settlement operator");
    assert_eq!(code(&refused), 3000);
    // The auditor reads everything, the digest included.
    s.op.get_ledger_digest(as_op(AUDITOR_TOKEN, GetLedgerDigestRequest {}))
        .await
        .expect("the auditor reads the digest");

    // The log names the hub operator on the participant it created, and
    // the default operator of the test harness on the currency.
    let mut export = Vec::new();
    harambee_log::audit::export(&data_dir, &mut export)
        .await
        .expect("export");
    let text = String::from_utf8(export).expect("utf-8");
    let created = text
        .lines()
        .find(|l| l.contains("create_participant") && l.contains("bank-x"))
        .expect("the participant's record");
    assert!(
        created.contains(r#"\"by\":{\"operator\":\"hub-ops\",\"role\":\"hub-operator\"}"#),
        "{created}"
    );
    assert_eq!(
        text.lines()
            .filter(|l| l.contains("create_participant"))
            .count(),
        1,
        "the refused calls logged nothing"
    );
}
