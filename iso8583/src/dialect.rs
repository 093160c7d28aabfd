//! A dialect: how a scheme writes ISO 8583:1987 on the wire, as data.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::message::FIELDS_MAX;

/// The longest variable-length field any dialect may define (LLLVAR: three
/// digits).
pub const VAR_MAX: usize = 999;

/// How the MTI is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NumericEncoding {
    /// One ASCII digit a byte.
    Ascii,
    /// Packed BCD: two digits a byte, an odd count led by a zero nibble.
    Bcd,
}

/// How the primary and secondary bitmaps are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BitmapEncoding {
    /// 16 hex ASCII characters a bitmap.
    Hex,
    /// 8 bytes a bitmap.
    Binary,
}

/// How the length of an LLVAR or LLLVAR field is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrefixEncoding {
    /// Two (LL) or three (LLL) ASCII digits.
    Ascii,
    /// One (LL) or two (LLL) bytes of BCD.
    Bcd,
    /// One (LL) or two (LLL, big-endian) bytes of binary.
    Binary,
}

/// How a `b` field is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BinaryEncoding {
    /// Two hex ASCII characters a byte.
    Hex,
    /// The bytes themselves.
    Raw,
}

/// The data class of a field, as the 1987 table names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// Digits only.
    N,
    /// Letters (and space padding).
    A,
    /// Letters and digits (and space padding).
    An,
    /// Any printable ASCII character, space included.
    Ans,
    /// Digits and special characters (printable ASCII but letters).
    Ns,
    /// Binary data; lengths count bytes.
    B,
    /// Track 2 and 3 code set: digits and the separator `=`.
    Z,
    /// `x+n`: the sign `C` (credit) or `D` (debit), then the digits; the
    /// length counts the digits.
    Xn,
}

impl Class {
    /// Whether `byte` may appear at `index` of a value of this class.
    pub(crate) fn allows(self, index: usize, byte: u8) -> bool {
        match self {
            Class::N => byte.is_ascii_digit(),
            Class::A => byte.is_ascii_alphabetic() || byte == b' ',
            Class::An => byte.is_ascii_alphanumeric() || byte == b' ',
            Class::Ans => (0x20..=0x7e).contains(&byte),
            Class::Ns => (0x20..=0x7e).contains(&byte) && !byte.is_ascii_alphabetic(),
            Class::B => true,
            Class::Z => byte.is_ascii_digit() || byte == b'=',
            Class::Xn if index == 0 => byte == b'C' || byte == b'D',
            Class::Xn => byte.is_ascii_digit(),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Class::N => "n",
            Class::A => "a",
            Class::An => "an",
            Class::Ans => "ans",
            Class::Ns => "ns",
            Class::B => "b",
            Class::Z => "z",
            Class::Xn => "x+n",
        }
    }
}

/// Fixed or variable length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum LengthKind {
    #[serde(rename = "fixed")]
    Fixed,
    #[serde(rename = "LLVAR")]
    LlVar,
    #[serde(rename = "LLLVAR")]
    LllVar,
}

/// One data element.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    pub name: String,
    pub class: Class,
    pub length: LengthKind,
    /// The length of a fixed field, the maximum of a variable one: digits
    /// for `n`, `z` and `x+n` (the sign not counted), bytes for `b`,
    /// characters otherwise.
    pub max: usize,
}

/// The dialect file, as read.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DialectFile {
    name: String,
    #[serde(default)]
    about: String,
    mti: NumericEncoding,
    bitmap: BitmapEncoding,
    numeric: NumericEncoding,
    length_prefix: PrefixEncoding,
    binary: BinaryEncoding,
    fields: BTreeMap<String, FieldSpec>,
}

/// A dialect that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DialectError {
    #[error("the dialect is not valid JSON of the expected shape: {0}")]
    Json(String),
    #[error("field {0:?}: not a data element number (2 to 128)")]
    Number(String),
    #[error("field {field}: {reason}")]
    Field { field: u8, reason: String },
}

/// How a scheme writes ISO 8583:1987. Built from data
/// ([`Dialect::from_json`]) and checked once, so that the codec can trust
/// it.
#[derive(Clone, Debug)]
pub struct Dialect {
    pub name: String,
    pub about: String,
    pub mti: NumericEncoding,
    pub bitmap: BitmapEncoding,
    pub numeric: NumericEncoding,
    pub length_prefix: PrefixEncoding,
    pub binary: BinaryEncoding,
    /// Index n: data element n (0 and 1, the MTI and the secondary bitmap,
    /// are never here).
    fields: Vec<Option<FieldSpec>>,
}

impl Dialect {
    /// ISO 8583:1987 in ASCII with hex-ASCII bitmaps
    /// (`dialects/ascii-1987.json`).
    pub fn ascii_1987() -> Dialect {
        Dialect::from_json(include_str!("../dialects/ascii-1987.json"))
            .expect("the shipped ASCII dialect is valid (tested)")
    }

    /// ISO 8583:1987 with binary bitmaps and BCD numerics
    /// (`dialects/binary-1987.json`).
    pub fn binary_1987() -> Dialect {
        Dialect::from_json(include_str!("../dialects/binary-1987.json"))
            .expect("the shipped binary dialect is valid (tested)")
    }

    /// Reads and checks a dialect: every field number in 2..=128, and a
    /// length the encodings can write (a fixed length of at least 1, a
    /// variable maximum of at most 99 for LLVAR and 999 for LLLVAR).
    pub fn from_json(text: &str) -> Result<Dialect, DialectError> {
        let file: DialectFile =
            serde_json::from_str(text).map_err(|e| DialectError::Json(e.to_string()))?;
        let mut fields: Vec<Option<FieldSpec>> = vec![None; FIELDS_MAX + 1];
        for (key, spec) in file.fields {
            let n: u8 = key
                .parse()
                .ok()
                .filter(|n| (2..=FIELDS_MAX as u8).contains(n))
                .ok_or_else(|| DialectError::Number(key.clone()))?;
            let bad = |reason: &str| DialectError::Field {
                field: n,
                reason: reason.to_string(),
            };
            let limit = match spec.length {
                LengthKind::Fixed => VAR_MAX,
                LengthKind::LlVar => 99,
                LengthKind::LllVar => VAR_MAX,
            };
            if spec.max == 0 || spec.max > limit {
                return Err(bad(&format!(
                    "a length of {} where 1 to {limit} can be written",
                    spec.max
                )));
            }
            fields[n as usize] = Some(spec);
        }
        Ok(Dialect {
            name: file.name,
            about: file.about,
            mti: file.mti,
            bitmap: file.bitmap,
            numeric: file.numeric,
            length_prefix: file.length_prefix,
            binary: file.binary,
            fields,
        })
    }

    /// Data element `n`, if the dialect defines it.
    pub fn field(&self, n: usize) -> Option<&FieldSpec> {
        self.fields.get(n).and_then(Option::as_ref)
    }

    /// Every data element the dialect defines, in order.
    pub fn fields(&self) -> impl Iterator<Item = (u8, &FieldSpec)> {
        self.fields
            .iter()
            .enumerate()
            .filter_map(|(n, f)| f.as_ref().map(|f| (n as u8, f)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_dialects_load_and_define_the_1987_elements() {
        for d in [Dialect::ascii_1987(), Dialect::binary_1987()] {
            // 2..=128 but 65 (the tertiary bitmap's bit in 1987).
            assert_eq!(d.fields().count(), 126, "{}", d.name);
            assert!(d.field(65).is_none());
            let f4 = d.field(4).expect("field 4");
            assert_eq!(
                (f4.class, f4.length, f4.max),
                (Class::N, LengthKind::Fixed, 12)
            );
            let f102 = d.field(102).expect("field 102");
            assert_eq!(
                (f102.class, f102.length, f102.max),
                (Class::Ans, LengthKind::LlVar, 28)
            );
        }
    }

    #[test]
    fn a_dialect_that_cannot_be_written_is_refused() {
        let base = |fields: &str| {
            format!(
                r#"{{"name":"x","mti":"ascii","bitmap":"hex","numeric":"ascii","length_prefix":"ascii","binary":"hex","fields":{fields}}}"#
            )
        };
        assert!(Dialect::from_json(&base("{}")).is_ok());
        for (fields, want) in [
            (
                r#"{"1":{"name":"b","class":"b","length":"fixed","max":8}}"#,
                "not a data element",
            ),
            (
                r#"{"129":{"name":"x","class":"n","length":"fixed","max":1}}"#,
                "not a data element",
            ),
            (
                r#"{"2":{"name":"x","class":"n","length":"LLVAR","max":100}}"#,
                "1 to 99",
            ),
            (
                r#"{"2":{"name":"x","class":"n","length":"LLLVAR","max":1000}}"#,
                "1 to 999",
            ),
            (
                r#"{"2":{"name":"x","class":"n","length":"fixed","max":0}}"#,
                "1 to 999",
            ),
            (
                r#"{"2":{"name":"x","class":"q","length":"fixed","max":1}}"#,
                "expected shape",
            ),
        ] {
            let e = Dialect::from_json(&base(fields)).expect_err(fields);
            assert!(e.to_string().contains(want), "{fields}: {e}");
        }
    }
}
