//! Curve25519 keys and X25519 key agreement (RFC 7748), in Signal's encodings.
//!
//! ```text
//! public key  = 0x05 ‖ u-coordinate (32, little-endian)      33 bytes
//! private key = clamped scalar (32)                            32 bytes
//! ```

use core::fmt;

use curve25519_dalek::montgomery::MontgomeryPoint;
use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::xeddsa;
use crate::error::{DecodeError, ProtocolError};

/// The type byte that prefixes a serialized Curve25519 public key.
pub const DJB_TYPE: u8 = 0x05;

/// A Curve25519 public key (its Montgomery u-coordinate).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// Length of [`PublicKey::serialize`].
    pub const SERIALIZED_LEN: usize = 33;

    /// Wraps a raw u-coordinate.
    pub const fn from_u_bytes(u: [u8; 32]) -> Self {
        PublicKey(u)
    }

    /// The raw u-coordinate.
    pub const fn u_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// `0x05 ‖ u`.
    pub fn serialize(&self) -> [u8; 33] {
        let mut out = [0u8; 33];
        out[0] = DJB_TYPE;
        let (_, rest) = out.split_at_mut(1);
        rest.copy_from_slice(&self.0);
        out
    }

    /// Parses `0x05 ‖ u`; any other length or type byte is an error.
    pub fn deserialize(bytes: &[u8]) -> Result<Self, DecodeError> {
        match bytes.split_first() {
            None => Err(DecodeError::Truncated),
            Some((&DJB_TYPE, rest)) => {
                let u: [u8; 32] = rest.try_into().map_err(|_| DecodeError::BadLength)?;
                Ok(PublicKey(u))
            }
            Some(_) => Err(DecodeError::UnknownType),
        }
    }

    /// Verifies an XEdDSA signature ([`xeddsa::verify`]); false unless `signature` is
    /// exactly 64 bytes.
    pub fn verify_signature(&self, message: &[u8], signature: &[u8]) -> bool {
        <&[u8; 64]>::try_from(signature).is_ok_and(|sig| xeddsa::verify(self, message, sig))
    }

    /// True when `u < p` and the point is on the curve (not its twist) with no torsion
    /// component: what a key made by an honest peer always is.
    pub fn is_canonical(&self) -> bool {
        // u < 2^255 - 19, compared as a little-endian integer.
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        let mut lt = false;
        let mut decided = false;
        for (a, b) in self.0.iter().rev().zip(p.iter().rev()) {
            if !decided && a != b {
                lt = a < b;
                decided = true;
            }
        }
        if !lt {
            return false;
        }
        match MontgomeryPoint(self.0).to_edwards(0) {
            Some(e) => e.is_torsion_free(),
            None => false,
        }
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PublicKey(")?;
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

/// A Curve25519 private key: a clamped scalar. Zeroized on drop; never printed.
#[derive(Clone)]
pub struct PrivateKey(x25519_dalek::StaticSecret);

impl PrivateKey {
    /// Length of [`PrivateKey::to_bytes`].
    pub const LEN: usize = 32;

    /// A fresh key from the caller's RNG.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(bytes.as_mut());
        Self::from_bytes(&bytes)
    }

    /// Imports 32 bytes, clamping them as libsignal does.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        let mut k = Zeroizing::new(*bytes);
        clamp(&mut k);
        PrivateKey(x25519_dalek::StaticSecret::from(*k))
    }

    /// Imports a slice of exactly 32 bytes.
    pub fn deserialize(bytes: &[u8]) -> Result<Self, DecodeError> {
        let arr: &[u8; 32] = bytes.try_into().map_err(|_| DecodeError::BadLength)?;
        Ok(Self::from_bytes(arr))
    }

    /// The clamped scalar bytes.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(x25519_dalek::PublicKey::from(&self.0).to_bytes())
    }

    /// An XEdDSA signature over `message` ([`xeddsa::sign`]); `rng` supplies its nonce.
    pub fn calculate_signature<R: CryptoRng + ?Sized>(
        &self,
        message: &[u8],
        rng: &mut R,
    ) -> [u8; 64] {
        xeddsa::sign(self, message, rng)
    }

    /// X25519 with `their` key; an all-zero (non-contributory) output is an error.
    pub fn diffie_hellman(&self, their: &PublicKey) -> Result<SharedSecret, ProtocolError> {
        let ss = self.agree(their);
        // Whether the output is zero depends only on `their` (a low-order point), so
        // branching on it reveals nothing about our key.
        if !ss.was_contributory() {
            return Err(ProtocolError::NonContributory);
        }
        Ok(SharedSecret(Zeroizing::new(ss.to_bytes())))
    }

    /// The X25519 function itself, without the contributory check.
    pub(crate) fn agree(&self, their: &PublicKey) -> x25519_dalek::SharedSecret {
        self.0
            .diffie_hellman(&x25519_dalek::PublicKey::from(their.0))
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey(<redacted>)")
    }
}

impl ConstantTimeEq for PrivateKey {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.0.as_bytes().ct_eq(other.0.as_bytes())
    }
}

fn clamp(k: &mut [u8; 32]) {
    k[0] &= 248;
    k[31] &= 127;
    k[31] |= 64;
}

/// The 32-byte output of X25519. Zeroized on drop.
pub struct SharedSecret(Zeroizing<[u8; 32]>);

impl SharedSecret {
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedSecret(<redacted>)")
    }
}

/// A Curve25519 key pair. The halves always match: the public key is computed from the
/// private one, so a pair (and any record made from it) always reads back.
#[derive(Clone)]
pub struct KeyPair {
    public_key: PublicKey,
    private_key: PrivateKey,
}

impl KeyPair {
    /// The public half.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// The private half.
    pub fn private_key(&self) -> &PrivateKey {
        &self.private_key
    }

    /// The private half, giving up the pair.
    pub fn into_private_key(self) -> PrivateKey {
        self.private_key
    }

    /// A fresh key pair from the caller's RNG.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self::from_private(PrivateKey::generate(rng))
    }

    /// The pair for a private key.
    pub fn from_private(private_key: PrivateKey) -> Self {
        KeyPair {
            public_key: private_key.public_key(),
            private_key,
        }
    }
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("public_key", &self.public_key)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
