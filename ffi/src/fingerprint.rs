//! Safety numbers: the 60 digits to read out, the scannable encoding for a QR code, and
//! the constant-time comparison of a scanned code, identical to libsignal's.
//!
//! Thread safety (this family): a fingerprint is immutable; any number of threads may
//! read one at once. `_free` needs exclusive access.

use core::ffi::c_char;

use missive::{Fingerprint, IdentityKey};

use crate::MISSIVE_FINGERPRINT_DISPLAY_LEN;
use crate::boundary::{bytes, give, guard, guard_void, out_handle, reference, take_and_free};
use crate::buffer::{MissiveBuffer, out_buffer};
use crate::status::MissiveStatus::{self, *};

/// The safety number of our identity and a peer's.
///
/// Thread safety: immutable once made; any number of threads may use it at once.
/// Its `_free` must not run while another call uses it.
pub struct MissiveFingerprint {
    pub(crate) inner: Fingerprint,
}

/// Computes the safety number of `local` (our stable id, e.g. our ACI's 16 bytes or
/// phone number, and our identity key, `MISSIVE_PUBLIC_KEY_LEN` bytes) and `remote`
/// into `*out`. `version` goes in the scannable encoding only (Signal uses 2);
/// `iterations` is the hash iteration count (Signal: 5200; at least 2; the cost is
/// linear in it). All inputs are borrowed.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_fingerprint_new(
    version: u32,
    iterations: u32,
    local_id: *const u8,
    local_id_len: usize,
    local_key: *const u8,
    local_key_len: usize,
    remote_id: *const u8,
    remote_id_len: usize,
    remote_key: *const u8,
    remote_key_len: usize,
    out: *mut *mut MissiveFingerprint,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer and its length.
        let (out, local_id, local_key, remote_id, remote_key) = unsafe {
            (
                out_handle(out)?,
                bytes(local_id, local_id_len)?,
                bytes(local_key, local_key_len)?,
                bytes(remote_id, remote_id_len)?,
                bytes(remote_key, remote_key_len)?,
            )
        };
        let local_key = IdentityKey::deserialize(local_key)?;
        let remote_key = IdentityKey::deserialize(remote_key)?;
        let inner = Fingerprint::new(
            version,
            iterations,
            local_id,
            &local_key,
            remote_id,
            &remote_key,
        )?;
        give(out, MissiveFingerprint { inner });
        Ok(())
    })
}

/// Writes the 60 digits and a terminating NUL to `out`, which holds `out_len` bytes (at
/// least `MISSIVE_FINGERPRINT_DISPLAY_LEN + 1`). Both sides show the same digits.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_fingerprint_display_string(
    fingerprint: *const MissiveFingerprint,
    out: *mut c_char,
    out_len: usize,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer.
        let (fp, dst) = unsafe {
            (
                reference(fingerprint)?,
                crate::boundary::out_bytes(
                    out.cast(),
                    out_len,
                    MISSIVE_FINGERPRINT_DISPLAY_LEN + 1,
                )?,
            )
        };
        let digits = fp.inner.display_string().as_bytes();
        let (text, nul) = dst.split_at_mut(MISSIVE_FINGERPRINT_DISPLAY_LEN);
        if digits.len() != text.len() {
            return Err(MISSIVE_ERROR_INTERNAL);
        }
        text.copy_from_slice(digits);
        nul.fill(0);
        Ok(())
    })
}

/// Puts our scannable encoding (what our QR code shows) in a new buffer `*out`
/// (library-owned).
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_fingerprint_scannable(
    fingerprint: *const MissiveFingerprint,
    out: *mut MissiveBuffer,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer.
        let (out, fp) = unsafe { (out_buffer(out)?, reference(fingerprint)?) };
        *out = MissiveBuffer::copy_of(fp.inner.scannable().serialize().as_bytes());
        Ok(())
    })
}

/// Compares a scanned code (the peer's scannable encoding, borrowed) with ours, in
/// constant time: `MISSIVE_OK` when they match (the contact can be marked verified),
/// `MISSIVE_ERROR_FINGERPRINT_IDENTITY_MISMATCH` when they do not,
/// `MISSIVE_ERROR_FINGERPRINT_VERSION_MISMATCH` when it was made for another version, a
/// decode error when the bytes are not a scannable encoding.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_fingerprint_compare(
    fingerprint: *const MissiveFingerprint,
    scanned: *const u8,
    scanned_len: usize,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer.
        let (fp, scanned) = unsafe { (reference(fingerprint)?, bytes(scanned, scanned_len)?) };
        fp.inner.scannable().compare_serialized(scanned)?;
        Ok(())
    })
}

/// Frees the fingerprint and sets `*fingerprint` to NULL (no-op for NULL).
///
/// # Safety
/// `*fingerprint` must be NULL or a handle from this library not freed since.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_fingerprint_free(fingerprint: *mut *mut MissiveFingerprint) {
    guard_void(|| {
        // SAFETY: the caller's contract.
        unsafe { take_and_free(fingerprint) }
    })
}
