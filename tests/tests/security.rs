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
use sha2::{Digest, Sha256};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

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
    // gRPC only: the FSPIOP API would have no way in for participants.
    config.fspiop.listen = String::new();
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

/// A participant's HTTPS server for the switch's FSPIOP callbacks, on
/// the participant's certificate of the dev PKI, asking every client for
/// a certificate of the scheme CA: what it records is the path of each
/// callback and the SHA-256 of the client certificate it came with.
async fn https_callback_server(
    cert: &std::path::Path,
    key: &std::path::Path,
    ca: &std::path::Path,
) -> (String, tokio::sync::mpsc::Receiver<(String, String)>) {
    let (url, received, _) = https_server(cert, key, Some(ca)).await;
    (url, received)
}

/// [`https_callback_server`], asking clients for a certificate of
/// `client_ca` or, with `None`, for none; it also counts the TCP
/// connections it accepts (a handshake refused by the client counts).
async fn https_server(
    cert: &std::path::Path,
    key: &std::path::Path,
    client_ca: Option<&std::path::Path>,
) -> (
    String,
    tokio::sync::mpsc::Receiver<(String, String)>,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    let (chain, key) = (pem::chain(cert), pem::key(key));
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("versions");
    let builder = match client_ca {
        Some(ca) => builder.with_client_cert_verifier(
            rustls::server::WebPkiClientVerifier::builder_with_provider(
                std::sync::Arc::new(pem::roots(ca)),
                provider,
            )
            .build()
            .expect("verifier"),
        ),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key).expect("server config");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = accepted.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let client = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .map(|c| hex(&Sha256::digest(c.as_ref())))
                    .unwrap_or_default();
                let service = hyper::service::service_fn(
                    move |request: hyper::Request<hyper::body::Incoming>| {
                        let tx = tx.clone();
                        let client = client.clone();
                        async move {
                            let _ = tx.send((request.uri().path().to_string(), client)).await;
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(
                                http_body_util::Empty::<axum::body::Bytes>::new(),
                            ))
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (format!("https://localhost:{port}"), rx, accepted)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An HTTPS client of the FSPIOP API presenting `identity` (certificate
/// and key files), trusting the scheme CA only.
fn fspiop_client(
    ca: &std::path::Path,
    identity: Option<&harambee_tls::dev::Issued>,
) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(ca).expect("ca")).expect("ca"),
        );
    if let Some(i) = identity {
        let mut pem = std::fs::read(&i.cert_file).expect("cert");
        pem.extend(std::fs::read(&i.key_file).expect("key"));
        builder = builder.identity(reqwest::Identity::from_pem(&pem).expect("identity"));
    }
    builder.build().expect("client")
}

#[tokio::test]
async fn fspiop_on_mtls_takes_the_participant_from_its_certificate_and_calls_back_over_mtls() {
    use harambee_tests::fspiop::{Dfsp, fspiop_participant};
    use serde_json::json;

    let dir = tempfile::tempdir().expect("tempdir");
    let pki = TestPki::new();
    let switch = &pki.switch;
    let bank_a = pki.participant("bank-a");
    let bank_b = pki.participant("bank-b");
    let stray = pki.participant("stray");
    let ca = pki.ca.clone();
    let mut config = TestSwitch::config(dir.path());
    pki.configure(&mut config);
    config.tls.fspiop_api = true;
    config.tls.participant_api = true;
    config.api.participant_bearer = false;
    let mut s = TestSwitch::start_with(dir, config).await;
    let port = s.running().fspiop_addr.expect("FSPIOP API").port();

    // bank-a's callbacks go to its own HTTPS server, which asks the
    // switch for a certificate of the scheme.
    let (callbacks_a, mut received_a) =
        https_callback_server(&bank_a.cert_file, &bank_a.key_file, &ca).await;
    fspiop_participant(&s, "bank-a", &callbacks_a).await;
    fspiop_participant(&s, "bank-b", "https://localhost:9").await;
    for (who, cert) in [("bank-a", &bank_a), ("bank-b", &bank_b)] {
        s.op.add_participant_certificate(op_req(AddParticipantCertificateRequest {
            fsp_id: who.into(),
            certificate_pem: std::fs::read_to_string(&cert.cert_file).expect("pem"),
        }))
        .await
        .expect("registered");
    }
    let dfsp = |name: &str, identity: Option<&harambee_tls::dev::Issued>| Dfsp {
        http: fspiop_client(&ca, identity),
        api: format!("https://localhost:{port}"),
        name: name.into(),
        credential: String::new(),
    };

    // bank-a, on its certificate, registers its customer; the switch's
    // callback reaches bank-a's server over mTLS, on the switch's own
    // certificate.
    let a = dfsp("bank-a", Some(&bank_a));
    let (status, body) = a
        .send(
            reqwest::Method::POST,
            "/participants/MSISDN/254711000777",
            "participants",
            "1.1",
            Some(json!({"fspId": "bank-a", "currency": CURRENCY})),
            None,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let (path, client) =
        tokio::time::timeout(std::time::Duration::from_secs(10), received_a.recv())
            .await
            .expect("a callback within 10 s")
            .expect("the server runs");
    assert_eq!(path, "/participants/MSISDN/254711000777");
    assert_eq!(
        client,
        switch.sha256_hex(),
        "the switch presents its certificate"
    );

    // bank-a's certificate cannot act as bank-b: not to register bank-b's
    // parties, prepare as bank-b, fulfil or read bank-b's transfers.
    let before = s.digest().await;
    let as_b = dfsp("bank-b", Some(&bank_a));
    let transfer_id = uuid::Uuid::new_v4().to_string();
    let prepare = json!({
        "transferId": transfer_id,
        "payerFsp": "bank-b",
        "payeeFsp": "bank-a",
        "amount": {"amount": "10", "currency": CURRENCY},
        "ilpPacket": harambee_tests::fspiop::ILP_PACKET,
        "condition": "GRzLaTP7DJ9t4P-a_BA0WA9wzzlsugf00-Tn6kESAfM",
        "expiration": "2099-01-01T00:00:00.000Z",
    });
    let fulfil = json!({"transferState": "COMMITTED", "fulfilment": "UNlJ98hZTY_dsw0cAqw4i_UN3v4utt7CZFB4yfLbVFA", "completedTimestamp": "2026-12-01T19:00:00.000Z"});
    for (method, path, resource, body) in [
        (
            reqwest::Method::POST,
            "/participants/MSISDN/254711000888".to_string(),
            "participants",
            Some(json!({"fspId": "bank-b", "currency": CURRENCY})),
        ),
        (
            reqwest::Method::POST,
            "/transfers".to_string(),
            "transfers",
            Some(prepare.clone()),
        ),
        (
            reqwest::Method::PUT,
            format!("/transfers/{transfer_id}"),
            "transfers",
            Some(fulfil.clone()),
        ),
        (
            reqwest::Method::GET,
            format!("/transfers/{transfer_id}"),
            "transfers",
            None,
        ),
    ] {
        let (status, body) = as_b
            .send(method.clone(), &path, resource, "1.1", body, None)
            .await;
        assert_eq!(
            (status, body["errorInformation"]["errorCode"].as_str()),
            (400, Some("3105")),
            "{method} {path}: {body}"
        );
        let text = body.to_string();
        assert!(
            !text.contains(&bank_a.sha256_hex()),
            "nothing about the certificate leaks: {text}"
        );
    }
    // A valid certificate of the scheme that nobody registered proves
    // nothing either.
    let (status, body) = dfsp("stray", Some(&stray))
        .send(
            reqwest::Method::GET,
            &format!("/transfers/{transfer_id}"),
            "transfers",
            "1.1",
            None,
            None,
        )
        .await;
    assert_eq!(
        body["errorInformation"]["errorCode"], "3105",
        "{status} {body}"
    );
    assert_eq!(s.digest().await, before, "nothing moved");

    // Without a certificate (bearer credentials are off) the handshake
    // is refused: nothing reaches the API.
    let refused = fspiop_client(&ca, None)
        .get(format!("https://localhost:{port}/transfers/{transfer_id}"))
        .send()
        .await;
    assert!(
        refused.is_err(),
        "answered without a certificate: {refused:?}"
    );
}

/// A client that connects to a TLS port and never finishes its handshake
/// (a slowloris of TLS) holds its connection no longer than
/// `tls.handshake_timeout_ms`, on each of the APIs on TLS, and a
/// participant is served meanwhile.
#[tokio::test]
async fn a_client_that_never_finishes_its_tls_handshake_is_cut_off() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = TestPki::new();
    let bank = pki.participant("bank-a");
    let mut config = TestSwitch::config(dir.path());
    pki.configure(&mut config);
    config.tls.participant_api = true;
    config.tls.fspiop_api = true;
    config.tls.handshake_timeout_ms = 300;
    let mut s = TestSwitch::start_with(dir, config).await;
    create(&mut s.op, "bank-a").await;
    s.op.add_participant_certificate(op_req(AddParticipantCertificateRequest {
        fsp_id: "bank-a".into(),
        certificate_pem: std::fs::read_to_string(&bank.cert_file).expect("pem"),
    }))
    .await
    .expect("registered");
    let ports = [
        s.running().participant_addr,
        s.running().fspiop_addr.expect("FSPIOP API"),
    ];
    // A participant on its certificate, served while the stalled
    // connections hang.
    let pem = std::fs::read_to_string(&bank.cert_file).expect("cert");
    let key = std::fs::read_to_string(&bank.key_file).expect("key");
    let ca = std::fs::read_to_string(&pki.ca).expect("ca");
    let mut api = connect(s.running().participant_addr, &ca, Some(&(pem, key)))
        .await
        .expect("connects");
    for addr in ports {
        // Silent, then a ClientHello's first bytes and nothing more.
        let mut silent = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connects");
        let mut trickle = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connects");
        trickle
            .write_all(&[0x16, 0x03, 0x01])
            .await
            .expect("writes");
        assert_eq!(
            probe(&mut api, &uuid::Uuid::new_v4().to_string()).await,
            3208
        );
        for stream in [&mut silent, &mut trickle] {
            let closed = closed_within(stream, std::time::Duration::from_secs(20)).await;
            assert!(closed, "{addr}: still open");
        }
    }
}

/// The operators file is read again on SIGHUP, with no restart: an
/// operator removed proves nothing from the next call, one added acts in
/// its roles, and a file that does not read keeps the operators as they
/// were. (nextest runs each test in a process of its own: the signal
/// reaches only this test's switch.)
#[tokio::test]
async fn the_operators_file_is_read_again_on_sighup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let operators = dir.path().join("operators.toml");
    let entry = |name: &str, role: &str, token: &str| {
        format!(
            "[[operators]]\nname = \"{name}\"\nroles = [\"{role}\"]\ntoken_sha256 = \"{}\"\n",
            sha256_hex(token)
        )
    };
    std::fs::write(&operators, entry("hub-ops", "hub-operator", HUB_TOKEN)).expect("write");
    let mut config = TestSwitch::config(dir.path());
    config.api.operators_file = operators.display().to_string();
    let mut s = TestSwitch::start_with(dir, config).await;
    let digest = |token: &str| as_op(token, GetLedgerDigestRequest {});
    s.op.get_ledger_digest(digest(HUB_TOKEN))
        .await
        .expect("hub-ops reads");
    let refused =
        s.op.get_ledger_digest(digest(AUDITOR_TOKEN))
            .await
            .expect_err("not yet an operator");
    assert_eq!(code(&refused), 3105);

    let hang_up = || {
        let status = std::process::Command::new("kill")
            .args(["-HUP", &std::process::id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    };
    // hub-ops leaves, the inspector comes.
    std::fs::write(&operators, entry("inspector", "auditor", AUDITOR_TOKEN)).expect("write");
    hang_up();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while s.op.get_ledger_digest(digest(AUDITOR_TOKEN)).await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the file was not read again"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let gone =
        s.op.get_ledger_digest(digest(HUB_TOKEN))
            .await
            .expect_err("hub-ops was removed");
    assert_eq!(code(&gone), 3105);
    let refused =
        s.op.create_participant(as_op(
            AUDITOR_TOKEN,
            CreateParticipantRequest {
                fsp_id: "bank-x".into(),
                kind: ParticipantKind::Bank as i32,
                name: "bank-x".into(),
            },
        ))
        .await
        .expect_err("an auditor");
    assert_eq!(code(&refused), 3000);

    // A file that does not read changes nothing (once the switch says it
    // refused it).
    std::fs::write(&operators, "[[operators]]\nname = \"\"\n").expect("write");
    hang_up();
    let metrics = s.running().metrics_addr.expect("metrics");
    let refused_reloads = r#"harambee_operators_reloads_total{result="refused"}"#;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while metric(&scrape(metrics).await, refused_reloads).is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the file was not read again"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    s.op.get_ledger_digest(digest(AUDITOR_TOKEN))
        .await
        .expect("the inspector stays");
}

/// A switch's config with the participant API on mTLS alone (no bearer
/// credentials, no FSPIOP API), on a certificate of `scheme` written
/// under `dir`.
fn participant_api_on_mtls(scheme: &Ca, dir: &std::path::Path) -> harambee_switch::config::Config {
    let pki = dir.join("pki");
    std::fs::create_dir_all(&pki).expect("pki dir");
    let (switch_cert, switch_key) = scheme.issue("switch", true, false);
    std::fs::write(pki.join("switch.pem"), &switch_cert).expect("write");
    std::fs::write(pki.join("switch.key"), &switch_key).expect("write");
    std::fs::write(pki.join("ca.pem"), &scheme.pem).expect("write");
    let mut config = TestSwitch::config(dir);
    config.tls.cert_file = pki.join("switch.pem").display().to_string();
    config.tls.key_file = pki.join("switch.key").display().to_string();
    config.tls.ca_file = pki.join("ca.pem").display().to_string();
    config.tls.participant_api = true;
    config.api.participant_bearer = false;
    config.fspiop.listen = String::new();
    config
}

/// A participant registered by its own CA and a subject (no certificate
/// registered): any certificate of that CA bearing that subject acts as
/// it, renewals included; the same CA's certificate naming another
/// participant proves nothing, not even when that participant is
/// registered by the same subject under the scheme CA; another CA's
/// certificate with the subject fails the handshake; removing the
/// registration takes effect at the next call.
#[tokio::test]
async fn a_participant_registered_by_its_ca_and_subject_is_every_certificate_of_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scheme = Ca::new("test scheme CA");
    let own = Ca::new("Bank A issuing CA");
    let other = Ca::new("another CA");
    let config = participant_api_on_mtls(&scheme, dir.path());
    let mut s = TestSwitch::start_with(dir, config).await;
    let addr = s.running().participant_addr;
    create(&mut s.op, "bank-a").await;
    create(&mut s.op, "bank-b").await;
    let unknown = uuid::Uuid::new_v4().to_string();

    // Before any registration, the own CA's certificate fails the
    // handshake: the switch does not trust that CA.
    let first = own.issue("bank-a", false, false);
    if let Ok(mut api) = connect(addr, &scheme.pem, Some(&first)).await {
        let answer = probe(&mut api, &unknown).await;
        assert!(!matches!(answer, 0 | 3105 | 3208), "answered {answer}");
    }

    // What cannot be registered: an end-entity certificate as a CA, an
    // empty subject.
    for (ca, subject) in [(first.0.clone(), "CN=bank-a"), (own.pem.clone(), " ")] {
        let refused =
            s.op.add_participant_issuer(op_req(AddParticipantIssuerRequest {
                fsp_id: "bank-a".into(),
                ca_certificate_pem: ca,
                subject: subject.into(),
            }))
            .await
            .expect_err("refused");
        assert_eq!(code(&refused), 3100, "{refused:?}");
    }
    let registered =
        s.op.add_participant_issuer(op_req(AddParticipantIssuerRequest {
            fsp_id: "bank-a".into(),
            ca_certificate_pem: own.pem.clone(),
            subject: "CN=bank-a".into(),
        }))
        .await
        .expect("registered")
        .into_inner();
    assert_eq!(registered.ca_sha256, fingerprint(&own.pem));
    assert_eq!(registered.ca_subject, "CN=Bank A issuing CA");
    // The same CA and subject cannot name bank-b too.
    let twice =
        s.op.add_participant_issuer(op_req(AddParticipantIssuerRequest {
            fsp_id: "bank-b".into(),
            ca_certificate_pem: own.pem.clone(),
            subject: "CN=bank-a".into(),
        }))
        .await
        .expect_err("one participant per CA and subject");
    assert_eq!(code(&twice), 3100);
    // bank-b by the scheme CA and its subject.
    s.op.add_participant_issuer(op_req(AddParticipantIssuerRequest {
        fsp_id: "bank-b".into(),
        ca_certificate_pem: scheme.pem.clone(),
        subject: "CN=bank-b".into(),
    }))
    .await
    .expect("bank-b registered");

    // Any certificate of the CA with the subject is bank-a: the first,
    // and a renewal nobody registered.
    let mut a = connect(addr, &scheme.pem, Some(&first)).await.expect("a");
    assert_eq!(probe(&mut a, &unknown).await, 3208);
    let renewed = own.issue("bank-a", false, false);
    let mut a_renewed = connect(addr, &scheme.pem, Some(&renewed))
        .await
        .expect("a, renewed");
    assert_eq!(probe(&mut a_renewed, &unknown).await, 3208);
    // bank-b by its scheme certificate.
    let mut b = connect(
        addr,
        &scheme.pem,
        Some(&scheme.issue("bank-b", false, false)),
    )
    .await
    .expect("b");
    assert_eq!(probe(&mut b, &unknown).await, 3208);

    // bank-a's CA issuing a certificate named bank-b: the handshake
    // passes (the CA is trusted), the certificate proves nothing.
    let forged = own.issue("bank-b", false, false);
    let mut as_b = connect(addr, &scheme.pem, Some(&forged))
        .await
        .expect("tls");
    assert_eq!(probe(&mut as_b, &unknown).await, 3105);
    // Another CA's certificate with bank-a's subject, and an expired one
    // of bank-a's CA: refused at the handshake.
    for identity in [
        other.issue("bank-a", false, false),
        own.issue("bank-a", false, true),
    ] {
        if let Ok(mut api) = connect(addr, &scheme.pem, Some(&identity)).await {
            let answer = probe(&mut api, &unknown).await;
            assert!(!matches!(answer, 0 | 3105 | 3208), "answered {answer}");
        }
    }

    let listed =
        s.op.list_participant_certificates(op_req(ListParticipantCertificatesRequest {
            fsp_id: "bank-a".into(),
        }))
        .await
        .expect("list")
        .into_inner();
    assert!(listed.certificates.is_empty());
    assert_eq!(listed.issuers.len(), 1);
    assert_eq!(listed.issuers[0].subject, "CN=bank-a");

    // Revocation: from the next call on, on the connections already open.
    s.op.remove_participant_issuer(op_req(RemoveParticipantIssuerRequest {
        fsp_id: "bank-a".into(),
        ca_sha256: fingerprint(&own.pem),
        subject: "CN=bank-a".into(),
    }))
    .await
    .expect("removed");
    assert_eq!(probe(&mut a, &unknown).await, 3105);
    assert_eq!(probe(&mut a_renewed, &unknown).await, 3105);
    assert_eq!(probe(&mut b, &unknown).await, 3208);
}

/// A participant registered by its own CA calls and is called back on
/// that CA's certificates: the switch verifies its callback server
/// against the registered CA. Another participant's callback server on a
/// certificate of that CA is not trusted: the CA vouches for the hosts of
/// its own participant's callbacks only.
#[tokio::test]
async fn callback_servers_are_verified_against_their_participants_registered_ca() {
    use harambee_tests::fspiop::{Dfsp, fspiop_participant};
    use serde_json::json;

    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("tempdir");
    let pki = TestPki::new();
    let own = Ca::new("Bank A issuing CA");
    let bank_a_client = issued(files.path(), "bank-a", &own.issue("bank-a", false, false));
    let bank_a_server = issued(
        files.path(),
        "bank-a-server",
        &own.issue("bank-a", true, false),
    );
    let bank_b = pki.participant("bank-b");
    let mut config = TestSwitch::config(dir.path());
    pki.configure(&mut config);
    config.tls.fspiop_api = true;
    config.tls.participant_api = true;
    config.api.participant_bearer = false;
    let mut s = TestSwitch::start_with(dir, config).await;
    let port = s.running().fspiop_addr.expect("FSPIOP API").port();

    // bank-a's server on its own CA's certificate, at localhost; bank-b's
    // server on a certificate of bank-a's CA too, at 127.0.0.1. Both ask
    // the switch for a certificate of the scheme.
    let (callbacks_a, mut received_a) =
        https_callback_server(&bank_a_server.cert_file, &bank_a_server.key_file, &pki.ca).await;
    let (callbacks_b, mut received_b) =
        https_callback_server(&bank_a_server.cert_file, &bank_a_server.key_file, &pki.ca).await;
    let callbacks_b = callbacks_b.replace("localhost", "127.0.0.1");
    fspiop_participant(&s, "bank-a", &callbacks_a).await;
    fspiop_participant(&s, "bank-b", &callbacks_b).await;
    s.op.add_participant_issuer(op_req(AddParticipantIssuerRequest {
        fsp_id: "bank-a".into(),
        ca_certificate_pem: own.pem.clone(),
        subject: "CN=bank-a".into(),
    }))
    .await
    .expect("bank-a by its CA");
    s.op.add_participant_certificate(op_req(AddParticipantCertificateRequest {
        fsp_id: "bank-b".into(),
        certificate_pem: std::fs::read_to_string(&bank_b.cert_file).expect("pem"),
    }))
    .await
    .expect("bank-b by its certificate");
    let dfsp = |name: &str, identity: &harambee_tls::dev::Issued| Dfsp {
        http: fspiop_client(&pki.ca, Some(identity)),
        api: format!("https://localhost:{port}"),
        name: name.into(),
        credential: String::new(),
    };

    // bank-a on its own CA's certificate registers a customer; the
    // callback reaches its server, verified against bank-a's CA.
    let (status, body) = dfsp("bank-a", &bank_a_client)
        .send(
            reqwest::Method::POST,
            "/participants/MSISDN/254711000901",
            "participants",
            "1.1",
            Some(json!({"fspId": "bank-a", "currency": CURRENCY})),
            None,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let (path, client) =
        tokio::time::timeout(std::time::Duration::from_secs(10), received_a.recv())
            .await
            .expect("a callback within 10 s")
            .expect("the server runs");
    assert_eq!(path, "/participants/MSISDN/254711000901");
    assert_eq!(client, pki.switch.sha256_hex());

    // bank-b's callback server presents bank-a's CA's certificate: the
    // switch does not take it, and nothing reaches that server.
    let (status, body) = dfsp("bank-b", &bank_b)
        .send(
            reqwest::Method::POST,
            "/participants/MSISDN/254711000902",
            "participants",
            "1.1",
            Some(json!({"fspId": "bank-b", "currency": CURRENCY})),
            None,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let delivered =
        tokio::time::timeout(std::time::Duration::from_secs(3), received_b.recv()).await;
    assert!(
        delivered.is_err(),
        "a callback reached a server whose CA vouches for another participant: {delivered:?}"
    );
}

/// Without a scheme PKI the switch trusts no server: it calls an
/// `https://` endpoint, refuses the server's certificate at the
/// handshake and sends it nothing, while `http://` callbacks go on.
#[tokio::test]
async fn without_a_scheme_pki_an_https_callback_is_refused_at_the_handshake() {
    use harambee_tests::fspiop::{callback_server, fspiop_participant, next};
    use serde_json::json;

    let s = TestSwitch::start().await;
    // A server with a certificate for localhost, of a CA the switch was
    // never told of, asking for no client certificate.
    let pki = TestPki::new();
    let server = pki.participant("bank-a");
    let (https, mut received_https, accepted) =
        https_server(&server.cert_file, &server.key_file, None).await;
    let (http, mut received_http) = callback_server().await;
    let bank_a = fspiop_participant(&s, "bank-a", &https).await;
    let bank_b = fspiop_participant(&s, "bank-b", &http).await;

    // bank-b, on http://, gets its callback: callbacks flow.
    let (status, body) = bank_b
        .send(
            reqwest::Method::POST,
            "/participants/MSISDN/254711000904",
            "participants",
            "1.1",
            Some(json!({"fspId": "bank-b", "currency": CURRENCY})),
            None,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        next(&mut received_http).await.path,
        "/participants/MSISDN/254711000904"
    );

    // bank-a, on https://: the switch connects, takes no certificate, and
    // nothing reaches the server.
    let (status, body) = bank_a
        .send(
            reqwest::Method::POST,
            "/participants/MSISDN/254711000903",
            "participants",
            "1.1",
            Some(json!({"fspId": "bank-a", "currency": CURRENCY})),
            None,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let mut waited_ms = 0;
    while accepted.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(
            waited_ms < 10_000,
            "the switch never called bank-a's server"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        waited_ms += 50;
    }
    let delivered =
        tokio::time::timeout(std::time::Duration::from_secs(3), received_https.recv()).await;
    assert!(
        delivered.is_err(),
        "a callback reached a server no PKI vouches for: {delivered:?}"
    );
}

/// A gRPC participant registered by its own CA serves its PayeeCallback
/// on a certificate of that CA: the switch takes it on the host of that
/// participant's callback URL, and not from another participant's server
/// on another host.
#[tokio::test]
async fn a_grpc_payee_callback_on_its_participants_own_ca_is_trusted_on_its_host_only() {
    use harambee_sim::dfsp::{Customer, Dfsp};

    let dir = tempfile::tempdir().expect("tempdir");
    let scheme = Ca::new("test scheme CA");
    let own = Ca::new("Bank A issuing CA");
    let config = participant_api_on_mtls(&scheme, dir.path());
    let mut s = TestSwitch::start_with(dir, config).await;
    let addr = s.running().participant_addr;
    let (_stop, stop) = tokio::sync::watch::channel(false);

    // bank-a (by its own CA) serves at localhost on its CA's certificate;
    // bank-c (by a scheme certificate) serves at 127.0.0.1 on a
    // certificate of bank-a's CA. Both ask the switch for a certificate
    // of the scheme.
    let mut parties = Vec::new();
    for (name, host, registered_by_own_ca) in [
        ("bank-a", "localhost", true),
        ("bank-c", "127.0.0.1", false),
    ] {
        create(&mut s.op, name).await;
        let client = if registered_by_own_ca {
            s.op.add_participant_issuer(op_req(AddParticipantIssuerRequest {
                fsp_id: name.into(),
                ca_certificate_pem: own.pem.clone(),
                subject: format!("CN={name}"),
            }))
            .await
            .expect("by its CA");
            own.issue(name, false, false)
        } else {
            let client = scheme.issue(name, false, false);
            s.op.add_participant_certificate(op_req(AddParticipantCertificateRequest {
                fsp_id: name.into(),
                certificate_pem: client.0.clone(),
            }))
            .await
            .expect("by its certificate");
            client
        };
        let party = PartyIdentifier {
            r#type: PartyIdType::Msisdn as i32,
            id: harambee_sim::network::customer_id(name, 0),
            sub_id: String::new(),
        };
        let payee = std::sync::Arc::new(Dfsp::new(
            name,
            [7; 32],
            vec![Customer {
                party_type: PartyIdType::Msisdn,
                id: party.id.clone(),
                display_name: format!("{name} customer 0"),
            }],
            vec![CURRENCY.into()],
            rust_decimal::Decimal::ZERO,
        ));
        let (server_cert, server_key) = own.issue(name, true, false);
        let tls = tonic::transport::ServerTlsConfig::new()
            .identity(Identity::from_pem(server_cert, server_key))
            .client_ca_root(Certificate::from_pem(&scheme.pem));
        let mut stop = stop.clone();
        let (callbacks, _) = payee
            .serve_tls("127.0.0.1:0", Some(tls), async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await
            .expect("serves");
        s.op.set_endpoint(op_req(SetEndpointRequest {
            fsp_id: name.into(),
            url: format!("https://{host}:{}", callbacks.port()),
        }))
        .await
        .expect("endpoint");
        connect(addr, &scheme.pem, Some(&client))
            .await
            .expect("connects")
            .register_party(RegisterPartyRequest {
                party: Some(party.clone()),
            })
            .await
            .expect("registers its customer");
        parties.push(party);
    }
    create(&mut s.op, "bank-b").await;
    let payer = scheme.issue("bank-b", false, false);
    s.op.add_participant_certificate(op_req(AddParticipantCertificateRequest {
        fsp_id: "bank-b".into(),
        certificate_pem: payer.0.clone(),
    }))
    .await
    .expect("bank-b by its certificate");
    let mut bank_b = connect(addr, &scheme.pem, Some(&payer))
        .await
        .expect("bank-b connects");

    // bank-b looks up bank-a's customer: the switch asks bank-a's server,
    // on bank-a's CA, and bank-a answers.
    let found = bank_b
        .lookup_party(LookupPartyRequest {
            party: Some(parties[0].clone()),
            currency: CURRENCY.into(),
        })
        .await
        .expect("found")
        .into_inner()
        .party
        .expect("a party");
    assert_eq!(
        (found.fsp_id.as_str(), found.display_name.as_str()),
        ("bank-a", "bank-a customer 0")
    );
    // bank-c's customer: bank-c's server presents bank-a's CA's
    // certificate, which vouches for bank-a's hosts only. Not taken.
    let refused = bank_b
        .lookup_party(LookupPartyRequest {
            party: Some(parties[1].clone()),
            currency: CURRENCY.into(),
        })
        .await
        .expect_err("bank-c's server is not trusted");
    assert!(
        matches!(code(&refused), 1001 | 2003),
        "the owner unreachable: {refused:?}"
    );
}
