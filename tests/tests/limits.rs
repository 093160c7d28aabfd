//! A limit on everything input can reach: a transfer may not hold funds
//! past the scheme's longest lifetime, a payee is given up on after the
//! callback timeout, and agreed quotes leave the switch's memory once they
//! expire (and stay answerable from the quotes projection).

use std::time::{Duration, Instant};

use harambee_proto::v1::*;
use harambee_tests::*;

fn error_code(t: &TransferResult) -> Option<u16> {
    t.error
        .as_ref()
        .and_then(|e| harambee_proto::fspiop::parse_code(&e.error_code))
}

#[tokio::test]
async fn an_expiry_beyond_the_transfer_lifetime_is_refused_before_anything_is_reserved() {
    let mut s = TestSwitch::start().await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Silent)
        .await;
    let b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Silent)
        .await;
    let q = quote(&mut a, &b, "100").await;
    let a_year_ms = 365 * 24 * 3_600_000;
    let request = prepare_request(&q, a_year_ms);
    let refused = a
        .api
        .prepare_transfer(request.clone())
        .await
        .expect_err("a year ahead is refused");
    assert_eq!(code(&refused), 3100, "{}", refused.message());
    assert!(
        refused.message().contains("expiration"),
        "{}",
        refused.message()
    );
    assert_eq!(s.position("bank-a").await.reserved, "0.00");
    let unknown = a
        .api
        .get_transfer(GetTransferRequest {
            transfer_id: request.transfer_id.clone(),
        })
        .await
        .expect_err("nothing was recorded");
    assert_eq!(code(&unknown), 3208);
}

#[tokio::test]
async fn a_payee_slower_than_the_callback_timeout_is_given_up_on_and_the_transfer_expires() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = TestSwitch::config(dir.path());
    config.transfer.callback_timeout_ms = 300;
    let mut s = TestSwitch::start_with(dir, config).await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let slow = s
        .onboard(
            "bank-slow",
            "1000",
            "1000",
            PayeeBehaviour::Slow(Duration::from_millis(1_500)),
        )
        .await;
    let q = quote(&mut a, &slow, "100").await;
    let expires_in_ms = 3_000;
    let started = Instant::now();
    let request = prepare_request(&q, expires_in_ms);
    let id = request.transfer_id.clone();
    let mut payer = a.api.clone();
    let call = tokio::spawn(async move { payer.prepare_transfer(request).await });

    // After the callback timeout, before the payee's late answer and the
    // expiry: still reserved.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let during =
        s.op.get_transfer(op_req(GetTransferRequest {
            transfer_id: id.clone(),
        }))
        .await
        .expect("transfer")
        .into_inner();
    assert_eq!(during.state, TransferState::Reserved as i32);

    // The answer the payee gives after the timeout is not taken: the
    // transfer expires, and the payer hears it by the expiry.
    let t = call.await.expect("task").expect("prepare").into_inner();
    let took = started.elapsed();
    assert_eq!(
        (t.state, error_code(&t)),
        (TransferState::Aborted as i32, Some(3303)),
        "{t:?}"
    );
    assert!(
        took < Duration::from_millis(expires_in_ms as u64 + 3_000),
        "the payer's final answer came {took:?} after the prepare"
    );
    assert_eq!(s.position("bank-a").await.reserved, "0.00");
    let text = scrape(s.running().metrics_addr.expect("metrics")).await;
    assert!(metric(&text, "harambee_payee_timeouts_total").is_some_and(|n| n >= 1.0));

    // A payee that answers in time is not affected.
    let honest = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let q = quote(&mut a, &honest, "10").await;
    let t = a
        .api
        .prepare_transfer(prepare_request(&q, 30_000))
        .await
        .expect("prepare")
        .into_inner();
    assert_eq!(t.state, TransferState::Committed as i32);
}

/// Quotes the quote-only run asks for.
const QUOTES: usize = 1_500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quote_memory_stays_flat_over_a_long_run_of_expiring_quotes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = TestSwitch::config(dir.path());
    config.quote.grace_ms = 200;
    let mut s = TestSwitch::start_with(dir, config).await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let metrics = s.running().metrics_addr.expect("metrics");

    // Each quote expires 300 ms after it is asked for.
    let template = quote_request(&a, &b, "10");
    let ask = |n: usize| {
        let mut r = template.clone();
        r.quote_id = uuid::Uuid::new_v4().to_string();
        r.transaction_id = uuid::Uuid::new_v4().to_string();
        r.amount = Some(Money {
            amount: format!("{}", 10 + n % 90),
            currency: CURRENCY.into(),
        });
        r.expiration = Some(timestamp(now_ms() + 300));
        r
    };
    let first = ask(0);
    let first_quote = a
        .api
        .request_quote(first.clone())
        .await
        .expect("quote")
        .into_inner();
    let mut held_max = 0.0f64;
    for n in 1..QUOTES {
        a.api.request_quote(ask(n)).await.expect("quote");
        if n % 100 == 0 {
            let held = metric(&scrape(metrics).await, "harambee_quotes_held").unwrap_or(0.0);
            held_max = held_max.max(held);
        }
    }
    // The run is over: every quote expires and leaves memory.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let held = metric(&scrape(metrics).await, "harambee_quotes_held");
        if held == Some(0.0) {
            break;
        }
        assert!(Instant::now() < deadline, "quotes still held: {held:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        held_max < (QUOTES / 2) as f64,
        "at most the quotes of the last moments are held, not all {QUOTES}: {held_max}"
    );
    let released = metric(&scrape(metrics).await, "harambee_quotes_released_total");
    assert!(released.is_some_and(|n| n >= QUOTES as f64), "{released:?}");

    // Released from memory, a quote is still what it was: read from the
    // quotes projection, and a repeat of its request gives it back without
    // asking the payee again; other content under its id is 3106.
    let asked = b
        .dfsp
        .stats
        .quotes
        .load(std::sync::atomic::Ordering::Relaxed);
    let read = a
        .api
        .get_quote(GetQuoteRequest {
            quote_id: first.quote_id.clone(),
        })
        .await
        .expect("an expired quote is still readable")
        .into_inner();
    assert_eq!(read, first_quote);
    let repeated = a
        .api
        .request_quote(first.clone())
        .await
        .expect("a repeat")
        .into_inner();
    assert_eq!(repeated, first_quote);
    assert_eq!(
        b.dfsp
            .stats
            .quotes
            .load(std::sync::atomic::Ordering::Relaxed),
        asked,
        "the payee is not asked again"
    );
    let mut other = first.clone();
    other.amount = Some(Money {
        amount: "99".into(),
        currency: CURRENCY.into(),
    });
    let conflict = a.api.request_quote(other).await.expect_err("other content");
    assert_eq!(code(&conflict), 3106);
}
