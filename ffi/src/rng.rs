//! Randomness: the operating system's by default, or the caller's callback.
//!
//! The core is sans-IO and takes `&mut impl CryptoRng`, which cannot fail. A callback or
//! the OS can; so the adapter remembers a failure (and hands out zeros from then on),
//! and [`with_rng`] throws the whole result away and reports `MISSIVE_ERROR_RNG_FAILED`.
//! Every operation computes before it returns anything, so nothing made from the zeros
//! ever reaches the caller.

use core::convert::Infallible;
use core::ffi::c_void;

use rand_core::{TryCryptoRng, TryRng};

use crate::boundary::{Res, reference};
use crate::status::MissiveStatus::*;

/// The RNG callback: fills `out` with `len` random bytes for the library; returns 0 on success and any
/// other value on failure (the call then fails with `MISSIVE_ERROR_RNG_FAILED` and
/// produces nothing). It must not unwind or `longjmp` out.
pub type MissiveRngFill =
    Option<unsafe extern "C" fn(user_data: *mut c_void, out: *mut u8, len: usize) -> i32>;

/// A random number generator supplied by the caller: tests use a deterministic one,
/// platforms without a usable OS RNG their own. Functions that take a
/// `const MissiveRng *` use the operating system's generator when it is NULL.
///
/// The callback is called only during the call that was given the struct, on the calling
/// thread. If the same `MissiveRng` is used from several threads at once, the callback
/// must be thread-safe.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct MissiveRng {
    /// The callback; must not be NULL.
    pub fill: MissiveRngFill,
    /// Passed to `fill` unchanged.
    pub user_data: *mut c_void,
}

/// The RNG of one call.
pub(crate) struct Source<'a> {
    callback: Option<&'a MissiveRng>,
    failed: bool,
}

impl Source<'_> {
    fn fill(&mut self, dst: &mut [u8]) {
        if dst.is_empty() {
            return;
        }
        if !self.failed {
            let ok = match self.callback {
                None => getrandom::fill(dst).is_ok(),
                Some(MissiveRng {
                    fill: Some(f),
                    user_data,
                }) => {
                    // SAFETY: `dst` is `dst.len()` writable bytes for the duration of the
                    // call; the callback's own contract (fill exactly that many bytes,
                    // no unwinding) is the caller's.
                    unsafe { f(*user_data, dst.as_mut_ptr(), dst.len()) == 0 }
                }
                // Refused by `with_rng` before any use.
                Some(MissiveRng { fill: None, .. }) => false,
            };
            self.failed = !ok;
        }
        if self.failed {
            dst.fill(0);
        }
    }
}

impl TryRng for Source<'_> {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.fill(&mut b);
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.fill(&mut b);
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.fill(dst);
        Ok(())
    }
}

// Cryptographically secure when the source is: the OS generator is; a callback's is the
// caller's promise.
impl TryCryptoRng for Source<'_> {}

/// Runs `f` with the RNG `rng` points to (NULL: the OS generator). If the generator
/// failed at any point, `f`'s result is dropped (its destructors wipe what it holds) and
/// `MISSIVE_ERROR_RNG_FAILED` returned.
///
/// # Safety
/// A non-NULL `rng` must point to a valid `MissiveRng` for the call.
pub(crate) unsafe fn with_rng<T>(
    rng: *const MissiveRng,
    f: impl FnOnce(&mut Source<'_>) -> T,
) -> Res<T> {
    let callback = if rng.is_null() {
        None
    } else {
        // SAFETY: forwarded contract.
        let r = unsafe { reference(rng) }?;
        if r.fill.is_none() {
            return Err(MISSIVE_ERROR_NULL_POINTER);
        }
        Some(r)
    };
    let mut source = Source {
        callback,
        failed: false,
    };
    let value = f(&mut source);
    if source.failed {
        drop(value);
        return Err(MISSIVE_ERROR_RNG_FAILED);
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::Rng;

    unsafe extern "C" fn fails(_: *mut c_void, _: *mut u8, _: usize) -> i32 {
        -1
    }

    unsafe extern "C" fn counts(user: *mut c_void, out: *mut u8, len: usize) -> i32 {
        // SAFETY: the tests pass a `u8` counter as user data and `out` has `len` bytes.
        unsafe {
            let c = &mut *user.cast::<u8>();
            for i in 0..len {
                *c = c.wrapping_add(1);
                *out.add(i) = *c;
            }
        }
        0
    }

    #[test]
    fn the_os_generator_works() {
        // SAFETY: NULL selects the OS generator.
        let v = unsafe { with_rng(core::ptr::null(), |r| r.next_u64()) };
        assert!(v.is_ok());
    }

    #[test]
    fn a_callback_is_used_and_a_failure_discards_the_result() {
        let mut counter = 0u8;
        let rng = MissiveRng {
            fill: Some(counts),
            user_data: (&mut counter as *mut u8).cast(),
        };
        // SAFETY: `rng` is valid for the call.
        let v = unsafe { with_rng(&rng, |r| r.next_u32()) };
        assert_eq!(v, Ok(u32::from_le_bytes([1, 2, 3, 4])));
        let bad = MissiveRng {
            fill: Some(fails),
            user_data: core::ptr::null_mut(),
        };
        // SAFETY: `bad` is valid for the call.
        let v = unsafe { with_rng(&bad, |r| r.next_u32()) };
        assert_eq!(v, Err(MISSIVE_ERROR_RNG_FAILED));
        let none = MissiveRng {
            fill: None,
            user_data: core::ptr::null_mut(),
        };
        // SAFETY: `none` is valid for the call.
        let v = unsafe { with_rng(&none, |r| r.next_u32()) };
        assert_eq!(v, Err(MISSIVE_ERROR_NULL_POINTER));
    }
}
