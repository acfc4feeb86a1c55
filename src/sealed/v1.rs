//! Sealed sender v1: one content sealed to one recipient.
//!
//! ```text
//! envelope = 0x11 ‖ protobuf{ 1: E (33) ; 2: encrypted static (43) ; 3: encrypted message (n + 10) }
//!
//! e, E = fresh ephemeral key pair
//! chain ‖ ek ‖ emk = HKDF-SHA256(salt = "UnidentifiedDelivery" ‖ IK_B (33) ‖ E (33),
//!                                ikm = X25519(e, IK_B), info = "")               96 bytes
//! encrypted static  = c1 ‖ HMAC-SHA256(emk, c1)[..10],  c1 = AES-256-CTR(ek, IV 0, IK_A (33))
//! _ ‖ sk ‖ smk      = HKDF-SHA256(salt = chain ‖ encrypted static (43),
//!                                ikm = X25519(ik_A, IK_B), info = "")            96 bytes
//! encrypted message = c2 ‖ HMAC-SHA256(smk, c2)[..10],  c2 = AES-256-CTR(sk, IV 0, content)
//! ```
//!
//! The MACs cover only their ciphertexts: not the version byte, not E. Changing E changes
//! every key, so it cannot go unnoticed; the version byte is checked exactly (libsignal
//! reads only its high nibble and takes 0x0_ as v1 too). The first 32 bytes of the second
//! HKDF output are not used.

use alloc::vec::Vec;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::VERSION_V1;
use super::cipher::aes256_ctr;
use super::codec::Cursor;
use super::content::UnidentifiedSenderMessageContent;
use super::error::SealedSenderError;
use crate::crypto::kdf::{ct_eq, hkdf, hmac};
use crate::crypto::{PrivateKey, PublicKey};
use crate::error::{DecodeError, MisuseError};
use crate::keys::{IdentityKey, IdentityKeyPair};
use crate::wire::proto::put_bytes;

/// Length of the truncated HMAC after each v1 ciphertext.
pub const V1_MAC_LEN: usize = 10;

/// Salt prefix of the first derivation (Signal's 2018 description calls it the same).
const LABEL: &[u8] = b"UnidentifiedDelivery";

/// Length of the encrypted static key: a 33-byte identity key and its MAC.
const ENCRYPTED_STATIC_LEN: usize = 33 + V1_MAC_LEN;

/// Seals `content` to `recipient`'s identity key. `sender` must hold the identity key
/// that the content's sender certificate names (otherwise the recipient refuses it).
pub fn seal_v1<R: CryptoRng + ?Sized>(
    content: &UnidentifiedSenderMessageContent,
    sender: &IdentityKeyPair,
    recipient: &IdentityKey,
    rng: &mut R,
) -> Result<Vec<u8>, SealedSenderError> {
    if content.sender().identity_key() != sender.identity_key() {
        return Err(MisuseError::InvalidArgument.into());
    }
    let ephemeral = PrivateKey::generate(rng);
    let e_pub = ephemeral.public_key();
    let dh = ephemeral
        .diffie_hellman(recipient.public_key())
        .map_err(|_| DecodeError::InvalidKey)?;
    let eph = ephemeral_keys(dh.as_bytes(), recipient, &e_pub);
    let [chain, cipher, mac] = thirds(&eph).ok_or(SealedSenderError::DecryptionFailed)?;

    let mut encrypted_static = Vec::with_capacity(ENCRYPTED_STATIC_LEN);
    encrypted_static.extend_from_slice(&sender.identity_key().serialize());
    aes256_ctr(cipher, &mut encrypted_static);
    let tag = truncated_mac(mac, &encrypted_static);
    encrypted_static.extend_from_slice(&tag);

    let dh = sender
        .private_key()
        .diffie_hellman(recipient.public_key())
        .map_err(|_| DecodeError::InvalidKey)?;
    let st = static_keys(dh.as_bytes(), chain, &encrypted_static);
    let [_, cipher, mac] = thirds(&st).ok_or(SealedSenderError::DecryptionFailed)?;
    let mut message = Vec::with_capacity(content.serialized().len() + V1_MAC_LEN);
    message.extend_from_slice(content.serialized());
    aes256_ctr(cipher, &mut message);
    let tag = truncated_mac(mac, &message);
    message.extend_from_slice(&tag);

    let mut out = Vec::with_capacity(message.len() + 96);
    out.push(VERSION_V1);
    put_bytes(&mut out, 1, &e_pub.serialize());
    put_bytes(&mut out, 2, &encrypted_static);
    put_bytes(&mut out, 3, &message);
    Ok(out)
}

/// Opens a v1 envelope: the content and, checked against its certificate, the key it
/// was sealed with.
pub(super) fn open(
    bytes: &[u8],
    recipient: &IdentityKeyPair,
) -> Result<UnidentifiedSenderMessageContent, SealedSenderError> {
    let (&version, body) = bytes.split_first().ok_or(DecodeError::Truncated)?;
    if version != VERSION_V1 {
        return Err(DecodeError::UnknownVersion.into());
    }
    let mut r = Cursor::new(body);
    let (mut e_pub, mut encrypted_static, mut message) = (None, None, None);
    while let Some((n, v)) = r.field()? {
        match n {
            1 => e_pub = Some(PublicKey::deserialize(v.bytes()?)?),
            2 => encrypted_static = Some(v.bytes()?),
            3 => message = Some(v.bytes()?),
            _ => {} // unknown fields are skipped, as libsignal skips them
        }
    }
    let e_pub = e_pub.ok_or(DecodeError::MissingField)?;
    let encrypted_static: &[u8; ENCRYPTED_STATIC_LEN] = encrypted_static
        .ok_or(DecodeError::MissingField)?
        .try_into()
        .map_err(|_| DecodeError::BadLength)?;
    let message = message.ok_or(DecodeError::MissingField)?;

    // A low-order E gives an all-zero secret: refused, as libsignal refuses it.
    let dh = recipient
        .private_key()
        .diffie_hellman(&e_pub)
        .map_err(|_| SealedSenderError::DecryptionFailed)?;
    let eph = ephemeral_keys(dh.as_bytes(), recipient.identity_key(), &e_pub);
    let [chain, cipher, mac] = thirds(&eph).ok_or(SealedSenderError::DecryptionFailed)?;
    let sender_key = IdentityKey::deserialize(&open_mac_ctr(cipher, mac, encrypted_static)?)
        .map_err(|_| SealedSenderError::DecryptionFailed)?;

    let dh = recipient
        .private_key()
        .diffie_hellman(sender_key.public_key())
        .map_err(|_| SealedSenderError::DecryptionFailed)?;
    let st = static_keys(dh.as_bytes(), chain, encrypted_static);
    let [_, cipher, mac] = thirds(&st).ok_or(SealedSenderError::DecryptionFailed)?;
    let plaintext = open_mac_ctr(cipher, mac, message)?;

    let content = UnidentifiedSenderMessageContent::deserialize(&plaintext)?;
    if *content.sender().identity_key() != sender_key {
        return Err(SealedSenderError::SenderKeyMismatch);
    }
    Ok(content)
}

/// `ciphertext ‖ mac (10)` → plaintext, after checking the MAC in constant time.
fn open_mac_ctr(
    cipher: &[u8; 32],
    mac: &[u8; 32],
    sealed: &[u8],
) -> Result<Vec<u8>, SealedSenderError> {
    let split = sealed
        .len()
        .checked_sub(V1_MAC_LEN)
        .ok_or(SealedSenderError::DecryptionFailed)?;
    let (ct, tag) = sealed.split_at(split);
    if !ct_eq(&truncated_mac(mac, ct), tag) {
        return Err(SealedSenderError::DecryptionFailed);
    }
    let mut out = ct.to_vec();
    aes256_ctr(cipher, &mut out);
    Ok(out)
}

fn truncated_mac(key: &[u8; 32], data: &[u8]) -> [u8; V1_MAC_LEN] {
    let full = hmac(key, &[data]);
    let mut out = [0u8; V1_MAC_LEN];
    out.iter_mut().zip(full.iter()).for_each(|(o, f)| *o = *f);
    out
}

/// `chain ‖ cipher key ‖ MAC key` of the ephemeral step.
fn ephemeral_keys(
    dh: &[u8; 32],
    recipient: &IdentityKey,
    e_pub: &PublicKey,
) -> Zeroizing<[u8; 96]> {
    let mut salt = [0u8; LABEL.len() + 66];
    for (d, s) in salt.iter_mut().zip(
        LABEL
            .iter()
            .chain(recipient.serialize().iter())
            .chain(e_pub.serialize().iter()),
    ) {
        *d = *s;
    }
    Zeroizing::new(hkdf::<96>(Some(&salt), dh, &[]))
}

/// `unused ‖ cipher key ‖ MAC key` of the static step.
fn static_keys(dh: &[u8; 32], chain: &[u8; 32], encrypted_static: &[u8]) -> Zeroizing<[u8; 96]> {
    let mut salt = Zeroizing::new([0u8; 32 + ENCRYPTED_STATIC_LEN]);
    for (d, s) in salt
        .iter_mut()
        .zip(chain.iter().chain(encrypted_static.iter()))
    {
        *d = *s;
    }
    Zeroizing::new(hkdf::<96>(Some(salt.as_ref()), dh, &[]))
}

/// The three 32-byte keys of a 96-byte HKDF output.
pub(super) fn thirds(okm: &[u8; 96]) -> Option<[&[u8; 32]; 3]> {
    match okm.as_chunks::<32>() {
        ([a, b, c], []) => Some([a, b, c]),
        _ => None,
    }
}
