//! The ISO 8583 gateway over TCP, as a legacy bank host uses it: it signs
//! on, pays an MSISDN owned by a gRPC wallet with a 0200, and reads the
//! outcome in the 0210's field 39; a repeated 0200 never moves money twice;
//! a host cannot act as another institution; what is not a message is
//! answered or closed, and other connections go on.

use std::time::Duration;

use harambee_iso8583::{Dialect, Framing, Message, Mti, decode, encode};
use harambee_tests::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const INSTITUTION: &str = "60001";
const KES_NUMERIC: &str = "404";

/// A connection's bytes: plain TCP or TLS.
trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for T {}

/// A host's connection: ASCII dialect, 2-byte headers (the defaults).
struct Host {
    stream: Box<dyn Stream>,
    dialect: Dialect,
    buf: Vec<u8>,
}

impl Host {
    async fn connect(s: &TestSwitch) -> Host {
        let addr = s.running().iso8583_addr.expect("the gateway listens");
        Host {
            stream: Box::new(TcpStream::connect(addr).await.expect("connects")),
            dialect: Dialect::ascii_1987(),
            buf: Vec::new(),
        }
    }

    /// A connection on TLS, presenting `identity` (certificate and key
    /// files) if given; `None` if the handshake is refused.
    async fn connect_tls(
        s: &TestSwitch,
        ca: &std::path::Path,
        identity: Option<&harambee_tls::dev::Issued>,
    ) -> Option<Host> {
        let addr = s.running().iso8583_addr.expect("the gateway listens");
        let builder = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(pem::roots(ca));
        let config = match identity {
            Some(i) => builder
                .with_client_auth_cert(pem::chain(&i.cert_file), pem::key(&i.key_file))
                .expect("client auth"),
            None => builder.with_no_client_auth(),
        };
        let tcp = TcpStream::connect(addr).await.expect("connects");
        let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
            .connect(
                rustls::pki_types::ServerName::try_from("localhost").expect("name"),
                tcp,
            )
            .await
            .ok()?;
        Some(Host {
            stream: Box::new(tls),
            dialect: Dialect::ascii_1987(),
            buf: Vec::new(),
        })
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        let framed = Framing::Binary2.frame(bytes).expect("frames");
        self.stream.write_all(&framed).await.expect("writes");
    }

    async fn send(&mut self, m: &Message) {
        let bytes = encode(&self.dialect, m).expect("encodes");
        self.send_raw(&bytes).await;
    }

    /// The next message, or `None` if the gateway closed the connection.
    async fn next(&mut self) -> Option<Message> {
        let mut chunk = [0u8; 4096];
        loop {
            if let Some((start, end)) = Framing::Binary2.split(&self.buf, 65_535).expect("framing")
            {
                let m = decode(&self.dialect, &self.buf[start..end])
                    .expect("the gateway writes messages");
                self.buf.drain(..end);
                return Some(m);
            }
            let n = tokio::time::timeout(Duration::from_secs(20), self.stream.read(&mut chunk))
                .await
                .expect("the gateway answers in time")
                .unwrap_or(0);
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    async fn call(&mut self, m: &Message) -> Message {
        self.send(m).await;
        self.next().await.expect("an answer")
    }
}

fn network(stan: &str, code: &str) -> Message {
    let mut m = Message::new(Mti::new(b"0800").expect("mti"));
    m.set(7, "1202101500").set(11, stan).set(70, code);
    m
}

/// A 0200 of `minor` cents of KES (20_000: 200.00 KES) from account 102 to the MSISDN in 103.
fn payment(stan: &str, minor: u64, msisdn: &str) -> Message {
    let mut m = Message::new(Mti::new(b"0200").expect("mti"));
    m.set(3, "400000")
        .set(4, format!("{minor:012}"))
        .set(7, "1202101500")
        .set(11, stan)
        .set(12, "101500")
        .set(13, "1202")
        .set(32, INSTITUTION)
        .set(37, format!("633610{stan}"))
        .set(49, KES_NUMERIC)
        .set(102, "0012345678901")
        .set(103, msisdn);
    m
}

/// Field 90 of ISO 8583:1987: the original's MTI, STAN, transmission
/// time, and acquiring institution (11 digits), then 11 zeros.
fn field_90(mti: &str, stan: &str, transmitted: &str, acquirer: &str) -> String {
    format!("{mti}{stan}{transmitted}{acquirer:0>11}00000000000")
}

/// A reversal (0420) of `original`, naming it in field 90.
fn reversal_of(original: &Message, stan: &str) -> Message {
    let mut m = Message::new(Mti::new(b"0420").expect("mti"));
    for n in [3, 4, 12, 13, 32, 37, 49, 102, 103] {
        if let Some(v) = original.get(n) {
            m.set(n, v);
        }
    }
    m.set(7, "1202101700").set(11, stan).set(
        90,
        field_90(
            "0200",
            original.text(11).expect("11"),
            original.text(7).expect("7"),
            original.text(32).expect("32"),
        ),
    );
    m
}

async fn switch_with_gateway() -> TestSwitch {
    switch_with_gateway_and(|_| {}).await
}

/// A switch whose gateway binds the legacy bank's host to 127.0.0.1,
/// configured further by `configure`.
async fn switch_with_gateway_and(
    configure: impl FnOnce(&mut harambee_switch::config::Config),
) -> TestSwitch {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = TestSwitch::config(dir.path());
    config.iso8583.listen = "127.0.0.1:0".into();
    config.iso8583.hosts = vec![format!("{INSTITUTION}=legacy-bank@127.0.0.1")];
    configure(&mut config);
    TestSwitch::start_with(dir, config).await
}

/// A switch whose gateway is on TLS (`tls.iso8583`) on `pki`, with the
/// legacy bank's host bound to an address that is not the test's: on TLS
/// the certificate says who a host is.
async fn switch_with_tls_gateway(pki: &TestPki) -> TestSwitch {
    switch_with_gateway_and(|c| {
        c.iso8583.hosts = vec![format!("{INSTITUTION}=legacy-bank@127.0.0.2")];
        pki.configure(c);
        c.tls.iso8583 = true;
    })
    .await
}

#[tokio::test]
async fn a_signed_on_host_pays_a_grpc_wallet_and_a_repeated_0200_moves_money_once() {
    let mut s = switch_with_gateway().await;
    // Liquidity 1000, net debit cap 100.
    let _bank = s
        .onboard("legacy-bank", "1000", "100", PayeeBehaviour::Honest)
        .await;
    let wallet = s
        .onboard("wallet-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let rejecting = s
        .onboard("wallet-r", "1000", "1000", PayeeBehaviour::Reject(5104))
        .await;
    // A payee whose system fails (it answers 2001, internal error).
    let failing = s
        .onboard("wallet-f", "1000", "1000", PayeeBehaviour::Reject(2001))
        .await;
    let mut host = Host::connect(&s).await;

    // Nothing financial before sign-on.
    let refused = host
        .call(&payment("000001", 1050, &wallet.customer(0).id))
        .await;
    assert_eq!(refused.mti.as_str(), "0210");
    assert_eq!(refused.text(39), Some("91"), "{refused:?}");

    let signed_on = host.call(&network("000002", "001")).await;
    assert_eq!(signed_on.mti.as_str(), "0810");
    assert_eq!(
        (signed_on.text(39), signed_on.text(11)),
        (Some("00"), Some("000002"))
    );
    let echo = host.call(&network("000003", "301")).await;
    assert_eq!(echo.text(39), Some("00"));

    // The payment: 10.50 KES to the wallet's customer.
    let request = payment("000004", 1050, &wallet.customer(0).id);
    let paid = host.call(&request).await;
    assert_eq!(paid.mti.as_str(), "0210");
    assert_eq!(paid.text(39), Some("00"), "{paid:?}");
    assert_eq!(paid.text(38).map(str::len), Some(6), "an approval code");
    for n in [3, 4, 7, 11, 32, 37, 49, 102, 103] {
        assert_eq!(paid.get(n), request.get(n), "field {n} echoed");
    }
    assert_eq!(s.position("legacy-bank").await.position, "10.50");
    assert_eq!(s.position("wallet-b").await.position, "-10.50");

    // The same 0200 again (and as a repeat, 0201): the recorded outcome.
    let again = host.call(&request).await;
    assert_eq!(
        (again.text(39), again.text(38)),
        (Some("00"), paid.text(38))
    );
    let mut repeat = request.clone();
    repeat.mti = Mti::new(b"0201").expect("mti");
    let again = host.call(&repeat).await;
    assert_eq!(again.mti.as_str(), "0210");
    assert_eq!(again.text(39), Some("00"));
    assert_eq!(s.position("legacy-bank").await.position, "10.50", "once");

    // The same keys with another amount: 94.
    let mut changed = request.clone();
    changed.set(4, "000000002000");
    assert_eq!(host.call(&changed).await.text(39), Some("94"));

    // The outcomes of the table.
    let cases: Vec<(Message, &str, &str)> = vec![
        (
            payment("000005", 100, "254799999999"),
            "14",
            "an alias nobody owns",
        ),
        (
            // (5.00 KES: more than the payee's fee of 1.00, which its quote
            // refuses to be paid less than.)
            payment("000006", 500, &rejecting.customer(0).id),
            "05",
            "the payee rejects",
        ),
        (
            payment("000014", 500, &failing.customer(0).id),
            "96",
            "a system error",
        ),
        (
            {
                let mut m = payment("000007", 100, &wallet.customer(0).id);
                m.set(3, "010000");
                m
            },
            "12",
            "a processing code the gateway does not serve",
        ),
        (
            {
                let mut m = payment("000008", 100, &wallet.customer(0).id);
                m.set(32, "60002");
                m
            },
            "63",
            "another institution's id",
        ),
        (
            {
                let mut m = payment("000009", 100, &wallet.customer(0).id);
                m.set(49, "999");
                m
            },
            "30",
            "a currency that is not one",
        ),
        (
            payment("000010", 20_000, &wallet.customer(0).id),
            "61",
            "over the net debit cap",
        ),
        (
            payment("000013", 500_000, &wallet.customer(0).id),
            "51",
            "over the payer's liquidity",
        ),
    ];
    for (m, code, what) in cases {
        let answer = host.call(&m).await;
        assert_eq!(answer.text(39), Some(code), "{what}: {answer:?}");
        assert_eq!(answer.text(11), m.text(11), "{what}");
    }
    assert_eq!(
        s.position("legacy-bank").await.position,
        "10.50",
        "nothing else moved"
    );

    // Signed off: nothing financial again.
    assert_eq!(
        host.call(&network("000011", "002")).await.text(39),
        Some("00")
    );
    let after = host
        .call(&payment("000012", 100, &wallet.customer(0).id))
        .await;
    assert_eq!(after.text(39), Some("91"));
}

#[tokio::test]
async fn what_is_not_a_message_is_answered_30_or_closed_and_other_connections_go_on() {
    let s = switch_with_gateway().await;
    let mut other = Host::connect(&s).await;
    assert_eq!(
        other.call(&network("000001", "001")).await.text(39),
        Some("00")
    );

    // A readable MTI with fields that are not: 0210 with 39=30.
    let mut host = Host::connect(&s).await;
    host.send_raw(b"0200ZZZZ").await;
    let answer = host.next().await.expect("an answer");
    assert_eq!((answer.mti.as_str(), answer.text(39)), ("0210", Some("30")));

    // Garbage: the connection is closed.
    host.send_raw(b"\x01\x02garbage").await;
    assert!(host.next().await.is_none(), "closed");

    // The other connection is unaffected.
    assert_eq!(
        other.call(&network("000002", "301")).await.text(39),
        Some("00")
    );
}

/// A transfer the payee leaves unanswered expires (68), even when the host
/// dropped its connection mid-request; asked again on a new connection,
/// the repeat gets the recorded outcome. An owner that cannot be reached
/// is 91.
#[tokio::test]
async fn expiry_is_68_across_a_dropped_connection_and_an_unreachable_owner_is_91() {
    let mut s = switch_with_gateway_and(|c| {
        c.iso8583.transfer_expiry_ms = 1_500;
    })
    .await;
    s.onboard("legacy-bank", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let silent = s
        .onboard("wallet-s", "1000", "1000", PayeeBehaviour::Silent)
        .await;
    let gone = s
        .onboard("wallet-g", "1000", "1000", PayeeBehaviour::Honest)
        .await;

    // Mid-request, the host goes away.
    let request = payment("000001", 700, &silent.customer(0).id);
    let mut first = Host::connect(&s).await;
    assert_eq!(
        first.call(&network("000002", "001")).await.text(39),
        Some("00")
    );
    first.send(&request).await;
    drop(first);

    // A new connection: the repeat waits for the same transfer's outcome.
    let mut host = Host::connect(&s).await;
    assert_eq!(
        host.call(&network("000003", "001")).await.text(39),
        Some("00")
    );
    let expired = host.call(&request).await;
    assert_eq!(expired.text(39), Some("68"), "{expired:?}");
    assert_eq!(s.position("legacy-bank").await.position, "0.00");

    // The owner of the alias cannot be reached.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let url = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    s.op.set_endpoint(op_req(harambee_proto::v1::SetEndpointRequest {
        fsp_id: gone.name.clone(),
        url,
    }))
    .await
    .expect("set endpoint");
    let unreachable = host
        .call(&payment("000004", 700, &gone.customer(0).id))
        .await;
    assert_eq!(unreachable.text(39), Some("91"), "{unreachable:?}");
}

/// Issuing: a gRPC payer pays a customer of a legacy host. The gateway
/// answers the lookup and the quote on the host's behalf, puts the transfer
/// to the host as a 0200 credit, and releases the fulfilment only on its
/// 0210 with 39=00; any other code, or no answer before the expiry, aborts,
/// and a late 0210 changes nothing. A host that is not signed on cannot be
/// paid.
#[tokio::test]
async fn a_grpc_payer_pays_a_legacy_hosts_customer_only_on_its_approval() {
    let mut s = switch_with_gateway_and(|c| {
        c.transfer.callback_timeout_ms = 1_500;
    })
    .await;
    let mut payer = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let legacy = s
        .onboard("legacy-bank", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    // The legacy bank is reached through the gateway.
    s.op.set_endpoint(op_req(harambee_proto::v1::SetEndpointRequest {
        fsp_id: "legacy-bank".into(),
        url: format!("iso8583:{INSTITUTION}"),
    }))
    .await
    .expect("an iso8583 endpoint");

    // Not signed on: the quote is given, the transfer cannot be put (1001).
    let q = quote(&mut payer, &legacy, "7").await;
    let t = payer
        .api
        .prepare_transfer(prepare_request(&q, 30_000))
        .await
        .expect("prepare")
        .into_inner();
    assert_eq!(
        t.state,
        harambee_proto::v1::TransferState::Aborted as i32,
        "{t:?}"
    );
    assert_eq!(t.error.map(|e| e.error_code).as_deref(), Some("1001"));

    let mut host = Host::connect(&s).await;
    assert_eq!(
        host.call(&network("000001", "001")).await.text(39),
        Some("00")
    );

    // Approved: committed.
    for (amount, minor, code, committed) in [
        ("10.50", "000000001050", "00", true),
        ("3", "000000000300", "51", false),
    ] {
        let q = quote(&mut payer, &legacy, amount).await;
        assert_eq!(q.payee_fsp, "legacy-bank");
        let mut api = payer.api.clone();
        let prepare = prepare_request(&q, 30_000);
        let paying = tokio::spawn(async move { api.prepare_transfer(prepare).await });
        let credit = host.next().await.expect("the switch's 0200 credit");
        // (After a decline, no reversal: the host credited nothing.)
        assert_eq!(credit.mti.as_str(), "0200", "{credit:?}");
        assert_eq!(credit.text(3), Some("400000"));
        assert_eq!(credit.text(49), Some(KES_NUMERIC));
        assert_eq!(credit.text(103), Some(legacy.customer(0).id.as_str()));
        assert_eq!(credit.text(4), Some(minor), "the amount in cents");
        let mut answer = Message::new(Mti::new(b"0210").expect("mti"));
        for n in [3, 4, 7, 11, 32, 37, 49, 103] {
            if let Some(v) = credit.get(n) {
                answer.set(n, v);
            }
        }
        answer.set(39, code);
        host.send(&answer).await;
        let t = paying.await.expect("joins").expect("prepare").into_inner();
        let want = if committed {
            harambee_proto::v1::TransferState::Committed
        } else {
            harambee_proto::v1::TransferState::Aborted
        };
        assert_eq!(t.state, want as i32, "{amount}: {t:?}");
    }
    assert_eq!(s.position("legacy-bank").await.position, "-10.50");
    assert_eq!(s.position("bank-a").await.position, "10.50");

    // Silent: the switch gives up on the host, the transfer expires, and
    // the 0210 that comes after changes nothing.
    let q = quote(&mut payer, &legacy, "2").await;
    let mut api = payer.api.clone();
    let prepare = prepare_request(&q, 2_500);
    let paying = tokio::spawn(async move { api.prepare_transfer(prepare).await });
    let credit = host.next().await.expect("the switch's 0200 credit");
    assert_eq!(credit.mti.as_str(), "0200", "{credit:?}");
    let t = paying.await.expect("joins").expect("prepare").into_inner();
    assert_eq!(
        t.state,
        harambee_proto::v1::TransferState::Aborted as i32,
        "{t:?}"
    );
    // The host was sent a credit whose transfer aborted: the gateway
    // reverses it (a 0420 advice naming the 0200), repeated until it is
    // acknowledged.
    let advice = host.next().await.expect("a reversal advice");
    assert_eq!(advice.mti.as_str(), "0420", "{advice:?}");
    assert_eq!(
        advice.text(90),
        Some(
            field_90(
                "0200",
                credit.text(11).expect("11"),
                credit.text(7).expect("7"),
                credit.text(32).expect("32"),
            )
            .as_str()
        )
    );
    for n in [4, 37, 49, 103] {
        assert_eq!(advice.get(n), credit.get(n), "field {n} of the credit");
    }
    // Not acknowledged: the gateway repeats it as a 0421, the same advice
    // (its trace number, reference and original data), after
    // REVERSAL_ANSWER_MS.
    let repeat = loop {
        let m = host.next().await.expect("the advice again");
        if m.mti.as_str() == "0800" {
            // An echo test while the host is quiet: answered.
            let mut echo = Message::new(Mti::new(b"0810").expect("mti"));
            for n in [7, 11, 70] {
                if let Some(v) = m.get(n) {
                    echo.set(n, v);
                }
            }
            echo.set(39, "00");
            host.send(&echo).await;
            continue;
        }
        break m;
    };
    assert_eq!(repeat.mti.as_str(), "0421", "{repeat:?}");
    for n in [4, 11, 32, 37, 49, 90, 103] {
        assert_eq!(repeat.get(n), advice.get(n), "field {n} of the 0420");
    }
    let mut acknowledged = Message::new(Mti::new(b"0430").expect("mti"));
    for n in [4, 7, 11, 32, 37, 49, 90] {
        if let Some(v) = repeat.get(n) {
            acknowledged.set(n, v);
        }
    }
    acknowledged.set(39, "00");
    host.send(&acknowledged).await;
    let mut late = Message::new(Mti::new(b"0210").expect("mti"));
    for n in [3, 4, 7, 11, 32, 37, 49, 103] {
        if let Some(v) = credit.get(n) {
            late.set(n, v);
        }
    }
    late.set(39, "00");
    host.send(&late).await;
    assert_eq!(
        host.call(&network("000002", "301")).await.text(39),
        Some("00")
    );
    assert_eq!(
        s.position("legacy-bank").await.position,
        "-10.50",
        "nothing more"
    );
}

/// Without length headers (`framing = "none"`), a message that arrives in
/// pieces is read whole, and two in one read are read apart.
#[tokio::test]
async fn without_headers_a_message_in_pieces_is_read_whole() {
    let s = switch_with_gateway_and(|c| {
        c.iso8583.framing = "none".into();
    })
    .await;
    let addr = s.running().iso8583_addr.expect("the gateway listens");
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    let d = Dialect::ascii_1987();
    let sign_on = encode(&d, &network("000001", "001")).expect("encodes");
    let (first, rest) = sign_on.split_at(10);
    stream.write_all(first).await.expect("writes");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut two = rest.to_vec();
    two.extend_from_slice(&encode(&d, &network("000002", "301")).expect("encodes"));
    stream.write_all(&two).await.expect("writes");
    let mut buf = Vec::new();
    let mut answers = Vec::new();
    let mut chunk = [0u8; 1024];
    while answers.len() < 2 {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .expect("answers in time")
            .expect("reads");
        assert!(n > 0, "closed after {answers:?}");
        buf.extend_from_slice(&chunk[..n]);
        while let Ok((m, used)) = harambee_iso8583::decode_prefix(&d, &buf) {
            buf.drain(..used);
            answers.push(m);
        }
    }
    assert_eq!(answers[0].text(11), Some("000001"));
    assert_eq!(answers[1].text(11), Some("000002"));
    assert!(
        answers.iter().all(|a| a.text(39) == Some("00")),
        "{answers:?}"
    );
}

/// A signed-on connection left silent is sent an echo test; left
/// unanswered, the connection is closed as dead.
#[tokio::test]
async fn a_silent_connection_is_echo_tested_and_closed_when_it_does_not_answer() {
    let s = switch_with_gateway_and(|c| {
        c.iso8583.idle_ms = 300;
        c.iso8583.echo_timeout_ms = 300;
    })
    .await;
    let mut host = Host::connect(&s).await;
    assert_eq!(
        host.call(&network("000001", "001")).await.text(39),
        Some("00")
    );
    let echo = host.next().await.expect("an echo test");
    assert_eq!((echo.mti.as_str(), echo.text(70)), ("0800", Some("301")));
    assert!(host.next().await.is_none(), "closed as dead");
}

/// Reversals: a 0420 of a transfer still reserved aborts it (0430 with
/// 39=00, and the original's 0210 says the payer withdrew it, 05); of a
/// committed one is refused with 12 and moves nothing; of a 0200 never
/// received is 25; of another amount 13. A repeat (0420 again, or 0421)
/// is answered as the first. On the multi-threaded runtime, as the
/// switch runs, with a 0200 and its 0420 in one write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reversal_aborts_a_reserved_transfer_and_is_refused_for_a_committed_one() {
    let mut s = switch_with_gateway_and(|c| {
        // The silent payee is given up on after a second: the original's 0210
        // comes then.
        c.transfer.callback_timeout_ms = 1_000;
    })
    .await;
    s.onboard("legacy-bank", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let silent = s
        .onboard("wallet-s", "1000", "1000", PayeeBehaviour::Silent)
        .await;
    let wallet = s
        .onboard("wallet-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let mut host = Host::connect(&s).await;
    let early = reversal_of(&payment("000009", 100, "254799999999"), "000010");
    let refused = host.call(&early).await;
    assert_eq!(
        (refused.mti.as_str(), refused.text(39)),
        ("0430", Some("91")),
        "before sign-on"
    );
    assert_eq!(
        host.call(&network("000001", "001")).await.text(39),
        Some("00")
    );

    // Reserved: the payee does not answer; the host reverses, the 0200
    // and the 0420 in one write.
    let original = payment("000002", 700, &silent.customer(0).id);
    let reversal = reversal_of(&original, "000003");
    let d = Dialect::ascii_1987();
    let mut both = Framing::Binary2
        .frame(&encode(&d, &original).expect("encodes"))
        .expect("frames");
    both.extend(
        Framing::Binary2
            .frame(&encode(&d, &reversal).expect("encodes"))
            .expect("frames"),
    );
    host.stream.write_all(&both).await.expect("writes");
    let mut answers = [
        host.next().await.expect("an answer"),
        host.next().await.expect("an answer"),
    ];
    answers.sort_by(|a, b| a.mti.as_str().cmp(b.mti.as_str()));
    let (paid, reversed) = (&answers[0], &answers[1]);
    assert_eq!(paid.mti.as_str(), "0210");
    assert_eq!(
        paid.text(39),
        Some("05"),
        "withdrawn by its payer: {paid:?}"
    );
    assert_eq!(reversed.mti.as_str(), "0430");
    assert_eq!(reversed.text(39), Some("00"), "{reversed:?}");
    assert_eq!(reversed.get(90), reversal.get(90), "field 90 echoed");
    assert_eq!(reversed.text(11), Some("000003"));
    assert_eq!(s.position("legacy-bank").await.position, "0.00");
    assert_eq!(s.position("wallet-s").await.position, "0.00");
    // Repeated, as 0420 and as 0421: the same answer, nothing moves.
    assert_eq!(host.call(&reversal).await.text(39), Some("00"));
    let mut repeat = reversal.clone();
    repeat.mti = Mti::new(b"0421").expect("mti");
    let again = host.call(&repeat).await;
    assert_eq!((again.mti.as_str(), again.text(39)), ("0430", Some("00")));
    // The original repeated after its reversal: its recorded outcome.
    assert_eq!(host.call(&original).await.text(39), Some("05"));

    // Committed: refused, and the money stays where it went.
    let committed = payment("000004", 1_050, &wallet.customer(0).id);
    assert_eq!(host.call(&committed).await.text(39), Some("00"));
    let reversal = reversal_of(&committed, "000005");
    for _ in 0..2 {
        let refused = host.call(&reversal).await;
        assert_eq!(refused.text(39), Some("12"), "{refused:?}");
    }
    assert_eq!(s.position("legacy-bank").await.position, "10.50");
    assert_eq!(s.position("wallet-b").await.position, "-10.50");

    // Never received, and of another amount.
    let unknown = reversal_of(&payment("000006", 100, &wallet.customer(0).id), "000007");
    assert_eq!(host.call(&unknown).await.text(39), Some("25"));
    let mut other_amount = reversal_of(&committed, "000008");
    other_amount.set(4, "000000000001");
    assert_eq!(host.call(&other_amount).await.text(39), Some("13"));
    let mut other_currency = reversal_of(&committed, "000011");
    other_currency.set(49, "840");
    assert_eq!(host.call(&other_currency).await.text(39), Some("13"));
    // Field 90 naming what is not a 0200 of this institution: 25.
    let mut not_a_payment = reversal_of(&committed, "000012");
    let f90 = field_90("0100", "000004", "1202101500", INSTITUTION);
    not_a_payment.set(90, f90);
    assert_eq!(host.call(&not_a_payment).await.text(39), Some("25"));
    // A reversal request (0400) is answered 0410 by the same rule.
    let mut request = reversal_of(&committed, "000013");
    request.mti = Mti::new(b"0400").expect("mti");
    let answer = host.call(&request).await;
    assert_eq!((answer.mti.as_str(), answer.text(39)), ("0410", Some("12")));
    assert_eq!(s.position("legacy-bank").await.position, "10.50");

    // A 0420 that overtakes its 0200 (sent on another connection, say):
    // 25, and the 0200 that comes after it never pays.
    let late = payment("000014", 900, &wallet.customer(0).id);
    assert_eq!(
        host.call(&reversal_of(&late, "000015")).await.text(39),
        Some("25")
    );
    let refused = host.call(&late).await;
    assert_eq!(refused.text(39), Some("05"), "{refused:?}");
    assert_eq!(
        s.position("legacy-bank").await.position,
        "10.50",
        "nothing moved"
    );
}

/// A host is bound to the addresses it may connect from: a connection
/// from any other is closed before it can say anything.
#[tokio::test]
async fn a_connection_from_an_address_no_host_is_bound_to_is_closed() {
    let s = switch_with_gateway_and(|c| {
        c.iso8583.hosts = vec![format!("{INSTITUTION}=legacy-bank@127.0.0.2")];
    })
    .await;
    let mut host = Host::connect(&s).await;
    host.send(&network("000001", "001")).await;
    assert!(host.next().await.is_none(), "closed, never answered");
}

/// Requests in flight on one connection are limited: over the limit, a
/// 0200 is answered 91 at once, and the one in flight still gets its own
/// outcome.
#[tokio::test]
async fn a_request_over_the_limit_in_flight_is_answered_91_at_once() {
    let mut s = switch_with_gateway_and(|c| {
        c.iso8583.in_flight_max = 1;
        c.iso8583.transfer_expiry_ms = 1_500;
    })
    .await;
    s.onboard("legacy-bank", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let silent = s
        .onboard("wallet-s", "1000", "1000", PayeeBehaviour::Silent)
        .await;
    let mut host = Host::connect(&s).await;
    assert_eq!(
        host.call(&network("000001", "001")).await.text(39),
        Some("00")
    );
    host.send(&payment("000002", 700, &silent.customer(0).id))
        .await;
    host.send(&payment("000003", 700, &silent.customer(0).id))
        .await;
    let over = host.next().await.expect("an answer");
    assert_eq!(
        (over.text(11), over.text(39)),
        (Some("000003"), Some("91")),
        "{over:?}"
    );
    let first = host.next().await.expect("an answer");
    assert_eq!(
        (first.text(11), first.text(39)),
        (Some("000002"), Some("68")),
        "{first:?}"
    );
    // The limit is free again.
    assert_eq!(
        host.call(&network("000004", "301")).await.text(39),
        Some("00")
    );
}

/// A host cannot answer for another: the other bank's host, connected
/// from its own address, approves the switch's credit to the legacy bank,
/// and is ignored; only the legacy bank's own answer (a decline) decides
/// the transfer.
#[tokio::test]
async fn another_hosts_answer_to_a_credit_is_ignored() {
    let mut s = switch_with_gateway_and(|c| {
        c.iso8583.hosts = vec![
            format!("{INSTITUTION}=legacy-bank@127.0.0.1"),
            "60002=other-bank@127.0.0.2".into(),
        ];
        c.transfer.callback_timeout_ms = 5_000;
    })
    .await;
    let mut payer = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let legacy = s
        .onboard("legacy-bank", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    s.onboard("other-bank", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    s.op.set_endpoint(op_req(harambee_proto::v1::SetEndpointRequest {
        fsp_id: "legacy-bank".into(),
        url: format!("iso8583:{INSTITUTION}"),
    }))
    .await
    .expect("an iso8583 endpoint");
    let mut host = Host::connect(&s).await;
    assert_eq!(
        host.call(&network("000001", "001")).await.text(39),
        Some("00")
    );
    // The other bank's host, from 127.0.0.2, signed on.
    let addr = s.running().iso8583_addr.expect("the gateway listens");
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .bind("127.0.0.2:0".parse().expect("an address"))
        .expect("binds 127.0.0.2");
    let mut other = Host {
        stream: Box::new(socket.connect(addr).await.expect("connects")),
        dialect: Dialect::ascii_1987(),
        buf: Vec::new(),
    };
    assert_eq!(
        other.call(&network("000002", "001")).await.text(39),
        Some("00")
    );

    let q = quote(&mut payer, &legacy, "4").await;
    let mut api = payer.api.clone();
    let paying =
        tokio::spawn(async move { api.prepare_transfer(prepare_request(&q, 30_000)).await });
    let credit = host.next().await.expect("the switch's 0200 credit");
    assert_eq!(credit.mti.as_str(), "0200");
    let echoed = [3, 4, 7, 11, 32, 37, 49, 103];
    // The other bank approves it: ignored (an echo test on the same
    // connection shows the approval was read first).
    other.send(&credit.response_to(&echoed, "00")).await;
    assert_eq!(
        other.call(&network("000003", "301")).await.text(39),
        Some("00")
    );
    // The legacy bank declines it: that is the answer.
    host.send(&credit.response_to(&echoed, "05")).await;
    let t = paying.await.expect("joins").expect("prepare").into_inner();
    assert_eq!(
        t.state,
        harambee_proto::v1::TransferState::Aborted as i32,
        "{t:?}"
    );
    assert_eq!(s.position("legacy-bank").await.position, "0.00");
}

/// On TLS (`tls.iso8583`) a host is the participant its registered
/// client certificate names, from any address: bank-x's certificate, or
/// one nobody registered, or none, reaches nothing, and removing the
/// registration closes the host's connection at its next message.
#[tokio::test]
async fn on_tls_a_host_is_its_registered_certificate_and_revocation_closes_it() {
    let pki = TestPki::new();
    let legacy = pki.participant("legacy-bank");
    let other = pki.participant("bank-x");
    let stray = pki.participant("stray");
    let ca = pki.ca.clone();
    let mut s = switch_with_tls_gateway(&pki).await;
    for (name, cert) in [("legacy-bank", &legacy), ("bank-x", &other)] {
        s.op.create_participant(op_req(harambee_proto::v1::CreateParticipantRequest {
            fsp_id: name.into(),
            kind: harambee_proto::v1::ParticipantKind::Bank as i32,
            name: name.into(),
        }))
        .await
        .expect("participant");
        s.op.add_participant_certificate(op_req(
            harambee_proto::v1::AddParticipantCertificateRequest {
                fsp_id: name.into(),
                certificate_pem: std::fs::read_to_string(&cert.cert_file).expect("pem"),
            },
        ))
        .await
        .expect("registered");
    }

    let mut host = Host::connect_tls(&s, &ca, Some(&legacy))
        .await
        .expect("the handshake");
    let signed_on = host.call(&network("000001", "001")).await;
    assert_eq!(signed_on.text(39), Some("00"), "{signed_on:?}");
    let echo = host.call(&network("000002", "301")).await;
    assert_eq!(echo.text(39), Some("00"));

    // A registered certificate of a participant no host is bound to, one
    // nobody registered, and none at all: never answered.
    for identity in [Some(&other), Some(&stray), None] {
        if let Some(mut h) = Host::connect_tls(&s, &ca, identity).await {
            h.send(&network("000001", "001")).await;
            assert!(
                h.next().await.is_none(),
                "{identity:?}: closed, never answered"
            );
        }
    }

    // Revocation: at its next message the host's connection closes.
    s.op.remove_participant_certificate(op_req(
        harambee_proto::v1::RemoveParticipantCertificateRequest {
            fsp_id: "legacy-bank".into(),
            sha256: legacy.sha256_hex(),
        },
    ))
    .await
    .expect("removed");
    host.send(&network("000003", "301")).await;
    assert!(host.next().await.is_none(), "closed once revoked");
    // A new connection on the revoked certificate reaches nothing.
    if let Some(mut h) = Host::connect_tls(&s, &ca, Some(&legacy)).await {
        h.send(&network("000004", "001")).await;
        assert!(h.next().await.is_none(), "closed, never answered");
    }
}

/// On TLS a host may also be its participant by the participant's own
/// issuing CA and a subject: any certificate of that CA naming it signs
/// on, a renewal nobody registered included; the same CA's certificate
/// naming another participant reaches nothing.
#[tokio::test]
async fn on_tls_a_host_registered_by_its_own_ca_is_any_certificate_of_that_ca_naming_it() {
    let pki = TestPki::new();
    let own = Ca::new("Legacy Bank issuing CA");
    let files = tempfile::tempdir().expect("tempdir");
    let ca = pki.ca.clone();
    let mut s = switch_with_tls_gateway(&pki).await;
    for name in ["legacy-bank", "bank-x"] {
        s.op.create_participant(op_req(harambee_proto::v1::CreateParticipantRequest {
            fsp_id: name.into(),
            kind: harambee_proto::v1::ParticipantKind::Bank as i32,
            name: name.into(),
        }))
        .await
        .expect("participant");
    }
    s.op.add_participant_issuer(op_req(harambee_proto::v1::AddParticipantIssuerRequest {
        fsp_id: "legacy-bank".into(),
        ca_certificate_pem: own.pem.clone(),
        subject: "CN=legacy-bank".into(),
    }))
    .await
    .expect("registered by its CA");

    for (k, stan) in ["000001", "000002"].into_iter().enumerate() {
        let identity = issued(
            files.path(),
            &format!("legacy-bank-{k}"),
            &own.issue("legacy-bank", false, false),
        );
        let mut host = Host::connect_tls(&s, &ca, Some(&identity))
            .await
            .expect("the handshake");
        let signed_on = host.call(&network(stan, "001")).await;
        assert_eq!(
            signed_on.text(39),
            Some("00"),
            "certificate {k}: {signed_on:?}"
        );
    }
    // The same CA's certificate naming bank-x proves nothing.
    let forged = issued(files.path(), "bank-x", &own.issue("bank-x", false, false));
    if let Some(mut h) = Host::connect_tls(&s, &ca, Some(&forged)).await {
        h.send(&network("000003", "001")).await;
        assert!(h.next().await.is_none(), "closed, never answered");
    }
}
