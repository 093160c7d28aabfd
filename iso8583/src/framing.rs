//! The length header that delimits messages on a TCP stream.

use serde::Deserialize;

/// How messages are delimited on a connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Framing {
    /// A 2-byte big-endian binary length before each message (the
    /// default): at most 65,535 bytes.
    #[default]
    Binary2,
    /// A 4-digit ASCII length before each message: at most 9,999 bytes.
    Ascii4,
    /// No header: a message ends where the dialect says it does (the
    /// reader decodes to find the end).
    None,
}

/// A header that cannot be read or written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("a message of {length} bytes is over the limit of {max}")]
    TooLong { length: usize, max: usize },
    #[error("length header {0:?} is not four ASCII digits")]
    BadHeader(String),
    #[error("an empty message")]
    Empty,
}

impl Framing {
    /// The header's size in bytes.
    pub fn header_len(self) -> usize {
        match self {
            Framing::Binary2 => 2,
            Framing::Ascii4 => 4,
            Framing::None => 0,
        }
    }

    /// The largest message the header can announce.
    pub fn max_len(self) -> usize {
        match self {
            Framing::Binary2 => 65_535,
            Framing::Ascii4 => 9_999,
            Framing::None => usize::MAX,
        }
    }

    /// `message` with its header before it.
    pub fn frame(self, message: &[u8]) -> Result<Vec<u8>, FrameError> {
        let length = message.len();
        if length == 0 {
            return Err(FrameError::Empty);
        }
        if length > self.max_len() {
            return Err(FrameError::TooLong {
                length,
                max: self.max_len(),
            });
        }
        let mut out = Vec::with_capacity(self.header_len() + length);
        match self {
            Framing::Binary2 => out.extend_from_slice(&(length as u16).to_be_bytes()),
            Framing::Ascii4 => out.extend_from_slice(format!("{length:04}").as_bytes()),
            Framing::None => {}
        }
        out.extend_from_slice(message);
        Ok(out)
    }

    /// The first framed message of `buf`: `Ok(Some((start, end)))` is the
    /// message `buf[start..end]` (end is also how much to consume),
    /// `Ok(None)` that more bytes are needed. A header announcing more than
    /// `limit` bytes (or zero) is an error: a peer cannot make the reader
    /// hold an unbounded buffer. For [`Framing::None`] the whole of `buf`
    /// is offered; the caller decodes it to find the end.
    pub fn split(self, buf: &[u8], limit: usize) -> Result<Option<(usize, usize)>, FrameError> {
        let header = self.header_len();
        if buf.len() < header || buf.is_empty() {
            return Ok(None);
        }
        let length = match self {
            Framing::Binary2 => usize::from(u16::from_be_bytes([buf[0], buf[1]])),
            Framing::Ascii4 => {
                let raw = &buf[..4];
                if !raw.iter().all(u8::is_ascii_digit) {
                    return Err(FrameError::BadHeader(
                        raw.iter()
                            .flat_map(|b| std::ascii::escape_default(*b))
                            .map(char::from)
                            .collect(),
                    ));
                }
                raw.iter()
                    .fold(0usize, |n, d| n * 10 + usize::from(d - b'0'))
            }
            Framing::None => return Ok(Some((0, buf.len()))),
        };
        if length == 0 {
            return Err(FrameError::Empty);
        }
        if length > limit {
            return Err(FrameError::TooLong { length, max: limit });
        }
        if buf.len() < header + length {
            return Ok(None);
        }
        Ok(Some((header, header + length)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_partial_input_asks_for_more() {
        for framing in [Framing::Binary2, Framing::Ascii4] {
            let framed = framing.frame(b"0800abc").expect("frames");
            assert_eq!(framed.len(), framing.header_len() + 7);
            for cut in 0..framed.len() {
                assert_eq!(
                    framing.split(&framed[..cut], 100),
                    Ok(None),
                    "{framing:?} {cut}"
                );
            }
            let mut two = framed.clone();
            two.extend_from_slice(&framed);
            let (start, end) = framing.split(&two, 100).expect("ok").expect("a message");
            assert_eq!(&two[start..end], b"0800abc");
            assert_eq!(end, framed.len());
        }
        assert_eq!(
            Framing::Binary2.frame(b"x").expect("frames"),
            vec![0, 1, b'x']
        );
        assert_eq!(
            Framing::Ascii4.frame(b"x").expect("frames"),
            b"0001x".to_vec()
        );
    }

    #[test]
    fn bad_or_oversized_headers_are_refused() {
        assert!(matches!(
            Framing::Ascii4.split(b"00x1abcd", 100),
            Err(FrameError::BadHeader(_))
        ));
        assert_eq!(
            Framing::Binary2.split(&[0x10, 0x00, 1, 2], 100),
            Err(FrameError::TooLong {
                length: 4096,
                max: 100
            })
        );
        assert_eq!(Framing::Binary2.split(&[0, 0], 100), Err(FrameError::Empty));
        assert_eq!(Framing::Binary2.frame(b""), Err(FrameError::Empty));
        assert!(matches!(
            Framing::Ascii4.frame(&[b'x'; 10_000]),
            Err(FrameError::TooLong { .. })
        ));
    }
}
