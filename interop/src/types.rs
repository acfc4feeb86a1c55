//! Typed values exchanged with the drivers, and their JSON (hex) forms.

use serde_json::{Map, Value, json};

use crate::PeerError;

/// A party's long-term identity, as `new_party` returns it.
#[derive(Clone, PartialEq, Eq)]
pub struct PartyKeys {
    /// Serialized identity public key: `0x05 ‖ 32 bytes`.
    pub identity_key: Vec<u8>,
    /// The identity private key (32 bytes). Test keys only.
    pub identity_private: Vec<u8>,
    /// The party's registration id.
    pub registration_id: u32,
}

impl std::fmt::Debug for PartyKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartyKeys")
            .field("identity_key", &hex::encode(&self.identity_key))
            .field("registration_id", &self.registration_id)
            .finish_non_exhaustive()
    }
}

/// A prekey bundle as the server would hand it out. The Kyber fields are `None` for
/// a v3 (libsignal-node) bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// Registration id of the bundle's owner.
    pub registration_id: u32,
    /// Device id of the bundle's owner.
    pub device_id: u32,
    /// One-time EC prekey `(id, serialized public key)`, if the bundle has one.
    pub prekey: Option<(u32, Vec<u8>)>,
    /// Signed prekey id.
    pub signed_prekey_id: u32,
    /// Signed prekey, serialized (33 bytes).
    pub signed_prekey: Vec<u8>,
    /// XEdDSA signature of the serialized signed prekey by the identity key.
    pub signed_prekey_signature: Vec<u8>,
    /// Identity key, serialized (33 bytes).
    pub identity_key: Vec<u8>,
    /// Kyber prekey id (v4 only).
    pub kyber_prekey_id: Option<u32>,
    /// Kyber prekey, serialized (`0x08 ‖ 1568 bytes`) (v4 only).
    pub kyber_prekey: Option<Vec<u8>>,
    /// XEdDSA signature of the serialized Kyber prekey (v4 only).
    pub kyber_prekey_signature: Option<Vec<u8>>,
}

impl Bundle {
    /// The driver's JSON form of this bundle.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("registration_id".into(), json!(self.registration_id));
        m.insert("device_id".into(), json!(self.device_id));
        let (id, key) = match &self.prekey {
            Some((id, key)) => (json!(id), json!(hex::encode(key))),
            None => (Value::Null, Value::Null),
        };
        m.insert("prekey_id".into(), id);
        m.insert("prekey".into(), key);
        m.insert("signed_prekey_id".into(), json!(self.signed_prekey_id));
        m.insert(
            "signed_prekey".into(),
            json!(hex::encode(&self.signed_prekey)),
        );
        m.insert(
            "signed_prekey_signature".into(),
            json!(hex::encode(&self.signed_prekey_signature)),
        );
        m.insert(
            "identity_key".into(),
            json!(hex::encode(&self.identity_key)),
        );
        if let Some(id) = self.kyber_prekey_id {
            m.insert("kyber_prekey_id".into(), json!(id));
        }
        if let Some(k) = &self.kyber_prekey {
            m.insert("kyber_prekey".into(), json!(hex::encode(k)));
        }
        if let Some(s) = &self.kyber_prekey_signature {
            m.insert("kyber_prekey_signature".into(), json!(hex::encode(s)));
        }
        Value::Object(m)
    }

    /// Reads a bundle from the driver's JSON form.
    pub fn from_json(v: &Value) -> Result<Bundle, PeerError> {
        let prekey = match (opt_u32(v, "prekey_id")?, opt_bytes(v, "prekey")?) {
            (Some(id), Some(key)) => Some((id, key)),
            (None, None) => None,
            _ => {
                return Err(bad(
                    "prekey_id and prekey must be both present or both null",
                ));
            }
        };
        Ok(Bundle {
            registration_id: get_u32(v, "registration_id")?,
            device_id: get_u32(v, "device_id")?,
            prekey,
            signed_prekey_id: get_u32(v, "signed_prekey_id")?,
            signed_prekey: get_bytes(v, "signed_prekey")?,
            signed_prekey_signature: get_bytes(v, "signed_prekey_signature")?,
            identity_key: get_bytes(v, "identity_key")?,
            kyber_prekey_id: opt_u32(v, "kyber_prekey_id")?,
            kyber_prekey: opt_bytes(v, "kyber_prekey")?,
            kyber_prekey_signature: opt_bytes(v, "kyber_prekey_signature")?,
        })
    }
}

/// A serialized 1:1 message with libsignal's `CiphertextMessageType` number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiphertextMessage {
    /// [`CiphertextMessage::WHISPER`] or [`CiphertextMessage::PREKEY`].
    pub message_type: u8,
    /// The serialized message (version byte first).
    pub body: Vec<u8>,
}

impl CiphertextMessage {
    /// `SignalMessage` (libsignal-node calls it a WhisperMessage and numbers it 1; the
    /// legacy driver translates).
    pub const WHISPER: u8 = 2;
    /// `PreKeySignalMessage`.
    pub const PREKEY: u8 = 3;

    /// Whether this is a prekey message.
    pub fn is_prekey(&self) -> bool {
        self.message_type == Self::PREKEY
    }
}

/// What libsignal-client's `SignalMessage.deserialize` exposes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalMessageInfo {
    /// Message version (high nibble of the version byte).
    pub version: u8,
    /// The message's counter in its chain.
    pub counter: u32,
    /// The raw `pq_ratchet` field (empty when absent).
    pub pq_ratchet: Vec<u8>,
    /// The AES-CBC ciphertext.
    pub ciphertext: Vec<u8>,
}

pub(crate) fn bad(what: &str) -> PeerError {
    PeerError::Driver(format!("unexpected response: {what}"))
}

pub(crate) fn get_bytes(v: &Value, key: &str) -> Result<Vec<u8>, PeerError> {
    opt_bytes(v, key)?.ok_or_else(|| bad(&format!("missing '{key}'")))
}

pub(crate) fn opt_bytes(v: &Value, key: &str) -> Result<Option<Vec<u8>>, PeerError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => hex::decode(s)
            .map(Some)
            .map_err(|_| bad(&format!("'{key}' is not hex"))),
        Some(_) => Err(bad(&format!("'{key}' is not a string"))),
    }
}

pub(crate) fn get_u32(v: &Value, key: &str) -> Result<u32, PeerError> {
    opt_u32(v, key)?.ok_or_else(|| bad(&format!("missing '{key}'")))
}

pub(crate) fn opt_u32(v: &Value, key: &str) -> Result<Option<u32>, PeerError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(n) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| bad(&format!("'{key}' is not a u32"))),
    }
}

pub(crate) fn get_bool(v: &Value, key: &str) -> Result<bool, PeerError> {
    v.get(key)
        .and_then(Value::as_bool)
        .ok_or_else(|| bad(&format!("missing boolean '{key}'")))
}
