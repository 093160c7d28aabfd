//! The switch's FSPIOP error table against the published one.

use std::collections::BTreeMap;

use harambee_proto::fspiop::{self, ErrorCode, FspiopError};
use harambee_tests::reference_json;

fn published() -> BTreeMap<u16, Vec<String>> {
    let v = reference_json("fspiop/error-codes.json");
    let mut codes: BTreeMap<u16, Vec<String>> = BTreeMap::new();
    for c in v["codes"].as_array().expect("codes") {
        let code: u16 = c["code"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("code");
        let message = c["message"].as_str().expect("message").to_string();
        codes.entry(code).or_default().push(message);
    }
    codes
}

#[test]
fn every_published_code_is_known_with_its_message() {
    let published = published();
    assert!(published.len() > 50, "the reference lists the whole table");
    for (code, messages) in &published {
        let ours = fspiop::standard_message(*code)
            .unwrap_or_else(|| panic!("code {code} missing from ErrorCode::ALL"));
        assert!(
            messages.iter().any(|m| m == ours),
            "{code}: {ours:?} not in {messages:?}"
        );
    }
    for code in ErrorCode::ALL {
        assert!(
            published.contains_key(&code.number()),
            "{code} is not a published FSPIOP code"
        );
    }
}

#[test]
fn every_code_survives_a_trip_through_a_grpc_status() {
    for &code in ErrorCode::ALL {
        let e = FspiopError::new(code, "detail");
        let back = FspiopError::from_status(&e.to_status());
        assert_eq!(back, e);
        assert_eq!(e.to_status().code(), fspiop::grpc_code(code.number()));
    }
}
