//! The two ciphers sealed sender uses, each with an all-zero IV or nonce: every key is
//! derived for one message only.
//!
//! * v1: AES-256-CTR (128-bit big-endian counter starting at 0), authenticated by a
//!   truncated HMAC-SHA256 that the caller computes.
//! * v2: AES-256-GCM-SIV (RFC 8452), nonce 12 zero bytes, no associated data, tag
//!   appended.

use aes::Aes256;
use aes_gcm_siv::aead::{AeadInOut, KeyInit};
use aes_gcm_siv::{Aes256GcmSiv, Nonce, Tag};
use alloc::vec::Vec;
use ctr::cipher::{KeyIvInit, StreamCipher};

/// Length of the GCM-SIV tag.
pub(super) const TAG_LEN: usize = 16;

/// AES-256-CTR with IV 0, in place (encryption and decryption are the same).
pub(super) fn aes256_ctr(key: &[u8; 32], data: &mut [u8]) {
    let mut c = ctr::Ctr128BE::<Aes256>::new(key.into(), &[0u8; 16].into());
    c.apply_keystream(data);
}

/// AES-256-GCM-SIV with nonce 0 and no associated data: `ciphertext ‖ tag`.
pub(super) fn gcm_siv_seal(key: &[u8; 32], plaintext: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(plaintext.len() + TAG_LEN);
    out.extend_from_slice(plaintext);
    let aead = Aes256GcmSiv::new(key.into());
    // Fails only for inputs over 2^36 bytes, which no message reaches; an empty result
    // then fails to open rather than anything panicking.
    match aead.encrypt_inout_detached(&Nonce::default(), &[], out.as_mut_slice().into()) {
        Ok(tag) => out.extend_from_slice(&tag),
        Err(_) => out.clear(),
    }
    out
}

/// Opens `ciphertext ‖ tag`; `None` when it does not authenticate.
pub(super) fn gcm_siv_open(key: &[u8; 32], sealed: &[u8]) -> Option<Vec<u8>> {
    let split = sealed.len().checked_sub(TAG_LEN)?;
    let (ct, tag) = sealed.split_at(split);
    let tag = Tag::try_from(tag).ok()?;
    let mut out = ct.to_vec();
    let aead = Aes256GcmSiv::new(key.into());
    aead.decrypt_inout_detached(&Nonce::default(), &[], out.as_mut_slice().into(), &tag)
        .ok()?;
    Some(out)
}
