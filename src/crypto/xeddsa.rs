//! XEdDSA signatures over Curve25519 keys, in libsignal's variant.
//! PLACEHOLDER until the xeddsa branch lands: same interface, no real signatures.

use rand_core::CryptoRng;

use super::x25519::{PrivateKey, PublicKey};

/// Signs `message` (placeholder).
pub fn sign<R: CryptoRng + ?Sized>(key: &PrivateKey, message: &[u8], rng: &mut R) -> [u8; 64] {
    let _ = (key, message, rng);
    [0u8; 64]
}

/// Verifies (placeholder: accepts only the placeholder signature).
pub fn verify(key: &PublicKey, message: &[u8], signature: &[u8; 64]) -> bool {
    let _ = (key, message);
    signature == &[0u8; 64]
}
