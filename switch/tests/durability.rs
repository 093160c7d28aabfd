//! Nothing acknowledged is ever lost, whatever the storage does: a full
//! disk (RLIMIT_FSIZE), writes that fail with ENOSPC and fsyncs that fail
//! with EIO (injected under the C library with LD_PRELOAD, see
//! `fault-inject/fault.c`), a second process on the same data directory,
//! and an engine that panics or finds another writer's records. Each test
//! runs the real `harambee serve` binary under load from simulated banks
//! and checks what a participant and an operator see: the answers, gRPC
//! health on every port, the exit status, and every acknowledged transfer
//! after a restart.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use harambee_proto::v1::*;
use harambee_sim::client::Outcome;

/// Sets RLIMIT_FSIZE of process `pid` (the soft limit; the hard one stays
/// unlimited, so it can be raised again).
fn set_file_size_limit(pid: u32, bytes: Option<u64>) {
    let limit = libc::rlimit {
        rlim_cur: bytes.unwrap_or(libc::RLIM_INFINITY),
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: prlimit reads `limit` and writes nothing (old limit null).
    let rc = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_FSIZE,
            &limit,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
}

/// Builds the fault injector into `dir` and returns the library's path.
fn fault_injector(dir: &Path) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fault-inject/fault.c");
    let library = dir.join("libfault.so");
    let status = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&library)
        .arg(&source)
        .arg("-ldl")
        .status()
        .expect("cc runs");
    assert!(status.success(), "the fault injector builds");
    library
}

/// The acknowledged outcomes, by transfer id.
fn acknowledged(seen: &Seen) -> HashMap<String, Outcome> {
    seen.acks
        .iter()
        .map(|(id, outcome, _)| (id.clone(), outcome.clone()))
        .collect()
}

/// Acknowledgements between `from` and `to`.
fn acks_between(seen: &Seen, from: Instant, to: Instant) -> usize {
    seen.acks
        .iter()
        .filter(|(_, _, at)| *at > from && *at < to)
        .count()
}

/// Stops `switch` gracefully, starts it again on `data`, and checks that
/// every acknowledged transfer is there as acknowledged and that the
/// ledger balances.
async fn restart_and_check(
    switch: Switch,
    data: &Path,
    env: &[(String, String)],
    acknowledged: &HashMap<String, Outcome>,
) -> Switch {
    switch.stop_gracefully().await;
    let mut again = start(data, env).await;
    check_acknowledged(&mut again, acknowledged).await;
    assert!(again.digest().await.balanced, "every currency balances");
    again
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_switch_on_a_data_directory_is_refused_and_names_the_holder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut first = start(&data, &[]).await;
    let before = first.digest().await;
    let pid = first.child.id().expect("pid");

    let (status, stderr) = serve_until_exit(&data, &[], Duration::from_secs(30)).await;
    assert!(!status.success(), "the second process refuses to start");
    assert!(
        stderr.contains("in use by another harambee process")
            && stderr.contains(&format!("pid {pid}")),
        "the refusal names the holder: {stderr}"
    );

    // The first one is untouched and still serves.
    assert_eq!(health(&first.participant_url, "").await, Some(SERVING));
    let after = first.digest().await;
    assert_eq!(
        (after.log_offset, after.digest),
        (before.log_offset, before.digest)
    );
    first.stop_gracefully().await;

    // Once it is gone, the directory can be taken again.
    let again = start(&data, &[]).await;
    again.stop_gracefully().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_under_load_acknowledges_nothing_loses_nothing_and_recovers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut switch = start(&data, &[]).await;
    let pid = switch.child.id().expect("pid");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let members = onboard_two_banks(&mut switch, stop_rx).await;
    let urls = [switch.participant_url.clone(), switch.operator_url.clone()];
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();

    let (traffic_tx, traffic_rx) = tokio::sync::watch::channel(false);
    let workers = traffic(&switch.participant_url, &members, traffic_rx);
    tokio::time::sleep(Duration::from_secs(2)).await;

    // The disk is full: no file of the process may grow or be written.
    set_file_size_limit(pid, Some(1));
    let full_at = Instant::now();
    assert!(
        wait_health(&urls, NOT_SERVING, Duration::from_secs(10)).await,
        "health turns NOT_SERVING on every port while writes fail"
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    // Space returns.
    set_file_size_limit(pid, None);
    let freed_at = Instant::now();
    assert!(
        wait_health(&urls, SERVING, Duration::from_secs(15)).await,
        "health turns SERVING again by itself once writes succeed"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _ = traffic_tx.send(true);
    let seen = collect(workers).await;

    assert!(acks_between(&seen, full_at - Duration::from_secs(2), full_at) >= 10);
    assert_eq!(
        acks_between(&seen, full_at + Duration::from_millis(500), freed_at),
        0,
        "nothing is acknowledged while the disk is full"
    );
    assert!(
        seen.failures
            .iter()
            .any(|(code, at)| *code == 2003 && *at > full_at && *at < freed_at),
        "the switch answers 2003 while it cannot make anything durable"
    );
    assert!(
        acks_between(&seen, freed_at, Instant::now()) >= 10,
        "service resumes when space returns"
    );
    let acknowledged = acknowledged(&seen);
    check_acknowledged(&mut switch, &acknowledged).await;
    let again = restart_and_check(switch, &data, &[], &acknowledged).await;
    again.stop_gracefully().await;
    let _ = stop_tx.send(true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_that_fail_with_enospc_lose_nothing_and_a_failed_fsync_stops_the_switch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let data = data.canonicalize().expect("canonical");
    let library = fault_injector(dir.path());
    let control = dir.path().join("fault");
    std::fs::write(&control, "ok").expect("control");
    let env: Vec<(String, String)> = vec![
        ("LD_PRELOAD".into(), library.display().to_string()),
        ("FAULT_DIR".into(), data.display().to_string()),
        ("FAULT_CONTROL".into(), control.display().to_string()),
    ];
    let mut switch = start(&data, &env).await;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let members = onboard_two_banks(&mut switch, stop_rx).await;
    let urls = [switch.participant_url.clone(), switch.operator_url.clone()];
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();

    // 1. Writes fail with ENOSPC for a while, under load.
    let (traffic_tx, traffic_rx) = tokio::sync::watch::channel(false);
    let workers = traffic(&switch.participant_url, &members, traffic_rx);
    tokio::time::sleep(Duration::from_secs(2)).await;
    std::fs::write(&control, "enospc").expect("control");
    let full_at = Instant::now();
    assert!(
        wait_health(&urls, NOT_SERVING, Duration::from_secs(10)).await,
        "health turns NOT_SERVING while writes fail"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    std::fs::write(&control, "ok").expect("control");
    let freed_at = Instant::now();
    assert!(wait_health(&urls, SERVING, Duration::from_secs(15)).await);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = traffic_tx.send(true);
    let seen = collect(workers).await;
    assert_eq!(
        acks_between(&seen, full_at + Duration::from_millis(500), freed_at),
        0,
        "nothing is acknowledged while writes fail"
    );
    assert!(acks_between(&seen, freed_at, Instant::now()) >= 10);
    let mut acknowledged = acknowledged(&seen);
    check_acknowledged(&mut switch, &acknowledged).await;

    // 2. An fsync fails: what is durable is unknown, so the switch stops,
    // says why, and exits non-zero for its supervisor to restart it.
    let (traffic_tx, traffic_rx) = tokio::sync::watch::channel(false);
    let workers = traffic(&switch.participant_url, &members, traffic_rx);
    tokio::time::sleep(Duration::from_secs(1)).await;
    std::fs::write(&control, "eio-fsync").expect("control");
    let status = tokio::time::timeout(Duration::from_secs(20), switch.child.wait())
        .await
        .expect("the switch exits after a failed fsync")
        .expect("exit status");
    let _ = traffic_tx.send(true);
    let seen = collect(workers).await;
    assert!(!status.success(), "it exits non-zero: {status:?}");
    let stderr = switch.stderr.lock().expect("stderr").clone();
    assert!(
        stderr.contains("fsync failed") && stderr.contains("the ledger engine stopped"),
        "one clear line says why: {stderr}"
    );
    acknowledged.extend(seen.acks.iter().map(|(id, o, _)| (id.clone(), o.clone())));

    // 3. Restarted on a sound disk, everything acknowledged is there.
    std::fs::write(&control, "ok").expect("control");
    let mut again = start(&data, &env).await;
    check_acknowledged(&mut again, &acknowledged).await;
    wait_nothing_reserved(&mut again, Duration::from_secs(30)).await;
    assert!(again.digest().await.balanced);
    again.stop_gracefully().await;
    let _ = stop_tx.send(true);
}

/// Runs load against a switch whose failpoint `failpoint` fires at log
/// offset 300, and checks that it turns NOT_SERVING on every port, refuses
/// reads, exits non-zero with one clear line, and restarts with every
/// acknowledged transfer.
async fn an_engine_failure_stops_the_switch(failpoint: &str, reason: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let env: Vec<(String, String)> =
        vec![("HARAMBEE_FAILPOINTS".into(), format!("{failpoint}@300"))];
    let mut switch = start(&data, &env).await;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let members = onboard_two_banks(&mut switch, stop_rx).await;
    let participant_url = switch.participant_url.clone();
    let operator_url = switch.operator_url.clone();
    let (traffic_tx, traffic_rx) = tokio::sync::watch::channel(false);
    let workers = traffic(&participant_url, &members, traffic_rx);

    // Health turns NOT_SERVING on both ports before the process is gone.
    let mut seen_not_serving = [false, false];
    let mut read_refused = false;
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        for (i, url) in [&participant_url, &operator_url].iter().enumerate() {
            if health(url, "").await == Some(NOT_SERVING) {
                seen_not_serving[i] = true;
            }
        }
        if seen_not_serving.iter().any(|s| *s) && !read_refused {
            // Reads are refused: a half-applied state is never served.
            read_refused = switch
                .op
                .get_ledger_digest(req(GetLedgerDigestRequest {}))
                .await
                .is_err();
        }
        if let Some(status) = switch.child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "the switch did not exit");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let _ = traffic_tx.send(true);
    let seen = collect(workers).await;
    assert!(!status.success(), "exits non-zero: {status:?}");
    assert_eq!(
        seen_not_serving,
        [true, true],
        "health said NOT_SERVING on every port before the exit"
    );
    assert!(read_refused, "no read is served once the engine stopped");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stderr = switch.stderr.lock().expect("stderr").clone();
    assert!(
        stderr.contains("the ledger engine stopped") && stderr.contains(reason),
        "one clear line says why: {stderr}"
    );

    let acknowledged = acknowledged(&seen);
    let mut again = start(&data, &[]).await;
    check_acknowledged(&mut again, &acknowledged).await;
    wait_nothing_reserved(&mut again, Duration::from_secs(30)).await;
    assert!(again.digest().await.balanced);
    again.stop_gracefully().await;
    let _ = stop_tx.send(true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_while_applying_turns_health_not_serving_and_exits() {
    an_engine_failure_stops_the_switch("apply-panic", "panicked").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offset_mismatch_turns_health_not_serving_and_exits() {
    an_engine_failure_stops_the_switch("append-offset-skew", "offset mismatch").await;
}
