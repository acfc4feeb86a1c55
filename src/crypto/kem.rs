//! Key encapsulation for PQXDH: round-3 Kyber1024 (type `0x08`, what libsignal-client 0.103
//! accepts) and FIPS 203 ML-KEM-1024 (type `0x0A`), both through `libcrux-ml-kem`.
//!
//! ```text
//! public key  = type ‖ 1568 bytes
//! secret key  = type ‖ 3168 bytes
//! ciphertext  = type ‖ 1568 bytes
//! ```
//!
//! The two algorithms give different shared secrets for the same ciphertext, so every
//! value carries its type and mixing types is an error.

use core::fmt;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::error::{DecodeError, ProtocolError};

/// Length of a raw KEM public key (without the type byte).
pub const PUBLIC_KEY_LEN: usize = 1568;
/// Length of a raw KEM secret key (without the type byte).
pub const SECRET_KEY_LEN: usize = 3168;
/// Length of a raw KEM ciphertext (without the type byte).
pub const CIPHERTEXT_LEN: usize = 1568;

/// Which KEM a key or ciphertext belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KemKeyType {
    /// Round-3 CRYSTALS-Kyber1024 (`0x08`): what Signal uses today.
    Kyber1024,
    /// FIPS 203 ML-KEM-1024 (`0x0A`).
    MlKem1024,
}

impl KemKeyType {
    /// The type byte.
    pub const fn type_byte(self) -> u8 {
        match self {
            KemKeyType::Kyber1024 => 0x08,
            KemKeyType::MlKem1024 => 0x0A,
        }
    }

    /// Parses a type byte.
    pub fn from_type_byte(b: u8) -> Result<Self, DecodeError> {
        match b {
            0x08 => Ok(KemKeyType::Kyber1024),
            0x0A => Ok(KemKeyType::MlKem1024),
            _ => Err(DecodeError::UnknownType),
        }
    }
}

fn split_typed<const N: usize>(bytes: &[u8]) -> Result<(KemKeyType, &[u8; N]), DecodeError> {
    let (t, rest) = bytes.split_first().ok_or(DecodeError::Truncated)?;
    let key_type = KemKeyType::from_type_byte(*t)?;
    let raw: &[u8; N] = rest.try_into().map_err(|_| DecodeError::BadLength)?;
    Ok((key_type, raw))
}

fn join_typed<const N: usize, const M: usize>(t: KemKeyType, raw: &[u8; N]) -> [u8; M] {
    const { assert!(M == N + 1) };
    let mut out = [0u8; M];
    let (head, tail) = out.split_at_mut(1);
    head.copy_from_slice(&[t.type_byte()]);
    tail.copy_from_slice(raw);
    out
}

/// A KEM public key.
#[derive(Clone, PartialEq, Eq)]
pub struct KemPublicKey {
    key_type: KemKeyType,
    raw: [u8; PUBLIC_KEY_LEN],
}

impl KemPublicKey {
    /// Length of [`KemPublicKey::serialize`].
    pub const SERIALIZED_LEN: usize = PUBLIC_KEY_LEN + 1;

    /// Parses `type ‖ 1568 bytes`, rejecting keys whose coefficients are out of range.
    pub fn deserialize(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (key_type, raw) = split_typed::<PUBLIC_KEY_LEN>(bytes)?;
        let key = libcrux_ml_kem::mlkem1024::MlKem1024PublicKey::from(raw);
        if !libcrux_ml_kem::mlkem1024::validate_public_key(&key) {
            return Err(DecodeError::InvalidKey);
        }
        Ok(KemPublicKey {
            key_type,
            raw: *raw,
        })
    }

    /// `type ‖ raw`.
    pub fn serialize(&self) -> [u8; PUBLIC_KEY_LEN + 1] {
        join_typed(self.key_type, &self.raw)
    }

    /// Which KEM this key is for.
    pub fn key_type(&self) -> KemKeyType {
        self.key_type
    }

    /// Encapsulates a fresh shared secret to this key.
    pub fn encapsulate<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
    ) -> (KemCiphertext, KemSharedSecret) {
        let mut seed = Zeroizing::new([0u8; libcrux_ml_kem::SHARED_SECRET_SIZE]);
        rng.fill_bytes(seed.as_mut());
        let pk = libcrux_ml_kem::mlkem1024::MlKem1024PublicKey::from(&self.raw);
        let (ct, ss) = match self.key_type {
            KemKeyType::Kyber1024 => libcrux_ml_kem::kyber1024::encapsulate(&pk, *seed),
            KemKeyType::MlKem1024 => libcrux_ml_kem::mlkem1024::encapsulate(&pk, *seed),
        };
        (
            KemCiphertext {
                key_type: self.key_type,
                raw: *ct.as_slice(),
            },
            KemSharedSecret(Zeroizing::new(ss)),
        )
    }
}

impl fmt::Debug for KemPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KemPublicKey")
            .field("key_type", &self.key_type)
            .finish_non_exhaustive()
    }
}

/// A KEM secret key. Zeroized on drop; never printed.
#[derive(Clone)]
pub struct KemSecretKey {
    key_type: KemKeyType,
    raw: Zeroizing<[u8; SECRET_KEY_LEN]>,
}

impl KemSecretKey {
    /// Length of [`KemSecretKey::serialize`].
    pub const SERIALIZED_LEN: usize = SECRET_KEY_LEN + 1;

    /// Parses `type ‖ 3168 bytes`.
    pub fn deserialize(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (key_type, raw) = split_typed::<SECRET_KEY_LEN>(bytes)?;
        Ok(KemSecretKey {
            key_type,
            raw: Zeroizing::new(*raw),
        })
    }

    /// `type ‖ raw`.
    pub fn serialize(&self) -> Zeroizing<[u8; SECRET_KEY_LEN + 1]> {
        Zeroizing::new(join_typed(self.key_type, &self.raw))
    }

    /// Which KEM this key is for.
    pub fn key_type(&self) -> KemKeyType {
        self.key_type
    }

    /// Whether `public` is the public key embedded in this secret key (both KEMs store
    /// it at bytes 1536..3104: `CPA secret (1536) ‖ public (1568) ‖ H(public) ‖ z`).
    pub fn matches(&self, public: &KemPublicKey) -> bool {
        self.key_type == public.key_type
            && self
                .raw
                .get(1536..1536 + PUBLIC_KEY_LEN)
                .is_some_and(|embedded| embedded == public.raw.as_slice())
    }

    /// Decapsulates `ct`. A ciphertext of another KEM type is an error; a corrupted
    /// ciphertext of the right type yields an unrelated secret (implicit rejection), which
    /// the first MAC check then catches.
    pub fn decapsulate(&self, ct: &KemCiphertext) -> Result<KemSharedSecret, ProtocolError> {
        if ct.key_type != self.key_type {
            return Err(ProtocolError::VersionMismatch);
        }
        let sk = libcrux_ml_kem::mlkem1024::MlKem1024PrivateKey::from(&*self.raw);
        let c = libcrux_ml_kem::mlkem1024::MlKem1024Ciphertext::from(&ct.raw);
        let ss = match self.key_type {
            KemKeyType::Kyber1024 => libcrux_ml_kem::kyber1024::decapsulate(&sk, &c),
            KemKeyType::MlKem1024 => libcrux_ml_kem::mlkem1024::decapsulate(&sk, &c),
        };
        Ok(KemSharedSecret(Zeroizing::new(ss)))
    }
}

impl fmt::Debug for KemSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KemSecretKey(<redacted>)")
    }
}

/// A KEM ciphertext.
#[derive(Clone, PartialEq, Eq)]
pub struct KemCiphertext {
    key_type: KemKeyType,
    raw: [u8; CIPHERTEXT_LEN],
}

impl KemCiphertext {
    /// Length of [`KemCiphertext::serialize`].
    pub const SERIALIZED_LEN: usize = CIPHERTEXT_LEN + 1;

    /// Parses `type ‖ 1568 bytes`.
    pub fn deserialize(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (key_type, raw) = split_typed::<CIPHERTEXT_LEN>(bytes)?;
        Ok(KemCiphertext {
            key_type,
            raw: *raw,
        })
    }

    /// `type ‖ raw`.
    pub fn serialize(&self) -> [u8; CIPHERTEXT_LEN + 1] {
        join_typed(self.key_type, &self.raw)
    }

    /// Which KEM this ciphertext is for.
    pub fn key_type(&self) -> KemKeyType {
        self.key_type
    }
}

impl fmt::Debug for KemCiphertext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KemCiphertext")
            .field("key_type", &self.key_type)
            .finish_non_exhaustive()
    }
}

/// A 32-byte KEM shared secret. Zeroized on drop.
pub struct KemSharedSecret(Zeroizing<[u8; 32]>);

impl KemSharedSecret {
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for KemSharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KemSharedSecret(<redacted>)")
    }
}

/// A KEM key pair; the halves are generated together and always match.
#[derive(Clone)]
pub struct KemKeyPair {
    public_key: KemPublicKey,
    secret_key: KemSecretKey,
}

impl KemKeyPair {
    /// The public half.
    pub fn public_key(&self) -> &KemPublicKey {
        &self.public_key
    }

    /// The secret half.
    pub fn secret_key(&self) -> &KemSecretKey {
        &self.secret_key
    }

    /// The pair of a secret key and its public key; `None` if they do not match.
    pub fn from_parts(public_key: KemPublicKey, secret_key: KemSecretKey) -> Option<Self> {
        secret_key.matches(&public_key).then_some(KemKeyPair {
            public_key,
            secret_key,
        })
    }

    /// A fresh key pair of the given type from the caller's RNG.
    pub fn generate<R: CryptoRng + ?Sized>(key_type: KemKeyType, rng: &mut R) -> Self {
        let mut seed = Zeroizing::new([0u8; libcrux_ml_kem::KEY_GENERATION_SEED_SIZE]);
        rng.fill_bytes(seed.as_mut());
        let kp = match key_type {
            KemKeyType::Kyber1024 => libcrux_ml_kem::kyber1024::generate_key_pair(*seed),
            KemKeyType::MlKem1024 => libcrux_ml_kem::mlkem1024::generate_key_pair(*seed),
        };
        let (sk, pk) = kp.into_parts();
        KemKeyPair {
            public_key: KemPublicKey {
                key_type,
                raw: *pk.as_slice(),
            },
            secret_key: KemSecretKey {
                key_type,
                raw: Zeroizing::new(*sk.as_slice()),
            },
        }
    }
}

impl fmt::Debug for KemKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KemKeyPair")
            .field("public_key", &self.public_key)
            .finish_non_exhaustive()
    }
}
