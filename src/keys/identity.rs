//! Identity keys: a party's long-term Curve25519 key pair.

use core::fmt;

use rand_core::CryptoRng;
#[cfg(feature = "alloc")]
use zeroize::Zeroizing;

use crate::crypto::xeddsa::{self, SigningKey};
use crate::crypto::{KeyPair, PrivateKey, PublicKey};
use crate::error::DecodeError;

/// A party's public identity key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdentityKey(PublicKey);

impl IdentityKey {
    /// Wraps a public key.
    pub const fn new(key: PublicKey) -> Self {
        IdentityKey(key)
    }

    /// The public key.
    pub const fn public_key(&self) -> &PublicKey {
        &self.0
    }

    /// `0x05 ‖ u` (33 bytes).
    pub fn serialize(&self) -> [u8; 33] {
        self.0.serialize()
    }

    /// Parses `0x05 ‖ u`.
    pub fn deserialize(bytes: &[u8]) -> Result<Self, DecodeError> {
        PublicKey::deserialize(bytes).map(IdentityKey)
    }

    /// Verifies an XEdDSA signature made with the matching private key. (To check several
    /// signatures by one key, rebuild its Edwards point once:
    /// [`xeddsa::VerifyingKey`].)
    pub fn verify_signature(&self, message: &[u8], signature: &[u8]) -> bool {
        match <&[u8; 64]>::try_from(signature) {
            Ok(sig) => xeddsa::verify(&self.0, message, sig),
            Err(_) => false,
        }
    }
}

impl fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("IdentityKey").field(&self.0).finish()
    }
}

impl From<PublicKey> for IdentityKey {
    fn from(k: PublicKey) -> Self {
        IdentityKey(k)
    }
}

/// A party's identity key pair. The private half is zeroized on drop and never printed.
/// It is kept as an [`xeddsa::SigningKey`], so signing computes one fixed-base
/// multiplication, not two.
///
/// ```
/// use missive::IdentityKeyPair;
/// use rand_core::SeedableRng;
/// let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
/// let me = IdentityKeyPair::generate(&mut rng);
/// let sig = me.sign(b"a message", &mut rng);
/// assert!(me.identity_key().verify_signature(b"a message", &sig));
/// // Stored as versioned bytes (zeroized when dropped) and read back.
/// let stored = me.serialize();
/// let back = IdentityKeyPair::deserialize(&stored).unwrap();
/// assert_eq!(back.identity_key(), me.identity_key());
/// assert_eq!(format!("{me:?}").contains("IdentityKeyPair"), true);
/// ```
#[derive(Clone)]
pub struct IdentityKeyPair {
    identity_key: IdentityKey,
    signing_key: SigningKey,
}

impl IdentityKeyPair {
    /// A fresh identity from the caller's RNG.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self::from_private_key(PrivateKey::generate(rng))
    }

    /// The identity for an existing private key.
    pub fn from_private_key(private_key: PrivateKey) -> Self {
        let signing_key = SigningKey::new(private_key);
        IdentityKeyPair {
            identity_key: IdentityKey(*signing_key.public_key()),
            signing_key,
        }
    }

    /// The public identity key.
    pub fn identity_key(&self) -> &IdentityKey {
        &self.identity_key
    }

    /// The public key.
    pub fn public_key(&self) -> &PublicKey {
        self.identity_key.public_key()
    }

    /// The private key.
    pub fn private_key(&self) -> &PrivateKey {
        self.signing_key.private_key()
    }

    /// The private key as a [`SigningKey`].
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing_key
    }

    /// Signs with XEdDSA.
    pub fn sign<R: CryptoRng + ?Sized>(&self, message: &[u8], rng: &mut R) -> [u8; 64] {
        self.signing_key.sign(message, rng)
    }

    /// The key pair as a [`KeyPair`].
    pub fn key_pair(&self) -> KeyPair {
        KeyPair::from_private(self.private_key().clone())
    }

    /// `format version ‖ protobuf{1: public key (33), 2: private key (32)}`.
    #[cfg(feature = "alloc")]
    pub fn serialize(&self) -> Zeroizing<alloc::vec::Vec<u8>> {
        use crate::wire::proto::{put_bytes, write_record};
        write_record(72, |out| {
            put_bytes(out, 1, &self.identity_key.serialize());
            put_bytes(out, 2, self.private_key().to_bytes().as_ref());
        })
    }

    /// Parses [`IdentityKeyPair::serialize`]'s output; the public key must match.
    #[cfg(feature = "alloc")]
    pub fn deserialize(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = crate::wire::proto::open_record(bytes)?;
        let (mut public, mut private) = (None, None);
        while let Some((n, value)) = r.field()? {
            match n {
                1 => public = Some(IdentityKey::deserialize(value.as_bytes()?)?),
                2 => private = Some(PrivateKey::deserialize(value.as_bytes()?)?),
                _ => return Err(DecodeError::Malformed),
            }
        }
        let pair = Self::from_private_key(private.ok_or(DecodeError::MissingField)?);
        if Some(pair.identity_key) != public {
            return Err(DecodeError::InvalidKey);
        }
        Ok(pair)
    }
}

impl fmt::Debug for IdentityKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityKeyPair")
            .field("identity_key", &self.identity_key)
            .finish_non_exhaustive()
    }
}
