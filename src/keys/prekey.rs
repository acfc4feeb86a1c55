//! Prekey records: what a party keeps (private halves included) for the prekeys it
//! published.

use alloc::vec::Vec;
use core::fmt;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::{IdentityKeyPair, SIGNATURE_LEN};
use crate::crypto::{
    KemKeyPair, KemKeyType, KemPublicKey, KemSecretKey, KeyPair, PrivateKey, PublicKey,
};
use crate::error::DecodeError;
use crate::wire::proto::{open_record, put_bytes, put_uint, write_record};

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub u32);
        impl From<u32> for $name {
            fn from(v: u32) -> Self {
                $name(v)
            }
        }
        impl From<$name> for u32 {
            fn from(v: $name) -> u32 {
                v.0
            }
        }
    };
}

id_type!(
    /// The id of a one-time EC prekey.
    PreKeyId
);
id_type!(
    /// The id of a signed EC prekey.
    SignedPreKeyId
);
id_type!(
    /// The id of a Kyber prekey.
    KyberPreKeyId
);

fn ec_pair(public: Option<PublicKey>, private: Option<PrivateKey>) -> Result<KeyPair, DecodeError> {
    let pair = KeyPair::from_private(private.ok_or(DecodeError::MissingField)?);
    if Some(*pair.public_key()) != public {
        return Err(DecodeError::InvalidKey);
    }
    Ok(pair)
}

/// A one-time EC prekey. Deleted after its first use.
#[derive(Clone)]
pub struct PreKeyRecord {
    id: PreKeyId,
    key_pair: KeyPair,
}

impl PreKeyRecord {
    /// A fresh one-time prekey.
    pub fn generate<R: CryptoRng + ?Sized>(id: PreKeyId, rng: &mut R) -> Self {
        PreKeyRecord {
            id,
            key_pair: KeyPair::generate(rng),
        }
    }
    /// A record for an existing key pair.
    pub fn new(id: PreKeyId, key_pair: KeyPair) -> Self {
        PreKeyRecord { id, key_pair }
    }
    /// The id.
    pub fn id(&self) -> PreKeyId {
        self.id
    }
    /// The public key.
    pub fn public_key(&self) -> &PublicKey {
        self.key_pair.public_key()
    }
    /// The key pair.
    pub fn key_pair(&self) -> &KeyPair {
        &self.key_pair
    }

    /// `1 ‖ protobuf{1: id, 2: public (33), 3: private (32)}`.
    pub fn serialize(&self) -> Zeroizing<Vec<u8>> {
        write_record(80, |out| {
            put_uint(out, 1, u64::from(self.id.0));
            put_bytes(out, 2, &self.key_pair.public_key().serialize());
            put_bytes(out, 3, self.key_pair.private_key().to_bytes().as_ref());
        })
    }

    /// Parses [`PreKeyRecord::serialize`]'s output.
    pub fn deserialize(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = open_record(bytes)?;
        let (mut id, mut public, mut private) = (None, None, None);
        while let Some((n, v)) = r.field()? {
            match n {
                1 => id = Some(PreKeyId(v.as_u32()?)),
                2 => public = Some(PublicKey::deserialize(v.as_bytes()?)?),
                3 => private = Some(PrivateKey::deserialize(v.as_bytes()?)?),
                _ => return Err(DecodeError::Malformed),
            }
        }
        Ok(PreKeyRecord {
            id: id.ok_or(DecodeError::MissingField)?,
            key_pair: ec_pair(public, private)?,
        })
    }
}

impl fmt::Debug for PreKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreKeyRecord")
            .field("id", &self.id)
            .field("public_key", &self.key_pair.public_key())
            .finish_non_exhaustive()
    }
}

/// A signed EC prekey: medium-term, signed by the identity key, rotated by the app.
#[derive(Clone)]
pub struct SignedPreKeyRecord {
    id: SignedPreKeyId,
    timestamp: u64,
    key_pair: KeyPair,
    signature: [u8; SIGNATURE_LEN],
}

impl SignedPreKeyRecord {
    /// A fresh signed prekey, signed over its serialized public key.
    pub fn generate<R: CryptoRng + ?Sized>(
        id: SignedPreKeyId,
        timestamp: u64,
        identity: &IdentityKeyPair,
        rng: &mut R,
    ) -> Self {
        let key_pair = KeyPair::generate(rng);
        let signature = identity.sign(&key_pair.public_key().serialize(), rng);
        SignedPreKeyRecord {
            id,
            timestamp,
            key_pair,
            signature,
        }
    }
    /// The id.
    pub fn id(&self) -> SignedPreKeyId {
        self.id
    }
    /// When it was made (milliseconds since the Unix epoch, as the caller gave it).
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }
    /// The public key.
    pub fn public_key(&self) -> &PublicKey {
        self.key_pair.public_key()
    }
    /// The key pair.
    pub fn key_pair(&self) -> &KeyPair {
        &self.key_pair
    }
    /// The identity key's signature over the serialized public key.
    pub fn signature(&self) -> &[u8; SIGNATURE_LEN] {
        &self.signature
    }

    /// `1 ‖ protobuf{1: id, 2: timestamp, 3: public, 4: private, 5: signature}`.
    pub fn serialize(&self) -> Zeroizing<Vec<u8>> {
        write_record(160, |out| {
            put_uint(out, 1, u64::from(self.id.0));
            put_uint(out, 2, self.timestamp);
            put_bytes(out, 3, &self.key_pair.public_key().serialize());
            put_bytes(out, 4, self.key_pair.private_key().to_bytes().as_ref());
            put_bytes(out, 5, &self.signature);
        })
    }

    /// Parses [`SignedPreKeyRecord::serialize`]'s output.
    pub fn deserialize(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = open_record(bytes)?;
        let (mut id, mut ts, mut public, mut private, mut sig) = (None, None, None, None, None);
        while let Some((n, v)) = r.field()? {
            match n {
                1 => id = Some(SignedPreKeyId(v.as_u32()?)),
                2 => ts = Some(v.as_u64()?),
                3 => public = Some(PublicKey::deserialize(v.as_bytes()?)?),
                4 => private = Some(PrivateKey::deserialize(v.as_bytes()?)?),
                5 => sig = Some(v.as_array::<SIGNATURE_LEN>()?),
                _ => return Err(DecodeError::Malformed),
            }
        }
        Ok(SignedPreKeyRecord {
            id: id.ok_or(DecodeError::MissingField)?,
            timestamp: ts.ok_or(DecodeError::MissingField)?,
            key_pair: ec_pair(public, private)?,
            signature: sig.ok_or(DecodeError::MissingField)?,
        })
    }
}

impl fmt::Debug for SignedPreKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedPreKeyRecord")
            .field("id", &self.id)
            .field("timestamp", &self.timestamp)
            .field("public_key", &self.key_pair.public_key())
            .finish_non_exhaustive()
    }
}

/// Whether a Kyber prekey is used once or until it is replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KyberPreKeyLifetime {
    /// Deleted after its first use.
    OneTime,
    /// Reused until the app replaces it; each use is remembered so that a replayed
    /// prekey message cannot build a second session.
    LastResort,
}

/// A Kyber (KEM) prekey, signed by the identity key. Either one-time (deleted on use) or
/// last-resort (reused; replays blocked by remembering each use, see
/// [`KyberPreKeyUse`](crate::store::KyberPreKeyUse)).
#[derive(Clone)]
pub struct KyberPreKeyRecord {
    id: KyberPreKeyId,
    timestamp: u64,
    key_pair: KemKeyPair,
    signature: [u8; SIGNATURE_LEN],
    last_resort: bool,
}

impl KyberPreKeyRecord {
    /// A fresh Kyber prekey, signed over its serialized (type-prefixed) public key.
    pub fn generate<R: CryptoRng + ?Sized>(
        key_type: KemKeyType,
        id: KyberPreKeyId,
        timestamp: u64,
        lifetime: KyberPreKeyLifetime,
        identity: &IdentityKeyPair,
        rng: &mut R,
    ) -> Self {
        let last_resort = lifetime == KyberPreKeyLifetime::LastResort;
        let key_pair = KemKeyPair::generate(key_type, rng);
        let signature = identity.sign(&key_pair.public_key().serialize(), rng);
        KyberPreKeyRecord {
            id,
            timestamp,
            key_pair,
            signature,
            last_resort,
        }
    }
    /// The id.
    pub fn id(&self) -> KyberPreKeyId {
        self.id
    }
    /// When it was made (milliseconds since the Unix epoch, as the caller gave it).
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }
    /// The public key.
    pub fn public_key(&self) -> &KemPublicKey {
        self.key_pair.public_key()
    }
    /// The secret key.
    pub fn secret_key(&self) -> &KemSecretKey {
        self.key_pair.secret_key()
    }
    /// The identity key's signature over the serialized public key.
    pub fn signature(&self) -> &[u8; SIGNATURE_LEN] {
        &self.signature
    }
    /// Whether this is a last-resort key (reusable) rather than a one-time key.
    pub fn is_last_resort(&self) -> bool {
        self.last_resort
    }

    /// `1 ‖ protobuf{1: id, 2: timestamp, 3: public, 4: secret, 5: signature, 6: last resort}`.
    pub fn serialize(&self) -> Zeroizing<Vec<u8>> {
        write_record(4850, |out| {
            put_uint(out, 1, u64::from(self.id.0));
            put_uint(out, 2, self.timestamp);
            put_bytes(out, 3, &self.key_pair.public_key().serialize());
            put_bytes(out, 4, self.key_pair.secret_key().serialize().as_ref());
            put_bytes(out, 5, &self.signature);
            put_uint(out, 6, u64::from(self.last_resort));
        })
    }

    /// Parses [`KyberPreKeyRecord::serialize`]'s output.
    pub fn deserialize(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = open_record(bytes)?;
        let (mut id, mut ts, mut public, mut secret, mut sig, mut lr) =
            (None, None, None, None, None, None);
        while let Some((n, v)) = r.field()? {
            match n {
                1 => id = Some(KyberPreKeyId(v.as_u32()?)),
                2 => ts = Some(v.as_u64()?),
                3 => public = Some(KemPublicKey::deserialize(v.as_bytes()?)?),
                4 => secret = Some(KemSecretKey::deserialize(v.as_bytes()?)?),
                5 => sig = Some(v.as_array::<SIGNATURE_LEN>()?),
                6 => lr = Some(v.as_bool()?),
                _ => return Err(DecodeError::Malformed),
            }
        }
        let public_key = public.ok_or(DecodeError::MissingField)?;
        let secret_key = secret.ok_or(DecodeError::MissingField)?;
        let key_pair =
            KemKeyPair::from_parts(public_key, secret_key).ok_or(DecodeError::InvalidKey)?;
        Ok(KyberPreKeyRecord {
            id: id.ok_or(DecodeError::MissingField)?,
            timestamp: ts.ok_or(DecodeError::MissingField)?,
            key_pair,
            signature: sig.ok_or(DecodeError::MissingField)?,
            last_resort: lr.ok_or(DecodeError::MissingField)?,
        })
    }
}

impl fmt::Debug for KyberPreKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KyberPreKeyRecord")
            .field("id", &self.id)
            .field("timestamp", &self.timestamp)
            .field("key_type", &self.key_pair.public_key().key_type())
            .field("last_resort", &self.last_resort)
            .finish_non_exhaustive()
    }
}
