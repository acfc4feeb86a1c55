//! The key schedule of the Double Ratchet, as libsignal runs it.
//!
//! ```text
//!             DH(their ratchet, our ratchet)
//!                        │
//! RootKey ──HKDF(salt = root, info "WhisperRatchet")──► RootKey' ‖ ChainKey (64)
//!
//! ChainKey ck ──HMAC(ck, 0x01)──► message seed
//!     └───────HMAC(ck, 0x02)──► next ChainKey
//!
//! seed ──HKDF(salt = SPQR key [v4] | none [v3], info "WhisperMessageKeys")──►
//!         AES key (32) ‖ MAC key (32) ‖ IV (16)
//! ```

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::crypto::kdf::{hkdf, hmac};
use crate::crypto::{PrivateKey, PublicKey};
use crate::error::ProtocolError;

/// HKDF info of the root-key step.
pub(crate) const ROOT_INFO: &[u8] = b"WhisperRatchet";
/// HKDF info of the message-key derivation.
pub(crate) const MESSAGE_KEYS_INFO: &[u8] = b"WhisperMessageKeys";
const MESSAGE_SEED_INPUT: [u8; 1] = [0x01];
const CHAIN_KEY_INPUT: [u8; 1] = [0x02];

/// The root key.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct RootKey([u8; 32]);

impl RootKey {
    pub(crate) fn new(key: [u8; 32]) -> Self {
        RootKey(key)
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// One DH ratchet step: a new root key and the first key of a new chain.
    pub(crate) fn create_chain(
        &self,
        their_ratchet_key: &PublicKey,
        our_ratchet_key: &PrivateKey,
    ) -> Result<(RootKey, ChainKey), ProtocolError> {
        let shared = our_ratchet_key.diffie_hellman(their_ratchet_key)?;
        Ok(self.step(shared.as_bytes()))
    }

    /// The KDF step on a given DH output.
    pub(crate) fn step(&self, dh: &[u8; 32]) -> (RootKey, ChainKey) {
        let okm = Zeroizing::new(hkdf::<64>(Some(&self.0), dh, &[ROOT_INFO]));
        let (root, chain) = split_32_32(&okm);
        (RootKey(root), ChainKey::new(chain, 0))
    }
}

/// A sending or receiving chain key and the index of the next message on it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct ChainKey {
    key: [u8; 32],
    index: u32,
}

impl ChainKey {
    pub(crate) fn new(key: [u8; 32], index: u32) -> Self {
        ChainKey { key, index }
    }

    pub(crate) fn key(&self) -> &[u8; 32] {
        &self.key
    }

    pub(crate) fn index(&self) -> u32 {
        self.index
    }

    /// The seed of the message at [`ChainKey::index`].
    pub(crate) fn message_seed(&self) -> MessageSeed {
        MessageSeed(hmac(&self.key, &[&MESSAGE_SEED_INPUT]))
    }

    /// The key of the next message; `None` once the 32-bit counter is exhausted.
    pub(crate) fn next(&self) -> Option<ChainKey> {
        Some(ChainKey {
            key: hmac(&self.key, &[&CHAIN_KEY_INPUT]),
            index: self.index.checked_add(1)?,
        })
    }
}

/// The per-message secret a chain yields; kept for skipped messages so the SPQR key can
/// be applied when the message arrives.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct MessageSeed([u8; 32]);

impl MessageSeed {
    pub(crate) fn from_bytes(b: [u8; 32]) -> Self {
        MessageSeed(b)
    }
    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// The keys of one message. Consumed by the encryption or decryption that uses them.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct MessageKeys {
    pub(crate) cipher_key: [u8; 32],
    pub(crate) mac_key: [u8; 32],
    pub(crate) iv: [u8; 16],
}

impl MessageKeys {
    /// `HKDF(salt = pq_key or none, ikm = seed, info = "WhisperMessageKeys")` → 80 bytes.
    pub(crate) fn derive(seed: &MessageSeed, pq_key: Option<&[u8; 32]>) -> Self {
        let okm = Zeroizing::new(hkdf::<80>(
            pq_key.map(|k| k.as_slice()),
            &seed.0,
            &[MESSAGE_KEYS_INFO],
        ));
        let mut keys = MessageKeys {
            cipher_key: [0; 32],
            mac_key: [0; 32],
            iv: [0; 16],
        };
        let (a, rest) = okm.split_at(32);
        let (b, c) = rest.split_at(32);
        keys.cipher_key.copy_from_slice(a);
        keys.mac_key.copy_from_slice(b);
        keys.iv.copy_from_slice(c);
        keys
    }
}

/// Splits 64 bytes into two 32-byte halves.
pub(crate) fn split_32_32(b: &[u8; 64]) -> ([u8; 32], [u8; 32]) {
    let mut x = [0u8; 32];
    let mut y = [0u8; 32];
    let (l, r) = b.split_at(32);
    x.copy_from_slice(l);
    y.copy_from_slice(r);
    (x, y)
}

#[cfg(test)]
mod tests;
