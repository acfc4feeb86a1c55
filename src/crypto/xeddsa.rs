//! XEdDSA signatures over Curve25519 keys ([XEdDSA] §3, with the Curve25519 parameters
//! of §5), in the variant libsignal signs and verifies.
//!
//! ```text
//! signature = R (32) ‖ s (32, little-endian)
//!                       byte 63: bit 7    = sign of the signer's Edwards point kB
//!                                bits 6,5 = must be 0 (s < 2^253)
//! ```
//!
//! Where libsignal departs from the specification (evidence in `docs/notes/xeddsa.md`,
//! vectors in `tests/vectors/xeddsa.json`):
//!
//! * **Signing** uses the Edwards scalar `a = k mod q` and the point `A = kB` with
//!   whatever sign it has, and writes that sign into bit 7 of byte 63. The specification
//!   instead forces `A`'s sign to 0 (negating `a` when needed) and leaves the bit 0.
//!   Both forms verify under libsignal, and under [`verify`].
//! * **Verification** rebuilds `A` from the Montgomery `u` with the sign taken from that
//!   bit, not a fixed 0. It does not reject `u ≥ p` (bit 255 of `u` is ignored and the
//!   rest is reduced mod p), nor small-order or mixed-order keys; `s` need not be reduced
//!   below q, only below 2^253. `R` must be the canonical encoding of `sB − hA`.
//!
//! The nonce is the specification's `r = SHA-512(0xFE ‖ 0xFF×31 ‖ a ‖ M ‖ Z) mod q`, with
//! `a` encoded as the 32-byte reduced scalar. (libsignal's own nonce derivation cannot be
//! observed: its `Z` is internal. Any secret-keyed derivation with fresh `Z` gives
//! signatures it accepts.)
//!
//! [XEdDSA]: https://signal.org/docs/specifications/xeddsa/

use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::montgomery::MontgomeryPoint;
use curve25519_dalek::scalar::Scalar;
use rand_core::CryptoRng;
use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::x25519::{PrivateKey, PublicKey};

/// Length of a signature.
pub const SIGNATURE_LEN: usize = 64;

/// `hash_1`'s prefix (§2.5): the 32-byte encoding of 2^256 − 1 − 1.
const HASH1_PREFIX: [u8; 32] = {
    let mut p = [0xffu8; 32];
    p[0] = 0xfe;
    p
};

/// Bit 7 of byte 63: the sign of the signer's Edwards point.
const SIGN_BIT: u8 = 0x80;

/// Bits 6 and 5 of byte 63: `s ≥ 2^253` when either is set (§3.3: `s ≥ 2^|q|`).
const S_HIGH_BITS: u8 = 0x60;

/// A private key ready to sign: it carries its Edwards public point `enc(kB)`, computed
/// once, so that each signature costs one fixed-base multiplication (the nonce's `rB`)
/// instead of two. The identity key pair and a sender-key chain's signing key are kept
/// in this form; the point is recomputed from the private key whenever one is built
/// (never read from storage).
///
/// ```
/// use missive::crypto::PrivateKey;
/// use missive::crypto::xeddsa::{SigningKey, VerifyingKey};
/// # use rand_core::SeedableRng;
/// # let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
/// let key = SigningKey::new(PrivateKey::generate(&mut rng));
/// let signature = key.sign(b"message", &mut rng);
/// assert!(VerifyingKey::new(key.public_key()).verify(b"message", &signature));
/// ```
#[derive(Clone)]
pub struct SigningKey {
    private: PrivateKey,
    public: PublicKey,
    /// `enc(kB)`: the signer's Edwards point with its own sign (public).
    edwards: [u8; 32],
}

impl SigningKey {
    /// Computes the public key (Montgomery `u`) and the Edwards point of `private` from
    /// one fixed-base multiplication.
    pub fn new(private: PrivateKey) -> Self {
        // The key is clamped, so kB = (k mod q)B: the point x25519's u comes from.
        let a = Zeroizing::new(Scalar::from_bytes_mod_order(*private.to_bytes()));
        let point = EdwardsPoint::mul_base(&a);
        SigningKey {
            public: PublicKey::from_u_bytes(point.to_montgomery().to_bytes()),
            edwards: point.compress().to_bytes(),
            private,
        }
    }

    /// The private key.
    pub fn private_key(&self) -> &PrivateKey {
        &self.private
    }

    /// The public key (`u`), as [`PrivateKey::public_key`] computes it.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Signs `message` ([`sign`]); `rng` supplies the 64 random bytes Z.
    pub fn sign<R: CryptoRng + ?Sized>(&self, message: &[u8], rng: &mut R) -> [u8; 64] {
        let mut z = Zeroizing::new([0u8; 64]);
        rng.fill_bytes(z.as_mut());
        sign_core(&self.private, &self.edwards, message, &z)
    }

    /// [`SigningKey::sign`] with Z given: for known-answer tests.
    #[cfg(feature = "hazmat")]
    pub fn sign_with_z(&self, message: &[u8], z: &[u8; 64]) -> [u8; 64] {
        sign_core(&self.private, &self.edwards, message, z)
    }
}

impl core::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SigningKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// Signs `message` with a Curve25519 private key. `rng` supplies the 64 random bytes Z.
///
/// Computes the signer's Edwards point first: a key that signs more than once is
/// cheaper as a [`SigningKey`].
pub fn sign<R: CryptoRng + ?Sized>(key: &PrivateKey, message: &[u8], rng: &mut R) -> [u8; 64] {
    let mut z = Zeroizing::new([0u8; 64]);
    rng.fill_bytes(z.as_mut());
    sign_z(key, message, &z)
}

/// The deterministic core of [`sign`], with Z given: for known-answer tests.
/// The nonce also hashes the secret scalar and the message, so a repeated Z gives a
/// deterministic signature rather than a leaked key; the specification still asks for
/// a fresh random Z per signature, as [`sign`] draws.
#[cfg(feature = "hazmat")]
pub fn sign_with_z(key: &PrivateKey, message: &[u8], z: &[u8; 64]) -> [u8; 64] {
    sign_z(key, message, z)
}

/// [`sign`] with Z given (one body, whether or not `hazmat` exports it).
pub(crate) fn sign_z(key: &PrivateKey, message: &[u8], z: &[u8; 64]) -> [u8; 64] {
    let a = Zeroizing::new(Scalar::from_bytes_mod_order(*key.to_bytes()));
    sign_core(
        key,
        &EdwardsPoint::mul_base(&a).compress().to_bytes(),
        message,
        z,
    )
}

/// Signs with `big_a = enc(kB)` given (it must be `key`'s: [`SigningKey`] guarantees it).
// Constant time: no branch or index depends on the key, the nonce or the sign bit.
fn sign_core(key: &PrivateKey, big_a: &[u8; 32], message: &[u8], z: &[u8; 64]) -> [u8; 64] {
    let a = Zeroizing::new(Scalar::from_bytes_mod_order(*key.to_bytes()));
    let mut wide = Zeroizing::new([0u8; 64]);
    Sha512::new()
        .chain_update(HASH1_PREFIX)
        .chain_update(a.as_bytes())
        .chain_update(message)
        .chain_update(z)
        .finalize_into((&mut *wide).into());
    let r = Zeroizing::new(Scalar::from_bytes_mod_order_wide(&wide));
    let big_r = EdwardsPoint::mul_base(&r).compress();

    let h = challenge(big_r.as_bytes(), big_a, message);
    let mut s = Zeroizing::new(h * *a);
    *s += &*r;

    let mut signature = concat(big_r.as_bytes(), s.as_bytes());
    // s < q < 2^253, so bit 7 of byte 63 is free.
    signature[63] |= big_a[31] & SIGN_BIT;
    signature
}

/// A public key ready to verify: its Edwards point `A` (rebuilt from `u`: a square root
/// and an inversion) and `enc(A)` computed once, so that each verification costs the
/// double multiplication, one encoding and the hash. Sender-key states keep one per
/// chain; it is computed from the public key, never read from storage.
///
/// Decides every signature exactly as [`verify`] does.
#[derive(Clone)]
pub struct VerifyingKey {
    key: PublicKey,
    /// `A` for sign bit 0 and `enc(A)`; `None` when `u` has no Edwards point (`u ≡ −1`,
    /// or a point of the twist): no signature verifies then.
    point: Option<(EdwardsPoint, [u8; 32])>,
}

/// `enc((0, −1))`: the one point that `u` maps to with `x = 0` (from `u = 0`), so its
/// negation has the same encoding.
const ENC_X_ZERO: [u8; 32] = {
    let mut e = [0xffu8; 32];
    e[0] = 0xec;
    e[31] = 0x7f;
    e
};

impl VerifyingKey {
    /// Rebuilds the Edwards point of `key`.
    pub fn new(key: &PublicKey) -> Self {
        // Masks bit 255 of u and works mod p; None for u = −1 and for points on the twist.
        let point = MontgomeryPoint(*key.u_bytes())
            .to_edwards(0)
            .map(|a| (a, a.compress().to_bytes()));
        VerifyingKey { key: *key, point }
    }

    /// The public key (`u`).
    pub fn public_key(&self) -> &PublicKey {
        &self.key
    }

    /// Verifies a signature made by [`sign`] or by libsignal. False for every malformed
    /// input. Variable-time: it handles only public data.
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let (Some(r_bytes), Some(s_field)) =
            (signature.first_chunk::<32>(), signature.last_chunk::<32>())
        else {
            return false;
        };
        let mut s_bytes = *s_field;
        let sign = s_bytes[31] >> 7;
        s_bytes[31] &= !SIGN_BIT;
        if s_bytes[31] & S_HIGH_BITS != 0 {
            return false;
        }
        let Some((a0, enc0)) = &self.point else {
            return false;
        };
        // The point with sign bit 1 is −A (what `to_edwards(1)` gives: the square root
        // negated). Its encoding flips bit 255, except for x = 0, whose negation is itself.
        let (minus_a, enc) = if sign == 0 {
            (-a0, *enc0)
        } else {
            let mut e = *enc0;
            if e != ENC_X_ZERO {
                e[31] ^= SIGN_BIT;
            }
            (*a0, e)
        };
        let h = challenge(r_bytes, &enc, message);
        // s < 2^253 is accepted unreduced; reducing it leaves sB unchanged.
        let s = Scalar::from_bytes_mod_order(s_bytes);
        let r_check =
            EdwardsPoint::vartime_double_scalar_mul_basepoint(&h, &minus_a, &s).compress();
        r_check.as_bytes().ct_eq(r_bytes).into()
    }
}

impl core::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("VerifyingKey").field(&self.key).finish()
    }
}

/// Verifies a signature made by [`sign`] or by libsignal. False for every malformed input.
///
/// Verification is variable-time: it handles only public data. A key that verifies more
/// than once is cheaper as a [`VerifyingKey`].
pub fn verify(key: &PublicKey, message: &[u8], signature: &[u8; 64]) -> bool {
    VerifyingKey::new(key).verify(message, signature)
}

/// `h = SHA-512(R ‖ A ‖ M) mod q`.
fn challenge(big_r: &[u8; 32], big_a: &[u8; 32], message: &[u8]) -> Scalar {
    Scalar::from_hash(
        Sha512::new()
            .chain_update(big_r)
            .chain_update(big_a)
            .chain_update(message),
    )
}

fn concat(left: &[u8; 32], right: &[u8; 32]) -> [u8; 64] {
    let mut out = [0u8; 64];
    for (o, b) in out.iter_mut().zip(left.iter().chain(right.iter())) {
        *o = *b;
    }
    out
}

#[cfg(feature = "alloc")]
mod batch;
#[cfg(feature = "alloc")]
pub use batch::{BatchItem, COMB_MIN_SIGNATURES, verify_batch};

#[cfg(test)]
mod tests;
