//! Raw protocol building blocks, for known-answer tests, the constant-time tests
//! (`tests/ct_valgrind/`, `benches/constant_time.rs`, `docs/CONSTANT-TIME.md`) and audits.
//!
//! **Not for apps.** Nothing here is misuse-resistant: keys go in as plain arrays,
//! nothing is single-use, nothing checks where a key came from. A messenger
//! needs none of it: the session API ([`Device::encrypt`](crate::Device::encrypt),
//! [`Device::decrypt`](crate::Device::decrypt), …) runs these steps in
//! the right order. Enabled by the `hazmat` feature; its surface may change in any
//! release.
//!
//! Each function is the very code the sessions run (a thin wrapper, no copy of the
//! logic), so what is measured here is what ships. XEdDSA signing with a given nonce
//! input is [`xeddsa::sign_with_z`](crate::crypto::xeddsa::sign_with_z); KEM
//! decapsulation is public anyway ([`KemSecretKey::decapsulate`](crate::crypto::KemSecretKey::decapsulate)).
//!
//! ```
//! // Two steps of a Double Ratchet chain, and the first message's keys.
//! let (seed, next) = missive::hazmat::chain_kdf(&[7; 32]);
//! let (_seed2, _next2) = missive::hazmat::chain_kdf(&next);
//! let (aes_key, mac_key, iv) = missive::hazmat::message_keys(&seed, None);
//! let ciphertext = missive::hazmat::aes_cbc_encrypt(&aes_key, &iv, b"hi");
//! assert_eq!(missive::hazmat::aes_cbc_decrypt(&aes_key, &iv, &ciphertext).unwrap(), b"hi");
//! # let _ = mac_key;
//! ```

use alloc::vec::Vec;

pub use subtle::Choice;
use zeroize::Zeroizing;

use crate::IdentityKey;
use crate::crypto::{PrivateKey, PublicKey, aes_cbc};
use crate::group::chain::{SenderChainKey, SenderMessageKeys};
use crate::ratchet::keys::{ChainKey, MessageKeys, MessageSeed, RootKey};
use crate::ratchet::spqr;
use crate::wire::message as wire;

/// 32 secret bytes, zeroized on drop.
pub type Secret32 = Zeroizing<[u8; 32]>;

/// X25519 (RFC 7748) without the contributory check that
/// [`PrivateKey::diffie_hellman`] adds: the raw output, all zero for a low-order `their`.
pub fn x25519(private_key: &PrivateKey, their: &PublicKey) -> Secret32 {
    Zeroizing::new(private_key.agree(their).to_bytes())
}

/// The root-key step of the Double Ratchet:
/// `HKDF(salt = root_key, ikm = dh_output, info = "WhisperRatchet")` → (new root key,
/// new chain key).
pub fn root_kdf(root_key: &[u8; 32], dh_output: &[u8; 32]) -> (Secret32, Secret32) {
    let (root, chain) = RootKey::new(*root_key).step(dh_output);
    (
        Zeroizing::new(*root.as_bytes()),
        Zeroizing::new(*chain.key()),
    )
}

/// The symmetric-key step of a Double Ratchet chain: (message seed `HMAC(ck, 0x01)`,
/// next chain key `HMAC(ck, 0x02)`).
pub fn chain_kdf(chain_key: &[u8; 32]) -> (Secret32, Secret32) {
    let ck = ChainKey::new(*chain_key, 0);
    let next = ck.next().map(|n| *n.key()).unwrap_or_default();
    (
        Zeroizing::new(*ck.message_seed().as_bytes()),
        Zeroizing::new(next),
    )
}

/// A message's keys from its seed and (v4) SPQR key:
/// `HKDF(salt = spqr_key, ikm = seed, info = "WhisperMessageKeys")` → (AES key, MAC key,
/// IV).
pub fn message_keys(
    seed: &[u8; 32],
    spqr_key: Option<&[u8; 32]>,
) -> (Secret32, Secret32, Zeroizing<[u8; 16]>) {
    let keys = MessageKeys::derive(&MessageSeed::from_bytes(*seed), spqr_key);
    (
        Zeroizing::new(keys.cipher_key),
        Zeroizing::new(keys.mac_key),
        Zeroizing::new(keys.iv),
    )
}

/// One step of SPQR's symmetric chain: (the chain key at `index`, the message key at
/// `index`) from the chain key at `index − 1`.
pub fn spqr_chain_step(chain_key: &[u8; 32], index: u32) -> (Secret32, Secret32) {
    let (next, message_key) = spqr::chain_step(chain_key, index);
    (Zeroizing::new(next), Zeroizing::new(message_key))
}

/// The 8-byte MAC of a `SignalMessage` body (`version ‖ protobuf`).
pub fn signal_message_mac(
    mac_key: &[u8; 32],
    sender: &IdentityKey,
    receiver: &IdentityKey,
    body: &[u8],
) -> [u8; 8] {
    wire::compute_mac(mac_key, sender, receiver, body)
}

/// The MAC check of a serialized `SignalMessage` (`body ‖ MAC(8)`), exactly as
/// decryption runs it.
pub fn verify_signal_message_mac(
    serialized: &[u8],
    sender: &IdentityKey,
    receiver: &IdentityKey,
    mac_key: &[u8; 32],
) -> bool {
    wire::verify_mac(serialized, sender, receiver, mac_key)
}

/// AES-256-CBC encryption with PKCS#7 padding.
pub fn aes_cbc_encrypt(key: &[u8; 32], iv: &[u8; 16], plaintext: &[u8]) -> Vec<u8> {
    aes_cbc::encrypt(key, iv, plaintext)
}

/// AES-256-CBC decryption with the PKCS#7 check, as messages are decrypted (after their
/// MAC verified). `None` for a bad length or bad padding.
pub fn aes_cbc_decrypt(key: &[u8; 32], iv: &[u8; 16], ciphertext: &[u8]) -> Option<Vec<u8>> {
    aes_cbc::decrypt(key, iv, ciphertext)
}

/// The first half of [`aes_cbc_decrypt`]: decrypts whole blocks in place, padding left
/// on. False (and `buf` untouched) unless `buf.len()` is a non-zero multiple of 16.
pub fn aes_cbc_decrypt_blocks(key: &[u8; 32], iv: &[u8; 16], buf: &mut [u8]) -> bool {
    aes_cbc::decrypt_blocks(key, iv, buf)
}

/// The second half of [`aes_cbc_decrypt`]: the constant-time PKCS#7 check of the last
/// plaintext block, `(valid, padding length)`. [`aes_cbc_decrypt`] then reveals both
/// (it returns `None` or the plaintext without its padding).
pub fn pkcs7_padding_len(last_block: &[u8; 16]) -> (Choice, u8) {
    aes_cbc::padding_len(last_block)
}

/// One step of a sender-key chain: the IV and AES key of the message at `chain_key`, and
/// the next chain key.
pub fn sender_key_step(chain_key: &[u8; 32]) -> (Zeroizing<[u8; 16]>, Secret32, Secret32) {
    let ck = SenderChainKey::new(0, *chain_key);
    let keys = SenderMessageKeys::derive(&ck.seed());
    let next = ck.next().map(|n| *n.key()).unwrap_or_default();
    (
        Zeroizing::new(keys.iv),
        Zeroizing::new(keys.cipher_key),
        Zeroizing::new(next),
    )
}
