//! Session set-up: PQXDH (v4, signal.org/docs/specifications/pqxdh) and X3DH (v3,
//! signal.org/docs/specifications/x3dh) over one internal shape.
//!
//! ```text
//! secret = 0xFF×32 ‖ DH(IK_A, SPK_B) ‖ DH(EK_A, IK_B) ‖ DH(EK_A, SPK_B) [‖ DH(EK_A, OPK_B)] [‖ SS_KEM]
//! v4: HKDF(salt = none, secret, "WhisperText_X25519_SHA-256_CRYSTALS-KYBER-1024") → root ‖ chain ‖ SPQR auth key (96)
//! v3: HKDF(salt = none, secret, "WhisperText")                                     → root ‖ chain (64)
//! ```
//!
//! Every DH output is checked for contributory behaviour; the responder checks the
//! initiator's base key is canonical before using it. Signature checks on the bundle
//! happen in the caller, before any of this.

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::crypto::kdf::hkdf;
use crate::crypto::{KemCiphertext, KemKeyType, KemPublicKey, KemSecretKey, KeyPair, PublicKey};
use crate::error::ProtocolError;
use crate::keys::{IdentityKey, IdentityKeyPair};
use crate::ratchet::keys::{ChainKey, RootKey, split_32_32};
use crate::wire::{VERSION_PQXDH, VERSION_X3DH};

/// HKDF info for PQXDH with Kyber1024.
pub(crate) const PQXDH_INFO: &[u8] = b"WhisperText_X25519_SHA-256_CRYSTALS-KYBER-1024";
/// HKDF info for X3DH.
pub(crate) const X3DH_INFO: &[u8] = b"WhisperText";

/// The keys a completed handshake yields.
pub(crate) struct DerivedKeys {
    pub(crate) root_key: RootKey,
    pub(crate) chain_key: ChainKey,
    /// The SPQR authentication key (v4 only).
    pub(crate) spqr_auth_key: Option<Zeroizing<[u8; 32]>>,
}

/// The secret input, built up in a fixed buffer (at most 32 + 4×32 + 32 bytes).
struct Secret {
    buf: Zeroizing<[u8; 192]>,
    len: usize,
}

impl Secret {
    fn new() -> Self {
        let mut s = Secret {
            buf: Zeroizing::new([0u8; 192]),
            len: 0,
        };
        s.push(&[0xFF; 32]);
        s
    }

    fn push(&mut self, b: &[u8; 32]) {
        if let Some(dst) = self.buf.get_mut(self.len..self.len + 32) {
            dst.copy_from_slice(b);
            self.len += 32;
        }
    }

    fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    fn derive(&self, version: u8) -> DerivedKeys {
        if version == VERSION_PQXDH {
            let okm = Zeroizing::new(hkdf::<96>(None, self.bytes(), &[PQXDH_INFO]));
            let mut first = [0u8; 64];
            let mut auth = Zeroizing::new([0u8; 32]);
            let (a, b) = okm.split_at(64);
            first.copy_from_slice(a);
            auth.copy_from_slice(b);
            let first = Zeroizing::new(first);
            let (root, chain) = split_32_32(&first);
            DerivedKeys {
                root_key: RootKey::new(root),
                chain_key: ChainKey::new(chain, 0),
                spqr_auth_key: Some(auth),
            }
        } else {
            let okm = Zeroizing::new(hkdf::<64>(None, self.bytes(), &[X3DH_INFO]));
            let (root, chain) = split_32_32(&okm);
            DerivedKeys {
                root_key: RootKey::new(root),
                chain_key: ChainKey::new(chain, 0),
                spqr_auth_key: None,
            }
        }
    }
}

/// What the initiator (Alice) knows of the responder.
pub(crate) struct TheirBundle<'a> {
    pub(crate) identity_key: &'a IdentityKey,
    pub(crate) signed_pre_key: &'a PublicKey,
    pub(crate) one_time_pre_key: Option<&'a PublicKey>,
    pub(crate) kyber_pre_key: Option<&'a KemPublicKey>,
}

/// The initiator's half. The base key is consumed: it is used for this handshake only.
pub(crate) fn initiate<R: CryptoRng + ?Sized>(
    our_identity: &IdentityKeyPair,
    our_base_key: KeyPair,
    their: &TheirBundle<'_>,
    rng: &mut R,
) -> Result<(DerivedKeys, Option<KemCiphertext>), ProtocolError> {
    let version = if their.kyber_pre_key.is_some() {
        VERSION_PQXDH
    } else {
        VERSION_X3DH
    };
    let mut s = Secret::new();
    s.push(
        our_identity
            .private_key()
            .diffie_hellman(their.signed_pre_key)?
            .as_bytes(),
    );
    s.push(
        our_base_key
            .private_key()
            .diffie_hellman(their.identity_key.public_key())?
            .as_bytes(),
    );
    s.push(
        our_base_key
            .private_key()
            .diffie_hellman(their.signed_pre_key)?
            .as_bytes(),
    );
    if let Some(opk) = their.one_time_pre_key {
        s.push(our_base_key.private_key().diffie_hellman(opk)?.as_bytes());
    }
    let ct = match their.kyber_pre_key {
        Some(kpk) => {
            if kpk.key_type() != KemKeyType::Kyber1024 {
                // Only round-3 Kyber1024 has a defined PQXDH label and a peer to prove it.
                return Err(ProtocolError::VersionMismatch);
            }
            let (ct, ss) = kpk.encapsulate(rng);
            s.push(ss.as_bytes());
            Some(ct)
        }
        None => None,
    };
    Ok((s.derive(version), ct))
}

/// What the responder (Bob) holds.
pub(crate) struct OurPreKeys<'a> {
    pub(crate) identity: &'a IdentityKeyPair,
    pub(crate) signed_pre_key: &'a KeyPair,
    pub(crate) one_time_pre_key: Option<&'a KeyPair>,
    pub(crate) kyber: Option<(&'a KemSecretKey, &'a KemCiphertext)>,
}

/// The responder's half.
pub(crate) fn respond(
    ours: &OurPreKeys<'_>,
    their_identity: &IdentityKey,
    their_base_key: &PublicKey,
) -> Result<DerivedKeys, ProtocolError> {
    if !their_base_key.is_canonical() {
        return Err(ProtocolError::NonCanonicalKey);
    }
    let version = if ours.kyber.is_some() {
        VERSION_PQXDH
    } else {
        VERSION_X3DH
    };
    let mut s = Secret::new();
    s.push(
        ours.signed_pre_key
            .private_key()
            .diffie_hellman(their_identity.public_key())?
            .as_bytes(),
    );
    s.push(
        ours.identity
            .private_key()
            .diffie_hellman(their_base_key)?
            .as_bytes(),
    );
    s.push(
        ours.signed_pre_key
            .private_key()
            .diffie_hellman(their_base_key)?
            .as_bytes(),
    );
    if let Some(opk) = ours.one_time_pre_key {
        s.push(opk.private_key().diffie_hellman(their_base_key)?.as_bytes());
    }
    if let Some((sk, ct)) = ours.kyber {
        if sk.key_type() != KemKeyType::Kyber1024 {
            return Err(ProtocolError::VersionMismatch);
        }
        s.push(sk.decapsulate(ct)?.as_bytes());
    }
    Ok(s.derive(version))
}

#[cfg(test)]
mod tests;
