//! The boundary: every exported function runs inside [`guard`] (no panic crosses into
//! C), and turns its raw pointers and lengths into references and slices here, after
//! checking them (NULL, alignment, length).
//!
//! What cannot be checked, and is the caller's part of the contract (stated in the
//! header): a non-NULL pointer points to memory of the stated type and length that stays
//! valid for the call, and a handle was returned by this library and not freed.

use core::ffi::c_char;
use core::ptr;
use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

use missive::ProtocolAddress;

use crate::MISSIVE_MAX_NAME_LEN;
use crate::status::MissiveStatus::{self, *};

/// The result of the body of an exported function.
pub(crate) type Res<T = ()> = Result<T, MissiveStatus>;

/// Runs `f`, catching any panic: the status of the body, or `MISSIVE_ERROR_PANIC`.
pub(crate) fn guard(f: impl FnOnce() -> Res) -> MissiveStatus {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => MISSIVE_OK,
        Ok(Err(status)) => status,
        Err(payload) => {
            drop_payload(payload);
            MISSIVE_ERROR_PANIC
        }
    }
}

/// Runs `f`, which returns nothing, catching any panic (for the `_free` functions).
pub(crate) fn guard_void(f: impl FnOnce()) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
        drop_payload(payload);
    }
}

/// Drops a panic payload; a payload whose destructor panics is leaked instead.
fn drop_payload(payload: Box<dyn Any + Send>) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
}

/// A byte slice from a pointer and a length. A zero length gives the empty slice
/// whatever the pointer (NULL included); a NULL pointer with a non-zero length is
/// refused.
///
/// # Safety
/// If `len > 0` and `data` is not NULL, `data` must point to `len` readable bytes that
/// stay valid and unchanged for `'a`.
pub(crate) unsafe fn bytes<'a>(data: *const u8, len: usize) -> Res<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if data.is_null() {
        return Err(MISSIVE_ERROR_NULL_POINTER);
    }
    if len > isize::MAX as usize {
        return Err(MISSIVE_ERROR_INVALID_ARGUMENT);
    }
    // SAFETY: `data` is non-NULL, `len` is within `isize::MAX`, and the caller guarantees
    // `len` readable bytes at `data` for `'a`; u8 has no alignment requirement.
    Ok(unsafe { std::slice::from_raw_parts(data, len) })
}

/// Like [`bytes`], but NULL (with any length) or a zero length mean "absent".
///
/// # Safety
/// As for [`bytes`].
pub(crate) unsafe fn optional_bytes<'a>(data: *const u8, len: usize) -> Res<Option<&'a [u8]>> {
    if data.is_null() || len == 0 {
        return Ok(None);
    }
    // SAFETY: forwarded contract.
    unsafe { bytes(data, len) }.map(Some)
}

/// A shared reference to a handle or input struct.
///
/// # Safety
/// A non-NULL `p` must point to a valid `T` that is not mutated for `'a`.
pub(crate) unsafe fn reference<'a, T>(p: *const T) -> Res<&'a T> {
    if p.is_null() {
        return Err(MISSIVE_ERROR_NULL_POINTER);
    }
    if !p.is_aligned() {
        return Err(MISSIVE_ERROR_INVALID_ARGUMENT);
    }
    // SAFETY: non-NULL and aligned; validity is the caller's contract.
    Ok(unsafe { &*p })
}

/// An exclusive reference to a handle or output location.
///
/// # Safety
/// A non-NULL `p` must point to a valid `T` (for an output location: writable memory of
/// a `T`) that nothing else accesses for `'a`.
pub(crate) unsafe fn exclusive<'a, T>(p: *mut T) -> Res<&'a mut T> {
    if p.is_null() {
        return Err(MISSIVE_ERROR_NULL_POINTER);
    }
    if !p.is_aligned() {
        return Err(MISSIVE_ERROR_INVALID_ARGUMENT);
    }
    // SAFETY: non-NULL and aligned; validity and exclusivity are the caller's contract.
    Ok(unsafe { &mut *p })
}

/// Plain C data that an output location is set to before anything else happens: a
/// failed call leaves defined values (zero, false) in every output it checked.
pub(crate) trait Plain: Copy {
    /// The value written first.
    const ZERO: Self;
}

impl Plain for u32 {
    const ZERO: Self = 0;
}
impl Plain for u64 {
    const ZERO: Self = 0;
}
impl Plain for usize {
    const ZERO: Self = 0;
}
impl Plain for bool {
    const ZERO: Self = false;
}

/// An output location for a value of a plain type: checked, set to `T::ZERO` at once
/// (whatever, possibly uninitialized, bytes the caller left there are never read), and
/// lent for the caller of this helper to write.
///
/// # Safety
/// A non-NULL `p` must point to writable memory of a `T` that nothing else accesses for
/// `'a`.
pub(crate) unsafe fn out_value<'a, T: Plain>(p: *mut T) -> Res<&'a mut T> {
    if p.is_null() {
        return Err(MISSIVE_ERROR_NULL_POINTER);
    }
    if !p.is_aligned() {
        return Err(MISSIVE_ERROR_INVALID_ARGUMENT);
    }
    // SAFETY: non-NULL, aligned, writable by the caller's contract; written without
    // reading the old contents.
    unsafe { p.write(T::ZERO) };
    // SAFETY: as above; it now holds a valid `T`.
    Ok(unsafe { &mut *p })
}

/// An output location for a new handle: checked and set to NULL at once, so that a
/// failed call leaves the caller's pointer NULL rather than stale.
///
/// # Safety
/// A non-NULL `p` must point to writable memory of a pointer.
pub(crate) unsafe fn out_handle<'a, T>(p: *mut *mut T) -> Res<&'a mut *mut T> {
    if p.is_null() {
        return Err(MISSIVE_ERROR_NULL_POINTER);
    }
    if !p.is_aligned() {
        return Err(MISSIVE_ERROR_INVALID_ARGUMENT);
    }
    // SAFETY: non-NULL, aligned, writable by the caller's contract; only written.
    unsafe { p.write(ptr::null_mut()) };
    // SAFETY: as above; a raw pointer is valid for any bit pattern just written.
    Ok(unsafe { &mut *p })
}

/// An output array of exactly `need` bytes from a pointer and the caller's stated size
/// (which must be at least `need`).
///
/// # Safety
/// A non-NULL `p` must point to `len` writable bytes that nothing else accesses for
/// `'a`.
pub(crate) unsafe fn out_bytes<'a>(p: *mut u8, len: usize, need: usize) -> Res<&'a mut [u8]> {
    if p.is_null() {
        return Err(MISSIVE_ERROR_NULL_POINTER);
    }
    if len < need {
        return Err(MISSIVE_ERROR_INVALID_ARGUMENT);
    }
    // SAFETY: non-NULL; the caller guarantees `len >= need` writable bytes.
    Ok(unsafe { std::slice::from_raw_parts_mut(p, need) })
}

/// Moves `value` to the heap and gives its pointer to the caller, who frees it with the
/// matching `missive_*_free`.
pub(crate) fn give<T>(slot: &mut *mut T, value: T) {
    *slot = Box::into_raw(Box::new(value));
}

/// Frees a handle made by [`give`] and sets the caller's pointer to NULL. NULL (either
/// level) is a no-op, so freeing twice through the same pointer is harmless. The value's
/// destructor wipes its secrets.
///
/// # Safety
/// A non-NULL `p` must point to a pointer that is NULL or was made by [`give`] for this
/// `T` and not freed since.
pub(crate) unsafe fn take_and_free<T>(p: *mut *mut T) {
    if p.is_null() || !p.is_aligned() {
        return;
    }
    // SAFETY: non-NULL and aligned; the caller's contract makes it a readable pointer.
    let handle = unsafe { p.replace(ptr::null_mut()) };
    if !handle.is_null() {
        // SAFETY: `handle` came from `Box::into_raw` in `give` and is freed only here,
        // once (the caller's pointer is now NULL).
        drop(unsafe { Box::from_raw(handle) });
    }
}

/// A party's address as C passes it: a name (UTF-8, not NUL-terminated, `name_len`
/// bytes) and a device id.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct MissiveAddress {
    /// The name (usually a service id such as an ACI UUID string); need not be
    /// NUL-terminated. Borrowed for the call only.
    pub name: *const c_char,
    /// Its length in bytes: 1 to `MISSIVE_MAX_NAME_LEN`.
    pub name_len: usize,
    /// The device id.
    pub device_id: u32,
}

/// The address `a` points to, checked and copied.
///
/// # Safety
/// A non-NULL `a` must point to a valid `MissiveAddress` whose `name` points to
/// `name_len` readable bytes.
pub(crate) unsafe fn address(a: *const MissiveAddress) -> Res<ProtocolAddress> {
    // SAFETY: forwarded contract.
    let a = unsafe { reference(a) }?;
    // SAFETY: forwarded contract (the name's bytes).
    unsafe { address_value(a) }
}

/// The address `a` describes, checked and copied.
///
/// # Safety
/// `a.name` must point to `a.name_len` readable bytes (or be NULL).
pub(crate) unsafe fn address_value(a: &MissiveAddress) -> Res<ProtocolAddress> {
    if a.name_len == 0 || a.name_len > MISSIVE_MAX_NAME_LEN {
        return Err(MISSIVE_ERROR_INVALID_NAME);
    }
    // SAFETY: forwarded contract.
    let name = unsafe { bytes(a.name.cast(), a.name_len) }?;
    let name = std::str::from_utf8(name).map_err(|_| MISSIVE_ERROR_INVALID_NAME)?;
    Ok(ProtocolAddress::new(name, a.device_id))
}

/// A 16-byte distribution id from a pointer and length.
///
/// # Safety
/// As for [`bytes`].
pub(crate) unsafe fn distribution_id(data: *const u8, len: usize) -> Res<missive::DistributionId> {
    if data.is_null() {
        return Err(MISSIVE_ERROR_NULL_POINTER);
    }
    // SAFETY: forwarded contract.
    let b = unsafe { bytes(data, len) }?;
    let id: [u8; 16] = b.try_into().map_err(|_| MISSIVE_ERROR_INVALID_ARGUMENT)?;
    Ok(missive::DistributionId::from_bytes(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_status() {
        let s = guard(|| panic!("boom"));
        assert_eq!(s, MISSIVE_ERROR_PANIC);
        guard_void(|| panic!("boom"));
    }

    #[test]
    fn slices_are_checked() {
        // SAFETY: NULL pointers and zero lengths only; no memory is read.
        unsafe {
            assert_eq!(bytes(ptr::null(), 0), Ok(&[][..]));
            assert_eq!(bytes(ptr::null(), 1), Err(MISSIVE_ERROR_NULL_POINTER));
            assert_eq!(optional_bytes(ptr::null(), 5), Ok(None));
        }
        let data = [1u8, 2, 3];
        // SAFETY: `data` has 3 bytes.
        let s = unsafe { bytes(data.as_ptr(), 3) };
        assert_eq!(s, Ok(&data[..]));
        // SAFETY: the length check fails before any memory is read.
        let s = unsafe { bytes(data.as_ptr(), usize::MAX) };
        assert_eq!(s, Err(MISSIVE_ERROR_INVALID_ARGUMENT));
    }

    #[test]
    fn names_are_checked() {
        let bad = [0xffu8, 0xfe];
        let a = MissiveAddress {
            name: bad.as_ptr().cast(),
            name_len: 2,
            device_id: 1,
        };
        // SAFETY: the name points to 2 bytes.
        let r = unsafe { address_value(&a) };
        assert_eq!(r.err(), Some(MISSIVE_ERROR_INVALID_NAME));
        let empty = MissiveAddress {
            name: ptr::null(),
            name_len: 0,
            device_id: 1,
        };
        // SAFETY: no memory is read for a zero length.
        let r = unsafe { address_value(&empty) };
        assert_eq!(r.err(), Some(MISSIVE_ERROR_INVALID_NAME));
    }
}
