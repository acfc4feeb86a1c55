//! Sealed sender: the sender's identity travels inside the encryption, so a server that
//! relays a message learns its recipient but not its sender.
//!
//! Learnt by observing libsignal-client 0.103.0 and testing hypotheses against it, with
//! Signal's 2018 announcement ("Technology preview: Sealed sender for Signal") for the
//! shape of v1; every fact and its evidence is in `docs/notes/sealed-sender.md`, the
//! vectors in `tests/vectors/sealed_*.json`.
//!
//! ```text
//! trust root ──signs──▶ ServerCertificate {key id, server key}
//! server key ──signs──▶ SenderCertificate {sender uuid, e164?, device, identity key, expiry}
//!
//! UnidentifiedSenderMessageContent {type, sender certificate, inner message, hint, group id?}
//!   sealed to one recipient:      v1  0x11 ‖ protobuf{E, enc(sender key), enc(content)}
//!   sealed to many (sent):        v2  0x23 ‖ n ‖ per-recipient headers ‖ E ‖ AES-GCM-SIV(content)
//!   the copy one recipient gets:  v2  0x22 ‖ c ‖ at ‖ E ‖ AES-GCM-SIV(content)
//! ```
//!
//! What is here: the certificates ([`ServerCertificate`], [`SenderCertificate`]) with their
//! validation and the server's constructors, the content ([`UnidentifiedSenderMessageContent`]),
//! and both envelopes as pure functions over keys: [`seal_v1`], [`seal_v2`], the server's
//! cut ([`SentMessage`]), [`open`] (envelope only) and [`decrypt`] (envelope and sender
//! validation). None of them touches a session. [`Device`](crate::Device) joins them to
//! the sessions and sender keys: `sealed_encrypt`, `sealed_group_encrypt`, `seal_v1`,
//! `seal_v2` and `sealed_decrypt`, which opens the inner message too and commits one
//! change set. A server (a sovereign deployment runs its own) needs only
//! [`ServerCertificate::new`], [`SenderCertificate::new`] and [`SentMessage`].
//!
//! # What the sealed layer proves, and what it does not
//! After [`decrypt`], the sender certificate was signed by a server whose certificate a
//! trust root signed, it has not expired, and the envelope was sealed with the identity
//! key the certificate names (v1: the key is inside the envelope; v2: the `at` tag).
//! libsignal-client stops there: it does not compare that key with the inner message's
//! sender (the identity key in a prekey message, or the session's remote identity), so a
//! server that issues a certificate with a victim's uuid and its own key can claim the
//! victim's name for a message sealed by someone else (observed:
//! `interop/experiments/sealed_sender.js errors`). The inner message is still
//! authenticated by its session. [`Device::sealed_decrypt`](crate::Device::sealed_decrypt)
//! closes the gap: it refuses a certificate whose identity key is not the inner message's
//! sender ([`SealedError::IdentityMismatch`](crate::SealedError::IdentityMismatch)); a
//! caller of [`decrypt`] alone must make that check itself.

mod certificate;
mod cipher;
mod codec;
mod content;
mod error;
mod service_id;
mod v1;
mod v2;

pub use certificate::{
    REVOKED_SERVER_KEY_IDS, SenderCertificate, ServerCertificate, Signer, TrustPolicy,
};
pub use content::{ContentHint, ContentType, UnidentifiedSenderMessageContent};
pub use error::{CertificateError, SealedSenderError};
pub use service_id::{ServiceId, ServiceIdKind};
pub use v1::V1_MAC_LEN;
pub use v1::seal_v1;
pub use v2::{
    Destination, RecipientDevice, SentMessage, SentRecipient, V2_KEY_MATERIAL_LEN, seal_v2,
};

use crate::keys::IdentityKeyPair;

/// Version byte of a v1 envelope (`1 << 4 | 1`).
pub const VERSION_V1: u8 = 0x11;
/// Version byte of a v2 message as the sender uploads it (recipients as 17-byte service ids).
pub const VERSION_V2_SENT: u8 = 0x23;
/// Version byte of a v2 sent message in the older layout whose recipients are 16-byte
/// ACI uuids. libsignal-client 0.103 still parses it; missive parses it and never writes it.
pub const VERSION_V2_SENT_UUID: u8 = 0x22;
/// Version byte of the v2 copy one recipient receives.
pub const VERSION_V2_RECEIVED: u8 = 0x22;

/// Opens an envelope addressed to `recipient` (v1, or a received v2 copy) and returns its
/// content, whose sender certificate has **not** been validated: what libsignal calls
/// "decrypt to USMC". The envelope's sealing key is checked against the certificate's
/// identity key ([`SealedSenderError::SenderKeyMismatch`]).
///
/// Use [`decrypt`] unless the certificate is validated elsewhere.
pub fn open(
    bytes: &[u8],
    recipient: &IdentityKeyPair,
) -> Result<UnidentifiedSenderMessageContent, SealedSenderError> {
    match bytes.first() {
        None => Err(SealedSenderError::Decode(crate::DecodeError::Truncated)),
        Some(&VERSION_V1) => v1::open(bytes, recipient),
        Some(&VERSION_V2_RECEIVED) => v2::open_received(bytes, recipient),
        Some(_) => Err(SealedSenderError::Decode(
            crate::DecodeError::UnknownVersion,
        )),
    }
}

/// Opens an envelope and validates its sender, in libsignal's order: the envelope and its
/// sealing key ([`open`]), then the sender certificate against `trust` at `now_ms`
/// ([`SenderCertificate::validate`]), then refuses a message that claims to come from this
/// very device (`local_uuid`, `local_device_id`; a certificate naming only our phone
/// number is not refused, as in libsignal).
///
/// ```
/// use missive::IdentityKeyPair;
/// use missive::crypto::PrivateKey;
/// use missive::sealed::*;
/// # use rand_core::SeedableRng;
/// # let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(9);
/// // The service: a trust root, a server key, a certificate for Alice.
/// let root = PrivateKey::generate(&mut rng);
/// let server = PrivateKey::generate(&mut rng);
/// let server_cert = ServerCertificate::new(1, server.public_key(), &root, &mut rng);
/// let alice = IdentityKeyPair::generate(&mut rng);
/// let bob = IdentityKeyPair::generate(&mut rng);
/// let cert = SenderCertificate::new(
///     "9d0652a3-dcc3-4d11-975f-74d61598733f", None, 1, *alice.identity_key(),
///     1_900_000_000_000, Signer::Certificate(server_cert), &server, &mut rng)?;
///
/// // Alice seals an inner message (here any bytes) to Bob.
/// let content = UnidentifiedSenderMessageContent::new(
///     ContentType::Whisper, cert, b"inner message".to_vec(), ContentHint::DEFAULT, None);
/// let envelope = seal_v1(&content, &alice, bob.identity_key(), &mut rng)?;
///
/// // Bob opens it and learns who wrote.
/// let roots = [root.public_key()];
/// let trust = TrustPolicy::new(&roots, &[]);
/// let got = decrypt(&envelope, &bob, &trust, 1_800_000_000_000,
///                   "796abedb-ca4e-4f18-8803-1fde5b921f9f", 1)?;
/// assert_eq!(got.sender().sender_uuid(), "9d0652a3-dcc3-4d11-975f-74d61598733f");
/// assert_eq!(got.contents(), b"inner message");
/// # Ok::<(), SealedSenderError>(())
/// ```
pub fn decrypt(
    bytes: &[u8],
    recipient: &IdentityKeyPair,
    trust: &TrustPolicy<'_>,
    now_ms: u64,
    local_uuid: &str,
    local_device_id: u32,
) -> Result<UnidentifiedSenderMessageContent, SealedSenderError> {
    let content = open(bytes, recipient)?;
    content
        .sender()
        .validate(trust, now_ms)
        .map_err(SealedSenderError::Certificate)?;
    let sender = content.sender();
    if sender.sender_uuid() == local_uuid && u32::from(sender.device_id()) == local_device_id {
        return Err(SealedSenderError::SelfSend);
    }
    Ok(content)
}

#[cfg(test)]
mod tests;
