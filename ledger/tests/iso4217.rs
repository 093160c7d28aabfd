//! The ledger's ISO 4217 table against pycountry's (PyPI, installed by
//! `scripts/test setup`): every currency both know has the same numeric
//! code.

use harambee_ledger::Currency;

#[test]
fn numeric_codes_agree_with_pycountry() {
    let script = "import pycountry\nfor c in pycountry.currencies: print(c.alpha_3, c.numeric)";
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .current_dir("/")
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "pycountry (scripts/test setup installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let mut checked = 0;
    for line in text.lines() {
        let (alpha, numeric) = line.split_once(' ').expect("two words");
        let Ok(c) = Currency::parse(alpha) else {
            continue; // funds codes and metals, which the ledger leaves out
        };
        let theirs: u16 = numeric.parse().expect("a number");
        assert_eq!(c.numeric(), theirs, "{alpha}");
        assert_eq!(Currency::from_numeric(theirs).ok(), Some(c), "{alpha}");
        checked += 1;
    }
    assert!(checked >= 150, "only {checked} codes checked");
}
