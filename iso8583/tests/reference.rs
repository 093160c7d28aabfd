//! The codec against `shared/reference/iso8583/`: moov-io's test messages
//! and their field-by-field parses, made independently with pyiso8583.

use std::path::PathBuf;

use harambee_iso8583::{Dialect, Message, decode, encode};

fn reference_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference/iso8583")
}

fn expected() -> serde_json::Value {
    let path = reference_dir().join("expected-parses.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (is shared/ next to the repository?)",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("json")
}

#[test]
fn the_reference_messages_decode_field_by_field_as_pyiso8583_parses_them() {
    let ascii = Dialect::ascii_1987();
    let all = expected();
    let messages = all["messages"].as_object().expect("messages");
    assert_eq!(messages.len(), 4);
    for (name, want) in messages {
        let raw = std::fs::read(reference_dir().join(format!("{name}.dat"))).expect("the .dat");
        assert_eq!(
            raw.len() as u64,
            want["length"].as_u64().expect("length"),
            "{name}"
        );
        let m = decode(&ascii, &raw).unwrap_or_else(|e| panic!("{name}: {e}"));
        let fields = want["fields"].as_object().expect("fields");
        assert_eq!(m.mti.as_str(), fields["0"], "{name}");
        let mut seen = 0;
        for (key, value) in fields {
            let n: usize = key.parse().expect("a number");
            if n < 2 {
                continue;
            }
            seen += 1;
            assert_eq!(m.text(n), value.as_str(), "{name}: field {n}");
        }
        assert_eq!(m.fields().count(), seen, "{name}: no other field");
        // Written again, the same bytes (bitmap included).
        assert_eq!(encode(&ascii, &m).expect("encodes"), raw, "{name}");
        let bitmap_hex = fields["1"].as_str().expect("bitmap");
        assert_eq!(
            &raw[4..4 + bitmap_hex.len()],
            bitmap_hex.as_bytes(),
            "{name}"
        );
    }
}

#[test]
fn the_reference_messages_survive_the_binary_dialect_unchanged() {
    let (ascii, binary) = (Dialect::ascii_1987(), Dialect::binary_1987());
    for name in [
        "financial_transaction_message",
        "financial_transaction_message_response",
        "network_management_message",
        "network_management_message_response",
    ] {
        let raw = std::fs::read(reference_dir().join(format!("{name}.dat"))).expect("the .dat");
        let m: Message = decode(&ascii, &raw).expect("decodes");
        let packed = encode(&binary, &m).expect("encodes in binary");
        assert!(
            packed.len() < raw.len(),
            "{name}: BCD and binary bitmaps are smaller"
        );
        assert_eq!(decode(&binary, &packed).expect("decodes"), m, "{name}");
    }
}

/// The 0800 sign-on of the reference, byte by byte in the binary dialect:
/// MTI 08 00, the bitmaps as 16 bytes, numerics in BCD.
#[test]
fn a_sign_on_in_the_binary_dialect_is_written_as_the_dialect_says() {
    let raw = std::fs::read(reference_dir().join("network_management_message.dat")).expect("dat");
    let m = decode(&Dialect::ascii_1987(), &raw).expect("decodes");
    let packed = encode(&Dialect::binary_1987(), &m).expect("encodes");
    let mut want = vec![0x08, 0x00];
    want.extend_from_slice(&[0x82, 0x3A, 0, 0, 0, 0, 0, 0, 0x04, 0, 0, 0, 0, 0, 0, 0]);
    want.extend_from_slice(&[0x04, 0x20, 0x09, 0x06, 0x13]); // 7
    want.extend_from_slice(&[0x90, 0x00, 0x01]); // 11
    want.extend_from_slice(&[0x09, 0x06, 0x13]); // 12
    want.extend_from_slice(&[0x04, 0x20]); // 13
    want.extend_from_slice(&[0x04, 0x20]); // 15
    want.extend_from_slice(&[0x00, 0x01]); // 70: n3, a leading zero nibble
    assert_eq!(packed, want);
}

/// The sizes docs/PERFORMANCE.md gives for the benchmark's 0200.
#[test]
fn the_benchmarks_0200_is_139_bytes_in_ascii_and_93_in_binary() {
    let mut m = Message::new(harambee_iso8583::Mti::new(b"0200").expect("mti"));
    m.set(3, "400000")
        .set(4, "000000001050")
        .set(7, "1202101500")
        .set(11, "004711")
        .set(12, "101500")
        .set(13, "1202")
        .set(32, "60001")
        .set(37, "633610004711")
        .set(41, "TERM0001")
        .set(49, "404")
        .set(102, "0012345678901")
        .set(103, "254700000001");
    assert_eq!(
        encode(&Dialect::ascii_1987(), &m).expect("encodes").len(),
        139
    );
    assert_eq!(
        encode(&Dialect::binary_1987(), &m).expect("encodes").len(),
        93
    );
}
