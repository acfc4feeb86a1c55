//! 1:1 sessions: set-up from a bundle (v4, and v3 through the legacy entry point),
//! encryption, decryption of both message kinds, session reset, what a prekey message
//! needs, and session records.
//!
//! Thread safety (this family): every operation only reads its device and records, so
//! calls may run on several threads at once, but never two on the same peer's state
//! (see `MissiveRecords`). A `MissiveDecrypted` and a `MissiveSessionRecord` are
//! immutable; `_free` needs exclusive access.

use missive::{CiphertextMessageType, Decrypted, PreKeySignalMessage, SessionRecord, Timestamp};
use zeroize::Zeroize;

use crate::boundary::{
    MissiveAddress, bytes, give, guard, guard_void, out_bytes, out_handle, out_value, reference,
    take_and_free,
};
use crate::buffer::{MissiveBuffer, out_buffer};
use crate::bundle::MissivePreKeyBundle;
use crate::changes::{MissiveChanges, MissiveIdentityChange};
use crate::device::MissiveDevice;
use crate::records::{MissiveRecords, run};
use crate::rng::{MissiveRng, with_rng};
use crate::status::{
    MissiveStatus::{self, *},
    decryption_status,
};
use crate::{MISSIVE_MESSAGE_PREKEY, MISSIVE_MESSAGE_WHISPER, MISSIVE_PUBLIC_KEY_LEN};

/// A decrypted 1:1 message: the plaintext, the sender's identity, what the message did to
/// the stored identity, and whether it set up a new session. Needed, besides, to process
/// a group distribution message that it delivered. The plaintext is wiped when freed.
///
/// Thread safety: immutable once made; any number of threads may use it at once.
/// Its `_free` must not run while another call uses it.
pub struct MissiveDecrypted {
    pub(crate) inner: Decrypted,
}

impl Drop for MissiveDecrypted {
    fn drop(&mut self) {
        self.inner.plaintext.zeroize();
    }
}

/// A parsed session record, to ask about a session (is there one to send on?) without an
/// operation. Wiped when freed.
///
/// Thread safety: immutable once made; any number of threads may use it at once.
/// Its `_free` must not run while another call uses it.
pub struct MissiveSessionRecord {
    pub(crate) inner: SessionRecord,
}

/// What a prekey message needs from the caller's database
/// (`missive_prekey_message_needs`): the prekeys it names (add those the caller has to
/// the `MissiveRecords`) and, for a last-resort Kyber prekey, whether the triple
/// (`kyber_pre_key_id`, `signed_pre_key_id`, `base_key`) was used
/// (`missive_records_set_kyber_triple_used`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct MissivePreKeyNeeds {
    /// The message version: 4 (PQXDH) or 3 (X3DH).
    pub version: u32,
    /// Whether the message names a one-time prekey.
    pub has_pre_key: bool,
    /// Its id (0 when none).
    pub pre_key_id: u32,
    /// The signed prekey's id.
    pub signed_pre_key_id: u32,
    /// Whether the message names a Kyber prekey (always, for version 4).
    pub has_kyber_pre_key: bool,
    /// Its id (0 when none).
    pub kyber_pre_key_id: u32,
    /// The initiator's base key, serialized.
    pub base_key: [u8; 33],
}

impl crate::boundary::Plain for MissivePreKeyNeeds {
    const ZERO: Self = MissivePreKeyNeeds {
        version: 0,
        has_pre_key: false,
        pre_key_id: 0,
        signed_pre_key_id: 0,
        has_kyber_pre_key: false,
        kyber_pre_key_id: 0,
        base_key: [0; 33],
    };
}

/// The common tail of the operations: the change set to the caller.
fn hand_out(slot: &mut *mut MissiveChanges, changes: MissiveChanges) {
    give(slot, changes);
}

/// Starts a v4 (PQXDH) session with `remote` from its `bundle` (we are the initiator):
/// checks both prekey signatures and that the identity is trusted for sending, and makes
/// the new session current. `records` must hold `remote`'s session record and stored
/// identity (each possibly declared absent). `now_ms`: the caller's clock. On success,
/// `*identity_change` (may be NULL) says what happens to the stored identity
/// (`MISSIVE_IDENTITY_NEW` on first contact) and `*changes` holds the writes. A bundle
/// without a Kyber prekey is refused (`MISSIVE_ERROR_LEGACY_REFUSED`). `rng`: NULL for
/// the OS generator.
///
/// Thread safety: an operation; see `MissiveRecords`.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_session_process_bundle(
    device: *const MissiveDevice,
    rng: *const MissiveRng,
    remote: *const MissiveAddress,
    records: *const MissiveRecords,
    bundle: *const MissivePreKeyBundle,
    now_ms: u64,
    identity_change: *mut MissiveIdentityChange,
    changes: *mut *mut MissiveChanges,
) -> MissiveStatus {
    // SAFETY: the caller's contract for each pointer.
    unsafe {
        process_bundle(
            device,
            rng,
            remote,
            records,
            bundle,
            now_ms,
            identity_change,
            changes,
            false,
        )
    }
}

/// As `missive_session_process_bundle`, for a legacy peer: an X3DH (v3) session from a
/// bundle without a Kyber prekey (no post-quantum protection). A bundle with a Kyber
/// prekey is refused (`MISSIVE_ERROR_INVALID_ARGUMENT`).
///
/// Thread safety: an operation; see `MissiveRecords`.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_session_process_legacy_bundle(
    device: *const MissiveDevice,
    rng: *const MissiveRng,
    remote: *const MissiveAddress,
    records: *const MissiveRecords,
    bundle: *const MissivePreKeyBundle,
    now_ms: u64,
    identity_change: *mut MissiveIdentityChange,
    changes: *mut *mut MissiveChanges,
) -> MissiveStatus {
    // SAFETY: the caller's contract for each pointer.
    unsafe {
        process_bundle(
            device,
            rng,
            remote,
            records,
            bundle,
            now_ms,
            identity_change,
            changes,
            true,
        )
    }
}

/// # Safety
/// As for the exported functions that call it.
#[allow(clippy::too_many_arguments)]
unsafe fn process_bundle(
    device: *const MissiveDevice,
    rng: *const MissiveRng,
    remote: *const MissiveAddress,
    records: *const MissiveRecords,
    bundle: *const MissivePreKeyBundle,
    now_ms: u64,
    identity_change: *mut MissiveIdentityChange,
    changes: *mut *mut MissiveChanges,
    legacy: bool,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer (`identity_change` may be NULL).
        let (slot, device, remote, records, bundle, change_out) = unsafe {
            (
                out_handle(changes)?,
                reference(device)?,
                crate::boundary::address(remote)?,
                reference(records)?,
                &reference(bundle)?.inner,
                if identity_change.is_null() {
                    None
                } else {
                    Some(out_value(identity_change)?)
                },
            )
        };
        let now = Timestamp::from_millis(now_ms);
        // SAFETY: the caller's contract for `rng`.
        let result = unsafe {
            with_rng(rng, |r| {
                run(device, records, |d| {
                    if legacy {
                        d.process_legacy_prekey_bundle(&remote, bundle, now, r)
                    } else {
                        d.process_prekey_bundle(&remote, bundle, now, r)
                    }
                })
            })
        }?;
        let (change, set) = result?;
        if let Some(o) = change_out {
            *o = MissiveIdentityChange::of(&change);
        }
        hand_out(slot, set);
        Ok(())
    })
}

/// Encrypts `plaintext` (borrowed) for `remote` on the current session. `records` must
/// hold `remote`'s session record and stored identity. On success `*message_type` is
/// `MISSIVE_MESSAGE_PREKEY` (until the peer first answers) or `MISSIVE_MESSAGE_WHISPER`,
/// `*message` the bytes to send (library-owned), `*changes` the writes. `now_ms`: the
/// caller's clock (an unanswered session expires). `rng`: NULL for the OS generator.
///
/// Thread safety: an operation; see `MissiveRecords`.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_session_encrypt(
    device: *const MissiveDevice,
    rng: *const MissiveRng,
    remote: *const MissiveAddress,
    records: *const MissiveRecords,
    plaintext: *const u8,
    plaintext_len: usize,
    now_ms: u64,
    message_type: *mut u32,
    message: *mut MissiveBuffer,
    changes: *mut *mut MissiveChanges,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer.
        let (slot, message, message_type, device, remote, records, plaintext) = unsafe {
            (
                out_handle(changes)?,
                out_buffer(message)?,
                out_value(message_type)?,
                reference(device)?,
                crate::boundary::address(remote)?,
                reference(records)?,
                bytes(plaintext, plaintext_len)?,
            )
        };
        let now = Timestamp::from_millis(now_ms);
        // SAFETY: the caller's contract for `rng`.
        let result = unsafe {
            with_rng(rng, |r| {
                run(device, records, |d| d.encrypt(&remote, plaintext, now, r))
            })
        }?;
        let (sent, set) = result?;
        *message_type = match sent.message_type() {
            CiphertextMessageType::PreKey => MISSIVE_MESSAGE_PREKEY,
            _ => MISSIVE_MESSAGE_WHISPER,
        };
        *message = MissiveBuffer::copy_of(sent.serialize());
        hand_out(slot, set);
        Ok(())
    })
}

/// Decrypts a 1:1 message from `remote` of type `message_type` (`MISSIVE_MESSAGE_PREKEY`
/// or `MISSIVE_MESSAGE_WHISPER`, as the envelope says), `message` borrowed. `records`
/// must hold `remote`'s session record and stored identity; for a prekey message, also
/// what `missive_prekey_message_needs` lists. On success `*decrypted` holds the result
/// and `*changes` the writes. Decryption errors are collapsed (see `MissiveStatus`). A
/// failure changes nothing: the same records can be used again. `rng`: NULL for the OS
/// generator.
///
/// Thread safety: an operation; see `MissiveRecords`.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_session_decrypt(
    device: *const MissiveDevice,
    rng: *const MissiveRng,
    remote: *const MissiveAddress,
    records: *const MissiveRecords,
    message_type: u32,
    message: *const u8,
    message_len: usize,
    decrypted: *mut *mut MissiveDecrypted,
    changes: *mut *mut MissiveChanges,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer.
        let (slot, out, device, remote, records, message) = unsafe {
            (
                out_handle(changes)?,
                out_handle(decrypted)?,
                reference(device)?,
                crate::boundary::address(remote)?,
                reference(records)?,
                bytes(message, message_len)?,
            )
        };
        let kind = match message_type {
            MISSIVE_MESSAGE_PREKEY => CiphertextMessageType::PreKey,
            MISSIVE_MESSAGE_WHISPER => CiphertextMessageType::Whisper,
            _ => return Err(MISSIVE_ERROR_INVALID_ARGUMENT),
        };
        // SAFETY: the caller's contract for `rng`.
        let result = unsafe {
            with_rng(rng, |r| {
                run(device, records, |d| d.decrypt(&remote, kind, message, r))
            })
        }?;
        let (inner, set) = result.map_err(|e| decryption_status(&e, device.detailed_errors))?;
        give(out, MissiveDecrypted { inner });
        hand_out(slot, set);
        Ok(())
    })
}

/// Archives the current session with `remote` (a session reset): the next message to it
/// needs a new bundle; late messages on the old session still decrypt. `records` must
/// hold `remote`'s session record.
///
/// Thread safety: an operation; see `MissiveRecords`.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_session_archive(
    device: *const MissiveDevice,
    remote: *const MissiveAddress,
    records: *const MissiveRecords,
    changes: *mut *mut MissiveChanges,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer.
        let (slot, device, remote, records) = unsafe {
            (
                out_handle(changes)?,
                reference(device)?,
                crate::boundary::address(remote)?,
                reference(records)?,
            )
        };
        // Archiving reads nothing through the store; check here that the record was
        // loaded, or the change set would replace the stored record with an empty one.
        if !records.sessions.contains_key(&remote) {
            return Err(MISSIVE_ERROR_RECORD_NOT_LOADED);
        }
        let ((), set) = run(device, records, |d| d.archive_session(&remote))?;
        hand_out(slot, set);
        Ok(())
    })
}

/// Parses a prekey message (borrowed) and writes what it needs to `*needs`: the prekeys
/// to look up before `missive_session_decrypt`. A message that does not parse fails
/// with its decode error.
///
/// Thread-safe.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_prekey_message_needs(
    message: *const u8,
    message_len: usize,
    needs: *mut MissivePreKeyNeeds,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer.
        let (needs, message) = unsafe { (out_value(needs)?, bytes(message, message_len)?) };
        let m = PreKeySignalMessage::deserialize(message)?;
        *needs = MissivePreKeyNeeds {
            version: u32::from(m.message_version()),
            has_pre_key: m.pre_key_id().is_some(),
            pre_key_id: m.pre_key_id().unwrap_or(0),
            signed_pre_key_id: m.signed_pre_key_id(),
            has_kyber_pre_key: m.kyber().is_some(),
            kyber_pre_key_id: m.kyber().map_or(0, |(id, _)| id),
            base_key: m.base_key().serialize(),
        };
        Ok(())
    })
}

// ---- the decrypted message ------------------------------------------------------------

/// Copies the plaintext into a new buffer `*out` (library-owned; wiped when freed).
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_decrypted_plaintext(
    decrypted: *const MissiveDecrypted,
    out: *mut MissiveBuffer,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer.
        let (out, d) = unsafe { (out_buffer(out)?, reference(decrypted)?) };
        *out = MissiveBuffer::copy_of(&d.inner.plaintext);
        Ok(())
    })
}

/// Writes the sender's identity key (the one its session was built with;
/// `MISSIVE_PUBLIC_KEY_LEN` bytes) to `out` (`out_len` bytes).
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_decrypted_sender_identity(
    decrypted: *const MissiveDecrypted,
    out: *mut u8,
    out_len: usize,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer.
        let (d, dst) = unsafe {
            (
                reference(decrypted)?,
                out_bytes(out, out_len, MISSIVE_PUBLIC_KEY_LEN)?,
            )
        };
        dst.copy_from_slice(&d.inner.sender.identity().serialize());
        Ok(())
    })
}

/// Writes what the message did to the sender's stored identity to `*change`; when it is
/// `MISSIVE_IDENTITY_REPLACED` and `previous` is not NULL, the replaced identity is
/// written to `previous` (`previous_len` bytes, at least `MISSIVE_PUBLIC_KEY_LEN`).
///
/// # Safety
/// Pointers as documented in the header's conventions (`previous` may be NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_decrypted_identity_change(
    decrypted: *const MissiveDecrypted,
    change: *mut MissiveIdentityChange,
    previous: *mut u8,
    previous_len: usize,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer (`previous` may be NULL).
        let (d, change, previous) = unsafe {
            (
                reference(decrypted)?,
                out_value(change)?,
                if previous.is_null() {
                    None
                } else {
                    Some(out_bytes(previous, previous_len, MISSIVE_PUBLIC_KEY_LEN)?)
                },
            )
        };
        *change = MissiveIdentityChange::of(&d.inner.identity_change);
        if let (missive::IdentityChange::Replaced { previous: p }, Some(dst)) =
            (&d.inner.identity_change, previous)
        {
            dst.copy_from_slice(&p.serialize());
        }
        Ok(())
    })
}

/// Writes whether the message (a prekey message) set up a new session to `*out`.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_decrypted_new_session(
    decrypted: *const MissiveDecrypted,
    out: *mut bool,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer.
        let (d, out) = unsafe { (reference(decrypted)?, out_value(out)?) };
        *out = d.inner.new_session;
        Ok(())
    })
}

/// Wipes and frees the decrypted message and sets `*decrypted` to NULL (no-op for NULL).
///
/// # Safety
/// `*decrypted` must be NULL or a handle from this library not freed since.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_decrypted_free(decrypted: *mut *mut MissiveDecrypted) {
    guard_void(|| {
        // SAFETY: the caller's contract.
        unsafe { take_and_free(decrypted) }
    })
}

// ---- session records ------------------------------------------------------------------

/// Parses a session record (borrowed) into `*out`.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_session_record_deserialize(
    data: *const u8,
    len: usize,
    out: *mut *mut MissiveSessionRecord,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer.
        let (out, data) = unsafe { (out_handle(out)?, bytes(data, len)?) };
        let inner = SessionRecord::deserialize(data)?;
        give(out, MissiveSessionRecord { inner });
        Ok(())
    })
}

/// Serializes the record into `*out` (library-owned; it holds secrets).
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_session_record_serialize(
    record: *const MissiveSessionRecord,
    out: *mut MissiveBuffer,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer.
        let (out, r) = unsafe { (out_buffer(out)?, reference(record)?) };
        *out = MissiveBuffer::copy_of(&r.inner.serialize());
        Ok(())
    })
}

/// Writes to `*out` whether the current session can send at `now_ms` (it exists and, if
/// we initiated it and had no answer, has not expired): if not, process a new bundle.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_session_record_has_usable_sender_chain(
    record: *const MissiveSessionRecord,
    now_ms: u64,
    out: *mut bool,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer.
        let (r, out) = unsafe { (reference(record)?, out_value(out)?) };
        *out = r
            .inner
            .has_usable_sender_chain(Timestamp::from_millis(now_ms));
        Ok(())
    })
}

/// Writes the current session's protocol version (3 or 4) to `*out`, or 0 when there is
/// no current session.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_session_record_version(
    record: *const MissiveSessionRecord,
    out: *mut u32,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer.
        let (r, out) = unsafe { (reference(record)?, out_value(out)?) };
        *out = r.inner.session_version().map_or(0, u32::from);
        Ok(())
    })
}

/// Writes the peer's registration id recorded in the current session to `*out`;
/// `MISSIVE_ERROR_NO_SESSION` when there is no current session.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_session_record_remote_registration_id(
    record: *const MissiveSessionRecord,
    out: *mut u32,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer.
        let (r, out) = unsafe { (reference(record)?, out_value(out)?) };
        *out = r
            .inner
            .remote_registration_id()
            .ok_or(MISSIVE_ERROR_NO_SESSION)?;
        Ok(())
    })
}

/// Writes the peer's identity key in the current session (`MISSIVE_PUBLIC_KEY_LEN`
/// bytes) to `out` (`out_len` bytes); `MISSIVE_ERROR_NO_SESSION` when there is no
/// current session.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_session_record_remote_identity(
    record: *const MissiveSessionRecord,
    out: *mut u8,
    out_len: usize,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer.
        let (r, dst) = unsafe {
            (
                reference(record)?,
                out_bytes(out, out_len, MISSIVE_PUBLIC_KEY_LEN)?,
            )
        };
        let key = r.inner.remote_identity().ok_or(MISSIVE_ERROR_NO_SESSION)?;
        dst.copy_from_slice(&key.serialize());
        Ok(())
    })
}

/// Writes the number of archived sessions to `*out`.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_session_record_archived_count(
    record: *const MissiveSessionRecord,
    out: *mut usize,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer.
        let (r, out) = unsafe { (reference(record)?, out_value(out)?) };
        *out = r.inner.archived_count();
        Ok(())
    })
}

/// Wipes and frees the record and sets `*record` to NULL (no-op for NULL).
///
/// # Safety
/// `*record` must be NULL or a handle from this library not freed since.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_session_record_free(record: *mut *mut MissiveSessionRecord) {
    guard_void(|| {
        // SAFETY: the caller's contract.
        unsafe { take_and_free(record) }
    })
}
