//! AES-256-CBC with PKCS#7 padding, as the Double Ratchet and sender keys use it.
//!
//! The `aes` crate uses AES-NI where the CPU has it and a bitsliced software backend
//! otherwise: no table lookups either way.
//!
//! Decryption checks the padding itself, in constant time. `cbc`'s own unpadding
//! (block-padding 0.4 `Pkcs7::unpad`) branches on the padding byte and stops at the first
//! wrong padding byte: a padding oracle wherever unauthenticated ciphertexts reach it.
//! Here every caller checks the MAC first, so an attacker never gets a padding verdict
//! on a ciphertext they made; the constant-time check makes that a second line of
//! defence rather than the only one. The verdict and the plaintext length are then
//! revealed on purpose (the caller gets them), in [`decrypt`] only. `docs/CONSTANT-TIME.md`
//! has the measurements.

use aes::Aes256;
use alloc::vec::Vec;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit, block_padding::Pkcs7};
use subtle::{Choice, ConstantTimeEq, ConstantTimeLess};

/// The AES block size.
pub(crate) const BLOCK_LEN: usize = 16;

/// Encrypts with PKCS#7 padding.
pub(crate) fn encrypt(key: &[u8; 32], iv: &[u8; 16], plaintext: &[u8]) -> Vec<u8> {
    cbc::Encryptor::<Aes256>::new(key.into(), iv.into()).encrypt_padded_vec::<Pkcs7>(plaintext)
}

/// Decrypts and strips PKCS#7 padding. `None` on bad length or padding: the caller turns
/// it into the one opaque decryption error.
pub(crate) fn decrypt(key: &[u8; 32], iv: &[u8; 16], ciphertext: &[u8]) -> Option<Vec<u8>> {
    let mut buf = ciphertext.to_vec();
    if !decrypt_blocks(key, iv, &mut buf) {
        return None;
    }
    let (valid, pad) = padding_len(last_block(&buf)?);
    // Declassified here: callers run this only on a MAC-verified ciphertext, so whether
    // its padding is valid and how long its plaintext is are the sender's own choices,
    // and the caller learns both from the result anyway.
    if !bool::from(valid) {
        return None;
    }
    buf.truncate(buf.len() - usize::from(pad));
    Some(buf)
}

/// Decrypts whole blocks in place, without looking at the padding. False (and `buf`
/// untouched) unless `buf` is a non-empty multiple of the block size. Constant time in
/// the key, the IV and the plaintext.
pub(crate) fn decrypt_blocks(key: &[u8; 32], iv: &[u8; 16], buf: &mut [u8]) -> bool {
    let (blocks, tail) = cbc::cipher::Block::<Aes256>::slice_as_chunks_mut(buf);
    if blocks.is_empty() || !tail.is_empty() {
        return false;
    }
    cbc::Decryptor::<Aes256>::new(key.into(), iv.into()).decrypt_blocks(blocks);
    true
}

fn last_block(buf: &[u8]) -> Option<&[u8; BLOCK_LEN]> {
    buf.last_chunk::<BLOCK_LEN>()
}

/// Checks the PKCS#7 padding of the last block in constant time: `(valid, n)` where `n`
/// is the last byte, and `valid` says `1 ≤ n ≤ 16` and the last `n` bytes all equal `n`.
/// Every byte is examined whatever the verdict; nothing branches on or indexes by them.
pub(crate) fn padding_len(last: &[u8; BLOCK_LEN]) -> (Choice, u8) {
    let n = last[BLOCK_LEN - 1];
    let mut valid = !n.ct_eq(&0) & n.ct_lt(&(BLOCK_LEN as u8 + 1));
    for (i, b) in last.iter().enumerate() {
        // Byte i is padding when it is among the last n: BLOCK_LEN − 1 − i < n.
        let in_padding = ((BLOCK_LEN - 1 - i) as u8).ct_lt(&n);
        valid &= !in_padding | b.ct_eq(&n);
    }
    (valid, n)
}

#[cfg(test)]
mod tests;
