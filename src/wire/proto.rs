//! A minimal protobuf codec: exactly the subset Signal's messages use (varints and
//! length-delimited fields), with a borrowing reader that returns errors instead of
//! panicking.
//!
//! Hand-written rather than `prost` because the messages are four small structs and
//! the records are our own format: ~150 lines we can audit beat a derive macro plus
//! its runtime, and the reader enforces limits prost does not (no varint longer than
//! 10 bytes, no length past the end, no group wire types).

#[cfg(feature = "alloc")]
use alloc::vec::Vec;

use crate::error::DecodeError;

/// Protobuf wire types written here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireType {
    Varint,
    Len,
}

/// One decoded field: its number and value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    /// Fixed-width fields are tolerated (skipped by callers) but never used by Signal.
    Fixed,
}

/// The first byte of every record missive serializes (keys, bundles, sessions).
pub(crate) const RECORD_FORMAT_V1: u8 = 1;

/// Serializes a record: the format byte, then what `f` writes, into a zeroized buffer of
/// `capacity` bytes. Records hold secrets and a buffer that grows leaves a copy of them in
/// the block it frees, so `capacity` must be an upper bound (checked in debug builds).
#[cfg(feature = "alloc")]
pub(crate) fn write_record(
    capacity: usize,
    f: impl FnOnce(&mut Vec<u8>),
) -> zeroize::Zeroizing<Vec<u8>> {
    write_sized(capacity, |out| {
        out.push(RECORD_FORMAT_V1);
        f(out);
    })
}

/// Runs `f` on an empty zeroizing buffer made with room for `capacity` bytes, which must
/// be an upper bound on what `f` writes: a buffer that grows leaves a copy of what it held
/// in the block it frees (debug builds assert it did not grow).
#[cfg(feature = "alloc")]
pub(crate) fn write_sized(
    capacity: usize,
    f: impl FnOnce(&mut Vec<u8>),
) -> zeroize::Zeroizing<Vec<u8>> {
    let mut out = zeroize::Zeroizing::new(Vec::with_capacity(capacity));
    let reserved = out.capacity();
    f(&mut out);
    debug_assert_eq!(out.capacity(), reserved, "buffer grew: raise its bound");
    out
}

/// Checks a record's format byte and returns a reader over the protobuf after it.
pub(crate) fn open_record(bytes: &[u8]) -> Result<Reader<'_>, DecodeError> {
    let (&v, rest) = bytes.split_first().ok_or(DecodeError::Truncated)?;
    if v != RECORD_FORMAT_V1 {
        return Err(DecodeError::UnknownVersion);
    }
    Ok(Reader::new(rest))
}

/// A borrowing protobuf reader.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// Reads a base-128 varint of at most 10 bytes.
    pub(crate) fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v: u64 = 0;
        for i in 0..10u32 {
            let (&b, rest) = self.buf.split_first().ok_or(DecodeError::Truncated)?;
            self.buf = rest;
            if i == 9 && b > 1 {
                return Err(DecodeError::Malformed);
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError::Malformed)
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.buf.len() {
            return Err(DecodeError::Truncated);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    /// Reads the next field, or `None` at the end of the buffer.
    pub(crate) fn field(&mut self) -> Result<Option<(u32, Value<'a>)>, DecodeError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let number = u32::try_from(key >> 3).map_err(|_| DecodeError::Malformed)?;
        if number == 0 || number > (1 << 29) - 1 {
            return Err(DecodeError::Malformed);
        }
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                self.bytes(8)?;
                Value::Fixed
            }
            2 => {
                let len = self.varint()?;
                let len = usize::try_from(len).map_err(|_| DecodeError::Truncated)?;
                Value::Bytes(self.bytes(len)?)
            }
            5 => {
                self.bytes(4)?;
                Value::Fixed
            }
            _ => return Err(DecodeError::Malformed),
        };
        Ok(Some((number, value)))
    }
}

impl<'a> Value<'a> {
    pub(crate) fn as_u32(self) -> Result<u32, DecodeError> {
        match self {
            // prost truncates oversized uint32 varints; we refuse them instead.
            Value::Varint(v) => u32::try_from(v).map_err(|_| DecodeError::BadLength),
            _ => Err(DecodeError::Malformed),
        }
    }

    pub(crate) fn as_u64(self) -> Result<u64, DecodeError> {
        match self {
            Value::Varint(v) => Ok(v),
            _ => Err(DecodeError::Malformed),
        }
    }

    pub(crate) fn as_bool(self) -> Result<bool, DecodeError> {
        match self {
            Value::Varint(0) => Ok(false),
            Value::Varint(1) => Ok(true),
            _ => Err(DecodeError::Malformed),
        }
    }

    pub(crate) fn as_bytes(self) -> Result<&'a [u8], DecodeError> {
        match self {
            Value::Bytes(b) => Ok(b),
            _ => Err(DecodeError::Malformed),
        }
    }

    pub(crate) fn as_array<const N: usize>(self) -> Result<[u8; N], DecodeError> {
        self.as_bytes()?
            .try_into()
            .map_err(|_| DecodeError::BadLength)
    }
}

/// The length of `v`'s varint encoding: 1 to 10 bytes.
#[cfg(feature = "alloc")]
pub(crate) const fn varint_len(v: u64) -> usize {
    // One byte per started group of 7 bits; zero takes one byte.
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Appends a varint.
#[cfg(feature = "alloc")]
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[cfg(feature = "alloc")]
fn put_key(out: &mut Vec<u8>, number: u32, wire: WireType) {
    let w = match wire {
        WireType::Varint => 0,
        WireType::Len => 2,
    };
    put_varint(out, (u64::from(number) << 3) | w);
}

/// Appends a varint field.
#[cfg(feature = "alloc")]
pub(crate) fn put_uint(out: &mut Vec<u8>, number: u32, v: u64) {
    put_key(out, number, WireType::Varint);
    put_varint(out, v);
}

/// Appends a length-delimited field.
#[cfg(feature = "alloc")]
pub(crate) fn put_bytes(out: &mut Vec<u8>, number: u32, b: &[u8]) {
    put_key(out, number, WireType::Len);
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Appends a length-delimited field whose contents `f` writes (a nested message of at
/// most 256 bytes; larger ones use [`put_nested_sized`]).
#[cfg(feature = "alloc")]
pub(crate) fn put_nested(out: &mut Vec<u8>, number: u32, f: impl FnOnce(&mut Vec<u8>)) {
    put_nested_sized(out, number, 256, f);
}

/// Appends a nested message that `f` writes into a buffer made with room for `capacity`
/// bytes. The buffer may hold secrets (records nest key material): it is zeroized, and
/// `capacity` must be an upper bound, because a buffer that grows leaves a copy of what
/// it held in the block it frees.
#[cfg(feature = "alloc")]
pub(crate) fn put_nested_sized(
    out: &mut Vec<u8>,
    number: u32,
    capacity: usize,
    f: impl FnOnce(&mut Vec<u8>),
) {
    let inner = write_sized(capacity, f);
    put_bytes(out, number, &inner);
}

/// How many times field `number` occurs in `bytes` (up to the first malformed field):
/// a capacity hint, so that a decoder can size its collections before filling them
/// rather than grow them (growth leaves copies of key material in freed blocks).
#[cfg(feature = "alloc")]
pub(crate) fn count_fields(bytes: &[u8], number: u32) -> usize {
    let mut r = Reader::new(bytes);
    let mut n = 0;
    while let Ok(Some((k, _))) = r.field() {
        n += usize::from(k == number);
    }
    n
}

#[cfg(all(test, feature = "alloc"))]
mod tests;
