//! A sender's symmetric chain and the keys of each group message.
//!
//! ```text
//! SenderChainKey ck (iteration i) ──HMAC(ck, 0x01)──► seed i
//!        └──────────────────────HMAC(ck, 0x02)──► SenderChainKey (iteration i + 1)
//!
//! seed ──HKDF(salt = none, info "WhisperGroup")──► IV (16) ‖ AES-256 key (32)
//! ```
//!
//! The same chain step as the Double Ratchet's; only the message-key derivation
//! differs (48 bytes, IV first, no MAC key).

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::crypto::kdf::{hkdf, hmac};

/// HKDF info of the group message keys.
pub(crate) const GROUP_INFO: &[u8] = b"WhisperGroup";
const MESSAGE_SEED_INPUT: [u8; 1] = [0x01];
const CHAIN_KEY_INPUT: [u8; 1] = [0x02];

/// A chain key and its iteration (the iteration of the next message it yields).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct SenderChainKey {
    iteration: u32,
    key: [u8; 32],
}

impl SenderChainKey {
    pub(crate) fn new(iteration: u32, key: [u8; 32]) -> Self {
        SenderChainKey { iteration, key }
    }

    pub(crate) fn iteration(&self) -> u32 {
        self.iteration
    }

    pub(crate) fn key(&self) -> &[u8; 32] {
        &self.key
    }

    /// The seed of the message at [`SenderChainKey::iteration`].
    pub(crate) fn seed(&self) -> SenderMessageSeed {
        SenderMessageSeed(hmac(&self.key, &[&MESSAGE_SEED_INPUT]))
    }

    /// The chain key of the next iteration; `None` at iteration 2^32 − 1, which has no
    /// successor (libsignal refuses to use that iteration too).
    pub(crate) fn next(&self) -> Option<SenderChainKey> {
        Some(SenderChainKey {
            iteration: self.iteration.checked_add(1)?,
            key: hmac(&self.key, &[&CHAIN_KEY_INPUT]),
        })
    }
}

/// The secret of one message, kept for messages skipped over.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct SenderMessageSeed(pub(crate) [u8; 32]);

/// The keys of one message. Consumed by the encryption or decryption that uses them.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct SenderMessageKeys {
    pub(crate) iv: [u8; 16],
    pub(crate) cipher_key: [u8; 32],
}

impl SenderMessageKeys {
    /// `HKDF(salt = none, ikm = seed, info = "WhisperGroup")` → IV 16 ‖ key 32.
    pub(crate) fn derive(seed: &SenderMessageSeed) -> Self {
        let okm = Zeroizing::new(hkdf::<48>(None, &seed.0, &[GROUP_INFO]));
        let mut keys = SenderMessageKeys {
            iv: [0; 16],
            cipher_key: [0; 32],
        };
        let (iv, key) = okm.split_at(16);
        keys.iv.copy_from_slice(iv);
        keys.cipher_key.copy_from_slice(key);
        keys
    }
}
