//! Sender-key groups: our distribution message (and rotation), processing a member's,
//! group encryption, decryption one by one and in batches.
//!
//! The records: our own sending chain for a distribution id is the sender-key record
//! stored under our own address; a member's under the member's address. Each operation
//! needs the record of the (sender, distribution id) it works on, set or declared absent
//! in the `MissiveRecords` (`missive_sender_key_message_distribution_id` and
//! `missive_sender_key_distribution_message_distribution_id` say which).
//!
//! Thread safety (this family): as for 1:1 sessions: operations only read their device
//! and records; never two at once on the same sender-key record.

use std::mem::size_of;

use missive::{ProtocolAddress, SenderKeyDistributionMessage, SenderKeyMessage};
use zeroize::Zeroize;

use crate::MISSIVE_DISTRIBUTION_ID_LEN;
use crate::boundary::{
    MissiveAddress, Res, address_value, bytes, distribution_id as parse_distribution_id, give,
    guard, out_bytes, out_handle, reference,
};
use crate::buffer::{MissiveBuffer, out_buffer};
use crate::changes::MissiveChanges;
use crate::device::MissiveDevice;
use crate::records::{MissiveRecords, run};
use crate::rng::{MissiveRng, with_rng};
use crate::session::MissiveDecrypted;
use crate::status::{
    MissiveStatus::{self, *},
    decryption_status,
};

/// One message of a batch for `missive_group_decrypt_batch`: who sent it (from the
/// envelope) and its bytes (borrowed for the call).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct MissiveGroupMessage {
    /// The sender's address.
    pub sender: MissiveAddress,
    /// The serialized group message.
    pub message: *const u8,
    /// Its length.
    pub message_len: usize,
}

/// The result of one message of a batch: `status`, and when it is `MISSIVE_OK`, the
/// plaintext (library-owned: free it with `missive_buffer_free`; empty otherwise).
#[repr(C)]
#[derive(Debug)]
pub struct MissiveGroupResult {
    /// This message's status (decryption errors collapsed as for
    /// `missive_group_decrypt`).
    pub status: MissiveStatus,
    /// The plaintext when `status` is `MISSIVE_OK`.
    pub plaintext: MissiveBuffer,
}

/// Our distribution message for `distribution_id` (16 bytes), starting a new sending
/// chain if we have none: `*message` (library-owned) is what to send to each member,
/// inside its 1:1 session (`missive_session_encrypt` with these bytes as the plaintext):
/// it holds the chain key. Called again, it describes the same chain (and `*changes` is
/// empty). `records` must hold our own sender-key record for `distribution_id`. `rng`:
/// NULL for the OS generator.
///
/// Thread safety: an operation; see `MissiveRecords`.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_group_create_distribution(
    device: *const MissiveDevice,
    rng: *const MissiveRng,
    records: *const MissiveRecords,
    distribution_id: *const u8,
    distribution_id_len: usize,
    message: *mut MissiveBuffer,
    changes: *mut *mut MissiveChanges,
) -> MissiveStatus {
    // SAFETY: the caller's contract for each pointer.
    unsafe {
        distribution(
            device,
            rng,
            records,
            distribution_id,
            distribution_id_len,
            message,
            changes,
            false,
        )
    }
}

/// Starts a new sending chain for `distribution_id` that replaces all of ours (after a
/// member left, or to heal from a compromise of our chain), and gives its distribution
/// message in `*message` (library-owned): send it only to the members that remain.
/// `records` must hold our own sender-key record for `distribution_id`. `rng`: NULL for
/// the OS generator.
///
/// Thread safety: an operation; see `MissiveRecords`.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_group_rotate(
    device: *const MissiveDevice,
    rng: *const MissiveRng,
    records: *const MissiveRecords,
    distribution_id: *const u8,
    distribution_id_len: usize,
    message: *mut MissiveBuffer,
    changes: *mut *mut MissiveChanges,
) -> MissiveStatus {
    // SAFETY: the caller's contract for each pointer.
    unsafe {
        distribution(
            device,
            rng,
            records,
            distribution_id,
            distribution_id_len,
            message,
            changes,
            true,
        )
    }
}

/// # Safety
/// As for the exported functions that call it.
#[allow(clippy::too_many_arguments)]
unsafe fn distribution(
    device: *const MissiveDevice,
    rng: *const MissiveRng,
    records: *const MissiveRecords,
    distribution_id: *const u8,
    distribution_id_len: usize,
    message: *mut MissiveBuffer,
    changes: *mut *mut MissiveChanges,
    rotate: bool,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer.
        let (slot, message, device, records, id) = unsafe {
            (
                out_handle(changes)?,
                out_buffer(message)?,
                reference(device)?,
                reference(records)?,
                parse_distribution_id(distribution_id, distribution_id_len)?,
            )
        };
        // SAFETY: the caller's contract for `rng`.
        let result = unsafe {
            with_rng(rng, |r| {
                run(device, records, |d| {
                    if rotate {
                        d.rotate_sender_key(id, r)
                    } else {
                        d.sender_key_distribution_message(id, r)
                    }
                })
            })
        }?;
        let (skdm, set) = result?;
        *message = MissiveBuffer::copy_of(skdm.serialized());
        give(slot, set);
        Ok(())
    })
}

/// Processes a member's distribution message (`message`, borrowed) that arrived inside
/// the 1:1 message `delivered_by` decrypted: the member is the sender that 1:1 session
/// authenticated, never anyone named in the message. From then on that member's group
/// messages on the chain decrypt. `records` must hold the sender-key record of (that
/// sender, the message's distribution id). A distribution message under our own address
/// is refused (`MISSIVE_ERROR_INVALID_ARGUMENT`).
///
/// Thread safety: an operation; see `MissiveRecords`.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_group_process_distribution(
    device: *const MissiveDevice,
    records: *const MissiveRecords,
    delivered_by: *const MissiveDecrypted,
    message: *const u8,
    message_len: usize,
    changes: *mut *mut MissiveChanges,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer.
        let (slot, device, records, from, message) = unsafe {
            (
                out_handle(changes)?,
                reference(device)?,
                reference(records)?,
                &reference(delivered_by)?.inner.sender,
                bytes(message, message_len)?,
            )
        };
        let skdm = SenderKeyDistributionMessage::deserialize(message)?;
        // Processing reads nothing through the store; check here that the record was
        // loaded, or the change set would replace the member's stored chains.
        let key = (from.address().clone(), skdm.distribution_id());
        if !records.sender_keys.contains_key(&key) {
            return Err(MISSIVE_ERROR_RECORD_NOT_LOADED);
        }
        let ((), set) = run(device, records, |d| {
            d.process_sender_key_distribution_message(from, &skdm)
        })?;
        give(slot, set);
        Ok(())
    })
}

/// Encrypts `plaintext` (borrowed) on our newest chain for `distribution_id`: `*message`
/// (library-owned) is the group message to send to every member. `records` must hold our
/// own sender-key record for `distribution_id`; without a chain of ours it fails with
/// `MISSIVE_ERROR_INVALID_STATE` (create a distribution message first). `rng`: NULL for
/// the OS generator.
///
/// Thread safety: an operation; see `MissiveRecords`.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_group_encrypt(
    device: *const MissiveDevice,
    rng: *const MissiveRng,
    records: *const MissiveRecords,
    distribution_id: *const u8,
    distribution_id_len: usize,
    plaintext: *const u8,
    plaintext_len: usize,
    message: *mut MissiveBuffer,
    changes: *mut *mut MissiveChanges,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer.
        let (slot, message, device, records, id, plaintext) = unsafe {
            (
                out_handle(changes)?,
                out_buffer(message)?,
                reference(device)?,
                reference(records)?,
                parse_distribution_id(distribution_id, distribution_id_len)?,
                bytes(plaintext, plaintext_len)?,
            )
        };
        // SAFETY: the caller's contract for `rng`.
        let result = unsafe {
            with_rng(rng, |r| {
                run(device, records, |d| d.group_encrypt(id, plaintext, r))
            })
        }?;
        let (sent, set) = result?;
        *message = MissiveBuffer::copy_of(sent.serialized());
        give(slot, set);
        Ok(())
    })
}

/// Decrypts a group message (borrowed) from `sender`: `*plaintext` (library-owned) and
/// `*changes`. `records` must hold the sender-key record of (`sender`, the message's
/// distribution id). Decryption errors are collapsed (see `MissiveStatus`).
///
/// Thread safety: an operation; see `MissiveRecords`.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_group_decrypt(
    device: *const MissiveDevice,
    records: *const MissiveRecords,
    sender: *const MissiveAddress,
    message: *const u8,
    message_len: usize,
    plaintext: *mut MissiveBuffer,
    changes: *mut *mut MissiveChanges,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer.
        let (slot, plaintext, device, records, sender, message) = unsafe {
            (
                out_handle(changes)?,
                out_buffer(plaintext)?,
                reference(device)?,
                reference(records)?,
                crate::boundary::address(sender)?,
                bytes(message, message_len)?,
            )
        };
        let m = SenderKeyMessage::deserialize(message)?;
        let (mut p, set) = run(device, records, |d| d.group_decrypt(&sender, &m))
            .map_err(|e| decryption_status(&e, device.detailed_errors))?;
        *plaintext = MissiveBuffer::copy_of(&p);
        p.zeroize();
        give(slot, set);
        Ok(())
    })
}

/// Decrypts a backlog of `count` group messages (`messages`, borrowed), in order, with
/// every signature verified in one batch: `results[i]` (an array of `count` the caller
/// provides) is exactly what `missive_group_decrypt` would give for message `i` after
/// the messages before it. `*changes` holds the writes of every message that decrypted
/// (one sender-key record per sender and distribution id). `records` must hold the
/// sender-key record of each (sender, distribution id). Returns `MISSIVE_OK` when the
/// batch ran, whatever the messages' own statuses; on any other status the results hold
/// no plaintexts. Free each result's plaintext with `missive_buffer_free`.
///
/// Thread safety: an operation; see `MissiveRecords`.
///
/// # Safety
/// Pointers as documented in the header's conventions; `messages` and `results` point
/// to `count` elements (either may be NULL when `count` is 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_group_decrypt_batch(
    device: *const MissiveDevice,
    records: *const MissiveRecords,
    messages: *const MissiveGroupMessage,
    count: usize,
    results: *mut MissiveGroupResult,
    changes: *mut *mut MissiveChanges,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer.
        let (slot, device, records) = unsafe {
            (
                out_handle(changes)?,
                reference(device)?,
                reference(records)?,
            )
        };
        // SAFETY: the caller's contract for the arrays.
        let (messages, results) =
            unsafe { (array(messages, count)?, out_results(results, count)?) };

        // Parse first; a message that does not parse gets its own status and stays out
        // of the batch.
        let mut parsed: Vec<(usize, ProtocolAddress, SenderKeyMessage)> = Vec::with_capacity(count);
        let mut statuses: Vec<MissiveStatus> = vec![MISSIVE_OK; count];
        for (i, m) in messages.iter().enumerate() {
            // SAFETY: the caller's contract for each message's pointers.
            let one = unsafe {
                address_value(&m.sender).and_then(|a| Ok((a, bytes(m.message, m.message_len)?)))
            };
            let one = one.and_then(|(a, b)| Ok((a, SenderKeyMessage::deserialize(b)?)));
            match one {
                Ok((a, msg)) => parsed.push((i, a, msg)),
                Err(s) => {
                    if let Some(st) = statuses.get_mut(i) {
                        *st = s;
                    }
                }
            }
        }
        let refs: Vec<(&ProtocolAddress, &SenderKeyMessage)> =
            parsed.iter().map(|(_, a, m)| (a, m)).collect();
        let (outcomes, set) = run(device, records, |d| Ok(d.group_decrypt_batch(&refs)))?;

        for ((i, _, _), outcome) in parsed.iter().zip(outcomes) {
            let (Some(result), Some(status)) = (results.get_mut(*i), statuses.get_mut(*i)) else {
                continue;
            };
            match outcome {
                Ok(mut p) => {
                    result.plaintext = MissiveBuffer::copy_of(&p);
                    p.zeroize();
                }
                Err(e) => *status = decryption_status(&e, device.detailed_errors),
            }
        }
        for (result, status) in results.iter_mut().zip(statuses) {
            result.status = status;
        }
        give(slot, set);
        Ok(())
    })
}

/// `count` elements at `p`, checked (NULL only with `count` 0).
///
/// # Safety
/// A non-NULL `p` must point to `count` valid elements for the call.
unsafe fn array<'a, T>(p: *const T, count: usize) -> Res<&'a [T]> {
    if count == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(MISSIVE_ERROR_NULL_POINTER);
    }
    if !p.is_aligned()
        || count
            .checked_mul(size_of::<T>())
            .is_none_or(|n| n > isize::MAX as usize)
    {
        return Err(MISSIVE_ERROR_INVALID_ARGUMENT);
    }
    // SAFETY: non-NULL, aligned, within `isize::MAX` bytes; validity is the caller's
    // contract.
    Ok(unsafe { std::slice::from_raw_parts(p, count) })
}

/// `count` result slots at `p`, checked and set to (`MISSIVE_ERROR_INTERNAL`, empty) at
/// once, so that a failed call leaves no plaintext and nothing to free.
///
/// # Safety
/// A non-NULL `p` must point to `count` writable elements that nothing else accesses.
unsafe fn out_results<'a>(
    p: *mut MissiveGroupResult,
    count: usize,
) -> Res<&'a mut [MissiveGroupResult]> {
    if count == 0 {
        return Ok(&mut []);
    }
    if p.is_null() {
        return Err(MISSIVE_ERROR_NULL_POINTER);
    }
    if !p.is_aligned()
        || count
            .checked_mul(size_of::<MissiveGroupResult>())
            .is_none_or(|n| n > isize::MAX as usize)
    {
        return Err(MISSIVE_ERROR_INVALID_ARGUMENT);
    }
    for i in 0..count {
        // SAFETY: `i < count` elements the caller made writable; written, never read.
        unsafe {
            p.add(i).write(MissiveGroupResult {
                status: MISSIVE_ERROR_INTERNAL,
                plaintext: MissiveBuffer::EMPTY,
            })
        };
    }
    // SAFETY: every element now holds a valid value; exclusivity is the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts_mut(p, count) })
}

/// Writes the distribution id (16 bytes) of a group message (borrowed) to `out`
/// (`out_len` bytes): with the sender, which sender-key record to load.
///
/// Thread-safe.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_sender_key_message_distribution_id(
    message: *const u8,
    message_len: usize,
    out: *mut u8,
    out_len: usize,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer.
        let (message, dst) = unsafe {
            (
                bytes(message, message_len)?,
                out_bytes(out, out_len, MISSIVE_DISTRIBUTION_ID_LEN)?,
            )
        };
        let m = SenderKeyMessage::deserialize(message)?;
        dst.copy_from_slice(m.distribution_id().as_bytes());
        Ok(())
    })
}

/// Writes the distribution id (16 bytes) of a distribution message (borrowed) to `out`
/// (`out_len` bytes): with its sender, which sender-key record to load before
/// `missive_group_process_distribution`.
///
/// Thread-safe.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_sender_key_distribution_message_distribution_id(
    message: *const u8,
    message_len: usize,
    out: *mut u8,
    out_len: usize,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer.
        let (message, dst) = unsafe {
            (
                bytes(message, message_len)?,
                out_bytes(out, out_len, MISSIVE_DISTRIBUTION_ID_LEN)?,
            )
        };
        let m = SenderKeyDistributionMessage::deserialize(message)?;
        dst.copy_from_slice(m.distribution_id().as_bytes());
        Ok(())
    })
}
