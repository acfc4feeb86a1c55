//! Valgrind client requests for memcheck (x86_64 Linux; everywhere else they do nothing
//! and [`running_on_valgrind`] is false).
//!
//! The request is the magic preamble of `valgrind.h`: four `rol`s of `rdi` that add up to
//! 128 bits (a no-op on a real CPU) followed by `xchg rbx, rbx`. Under valgrind, `rdx`
//! receives the answer to the request whose arguments `rax` points at; on a real CPU,
//! `rdx` keeps the default.
//!
//! `unsafe` lives here, in the test crate only: the library itself forbids it.

#![allow(unsafe_code)]

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn request(default: usize, args: [usize; 6]) -> usize {
    let result: usize;
    // SAFETY: the sequence changes no register but rdx (rdi is rotated by 128 bits in
    // all, a no-op; flags are clobbered, which asm! assumes). Valgrind reads the six
    // words at rax and, for the memcheck requests, only changes its own shadow state.
    unsafe {
        core::arch::asm!(
            "rol rdi, 3",
            "rol rdi, 13",
            "rol rdi, 61",
            "rol rdi, 51",
            "xchg rbx, rbx",
            inout("rdx") default => result,
            in("rax") args.as_ptr(),
            inout("rdi") 0usize => _,
            options(nostack),
        );
    }
    result
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn request(default: usize, _args: [usize; 6]) -> usize {
    default
}

const RUNNING_ON_VALGRIND: usize = 0x1001;
const COUNT_ERRORS: usize = 0x1201;
/// `VG_USERREQ_TOOL_BASE('M', 'C')`.
const MEMCHECK_BASE: usize = (b'M' as usize) << 24 | (b'C' as usize) << 16;
const MAKE_MEM_UNDEFINED: usize = MEMCHECK_BASE + 1;
const MAKE_MEM_DEFINED: usize = MEMCHECK_BASE + 2;

/// Whether this process runs under valgrind.
pub fn running_on_valgrind() -> bool {
    request(0, [RUNNING_ON_VALGRIND, 0, 0, 0, 0, 0]) != 0
}

/// Errors valgrind has reported so far (0 when not under valgrind).
pub fn error_count() -> usize {
    request(0, [COUNT_ERRORS, 0, 0, 0, 0, 0])
}

/// Marks the bytes of `value` secret: memcheck then reports every branch and every
/// memory address computed from them ("depends on uninitialised value").
pub fn secret<T: ?Sized>(value: &T) {
    mark(MAKE_MEM_UNDEFINED, value);
}

/// Declassifies `value`: what the protocol reveals anyway (a verdict, a result checked by
/// the test, a value sent on the wire). Call it before branching on such a value.
pub fn public<T: ?Sized>(value: &T) {
    mark(MAKE_MEM_DEFINED, value);
}

fn mark<T: ?Sized>(req: usize, value: &T) {
    let addr = core::ptr::from_ref(value).cast::<u8>() as usize;
    request(0, [req, addr, size_of_val(value), 0, 0, 0]);
}
