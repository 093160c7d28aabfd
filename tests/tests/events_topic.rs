//! The ledger events a switch on Kafka publishes on `<log topic>.events`
//! (protobuf `harambee.v1.LedgerEvent`), read back the way a downstream
//! consumer would: every money-moving event is there, once after
//! deduplication by (log_offset, index), in log order, with the same
//! postings as the switch's own postings projection, also across a
//! restart of the switch. NEEDS the `tansu` broker (see `Tansu::start`).

use std::time::Duration;

use harambee_proto::v1::ledger_event::Kind;
use harambee_proto::v1::*;
use harambee_switch::config::LogKind;
use harambee_tests::*;

/// The transfer id and posting of a transfer event.
fn transfer_posting(event: &LedgerEvent) -> Option<(&str, &str, &Posting)> {
    match event.kind.as_ref()? {
        Kind::TransferReserved(t) => {
            Some(("reserved", t.transfer_id.as_str(), t.posting.as_ref()?))
        }
        Kind::TransferCommitted(t) => {
            Some(("committed", t.transfer_id.as_str(), t.posting.as_ref()?))
        }
        Kind::TransferAborted(t) => Some(("aborted", t.transfer_id.as_str(), t.posting.as_ref()?)),
        _ => None,
    }
}

fn any_posting(event: &LedgerEvent) -> Option<&Posting> {
    match event.kind.as_ref()? {
        Kind::FundsIn(f)
        | Kind::FundsOutReserved(f)
        | Kind::FundsOutCommitted(f)
        | Kind::FundsOutAborted(f) => f.posting.as_ref(),
        _ => transfer_posting(event).map(|(_, _, p)| p),
    }
}

async fn pay(a: &mut Member, b: &Member, amount: &str) -> TransferResult {
    let q = quote(a, b, amount).await;
    a.api
        .prepare_transfer(prepare_request(&q, 30_000))
        .await
        .expect("prepare")
        .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_events_are_published_on_the_events_topic_and_survive_a_restart() {
    let broker = Tansu::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = TestSwitch::config(dir.path());
    config.log.kind = LogKind::Kafka;
    config.kafka.brokers = broker.brokers.clone();
    config.kafka.topic = format!("harambee.events.{}", uuid::Uuid::new_v4().simple());
    let events_topic = format!("{}.events", config.kafka.topic);
    let mut s = TestSwitch::start_with(dir, config).await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Reject(5104))
        .await;
    let c = s
        .onboard("bank-c", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let committed = pay(&mut a, &c, "12.50").await;
    assert_eq!(committed.state, TransferState::Committed as i32);
    let rejected = pay(&mut a, &b, "4").await;
    assert_eq!(rejected.state, TransferState::Aborted as i32);

    let (events, _) = read_events(
        &broker.brokers,
        &events_topic,
        Duration::from_secs(60),
        |e| {
            e.values().any(|e| {
                transfer_posting(e)
                    .is_some_and(|(kind, id, _)| kind == "aborted" && id == rejected.transfer_id)
            })
        },
    );
    // The onboarding: a currency, three participants with accounts and
    // funds in.
    let count = |pred: fn(&Kind) -> bool| {
        events
            .values()
            .filter(|e| e.kind.as_ref().is_some_and(pred))
            .count()
    };
    assert_eq!(count(|k| matches!(k, Kind::CurrencyEnabled(_))), 1);
    assert_eq!(count(|k| matches!(k, Kind::ParticipantCreated(_))), 3);
    assert_eq!(count(|k| matches!(k, Kind::AccountsOpened(_))), 3);
    let funds_in: Vec<&FundsMoved> = events
        .values()
        .filter_map(|e| match &e.kind {
            Some(Kind::FundsIn(f)) => Some(f),
            _ => None,
        })
        .collect();
    assert_eq!(funds_in.len(), 3);
    assert!(funds_in.iter().all(|f| {
        f.posting
            .as_ref()
            .is_some_and(|p| p.amount == "1000.00" && p.phase == PostingPhase::Posted as i32)
    }));
    // The committed transfer: reserved then committed, payer and payee
    // named, the posting's amount the transfer's.
    let of = |id: &str| -> Vec<(&'static str, Posting, u64)> {
        events
            .values()
            .filter_map(|e| {
                let (kind, tid, p) = transfer_posting(e)?;
                (tid == id).then(|| {
                    let kind: &'static str = match kind {
                        "reserved" => "reserved",
                        "committed" => "committed",
                        _ => "aborted",
                    };
                    (kind, p.clone(), e.command_time_ms as u64)
                })
            })
            .collect()
    };
    let c_events = of(&committed.transfer_id);
    assert_eq!(
        c_events.iter().map(|(k, _, _)| *k).collect::<Vec<_>>(),
        ["reserved", "committed"]
    );
    assert!(
        c_events
            .iter()
            .all(|(_, p, t)| p.amount == "12.50" && *t > 0)
    );
    assert_eq!(c_events[0].1.phase, PostingPhase::Pending as i32);
    assert_eq!(c_events[1].1.phase, PostingPhase::PostPending as i32);
    let r_events = of(&rejected.transfer_id);
    assert_eq!(
        r_events.iter().map(|(k, _, _)| *k).collect::<Vec<_>>(),
        ["reserved", "aborted"]
    );
    assert!(events.values().any(|e| matches!(
        &e.kind,
        Some(Kind::TransferAborted(t)) if t.transfer_id == rejected.transfer_id
            && t.reason == 5104 && t.payer_fsp == "bank-a" && t.payee_fsp == "bank-b"
    )));

    // The switch's postings projection holds the same postings, at the same
    // positions.
    let with_postings: Vec<((u64, u32), &Posting)> = events
        .iter()
        .filter_map(|(at, e)| any_posting(e).map(|p| (*at, p)))
        .collect();
    let projected =
        s.op.list_postings(op_req(ListPostingsRequest {
            page: Some(PageRequest {
                page_size: 1000,
                page_token: String::new(),
            }),
            ..Default::default()
        }))
        .await
        .expect("postings")
        .into_inner()
        .postings;
    assert_eq!(projected.len(), with_postings.len());
    for (p, ((offset, index), e)) in projected.iter().zip(&with_postings) {
        assert_eq!((p.log_offset, p.index), (*offset, *index));
        assert_eq!(
            (p.debit_account, p.credit_account, &p.amount, p.phase),
            (e.debit_account, e.credit_account, &e.amount, e.phase)
        );
    }

    // Restart: publishing resumes; what was published before may come again
    // (the same events), and the next transfer's events follow.
    s.restart().await;
    s.reconnect(&mut a);
    let after = pay(&mut a, &c, "3.25").await;
    assert_eq!(after.state, TransferState::Committed as i32);
    let (again, messages) = read_events(
        &broker.brokers,
        &events_topic,
        Duration::from_secs(60),
        |e| {
            e.values().any(|e| {
                transfer_posting(e)
                    .is_some_and(|(kind, id, _)| kind == "committed" && id == after.transfer_id)
            })
        },
    );
    assert!(messages >= again.len());
    for (at, e) in &events {
        assert_eq!(again.get(at), Some(e), "event at {at:?} kept");
    }
    let new: Vec<&LedgerEvent> = again
        .iter()
        .filter(|(at, _)| !events.contains_key(at))
        .map(|(_, e)| e)
        .collect();
    assert_eq!(
        new.iter()
            .filter_map(|e| transfer_posting(e).map(|(k, id, _)| (k, id.to_string())))
            .collect::<Vec<_>>(),
        [
            ("reserved", after.transfer_id.clone()),
            ("committed", after.transfer_id.clone())
        ]
    );
    // Positions only grow.
    let last_before = events.keys().last().copied().expect("events");
    assert!(new.iter().all(|e| (e.log_offset, e.index) > last_before));
}
