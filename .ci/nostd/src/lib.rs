//! Link check for `no_std`: if anything in missive's dependency tree pulled in `std`, this
//! staticlib would fail to build with a duplicate `panic_impl` lang item. Built for
//! `thumbv7em-none-eabihf` where that target is installed, and for the host otherwise
//! (see `.ci/run`). Nothing here is meant to run.

#![no_std]

#[cfg(feature = "alloc")]
extern crate alloc;

use core::panic::PanicInfo;

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    loop {}
}

/// An allocator that never allocates: the point is linking, not running.
#[cfg(feature = "alloc")]
mod never {
    use core::alloc::{GlobalAlloc, Layout};

    pub struct NeverAlloc;

    // SAFETY: returning null is the documented way for an allocator to fail.
    unsafe impl GlobalAlloc for NeverAlloc {
        unsafe fn alloc(&self, _: Layout) -> *mut u8 {
            core::ptr::null_mut()
        }
        unsafe fn dealloc(&self, _: *mut u8, _: Layout) {}
    }

    #[global_allocator]
    static ALLOC: NeverAlloc = NeverAlloc;
}

/// Pulls the parsers, XEdDSA, safety numbers and (with `alloc`) the session and sender-key
/// code into the link.
#[unsafe(no_mangle)]
pub extern "C" fn missive_nostd_smoke(input: *const u8, len: usize) -> u32 {
    // SAFETY: the caller passes a valid buffer; nothing calls this in practice.
    let bytes = unsafe { core::slice::from_raw_parts(input, len) };
    let mut score = 0;
    if let Ok(k) = missive::crypto::PublicKey::deserialize(bytes.get(..33).unwrap_or(&[])) {
        if missive::crypto::xeddsa::verify(&k, bytes, &[0u8; 64]) {
            score += 1;
        }
        let key = missive::IdentityKey::new(k);
        if let Ok(f) = missive::Fingerprint::new(2, 2, bytes, &key, b"", &key) {
            if f.scannable().compare_serialized(bytes).is_ok() {
                score += 16;
            }
        }
    }
    #[cfg(feature = "alloc")]
    {
        if missive::SignalMessage::deserialize(bytes).is_ok() {
            score += 2;
        }
        if missive::PreKeySignalMessage::deserialize(bytes).is_ok() {
            score += 4;
        }
        if missive::SessionRecord::deserialize(bytes).is_ok() {
            score += 8;
        }
        if let Ok(m) = missive::SenderKeyMessage::deserialize(bytes) {
            if let Ok(d) = missive::SenderKeyDistributionMessage::deserialize(bytes) {
                if m.verify_signature(d.signing_key()) {
                    score += 32;
                }
            }
        }
        if missive::SenderKeyRecord::deserialize(bytes).is_ok() {
            score += 64;
        }
    }
    score
}
