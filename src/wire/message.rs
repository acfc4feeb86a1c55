use alloc::boxed::Box;
use alloc::vec::Vec;

use super::proto::{Reader, put_bytes, put_uint};
use super::{ADDRESSES_LEN, MAC_LEN, VERSION_PQXDH, parse_version, version_byte};
use crate::crypto::kdf;
use crate::crypto::{KemCiphertext, PublicKey};
use crate::error::DecodeError;
use crate::keys::IdentityKey;

/// A Double Ratchet message: `version ‖ protobuf ‖ MAC(8)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalMessage {
    version: u8,
    sender_ratchet_key: PublicKey,
    counter: u32,
    previous_counter: u32,
    ciphertext: Vec<u8>,
    pq_ratchet: Vec<u8>,
    addresses: Option<[u8; ADDRESSES_LEN]>,
    serialized: Vec<u8>,
}

/// The parts of a SignalMessage before it is MACed.
pub(crate) struct SignalMessageParts<'a> {
    pub version: u8,
    pub sender_ratchet_key: PublicKey,
    pub counter: u32,
    pub previous_counter: u32,
    pub ciphertext: Vec<u8>,
    pub pq_ratchet: Vec<u8>,
    pub addresses: Option<[u8; ADDRESSES_LEN]>,
    pub sender_identity: &'a IdentityKey,
    pub receiver_identity: &'a IdentityKey,
}

impl SignalMessage {
    /// Builds and MACs a message.
    pub(crate) fn new(parts: SignalMessageParts<'_>, mac_key: &[u8; 32]) -> Self {
        let mut body = encode_body(
            parts.version,
            &parts.sender_ratchet_key,
            parts.counter,
            parts.previous_counter,
            &parts.ciphertext,
            &parts.pq_ratchet,
            parts.addresses.as_ref(),
        );
        let mac = compute_mac(
            mac_key,
            parts.sender_identity,
            parts.receiver_identity,
            &body,
        );
        body.extend_from_slice(&mac);
        SignalMessage {
            version: parts.version,
            sender_ratchet_key: parts.sender_ratchet_key,
            counter: parts.counter,
            previous_counter: parts.previous_counter,
            ciphertext: parts.ciphertext,
            pq_ratchet: parts.pq_ratchet,
            addresses: parts.addresses,
            serialized: body,
        }
    }

    /// `version ‖ protobuf` as [`SignalMessage::new`] writes it, for this message's
    /// fields, followed by the message's own MAC: the canonical form of the message
    /// (for the fuzz hooks' round trips).
    #[cfg(feature = "fuzzing-hooks")]
    pub(crate) fn reencode(&self) -> Vec<u8> {
        let mut out = encode_body(
            self.version,
            &self.sender_ratchet_key,
            self.counter,
            self.previous_counter,
            &self.ciphertext,
            &self.pq_ratchet,
            self.addresses.as_ref(),
        );
        let mac_at = self.serialized.len().saturating_sub(MAC_LEN);
        out.extend_from_slice(self.serialized.get(mac_at..).unwrap_or_default());
        out
    }

    /// Parses a message; the MAC is checked later, by the session that owns the key.
    pub fn deserialize(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (&vb, rest) = bytes.split_first().ok_or(DecodeError::Truncated)?;
        let version = parse_version(vb)?;
        if rest.len() < MAC_LEN {
            return Err(DecodeError::Truncated);
        }
        let (proto, _mac) = rest.split_at(rest.len() - MAC_LEN);
        let mut r = Reader::new(proto);
        let mut ratchet_key = None;
        let mut counter = None;
        let mut previous_counter = 0;
        let mut ciphertext = None;
        let mut pq_ratchet: &[u8] = &[];
        let mut addresses = None;
        while let Some((number, value)) = r.field()? {
            match number {
                1 => ratchet_key = Some(value.as_bytes()?),
                2 => counter = Some(value.as_u32()?),
                3 => previous_counter = value.as_u32()?,
                4 => ciphertext = Some(value.as_bytes()?),
                5 => pq_ratchet = value.as_bytes()?,
                6 => addresses = Some(value.as_array::<ADDRESSES_LEN>()?),
                _ => {} // unknown fields are skipped, as protobuf requires
            }
        }
        let ratchet_key = ratchet_key.ok_or(DecodeError::MissingField)?;
        let sender_ratchet_key =
            PublicKey::deserialize(ratchet_key).map_err(|_| DecodeError::InvalidKey)?;
        Ok(SignalMessage {
            version,
            sender_ratchet_key,
            counter: counter.ok_or(DecodeError::MissingField)?,
            previous_counter,
            ciphertext: ciphertext.ok_or(DecodeError::MissingField)?.to_vec(),
            pq_ratchet: pq_ratchet.to_vec(),
            addresses,
            serialized: bytes.to_vec(),
        })
    }

    /// The message version (3 or 4).
    pub fn message_version(&self) -> u8 {
        self.version
    }
    /// The sender's current ratchet public key.
    pub fn sender_ratchet_key(&self) -> &PublicKey {
        &self.sender_ratchet_key
    }
    /// The message's index in its sending chain.
    pub fn counter(&self) -> u32 {
        self.counter
    }
    /// The sender's `previous_counter` field (informational; not used to decrypt).
    pub fn previous_counter(&self) -> u32 {
        self.previous_counter
    }
    /// The AES-CBC ciphertext.
    pub fn body(&self) -> &[u8] {
        &self.ciphertext
    }
    /// The SPQR field (empty in v3).
    pub fn pq_ratchet(&self) -> &[u8] {
        &self.pq_ratchet
    }
    /// The `addresses` field, when present.
    pub fn addresses(&self) -> Option<&[u8; ADDRESSES_LEN]> {
        self.addresses.as_ref()
    }
    /// The whole message as sent.
    pub fn serialized(&self) -> &[u8] {
        &self.serialized
    }

    /// Checks the 8-byte MAC in constant time.
    pub(crate) fn verify_mac(
        &self,
        sender_identity: &IdentityKey,
        receiver_identity: &IdentityKey,
        mac_key: &[u8; 32],
    ) -> bool {
        verify_mac(
            &self.serialized,
            sender_identity,
            receiver_identity,
            mac_key,
        )
    }
}

/// `version ‖ protobuf`: the part of a SignalMessage that the MAC covers, fields in
/// the order 1, 2, 3, 4, 5 (only when non-empty), 6 (only when present).
fn encode_body(
    version: u8,
    sender_ratchet_key: &PublicKey,
    counter: u32,
    previous_counter: u32,
    ciphertext: &[u8],
    pq_ratchet: &[u8],
    addresses: Option<&[u8; ADDRESSES_LEN]>,
) -> Vec<u8> {
    let mut body = Vec::with_capacity(ciphertext.len() + pq_ratchet.len() + 96);
    body.push(version_byte(version));
    put_bytes(&mut body, 1, &sender_ratchet_key.serialize());
    put_uint(&mut body, 2, u64::from(counter));
    put_uint(&mut body, 3, u64::from(previous_counter));
    put_bytes(&mut body, 4, ciphertext);
    if !pq_ratchet.is_empty() {
        put_bytes(&mut body, 5, pq_ratchet);
    }
    if let Some(a) = addresses {
        put_bytes(&mut body, 6, a);
    }
    body
}

/// Checks the MAC at the end of a serialized `SignalMessage`, `version ‖ protobuf ‖
/// MAC(8)`: the HMAC and the comparison are constant time in the key and both MACs.
pub(crate) fn verify_mac(
    serialized: &[u8],
    sender_identity: &IdentityKey,
    receiver_identity: &IdentityKey,
    mac_key: &[u8; 32],
) -> bool {
    let Some(split) = serialized.len().checked_sub(MAC_LEN) else {
        return false;
    };
    let (body, mac) = serialized.split_at(split);
    let expected = compute_mac(mac_key, sender_identity, receiver_identity, body);
    kdf::ct_eq(&expected, mac)
}

/// The 8-byte MAC of a `SignalMessage` body: the first 8 bytes of
/// `HMAC-SHA256(mac_key, sender identity ‖ receiver identity ‖ body)`.
pub(crate) fn compute_mac(
    mac_key: &[u8; 32],
    sender: &IdentityKey,
    receiver: &IdentityKey,
    body: &[u8],
) -> [u8; MAC_LEN] {
    let full = kdf::hmac(
        mac_key,
        &[
            &sender.public_key().serialize(),
            &receiver.public_key().serialize(),
            body,
        ],
    );
    let mut mac = [0u8; MAC_LEN];
    for (d, s) in mac.iter_mut().zip(full.iter()) {
        *d = *s;
    }
    mac
}

/// The first message(s) of a session from its initiator: the X3DH/PQXDH parameters and
/// a whole [`SignalMessage`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreKeySignalMessage {
    version: u8,
    registration_id: u32,
    pre_key_id: Option<u32>,
    signed_pre_key_id: u32,
    kyber: Option<(u32, Box<KemCiphertext>)>,
    base_key: PublicKey,
    identity_key: IdentityKey,
    message: SignalMessage,
    serialized: Vec<u8>,
}

/// The fields of a prekey message.
pub(crate) struct PreKeyParts {
    pub registration_id: u32,
    pub pre_key_id: Option<u32>,
    pub signed_pre_key_id: u32,
    pub kyber: Option<(u32, KemCiphertext)>,
    pub base_key: PublicKey,
    pub identity_key: IdentityKey,
    pub message: SignalMessage,
}

impl PreKeySignalMessage {
    pub(crate) fn new(p: PreKeyParts) -> Self {
        let version = p.message.version;
        let mut out = Vec::with_capacity(p.message.serialized.len() + 1800);
        out.push(version_byte(version));
        if let Some(id) = p.pre_key_id {
            put_uint(&mut out, 1, u64::from(id));
        }
        put_bytes(&mut out, 2, &p.base_key.serialize());
        put_bytes(&mut out, 3, &p.identity_key.serialize());
        put_bytes(&mut out, 4, &p.message.serialized);
        put_uint(&mut out, 5, u64::from(p.registration_id));
        put_uint(&mut out, 6, u64::from(p.signed_pre_key_id));
        if let Some((id, ct)) = &p.kyber {
            put_uint(&mut out, 7, u64::from(*id));
            put_bytes(&mut out, 8, &ct.serialize());
        }
        PreKeySignalMessage {
            version,
            registration_id: p.registration_id,
            pre_key_id: p.pre_key_id,
            signed_pre_key_id: p.signed_pre_key_id,
            kyber: p.kyber.map(|(id, ct)| (id, Box::new(ct))),
            base_key: p.base_key,
            identity_key: p.identity_key,
            message: p.message,
            serialized: out,
        }
    }

    /// The message as [`PreKeySignalMessage::new`] writes it for these fields (the inner
    /// SignalMessage kept byte for byte): the canonical form, for the fuzz hooks.
    #[cfg(feature = "fuzzing-hooks")]
    pub(crate) fn reencode(&self) -> Vec<u8> {
        PreKeySignalMessage::new(PreKeyParts {
            registration_id: self.registration_id,
            pre_key_id: self.pre_key_id,
            signed_pre_key_id: self.signed_pre_key_id,
            kyber: self.kyber.as_ref().map(|(id, ct)| (*id, (**ct).clone())),
            base_key: self.base_key,
            identity_key: self.identity_key,
            message: self.message.clone(),
        })
        .serialized
    }

    /// Parses a prekey message and the SignalMessage inside it.
    pub fn deserialize(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (&vb, proto) = bytes.split_first().ok_or(DecodeError::Truncated)?;
        let version = parse_version(vb)?;
        let mut r = Reader::new(proto);
        let mut pre_key_id = None;
        let mut base_key = None;
        let mut identity_key = None;
        let mut message = None;
        let mut registration_id = None;
        let mut signed_pre_key_id = None;
        let mut kyber_id = None;
        let mut kyber_ct = None;
        while let Some((number, value)) = r.field()? {
            match number {
                1 => pre_key_id = Some(value.as_u32()?),
                2 => base_key = Some(value.as_bytes()?),
                3 => identity_key = Some(value.as_bytes()?),
                4 => message = Some(value.as_bytes()?),
                5 => registration_id = Some(value.as_u32()?),
                6 => signed_pre_key_id = Some(value.as_u32()?),
                7 => kyber_id = Some(value.as_u32()?),
                8 => kyber_ct = Some(value.as_bytes()?),
                _ => {}
            }
        }
        let base_key = PublicKey::deserialize(base_key.ok_or(DecodeError::MissingField)?)
            .map_err(|_| DecodeError::InvalidKey)?;
        let identity_key = IdentityKey::deserialize(identity_key.ok_or(DecodeError::MissingField)?)
            .map_err(|_| DecodeError::InvalidKey)?;
        let message = SignalMessage::deserialize(message.ok_or(DecodeError::MissingField)?)?;
        if message.version != version {
            return Err(DecodeError::Malformed);
        }
        let signed_pre_key_id = signed_pre_key_id.ok_or(DecodeError::MissingField)?;
        let kyber = match (version, kyber_id, kyber_ct) {
            (VERSION_PQXDH, Some(id), Some(ct)) => {
                Some((id, Box::new(KemCiphertext::deserialize(ct)?)))
            }
            (VERSION_PQXDH, _, _) => return Err(DecodeError::MissingField),
            _ => None,
        };
        Ok(PreKeySignalMessage {
            version,
            // Every peer writes it; requiring it means a bit flip in its tag cannot
            // silently turn it into an unknown field.
            registration_id: registration_id.ok_or(DecodeError::MissingField)?,
            pre_key_id,
            signed_pre_key_id,
            kyber,
            base_key,
            identity_key,
            message,
            serialized: bytes.to_vec(),
        })
    }

    /// The message version (3 or 4).
    pub fn message_version(&self) -> u8 {
        self.version
    }
    /// The sender's registration id.
    pub fn registration_id(&self) -> u32 {
        self.registration_id
    }
    /// The one-time prekey used, if any.
    pub fn pre_key_id(&self) -> Option<u32> {
        self.pre_key_id
    }
    /// The signed prekey used.
    pub fn signed_pre_key_id(&self) -> u32 {
        self.signed_pre_key_id
    }
    /// The Kyber prekey id and ciphertext (v4).
    pub fn kyber(&self) -> Option<(u32, &KemCiphertext)> {
        self.kyber.as_ref().map(|(id, ct)| (*id, &**ct))
    }
    /// The initiator's base key.
    pub fn base_key(&self) -> &PublicKey {
        &self.base_key
    }
    /// The initiator's identity key.
    pub fn identity_key(&self) -> &IdentityKey {
        &self.identity_key
    }
    /// The SignalMessage inside.
    pub fn message(&self) -> &SignalMessage {
        &self.message
    }
    /// The whole message as sent.
    pub fn serialized(&self) -> &[u8] {
        &self.serialized
    }
}

/// libsignal's numbering of message kinds, as apps put on the wire envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CiphertextMessageType {
    /// A [`SignalMessage`] (2).
    Whisper = 2,
    /// A [`PreKeySignalMessage`] (3).
    PreKey = 3,
}

/// What [`Device::encrypt`](crate::Device::encrypt) returns.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CiphertextMessage {
    /// A normal ratchet message.
    Whisper(SignalMessage),
    /// A message that also sets up the session on the receiver.
    PreKey(PreKeySignalMessage),
}

impl CiphertextMessage {
    /// The bytes to send.
    pub fn serialize(&self) -> &[u8] {
        match self {
            CiphertextMessage::Whisper(m) => m.serialized(),
            CiphertextMessage::PreKey(m) => m.serialized(),
        }
    }
    /// Which kind it is.
    pub fn message_type(&self) -> CiphertextMessageType {
        match self {
            CiphertextMessage::Whisper(_) => CiphertextMessageType::Whisper,
            CiphertextMessage::PreKey(_) => CiphertextMessageType::PreKey,
        }
    }
}

#[cfg(test)]
mod tests;
