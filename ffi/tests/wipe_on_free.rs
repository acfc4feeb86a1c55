//! `missive_*_free` and `missive_buffer_free` wipe what they free.
//!
//! A global allocator scans every heap block freed while it is armed for "needles": the
//! secrets under test (a private key, a prekey's private key, a plaintext). The C entry
//! points are called from Rust as C calls them; the handles and buffers holding the
//! secrets are freed with the scanner armed, and no freed block may still hold one. A
//! control frees an unwiped copy and must be seen. (Heap only; the same scope as
//! `leakcheck/`.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr::{null, null_mut};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use missive_ffi::*;

static NEEDLES: Mutex<Vec<[u8; 32]>> = Mutex::new(Vec::new());
static ARMED: AtomicBool = AtomicBool::new(false);
static HITS: AtomicUsize = AtomicUsize::new(0);
static SCANNING: AtomicBool = AtomicBool::new(false);
static TEST_LOCK: Mutex<()> = Mutex::new(());

struct Scanner;

/// Counts a hit if the `len` bytes at `p` hold a needle.
///
/// # Safety
/// `p` must point to `len` allocated bytes.
unsafe fn scan(p: *const u8, len: usize) {
    if !ARMED.load(Ordering::Acquire) || len < 32 {
        return;
    }
    // The needle list itself allocates nothing while armed; a nested scan (from the
    // lock's own bookkeeping, if any) is skipped.
    if SCANNING.swap(true, Ordering::AcqRel) {
        return;
    }
    // SAFETY: the caller's contract; read only to search.
    let block = unsafe { std::slice::from_raw_parts(p, len) };
    if let Ok(needles) = NEEDLES.try_lock()
        && block.windows(32).any(|w| needles.iter().any(|n| n == w))
    {
        HITS.fetch_add(1, Ordering::Relaxed);
    }
    SCANNING.store(false, Ordering::Release);
}

// SAFETY: forwards to the system allocator with the same layouts; blocks start zeroed,
// and are only read (while still allocated) before they are freed.
unsafe impl GlobalAlloc for Scanner {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        // SAFETY: `p` is allocated with `layout` until the call below.
        unsafe {
            scan(p, layout.size());
            System.dealloc(p, layout)
        }
    }
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Move by hand so that the old block is scanned before it is freed.
        // SAFETY: `layout.align()` is a valid alignment and `new_size` non-zero (the
        // GlobalAlloc contract); the copy stays within both blocks.
        unsafe {
            let q =
                System.alloc_zeroed(Layout::from_size_align_unchecked(new_size, layout.align()));
            if !q.is_null() {
                std::ptr::copy_nonoverlapping(p, q, layout.size().min(new_size));
                scan(p, layout.size());
                System.dealloc(p, layout);
            }
            q
        }
    }
}

#[global_allocator]
static ALLOCATOR: Scanner = Scanner;

/// Runs `f` with the scanner armed for `needles`; the number of freed blocks that held
/// one.
fn freed_with_secrets(needles: &[[u8; 32]], f: impl FnOnce()) -> usize {
    {
        let mut n = NEEDLES.lock().unwrap();
        n.clear();
        n.extend_from_slice(needles);
    }
    HITS.store(0, Ordering::SeqCst);
    ARMED.store(true, Ordering::Release);
    f();
    ARMED.store(false, Ordering::Release);
    HITS.load(Ordering::SeqCst)
}

macro_rules! ok {
    ($e:expr) => {{
        // SAFETY: every pointer is a live value or buffer of this test (or NULL where
        // the API allows it), with its true length.
        let s = unsafe { $e };
        assert_eq!(s, MissiveStatus::MISSIVE_OK, "{}", stringify!($e));
    }};
}

macro_rules! free {
    ($e:expr) => {{
        // SAFETY: handles and buffers made by the library, freed once.
        unsafe { $e }
    }};
}

fn bytes(b: &MissiveBuffer) -> Vec<u8> {
    // SAFETY: a buffer the library filled.
    unsafe { std::slice::from_raw_parts(b.data, b.len) }.to_vec()
}

/// A protobuf field at `at`: (number, wire type, value bytes or empty, next offset).
fn field(b: &[u8], at: usize) -> (u64, u64, &[u8], usize) {
    let varint = |mut i: usize| {
        let (mut v, mut shift) = (0u64, 0);
        loop {
            let x = b[i];
            i += 1;
            v |= u64::from(x & 0x7f) << shift;
            shift += 7;
            if x < 0x80 {
                return (v, i);
            }
        }
    };
    let (tag, i) = varint(at);
    match tag & 7 {
        0 => (tag >> 3, 0, &[][..], varint(i).1),
        _ => {
            let (len, i) = varint(i);
            let end = i + len as usize;
            (tag >> 3, 2, &b[i..end], end)
        }
    }
}

/// The 32-byte keys of the current session of a serialized record: fields 6, 8 and 9 of
/// the state, and field 2 of each receiving chain (field 11).
fn session_keys(record: &[u8]) -> Vec<[u8; 32]> {
    let (number, _, state, _) = field(record, 1);
    assert_eq!(number, 1, "a record with a current session");
    let mut keys = Vec::new();
    let mut at = 0;
    while at < state.len() {
        let (n, _, value, next) = field(state, at);
        match n {
            6 | 8 | 9 => keys.push(value.try_into().unwrap()),
            11 => {
                let mut c = 0;
                while c < value.len() {
                    let (m, _, v, next) = field(value, c);
                    if m == 2 {
                        keys.push(v.try_into().unwrap());
                    }
                    c = next;
                }
            }
            _ => {}
        }
        at = next;
    }
    keys
}

fn last32(v: &[u8]) -> [u8; 32] {
    v[v.len() - 32..].try_into().unwrap()
}

const EMPTY: MissiveBuffer = MissiveBuffer {
    data: null_mut(),
    len: 0,
};

#[test]
fn the_scanner_sees_unwiped_memory() {
    let _g = TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let secret = [0x5au8; 32];
    let copy = Box::new(secret);
    assert_eq!(freed_with_secrets(&[secret], move || drop(copy)), 1);
}

#[test]
fn keys_buffers_records_and_devices_are_wiped_when_freed() {
    let _g = TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let mut identity = null_mut();
    ok!(missive_identity_key_pair_generate(null(), &mut identity));
    let mut ser = EMPTY;
    ok!(missive_identity_key_pair_serialize(identity, &mut ser));
    // The record ends with the private key (`docs/PROTOCOL.md` §8.2).
    let private = last32(&bytes(&ser));

    let name = "alice";
    let address = MissiveAddress {
        name: name.as_ptr().cast(),
        name_len: name.len(),
        device_id: 1,
    };
    let mut device = null_mut();
    ok!(missive_device_new(identity, 7, &address, &mut device));

    let mut pk = null_mut();
    ok!(missive_pre_key_record_generate(null(), 1, &mut pk));
    let mut pk_ser = EMPTY;
    ok!(missive_pre_key_record_serialize(pk, &mut pk_ser));
    let pk_private = last32(&bytes(&pk_ser));
    let mut records = null_mut();
    ok!(missive_records_new(&mut records));
    ok!(missive_records_add_pre_key(
        records,
        pk_ser.data,
        pk_ser.len
    ));

    let hits = freed_with_secrets(&[private, pk_private], || {
        free!(missive_buffer_free(&mut ser));
        free!(missive_buffer_free(&mut pk_ser));
        free!(missive_identity_key_pair_free(&mut identity));
        free!(missive_device_free(&mut device));
        free!(missive_pre_key_record_free(&mut pk));
        free!(missive_records_free(&mut records));
    });
    assert_eq!(hits, 0, "a freed block still held a private key");
}

#[test]
fn plaintexts_and_change_sets_are_wiped_when_freed() {
    let _g = TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    // Two devices; Bob publishes a signed prekey and a Kyber prekey.
    let (alice_name, bob_name) = ("alice", "bob");
    let alice_at = MissiveAddress {
        name: alice_name.as_ptr().cast(),
        name_len: alice_name.len(),
        device_id: 1,
    };
    let bob_at = MissiveAddress {
        name: bob_name.as_ptr().cast(),
        name_len: bob_name.len(),
        device_id: 1,
    };
    let (mut ai, mut bi, mut ad, mut bd) = (null_mut(), null_mut(), null_mut(), null_mut());
    ok!(missive_identity_key_pair_generate(null(), &mut ai));
    ok!(missive_identity_key_pair_generate(null(), &mut bi));
    ok!(missive_device_new(ai, 1, &alice_at, &mut ad));
    ok!(missive_device_new(bi, 2, &bob_at, &mut bd));
    let (mut spk, mut kpk, mut bundle) = (null_mut(), null_mut(), null_mut());
    ok!(missive_signed_pre_key_record_generate(
        null(),
        bi,
        1,
        0,
        &mut spk
    ));
    ok!(missive_kyber_pre_key_record_generate(
        null(),
        bi,
        1,
        0,
        false,
        &mut kpk
    ));
    ok!(missive_pre_key_bundle_from_records(
        bi,
        2,
        1,
        null(),
        spk,
        kpk,
        &mut bundle
    ));

    // Alice starts a session and encrypts a secret plaintext.
    let mut records = null_mut();
    ok!(missive_records_new(&mut records));
    ok!(missive_records_set_session(records, &bob_at, null(), 0));
    ok!(missive_records_set_identity(records, &bob_at, null(), 0));
    let mut changes = null_mut();
    ok!(missive_session_process_bundle(
        ad,
        null(),
        &bob_at,
        records,
        bundle,
        1,
        null_mut(),
        &mut changes
    ));
    let mut present = false;
    let mut session = EMPTY;
    ok!(missive_changes_session(changes, &mut present, &mut session));
    ok!(missive_records_set_session(
        records,
        &bob_at,
        session.data,
        session.len
    ));
    free!(missive_buffer_free(&mut session));
    free!(missive_changes_free(&mut changes));
    let secret: [u8; 32] = std::array::from_fn(|i| 0xa0 ^ i as u8);
    let (mut ty, mut msg) = (0u32, EMPTY);
    ok!(missive_session_encrypt(
        ad,
        null(),
        &bob_at,
        records,
        secret.as_ptr(),
        32,
        1,
        &mut ty,
        &mut msg,
        &mut changes
    ));
    free!(missive_changes_free(&mut changes));
    free!(missive_records_free(&mut records));

    // Bob decrypts: the plaintext is in the decrypted handle and in a buffer.
    ok!(missive_records_new(&mut records));
    ok!(missive_records_set_session(records, &alice_at, null(), 0));
    ok!(missive_records_set_identity(records, &alice_at, null(), 0));
    let mut ser = EMPTY;
    ok!(missive_signed_pre_key_record_serialize(spk, &mut ser));
    ok!(missive_records_add_signed_pre_key(
        records, ser.data, ser.len
    ));
    free!(missive_buffer_free(&mut ser));
    ok!(missive_kyber_pre_key_record_serialize(kpk, &mut ser));
    ok!(missive_records_add_kyber_pre_key(
        records, ser.data, ser.len
    ));
    free!(missive_buffer_free(&mut ser));
    let mut decrypted = null_mut();
    ok!(missive_session_decrypt(
        bd,
        null(),
        &alice_at,
        records,
        ty,
        msg.data,
        msg.len,
        &mut decrypted,
        &mut changes
    ));
    let mut plain = EMPTY;
    ok!(missive_decrypted_plaintext(decrypted, &mut plain));
    assert_eq!(bytes(&plain), secret);
    // The new session record as a buffer, and its keys as needles: the root key, the
    // sending ratchet private key and chain key, and each receiving chain's key
    // (`docs/PROTOCOL.md` §8.3-§8.5).
    ok!(missive_changes_session(changes, &mut present, &mut session));
    let mut needles = session_keys(&bytes(&session));
    assert!(needles.len() >= 4, "the record's keys are needles");
    needles.push(secret);

    let hits = freed_with_secrets(&needles, || {
        free!(missive_buffer_free(&mut plain));
        free!(missive_decrypted_free(&mut decrypted));
        free!(missive_buffer_free(&mut session));
        free!(missive_changes_free(&mut changes));
    });
    assert_eq!(
        hits, 0,
        "a freed block still held a plaintext or session secrets"
    );

    free!(missive_buffer_free(&mut msg));
    free!(missive_records_free(&mut records));
    free!(missive_pre_key_bundle_free(&mut bundle));
    free!(missive_signed_pre_key_record_free(&mut spk));
    free!(missive_kyber_pre_key_record_free(&mut kpk));
    free!(missive_device_free(&mut ad));
    free!(missive_device_free(&mut bd));
    free!(missive_identity_key_pair_free(&mut ai));
    free!(missive_identity_key_pair_free(&mut bi));
}
