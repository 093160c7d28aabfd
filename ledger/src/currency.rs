//! ISO 4217 currencies and the conversion of decimal amounts to the
//! ledger's units.
//!
//! The ledger keeps every balance as an `i128` count of a unit of
//! `10^-scale` of the currency, where the scale is fixed when the currency
//! is enabled: [`AMOUNT_SCALE`] (four) decimals, or the ISO 4217 minor unit
//! if that is finer, for a currency enabled by this build; the ISO minor
//! unit (cents for USD, whole units for UGX, fils for KWD) for one enabled
//! before. Amounts arrive as [`rust_decimal::Decimal`] and are converted
//! exactly, once, at the edge of the ledger; a value that cannot be
//! represented at the scale is rejected, never rounded.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::LedgerError;

/// Largest number of integer (major-unit) digits an amount may have. FSPIOP
/// allows up to 18; so do we.
pub const AMOUNT_MAX_INTEGER_DIGITS: u32 = 18;

/// The decimals the ledger keeps amounts at, at least, in a currency
/// enabled by this build: four, as FSPIOP's Amount type allows and
/// Mojaloop's central-ledger keeps (its AMOUNT.SCALE), whatever the
/// currency's ISO minor unit. A currency enabled by an earlier build keeps
/// its ISO minor unit (the record that enabled it says which).
pub const AMOUNT_SCALE: u32 = 4;

/// The finest scale a currency may be enabled with.
pub const AMOUNT_SCALE_MAX: u32 = 8;

/// An ISO 4217 alphabetic currency code known to have a minor unit.
///
/// Construct it with [`Currency::parse`]; a `Currency` value is therefore
/// always a code from the ISO 4217 table below.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    /// Parses an upper-case ISO 4217 alphabetic code ("USD", "KES").
    pub fn parse(code: &str) -> Result<Currency, LedgerError> {
        let bytes = code.as_bytes();
        if bytes.len() != 3 || !bytes.iter().all(u8::is_ascii_uppercase) {
            return Err(LedgerError::UnknownCurrency(
                code.chars().take(16).collect(),
            ));
        }
        let c = Currency([bytes[0], bytes[1], bytes[2]]);
        if iso_scale(c.0).is_none() {
            return Err(LedgerError::UnknownCurrency(code.to_string()));
        }
        Ok(c)
    }

    /// A valid currency for filling memory that holds no real record.
    pub(crate) fn placeholder() -> Currency {
        Currency(*b"XXX")
    }

    /// The three-letter code.
    pub fn as_str(&self) -> &str {
        // Only ASCII upper-case letters are ever stored (see `parse`).
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// The code as raw bytes, for digests and compact encodings.
    pub fn as_bytes(&self) -> [u8; 3] {
        self.0
    }

    /// The ISO 4217 numeric code (840 for USD, 404 for KES), as ISO 8583
    /// carries currencies.
    pub fn numeric(&self) -> u16 {
        // `parse` guarantees the code is in the table.
        ISO_4217
            .binary_search_by(|(c, _, _)| (**c).cmp(&self.0))
            .map(|i| ISO_4217[i].2)
            .unwrap_or(0)
    }

    /// The currency of an ISO 4217 numeric code ("404" -> KES).
    pub fn from_numeric(code: u16) -> Result<Currency, LedgerError> {
        ISO_4217
            .iter()
            .find(|(_, _, n)| *n == code)
            .map(|(c, _, _)| Currency(**c))
            .ok_or_else(|| LedgerError::UnknownCurrency(format!("{code:03}")))
    }

    /// Number of decimal places of the minor unit (2 for USD, 0 for UGX).
    pub fn scale(&self) -> u32 {
        // `parse` guarantees the code is in the table.
        iso_scale(self.0).unwrap_or(0)
    }

    /// The scale the ledger keeps a currency's amounts at when the
    /// currency is enabled now: its ISO 4217 minor unit, or
    /// [`AMOUNT_SCALE`] decimals if that is finer (as Mojaloop's hub
    /// takes amounts of up to four decimals in every currency).
    pub fn ledger_scale(&self) -> u32 {
        self.scale().max(AMOUNT_SCALE)
    }

    /// Converts a decimal amount to a count of units of `10^-scale`.
    ///
    /// Rejects (with [`LedgerError::InvalidAmount`]) zero, negative values,
    /// values with more decimals than `scale`, and values with more than
    /// [`AMOUNT_MAX_INTEGER_DIGITS`] integer digits. Trailing zeros are
    /// accepted ("10.50" and "10.5" are the same USD amount).
    pub fn to_units(&self, amount: Decimal, scale: u32) -> Result<i128, LedgerError> {
        assert!(scale <= AMOUNT_SCALE_MAX, "a scale the ledger keeps");
        let invalid = |reason: String| LedgerError::InvalidAmount { amount, reason };
        if amount.is_sign_negative() || amount.is_zero() {
            return Err(invalid("amount must be greater than zero".into()));
        }
        let mantissa = amount.mantissa();
        let given = amount.scale();
        let units = if given <= scale {
            mantissa * 10_i128.pow(scale - given)
        } else {
            let divisor = 10_i128.pow(given - scale);
            if mantissa % divisor != 0 {
                return Err(invalid(format!(
                    "{} allows at most {} decimal places",
                    self.as_str(),
                    scale
                )));
            }
            mantissa / divisor
        };
        if units >= 10_i128.pow(AMOUNT_MAX_INTEGER_DIGITS + scale) {
            return Err(invalid(format!(
                "amount has more than {AMOUNT_MAX_INTEGER_DIGITS} integer digits"
            )));
        }
        Ok(units)
    }

    /// Converts a signed count of units of `10^-scale` back to a decimal,
    /// written with the currency's ISO decimals unless it needs more
    /// ("12.30" for 1230 cents, and for 123000 units of 10^-4 USD;
    /// "60.1234" for 601234 of them).
    pub fn from_units(&self, units: i128, scale: u32) -> Decimal {
        // Balances are bounded far below Decimal's 96-bit mantissa: every
        // amount is < 10^(18+scale) and a balance would need more than 10^6
        // maximal transfers to exceed 10^28. Saturate rather than panic.
        let Ok(exact) = Decimal::try_from_i128_with_scale(units, scale) else {
            return if units < 0 {
                Decimal::MIN
            } else {
                Decimal::MAX
            };
        };
        let mut shown = exact.normalize();
        if shown.scale() < self.scale() {
            shown.rescale(self.scale());
        }
        shown
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for Currency {
    type Error = LedgerError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Currency::parse(&s)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.as_str().to_string()
    }
}

/// ISO 4217 active codes with their minor units and numeric codes (list
/// one, 2024 edition).
/// Funds codes and precious metals without a minor unit are left out: they
/// cannot be transferred through the switch.
#[rustfmt::skip]
const ISO_4217: &[(&[u8; 3], u8, u16)] = &[
    (b"AED", 2, 784), (b"AFN", 2, 971), (b"ALL", 2, 8), (b"AMD", 2, 51),
    (b"ANG", 2, 532), (b"AOA", 2, 973), (b"ARS", 2, 32), (b"AUD", 2, 36),
    (b"AWG", 2, 533), (b"AZN", 2, 944), (b"BAM", 2, 977), (b"BBD", 2, 52),
    (b"BDT", 2, 50), (b"BGN", 2, 975), (b"BHD", 3, 48), (b"BIF", 0, 108),
    (b"BMD", 2, 60), (b"BND", 2, 96), (b"BOB", 2, 68), (b"BRL", 2, 986),
    (b"BSD", 2, 44), (b"BTN", 2, 64), (b"BWP", 2, 72), (b"BYN", 2, 933),
    (b"BZD", 2, 84), (b"CAD", 2, 124), (b"CDF", 2, 976), (b"CHF", 2, 756),
    (b"CLF", 4, 990), (b"CLP", 0, 152), (b"CNY", 2, 156), (b"COP", 2, 170),
    (b"CRC", 2, 188), (b"CUP", 2, 192), (b"CVE", 2, 132), (b"CZK", 2, 203),
    (b"DJF", 0, 262), (b"DKK", 2, 208), (b"DOP", 2, 214), (b"DZD", 2, 12),
    (b"EGP", 2, 818), (b"ERN", 2, 232), (b"ETB", 2, 230), (b"EUR", 2, 978),
    (b"FJD", 2, 242), (b"FKP", 2, 238), (b"GBP", 2, 826), (b"GEL", 2, 981),
    (b"GHS", 2, 936), (b"GIP", 2, 292), (b"GMD", 2, 270), (b"GNF", 0, 324),
    (b"GTQ", 2, 320), (b"GYD", 2, 328), (b"HKD", 2, 344), (b"HNL", 2, 340),
    (b"HTG", 2, 332), (b"HUF", 2, 348), (b"IDR", 2, 360), (b"ILS", 2, 376),
    (b"INR", 2, 356), (b"IQD", 3, 368), (b"IRR", 2, 364), (b"ISK", 0, 352),
    (b"JMD", 2, 388), (b"JOD", 3, 400), (b"JPY", 0, 392), (b"KES", 2, 404),
    (b"KGS", 2, 417), (b"KHR", 2, 116), (b"KMF", 0, 174), (b"KPW", 2, 408),
    (b"KRW", 0, 410), (b"KWD", 3, 414), (b"KYD", 2, 136), (b"KZT", 2, 398),
    (b"LAK", 2, 418), (b"LBP", 2, 422), (b"LKR", 2, 144), (b"LRD", 2, 430),
    (b"LSL", 2, 426), (b"LYD", 3, 434), (b"MAD", 2, 504), (b"MDL", 2, 498),
    (b"MGA", 2, 969), (b"MKD", 2, 807), (b"MMK", 2, 104), (b"MNT", 2, 496),
    (b"MOP", 2, 446), (b"MRU", 2, 929), (b"MUR", 2, 480), (b"MVR", 2, 462),
    (b"MWK", 2, 454), (b"MXN", 2, 484), (b"MYR", 2, 458), (b"MZN", 2, 943),
    (b"NAD", 2, 516), (b"NGN", 2, 566), (b"NIO", 2, 558), (b"NOK", 2, 578),
    (b"NPR", 2, 524), (b"NZD", 2, 554), (b"OMR", 3, 512), (b"PAB", 2, 590),
    (b"PEN", 2, 604), (b"PGK", 2, 598), (b"PHP", 2, 608), (b"PKR", 2, 586),
    (b"PLN", 2, 985), (b"PYG", 0, 600), (b"QAR", 2, 634), (b"RON", 2, 946),
    (b"RSD", 2, 941), (b"RUB", 2, 643), (b"RWF", 0, 646), (b"SAR", 2, 682),
    (b"SBD", 2, 90), (b"SCR", 2, 690), (b"SDG", 2, 938), (b"SEK", 2, 752),
    (b"SGD", 2, 702), (b"SHP", 2, 654), (b"SLE", 2, 925), (b"SOS", 2, 706),
    (b"SRD", 2, 968), (b"SSP", 2, 728), (b"STN", 2, 930), (b"SVC", 2, 222),
    (b"SYP", 2, 760), (b"SZL", 2, 748), (b"THB", 2, 764), (b"TJS", 2, 972),
    (b"TMT", 2, 934), (b"TND", 3, 788), (b"TOP", 2, 776), (b"TRY", 2, 949),
    (b"TTD", 2, 780), (b"TWD", 2, 901), (b"TZS", 2, 834), (b"UAH", 2, 980),
    (b"UGX", 0, 800), (b"USD", 2, 840), (b"UYI", 0, 940), (b"UYU", 2, 858),
    (b"UYW", 4, 927), (b"UZS", 2, 860), (b"VED", 2, 926), (b"VES", 2, 928),
    (b"VND", 0, 704), (b"VUV", 0, 548), (b"WST", 2, 882), (b"XAF", 0, 950),
    (b"XCD", 2, 951), (b"XOF", 0, 952), (b"XPF", 0, 953), (b"YER", 2, 886),
    (b"ZAR", 2, 710), (b"ZMW", 2, 967), (b"ZWG", 2, 924),
];

fn iso_scale(code: [u8; 3]) -> Option<u32> {
    ISO_4217
        .binary_search_by(|(c, _, _)| (**c).cmp(&code))
        .ok()
        .map(|i| u32::from(ISO_4217[i].1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).expect("test literal")
    }

    #[test]
    fn table_is_sorted_so_binary_search_works() {
        assert!(ISO_4217.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn numeric_codes_are_unique_and_map_both_ways() {
        let mut numbers: Vec<u16> = ISO_4217.iter().map(|(_, _, n)| *n).collect();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(numbers.len(), ISO_4217.len());
        for (code, _, n) in ISO_4217 {
            let c = Currency::parse(std::str::from_utf8(*code).expect("ascii")).expect("parses");
            assert_eq!(c.numeric(), *n);
            assert_eq!(Currency::from_numeric(*n).ok(), Some(c));
        }
        assert_eq!(Currency::parse("KES").map(|c| c.numeric()).ok(), Some(404));
        assert_eq!(Currency::parse("USD").map(|c| c.numeric()).ok(), Some(840));
        assert_eq!(
            Currency::from_numeric(999).map_err(|e| e.code()).err(),
            Some(3100)
        );
    }

    #[test]
    fn parse_accepts_iso_codes_and_rejects_others() {
        assert_eq!(Currency::parse("USD").map(|c| c.scale()).ok(), Some(2));
        assert_eq!(Currency::parse("UGX").map(|c| c.scale()).ok(), Some(0));
        assert_eq!(Currency::parse("KWD").map(|c| c.scale()).ok(), Some(3));
        for bad in ["usd", "US", "USDD", "XYZ", "", "XAU", "US1"] {
            let err = Currency::parse(bad).expect_err(bad);
            assert_eq!(err.code(), 3100, "{bad}");
        }
    }

    #[test]
    fn to_units_is_exact() {
        let usd = Currency::parse("USD").expect("USD");
        assert_eq!(usd.to_units(d("10"), 2).ok(), Some(1000));
        assert_eq!(usd.to_units(d("10.5"), 2).ok(), Some(1050));
        assert_eq!(usd.to_units(d("10.50"), 2).ok(), Some(1050));
        assert_eq!(usd.to_units(d("10.5000"), 2).ok(), Some(1050));
        assert_eq!(usd.to_units(d("0.01"), 2).ok(), Some(1));
        assert_eq!(usd.to_units(d("60.1234"), 4).ok(), Some(601234));
        assert_eq!(usd.to_units(d("10.5"), 4).ok(), Some(105000));
        let ugx = Currency::parse("UGX").expect("UGX");
        assert_eq!(ugx.to_units(d("5000"), 0).ok(), Some(5000));
        assert_eq!(ugx.to_units(d("0.5"), 4).ok(), Some(5000));
    }

    #[test]
    fn to_units_rejects_bad_amounts() {
        let usd = Currency::parse("USD").expect("USD");
        let ugx = Currency::parse("UGX").expect("UGX");
        for (c, a, scale) in [
            (usd, "0", 2),
            (usd, "0.00", 2),
            (usd, "-1", 2),
            (usd, "-0.01", 2),
            (usd, "0.001", 2),
            (usd, "10.555", 2),
            (ugx, "0.5", 0),
            (usd, "1000000000000000000", 2),
            (usd, "0.00001", 4),
            (usd, "1000000000000000000", 4),
        ] {
            let err = c.to_units(d(a), scale).expect_err(a);
            assert_eq!(err.code(), 3100, "{a}");
        }
        assert!(usd.to_units(d("999999999999999999.99"), 2).is_ok());
        assert!(usd.to_units(d("999999999999999999.9999"), 4).is_ok());
    }

    #[test]
    fn from_units_round_trips_and_shows_the_iso_decimals() {
        let kwd = Currency::parse("KWD").expect("KWD");
        assert_eq!(kwd.from_units(1234, 3).to_string(), "1.234");
        assert_eq!(kwd.from_units(-5, 3).to_string(), "-0.005");
        assert_eq!(
            kwd.to_units(kwd.from_units(987654, 3), 3).ok(),
            Some(987654)
        );
        let usd = Currency::parse("USD").expect("USD");
        assert_eq!(usd.from_units(123000, 4).to_string(), "12.30");
        assert_eq!(usd.from_units(601234, 4).to_string(), "60.1234");
        assert_eq!(usd.from_units(601230, 4).to_string(), "60.123");
        assert_eq!(usd.from_units(0, 4).to_string(), "0.00");
        assert_eq!(
            usd.to_units(usd.from_units(601234, 4), 4).ok(),
            Some(601234)
        );
        let ugx = Currency::parse("UGX").expect("UGX");
        assert_eq!(ugx.from_units(50_000_000, 4).to_string(), "5000");
        assert_eq!(ugx.ledger_scale(), 4);
        assert_eq!(kwd.ledger_scale(), 4);
    }
}
