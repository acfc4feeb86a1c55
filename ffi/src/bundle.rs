//! Prekey bundles: built from the parts a server hands out, or from our own records (to
//! publish), and (de)serialized.
//!
//! Thread safety (this family): a bundle is immutable once made; any number of threads
//! may read it at once. `_free` needs exclusive access.

use missive::crypto::{KemPublicKey, PublicKey};
use missive::{IdentityKey, KyberPreKeyId, PreKeyBundle, PreKeyId, SignedPreKeyId};

use crate::MISSIVE_PUBLIC_KEY_LEN;
use crate::boundary::{
    bytes, give, guard, guard_void, optional_bytes, out_bytes, out_handle, out_value, reference,
    take_and_free,
};
use crate::buffer::{MissiveBuffer, out_buffer};
use crate::keys::{
    MissiveIdentityKeyPair, MissiveKyberPreKeyRecord, MissivePreKeyRecord,
    MissiveSignedPreKeyRecord,
};
use crate::status::MissiveStatus;

/// A peer's published prekey bundle: with a Kyber prekey it starts a v4 (PQXDH) session,
/// without one a v3 (X3DH) session (legacy entry point only). Signatures are checked when
/// it is processed.
///
/// Thread safety: immutable once made; any number of threads may use it at once.
/// Its `_free` must not run while another call uses it.
pub struct MissivePreKeyBundle {
    pub(crate) inner: PreKeyBundle,
}

/// Builds a bundle from its parts, as a server delivers them (all borrowed for the call;
/// keys serialized with their type byte):
/// - `pre_key` (`MISSIVE_PUBLIC_KEY_LEN` bytes) with `pre_key_id`: the one-time prekey,
///   or NULL / length 0 for none;
/// - `signed_pre_key` with `signed_pre_key_id` and its `signed_pre_key_signature`;
/// - `identity_key` (`MISSIVE_PUBLIC_KEY_LEN` bytes);
/// - `kyber_pre_key` (`MISSIVE_KYBER_PUBLIC_KEY_LEN` bytes) with `kyber_pre_key_id` and
///   `kyber_pre_key_signature`: NULL / length 0 for a v3 bundle (both must then be
///   absent).
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_pre_key_bundle_new(
    registration_id: u32,
    device_id: u32,
    pre_key_id: u32,
    pre_key: *const u8,
    pre_key_len: usize,
    signed_pre_key_id: u32,
    signed_pre_key: *const u8,
    signed_pre_key_len: usize,
    signed_pre_key_signature: *const u8,
    signed_pre_key_signature_len: usize,
    identity_key: *const u8,
    identity_key_len: usize,
    kyber_pre_key_id: u32,
    kyber_pre_key: *const u8,
    kyber_pre_key_len: usize,
    kyber_pre_key_signature: *const u8,
    kyber_pre_key_signature_len: usize,
    out: *mut *mut MissivePreKeyBundle,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for `out`.
        let out = unsafe { out_handle(out) }?;
        // SAFETY: the caller's contract for each pointer and its length.
        let (pre_key, spk, spk_sig, identity, kyber_key, kyber_sig) = unsafe {
            (
                optional_bytes(pre_key, pre_key_len)?,
                bytes(signed_pre_key, signed_pre_key_len)?,
                bytes(signed_pre_key_signature, signed_pre_key_signature_len)?,
                bytes(identity_key, identity_key_len)?,
                optional_bytes(kyber_pre_key, kyber_pre_key_len)?,
                optional_bytes(kyber_pre_key_signature, kyber_pre_key_signature_len)?,
            )
        };
        let pre_key = match pre_key {
            Some(k) => Some((PreKeyId(pre_key_id), PublicKey::deserialize(k)?)),
            None => None,
        };
        let spk = PublicKey::deserialize(spk)?;
        let spk_sig = spk_sig.to_vec();
        let identity = IdentityKey::deserialize(identity)?;
        let kyber = match (kyber_key, kyber_sig) {
            (Some(k), Some(s)) => Some((
                KyberPreKeyId(kyber_pre_key_id),
                KemPublicKey::deserialize(k)?,
                s.to_vec(),
            )),
            (None, None) => None,
            _ => return Err(MissiveStatus::MISSIVE_ERROR_INVALID_ARGUMENT),
        };
        let inner = PreKeyBundle::new(
            registration_id,
            device_id,
            pre_key,
            SignedPreKeyId(signed_pre_key_id),
            spk,
            spk_sig,
            identity,
            kyber,
        );
        give(out, MissivePreKeyBundle { inner });
        Ok(())
    })
}

/// Builds the bundle that publishes our keys: `identity` (ours), our
/// `registration_id` and `device_id`, an optional one-time prekey (`pre_key`, NULL for
/// none), the signed prekey, and an optional Kyber prekey (`kyber_pre_key`, NULL for a v3
/// bundle). Every handle is borrowed for the call.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_pre_key_bundle_from_records(
    identity: *const MissiveIdentityKeyPair,
    registration_id: u32,
    device_id: u32,
    pre_key: *const MissivePreKeyRecord,
    signed_pre_key: *const MissiveSignedPreKeyRecord,
    kyber_pre_key: *const MissiveKyberPreKeyRecord,
    out: *mut *mut MissivePreKeyBundle,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for `out`.
        let out = unsafe { out_handle(out) }?;
        // SAFETY: the caller's contract for each handle (the optional ones may be NULL).
        let (identity, spk, pre_key, kyber) = unsafe {
            (
                &reference(identity)?.inner,
                &reference(signed_pre_key)?.inner,
                if pre_key.is_null() {
                    None
                } else {
                    Some(&reference(pre_key)?.inner)
                },
                if kyber_pre_key.is_null() {
                    None
                } else {
                    Some(&reference(kyber_pre_key)?.inner)
                },
            )
        };
        let pre_key = pre_key.map(|k| (k.id(), *k.public_key()));
        let kyber = kyber.map(|k| (k.id(), k.public_key().clone(), k.signature().to_vec()));
        let inner = PreKeyBundle::new(
            registration_id,
            device_id,
            pre_key,
            spk.id(),
            *spk.public_key(),
            spk.signature().to_vec(),
            *identity.identity_key(),
            kyber,
        );
        give(out, MissivePreKeyBundle { inner });
        Ok(())
    })
}

/// Serializes the bundle (missive's own format, for caching) into `*out`
/// (library-owned).
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_pre_key_bundle_serialize(
    bundle: *const MissivePreKeyBundle,
    out: *mut MissiveBuffer,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { out_buffer(out) }?;
        // SAFETY: the caller's contract.
        let b = unsafe { reference(bundle) }?;
        *out = MissiveBuffer::copy_of(&b.inner.serialize());
        Ok(())
    })
}

/// Parses `missive_pre_key_bundle_serialize`'s output into `*out`.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_pre_key_bundle_deserialize(
    data: *const u8,
    len: usize,
    out: *mut *mut MissivePreKeyBundle,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { out_handle(out) }?;
        // SAFETY: the caller's contract.
        let inner = PreKeyBundle::deserialize(unsafe { bytes(data, len) }?)?;
        give(out, MissivePreKeyBundle { inner });
        Ok(())
    })
}

/// Writes the bundle owner's registration id to `*out`.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_pre_key_bundle_registration_id(
    bundle: *const MissivePreKeyBundle,
    out: *mut u32,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { out_value(out) }?;
        // SAFETY: the caller's contract.
        *out = unsafe { reference(bundle) }?.inner.registration_id();
        Ok(())
    })
}

/// Writes the bundle owner's device id to `*out`.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_pre_key_bundle_device_id(
    bundle: *const MissivePreKeyBundle,
    out: *mut u32,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { out_value(out) }?;
        // SAFETY: the caller's contract.
        *out = unsafe { reference(bundle) }?.inner.device_id();
        Ok(())
    })
}

/// Writes whether the bundle has a Kyber prekey (a v4 bundle) to `*out`.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_pre_key_bundle_has_kyber_pre_key(
    bundle: *const MissivePreKeyBundle,
    out: *mut bool,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { out_value(out) }?;
        // SAFETY: the caller's contract.
        *out = unsafe { reference(bundle) }?
            .inner
            .kyber_pre_key()
            .is_some();
        Ok(())
    })
}

/// Writes the bundle owner's identity key (`MISSIVE_PUBLIC_KEY_LEN` bytes) to `out`
/// (`out_len` bytes).
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_pre_key_bundle_identity_key(
    bundle: *const MissivePreKeyBundle,
    out: *mut u8,
    out_len: usize,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let b = unsafe { reference(bundle) }?;
        // SAFETY: the caller's contract.
        let dst = unsafe { out_bytes(out, out_len, MISSIVE_PUBLIC_KEY_LEN) }?;
        dst.copy_from_slice(&b.inner.identity_key().serialize());
        Ok(())
    })
}

/// Frees the bundle and sets `*bundle` to NULL (no-op for NULL).
///
/// # Safety
/// `*bundle` must be NULL or a handle from this library not freed since.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_pre_key_bundle_free(bundle: *mut *mut MissivePreKeyBundle) {
    guard_void(|| {
        // SAFETY: the caller's contract.
        unsafe { take_and_free(bundle) }
    })
}
