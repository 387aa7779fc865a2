//! A tiny, explicit binary encoding for the formats that are signed, hashed or bound
//! into AEAD associated data. Hand-written on purpose: these bytes are frozen by golden
//! tests, and a serializer upgrade must never be able to change them.

use thiserror::Error;

/// A binary input ended early, had trailing bytes, or held an out-of-range value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("malformed binary encoding: {0}")]
pub struct DecodeError(pub &'static str);

/// Appends big-endian integers and length-prefixed byte strings.
#[derive(Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn with_capacity(n: usize) -> Self {
        Self { buf: Vec::with_capacity(n) }
    }
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.buf.capacity()
    }
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// Raw bytes whose length the reader knows (fixed-size ids, keys, nonces).
    pub fn fixed(&mut self, v: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(v);
        self
    }
    /// Bytes prefixed with a u32 length.
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.u32(u32::try_from(v.len()).expect("field shorter than 4 GiB"));
        self.buf.extend_from_slice(v);
        self
    }
    /// An unsigned LEB128 integer (7 bits a byte, low bits first): small numbers in one
    /// byte. [`varint_len`] says how many.
    pub fn varint(&mut self, mut v: u64) -> &mut Self {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
        self
    }
    /// Bytes prefixed with their length as a [`Writer::varint`].
    pub fn var_bytes(&mut self, v: &[u8]) -> &mut Self {
        self.varint(v.len() as u64);
        self.buf.extend_from_slice(v);
        self
    }
    /// A short string (≤ 255 bytes), prefixed with a u8 length.
    pub fn short_str(&mut self, v: &str) -> &mut Self {
        let len = u8::try_from(v.len()).expect("short string ≤ 255 bytes");
        self.u8(len);
        self.buf.extend_from_slice(v.as_bytes());
        self
    }
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }
}

/// How many bytes [`Writer::varint`] writes for `v`.
pub fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Reads what [`Writer`] wrote, refusing short input.
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }
    pub fn fixed(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError("input too short"));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let s = self.fixed(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.fixed(1)?[0])
    }
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    pub fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.u32()? as usize;
        self.fixed(n)
    }
    /// What [`Writer::varint`] wrote; an overlong or over-wide encoding is an error, so
    /// a number has exactly one encoding.
    pub fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = self.u8()?;
            if i == 9 && b > 1 {
                return Err(DecodeError("varint over 64 bits"));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                if b == 0 && i > 0 {
                    return Err(DecodeError("varint not in its shortest form"));
                }
                return Ok(v);
            }
        }
        Err(DecodeError("varint over 64 bits"))
    }
    /// What [`Writer::var_bytes`] wrote.
    pub fn var_bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = usize::try_from(self.varint()?).map_err(|_| DecodeError("length"))?;
        self.fixed(n)
    }
    pub fn short_str(&mut self) -> Result<&'a str, DecodeError> {
        let n = self.u8()? as usize;
        std::str::from_utf8(self.fixed(n)?).map_err(|_| DecodeError("string is not UTF-8"))
    }
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }
    /// Succeeds only if everything was consumed: trailing bytes are an error, so one
    /// value has exactly one encoding.
    pub fn finish(self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError("trailing bytes"))
        }
    }
}

// JSON (serde) helpers for the same values: bytes as standard base64, unit enums as
// plain names. Here, below every format that uses them, so `chain`, `crypto`, `audit`
// and the rest never import the wire module (`api`), which sits above them all.

use serde::{Deserialize, Deserializer};

macro_rules! b64_fixed {
    ($name:ident, $n:expr) => {
        /// Serde for a fixed-size byte array as standard base64.
        pub mod $name {
            use base64::Engine;
            use serde::{Deserialize, Deserializer, Serializer};
            pub fn serialize<S: Serializer>(v: &[u8; $n], s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
            }
            pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; $n], D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                let v =
                    base64::engine::general_purpose::STANDARD.decode(s.as_bytes()).map_err(serde::de::Error::custom)?;
                <[u8; $n]>::try_from(v.as_slice())
                    .map_err(|_| serde::de::Error::custom(concat!("expected ", stringify!($n), " bytes")))
            }
        }
    };
}
b64_fixed!(b64_16, 16);
b64_fixed!(b64_32, 32);
b64_fixed!(b64_64, 64);

/// Deserialize a unit enum from its name (one of `all`). Derived `Deserialize` on a
/// unit enum also accepts `{"name": null}` maps and brings a visitor per enum into the
/// browser bundle; every enum here is only ever a plain string on the wire.
pub(crate) fn named<'de, D: Deserializer<'de>, T: Copy>(d: D, all: &[(&str, T)]) -> Result<T, D::Error> {
    let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
    all.iter().find(|(n, _)| *n == s).map(|(_, v)| *v).ok_or_else(|| serde::de::Error::custom("unknown variant"))
}

/// Serde for an optional 64-byte value (a signature) as standard base64.
pub mod b64_opt64 {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &Option<[u8; 64]>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => super::b64_64::serialize(v, s),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[u8; 64]>, D::Error> {
        #[derive(Deserialize)]
        struct W(#[serde(with = "super::b64_64")] [u8; 64]);
        Ok(Option::<W>::deserialize(d)?.map(|w| w.0))
    }
}

/// Serde for `Vec<u8>` as standard base64.
pub mod b64 {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        base64::engine::general_purpose::STANDARD.decode(s.as_bytes()).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_are_shortest_and_sized() {
        for v in [0, 1, 127, 128, 300, 16_383, 16_384, u32::MAX as u64, u64::MAX] {
            let mut w = Writer::new();
            w.varint(v).var_bytes(b"xy");
            let bytes = w.finish();
            assert_eq!(bytes.len(), varint_len(v) + 1 + 2, "{v}");
            let mut r = Reader::new(&bytes);
            assert_eq!((r.varint().unwrap(), r.var_bytes().unwrap()), (v, &b"xy"[..]));
            r.finish().unwrap();
        }
        assert_eq!(Writer::new().varint(300).as_slice(), [0xac, 0x02]);
        // One value, one encoding: a padded or over-wide varint is refused.
        for bad in [&[0x80, 0x00][..], &[0xff; 10], &[0x80; 11], &[0x80]] {
            assert!(Reader::new(bad).varint().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn round_trip_and_strictness() {
        let mut w = Writer::new();
        w.u8(7).u32(9).u64(11).bytes(b"abc").short_str("zé").fixed(&[1, 2]);
        let bytes = w.finish();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.u8().unwrap(), 7);
        assert_eq!(r.u32().unwrap(), 9);
        assert_eq!(r.u64().unwrap(), 11);
        assert_eq!(r.bytes().unwrap(), b"abc");
        assert_eq!(r.short_str().unwrap(), "zé");
        assert_eq!(r.array::<2>().unwrap(), [1, 2]);
        r.finish().unwrap();

        let mut short = Reader::new(&bytes[..3]);
        assert!(short.u64().is_err());
        let mut trailing = Reader::new(&bytes);
        trailing.u8().unwrap();
        assert!(trailing.finish().is_err());
    }
}
