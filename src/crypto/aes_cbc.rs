//! AES-256-CBC with PKCS#7 padding, as the Double Ratchet and sender keys use it.
//!
//! The `aes` crate's software backend is bitsliced (no table lookups) and it uses AES-NI
//! where the CPU has it; `cbc` checks the padding without branching on its bytes.

use aes::Aes256;
use alloc::vec::Vec;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit, block_padding::Pkcs7};

/// Encrypts with PKCS#7 padding.
pub(crate) fn encrypt(key: &[u8; 32], iv: &[u8; 16], plaintext: &[u8]) -> Vec<u8> {
    cbc::Encryptor::<Aes256>::new(key.into(), iv.into()).encrypt_padded_vec::<Pkcs7>(plaintext)
}

/// Decrypts and strips PKCS#7 padding. `None` on bad length or padding: the caller turns
/// it into the one opaque decryption error.
pub(crate) fn decrypt(key: &[u8; 32], iv: &[u8; 16], ciphertext: &[u8]) -> Option<Vec<u8>> {
    if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(16) {
        return None;
    }
    cbc::Decryptor::<Aes256>::new(key.into(), iv.into())
        .decrypt_padded_vec::<Pkcs7>(ciphertext)
        .ok()
}
