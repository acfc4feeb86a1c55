//! Library-owned byte buffers: every variable-length output (records, messages,
//! plaintexts) comes back as a `MissiveBuffer`, freed by `missive_buffer_free`.

use zeroize::Zeroize;

use crate::boundary::{Res, guard_void};
use crate::status::MissiveStatus::*;

/// Bytes owned by the library and lent to the caller: free them with
/// `missive_buffer_free` (which wipes them first), exactly once. `data` is NULL when
/// `len` is 0. The caller may read and copy the bytes, but must not free them with
/// `free()` or change `data` or `len`.
///
/// Thread safety: plain memory; `missive_buffer_free` must not run while anything reads
/// it.
#[repr(C)]
#[derive(Debug)]
pub struct MissiveBuffer {
    /// The bytes; NULL for an empty buffer.
    pub data: *mut u8,
    /// How many bytes.
    pub len: usize,
}

impl MissiveBuffer {
    /// The empty buffer.
    pub(crate) const EMPTY: MissiveBuffer = MissiveBuffer {
        data: core::ptr::null_mut(),
        len: 0,
    };

    /// A buffer holding a copy of `bytes`, allocated to exactly their length (so that the
    /// allocation never grows and leaves a copy behind).
    pub(crate) fn copy_of(bytes: &[u8]) -> MissiveBuffer {
        if bytes.is_empty() {
            return MissiveBuffer::EMPTY;
        }
        let boxed: Box<[u8]> = Box::from(bytes);
        let len = boxed.len();
        MissiveBuffer {
            data: Box::into_raw(boxed).cast::<u8>(),
            len,
        }
    }
}

/// An output buffer location, checked and set to empty at once.
///
/// # Safety
/// A non-NULL `p` must point to writable memory of a `MissiveBuffer`.
pub(crate) unsafe fn out_buffer<'a>(p: *mut MissiveBuffer) -> Res<&'a mut MissiveBuffer> {
    if p.is_null() {
        return Err(MISSIVE_ERROR_NULL_POINTER);
    }
    if !p.is_aligned() {
        return Err(MISSIVE_ERROR_INVALID_ARGUMENT);
    }
    // SAFETY: non-NULL, aligned and writable by the caller's contract; written without
    // reading (or dropping) whatever the caller left there.
    unsafe { p.write(MissiveBuffer::EMPTY) };
    // SAFETY: as above; it now holds a valid buffer.
    Ok(unsafe { &mut *p })
}

/// Wipes and frees a buffer the library returned, and sets it to empty (`data` NULL,
/// `len` 0), so that freeing it again is a no-op. NULL, and an empty buffer, are no-ops.
///
/// Thread-safe for distinct buffers.
///
/// # Safety
/// `buffer` must be NULL or point to a `MissiveBuffer` that this library filled in and
/// that has not been freed since (an empty one is fine).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_buffer_free(buffer: *mut MissiveBuffer) {
    guard_void(|| {
        if buffer.is_null() || !buffer.is_aligned() {
            return;
        }
        // SAFETY: non-NULL and aligned; the caller's contract makes it a buffer of ours.
        let b = unsafe { &mut *buffer };
        if !b.data.is_null() && b.len > 0 {
            let slice = core::ptr::slice_from_raw_parts_mut(b.data, b.len);
            // SAFETY: `data`/`len` came from `Box::into_raw` of a `Box<[u8]>` of exactly
            // `len` bytes in `copy_of`, and are freed only here (then cleared).
            let mut boxed = unsafe { Box::from_raw(slice) };
            boxed.zeroize();
            drop(boxed);
        }
        *b = MissiveBuffer::EMPTY;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_and_free() {
        let mut b = MissiveBuffer::copy_of(b"secret");
        assert_eq!(b.len, 6);
        // SAFETY: `b` was made by `copy_of`.
        unsafe { missive_buffer_free(&mut b) };
        assert!(b.data.is_null());
        assert_eq!(b.len, 0);
        // SAFETY: freeing an emptied buffer is a no-op; so is NULL.
        unsafe {
            missive_buffer_free(&mut b);
            missive_buffer_free(core::ptr::null_mut());
        }
        let e = MissiveBuffer::copy_of(b"");
        assert!(e.data.is_null());
    }
}
