//! The change set out: every write of one operation, for the caller to persist in one
//! transaction.
//!
//! Thread safety (this family): a change set is immutable; any number of threads may
//! read one at once. `_free` needs exclusive access.

use std::collections::BTreeMap;

use missive::store::KyberPreKeyUse;
use missive::{
    DistributionId, IdentityKey, PreKeyId, ProtocolAddress, SenderKeyRecord, SessionRecord,
};

use crate::boundary::{Res, guard, guard_void, out_bytes, out_value, reference, take_and_free};
use crate::buffer::{MissiveBuffer, out_buffer};
use crate::status::MissiveStatus::{self, *};
use crate::{MISSIVE_DISTRIBUTION_ID_LEN, MISSIVE_PUBLIC_KEY_LEN};

/// Every write of one operation: the new session record of the peer, the peer's identity
/// to store (and the one it replaced), our one-time prekey to delete, the Kyber prekey use
/// to record, the new sender-key records. Persist all of it in one transaction, or none
/// of it (then the operation simply did not happen: retry it). Wiped when freed.
///
/// Thread safety: immutable once made; any number of threads may use it at once.
/// Its `_free` must not run while another call uses it.
#[derive(Default)]
pub struct MissiveChanges {
    pub(crate) session: Option<(ProtocolAddress, Box<SessionRecord>)>,
    pub(crate) identity: Option<(ProtocolAddress, IdentityKey, Option<IdentityKey>)>,
    pub(crate) consumed_pre_key: Option<PreKeyId>,
    pub(crate) kyber_pre_key: Option<KyberPreKeyUse>,
    pub(crate) sender_keys: BTreeMap<(ProtocolAddress, DistributionId), Box<SenderKeyRecord>>,
}

/// A Kyber prekey used by a prekey message (part of a change set). A one-time key
/// (`last_resort` false) is to be deleted; for a last-resort key the caller records the
/// triple (`kyber_pre_key_id`, `signed_pre_key_id`, `base_key`) and answers
/// `missive_records_set_kyber_triple_used` with it for later messages.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct MissiveKyberPreKeyUse {
    /// The Kyber prekey.
    pub kyber_pre_key_id: u32,
    /// The signed prekey the message used with it.
    pub signed_pre_key_id: u32,
    /// The initiator's base key, serialized.
    pub base_key: [u8; 33],
    /// Whether the key is last-resort (keep it, record the triple) or one-time (delete
    /// it).
    pub last_resort: bool,
}

/// What an operation did to the identity stored for the peer.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissiveIdentityChange {
    /// The identity is the one already stored.
    MISSIVE_IDENTITY_UNCHANGED = 0,
    /// No identity was stored; this one now is (trust on first use).
    MISSIVE_IDENTITY_NEW = 1,
    /// A different identity was stored and is replaced: the safety number changed. Tell
    /// the user.
    MISSIVE_IDENTITY_REPLACED = 2,
}

impl crate::boundary::Plain for MissiveIdentityChange {
    const ZERO: Self = Self::MISSIVE_IDENTITY_UNCHANGED;
}

impl crate::boundary::Plain for MissiveKyberPreKeyUse {
    const ZERO: Self = MissiveKyberPreKeyUse {
        kyber_pre_key_id: 0,
        signed_pre_key_id: 0,
        base_key: [0; 33],
        last_resort: false,
    };
}

impl MissiveIdentityChange {
    pub(crate) fn of(change: &missive::IdentityChange) -> Self {
        match change {
            missive::IdentityChange::Unchanged => Self::MISSIVE_IDENTITY_UNCHANGED,
            missive::IdentityChange::New => Self::MISSIVE_IDENTITY_NEW,
            missive::IdentityChange::Replaced { .. } => Self::MISSIVE_IDENTITY_REPLACED,
        }
    }
}

fn get<'a>(c: *const MissiveChanges) -> Res<&'a MissiveChanges> {
    // SAFETY: every caller passes its own argument under the header's contract.
    unsafe { reference(c) }
}

/// Writes to `*out` whether the change set writes nothing (a distribution message
/// created again for an existing chain, for example).
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_changes_is_empty(
    changes: *const MissiveChanges,
    out: *mut bool,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { out_value(out) }?;
        let c = get(changes)?;
        *out = c.session.is_none()
            && c.identity.is_none()
            && c.consumed_pre_key.is_none()
            && c.kyber_pre_key.is_none()
            && c.sender_keys.is_empty();
        Ok(())
    })
}

/// The new session record of the operation's peer: `*present` says whether there is one;
/// if so, its bytes (to store in place of the old record) are put in a new buffer
/// `*record` (library-owned; empty when absent).
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_changes_session(
    changes: *const MissiveChanges,
    present: *mut bool,
    record: *mut MissiveBuffer,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer.
        let (present, record) = unsafe { (out_value(present)?, out_buffer(record)?) };
        let c = get(changes)?;
        *present = c.session.is_some();
        if let Some((_, r)) = &c.session {
            *record = MissiveBuffer::copy_of(&r.serialize());
        }
        Ok(())
    })
}

/// The identity to store for the operation's peer: `*present` says whether there is one;
/// if so, the key is written to `identity` (`identity_len` bytes, at least
/// `MISSIVE_PUBLIC_KEY_LEN`), `*replaced` says whether it replaces another stored
/// identity, and if so and `previous` is not NULL, that identity is written to `previous`
/// (`previous_len` bytes, at least `MISSIVE_PUBLIC_KEY_LEN`).
///
/// # Safety
/// Pointers as documented in the header's conventions (`previous` may be NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_changes_identity(
    changes: *const MissiveChanges,
    present: *mut bool,
    identity: *mut u8,
    identity_len: usize,
    replaced: *mut bool,
    previous: *mut u8,
    previous_len: usize,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer (`previous` may be NULL).
        let (present, replaced, identity, previous) = unsafe {
            (
                out_value(present)?,
                out_value(replaced)?,
                out_bytes(identity, identity_len, MISSIVE_PUBLIC_KEY_LEN)?,
                if previous.is_null() {
                    None
                } else {
                    Some(out_bytes(previous, previous_len, MISSIVE_PUBLIC_KEY_LEN)?)
                },
            )
        };
        let c = get(changes)?;
        let Some((_, key, prev)) = &c.identity else {
            return Ok(());
        };
        if let (Some(p), Some(dst)) = (prev, previous) {
            dst.copy_from_slice(&p.serialize());
        }
        identity.copy_from_slice(&key.serialize());
        *present = true;
        *replaced = prev.is_some();
        Ok(())
    })
}

/// The one-time prekey to delete: `*present` says whether there is one, `*id` is its id.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_changes_consumed_pre_key(
    changes: *const MissiveChanges,
    present: *mut bool,
    id: *mut u32,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer.
        let (present, id) = unsafe { (out_value(present)?, out_value(id)?) };
        let c = get(changes)?;
        *present = c.consumed_pre_key.is_some();
        *id = c.consumed_pre_key.map_or(0, |k| k.0);
        Ok(())
    })
}

/// The Kyber prekey use to record: `*present` says whether there is one, `*kyber_use` what
/// it is (see `MissiveKyberPreKeyUse`).
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_changes_kyber_pre_key_use(
    changes: *const MissiveChanges,
    present: *mut bool,
    kyber_use: *mut MissiveKyberPreKeyUse,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer.
        let (present, kyber_use) = unsafe { (out_value(present)?, out_value(kyber_use)?) };
        let c = get(changes)?;
        *present = c.kyber_pre_key.is_some();
        if let Some(u) = &c.kyber_pre_key {
            *kyber_use = MissiveKyberPreKeyUse {
                kyber_pre_key_id: u.id.0,
                signed_pre_key_id: u.signed_pre_key_id.0,
                base_key: u.base_key.serialize(),
                last_resort: u.last_resort,
            };
        }
        Ok(())
    })
}

/// How many sender-key records the change set writes (one for a group operation; one per
/// sender and distribution id that a batch touched).
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_changes_sender_key_count(
    changes: *const MissiveChanges,
    count: *mut usize,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let count = unsafe { out_value(count) }?;
        *count = get(changes)?.sender_keys.len();
        Ok(())
    })
}

/// Sender-key record `index` (below `missive_changes_sender_key_count`): the sender's
/// name in a new buffer `*sender_name` (UTF-8, not NUL-terminated, library-owned), its
/// device id in `*sender_device_id`, the distribution id in `distribution_id`
/// (`distribution_id_len` bytes, at least `MISSIVE_DISTRIBUTION_ID_LEN`), and the new
/// record's bytes in a new buffer `*record` (library-owned), to store in place of the old
/// one.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_changes_sender_key(
    changes: *const MissiveChanges,
    index: usize,
    sender_name: *mut MissiveBuffer,
    sender_device_id: *mut u32,
    distribution_id: *mut u8,
    distribution_id_len: usize,
    record: *mut MissiveBuffer,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer.
        let (name, device, id, record) = unsafe {
            (
                out_buffer(sender_name)?,
                out_value(sender_device_id)?,
                out_bytes(
                    distribution_id,
                    distribution_id_len,
                    MISSIVE_DISTRIBUTION_ID_LEN,
                )?,
                out_buffer(record)?,
            )
        };
        let c = get(changes)?;
        let ((addr, dist), r) = c
            .sender_keys
            .iter()
            .nth(index)
            .ok_or(MISSIVE_ERROR_INVALID_ARGUMENT)?;
        *name = MissiveBuffer::copy_of(addr.name().as_bytes());
        *device = addr.device_id();
        id.copy_from_slice(dist.as_bytes());
        *record = MissiveBuffer::copy_of(&r.serialize());
        Ok(())
    })
}

/// Wipes and frees the change set and sets `*changes` to NULL (no-op for NULL).
///
/// # Safety
/// `*changes` must be NULL or a handle from this library not freed since.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_changes_free(changes: *mut *mut MissiveChanges) {
    guard_void(|| {
        // SAFETY: the caller's contract.
        unsafe { take_and_free(changes) }
    })
}
