//! Dropping a secret-bearing value wipes the memory that held it.
//!
//! A global allocator scans every heap block as it is freed (and the old block of every
//! reallocation) for "needles": the secret bytes of the value under test. Each check
//! builds a value, records its secrets as needles, moves it to the heap, arms the
//! scanner, drops the value and counts the freed blocks that still held a needle: the
//! count must be zero. A control (`the_scanner_sees_unwiped_memory`) shows the scanner
//! finds secrets that nobody wiped.
//!
//! A second set of checks arms the scanner around parsing and serializing a record: the
//! decoders and encoders size their buffers up front, so no growth leaves a copy behind.
//!
//! Scope: the heap memory the value owns when it is dropped. Every block is zeroed when
//! allocated, so a hit means the value itself left the secret there. Copies on the
//! stack or in registers, and copies left by moves inside a session's collections while
//! it is in use, are outside these tests: SECURITY.md lists them as known residuals.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use missive::crypto::{KemKeyPair, KemKeyType, KeyPair, PrivateKey};
use missive::store::memory::InMemSenderKeyStore;
use missive::store::{SenderKeyStore, SessionStore};
use missive::{
    DistributionId, IdentityKeyPair, KyberPreKeyId, KyberPreKeyRecord, PreKeyId, PreKeyRecord,
    ProtocolAddress, SenderKeyDistributionMessage, SenderKeyRecord, SessionRecord, SignedPreKeyId,
    SignedPreKeyRecord,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

#[allow(dead_code)]
#[path = "../../fuzz/src/party.rs"]
mod party;

type Needle = [u8; 32];
const MAX_NEEDLES: usize = 4096;

struct Needles(UnsafeCell<[Needle; MAX_NEEDLES]>);
// SAFETY: written only while the scanner is disarmed (under TEST_LOCK), read only while
// it is armed; ARMED's release/acquire orders the two.
unsafe impl Sync for Needles {}

static NEEDLES: Needles = Needles(UnsafeCell::new([[0; 32]; MAX_NEEDLES]));
static COUNT: AtomicUsize = AtomicUsize::new(0);
static ARMED: AtomicBool = AtomicBool::new(false);
static HITS: AtomicUsize = AtomicUsize::new(0);
/// Index of the last needle found, for the failure message.
static LAST_FOUND: AtomicUsize = AtomicUsize::new(usize::MAX);
static TEST_LOCK: Mutex<()> = Mutex::new(());

struct Scanner;

/// Counts a hit if the `len` bytes at `p` contain any needle.
///
/// # Safety
/// `p` must point to `len` bytes that were allocated and are not yet freed.
unsafe fn scan(p: *const u8, len: usize) {
    if !ARMED.load(Ordering::Acquire) || len < 32 {
        return;
    }
    // SAFETY: the caller's contract; freed memory may be uninitialized padding, read
    // here as plain bytes only to search them.
    let block = unsafe { std::slice::from_raw_parts(p, len) };
    let count = COUNT.load(Ordering::Acquire);
    // SAFETY: no writer while armed (see `Needles`).
    let needles = unsafe { &(&*NEEDLES.0.get())[..count] };
    let found = block
        .windows(32)
        .find_map(|w| needles.iter().position(|n| w == n.as_slice()));
    if let Some(i) = found {
        LAST_FOUND.store(i, Ordering::Relaxed);
        HITS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded to the system allocator with the same layout; the
// extra work only reads blocks that are still allocated.
unsafe impl GlobalAlloc for Scanner {
    // Every block starts zeroed, so what a scan finds in it was written during its own
    // lifetime, not left by an earlier owner of the same address.
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe {
            scan(p, layout.size());
            System.dealloc(p, layout)
        }
    }
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !ARMED.load(Ordering::Acquire) {
            unsafe {
                let q = System.realloc(p, layout, new_size);
                if !q.is_null() && new_size > layout.size() {
                    std::ptr::write_bytes(q.add(layout.size()), 0, new_size - layout.size());
                }
                return q;
            }
        }
        // Move by hand so the old block is scanned before it is freed.
        unsafe {
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            let q = System.alloc_zeroed(new_layout);
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

/// Drops `value` with the scanner armed for `needles`; returns how many freed blocks
/// still held one. The caller holds [`exclusive`].
fn freed_blocks_holding<T>(value: Box<T>, needles: Vec<Needle>) -> usize {
    scanning(needles, move || drop(value))
}

/// Runs `f` with the scanner armed for `needles`; returns how many blocks freed meanwhile
/// held one. The caller holds [`exclusive`].
fn scanning(needles: Vec<Needle>, f: impl FnOnce()) -> usize {
    assert!(!needles.is_empty() && needles.len() <= MAX_NEEDLES);
    assert!(
        needles.iter().all(|n| n != &[0; 32]),
        "a needle of zeros finds wiped memory"
    );
    // SAFETY: disarmed, and the caller holds TEST_LOCK (`exclusive`).
    unsafe { (&mut *NEEDLES.0.get())[..needles.len()].copy_from_slice(&needles) };
    COUNT.store(needles.len(), Ordering::Release);
    drop(needles);
    HITS.store(0, Ordering::Relaxed);
    ARMED.store(true, Ordering::Release);
    f();
    ARMED.store(false, Ordering::Release);
    HITS.load(Ordering::Relaxed)
}

/// Serializes the tests of this file: the allocator is global, and a test building its
/// values while another scans could free copies of the same deterministic secrets.
fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn check<T>(what: &str, value: T, needles: Vec<Needle>) {
    let hits = freed_blocks_holding(Box::new(value), needles);
    let last = LAST_FOUND.load(Ordering::Relaxed);
    assert_eq!(
        hits, 0,
        "{what}: {hits} freed block(s) still held its secrets (needle {last})"
    );
}

fn rng() -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(0x5eed)
}

fn needle(bytes: &[u8]) -> Needle {
    bytes.try_into().expect("32 bytes")
}

/// The secret parts of a KEM secret key (`type ‖ CPA secret (1536) ‖ public (1568) ‖
/// H(public) (32) ‖ z (32)`): the CPA secret in 32-byte pieces, and z.
fn kem_needles(serialized_secret: &[u8]) -> Vec<Needle> {
    let raw = &serialized_secret[1..];
    let mut v: Vec<Needle> = raw[..1536].chunks(32).map(needle).collect();
    v.push(needle(&raw[raw.len() - 32..]));
    v
}

#[test]
fn the_scanner_sees_unwiped_memory() {
    let _guard = exclusive();
    let secret = [0xA5; 32];
    let hits = freed_blocks_holding(Box::new(secret), vec![secret]);
    assert_eq!(
        hits, 1,
        "the control was not detected: the scanner is broken"
    );
    let plain = vec![7u8; 100]
        .into_iter()
        .chain(secret)
        .collect::<Vec<u8>>();
    assert_eq!(freed_blocks_holding(Box::new(plain), vec![secret]), 1);
}

#[test]
fn curve25519_private_keys() {
    let _guard = exclusive();
    let mut rng = rng();
    let k = PrivateKey::generate(&mut rng);
    let n = needle(k.to_bytes().as_slice());
    check("PrivateKey", k, vec![n]);
    let pair = KeyPair::generate(&mut rng);
    let n = needle(pair.private_key.to_bytes().as_slice());
    check("KeyPair", pair, vec![n]);
    let identity = IdentityKeyPair::generate(&mut rng);
    let n = needle(identity.private_key().to_bytes().as_slice());
    check("IdentityKeyPair", identity, vec![n]);
    let ours = PrivateKey::generate(&mut rng);
    let theirs = PrivateKey::generate(&mut rng).public_key();
    let shared = ours.diffie_hellman(&theirs).expect("contributory");
    let n = needle(shared.as_bytes());
    check("SharedSecret", shared, vec![n]);
}

#[test]
fn kem_secrets() {
    let _guard = exclusive();
    let mut rng = rng();
    let pair = KemKeyPair::generate(KemKeyType::Kyber1024, &mut rng);
    let needles = kem_needles(pair.secret_key.serialize().as_slice());
    let (_, shared) = pair.public_key.encapsulate(&mut rng);
    let shared_needle = needle(shared.as_bytes());
    check("KemSecretKey", pair.secret_key.clone(), needles.clone());
    check("KemKeyPair", pair, needles);
    check("KemSharedSecret", shared, vec![shared_needle]);
}

#[test]
fn prekey_records() {
    let _guard = exclusive();
    let mut rng = rng();
    let identity = IdentityKeyPair::generate(&mut rng);
    let pk = PreKeyRecord::generate(PreKeyId(1), &mut rng);
    let n = needle(pk.key_pair().private_key.to_bytes().as_slice());
    check("PreKeyRecord", pk, vec![n]);
    let spk = SignedPreKeyRecord::generate(SignedPreKeyId(2), 0, &identity, &mut rng);
    let n = needle(spk.key_pair().private_key.to_bytes().as_slice());
    check("SignedPreKeyRecord", spk, vec![n]);
    let kyber = KyberPreKeyRecord::generate(
        KemKeyType::Kyber1024,
        KyberPreKeyId(3),
        0,
        true,
        &identity,
        &mut rng,
    );
    let needles = kem_needles(kyber.secret_key().serialize().as_slice());
    check("KyberPreKeyRecord", kyber, needles);
}

/// Reads protobuf fields `(number, bytes)` of wire type 2, skipping varints.
fn len_fields(mut b: &[u8]) -> Vec<(u64, &[u8])> {
    fn varint(b: &mut &[u8]) -> u64 {
        let mut v = 0;
        for i in 0.. {
            let (x, rest) = b.split_first().expect("well-formed");
            *b = rest;
            v |= u64::from(x & 0x7f) << (7 * i);
            if x & 0x80 == 0 {
                break;
            }
        }
        v
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let key = varint(&mut b);
        match key & 7 {
            0 => {
                varint(&mut b);
            }
            2 => {
                let len = varint(&mut b) as usize;
                out.push((key >> 3, &b[..len]));
                b = &b[len..];
            }
            w => panic!("wire type {w}"),
        }
    }
    out
}

/// Every secret in a serialized SessionRecord (docs/PROTOCOL.md §8.3–§8.7): root, chain
/// and ratchet private keys, skipped seeds, and the SPQR chains and skipped keys.
fn session_needles(record: &[u8]) -> Vec<Needle> {
    let mut out = Vec::new();
    for (_, state) in len_fields(&record[1..]) {
        for (n, v) in len_fields(state) {
            match n {
                6 | 8 | 9 => out.push(needle(v)),
                11 => {
                    for (n, v) in len_fields(v) {
                        match n {
                            2 => out.push(needle(v)),
                            4 => out.extend(
                                len_fields(v)
                                    .iter()
                                    .filter(|f| f.0 == 2)
                                    .map(|f| needle(f.1)),
                            ),
                            _ => {}
                        }
                    }
                }
                15 => {
                    out.push(needle(&v[2..34]));
                    out.push(needle(&v[38..70]));
                    out.push(needle(&v[74..106]));
                    out.extend(v[108..].chunks(36).map(|e| needle(&e[4..])));
                }
                _ => {}
            }
        }
    }
    out
}

fn conversation_record(v3: bool) -> SessionRecord {
    use missive::CiphertextMessageType;
    let mut rng = rng();
    let mut alice = party::Party::new(party::ALICE, 1, &mut rng);
    let mut bob = party::Party::new(party::BOB, 2, &mut rng);
    let (a, b) = (alice.address.clone(), bob.address.clone());
    for round in 0..3 {
        let bundle = bob.bundle(v3, true, &mut rng);
        alice.start_session(&bundle, &b, &mut rng).unwrap();
        let mut held = Vec::new();
        for i in 0..6u8 {
            let m = alice.encrypt(&b, &[i; 40], &mut rng).unwrap();
            if i % 2 == 0 {
                held.push(m);
            } else {
                bob.decrypt(&a, m.message_type(), m.serialize(), &mut rng)
                    .unwrap();
            }
        }
        let r = bob.encrypt(&a, b"reply", &mut rng).unwrap();
        alice
            .decrypt(&b, CiphertextMessageType::Whisper, r.serialize(), &mut rng)
            .unwrap();
        // Leave skipped keys behind in the last round.
        if round < 2 {
            for m in held {
                bob.decrypt(&a, m.message_type(), m.serialize(), &mut rng)
                    .unwrap();
            }
        }
    }
    let record = bob.store.session_store.load_session(&a).unwrap().unwrap();
    assert_eq!(record.archived_count(), 2);
    // Through serialization: the record under test is laid out exactly as parsed.
    SessionRecord::deserialize(&record.serialize()).unwrap()
}

#[test]
fn session_records() {
    let _guard = exclusive();
    for v3 in [true, false] {
        let record = conversation_record(v3);
        let needles = session_needles(&record.serialize());
        // Per state: root key, ratchet private key, sending chain key, one receiving
        // chain key (and 3 SPQR keys in v4); plus 3 skipped seeds (and 3 SPQR keys).
        let expected = if v3 { 3 * 4 + 3 } else { 3 * 7 + 3 + 3 };
        assert_eq!(needles.len(), expected);
        check(
            if v3 {
                "SessionRecord v3"
            } else {
                "SessionRecord v4"
            },
            record,
            needles,
        );
    }
}

#[test]
fn parsing_and_serializing_leave_no_copies() {
    let _guard = exclusive();
    for v3 in [false, true] {
        let bytes = conversation_record(v3).serialize();
        let needles = session_needles(&bytes);
        let hits = scanning(needles, || {
            let record = SessionRecord::deserialize(&bytes).unwrap();
            let again = record.serialize();
            assert!(*again == *bytes);
        });
        let last = LAST_FOUND.load(Ordering::Relaxed);
        assert_eq!(
            hits, 0,
            "SessionRecord (v3: {v3}): {hits} freed block(s) held secrets (needle {last})"
        );
    }
    let mut rng = rng();
    let identity = IdentityKeyPair::generate(&mut rng);
    let pk = PreKeyRecord::generate(PreKeyId(1), &mut rng);
    let spk = SignedPreKeyRecord::generate(SignedPreKeyId(2), u64::MAX, &identity, &mut rng);
    let kyber = KyberPreKeyRecord::generate(
        KemKeyType::MlKem1024,
        KyberPreKeyId(3),
        0,
        false,
        &identity,
        &mut rng,
    );
    let cases = [
        (
            identity.serialize(),
            vec![needle(identity.private_key().to_bytes().as_slice())],
        ),
        (
            pk.serialize(),
            vec![needle(pk.key_pair().private_key.to_bytes().as_slice())],
        ),
        (
            spk.serialize(),
            vec![needle(spk.key_pair().private_key.to_bytes().as_slice())],
        ),
        (
            kyber.serialize(),
            kem_needles(kyber.secret_key().serialize().as_slice()),
        ),
    ];
    for (i, (bytes, needles)) in cases.into_iter().enumerate() {
        let hits = scanning(needles, || {
            let again = match i {
                0 => IdentityKeyPair::deserialize(&bytes).unwrap().serialize(),
                1 => PreKeyRecord::deserialize(&bytes).unwrap().serialize(),
                2 => SignedPreKeyRecord::deserialize(&bytes).unwrap().serialize(),
                _ => KyberPreKeyRecord::deserialize(&bytes).unwrap().serialize(),
            };
            assert!(*again == *bytes);
        });
        assert_eq!(
            hits, 0,
            "key record {i}: {hits} freed block(s) held secrets"
        );
    }
}

/// Every secret in a serialized SenderKeyRecord (docs/PROTOCOL.md §11.6): each state's
/// chain key and private signing key, and its stored seeds.
fn sender_key_needles(record: &[u8]) -> Vec<Needle> {
    let mut out = Vec::new();
    for (n, state) in len_fields(&record[1..]) {
        assert_eq!(n, 1);
        for (n, v) in len_fields(state) {
            match n {
                3 | 5 => out.push(needle(v)),
                6 => out.extend(
                    len_fields(v)
                        .iter()
                        .filter(|f| f.0 == 2)
                        .map(|f| needle(f.1)),
                ),
                _ => {}
            }
        }
    }
    out
}

const GROUP: DistributionId = DistributionId::from_bytes([0x6d; 16]);

/// A sender's record (one chain, with its private key), a member's record of it (three
/// chains after two rotations, with stored keys on each), the store holding both, and
/// the last distribution message.
fn group_records() -> (
    SenderKeyRecord,
    SenderKeyRecord,
    InMemSenderKeyStore,
    SenderKeyDistributionMessage,
) {
    let mut rng = rng();
    let alice = ProtocolAddress::new("alice", 1);
    let (mut ours, mut theirs) = (InMemSenderKeyStore::new(), InMemSenderKeyStore::new());
    let mut d = missive::create_sender_key_distribution_message(&alice, GROUP, &mut ours, &mut rng)
        .unwrap();
    for round in 0..3 {
        if round > 0 {
            d = missive::rotate_sender_key(&alice, GROUP, &mut ours, &mut rng).unwrap();
        }
        missive::process_sender_key_distribution_message(&alice, &d, &mut theirs).unwrap();
        let sent: Vec<_> = (0..24u8)
            .map(|i| missive::group_encrypt(&alice, GROUP, &[i; 20], &mut ours, &mut rng))
            .collect::<Result<_, _>>()
            .unwrap();
        // Read the last and a few others: the rest stay stored.
        for i in [23, 3, 11] {
            missive::group_decrypt(&sent[i], &alice, &mut theirs).unwrap();
        }
    }
    let load = |s: &InMemSenderKeyStore| s.load_sender_key(&alice, GROUP).unwrap().unwrap();
    let (own, member) = (load(&ours), load(&theirs));
    assert_eq!((own.state_count(), member.state_count()), (1, 3));
    // Through serialization: the records under test are laid out exactly as parsed.
    let own = SenderKeyRecord::deserialize(&own.serialize()).unwrap();
    let member = SenderKeyRecord::deserialize(&member.serialize()).unwrap();
    let bob = ProtocolAddress::new("bob", 1);
    let mut store = InMemSenderKeyStore::new();
    store.store_sender_key(&alice, GROUP, &member).unwrap();
    store.store_sender_key(&bob, GROUP, &own).unwrap();
    (own, member, store, d)
}

#[test]
fn sender_key_records() {
    let _guard = exclusive();
    let (own, member, store, distribution) = group_records();
    let own_needles = sender_key_needles(&own.serialize());
    let member_needles = sender_key_needles(&member.serialize());
    // Chain key and private key; three chain keys and 3 × 21 stored seeds.
    assert_eq!((own_needles.len(), member_needles.len()), (2, 3 + 3 * 21));
    let all: Vec<Needle> = own_needles.iter().chain(&member_needles).copied().collect();
    check("SenderKeyRecord (sender)", own, own_needles);
    check("SenderKeyRecord (member)", member, member_needles);
    check("InMemSenderKeyStore", store, all);
    let n = needle(distribution.chain_key());
    check("SenderKeyDistributionMessage", distribution, vec![n]);
}

#[test]
fn sender_key_records_parse_and_serialize_without_copies() {
    let _guard = exclusive();
    let (own, member, _, distribution) = group_records();
    for (what, bytes) in [("sender", own.serialize()), ("member", member.serialize())] {
        let needles = sender_key_needles(&bytes);
        let hits = scanning(needles, || {
            let record = SenderKeyRecord::deserialize(&bytes).unwrap();
            let again = record.serialize();
            assert!(*again == *bytes);
        });
        let last = LAST_FOUND.load(Ordering::Relaxed);
        assert_eq!(
            hits, 0,
            "SenderKeyRecord ({what}): {hits} freed block(s) held secrets (needle {last})"
        );
    }
    let bytes = distribution.serialized().to_vec();
    let hits = scanning(vec![needle(distribution.chain_key())], || {
        let d = SenderKeyDistributionMessage::deserialize(&bytes).unwrap();
        assert_eq!(d.serialized(), &bytes[..]);
    });
    assert_eq!(
        hits, 0,
        "SenderKeyDistributionMessage: {hits} freed block(s)"
    );
}
