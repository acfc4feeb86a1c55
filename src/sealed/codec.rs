//! Protobuf reading for the sealed-sender messages.
//!
//! `crate::wire::proto::Reader` skips fixed-width fields; the sender certificate's expiry
//! is a `fixed64`, so this module reads with its own small cursor that keeps them. Same
//! limits: varints of at most 10 bytes, no length past the end, no group wire types.

use crate::error::DecodeError;
use crate::wire::proto::varint_len;

/// One field's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Field<'a> {
    Varint(u64),
    Fixed64([u8; 8]),
    Fixed32,
    Bytes(&'a [u8]),
}

/// A borrowing cursor over protobuf bytes.
pub(super) struct Cursor<'a> {
    buf: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Cursor { buf }
    }

    /// What is left.
    pub(super) fn rest(&self) -> &'a [u8] {
        self.buf
    }

    /// A base-128 varint of at most 10 bytes.
    pub(super) fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v: u64 = 0;
        for i in 0..10u32 {
            let b = self.byte()?;
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

    /// A varint in its shortest encoding (libsignal refuses `0x81 0x00` for 1 in a v2
    /// message's recipient count).
    pub(super) fn minimal_varint(&mut self) -> Result<u64, DecodeError> {
        let before = self.buf.len();
        let v = self.varint()?;
        let used = before - self.buf.len();
        if used != varint_len(v) {
            return Err(DecodeError::Malformed);
        }
        Ok(v)
    }

    pub(super) fn byte(&mut self) -> Result<u8, DecodeError> {
        let (&b, rest) = self.buf.split_first().ok_or(DecodeError::Truncated)?;
        self.buf = rest;
        Ok(b)
    }

    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.buf.len() {
            return Err(DecodeError::Truncated);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    pub(super) fn array<const N: usize>(&mut self) -> Result<&'a [u8; N], DecodeError> {
        self.take(N)?.try_into().map_err(|_| DecodeError::Truncated)
    }

    /// The next field, or `None` at the end.
    pub(super) fn field(&mut self) -> Result<Option<(u32, Field<'a>)>, DecodeError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let number = u32::try_from(key >> 3).map_err(|_| DecodeError::Malformed)?;
        if number == 0 || number > (1 << 29) - 1 {
            return Err(DecodeError::Malformed);
        }
        let value = match key & 7 {
            0 => Field::Varint(self.varint()?),
            1 => Field::Fixed64(*self.array::<8>()?),
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| DecodeError::Truncated)?;
                Field::Bytes(self.take(len)?)
            }
            5 => {
                self.take(4)?;
                Field::Fixed32
            }
            _ => return Err(DecodeError::Malformed),
        };
        Ok(Some((number, value)))
    }
}

impl<'a> Field<'a> {
    pub(super) fn bytes(self) -> Result<&'a [u8], DecodeError> {
        match self {
            Field::Bytes(b) => Ok(b),
            _ => Err(DecodeError::Malformed),
        }
    }

    /// A `uint32`. libsignal (prost) keeps the low 32 bits of a longer varint; missive
    /// refuses it, as everywhere else in the crate.
    pub(super) fn u32(self) -> Result<u32, DecodeError> {
        match self {
            Field::Varint(v) => u32::try_from(v).map_err(|_| DecodeError::BadLength),
            _ => Err(DecodeError::Malformed),
        }
    }

    pub(super) fn fixed64(self) -> Result<u64, DecodeError> {
        match self {
            Field::Fixed64(b) => Ok(u64::from_le_bytes(b)),
            _ => Err(DecodeError::Malformed),
        }
    }

    /// A protobuf `string`: valid UTF-8 (libsignal refuses anything else).
    pub(super) fn string(self) -> Result<&'a str, DecodeError> {
        core::str::from_utf8(self.bytes()?).map_err(|_| DecodeError::Malformed)
    }
}

/// Appends a `fixed64` field.
pub(super) fn put_fixed64(out: &mut alloc::vec::Vec<u8>, number: u32, v: u64) {
    crate::wire::proto::put_varint(out, (u64::from(number) << 3) | 1);
    out.extend_from_slice(&v.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(bytes: &[u8]) -> Result<alloc::vec::Vec<(u32, Field<'_>)>, DecodeError> {
        let mut c = Cursor::new(bytes);
        let mut out = alloc::vec::Vec::new();
        while let Some(f) = c.field()? {
            out.push(f);
        }
        Ok(out)
    }

    /// Ten bytes at most, the tenth holding only bit 63; the shortest form where asked.
    #[test]
    fn varints_of_ten_bytes_at_most() {
        let mut max = [0xffu8; 10];
        max[9] = 0x01;
        assert_eq!(Cursor::new(&max).varint(), Ok(u64::MAX));
        for last in [0x02, 0x7f, 0x81] {
            max[9] = last;
            assert_eq!(
                Cursor::new(&max).varint(),
                Err(DecodeError::Malformed),
                "{last}"
            );
        }
        assert_eq!(
            Cursor::new(&[0x80; 11]).varint(),
            Err(DecodeError::Malformed)
        );
        assert_eq!(
            Cursor::new(&[0x80, 0x80]).varint(),
            Err(DecodeError::Truncated)
        );
        assert_eq!(Cursor::new(&[0x81, 0x00]).varint(), Ok(1));
        assert_eq!(
            Cursor::new(&[0x81, 0x00]).minimal_varint(),
            Err(DecodeError::Malformed)
        );
        assert_eq!(Cursor::new(&[0x81, 0x01]).minimal_varint(), Ok(129));
    }

    /// Field numbers 1 to 2^29 − 1; each wire type protobuf still has, and no group.
    #[test]
    fn field_numbers_and_wire_types() {
        let key = |number: u64, wire: u64| {
            let mut k = alloc::vec::Vec::new();
            crate::wire::proto::put_varint(&mut k, (number << 3) | wire);
            k
        };
        let mut top = key((1 << 29) - 1, 0);
        top.push(7);
        assert_eq!(
            fields(&top),
            Ok(alloc::vec![((1 << 29) - 1, Field::Varint(7))])
        );
        for number in [0, 1 << 29, u64::from(u32::MAX)] {
            let mut k = key(number, 0);
            k.push(7);
            assert_eq!(fields(&k), Err(DecodeError::Malformed), "{number}");
        }
        let mut all = key(1, 1);
        all.extend_from_slice(&5u64.to_le_bytes());
        all.extend_from_slice(&key(2, 5));
        all.extend_from_slice(&[1, 2, 3, 4]);
        all.extend_from_slice(&key(3, 2));
        all.extend_from_slice(&[2, 0xaa, 0xbb]);
        assert_eq!(
            fields(&all),
            Ok(alloc::vec![
                (1, Field::Fixed64(5u64.to_le_bytes())),
                (2, Field::Fixed32),
                (3, Field::Bytes(&[0xaa, 0xbb])),
            ])
        );
        // A fixed32 cut short, and the group wire types.
        let mut short = key(2, 5);
        short.extend_from_slice(&[1, 2, 3]);
        assert_eq!(fields(&short), Err(DecodeError::Truncated));
        for wire in [3, 4, 6, 7] {
            assert_eq!(fields(&key(1, wire)), Err(DecodeError::Malformed), "{wire}");
        }
    }

    #[test]
    fn a_fixed64_field_reads_back() {
        let mut out = alloc::vec::Vec::new();
        put_fixed64(&mut out, 3, 0x0102_0304_0506_0708);
        assert_eq!(out[0], 3 << 3 | 1);
        let f = fields(&out).unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].0, 3);
        assert_eq!(f[0].1.fixed64(), Ok(0x0102_0304_0506_0708));
    }
}
