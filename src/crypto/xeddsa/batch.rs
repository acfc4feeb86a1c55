//! Exact batch verification: many signatures at once, each decided exactly as
//! [`verify`](super::verify) decides it, with the work that can be shared done once.
//!
//! # Why not the textbook batch equation
//!
//! The usual batch check, `Σ zᵢ(sᵢB − hᵢAᵢ − Rᵢ) = 0` with random `zᵢ`, is not exact for
//! this verifier. [`verify`](super::verify) is cofactorless: it compares the encoding of
//! `sB − hA` with `R`, and it accepts keys with small-order components. A forger who
//! adds a small-order point `T` to `R` (or signs for a key `A + T`) makes each error term
//! `sᵢB − hᵢAᵢ − Rᵢ` a non-zero point of order dividing 8; a random combination of such
//! terms is zero with probability at least 1/8 (1/2 for order 2, and always for two
//! terms built to cancel). The batch would then accept what one-by-one verification
//! rejects. No single linear equation over the group can separate n torsion errors.
//!
//! # What this does instead
//!
//! For every signature it computes the same point as [`verify`](super::verify) does,
//! `P = s·B − h·A` with the same `A`, `h` and `s`, and compares `enc(P)` with `R` byte
//! for byte. Only the way the point is reached differs, and group arithmetic is exact,
//! so every verdict is the same. The shared work:
//!
//! 1. **One decompression per key.** `A` is rebuilt from `u` and the sign bit (a square
//!    root and an inversion) once per distinct `(u, sign)`, not once per signature, and
//!    so is its encoding for the hash.
//! 2. **Fixed-base combs for large groups.** When at least [`COMB_MIN_SIGNATURES`]
//!    signatures share a key, `h·(−A)` comes from a table of `d·2^{wj}·(−A)` built once
//!    for that key, and `s·B` from one such table for `B` built once per batch. A
//!    multiplication is then one table addition per `w`-bit signed digit, with no
//!    doublings; the variable-base path ([`EdwardsPoint::vartime_double_scalar_mul_basepoint`],
//!    what [`verify`](super::verify) uses) spends about 253 doublings per signature. The
//!    tables use public data only, so variable-time lookups are fine.
//! 3. **One inversion for all encodings.** Encoding a point needs `1/Z`; all the `Z`
//!    coordinates are inverted together (Montgomery's trick:
//!    [`EdwardsPoint::compress_batch_alloc`]), three multiplications each instead of an
//!    inversion each.
//!
//! The comb multiplies by the scalar's canonical value as an integer (its 32 bytes, all
//! digits, including a final carry digit), exactly as the variable-base path does, so
//! `h·(−A)` is the same point even when `A` has a small-order component. Every point
//! produced by dalek's complete addition formulas has `Z ≠ 0`, so the batched inversion
//! is defined for every input.

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::montgomery::MontgomeryPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use subtle::ConstantTimeEq;

use super::{S_HIGH_BITS, SIGN_BIT, challenge};
use crate::crypto::x25519::PublicKey;

/// Signatures per key from which a per-key comb table pays for itself. Building a
/// table costs about as much as 20 variable-base verifications and each comb
/// multiplication saves about a third of one (measured in `benches/group.rs`).
pub const COMB_MIN_SIGNATURES: usize = 32;

/// From this many signatures per key, the wider (6-bit) comb is used: its table costs
/// twice as much to build as the 5-bit one and saves one addition in six.
const COMB_WIDE_SIGNATURES: usize = 256;

/// One signature to check: the key, the signed message and the signature.
#[derive(Debug, Clone, Copy)]
pub struct BatchItem<'a> {
    /// The signer's Curve25519 public key.
    pub key: &'a PublicKey,
    /// The signed bytes.
    pub message: &'a [u8],
    /// The 64-byte signature.
    pub signature: &'a [u8; 64],
}

/// Verifies every item and returns one verdict per item, in order. Each verdict is
/// exactly what [`verify`](super::verify) returns for that item, whatever the input
/// (forgeries, small-order or mixed-order keys, non-canonical encodings included); the
/// module documentation gives the argument, and the tests compare the two on every
/// kind of bad signature.
///
/// Faster than one-by-one verification for backlogs: the decompression of each key and
/// the inversions are shared, and keys with at least [`COMB_MIN_SIGNATURES`] signatures
/// get fixed-base tables (up to about 225 KB each while the call runs).
///
/// ```
/// use missive::crypto::{PrivateKey, xeddsa};
/// # let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
/// # use rand_core::SeedableRng;
/// let key = PrivateKey::generate(&mut rng);
/// let public = key.public_key();
/// let good = xeddsa::sign(&key, b"hello", &mut rng);
/// let mut forged = good;
/// forged[0] ^= 1;
/// let items = [
///     xeddsa::BatchItem { key: &public, message: b"hello", signature: &good },
///     xeddsa::BatchItem { key: &public, message: b"hello", signature: &forged },
/// ];
/// assert_eq!(xeddsa::verify_batch(&items), [true, false]);
/// ```
pub fn verify_batch(items: &[BatchItem<'_>]) -> Vec<bool> {
    let mut verdicts = vec![false; items.len()];

    // Items that pass the cheap check, grouped by the point their key and sign bit give.
    let mut groups: BTreeMap<([u8; 32], u8), Vec<usize>> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        let top = item.signature[63];
        if top & S_HIGH_BITS == 0 {
            groups
                .entry((*item.key.u_bytes(), top >> 7))
                .or_default()
                .push(i);
        }
    }

    let comb_total: usize = groups
        .values()
        .map(Vec::len)
        .filter(|&n| n >= COMB_MIN_SIGNATURES)
        .sum();
    let base_comb = comb_width(comb_total).map(|w| Comb::new(&ED25519_BASEPOINT_POINT, w));

    let mut points = Vec::with_capacity(items.len());
    let mut owners = Vec::with_capacity(items.len());
    for ((u, sign), members) in &groups {
        // Masks bit 255 of u and works mod p; None for u = −1 and for the twist: then
        // every signature of this group is false, as in `verify`.
        let Some(big_a) = MontgomeryPoint(*u).to_edwards(*sign) else {
            continue;
        };
        let a_enc = big_a.compress();
        let neg_a = -big_a;
        let key_comb = match (&base_comb, comb_width(members.len())) {
            (Some(_), Some(w)) => Some(Comb::new(&neg_a, w)),
            _ => None,
        };
        for &i in members {
            let Some((item, (r_bytes, s))) =
                items.get(i).and_then(|it| Some((it, split(it.signature)?)))
            else {
                continue;
            };
            let h = challenge(r_bytes, a_enc.as_bytes(), item.message);
            let combed = match (&base_comb, &key_comb) {
                (Some(b), Some(a)) => b
                    .mul(s.as_bytes())
                    .and_then(|sb| Some(sb + a.mul(h.as_bytes())?)),
                _ => None,
            };
            let p = combed.unwrap_or_else(|| {
                EdwardsPoint::vartime_double_scalar_mul_basepoint(&h, &neg_a, &s)
            });
            points.push(p);
            owners.push(i);
        }
    }

    let encodings = EdwardsPoint::compress_batch_alloc(&points);
    for (enc, i) in encodings.iter().zip(owners) {
        if let (Some(r_bytes), Some(v)) = (
            items.get(i).and_then(|it| it.signature.first_chunk::<32>()),
            verdicts.get_mut(i),
        ) {
            *v = enc.as_bytes().ct_eq(r_bytes).into();
        }
    }
    verdicts
}

/// `R` and `s mod q`, with the sign bit cleared from `s` as in `verify`.
fn split(signature: &[u8; 64]) -> Option<(&[u8; 32], Scalar)> {
    let r = signature.first_chunk::<32>()?;
    let mut s_bytes = *signature.last_chunk::<32>()?;
    s_bytes[31] &= !SIGN_BIT;
    Some((r, Scalar::from_bytes_mod_order(s_bytes)))
}

/// The comb width for `n` signatures sharing a point, or `None` when a table would cost
/// more than it saves.
fn comb_width(n: usize) -> Option<u32> {
    if n >= COMB_WIDE_SIGNATURES {
        Some(6)
    } else if n >= COMB_MIN_SIGNATURES {
        Some(5)
    } else {
        None
    }
}

/// Signed `w`-bit digits of a 256-bit little-endian integer: `k = Σ dⱼ·2^{wj}` with
/// `−2^{w−1} ≤ dⱼ < 2^{w−1}` except the last digit, which is the final carry (0 or 1).
/// Exact for every 32-byte input.
pub(crate) fn signed_digits(k: &[u8; 32], w: u32) -> impl Iterator<Item = i32> + '_ {
    let windows = 256usize.div_ceil(w as usize);
    let full = 1i32 << w;
    let half = 1i32 << (w - 1);
    let mut carry = 0i32;
    (0..=windows).map(move |j| {
        if j == windows {
            return carry;
        }
        let v = window(k, j * w as usize, w) + carry;
        if v >= half {
            carry = 1;
            v - full
        } else {
            carry = 0;
            v
        }
    })
}

/// `w ≤ 9` bits of `k` starting at bit `offset` (bits past 255 read as 0).
fn window(k: &[u8; 32], offset: usize, w: u32) -> i32 {
    let byte = offset / 8;
    let lo = u32::from(k.get(byte).copied().unwrap_or(0));
    let hi = u32::from(k.get(byte + 1).copied().unwrap_or(0));
    let both = lo | (hi << 8);
    ((both >> (offset % 8)) & ((1 << w) - 1)) as i32
}

/// A fixed-base comb: `rows[j·half + d − 1] = d·2^{wj}·P` for `1 ≤ d ≤ half = 2^{w−1}`
/// and every digit position `j` of [`signed_digits`].
pub(crate) struct Comb {
    w: u32,
    half: usize,
    rows: Vec<EdwardsPoint>,
}

impl Comb {
    pub(crate) fn new(p: &EdwardsPoint, w: u32) -> Self {
        let half = 1usize << (w - 1);
        let positions = 256usize.div_ceil(w as usize) + 1;
        let mut rows = Vec::with_capacity(positions * half);
        let mut base = *p;
        for _ in 0..positions {
            let mut acc = base;
            rows.push(acc);
            for _ in 1..half {
                acc += base;
                rows.push(acc);
            }
            // acc = half·base, so acc + acc = 2^w·base.
            base = acc + acc;
        }
        Comb { w, half, rows }
    }

    /// `k·P` for the integer `k` (little-endian). `None` only if the table were too
    /// short, which [`Comb::new`] rules out; callers fall back to the variable-base path.
    pub(crate) fn mul(&self, k: &[u8; 32]) -> Option<EdwardsPoint> {
        let mut acc = EdwardsPoint::identity();
        for (j, d) in signed_digits(k, self.w).enumerate() {
            if d == 0 {
                continue;
            }
            let entry = self
                .rows
                .get(j * self.half + d.unsigned_abs() as usize - 1)?;
            if d > 0 {
                acc += entry;
            } else {
                acc -= entry;
            }
        }
        Some(acc)
    }
}

#[cfg(test)]
mod tests;
