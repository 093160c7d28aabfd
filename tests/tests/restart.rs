//! Restarts: the state after a restart is the state before it (same ledger
//! digest), from the log alone or from a snapshot plus the log after it, and
//! transfers left reserved by the previous run are expired after it.

use std::time::Duration;

use harambee_proto::v1::*;
use harambee_tests::*;

async fn pay(a: &mut Member, b: &Member, amount: &str) -> TransferResult {
    let q = quote(a, b, amount).await;
    a.api
        .prepare_transfer(prepare_request(&q, 30_000))
        .await
        .expect("prepare")
        .into_inner()
}

async fn restart_keeps_the_state(snapshot_interval_records: u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = TestSwitch::config(dir.path());
    config.ledger.snapshot_interval_records = snapshot_interval_records;
    let mut s = TestSwitch::start_with(dir, config).await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let mut b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::RejectEvery(3))
        .await;
    for i in 0..12 {
        pay(&mut a, &b, &format!("{}", 10 + i)).await;
        pay(&mut b, &a, "3").await;
    }
    let before = s.digest().await;
    let position = s.position("bank-a").await;
    let snapshots =
        harambee_engine::snapshots::SqliteSnapshots::open(&s.config.data_dir.join("snapshots.db"))
            .await
            .expect("snapshots");
    use harambee_engine::snapshots::SnapshotStore;
    let latest = snapshots
        .latest()
        .await
        .expect("read snapshots")
        .map(|x| x.next_offset);
    if snapshot_interval_records < before.log_offset {
        let at = latest.expect("a snapshot was taken");
        assert!(
            at > 0 && at <= before.log_offset,
            "snapshot at {at}, log at {}",
            before.log_offset
        );
    } else {
        assert_eq!(
            latest, None,
            "no snapshot: the restart replays the whole log"
        );
    }
    s.restart().await;
    let after = s.digest().await;
    assert_eq!(after.digest, before.digest, "same state after the restart");
    assert_eq!(after.log_offset, before.log_offset);
    assert_eq!(s.position("bank-a").await, position);
    // Credentials, endpoints, parties and quotes survived: payments go on.
    s.reconnect(&mut a);
    s.reconnect(&mut b);
    let t = pay(&mut a, &b, "5").await;
    assert_eq!(t.state, TransferState::Committed as i32);
    assert!(s.digest().await.balanced);
}

#[tokio::test]
async fn restart_replays_the_log_to_the_same_state() {
    restart_keeps_the_state(1_000_000).await;
}

#[tokio::test]
async fn restart_from_a_snapshot_and_the_log_after_it_gives_the_same_state() {
    // A snapshot every 7 records: the restart loads one and replays the rest.
    restart_keeps_the_state(7).await;
}

#[tokio::test]
async fn transfers_left_reserved_by_a_stopped_switch_expire_after_restart() {
    let mut s = TestSwitch::start().await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Silent)
        .await;
    let q = quote(&mut a, &b, "100").await;
    let request = prepare_request(&q, 1_500);
    let transfer_id = request.transfer_id.clone();
    let mut api = a.api.clone();
    let pending = tokio::spawn(async move { api.prepare_transfer(request).await });
    let reserved = loop {
        let p = s.position("bank-a").await;
        if p.reserved != "0.00" {
            break p;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(reserved.reserved, "100.00");
    // Stop before the expiry; the payer's call does not complete.
    s.restart().await;
    pending.abort();
    let get = || {
        op_req(GetTransferRequest {
            transfer_id: transfer_id.clone(),
        })
    };
    let mut t =
        s.op.get_transfer(get())
            .await
            .expect("transfer")
            .into_inner();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while t.state == TransferState::Reserved as i32 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        t =
            s.op.get_transfer(get())
                .await
                .expect("transfer")
                .into_inner();
    }
    assert_eq!(t.state, TransferState::Aborted as i32);
    assert_eq!(t.error.map(|e| e.error_code), Some("3303".to_string()));
    assert_eq!(s.position("bank-a").await.reserved, "0.00");
}
