//! Decoding rejects what is not a message, precisely, and never panics;
//! encoding refuses what the dialect cannot carry.

use harambee_iso8583::{DecodeError, Dialect, EncodeError, Message, Mti, Part, decode, encode};
use proptest::prelude::*;

mod common;
use common::any_message;

fn financial() -> Message {
    let mut m = Message::new(Mti::new(b"0200").expect("mti"));
    m.set(3, "400000")
        .set(4, "000000001050")
        .set(7, "1201120000")
        .set(11, "000123")
        .set(12, "120000")
        .set(13, "1201")
        .set(32, "12345")
        .set(37, "000000000123")
        .set(49, "404")
        .set(102, "ACC-0001")
        .set(103, "254700000001");
    m
}

fn ascii() -> Dialect {
    Dialect::ascii_1987()
}

#[test]
fn the_mti_of_a_message_whose_fields_are_bad_can_still_be_read() {
    for d in [Dialect::ascii_1987(), Dialect::binary_1987()] {
        let mut raw = encode(&d, &financial()).expect("encodes");
        let len = raw.len();
        raw[len - 3] = 0xff;
        assert!(decode(&d, &raw).is_err());
        assert_eq!(harambee_iso8583::peek_mti(&d, &raw), Mti::new(b"0200"));
        assert_eq!(
            harambee_iso8583::peek_mti(&d, &[0xff, 0xff, 0xff, 0xff]),
            None
        );
        assert_eq!(harambee_iso8583::peek_mti(&d, b"0"), None);
    }
}

#[test]
fn a_bad_mti_is_named() {
    let mut raw = encode(&ascii(), &financial()).expect("encodes");
    raw[1] = b'X';
    assert_eq!(
        decode(&ascii(), &raw),
        Err(DecodeError::BadMti("0X00".into()))
    );
}

#[test]
fn a_bitmap_naming_an_undefined_field_is_refused() {
    // Field 65 (not defined in 1987) is the secondary bitmap's first bit.
    let mut m = financial();
    m.set(70, "001");
    let mut raw = encode(&ascii(), &m).expect("encodes");
    // The secondary bitmap starts at 4 + 16: set bits 65 and 66.
    raw[20] = b'C';
    assert_eq!(decode(&ascii(), &raw), Err(DecodeError::UndefinedField(65)));
}

#[test]
fn a_length_over_the_maximum_is_refused() {
    let raw = encode(&ascii(), &financial()).expect("encodes");
    // Field 102 (LLVAR, max 28) is followed by 103; find its prefix "08".
    let text = String::from_utf8(raw.clone()).expect("ascii");
    let at = text.find("08ACC-0001").expect("field 102");
    let mut bad = raw.clone();
    bad[at..at + 2].copy_from_slice(b"29");
    assert_eq!(
        decode(&ascii(), &bad),
        Err(DecodeError::TooLong {
            field: 102,
            length: 29,
            max: 28
        })
    );
    bad[at..at + 2].copy_from_slice(b"0x");
    assert!(matches!(
        decode(&ascii(), &bad),
        Err(DecodeError::BadLengthPrefix { field: 102, .. })
    ));
}

#[test]
fn non_numeric_data_in_an_n_field_is_refused() {
    let raw = encode(&ascii(), &financial()).expect("encodes");
    let text = String::from_utf8(raw.clone()).expect("ascii");
    let at = text.find("000000001050").expect("field 4");
    let mut bad = raw;
    bad[at + 5] = b'A';
    assert_eq!(
        decode(&ascii(), &bad),
        Err(DecodeError::NotNumeric { field: 4 })
    );
}

#[test]
fn trailing_bytes_and_truncation_are_refused_at_every_cut() {
    for dialect in [Dialect::ascii_1987(), Dialect::binary_1987()] {
        let raw = encode(&dialect, &financial()).expect("encodes");
        let mut long = raw.clone();
        long.extend_from_slice(b"xyz");
        assert_eq!(
            decode(&dialect, &long),
            Err(DecodeError::TrailingBytes { count: 3 })
        );
        for cut in 0..raw.len() {
            let e = decode(&dialect, &raw[..cut]).expect_err("truncated");
            assert!(e.is_truncated(), "{} at {cut}: {e}", dialect.name);
        }
        assert_eq!(decode(&dialect, &raw).expect("whole"), financial());
    }
    assert!(matches!(
        decode(&ascii(), b"02"),
        Err(DecodeError::Truncated {
            what: Part::Mti,
            ..
        })
    ));
}

#[test]
fn a_bitmap_that_is_not_hex_is_refused() {
    let mut raw = encode(&ascii(), &financial()).expect("encodes");
    raw[6] = b'G';
    assert!(matches!(
        decode(&ascii(), &raw),
        Err(DecodeError::BadBitmap(_))
    ));
}

#[test]
fn encoding_validates_every_field_before_it_writes() {
    let d = ascii();
    let cases: Vec<(usize, &[u8], EncodeError)> = vec![
        (
            4,
            b"1050",
            EncodeError::WrongLength {
                field: 4,
                length: 4,
                expected: 12,
            },
        ),
        (
            11,
            b"00012A",
            EncodeError::BadCharacter {
                field: 11,
                class: "n",
                at: 5,
                byte: b'A',
            },
        ),
        (
            102,
            &[b'A'; 29],
            EncodeError::TooLong {
                field: 102,
                length: 29,
                max: 28,
            },
        ),
        (
            39,
            b"0\x01",
            EncodeError::BadCharacter {
                field: 39,
                class: "an",
                at: 1,
                byte: 1,
            },
        ),
        (65, b"00000000", EncodeError::UndefinedField(65)),
        (
            28,
            b"X00000100",
            EncodeError::BadCharacter {
                field: 28,
                class: "x+n",
                at: 0,
                byte: b'X',
            },
        ),
    ];
    for (n, value, want) in cases {
        let mut m = financial();
        m.set(n, value);
        assert_eq!(encode(&d, &m), Err(want), "field {n}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_valid_message_round_trips_in_both_dialects(m in any_message()) {
        for d in [Dialect::ascii_1987(), Dialect::binary_1987()] {
            let raw = encode(&d, &m).expect("a valid message encodes");
            prop_assert_eq!(decode(&d, &raw).expect("and decodes"), m.clone());
        }
    }

    #[test]
    fn decoding_any_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        for d in [Dialect::ascii_1987(), Dialect::binary_1987()] {
            let _ = decode(&d, &bytes);
        }
    }

    #[test]
    fn decoding_a_mutated_message_never_panics_and_what_decodes_encodes_back(
        m in any_message(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        for d in [Dialect::ascii_1987(), Dialect::binary_1987()] {
            let mut raw = encode(&d, &m).expect("encodes");
            for (at, byte) in &flips {
                let i = at.index(raw.len());
                raw[i] = *byte;
            }
            if let Ok(back) = decode(&d, &raw) {
                // Anything decoded is a valid message of the dialect.
                let again = encode(&d, &back).expect("a decoded message encodes");
                prop_assert_eq!(decode(&d, &again).expect("decodes"), back);
            }
        }
    }
}
