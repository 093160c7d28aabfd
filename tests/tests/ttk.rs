//! Mojaloop's own Testing Toolkit against the switch's FSPIOP API: the
//! TTK plays the DFSPs and the hub operator, runs Mojaloop's provisioning
//! and golden-path collections (`shared/ttk/run-min-func.sh`), and asserts
//! on every response and callback. Written by Mojaloop, not by us.
//!
//! The TTK is installed by `scripts/test setup` (`shared/ttk/ttk-setup.sh`)
//! and listens on fixed ports (5050, 4040): this is the one test that
//! starts it.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use harambee_tests::fspiop::{shared_ttk, ttk_dir};
use harambee_tests::*;

/// The TTK process; killed when dropped.
struct Ttk(Child);

impl Drop for Ttk {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The summary lines `run-min-func.sh` prints ("N passed, N failed, N
/// skipped"), one per collection run, and whether it passed.
fn run_min_func(fspiop: &str, admin: &str) -> (bool, Vec<String>) {
    let out = Command::new(shared_ttk().join("run-min-func.sh"))
        .env("FSPIOP", fspiop)
        .env("ADMIN", admin)
        .env("TTK_DIR", ttk_dir())
        .output()
        .expect("run-min-func.sh runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    println!("{text}");
    let summaries = text
        .lines()
        .filter(|l| l.contains(" passed, ") && l.contains(" failed"))
        .map(str::to_string)
        .collect();
    (out.status.success(), summaries)
}

#[tokio::test(flavor = "multi_thread")]
async fn mojaloops_testing_toolkit_provisions_the_hub_and_pays_through_it() {
    let installed = ttk_dir().join("ttk/node_modules/ml-testing-toolkit/package.json");
    assert!(
        installed.exists(),
        "the TTK is not installed at {}: run scripts/test setup",
        installed.display()
    );
    // The switch in development mode, as behind a Mojaloop API gateway.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = TestSwitch::config(dir.path());
    config.fspiop.trust_source_header = true;
    let s = TestSwitch::start_with(dir, config).await;
    let fspiop = format!("http://{}", s.running().fspiop_addr.expect("FSPIOP API"));
    let admin = format!("http://{}", s.running().admin_addr.expect("admin API"));

    // The TTK's run folder, pointed at this switch (the installation is
    // kept), then the TTK itself.
    let setup = Command::new(shared_ttk().join("ttk-setup.sh"))
        .env("HUB_URL", &fspiop)
        .env("TTK_DIR", ttk_dir())
        .stdout(Stdio::null())
        .status()
        .expect("ttk-setup.sh runs");
    assert!(setup.success(), "ttk-setup.sh");
    let ttk = Ttk(Command::new("node")
        .arg("-r")
        .arg(shared_ttk().join("loopback.js"))
        .arg(ttk_dir().join("ttk/node_modules/ml-testing-toolkit/src/index.js"))
        .current_dir(ttk_dir().join("run"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the TTK starts"));
    let mut up = false;
    for _ in 0..120 {
        if tokio::net::TcpStream::connect("127.0.0.1:5050")
            .await
            .is_ok()
            && tokio::net::TcpStream::connect("127.0.0.1:4040")
                .await
                .is_ok()
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(up, "the TTK listens on 5050 and 4040 within 60 s");

    let (fspiop_c, admin_c) = (fspiop.clone(), admin.clone());
    let (passed, first) = tokio::task::spawn_blocking(move || run_min_func(&fspiop_c, &admin_c))
        .await
        .expect("the run");
    assert!(passed, "the first run passes: {first:?}");
    assert_eq!(
        first.len(),
        2,
        "provisioning and the golden path ran: {first:?}"
    );
    assert!(first.iter().all(|l| l.contains(" 0 failed")), "{first:?}");
    assert!(
        first[1].contains(" 0 skipped"),
        "every golden-path assertion ran: {first:?}"
    );
    // Provisioning again: the assertions guarded by "if it already
    // exists" (the settlement models' "already exists" description) run
    // too, and pass; nothing is skipped.
    let (passed, second) = tokio::task::spawn_blocking(move || run_min_func(&fspiop, &admin))
        .await
        .expect("the run");
    assert!(passed, "the second run passes: {second:?}");
    assert!(
        second.iter().all(|l| l.contains(" 0 failed, 0 skipped")),
        "{second:?}"
    );
    drop(ttk);
    drop(s);
}
