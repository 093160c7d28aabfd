//! Validation of what participants send: every field is checked here, at
//! the edge, before anything is logged. A bad field gets a 31xx error naming
//! it, and changes nothing.

use std::str::FromStr;

use crate::fspiop::{ErrorCode, FspiopError};
use crate::v1::{Money, PartyIdType, PartyIdentifier};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use harambee_ledger::Currency;
use prost_types::Timestamp;
use rust_decimal::Decimal;

use harambee_core::record::PartyKey;

/// Longest ILP packet accepted, in base64url characters.
pub const ILP_PACKET_LENGTH_MAX: usize = 32_768;
/// Longest party id or sub-id.
pub const PARTY_ID_LENGTH_MAX: usize = 128;
/// Longest note or reason.
pub const NOTE_LENGTH_MAX: usize = 256;

fn invalid(field: &str, reason: impl std::fmt::Display) -> FspiopError {
    FspiopError::new(ErrorCode::ValidationError, format!("{field}: {reason}"))
}

fn missing(field: &str) -> FspiopError {
    FspiopError::new(ErrorCode::MissingElement, format!("{field} is required"))
}

/// A canonical lower-case UUID string, parsed to 128 bits.
pub fn uuid(field: &str, text: &str) -> Result<u128, FspiopError> {
    if text.is_empty() {
        return Err(missing(field));
    }
    let parsed =
        uuid::Uuid::try_parse(text).map_err(|e| invalid(field, format!("not a UUID ({e})")))?;
    if parsed.hyphenated().to_string() != text {
        return Err(invalid(
            field,
            "UUIDs are written in canonical lower-case 8-4-4-4-12 form",
        ));
    }
    Ok(parsed.as_u128())
}

/// A participant id: 1-32 characters of a-z, 0-9, '-'.
pub fn fsp_id<'a>(field: &str, text: &'a str) -> Result<&'a str, FspiopError> {
    if text.is_empty() {
        return Err(missing(field));
    }
    let ok = text.len() <= 32
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !text.starts_with('-');
    if ok {
        Ok(text)
    } else {
        Err(invalid(
            field,
            "not a participant id (1-32 of a-z, 0-9, '-')",
        ))
    }
}

/// An ISO 4217 currency code.
pub fn currency(field: &str, text: &str) -> Result<Currency, FspiopError> {
    if text.is_empty() {
        return Err(missing(field));
    }
    Currency::parse(text)
        .map_err(|_| invalid(field, format!("{text:?} is not an ISO 4217 currency")))
}

/// A decimal amount string: digits, at most one '.', no sign, no exponent,
/// at most 18 integer digits, greater than zero. The decimals allowed by the
/// currency are checked by the ledger.
pub fn amount(field: &str, text: &str) -> Result<Decimal, FspiopError> {
    if text.is_empty() {
        return Err(missing(field));
    }
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits_ok = !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
        && (frac.len() <= 4)
        && !(text.contains('.') && frac.is_empty());
    if !digits_ok || int.len() > 18 {
        return Err(invalid(
            field,
            format!("{text:?} is not a decimal amount (up to 18 digits, '.', up to 4 decimals)"),
        ));
    }
    let value = Decimal::from_str(text).map_err(|e| invalid(field, e))?;
    if value.is_zero() {
        return Err(invalid(field, "amount must be greater than zero"));
    }
    Ok(value)
}

/// A decimal >= 0 (fees, caps) with at most the decimals the ledger keeps
/// (see [`money`]).
pub fn non_negative_amount(field: &str, text: &str, c: Currency) -> Result<(), FspiopError> {
    let zero = !text.is_empty()
        && text.bytes().all(|b| b == b'0' || b == b'.')
        && text.bytes().filter(|b| *b == b'.').count() <= 1
        && !text.starts_with('.')
        && !text.ends_with('.');
    if zero {
        return Ok(());
    }
    let a = amount(field, text)?;
    c.to_units(a, c.ledger_scale())
        .map_err(|e| invalid(field, e))?;
    Ok(())
}

/// A `Money`: amount and currency, with at most the decimals the ledger
/// keeps a currency enabled now at ([`Currency::ledger_scale`]; a currency
/// enabled by an earlier build, at its ISO minor unit, refuses more in the
/// ledger).
pub fn money(field: &str, m: Option<&Money>) -> Result<(Decimal, Currency), FspiopError> {
    let m = m.ok_or_else(|| missing(field))?;
    let c = currency(&format!("{field}.currency"), &m.currency)?;
    let a = amount(&format!("{field}.amount"), &m.amount)?;
    c.to_units(a, c.ledger_scale())
        .map_err(|e| invalid(&format!("{field}.amount"), e))?;
    Ok((a, c))
}

/// 32 bytes in base64url without padding (an ILP condition or fulfilment).
pub fn b64url32(field: &str, text: &str) -> Result<[u8; 32], FspiopError> {
    if text.is_empty() {
        return Err(missing(field));
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| invalid(field, "not base64url without padding"))?;
    let n = bytes.len();
    bytes
        .try_into()
        .map_err(|_| invalid(field, format!("decodes to {n} bytes, expected 32")))
}

/// An ILP packet: base64url, 1 to ILP_PACKET_LENGTH_MAX characters.
pub fn ilp_packet(field: &str, text: &str) -> Result<(), FspiopError> {
    if text.is_empty() {
        return Err(missing(field));
    }
    if text.len() > ILP_PACKET_LENGTH_MAX {
        return Err(FspiopError::new(
            ErrorCode::PayloadTooLarge,
            format!("{field} is longer than {ILP_PACKET_LENGTH_MAX} characters"),
        ));
    }
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| invalid(field, "not base64url without padding"))?;
    Ok(())
}

/// A timestamp, as milliseconds since the Unix epoch.
pub fn timestamp_ms(field: &str, t: Option<&Timestamp>) -> Result<i64, FspiopError> {
    let t = t.ok_or_else(|| missing(field))?;
    if !(0..1_000_000_000).contains(&t.nanos) || t.seconds < 0 || t.seconds > 253_402_300_799 {
        return Err(invalid(field, "not a valid timestamp"));
    }
    Ok(t.seconds * 1000 + i64::from(t.nanos / 1_000_000))
}

/// A timestamp from milliseconds since the Unix epoch.
pub fn timestamp(ms: i64) -> Timestamp {
    Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

/// A party identifier.
pub fn party(field: &str, p: Option<&PartyIdentifier>) -> Result<PartyKey, FspiopError> {
    let p = p.ok_or_else(|| missing(field))?;
    let party_type = PartyIdType::try_from(p.r#type)
        .ok()
        .filter(|t| *t != PartyIdType::Unspecified)
        .ok_or_else(|| invalid(&format!("{field}.type"), "unknown party id type"))?;
    if p.id.is_empty() {
        return Err(missing(&format!("{field}.id")));
    }
    if p.id.len() > PARTY_ID_LENGTH_MAX || p.sub_id.len() > PARTY_ID_LENGTH_MAX {
        return Err(invalid(
            field,
            format!("id and sub_id are at most {PARTY_ID_LENGTH_MAX} characters"),
        ));
    }
    if p.id.chars().any(char::is_control) || p.sub_id.chars().any(char::is_control) {
        return Err(invalid(field, "control characters are not allowed"));
    }
    if party_type == PartyIdType::Msisdn
        && !(p.id.len() <= 15 && p.id.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(invalid(
            &format!("{field}.id"),
            "an MSISDN is up to 15 digits",
        ));
    }
    Ok(PartyKey {
        party_type: party_type
            .as_str_name()
            .trim_start_matches("PARTY_ID_TYPE_")
            .to_string(),
        id: p.id.clone(),
        sub_id: p.sub_id.clone(),
    })
}

/// A short free text.
pub fn note(field: &str, text: &str) -> Result<(), FspiopError> {
    if text.len() > NOTE_LENGTH_MAX {
        return Err(invalid(
            field,
            format!("at most {NOTE_LENGTH_MAX} characters"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_must_be_canonical() {
        assert!(uuid("id", "b51ec534-ee48-4575-b6a9-ead2955b8069").is_ok());
        for bad in [
            "",
            "nope",
            "B51EC534-EE48-4575-B6A9-EAD2955B8069",
            "b51ec534ee484575b6a9ead2955b8069",
            "{b51ec534-ee48-4575-b6a9-ead2955b8069}",
        ] {
            assert!(uuid("id", bad).is_err(), "{bad}");
        }
        assert_eq!(uuid("id", "").err().map(|e| e.code), Some(3102));
    }

    #[test]
    fn amounts() {
        for ok in ["1", "0.01", "100.5", "123456789012345678", "1.1234"] {
            assert!(amount("a", ok).is_ok(), "{ok}");
        }
        for bad in [
            "0",
            "0.00",
            "-1",
            "+1",
            "1e3",
            "1.",
            ".5",
            "1,5",
            " 1",
            "1234567890123456789",
            "1.12345",
            "NaN",
            "１",
        ] {
            assert_eq!(amount("a", bad).err().map(|e| e.code), Some(3100), "{bad}");
        }
    }

    #[test]
    fn money_checks_currency_decimals() {
        let m = |a: &str, c: &str| Money {
            amount: a.into(),
            currency: c.into(),
        };
        // Up to the four decimals the ledger keeps, in any currency.
        assert!(money("amount", Some(&m("10.50", "USD"))).is_ok());
        assert!(money("amount", Some(&m("60.1234", "USD"))).is_ok());
        assert!(money("amount", Some(&m("10.5", "UGX"))).is_ok());
        assert_eq!(
            money("amount", Some(&m("10.50505", "USD")))
                .err()
                .map(|e| e.code),
            Some(3100)
        );
        assert_eq!(
            money("amount", Some(&m("0.00001", "UGX")))
                .err()
                .map(|e| e.code),
            Some(3100)
        );
        assert_eq!(
            money("amount", Some(&m("10", "XYZ"))).err().map(|e| e.code),
            Some(3100)
        );
        assert_eq!(money("amount", None).err().map(|e| e.code), Some(3102));
    }

    #[test]
    fn conditions_are_32_bytes_of_base64url() {
        assert!(b64url32("c", "GRzLaTP7DJ9t4P-a_BA0WA9wzzlsugf00-Tn6kESAfM").is_ok());
        for bad in [
            "abc",
            "GRzLaTP7DJ9t4P+a/BA0WA9wzzlsugf00-Tn6kESAfM",
            "GRzLaTP7DJ9t4P-a_BA0WA9wzzlsugf00-Tn6kESAfM=",
            &"A".repeat(44),
        ] {
            assert_eq!(
                b64url32("c", bad).err().map(|e| e.code),
                Some(3100),
                "{bad}"
            );
        }
    }

    #[test]
    fn timestamps_round_trip() {
        let t = timestamp(1_700_000_000_123);
        assert_eq!(timestamp_ms("t", Some(&t)).ok(), Some(1_700_000_000_123));
        assert!(
            timestamp_ms(
                "t",
                Some(&Timestamp {
                    seconds: 1,
                    nanos: -1
                })
            )
            .is_err()
        );
    }
}
