//! What can be wrong with bytes that claim to be a message, or with a
//! message to be written.

/// Why bytes are not a message of the dialect. `field` 0 is the MTI and 1
/// the bitmaps.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("{what}: {needed} bytes needed, {available} left")]
    Truncated {
        what: Part,
        needed: usize,
        available: usize,
    },
    #[error("bad MTI {0:?}: four digits expected")]
    BadMti(String),
    #[error("bad bitmap: {0}")]
    BadBitmap(String),
    #[error("the bitmap names field {0}, which the dialect does not define")]
    UndefinedField(u8),
    #[error("field {field}: length prefix {prefix:?} is not a number")]
    BadLengthPrefix { field: u8, prefix: String },
    #[error("field {field}: length {length} over the maximum of {max}")]
    TooLong {
        field: u8,
        length: usize,
        max: usize,
    },
    #[error("field {field}: non-numeric data in an n field")]
    NotNumeric { field: u8 },
    #[error("field {field}: byte 0x{byte:02X} at {at} is not allowed in a {class} field")]
    BadCharacter {
        field: u8,
        class: &'static str,
        at: usize,
        byte: u8,
    },
    #[error("field {field}: bad BCD or hex digit")]
    BadDigit { field: u8 },
    #[error("{count} trailing bytes after the last field")]
    TrailingBytes { count: usize },
}

impl DecodeError {
    /// Whether more bytes could make the input a message (framing `none`
    /// reads on).
    pub fn is_truncated(&self) -> bool {
        matches!(self, DecodeError::Truncated { .. })
    }
}

/// The part of a message a [`DecodeError::Truncated`] ran out in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Mti,
    Bitmap,
    Field(u8),
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Part::Mti => f.write_str("MTI"),
            Part::Bitmap => f.write_str("bitmap"),
            Part::Field(n) => write!(f, "field {n}"),
        }
    }
}

/// Why a message cannot be written in the dialect. Nothing is written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("field {0} is not defined by the dialect")]
    UndefinedField(u8),
    #[error("field {field}: length {length}, but the field is fixed at {expected}")]
    WrongLength {
        field: u8,
        length: usize,
        expected: usize,
    },
    #[error("field {field}: length {length} over the maximum of {max}")]
    TooLong {
        field: u8,
        length: usize,
        max: usize,
    },
    #[error("field {field}: byte 0x{byte:02X} at {at} is not allowed in a {class} field")]
    BadCharacter {
        field: u8,
        class: &'static str,
        at: usize,
        byte: u8,
    },
}
