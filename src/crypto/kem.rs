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

#[cfg(test)]
mod tests {
    use alloc::format;

    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::*;

    const TYPES: [(KemKeyType, u8); 2] =
        [(KemKeyType::Kyber1024, 0x08), (KemKeyType::MlKem1024, 0x0A)];

    #[test]
    fn type_bytes_and_lengths_are_the_wire_format() {
        for (t, byte) in TYPES {
            assert_eq!(t.type_byte(), byte);
            assert_eq!(KemKeyType::from_type_byte(byte), Ok(t));
        }
        for b in [0x00, 0x05, 0x07, 0x09, 0x0B, 0xFF] {
            assert_eq!(KemKeyType::from_type_byte(b), Err(DecodeError::UnknownType));
        }
        assert_eq!(KemPublicKey::SERIALIZED_LEN, 1569);
        assert_eq!(KemSecretKey::SERIALIZED_LEN, 3169);
        assert_eq!(KemCiphertext::SERIALIZED_LEN, 1569);
    }

    #[test]
    fn every_value_round_trips_with_its_type_byte_first() {
        let mut rng = ChaCha20Rng::seed_from_u64(14);
        for (t, byte) in TYPES {
            let pair = KemKeyPair::generate(t, &mut rng);
            let (pk, sk) = (pair.public_key(), pair.secret_key());
            assert_eq!((pk.key_type(), sk.key_type()), (t, t));

            let pk_bytes = pk.serialize();
            assert_eq!(pk_bytes.len(), KemPublicKey::SERIALIZED_LEN);
            assert_eq!(pk_bytes[0], byte);
            assert_eq!(&pk_bytes[1..], pk.raw.as_slice());
            assert_eq!(KemPublicKey::deserialize(&pk_bytes).as_ref(), Ok(pk));

            let sk_bytes = sk.serialize();
            assert_eq!(sk_bytes.len(), KemSecretKey::SERIALIZED_LEN);
            assert_eq!(sk_bytes[0], byte);
            assert_eq!(&sk_bytes[1..], sk.raw.as_slice());
            let sk2 = KemSecretKey::deserialize(sk_bytes.as_slice()).expect("round trip");
            assert_eq!(*sk2.serialize(), *sk_bytes);

            let (ct, ss) = pk.encapsulate(&mut rng);
            let ct_bytes = ct.serialize();
            assert_eq!(ct_bytes.len(), KemCiphertext::SERIALIZED_LEN);
            assert_eq!(ct_bytes[0], byte);
            let ct2 = KemCiphertext::deserialize(&ct_bytes).expect("round trip");
            assert_eq!(ct2, ct);
            // A ciphertext is public, but its Debug form names only its type.
            assert_eq!(
                format!("{ct:?}"),
                format!("KemCiphertext {{ key_type: {t:?}, .. }}")
            );
            // The parsed secret key opens what the public key sealed.
            let opened = sk2.decapsulate(&ct2).expect("same type");
            assert_eq!(opened.as_bytes(), ss.as_bytes());

            // Wrong lengths and empty input are refused.
            assert_eq!(
                KemPublicKey::deserialize(&pk_bytes[..1568]),
                Err(DecodeError::BadLength)
            );
            assert!(KemSecretKey::deserialize(&sk_bytes[..3168]).is_err());
            assert_eq!(KemCiphertext::deserialize(&[]), Err(DecodeError::Truncated));
        }
    }

    #[test]
    fn the_two_kems_are_kept_apart() {
        let mut rng = ChaCha20Rng::seed_from_u64(15);
        let kyber = KemKeyPair::generate(KemKeyType::Kyber1024, &mut rng);
        let (ct, ss) = kyber.public_key().encapsulate(&mut rng);
        // The same bytes under the other type byte: a well-formed ML-KEM ciphertext, but
        // a Kyber key refuses it rather than derive a secret.
        let mut other = ct.serialize();
        other[0] = 0x0A;
        let other = KemCiphertext::deserialize(&other).expect("well-formed");
        assert_eq!(
            kyber.secret_key().decapsulate(&other).err(),
            Some(ProtocolError::VersionMismatch)
        );
        // The same secret key bytes read as ML-KEM derive a different secret from the
        // same ciphertext bytes (the algorithms differ, so the type must travel).
        let mut sk = kyber.secret_key().serialize();
        sk[0] = 0x0A;
        let as_mlkem = KemSecretKey::deserialize(sk.as_slice()).expect("well-formed");
        let s2 = as_mlkem.decapsulate(&other).expect("same type");
        assert_ne!(s2.as_bytes(), ss.as_bytes());
    }

    #[test]
    fn a_pair_is_made_only_of_matching_halves() {
        let mut rng = ChaCha20Rng::seed_from_u64(16);
        let a = KemKeyPair::generate(KemKeyType::Kyber1024, &mut rng);
        let b = KemKeyPair::generate(KemKeyType::Kyber1024, &mut rng);
        assert!(a.secret_key().matches(a.public_key()));
        assert!(!a.secret_key().matches(b.public_key()));
        let joined = KemKeyPair::from_parts(a.public_key().clone(), a.secret_key().clone())
            .expect("matching halves");
        assert_eq!(joined.public_key(), a.public_key());
        assert_eq!(
            *joined.secret_key().serialize(),
            *a.secret_key().serialize()
        );
        assert!(KemKeyPair::from_parts(b.public_key().clone(), a.secret_key().clone()).is_none());

        // Same key bytes, other type: not a match either.
        let mut pk = a.public_key().serialize();
        pk[0] = 0x0A;
        let retyped = KemPublicKey::deserialize(&pk).expect("valid key");
        assert!(!a.secret_key().matches(&retyped));
        assert!(KemKeyPair::from_parts(retyped, a.secret_key().clone()).is_none());

        // One flipped byte of the embedded public key breaks the match, wherever it is.
        for i in [0, 1, PUBLIC_KEY_LEN / 2, PUBLIC_KEY_LEN - 1] {
            let mut sk = a.secret_key().serialize();
            sk[1 + 1536 + i] ^= 1;
            let sk = KemSecretKey::deserialize(sk.as_slice()).expect("well-formed");
            assert!(!sk.matches(a.public_key()), "flip at {i}");
        }
    }
}
