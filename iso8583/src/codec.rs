//! Decoding and encoding, driven by a [`Dialect`].

use crate::dialect::{
    BinaryEncoding, BitmapEncoding, Class, Dialect, FieldSpec, LengthKind, NumericEncoding,
    PrefixEncoding,
};
use crate::error::{DecodeError, EncodeError, Part};
use crate::message::{FIELDS_MAX, Message, Mti};

/// The MTI at the start of `bytes`, if it can be read (to answer a
/// message whose fields cannot be: its response with 39=30).
pub fn peek_mti(dialect: &Dialect, bytes: &[u8]) -> Option<Mti> {
    match dialect.mti {
        NumericEncoding::Ascii => Mti::new(bytes.get(..4)?),
        NumericEncoding::Bcd => {
            let raw = bytes.get(..2)?;
            let mut digits = [0u8; 4];
            for (i, d) in digits.iter_mut().enumerate() {
                let nibble = (raw[i / 2] >> (4 * (1 - i % 2))) & 0x0f;
                if nibble > 9 {
                    return None;
                }
                *d = b'0' + nibble;
            }
            Mti::new(&digits)
        }
    }
}

/// Decodes one whole message: every byte of `bytes` must belong to it.
pub fn decode(dialect: &Dialect, bytes: &[u8]) -> Result<Message, DecodeError> {
    let (message, used) = decode_prefix(dialect, bytes)?;
    if used != bytes.len() {
        return Err(DecodeError::TrailingBytes {
            count: bytes.len() - used,
        });
    }
    Ok(message)
}

/// Decodes the message at the start of `bytes`; returns it and the number
/// of bytes it took. A [`DecodeError::Truncated`] says the bytes end inside
/// the message (for a stream without length headers, read on).
pub fn decode_prefix(dialect: &Dialect, bytes: &[u8]) -> Result<(Message, usize), DecodeError> {
    let mut r = Reader { bytes, at: 0 };
    let mti = match dialect.mti {
        NumericEncoding::Ascii => {
            let raw = r.take(Part::Mti, 4)?;
            Mti::new(raw).ok_or_else(|| DecodeError::BadMti(printable(raw)))?
        }
        NumericEncoding::Bcd => {
            let raw = r.take(Part::Mti, 2)?;
            let mut digits = [0u8; 4];
            for (i, d) in digits.iter_mut().enumerate() {
                let nibble = (raw[i / 2] >> (4 * (1 - i % 2))) & 0x0f;
                if nibble > 9 {
                    return Err(DecodeError::BadMti(format!("0x{}", hex_upper(raw))));
                }
                *d = b'0' + nibble;
            }
            Mti::new(&digits).ok_or_else(|| DecodeError::BadMti(printable(&digits)))?
        }
    };
    let primary = r.bitmap(dialect.bitmap)?;
    let secondary = if primary & (1 << 63) != 0 {
        r.bitmap(dialect.bitmap)?
    } else {
        0
    };
    let mut message = Message::with_capacity(mti, bytes.len());
    let mut value = Vec::new();
    for n in 2..=FIELDS_MAX {
        let word = if n <= 64 { primary } else { secondary };
        let bit = (n - 1) % 64;
        if word & (1 << (63 - bit)) == 0 {
            continue;
        }
        let field = n as u8;
        let spec = dialect.field(n).ok_or(DecodeError::UndefinedField(field))?;
        value.clear();
        r.field(dialect, field, spec, &mut value)?;
        message.set(n, &value);
    }
    Ok((message, r.at))
}

/// Encodes `message`, after checking every field against the dialect: a
/// field the dialect does not define, a length other than a fixed field's
/// or over a variable field's maximum, or a character its class does not
/// allow is refused, and nothing is written.
pub fn encode(dialect: &Dialect, message: &Message) -> Result<Vec<u8>, EncodeError> {
    let mut size = 4 + 32;
    for (n, v) in message.fields() {
        let field = n as u8;
        let spec = dialect.field(n).ok_or(EncodeError::UndefinedField(field))?;
        check(field, spec, v)?;
        size += 3 + 2 * v.len();
    }
    let mut out = Vec::with_capacity(size);
    match dialect.mti {
        NumericEncoding::Ascii => out.extend_from_slice(message.mti.as_bytes()),
        NumericEncoding::Bcd => bcd(&mut out, message.mti.as_bytes()),
    }
    let (mut primary, mut secondary) = (0u64, 0u64);
    for (n, _) in message.fields() {
        let bit = (n - 1) % 64;
        if n <= 64 {
            primary |= 1 << (63 - bit);
        } else {
            secondary |= 1 << (63 - bit);
        }
    }
    if message.needs_secondary() {
        primary |= 1 << 63;
    }
    write_bitmap(&mut out, dialect.bitmap, primary);
    if message.needs_secondary() {
        write_bitmap(&mut out, dialect.bitmap, secondary);
    }
    for (n, v) in message.fields() {
        let spec = dialect
            .field(n)
            .expect("every field was checked against the dialect above");
        write_field(&mut out, dialect, spec, v);
    }
    Ok(out)
}

/// The logical length of a value: digits for `x+n` (its sign not counted),
/// bytes otherwise.
fn logical_len(class: Class, value: &[u8]) -> usize {
    match class {
        Class::Xn => value.len().saturating_sub(1),
        _ => value.len(),
    }
}

fn check(field: u8, spec: &FieldSpec, value: &[u8]) -> Result<(), EncodeError> {
    let length = logical_len(spec.class, value);
    if spec.class == Class::Xn && value.is_empty() {
        // Not even the sign.
        return Err(EncodeError::WrongLength {
            field,
            length: 0,
            expected: spec.max,
        });
    }
    match spec.length {
        LengthKind::Fixed if length != spec.max => {
            return Err(EncodeError::WrongLength {
                field,
                length,
                expected: spec.max,
            });
        }
        LengthKind::LlVar | LengthKind::LllVar if length > spec.max => {
            return Err(EncodeError::TooLong {
                field,
                length,
                max: spec.max,
            });
        }
        _ => {}
    }
    if let Some(at) = value
        .iter()
        .enumerate()
        .position(|(i, b)| !spec.class.allows(i, *b))
    {
        return Err(EncodeError::BadCharacter {
            field,
            class: spec.class.name(),
            at,
            byte: value[at],
        });
    }
    Ok(())
}

fn write_bitmap(out: &mut Vec<u8>, encoding: BitmapEncoding, word: u64) {
    match encoding {
        BitmapEncoding::Binary => out.extend_from_slice(&word.to_be_bytes()),
        BitmapEncoding::Hex => out.extend_from_slice(hex_upper(&word.to_be_bytes()).as_bytes()),
    }
}

fn write_field(out: &mut Vec<u8>, dialect: &Dialect, spec: &FieldSpec, value: &[u8]) {
    let length = logical_len(spec.class, value);
    let digits = match spec.length {
        LengthKind::Fixed => 0,
        LengthKind::LlVar => 2,
        LengthKind::LllVar => 3,
    };
    if digits > 0 {
        match dialect.length_prefix {
            PrefixEncoding::Ascii => {
                let text = format!("{length:0digits$}");
                out.extend_from_slice(text.as_bytes());
            }
            PrefixEncoding::Bcd => {
                let text = format!("{length:0digits$}");
                bcd(out, text.as_bytes());
            }
            PrefixEncoding::Binary => {
                if digits == 2 {
                    out.push(length as u8);
                } else {
                    out.extend_from_slice(&(length as u16).to_be_bytes());
                }
            }
        }
    }
    let packed = dialect.numeric == NumericEncoding::Bcd;
    match spec.class {
        Class::N | Class::Z if packed => bcd(out, value),
        Class::Xn if packed => {
            out.push(value[0]);
            bcd(out, &value[1..]);
        }
        Class::B if dialect.binary == BinaryEncoding::Hex => {
            out.extend_from_slice(hex_upper(value).as_bytes());
        }
        _ => out.extend_from_slice(value),
    }
}

/// Packs ASCII digits (and `=` as the nibble D) two to a byte, an odd
/// count led by a zero nibble.
fn bcd(out: &mut Vec<u8>, digits: &[u8]) {
    let nibble = |d: u8| if d == b'=' { 0x0d } else { d - b'0' };
    let mut rest = digits;
    if digits.len() % 2 == 1 {
        out.push(nibble(digits[0]));
        rest = &digits[1..];
    }
    for pair in rest.chunks_exact(2) {
        out.push((nibble(pair[0]) << 4) | nibble(pair[1]));
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, what: Part, n: usize) -> Result<&'a [u8], DecodeError> {
        let available = self.bytes.len() - self.at;
        if n > available {
            return Err(DecodeError::Truncated {
                what,
                needed: n,
                available,
            });
        }
        let slice = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(slice)
    }

    fn bitmap(&mut self, encoding: BitmapEncoding) -> Result<u64, DecodeError> {
        match encoding {
            BitmapEncoding::Binary => {
                let raw = self.take(Part::Bitmap, 8)?;
                let mut word = [0u8; 8];
                word.copy_from_slice(raw);
                Ok(u64::from_be_bytes(word))
            }
            BitmapEncoding::Hex => {
                let raw = self.take(Part::Bitmap, 16)?;
                let mut word = 0u64;
                for b in raw {
                    let v = hex_value(*b).ok_or_else(|| {
                        DecodeError::BadBitmap(format!("{:?} is not hex", printable(raw)))
                    })?;
                    word = (word << 4) | u64::from(v);
                }
                Ok(word)
            }
        }
    }

    /// Reads field `field` into `value` (its logical content), checked.
    fn field(
        &mut self,
        dialect: &Dialect,
        field: u8,
        spec: &FieldSpec,
        value: &mut Vec<u8>,
    ) -> Result<(), DecodeError> {
        let part = Part::Field(field);
        let length = match spec.length {
            LengthKind::Fixed => spec.max,
            LengthKind::LlVar | LengthKind::LllVar => {
                let digits = if spec.length == LengthKind::LlVar {
                    2
                } else {
                    3
                };
                let length = self.prefix(dialect.length_prefix, field, digits)?;
                if length > spec.max {
                    return Err(DecodeError::TooLong {
                        field,
                        length,
                        max: spec.max,
                    });
                }
                length
            }
        };
        let packed = dialect.numeric == NumericEncoding::Bcd;
        match spec.class {
            Class::N | Class::Z if packed => {
                let raw = self.take(part, length.div_ceil(2))?;
                unpack(raw, length, spec.class == Class::Z, field, value)?;
            }
            Class::Xn if packed => {
                let sign = self.take(part, 1)?;
                value.push(sign[0]);
                let raw = self.take(part, length.div_ceil(2))?;
                unpack(raw, length, false, field, value)?;
            }
            Class::Xn => value.extend_from_slice(self.take(part, length + 1)?),
            Class::B if dialect.binary == BinaryEncoding::Hex => {
                let raw = self.take(part, 2 * length)?;
                for pair in raw.chunks_exact(2) {
                    match (hex_value(pair[0]), hex_value(pair[1])) {
                        (Some(h), Some(l)) => value.push((h << 4) | l),
                        _ => return Err(DecodeError::BadDigit { field }),
                    }
                }
            }
            _ => value.extend_from_slice(self.take(part, length)?),
        }
        if let Some(at) = value
            .iter()
            .enumerate()
            .position(|(i, b)| !spec.class.allows(i, *b))
        {
            return Err(if spec.class == Class::N {
                DecodeError::NotNumeric { field }
            } else {
                DecodeError::BadCharacter {
                    field,
                    class: spec.class.name(),
                    at,
                    byte: value[at],
                }
            });
        }
        Ok(())
    }

    fn prefix(
        &mut self,
        encoding: PrefixEncoding,
        field: u8,
        digits: usize,
    ) -> Result<usize, DecodeError> {
        let part = Part::Field(field);
        let bad = |raw: &[u8]| DecodeError::BadLengthPrefix {
            field,
            prefix: printable(raw),
        };
        match encoding {
            PrefixEncoding::Ascii => {
                let raw = self.take(part, digits)?;
                if !raw.iter().all(u8::is_ascii_digit) {
                    return Err(bad(raw));
                }
                Ok(raw
                    .iter()
                    .fold(0usize, |n, d| n * 10 + usize::from(d - b'0')))
            }
            PrefixEncoding::Bcd => {
                let raw = self.take(part, digits.div_ceil(2))?;
                let mut n = 0usize;
                for (i, b) in raw.iter().enumerate() {
                    let (h, l) = (b >> 4, b & 0x0f);
                    if h > 9 || l > 9 || (digits % 2 == 1 && i == 0 && h != 0) {
                        return Err(bad(raw));
                    }
                    n = n * 100 + usize::from(h) * 10 + usize::from(l);
                }
                Ok(n)
            }
            PrefixEncoding::Binary => {
                let raw = self.take(part, digits - 1)?;
                Ok(raw.iter().fold(0usize, |n, b| (n << 8) | usize::from(*b)))
            }
        }
    }
}

/// Unpacks `digits` BCD digits from `raw` (an odd count led by a zero
/// nibble); `z`: the nibble D is the separator `=`.
fn unpack(
    raw: &[u8],
    digits: usize,
    z: bool,
    field: u8,
    value: &mut Vec<u8>,
) -> Result<(), DecodeError> {
    let skip = digits % 2;
    for i in skip..skip + digits {
        let nibble = (raw[i / 2] >> (4 * (1 - i % 2))) & 0x0f;
        value.push(match nibble {
            0..=9 => b'0' + nibble,
            0x0d if z => b'=',
            _ => return Err(DecodeError::BadDigit { field }),
        });
    }
    if skip == 1 && raw[0] >> 4 != 0 {
        return Err(DecodeError::BadDigit { field });
    }
    Ok(())
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// Upper-case hex of `bytes`.
pub(crate) fn hex_upper(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(2 * bytes.len());
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    s
}

/// Bytes as text for an error: printable ASCII as is, the rest escaped,
/// and at most 32 of them.
fn printable(bytes: &[u8]) -> String {
    bytes
        .iter()
        .take(32)
        .flat_map(|b| std::ascii::escape_default(*b))
        .map(char::from)
        .collect()
}
