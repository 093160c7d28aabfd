//! ISO 8583:1987, table-driven.
//!
//! A [`Dialect`] is data: the encodings of the MTI, bitmaps, numerics,
//! length prefixes and binary fields, and the class and length of every
//! data element. Two ship with the crate ([`Dialect::ascii_1987`],
//! [`Dialect::binary_1987`], from `dialects/*.json`); a scheme loads its own
//! with [`Dialect::from_json`].
//!
//! [`decode`] turns bytes into a [`Message`] and never panics: any input is
//! either a message or a [`DecodeError`] that names the field and what is
//! wrong with it. [`encode`] checks every field against the dialect before
//! it writes a byte. [`Framing`] puts the length header of a TCP stream
//! around a message and finds messages in what a connection has read.
//!
//! The crate is pure: no I/O, no clock, no randomness.
//!
//! Architecture invariant: a field's value in a [`Message`] is its logical
//! content, whatever the dialect: ASCII digits for numerics (`n`, `z`, `x+n`
//! with its sign letter), ASCII text for text classes, raw bytes for `b`.
//! Only the codec knows the wire form, so the gateway reads and writes
//! fields the same way in every dialect.

mod codec;
mod dialect;
mod error;
mod framing;
mod message;
mod time;

pub use codec::{decode, decode_prefix, encode, peek_mti};
pub use dialect::{
    BinaryEncoding, BitmapEncoding, Class, Dialect, DialectError, FieldSpec, LengthKind,
    NumericEncoding, PrefixEncoding,
};
pub use error::{DecodeError, EncodeError, Part};
pub use framing::{FrameError, Framing};
pub use message::{FIELDS_MAX, Message, Mti};
pub use time::transmission_time;
