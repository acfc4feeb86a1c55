//! The prekey bundle: what a server hands out so that someone can start a session.

use alloc::vec::Vec;

use super::{IdentityKey, KyberPreKeyId, PreKeyId, SignedPreKeyId};
use crate::crypto::{KemPublicKey, PublicKey};
use crate::error::DecodeError;
use crate::wire::proto::{RECORD_FORMAT_V1, open_record, put_bytes, put_uint};

/// A published prekey bundle. With a Kyber prekey it starts a PQXDH (v4) session; without
/// one, an X3DH (v3) session for legacy peers.
///
/// The signatures are verified when the bundle is processed, not when it is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreKeyBundle {
    registration_id: u32,
    device_id: u32,
    pre_key: Option<(PreKeyId, PublicKey)>,
    signed_pre_key_id: SignedPreKeyId,
    signed_pre_key: PublicKey,
    signed_pre_key_signature: Vec<u8>,
    identity_key: IdentityKey,
    kyber_pre_key: Option<(KyberPreKeyId, KemPublicKey, Vec<u8>)>,
}

impl PreKeyBundle {
    /// A bundle; pass `kyber_pre_key` for PQXDH, `None` for a legacy X3DH peer.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        registration_id: u32,
        device_id: u32,
        pre_key: Option<(PreKeyId, PublicKey)>,
        signed_pre_key_id: SignedPreKeyId,
        signed_pre_key: PublicKey,
        signed_pre_key_signature: Vec<u8>,
        identity_key: IdentityKey,
        kyber_pre_key: Option<(KyberPreKeyId, KemPublicKey, Vec<u8>)>,
    ) -> Self {
        PreKeyBundle {
            registration_id,
            device_id,
            pre_key,
            signed_pre_key_id,
            signed_pre_key,
            signed_pre_key_signature,
            identity_key,
            kyber_pre_key,
        }
    }

    /// The owner's registration id.
    pub fn registration_id(&self) -> u32 {
        self.registration_id
    }
    /// The owner's device id.
    pub fn device_id(&self) -> u32 {
        self.device_id
    }
    /// The one-time EC prekey, if the server had one left.
    pub fn pre_key(&self) -> Option<(PreKeyId, &PublicKey)> {
        self.pre_key.as_ref().map(|(id, k)| (*id, k))
    }
    /// The signed EC prekey id.
    pub fn signed_pre_key_id(&self) -> SignedPreKeyId {
        self.signed_pre_key_id
    }
    /// The signed EC prekey.
    pub fn signed_pre_key(&self) -> &PublicKey {
        &self.signed_pre_key
    }
    /// Its signature.
    pub fn signed_pre_key_signature(&self) -> &[u8] {
        &self.signed_pre_key_signature
    }
    /// The owner's identity key.
    pub fn identity_key(&self) -> &IdentityKey {
        &self.identity_key
    }
    /// The Kyber prekey (id, key, signature), if any.
    pub fn kyber_pre_key(&self) -> Option<(KyberPreKeyId, &KemPublicKey, &[u8])> {
        self.kyber_pre_key
            .as_ref()
            .map(|(id, k, s)| (*id, k, s.as_slice()))
    }

    /// `1 ‖ protobuf{1: registration id, 2: device id, 9: Kyber prekey id, 10: Kyber
    /// prekey, 11: its signature, 3: prekey id, 4: prekey, 5: signed prekey id, 6: signed
    /// prekey, 7: its signature, 8: identity key}`, in that order.
    pub fn serialize(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1800);
        out.push(RECORD_FORMAT_V1);
        put_uint(&mut out, 1, u64::from(self.registration_id));
        put_uint(&mut out, 2, u64::from(self.device_id));
        // Optional fields first, required ones last: a truncated serialization then
        // always lacks a required field instead of parsing as a smaller bundle (a v4
        // bundle cut before its Kyber prekey would otherwise read as a v3 one).
        if let Some((id, k, s)) = &self.kyber_pre_key {
            put_uint(&mut out, 9, u64::from(id.0));
            put_bytes(&mut out, 10, &k.serialize());
            put_bytes(&mut out, 11, s);
        }
        if let Some((id, k)) = &self.pre_key {
            put_uint(&mut out, 3, u64::from(id.0));
            put_bytes(&mut out, 4, &k.serialize());
        }
        put_uint(&mut out, 5, u64::from(self.signed_pre_key_id.0));
        put_bytes(&mut out, 6, &self.signed_pre_key.serialize());
        put_bytes(&mut out, 7, &self.signed_pre_key_signature);
        put_bytes(&mut out, 8, &self.identity_key.serialize());
        out
    }

    /// Parses [`PreKeyBundle::serialize`]'s output.
    pub fn deserialize(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = open_record(bytes)?;
        let (mut reg, mut dev, mut pk_id, mut pk) = (None, None, None, None);
        let (mut spk_id, mut spk, mut spk_sig, mut ik) = (None, None, None, None);
        let (mut kid, mut kpk, mut ksig) = (None, None, None);
        while let Some((n, v)) = r.field()? {
            match n {
                1 => reg = Some(v.as_u32()?),
                2 => dev = Some(v.as_u32()?),
                3 => pk_id = Some(PreKeyId(v.as_u32()?)),
                4 => pk = Some(PublicKey::deserialize(v.as_bytes()?)?),
                5 => spk_id = Some(SignedPreKeyId(v.as_u32()?)),
                6 => spk = Some(PublicKey::deserialize(v.as_bytes()?)?),
                7 => spk_sig = Some(v.as_bytes()?.to_vec()),
                8 => ik = Some(IdentityKey::deserialize(v.as_bytes()?)?),
                9 => kid = Some(KyberPreKeyId(v.as_u32()?)),
                10 => kpk = Some(KemPublicKey::deserialize(v.as_bytes()?)?),
                11 => ksig = Some(v.as_bytes()?.to_vec()),
                _ => return Err(DecodeError::Malformed),
            }
        }
        let pre_key = match (pk_id, pk) {
            (Some(id), Some(k)) => Some((id, k)),
            (None, None) => None,
            _ => return Err(DecodeError::MissingField),
        };
        let kyber_pre_key = match (kid, kpk, ksig) {
            (Some(id), Some(k), Some(s)) => Some((id, k, s)),
            (None, None, None) => None,
            _ => return Err(DecodeError::MissingField),
        };
        Ok(PreKeyBundle {
            registration_id: reg.ok_or(DecodeError::MissingField)?,
            device_id: dev.ok_or(DecodeError::MissingField)?,
            pre_key,
            signed_pre_key_id: spk_id.ok_or(DecodeError::MissingField)?,
            signed_pre_key: spk.ok_or(DecodeError::MissingField)?,
            signed_pre_key_signature: spk_sig.ok_or(DecodeError::MissingField)?,
            identity_key: ik.ok_or(DecodeError::MissingField)?,
            kyber_pre_key,
        })
    }
}
