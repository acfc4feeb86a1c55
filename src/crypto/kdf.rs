//! HKDF-SHA256 (RFC 5869) and HMAC-SHA256 (RFC 2104).

use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// HKDF-SHA256 into a fixed-size output. `salt = None` means the RFC's default salt
/// (32 zero bytes), which is what libsignal's "no salt" means too.
///
/// Every output length used by the protocol is far below HKDF's limit of 255 × 32
/// bytes, so expansion cannot fail; the `N` bound is checked at compile time.
pub(crate) fn hkdf<const N: usize>(salt: Option<&[u8]>, ikm: &[u8], info: &[&[u8]]) -> [u8; N] {
    const { assert!(N <= 255 * 32) };
    let mut okm = [0u8; N];
    let hk = Hkdf::<Sha256>::new(salt, ikm);
    // Cannot fail: N is within HKDF's bound (checked above).
    let _ = hk.expand_multi_info(info, &mut okm);
    okm
}

/// HMAC-SHA256 over the concatenation of `parts`.
pub(crate) fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this never fails.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| <HmacSha256 as KeyInit>::new(&Default::default()));
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// Constant-time equality of two byte strings of public length.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}
