//! The text forms of binary values, written once: hex for hashes, the
//! canonical UUID string for 128-bit ids, base64url for conditions and
//! fulfilments.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use harambee_settlement::SettlementState;

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

/// 32 bytes from 64 hex digits (either case); `None` for anything else.
pub fn hex32(text: &str) -> Option<[u8; 32]> {
    let digits = text.as_bytes();
    if digits.len() != 64 {
        return None;
    }
    let value = |d: u8| -> Option<u8> {
        match d {
            b'0'..=b'9' => Some(d - b'0'),
            b'a'..=b'f' => Some(d - b'a' + 10),
            b'A'..=b'F' => Some(d - b'A' + 10),
            _ => None,
        }
    };
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = (value(digits[2 * i])? << 4) | value(digits[2 * i + 1])?;
    }
    Some(out)
}

/// 128 bits as a canonical lower-case 8-4-4-4-12 UUID string.
pub fn uuid_string(value: u128) -> String {
    uuid::Uuid::from_u128(value).hyphenated().to_string()
}

/// A canonical lower-case UUID string as 128 bits; `None` for any other
/// text (upper case, braces, no hyphens included).
pub fn parse_uuid(text: &str) -> Option<u128> {
    let parsed = uuid::Uuid::try_parse(text).ok()?;
    (parsed.hyphenated().to_string() == text).then(|| parsed.as_u128())
}

/// 32 bytes as unpadded base64url (ILP conditions and fulfilments).
pub fn b64url(value: &[u8; 32]) -> String {
    URL_SAFE_NO_PAD.encode(value)
}

/// The wire form of a settlement state (as the API and the log write it).
pub fn settlement_state_name(state: SettlementState) -> &'static str {
    match state {
        SettlementState::PendingSettlement => "PENDING_SETTLEMENT",
        SettlementState::PsTransfersRecorded => "PS_TRANSFERS_RECORDED",
        SettlementState::PsTransfersReserved => "PS_TRANSFERS_RESERVED",
        SettlementState::PsTransfersCommitted => "PS_TRANSFERS_COMMITTED",
        SettlementState::Settled => "SETTLED",
        SettlementState::Aborted => "ABORTED",
    }
}

/// The civil date (year, month, day) of a count of days since
/// 1970-01-01 (Howard Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Milliseconds since the epoch as `2026-12-01T19:00:00.123Z`.
pub fn utc_datetime_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

/// The host of a URL (`https://cb.bank-a.example:8443/x` ->
/// `cb.bank-a.example`; an IPv6 literal without its brackets).
pub fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split_once(']').map(|(h, _)| h);
    }
    let host = authority.split(':').next()?;
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        let bytes: [u8; 32] = std::array::from_fn(|i| (i * 37) as u8);
        let text = hex(&bytes);
        assert_eq!(text.len(), 64);
        assert_eq!(hex32(&text), Some(bytes));
        assert_eq!(hex32(&text.to_uppercase()), Some(bytes));
        assert_eq!(hex32(&text[1..]), None);
        assert_eq!(hex32(&format!("{}g", &text[1..])), None);
        assert_eq!(hex(&[0x0f, 0xa0]), "0fa0");
    }

    #[test]
    fn uuids_are_canonical() {
        let id = 0x0123_4567_89ab_cdef_0123_4567_89ab_cdef_u128;
        let text = uuid_string(id);
        assert_eq!(text, "01234567-89ab-cdef-0123-456789abcdef");
        assert_eq!(parse_uuid(&text), Some(id));
        assert_eq!(parse_uuid(&text.to_uppercase()), None);
        assert_eq!(parse_uuid("0123456789abcdef0123456789abcdef"), None);
    }

    #[test]
    fn url_hosts() {
        assert_eq!(
            url_host("https://cb.bank-a.example:8443/x"),
            Some("cb.bank-a.example")
        );
        assert_eq!(url_host("http://127.0.0.1:9/"), Some("127.0.0.1"));
        assert_eq!(url_host("https://[::1]:8443"), Some("::1"));
        assert_eq!(url_host("https://user@host/p?q"), Some("host"));
        assert_eq!(url_host("no-scheme"), None);
        assert_eq!(url_host("https:///path"), None);
    }
}
