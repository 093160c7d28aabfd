//! A message: its MTI and the logical values of its data elements.

use std::fmt;

/// The highest data element number (with a secondary bitmap).
pub const FIELDS_MAX: usize = 128;

/// A message type indicator: four ASCII digits (version, class, function,
/// origin), "0200" for a 1987 financial request.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mti([u8; 4]);

impl Mti {
    /// Four ASCII digits, or `None`.
    pub fn new(text: &[u8]) -> Option<Mti> {
        let digits: [u8; 4] = text.try_into().ok()?;
        digits.iter().all(u8::is_ascii_digit).then_some(Mti(digits))
    }

    pub fn as_bytes(&self) -> &[u8; 4] {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored (see `new`).
        std::str::from_utf8(&self.0).unwrap_or("????")
    }

    /// The response's MTI: the function digit plus one, from the original
    /// (not the repeat) origin ("0200" and its repeat "0201" -> "0210"), or
    /// `None` for an MTI that is itself a response or an advice response.
    pub fn response(&self) -> Option<Mti> {
        let function = self.0[2] - b'0';
        if function % 2 == 1 || function >= 8 {
            return None;
        }
        let mut m = self.0;
        m[2] += 1;
        m[3] = b'0' + ((m[3] - b'0') & !1);
        Some(Mti(m))
    }
}

impl fmt::Debug for Mti {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Mti {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An ISO 8583 message: its MTI and the value of each data element present,
/// as logical content (ASCII digits for numerics, ASCII text, raw bytes for
/// binary fields), whatever the dialect. The values live in one buffer, so
/// a decode allocates once.
#[derive(Clone)]
pub struct Message {
    pub mti: Mti,
    /// (start, length) of field n in `data`; length `u32::MAX`: absent.
    spans: [(u32, u32); FIELDS_MAX + 1],
    data: Vec<u8>,
}

const ABSENT: (u32, u32) = (0, u32::MAX);

impl Message {
    /// The response to this request: its MTI's response (the MTI itself
    /// if it has none), with `echoed` copied where the request has them,
    /// and 39 (the response code) set to `code`.
    pub fn response_to(&self, echoed: &[usize], code: &str) -> Message {
        let mut r = Message::new(self.mti.response().unwrap_or(self.mti));
        for n in echoed {
            if let Some(v) = self.get(*n) {
                r.set(*n, v);
            }
        }
        r.set(39, code);
        r
    }

    pub fn new(mti: Mti) -> Message {
        Message {
            mti,
            spans: [ABSENT; FIELDS_MAX + 1],
            data: Vec::new(),
        }
    }

    /// Sets field `n` (2..=128) to `value`. The codec checks it against
    /// the dialect when it encodes.
    ///
    /// # Panics
    /// If `n` is not a data element number: that is a programming error,
    /// not input.
    pub fn set(&mut self, n: usize, value: impl AsRef<[u8]>) -> &mut Message {
        assert!(
            (2..=FIELDS_MAX).contains(&n),
            "field {n} is not a data element"
        );
        let value = value.as_ref();
        let start = self.data.len();
        self.data.extend_from_slice(value);
        self.spans[n] = (start as u32, value.len() as u32);
        self
    }

    /// Removes field `n`.
    pub fn remove(&mut self, n: usize) {
        if let Some(span) = self.spans.get_mut(n) {
            *span = ABSENT;
        }
    }

    /// Field `n`'s value, if present.
    pub fn get(&self, n: usize) -> Option<&[u8]> {
        let (start, len) = *self.spans.get(n)?;
        if len == u32::MAX {
            return None;
        }
        self.data.get(start as usize..(start + len) as usize)
    }

    /// Field `n`'s value as text, if present and UTF-8 (every class but
    /// `b` is ASCII).
    pub fn text(&self, n: usize) -> Option<&str> {
        std::str::from_utf8(self.get(n)?).ok()
    }

    pub fn has(&self, n: usize) -> bool {
        self.get(n).is_some()
    }

    /// The present fields, in order, with their values.
    pub fn fields(&self) -> impl Iterator<Item = (usize, &[u8])> {
        (2..=FIELDS_MAX).filter_map(|n| self.get(n).map(|v| (n, v)))
    }

    /// Whether any field above 64 is present (the secondary bitmap is
    /// needed).
    pub(crate) fn needs_secondary(&self) -> bool {
        (65..=FIELDS_MAX).any(|n| self.has(n))
    }

    /// Drops the values of removed or replaced fields from the buffer.
    pub fn compact(&mut self) {
        let mut fresh = Message::new(self.mti);
        for (n, v) in self.fields() {
            fresh.set(n, v);
        }
        *self = fresh;
    }

    /// Room for `bytes` of values (a decoder knows the message's size).
    pub(crate) fn with_capacity(mti: Mti, bytes: usize) -> Message {
        let mut m = Message::new(mti);
        m.data.reserve(bytes);
        m
    }
}

/// Two messages are equal when their MTIs and fields are, however their
/// values were set.
impl PartialEq for Message {
    fn eq(&self, other: &Message) -> bool {
        self.mti == other.mti && self.fields().eq(other.fields())
    }
}

impl Eq for Message {}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        m.entry(&"mti", &self.mti.as_str());
        for (n, v) in self.fields() {
            match std::str::from_utf8(v) {
                Ok(text) if v.iter().all(|b| (0x20..=0x7e).contains(b)) => m.entry(&n, &text),
                _ => m.entry(&n, &format_args!("0x{}", crate::codec::hex_upper(v))),
            };
        }
        m.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_mti_is_four_digits_and_knows_its_response() {
        assert!(Mti::new(b"020").is_none());
        assert!(Mti::new(b"02A0").is_none());
        let request = Mti::new(b"0200").expect("an MTI");
        assert_eq!(
            request.response().map(|m| m.to_string()),
            Some("0210".into())
        );
        assert_eq!(
            Mti::new(b"0420").and_then(|m| m.response()),
            Mti::new(b"0430")
        );
        assert_eq!(
            Mti::new(b"0800").and_then(|m| m.response()),
            Mti::new(b"0810")
        );
        assert_eq!(Mti::new(b"0210").and_then(|m| m.response()), None);
    }

    #[test]
    fn fields_are_set_read_replaced_and_removed() {
        let mut m = Message::new(Mti::new(b"0200").expect("mti"));
        m.set(11, "000001").set(102, "ACC-1");
        assert_eq!(m.text(11), Some("000001"));
        m.set(11, "000002");
        assert_eq!(m.text(11), Some("000002"));
        m.remove(102);
        assert!(!m.has(102));
        assert_eq!(m.fields().map(|(n, _)| n).collect::<Vec<_>>(), vec![11]);
        let before = m.clone();
        m.compact();
        assert_eq!(
            m.fields().collect::<Vec<_>>(),
            before.fields().collect::<Vec<_>>()
        );
        assert_eq!(m.get(0), None);
        assert_eq!(m.get(400), None);
    }
}
