//! Sealed sender v2: one encryption of a content for many recipients, and the server's
//! cut of it into the copy each recipient receives.
//!
//! A single-key multi-recipient KEM by randomness re-use (Bellare, Boldyreva, Staddon,
//! PKC 2003): one random `M` gives the ephemeral key and the content key; each recipient
//! gets `M` masked by its own Diffie-Hellman secret, and a tag that binds the sender's
//! identity key.
//!
//! ```text
//! M  = 32 random bytes
//! e  = HKDF(ikm = M, info = "Sealed Sender v2: r (2023-08)")[..32] as an X25519 key, E its public key
//! K  = HKDF(ikm = M, info = "Sealed Sender v2: K")[..32]
//! ciphertext = AES-256-GCM-SIV(K, nonce 0^12, aad "", content) ‖ tag (16)
//! for each recipient B:
//!   c  = M ⊕ HKDF(ikm = X25519(e, B) ‖ E (33) ‖ B (33), info = "Sealed Sender v2: DH")[..32]
//!   at = HKDF(ikm = X25519(a, B) ‖ E (33) ‖ c ‖ A (33) ‖ B (33), info = "Sealed Sender v2: DH-sender")[..16]
//! (every HKDF is HKDF-SHA256 without salt; A, a: the sender's identity key pair)
//!
//! sent     = 0x23 ‖ varint(entries) ‖ entry* ‖ E (32, no type byte) ‖ ciphertext
//! entry    = service id (17) ‖ device+ ‖ c (32) ‖ at (16)       a recipient
//!          | service id (17) ‖ 0x00                             an excluded recipient
//! device   = device id (1 byte, 1..=127) ‖ BE16(registration id | 0x8000 if another device follows)
//! received = 0x22 ‖ c ‖ at ‖ E ‖ ciphertext                      (the server's cut)
//! ```
//!
//! The recipient recomputes `e` from `M` and refuses the copy unless it gives `E` (so a
//! copy cut for someone else fails there); after decrypting it checks `at` against the
//! identity key in the sender certificate.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::cipher::{TAG_LEN, gcm_siv_open, gcm_siv_seal};
use super::codec::Cursor;
use super::content::UnidentifiedSenderMessageContent;
use super::error::SealedSenderError;
use super::service_id::{ServiceId, ServiceIdKind};
use super::{VERSION_V2_RECEIVED, VERSION_V2_SENT, VERSION_V2_SENT_UUID};
use crate::crypto::kdf::{ct_eq, hkdf};
use crate::crypto::{PrivateKey, PublicKey};
use crate::error::{DecodeError, MisuseError};
use crate::keys::{IdentityKey, IdentityKeyPair};
use crate::wire::proto::{put_varint, varint_len};

/// Length of one recipient's key material: `c (32) ‖ at (16)`.
pub const V2_KEY_MATERIAL_LEN: usize = C_LEN + AT_LEN;

const C_LEN: usize = 32;
const AT_LEN: usize = 16;
const LABEL_R: &[u8] = b"Sealed Sender v2: r (2023-08)";
const LABEL_K: &[u8] = b"Sealed Sender v2: K";
const LABEL_DH: &[u8] = b"Sealed Sender v2: DH";
const LABEL_DH_SENDER: &[u8] = b"Sealed Sender v2: DH-sender";

/// Set in a device's registration id when another device of the recipient follows.
const MORE_DEVICES: u16 = 0x8000;
/// libsignal ignores this bit when parsing and never sets it; missive refuses it.
const RESERVED_BIT: u16 = 0x4000;
/// Registration ids are 14 bits (libsignal refuses to send to a session whose id is not).
const MAX_REGISTRATION_ID: u16 = 0x3fff;
const MAX_DEVICE_ID: u8 = 127;
/// The shared part holds at least E and the GCM-SIV tag.
const MIN_SHARED_LEN: usize = 32 + TAG_LEN;
/// A received copy: version, key material, E, tag.
const MIN_RECEIVED_LEN: usize = 1 + V2_KEY_MATERIAL_LEN + MIN_SHARED_LEN;

/// One device of a recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecipientDevice {
    /// The device id, 1..=127.
    pub device_id: u8,
    /// Its registration id, at most 0x3fff (14 bits).
    pub registration_id: u16,
}

/// A recipient of a v2 message: its service id, identity key and devices (all of a
/// recipient's devices share one identity key and one copy of the message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// Who.
    pub service_id: ServiceId,
    /// Its identity key (libsignal takes it from the identity store, not the session).
    pub identity_key: IdentityKey,
    /// Its devices, at least one.
    pub devices: Vec<RecipientDevice>,
}

/// Seals `content` once for every destination; `excluded` lists recipients deliberately
/// left out (the server sees them, they receive nothing).
///
/// Refuses (as a caller bug) a destination without devices, a device id outside 1..=127,
/// a registration id above 0x3fff, a service id listed twice, or one that is both a
/// destination and excluded: libsignal's own parser refuses the last.
pub fn seal_v2<R: CryptoRng + ?Sized>(
    content: &UnidentifiedSenderMessageContent,
    sender: &IdentityKeyPair,
    destinations: &[Destination],
    excluded: &[ServiceId],
    rng: &mut R,
) -> Result<Vec<u8>, SealedSenderError> {
    if content.sender().identity_key() != sender.identity_key() {
        return Err(MisuseError::InvalidArgument.into());
    }
    check_destinations(destinations, excluded)?;

    let mut m = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(m.as_mut());
    let e = ephemeral(&m);
    let e_pub = e.public_key();
    let k = Zeroizing::new(hkdf::<32>(None, m.as_ref(), &[LABEL_K]));
    let ciphertext = gcm_siv_seal(&k, content.serialized());

    let entries = destinations.len() + excluded.len();
    let headers: usize = destinations
        .iter()
        .map(|d| ServiceId::LEN + 3 * d.devices.len() + V2_KEY_MATERIAL_LEN)
        .sum();
    // The exact length: a debug build checks it below, so the sizes here are pinned.
    let len = 1
        + varint_len(entries as u64)
        + headers
        + excluded.len() * (ServiceId::LEN + 1)
        + 32
        + ciphertext.len();
    let mut out = Vec::with_capacity(len);
    out.push(VERSION_V2_SENT);
    put_varint(&mut out, entries as u64);
    for d in destinations {
        out.extend_from_slice(d.service_id.as_bytes());
        let mut devices = d.devices.iter().peekable();
        while let Some(dev) = devices.next() {
            let more = if devices.peek().is_some() {
                MORE_DEVICES
            } else {
                0
            };
            out.push(dev.device_id);
            out.extend_from_slice(&(dev.registration_id | more).to_be_bytes());
        }
        let (c, at) = key_material(&m, &e, &e_pub, sender, &d.identity_key)?;
        out.extend_from_slice(&c);
        out.extend_from_slice(&at);
    }
    for x in excluded {
        out.extend_from_slice(x.as_bytes());
        out.push(0);
    }
    out.extend_from_slice(e_pub.u_bytes());
    out.extend_from_slice(&ciphertext);
    debug_assert_eq!(out.len(), len);
    Ok(out)
}

fn check_destinations(
    destinations: &[Destination],
    excluded: &[ServiceId],
) -> Result<(), SealedSenderError> {
    let mut seen: Vec<&ServiceId> = destinations
        .iter()
        .map(|d| &d.service_id)
        .chain(excluded.iter())
        .collect();
    seen.sort_unstable();
    if seen.windows(2).any(|w| matches!(w, [a, b] if a == b)) {
        return Err(MisuseError::InvalidArgument.into());
    }
    let bad_device = |dev: &RecipientDevice| {
        dev.device_id == 0
            || dev.device_id > MAX_DEVICE_ID
            || dev.registration_id > MAX_REGISTRATION_ID
    };
    if destinations
        .iter()
        .any(|d| d.devices.is_empty() || d.devices.iter().any(bad_device))
    {
        return Err(MisuseError::InvalidArgument.into());
    }
    Ok(())
}

/// The ephemeral key for `M`.
fn ephemeral(m: &[u8; 32]) -> PrivateKey {
    let r = Zeroizing::new(hkdf::<32>(None, m, &[LABEL_R]));
    PrivateKey::from_bytes(&r)
}

/// `c` and `at` for one recipient.
fn key_material(
    m: &[u8; 32],
    e: &PrivateKey,
    e_pub: &PublicKey,
    sender: &IdentityKeyPair,
    recipient: &IdentityKey,
) -> Result<([u8; C_LEN], [u8; AT_LEN]), SealedSenderError> {
    let dh = e
        .diffie_hellman(recipient.public_key())
        .map_err(|_| DecodeError::InvalidKey)?;
    let pad = Zeroizing::new(mask(dh.as_bytes(), e_pub, recipient));
    let mut c = [0u8; C_LEN];
    for ((o, a), b) in c.iter_mut().zip(m.iter()).zip(pad.iter()) {
        *o = a ^ b;
    }
    let dh = sender
        .private_key()
        .diffie_hellman(recipient.public_key())
        .map_err(|_| DecodeError::InvalidKey)?;
    let at = sender_tag(dh.as_bytes(), e_pub, &c, sender.identity_key(), recipient);
    Ok((c, at))
}

/// `HKDF(X25519(e, B) ‖ E ‖ B, "DH")[..32]`: what masks `M` for B.
fn mask(dh: &[u8; 32], e_pub: &PublicKey, recipient: &IdentityKey) -> [u8; 32] {
    let mut ikm = Zeroizing::new([0u8; 32 + 33 + 33]);
    for (d, s) in ikm.iter_mut().zip(
        dh.iter()
            .chain(e_pub.serialize().iter())
            .chain(recipient.serialize().iter()),
    ) {
        *d = *s;
    }
    hkdf::<32>(None, ikm.as_ref(), &[LABEL_DH])
}

/// `HKDF(X25519(a, B) ‖ E ‖ c ‖ A ‖ B, "DH-sender")[..16]`.
fn sender_tag(
    dh: &[u8; 32],
    e_pub: &PublicKey,
    c: &[u8; C_LEN],
    sender: &IdentityKey,
    recipient: &IdentityKey,
) -> [u8; AT_LEN] {
    let mut ikm = Zeroizing::new([0u8; 32 + 33 + C_LEN + 33 + 33]);
    for (d, s) in ikm.iter_mut().zip(
        dh.iter()
            .chain(e_pub.serialize().iter())
            .chain(c.iter())
            .chain(sender.serialize().iter())
            .chain(recipient.serialize().iter()),
    ) {
        *d = *s;
    }
    hkdf::<AT_LEN>(None, ikm.as_ref(), &[LABEL_DH_SENDER])
}

/// Opens a received v2 copy (`0x22 ‖ c ‖ at ‖ E ‖ ciphertext`).
pub(super) fn open_received(
    bytes: &[u8],
    recipient: &IdentityKeyPair,
) -> Result<UnidentifiedSenderMessageContent, SealedSenderError> {
    if bytes.len() < MIN_RECEIVED_LEN {
        return Err(DecodeError::Truncated.into());
    }
    let mut r = Cursor::new(bytes);
    if r.byte()? != VERSION_V2_RECEIVED {
        return Err(DecodeError::UnknownVersion.into());
    }
    let c = r.array::<C_LEN>()?;
    let at = r.array::<AT_LEN>()?;
    let e_pub = PublicKey::from_u_bytes(*r.array::<32>()?);
    let ciphertext = r.rest();

    let dh = recipient
        .private_key()
        .diffie_hellman(&e_pub)
        .map_err(|_| SealedSenderError::DecryptionFailed)?;
    let pad = Zeroizing::new(mask(dh.as_bytes(), &e_pub, recipient.identity_key()));
    let mut m = Zeroizing::new([0u8; 32]);
    for ((o, a), b) in m.iter_mut().zip(c.iter()).zip(pad.iter()) {
        *o = a ^ b;
    }
    if !ct_eq(ephemeral(&m).public_key().u_bytes(), e_pub.u_bytes()) {
        return Err(SealedSenderError::DecryptionFailed);
    }
    let k = Zeroizing::new(hkdf::<32>(None, m.as_ref(), &[LABEL_K]));
    let plaintext = gcm_siv_open(&k, ciphertext).ok_or(SealedSenderError::DecryptionFailed)?;
    let content = UnidentifiedSenderMessageContent::deserialize(&plaintext)?;

    let sender = content.sender().identity_key();
    let dh = recipient
        .private_key()
        .diffie_hellman(sender.public_key())
        .map_err(|_| SealedSenderError::SenderKeyMismatch)?;
    let expected = sender_tag(dh.as_bytes(), &e_pub, c, sender, recipient.identity_key());
    if !ct_eq(&expected, at) {
        return Err(SealedSenderError::SenderKeyMismatch);
    }
    Ok(content)
}

/// One recipient of a parsed [`SentMessage`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentRecipient<'a> {
    service_id: ServiceId,
    devices: Vec<RecipientDevice>,
    key_material: &'a [u8; V2_KEY_MATERIAL_LEN],
}

impl<'a> SentRecipient<'a> {
    /// Who.
    pub fn service_id(&self) -> ServiceId {
        self.service_id
    }
    /// Its devices, in the order written (a service id written twice has its devices
    /// merged, as libsignal merges them).
    pub fn devices(&self) -> &[RecipientDevice] {
        &self.devices
    }
    /// `c ‖ at`.
    pub fn key_material(&self) -> &'a [u8; V2_KEY_MATERIAL_LEN] {
        self.key_material
    }
}

/// A v2 message as a sender uploads it, parsed by the server: who gets it, who was
/// excluded, and the copy each recipient receives ([`SentMessage::received_message`]).
///
/// ```
/// # use missive::IdentityKeyPair;
/// # use missive::crypto::PrivateKey;
/// # use missive::sealed::*;
/// # use rand_core::SeedableRng;
/// # let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
/// # let root = PrivateKey::generate(&mut rng);
/// # let server = PrivateKey::generate(&mut rng);
/// # let server_cert = ServerCertificate::new(1, server.public_key(), &root, &mut rng);
/// # let alice = IdentityKeyPair::generate(&mut rng);
/// # let cert = SenderCertificate::new("9d0652a3-dcc3-4d11-975f-74d61598733f", None, 1,
/// #     *alice.identity_key(), u64::MAX, Signer::Certificate(server_cert), &server, &mut rng)?;
/// let content = UnidentifiedSenderMessageContent::new(
///     ContentType::SenderKey, cert, b"group message".to_vec(), ContentHint::DEFAULT, None);
/// let bob = IdentityKeyPair::generate(&mut rng);
/// let bob_id = ServiceId::parse("796abedb-ca4e-4f18-8803-1fde5b921f9f").unwrap();
/// let to_bob = Destination {
///     service_id: bob_id,
///     identity_key: *bob.identity_key(),
///     devices: vec![RecipientDevice { device_id: 1, registration_id: 42 }],
/// };
/// let left_out = ServiceId::parse("aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee").unwrap();
/// let sent = seal_v2(&content, &alice, &[to_bob], &[left_out], &mut rng)?;
///
/// // The server: routes by service id and device, never learns the sender.
/// let parsed = SentMessage::parse(&sent)?;
/// assert_eq!(parsed.excluded(), &[left_out]);
/// let copy = parsed.received_message_for(&bob_id).unwrap();
///
/// // Bob.
/// let got = open(&copy, &bob)?;
/// assert_eq!(got.contents(), b"group message");
/// # Ok::<(), SealedSenderError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage<'a> {
    recipients: Vec<SentRecipient<'a>>,
    excluded: Vec<ServiceId>,
    shared: &'a [u8],
}

impl<'a> SentMessage<'a> {
    /// Parses a sent message (version 0x23, or the older 0x22 whose entries carry 16-byte
    /// ACI uuids). Refuses: a non-minimal entry count, a count larger than the bytes can
    /// hold (`BadLength`, before anything is allocated for it), a service id kind other
    /// than ACI or PNI, a device id of 128 or more, the reserved bit 0x4000 in a
    /// registration id, an excluded service id listed twice or also as a recipient, and a
    /// shared part shorter than E and a tag. A recipient listed twice is merged (its
    /// first key material is kept), as libsignal does.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Cursor::new(bytes);
        let id_len = match r.byte()? {
            VERSION_V2_SENT => ServiceId::LEN,
            VERSION_V2_SENT_UUID => 16,
            _ => return Err(DecodeError::UnknownVersion),
        };
        let count = r.minimal_varint()?;
        // Every entry takes at least a service id and a byte: a count the input cannot
        // hold is refused before anything is allocated for it.
        let count = usize::try_from(count).map_err(|_| DecodeError::Truncated)?;
        if count > r.rest().len() / (id_len + 1) {
            return Err(DecodeError::BadLength);
        }
        let mut recipients: Vec<SentRecipient<'a>> = Vec::with_capacity(count);
        let mut excluded = Vec::new();
        let mut index: BTreeMap<ServiceId, Option<usize>> = BTreeMap::new();
        for _ in 0..count {
            let service_id = if id_len == 16 {
                ServiceId::new(ServiceIdKind::Aci, *r.array::<16>()?)
            } else {
                ServiceId::from_bytes(r.array::<17>()?)?
            };
            let first = r.byte()?;
            if first == 0 {
                // Excluded: a second mention of the same service id in any role is refused.
                if index.insert(service_id, None).is_some() {
                    return Err(DecodeError::Malformed);
                }
                excluded.push(service_id);
                continue;
            }
            let devices = read_devices(&mut r, first)?;
            let key_material = r.array::<V2_KEY_MATERIAL_LEN>()?;
            match index.get(&service_id) {
                Some(None) => return Err(DecodeError::Malformed),
                Some(Some(i)) => {
                    if let Some(existing) = recipients.get_mut(*i) {
                        existing.devices.extend_from_slice(&devices);
                    }
                }
                None => {
                    index.insert(service_id, Some(recipients.len()));
                    recipients.push(SentRecipient {
                        service_id,
                        devices,
                        key_material,
                    });
                }
            }
        }
        let shared = r.rest();
        if shared.len() < MIN_SHARED_LEN {
            return Err(DecodeError::Truncated);
        }
        Ok(SentMessage {
            recipients,
            excluded,
            shared,
        })
    }

    /// The recipients, in the order first written.
    pub fn recipients(&self) -> &[SentRecipient<'a>] {
        &self.recipients
    }

    /// The excluded recipients, in the order written.
    pub fn excluded(&self) -> &[ServiceId] {
        &self.excluded
    }

    /// `E ‖ ciphertext`, common to every copy.
    pub fn shared(&self) -> &'a [u8] {
        self.shared
    }

    /// The copy `recipient` receives (the same bytes for each of its devices):
    /// `0x22 ‖ c ‖ at ‖ E ‖ ciphertext`.
    pub fn received_message(&self, recipient: &SentRecipient<'_>) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + V2_KEY_MATERIAL_LEN + self.shared.len());
        out.push(VERSION_V2_RECEIVED);
        out.extend_from_slice(recipient.key_material);
        out.extend_from_slice(self.shared);
        out
    }

    /// The copy for `service_id`, or `None` when it is not a recipient.
    pub fn received_message_for(&self, service_id: &ServiceId) -> Option<Vec<u8>> {
        self.recipients
            .iter()
            .find(|r| r.service_id == *service_id)
            .map(|r| self.received_message(r))
    }
}

/// A recipient's devices, starting with device id `first` (not 0).
fn read_devices(r: &mut Cursor<'_>, first: u8) -> Result<Vec<RecipientDevice>, DecodeError> {
    let mut devices = Vec::with_capacity(1);
    let mut device_id = first;
    loop {
        if device_id == 0 || device_id > MAX_DEVICE_ID {
            return Err(DecodeError::BadLength);
        }
        let raw = u16::from_be_bytes(*r.array::<2>()?);
        if raw & RESERVED_BIT != 0 {
            return Err(DecodeError::Malformed);
        }
        devices.push(RecipientDevice {
            device_id,
            registration_id: raw & MAX_REGISTRATION_ID,
        });
        if raw & MORE_DEVICES == 0 {
            return Ok(devices);
        }
        device_id = r.byte()?;
    }
}
