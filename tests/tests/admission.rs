//! Each participant's requests are limited apart from the others' (issue
//! 15, overload protection): over its limit of requests in flight, or of
//! its rate, a participant is refused at once with 2005 (server busy) on
//! every API (gRPC, FSPIOP, ISO 8583), nothing changes, and another
//! participant is served as before.

use std::time::Duration;

use harambee_iso8583::{Dialect, Framing, Message, Mti, decode, encode};
use harambee_proto::v1::*;
use harambee_tests::fspiop::*;
use harambee_tests::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn lookup_of(party: PartyIdentifier) -> LookupPartyRequest {
    LookupPartyRequest {
        party: Some(party),
        currency: CURRENCY.into(),
    }
}

/// Over its places in flight, a participant is refused 2005 on gRPC and
/// through the ISO 8583 gateway alike (one budget across the APIs), with
/// nothing moved; another participant is served meanwhile; the place is
/// given back when the request ends.
#[tokio::test]
async fn a_participant_over_its_requests_in_flight_is_refused_2005_and_others_go_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = TestSwitch::config(dir.path());
    config.admission.participant_in_flight_max = 1;
    config.transfer.callback_timeout_ms = 1_500;
    config.iso8583.listen = "127.0.0.1:0".into();
    config.iso8583.hosts = vec!["60001=bank-a@127.0.0.1".into()];
    let mut s = TestSwitch::start_with(dir, config).await;
    let mut bank_a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let mut bank_b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let silent = s
        .onboard("wallet-s", "1000", "1000", PayeeBehaviour::Silent)
        .await;

    // bank-a's transfer to a silent payee holds its one place.
    let q = quote(&mut bank_a, &silent, "5").await;
    let mut api = bank_a.api.clone();
    let holding =
        tokio::spawn(async move { api.prepare_transfer(prepare_request(&q, 3_000)).await });
    // Once it is reserved (read on the operator's API, which is not a
    // participant's), bank-a has no place left.
    let mut reserved = false;
    for _ in 0..400 {
        if s.position("bank-a").await.reserved != "0.00" {
            reserved = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(reserved, "the transfer is reserved");
    let refused = bank_a
        .api
        .lookup_party(lookup_of(bank_b.customer(0)))
        .await
        .err();
    let refused = refused.expect("bank-a is refused while its transfer is in flight");
    assert_eq!(
        refused.code(),
        tonic::Code::ResourceExhausted,
        "{refused:?}"
    );
    assert_eq!(code(&refused), 2005);

    // Through the gateway, as the same participant: 91, nothing moved.
    let addr = s.running().iso8583_addr.expect("the gateway listens");
    let mut host = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let d = Dialect::ascii_1987();
    let mut sign_on = Message::new(Mti::new(b"0800").expect("mti"));
    sign_on
        .set(7, "1202101500")
        .set(11, "000001")
        .set(70, "001");
    let mut pay = Message::new(Mti::new(b"0200").expect("mti"));
    pay.set(3, "400000")
        .set(4, "000000000700")
        .set(7, "1202101500")
        .set(11, "000002")
        .set(32, "60001")
        .set(37, "633610000002")
        .set(49, "404")
        .set(102, "0012345678901")
        .set(103, bank_b.customer(0).id);
    for m in [&sign_on, &pay] {
        let framed = Framing::Binary2
            .frame(&encode(&d, m).expect("encodes"))
            .expect("frames");
        host.write_all(&framed).await.expect("writes");
    }
    let mut buf = Vec::new();
    let mut answers = Vec::new();
    let mut chunk = [0u8; 2048];
    while answers.len() < 2 {
        if let Some((start, end)) = Framing::Binary2.split(&buf, 8192).expect("framing") {
            answers.push(decode(&d, &buf[start..end]).expect("a message"));
            buf.drain(..end);
            continue;
        }
        let n = tokio::time::timeout(Duration::from_secs(10), host.read(&mut chunk))
            .await
            .expect("answered in time")
            .expect("reads");
        assert!(n > 0, "closed");
        buf.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(answers[0].text(39), Some("00"), "signed on");
    assert_eq!(
        (answers[1].mti.as_str(), answers[1].text(39)),
        ("0210", Some("91")),
        "{:?}",
        answers[1]
    );

    // Another participant is served meanwhile.
    bank_b
        .api
        .lookup_party(lookup_of(bank_a.customer(0)))
        .await
        .expect("bank-b is not limited by bank-a's requests");

    // The held transfer ends (the payee never answers), and bank-a is
    // served again.
    let ended = holding.await.expect("joins").expect("prepare").into_inner();
    assert_eq!(ended.state, TransferState::Aborted as i32, "{ended:?}");
    bank_a
        .api
        .lookup_party(lookup_of(bank_b.customer(0)))
        .await
        .expect("the place is given back");
    assert_eq!(s.position("bank-a").await.position, "0.00", "nothing moved");
}

/// Over its rate (a burst, then a sustained rate), an FSPIOP participant
/// is answered 503 with 2005 at once, and no callback follows; a gRPC
/// participant is served meanwhile.
#[tokio::test]
async fn an_fspiop_participant_over_its_rate_is_refused_2005() {
    const BURST: usize = 20;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = TestSwitch::config(dir.path());
    config.admission.participant_rate_per_s = 1;
    config.admission.participant_burst = BURST as u64;
    let mut s = TestSwitch::start_with(dir, config).await;
    let mut wallet = s
        .onboard("wallet-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let (callbacks, _rx) = callback_server().await;
    let dfsp = fspiop_participant(&s, "fsp-a", &callbacks).await;
    let customer = wallet.customer(1);
    let mut refused_at = None;
    for i in 0..BURST + 5 {
        let (status, body) = dfsp
            .send(
                reqwest::Method::GET,
                &format!("/parties/MSISDN/{}", customer.id),
                "parties",
                "1.0",
                None,
                None,
            )
            .await;
        if status == 202 {
            continue;
        }
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["errorInformation"]["errorCode"], "2005", "{body}");
        refused_at = Some(i);
        break;
    }
    let refused_at = refused_at.expect("refused once over the burst");
    // The burst, and at most a token or two refilled meanwhile.
    assert!(
        (BURST..=BURST + 2).contains(&refused_at),
        "refused at request {refused_at}"
    );
    wallet
        .api
        .lookup_party(lookup_of(customer.clone()))
        .await
        .expect("wallet-b has a budget of its own");
}
