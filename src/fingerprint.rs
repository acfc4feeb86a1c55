//! Safety numbers: the 60 digits users compare and the code they scan, identical to
//! libsignal's `Fingerprint`.
//!
//! The algorithm was established by observing `@signalapp/libsignal-client` 0.103.0
//! (`interop/experiments/fingerprint.js`, `interop/OBSERVED.md` §10) and is written
//! down in `docs/PROTOCOL.md` §10. Each side of a conversation contributes one digest:
//!
//! ```text
//! h_1 = SHA-512(0x00 0x00 ‖ identity key (33) ‖ stable id ‖ identity key)
//! h_i = SHA-512(h_{i-1} ‖ identity key)                 for i = 2 ..= iterations
//! ```
//!
//! The two-byte prefix is always zero: the `version` parameter appears only in the
//! scannable encoding. Nothing here is secret, and nothing allocates.

use core::fmt;
use core::ops::Deref;

use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;

use crate::error::{DecodeError, Error, FingerprintError, MisuseError};
use crate::keys::IdentityKey;
use crate::wire::proto::{Reader, Value};

/// The iteration count Signal's apps use.
pub const SIGNAL_ITERATIONS: u32 = 5200;

/// The fewest iterations accepted. libsignal-client refuses 0 and 1; refusing them too
/// means every fingerprint missive makes is one the peer could make.
pub const MIN_ITERATIONS: u32 = 2;

/// Digits in a displayable fingerprint: 30 per side.
pub const DISPLAY_LEN: usize = 60;

/// Bytes of each side's digest carried in the scannable encoding.
const SCANNABLE_DIGEST_LEN: usize = 32;

/// The longest scannable encoding: a 5-byte version varint (`u32::MAX`) plus 73 bytes.
pub const MAX_SCANNABLE_LEN: usize = 78;

/// A safety number for a pair of identities: the digits to show and the code to scan.
///
/// ```
/// use missive::fingerprint::SIGNAL_ITERATIONS;
/// use missive::{Fingerprint, IdentityKeyPair};
/// use rand_core::SeedableRng;
///
/// let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
/// let (alice, bob) = (IdentityKeyPair::generate(&mut rng), IdentityKeyPair::generate(&mut rng));
/// let (a, b) = (alice.identity_key(), bob.identity_key());
///
/// // Each side computes the fingerprint from its own point of view…
/// let ours = Fingerprint::new(2, SIGNAL_ITERATIONS, b"alice", a, b"bob", b)?;
/// let theirs = Fingerprint::new(2, SIGNAL_ITERATIONS, b"bob", b, b"alice", a)?;
/// // …and both show the same 60 digits.
/// assert_eq!(ours.display_string(), theirs.display_string());
/// assert_eq!(ours.display_string().len(), 60);
///
/// // Alice scans Bob's code and checks it against her own, in constant time.
/// let scanned = theirs.scannable().serialize();
/// ours.scannable().compare_serialized(&scanned)?;
/// # Ok::<(), missive::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Fingerprint {
    display: DisplayableFingerprint,
    scannable: ScannableFingerprint,
}

impl Fingerprint {
    /// The fingerprint of `local` (our identity key and stable id) and `remote`.
    ///
    /// `version` is carried only in the scannable encoding (it does not change the
    /// digits). `iterations` is the number of SHA-512 calls per side ([`SIGNAL_ITERATIONS`]
    /// in Signal's apps); the cost is linear in it. The stable ids are arbitrary bytes.
    ///
    /// The argument order is libsignal's Rust order (`version`, then `iterations`); its
    /// JavaScript API takes them the other way round.
    ///
    /// # Errors
    /// [`MisuseError::InvalidArgument`] if `iterations` is below [`MIN_ITERATIONS`].
    pub fn new(
        version: u32,
        iterations: u32,
        local_id: &[u8],
        local_key: &IdentityKey,
        remote_id: &[u8],
        remote_key: &IdentityKey,
    ) -> Result<Self, Error> {
        if iterations < MIN_ITERATIONS {
            return Err(MisuseError::InvalidArgument.into());
        }
        let local = digest(iterations, local_id, local_key);
        let remote = digest(iterations, remote_id, remote_key);
        Ok(Fingerprint {
            display: DisplayableFingerprint::new(&local, &remote),
            scannable: ScannableFingerprint {
                version,
                local: truncate(&local),
                remote: truncate(&remote),
            },
        })
    }

    /// The 60 digits to show, the same on both sides.
    pub fn display_string(&self) -> &str {
        self.display.as_str()
    }

    /// The displayable half.
    pub fn displayable(&self) -> &DisplayableFingerprint {
        &self.display
    }

    /// The scannable half: what a QR code carries.
    pub fn scannable(&self) -> &ScannableFingerprint {
        &self.scannable
    }
}

/// One side's digest: `iterations` SHA-512 calls (see the module documentation).
fn digest(iterations: u32, id: &[u8], key: &IdentityKey) -> [u8; 64] {
    let key = key.serialize();
    let mut h: [u8; 64] = Sha512::new()
        .chain_update([0u8, 0])
        .chain_update(key)
        .chain_update(id)
        .chain_update(key)
        .finalize()
        .into();
    let mut hasher = Sha512::new();
    for _ in 1..iterations {
        hasher.update(h);
        hasher.update(key);
        h = hasher.finalize_reset().into();
    }
    h
}

fn truncate(h: &[u8; 64]) -> [u8; SCANNABLE_DIGEST_LEN] {
    let mut out = [0u8; SCANNABLE_DIGEST_LEN];
    out.iter_mut().zip(h).for_each(|(o, b)| *o = *b);
    out
}

/// The 60 digits of a safety number, as ASCII.
///
/// Each side's first 30 digest bytes are read as six 5-byte big-endian numbers, each
/// reduced mod 100,000 and written as 5 digits with leading zeros. The two 30-digit
/// halves are joined with the smaller string first, so both sides show the same digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DisplayableFingerprint([u8; DISPLAY_LEN]);

impl DisplayableFingerprint {
    fn new(local: &[u8; 64], remote: &[u8; 64]) -> Self {
        let (local, remote) = (half(local), half(remote));
        let (first, second) = if local <= remote {
            (local, remote)
        } else {
            (remote, local)
        };
        let mut out = [0u8; DISPLAY_LEN];
        out.iter_mut()
            .zip(first.iter().chain(second.iter()))
            .for_each(|(o, d)| *o = *d);
        DisplayableFingerprint(out)
    }

    /// The 60 digits.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever written, so this never fails.
        core::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// 30 digits from the first 30 bytes of a digest.
fn half(h: &[u8; 64]) -> [u8; 30] {
    let mut out = [b'0'; 30];
    for (digits, chunk) in out.chunks_exact_mut(5).zip(h.chunks_exact(5)) {
        let mut n = chunk.iter().fold(0u64, |n, b| (n << 8) | u64::from(*b)) % 100_000;
        // Most significant digit first. n < 100_000 on entry and n < p after each step,
        // so every quotient is below 10 and the cast cannot truncate.
        for (d, p) in digits.iter_mut().zip([10_000, 1_000, 100, 10, 1]) {
            *d = b'0' + (n / p) as u8;
            n %= p;
        }
    }
    out
}

impl fmt::Display for DisplayableFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for DisplayableFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DisplayableFingerprint")
            .field(&self.as_str())
            .finish()
    }
}

/// The scannable form of a safety number: a version and the first 32 bytes of each
/// side's digest, from the point of view of the side that made it.
///
/// Its encoding is protobuf, 74 bytes for versions below 128:
///
/// ```text
/// 08 <version varint>                 field 1: version (uint32)
/// 12 22 | 0a 20 <local digest, 32>    field 2: message { field 1: bytes }
/// 1a 22 | 0a 20 <remote digest, 32>   field 3: message { field 1: bytes }
/// ```
///
/// Verification is mirrored: the scanned side's local digest must equal our remote one
/// and the other way round. Parsing follows libsignal-client: fields in any order, the
/// last occurrence wins, unknown fields are skipped, an absent version reads as 0. It is
/// stricter in two places: a version varint above `u32::MAX` is refused (the peer
/// truncates it) and a digest of a length other than 32 is a decode error (the peer
/// reports a mismatch).
#[derive(Clone, Debug)]
pub struct ScannableFingerprint {
    version: u32,
    local: [u8; SCANNABLE_DIGEST_LEN],
    remote: [u8; SCANNABLE_DIGEST_LEN],
}

impl ScannableFingerprint {
    /// The fingerprint version this was made with.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The encoding to put in a QR code (74 to 78 bytes).
    pub fn serialize(&self) -> ScannableEncoding {
        let mut out = ScannableEncoding {
            buf: [0; MAX_SCANNABLE_LEN],
            len: 0,
        };
        out.push(0x08);
        let mut v = self.version;
        while v >= 0x80 {
            // The low 7 bits, with the continuation bit: the cast keeps exactly them.
            out.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
        for (tag, digest) in [(0x12, &self.local), (0x1a, &self.remote)] {
            out.extend(&[tag, 2 + SCANNABLE_DIGEST_LEN as u8]);
            out.extend(&[0x0a, SCANNABLE_DIGEST_LEN as u8]);
            out.extend(digest);
        }
        out
    }

    /// Parses a scanned encoding (see the type's documentation for the rules).
    ///
    /// # Errors
    /// A [`DecodeError`]: `Truncated` or `Malformed` protobuf, `MissingField` if a digest
    /// is absent or empty, `BadLength` if a digest is not 32 bytes or the version does
    /// not fit in a `u32`.
    pub fn deserialize(bytes: &[u8]) -> Result<Self, DecodeError> {
        Parsed::new(bytes)?.finish()
    }

    /// Checks a scanned fingerprint against ours in constant time (in the digests; the
    /// versions are public and compared first).
    ///
    /// # Errors
    /// [`FingerprintError::VersionMismatch`] if the versions differ, otherwise
    /// [`FingerprintError::IdentityMismatch`] unless `scanned` was made by the other side
    /// from the same two identity keys and stable ids.
    pub fn compare(&self, scanned: &ScannableFingerprint) -> Result<(), FingerprintError> {
        if self.version != scanned.version {
            return Err(FingerprintError::VersionMismatch {
                ours: self.version,
                theirs: scanned.version,
            });
        }
        let same = self.local.as_slice().ct_eq(scanned.remote.as_slice())
            & self.remote.as_slice().ct_eq(scanned.local.as_slice());
        if bool::from(same) {
            Ok(())
        } else {
            Err(FingerprintError::IdentityMismatch)
        }
    }

    /// Parses scanned bytes and compares them with ours, reporting a version mismatch
    /// before anything else wrong with the digests, as libsignal-client does.
    ///
    /// # Errors
    /// [`Error::Decode`] for bytes that are not a scannable fingerprint (see
    /// [`ScannableFingerprint::deserialize`]); [`Error::Fingerprint`] as in
    /// [`ScannableFingerprint::compare`].
    pub fn compare_serialized(&self, scanned: &[u8]) -> Result<(), Error> {
        let parsed = Parsed::new(scanned)?;
        if parsed.version != self.version {
            return Err(FingerprintError::VersionMismatch {
                ours: self.version,
                theirs: parsed.version,
            }
            .into());
        }
        Ok(self.compare(&parsed.finish()?)?)
    }
}

/// A decoded encoding whose digests are not checked yet.
struct Parsed<'a> {
    version: u32,
    local: Option<&'a [u8]>,
    remote: Option<&'a [u8]>,
}

impl<'a> Parsed<'a> {
    fn new(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut p = Parsed {
            version: 0,
            local: None,
            remote: None,
        };
        let mut r = Reader::new(bytes);
        while let Some((n, value)) = r.field()? {
            match n {
                1 => p.version = value.as_u32()?,
                2 => p.local = content(value)?.or(p.local),
                3 => p.remote = content(value)?.or(p.remote),
                _ => {}
            }
        }
        Ok(p)
    }

    fn finish(self) -> Result<ScannableFingerprint, DecodeError> {
        let digest = |d: Option<&[u8]>| match d {
            None | Some([]) => Err(DecodeError::MissingField),
            Some(d) => {
                <[u8; SCANNABLE_DIGEST_LEN]>::try_from(d).map_err(|_| DecodeError::BadLength)
            }
        };
        Ok(ScannableFingerprint {
            version: self.version,
            local: digest(self.local)?,
            remote: digest(self.remote)?,
        })
    }
}

/// Field 1 of a nested digest message, if present (the last occurrence wins).
fn content(value: Value<'_>) -> Result<Option<&[u8]>, DecodeError> {
    let mut r = Reader::new(value.as_bytes()?);
    let mut out = None;
    while let Some((n, v)) = r.field()? {
        if n == 1 {
            out = Some(v.as_bytes()?);
        }
    }
    Ok(out)
}

/// A serialized [`ScannableFingerprint`] in a fixed buffer (no allocation).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ScannableEncoding {
    buf: [u8; MAX_SCANNABLE_LEN],
    len: usize,
}

impl ScannableEncoding {
    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }

    // Writes stay within MAX_SCANNABLE_LEN by construction (one varint of at most 5
    // bytes and 73 fixed bytes); a write past it would be dropped, never panic.
    fn push(&mut self, b: u8) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    fn extend(&mut self, bytes: &[u8]) {
        bytes.iter().for_each(|b| self.push(*b));
    }
}

impl Deref for ScannableEncoding {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for ScannableEncoding {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Debug for ScannableEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ScannableEncoding(")?;
        self.as_bytes()
            .iter()
            .try_for_each(|b| write!(f, "{b:02x}"))?;
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests;
