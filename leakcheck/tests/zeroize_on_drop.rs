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
//! A third set arms it around whole operations of a [`missive::Device`] with the
//! in-memory store: encrypt and decrypt on the same chain, with a DH ratchet step, of a
//! late message (from a stored key) and of a message far ahead (many keys stored, the
//! oldest dropped), and a new session until its first answer. The needles are every
//! secret of both devices' session records before the operation and after it (learnt
//! from a dry run on copies): root keys, chain keys, ratchet private keys, skipped seeds
//! and the SPQR keys. No heap block freed during the operation may hold one. After each
//! conversation both stores are dropped with the scanner armed for every secret the
//! records held at any point: a record must not carry stale copies in its unused space
//! (uninitialized enum payloads that moves fill with stack bytes). A control
//! (`device_checks_see_a_leaked_secret`) runs each kind of operation, and the drop, with
//! a plain, unwiped copy of one secret made and freed inside it, and must see it.
//!
//! Scope: heap memory. Every block is zeroed when allocated, so a hit means the code
//! under test left the secret there. Copies on the stack or in registers are outside
//! these tests: SECURITY.md lists them as known residuals.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use missive::crypto::{KemKeyPair, KemKeyType, KeyPair, PrivateKey};
use missive::store::memory::InMemSenderKeyStore;
use missive::{
    CiphertextMessage, DistributionId, IdentityKeyPair, KyberPreKeyId, KyberPreKeyLifetime,
    KyberPreKeyRecord, PreKeyId, PreKeyRecord, ProtocolAddress, SenderKeyDistributionMessage,
    SenderKeyRecord, SessionRecord, SignedPreKeyId, SignedPreKeyRecord,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

#[allow(dead_code)]
#[path = "../../fuzz/src/party.rs"]
mod party;

use party::{NOW, Party};

type Needle = [u8; 32];
/// Room for every secret of two records with full skipped-key windows, before and after.
const MAX_NEEDLES: usize = 16_384;

struct Needles(UnsafeCell<[Needle; MAX_NEEDLES]>);
// SAFETY: written only while the scanner is disarmed (under TEST_LOCK), read only while
// it is armed; ARMED's release/acquire orders the two.
unsafe impl Sync for Needles {}

static NEEDLES: Needles = Needles(UnsafeCell::new([[0; 32]; MAX_NEEDLES]));
static COUNT: AtomicUsize = AtomicUsize::new(0);
static ARMED: AtomicBool = AtomicBool::new(false);
static HITS: AtomicUsize = AtomicUsize::new(0);
/// Index (into the sorted needles) of the last needle found, for the failure message.
static LAST_FOUND: AtomicUsize = AtomicUsize::new(usize::MAX);
/// Size and offset (of the needle) of the last block found holding one.
static LAST_BLOCK: AtomicUsize = AtomicUsize::new(0);
static LAST_OFFSET: AtomicUsize = AtomicUsize::new(0);
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
    // Sorted when armed: one binary search per window.
    let found = block.windows(32).enumerate().find_map(|(at, w)| {
        let i = needles.binary_search_by(|n| n.as_slice().cmp(w)).ok()?;
        Some((i, at))
    });
    if let Some((i, at)) = found {
        LAST_FOUND.store(i, Ordering::Relaxed);
        LAST_BLOCK.store(len, Ordering::Relaxed);
        LAST_OFFSET.store(at, Ordering::Relaxed);
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
fn scanning(mut needles: Vec<Needle>, f: impl FnOnce()) -> usize {
    needles.sort_unstable();
    needles.dedup();
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
    LAST_FOUND.store(usize::MAX, Ordering::Relaxed);
    ARMED.store(true, Ordering::Release);
    f();
    ARMED.store(false, Ordering::Release);
    HITS.load(Ordering::Relaxed)
}

/// The needle found last by the previous [`scanning`], if any. The caller holds
/// [`exclusive`].
fn last_found() -> Option<Needle> {
    let i = LAST_FOUND.load(Ordering::Relaxed);
    // SAFETY: disarmed, and the caller holds TEST_LOCK: no writer.
    let needles = unsafe { &*NEEDLES.0.get() };
    (i < COUNT.load(Ordering::Acquire)).then(|| needles[i])
}

/// Where the previous [`scanning`] last found a needle, for a failure message.
fn found_hint() -> String {
    let Some(n) = last_found() else {
        return "no needle found".into();
    };
    let prefix: String = n[..4].iter().map(|b| format!("{b:02x}")).collect();
    let block = LAST_BLOCK.load(Ordering::Relaxed);
    let at = LAST_OFFSET.load(Ordering::Relaxed);
    format!("needle {prefix}…, in a block of {block} bytes at {at}")
}

/// Serializes the tests of this file: the allocator is global, and a test building its
/// values while another scans could free copies of the same deterministic secrets.
fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn check<T>(what: &str, value: T, needles: Vec<Needle>) {
    let hits = freed_blocks_holding(Box::new(value), needles);
    let last = found_hint();
    assert_eq!(
        hits, 0,
        "{what}: {hits} freed block(s) still held its secrets ({last})"
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
    let n = needle(pair.private_key().to_bytes().as_slice());
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
    let needles = kem_needles(pair.secret_key().serialize().as_slice());
    let (_, shared) = pair.public_key().encapsulate(&mut rng);
    let shared_needle = needle(shared.as_bytes());
    check("KemSecretKey", pair.secret_key().clone(), needles.clone());
    check("KemKeyPair", pair, needles);
    check("KemSharedSecret", shared, vec![shared_needle]);
}

#[test]
fn prekey_records() {
    let _guard = exclusive();
    let mut rng = rng();
    let identity = IdentityKeyPair::generate(&mut rng);
    let pk = PreKeyRecord::generate(PreKeyId(1), &mut rng);
    let n = needle(pk.key_pair().private_key().to_bytes().as_slice());
    check("PreKeyRecord", pk, vec![n]);
    let spk = SignedPreKeyRecord::generate(SignedPreKeyId(2), 0, &identity, &mut rng);
    let n = needle(spk.key_pair().private_key().to_bytes().as_slice());
    check("SignedPreKeyRecord", spk, vec![n]);
    let kyber = KyberPreKeyRecord::generate(
        KemKeyType::Kyber1024,
        KyberPreKeyId(3),
        0,
        KyberPreKeyLifetime::LastResort,
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
    session_secrets(record)
        .into_iter()
        .map(|(_, n)| n)
        .collect()
}

/// [`session_needles`], each with what it is ("state 1: chain 0 skipped seed 3").
fn session_secrets(record: &[u8]) -> Vec<(String, Needle)> {
    let mut out = Vec::new();
    for (i, (_, state)) in len_fields(&record[1..]).into_iter().enumerate() {
        let mut chain = 0;
        for (n, v) in len_fields(state) {
            let mut push = |what: String, bytes: &[u8]| {
                out.push((format!("state {i}: {what}"), needle(bytes)));
            };
            match n {
                6 => push("root key".into(), v),
                8 => push("ratchet private key".into(), v),
                9 => push("sending chain key".into(), v),
                11 => {
                    for (n, v) in len_fields(v) {
                        match n {
                            2 => push(format!("chain {chain} key"), v),
                            4 => {
                                let seed = len_fields(v).into_iter().find(|f| f.0 == 2);
                                let counter = v.get(1).copied().unwrap_or(0);
                                let seed = seed.expect("a seed").1;
                                push(format!("chain {chain} skipped seed (~{counter})"), seed);
                            }
                            _ => {}
                        }
                    }
                    chain += 1;
                }
                15 => spqr_secrets(v, &mut push),
                _ => {}
            }
        }
    }
    out
}

/// The secrets of a serialized SPQR state (docs/PROTOCOL.md §8.7): auth key, next root,
/// chain keys and skipped keys; in format 3 also the braid's authenticator, the secret
/// parts of its ML-KEM decapsulation key (`dk_pke` and `z`) or its encapsulation
/// randomness, and the previous and next epochs' chains.
fn spqr_secrets(v: &[u8], push: &mut dyn FnMut(String, &[u8])) {
    let be32 = |b: &[u8]| u32::from_be_bytes(b[..4].try_into().expect("4 bytes"));
    let skipped = |v: &[u8], at: &mut usize, push: &mut dyn FnMut(String, &[u8])| {
        let count = u16::from_be_bytes([v[*at], v[*at + 1]]) as usize;
        *at += 2;
        for e in v[*at..*at + 36 * count].chunks(36) {
            push(format!("SPQR skipped key {}", be32(e)), &e[4..]);
        }
        *at += 36 * count;
    };
    if v[0] != 3 {
        // Format 2 keeps the PQXDH auth key before the next root; format 1 has none.
        let at = if v[0] == 2 {
            push("SPQR auth key".into(), &v[2..34]);
            32
        } else {
            0
        };
        push("SPQR next root".into(), &v[at + 2..at + 34]);
        push("SPQR sending chain key".into(), &v[at + 38..at + 70]);
        push("SPQR receiving chain key".into(), &v[at + 74..at + 106]);
        let mut p = at + 106;
        skipped(v, &mut p, push);
        assert_eq!(p, v.len());
        return;
    }
    push("SPQR auth key".into(), &v[2..34]);
    push("SPQR next root".into(), &v[34..66]);
    let epoch = u64::from_be_bytes(v[66..74].try_into().expect("8 bytes"));
    push("braid authenticator root".into(), &v[74..106]);
    push("braid authenticator MAC key".into(), &v[106..138]);
    let state = v[138];
    let mut p = 139;
    let decoder = |p: &mut usize| *p += 1 + 34 * v[*p] as usize;
    let dk = |p: &mut usize, push: &mut dyn FnMut(String, &[u8])| {
        for (i, c) in v[*p..*p + 1152].chunks(32).enumerate() {
            push(format!("braid decapsulation key part {i}"), c);
        }
        push("braid decapsulation key z".into(), &v[*p + 2368..*p + 2400]);
        *p += 2400;
    };
    let encaps = |p: &mut usize, push: &mut dyn FnMut(String, &[u8])| {
        push(
            "braid encapsulation randomness".into(),
            &v[*p + 64..*p + 96],
        );
        *p += 64 + 32 + 960;
    };
    match state {
        1 => {}
        2 => {
            dk(&mut p, push);
            p += 2;
        }
        3 => {
            dk(&mut p, push);
            p += 2;
            decoder(&mut p);
        }
        4 => {
            dk(&mut p, push);
            p += 2 + 960;
        }
        5 => {
            dk(&mut p, push);
            p += 960;
            decoder(&mut p);
        }
        6 => decoder(&mut p),
        7 => p += 64,
        8 => {
            encaps(&mut p, push);
            p += 2;
            decoder(&mut p);
        }
        9 => {
            encaps(&mut p, push);
            p += 2 + 1152;
        }
        10 => {
            encaps(&mut p, push);
            decoder(&mut p);
        }
        11 => p += 160 + 2,
        s => panic!("braid state {s}"),
    }
    push("SPQR sending chain key".into(), &v[p + 4..p + 36]);
    push("SPQR receiving chain key".into(), &v[p + 40..p + 72]);
    p += 72;
    if epoch > 1 {
        push(
            "SPQR previous epoch's receiving chain key".into(),
            &v[p + 4..p + 36],
        );
        p += 36;
    }
    if (8..=11).contains(&state) {
        push("SPQR next epoch's sending chain key".into(), &v[p..p + 32]);
        push(
            "SPQR next epoch's receiving chain key".into(),
            &v[p + 32..p + 64],
        );
        p += 64;
    }
    skipped(v, &mut p, push);
    if epoch > 1 {
        skipped(v, &mut p, push);
    }
    assert_eq!(p, v.len(), "SPQR state parsed to its end");
}

fn conversation_record(v3: bool) -> SessionRecord {
    use missive::CiphertextMessageType;
    let mut rng = rng();
    let mut alice = party::device(party::ALICE, 1, v3, &mut rng);
    let mut bob = party::device(party::BOB, 2, v3, &mut rng);
    let (a, b) = (alice.address().clone(), bob.address().clone());
    for round in 0..3 {
        let bundle = party::publish_bundle(&mut bob, v3, true, &mut rng);
        party::start_session(&mut alice, &bundle, &b, &mut rng).unwrap();
        let mut held = Vec::new();
        for i in 0..6u8 {
            let m = alice.encrypt(&b, &[i; 40], NOW, &mut rng).unwrap();
            if i % 2 == 0 {
                held.push(m);
            } else {
                bob.decrypt(&a, m.message_type(), m.serialize(), &mut rng)
                    .unwrap();
            }
        }
        let r = bob.encrypt(&a, b"reply", NOW, &mut rng).unwrap();
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
    let record = bob.store().session_store.session(&a).unwrap();
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
        // chain key (and 9 SPQR secrets in v4: auth key, next root, both chains, the
        // braid's authenticator root and MAC key, and, its header authenticated and its
        // reply sent, its encapsulation randomness and the next epoch's two chains);
        // plus 3 skipped seeds (and 3 SPQR keys).
        let expected = if v3 { 3 * 4 + 3 } else { 3 * 13 + 3 + 3 };
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
        let last = found_hint();
        assert_eq!(
            hits, 0,
            "SessionRecord (v3: {v3}): {hits} freed block(s) held secrets ({last})"
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
        KyberPreKeyLifetime::OneTime,
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
            vec![needle(pk.key_pair().private_key().to_bytes().as_slice())],
        ),
        (
            spk.serialize(),
            vec![needle(spk.key_pair().private_key().to_bytes().as_slice())],
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
    let mut ours = party::device("alice", 1, false, &mut rng);
    let mut theirs = party::device("bob", 2, false, &mut rng);
    let (alice, bob) = (ours.address().clone(), theirs.address().clone());
    // Bob processes Alice's distributions under the sender their 1:1 session
    // authenticates.
    let bundle = party::publish_bundle(&mut theirs, false, false, &mut rng);
    party::start_session(&mut ours, &bundle, &bob, &mut rng).unwrap();
    let m = ours.encrypt(&bob, b"", NOW, &mut rng).unwrap();
    let sender = theirs
        .decrypt(&alice, m.message_type(), m.serialize(), &mut rng)
        .unwrap()
        .sender;
    let mut d = ours
        .sender_key_distribution_message(GROUP, &mut rng)
        .unwrap();
    for round in 0..3 {
        if round > 0 {
            d = ours.rotate_sender_key(GROUP, &mut rng).unwrap();
        }
        theirs
            .process_sender_key_distribution_message(&sender, &d)
            .unwrap();
        let sent: Vec<_> = (0..24u8)
            .map(|i| ours.group_encrypt(GROUP, &[i; 20], &mut rng))
            .collect::<Result<_, _>>()
            .unwrap();
        // Read the last and a few others: the rest stay stored.
        for i in [23, 3, 11] {
            theirs.group_decrypt(&alice, &sent[i]).unwrap();
        }
    }
    let load = |p: &Party| {
        p.store()
            .sender_key_store
            .sender_key(&alice, GROUP)
            .unwrap()
            .clone()
    };
    let (own, member) = (load(&ours), load(&theirs));
    assert_eq!((own.state_count(), member.state_count()), (1, 3));
    // Through serialization: the records under test are laid out exactly as parsed.
    let own = SenderKeyRecord::deserialize(&own.serialize()).unwrap();
    let member = SenderKeyRecord::deserialize(&member.serialize()).unwrap();
    let mut store = InMemSenderKeyStore::new();
    let copy = |r: &SenderKeyRecord| SenderKeyRecord::deserialize(&r.serialize()).unwrap();
    store.store_sender_key(&alice, GROUP, copy(&member));
    store.store_sender_key(&bob, GROUP, copy(&own));
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
        let last = found_hint();
        assert_eq!(
            hits, 0,
            "SenderKeyRecord ({what}): {hits} freed block(s) held secrets ({last})"
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

/// Alice and Bob as [`missive::Device`]s with the in-memory store, a session in both
/// directions (and an archived one before it), and the RNG they draw from.
struct Pair {
    alice: Party,
    bob: Party,
    rng: ChaCha20Rng,
    /// Every secret either record held before or after an operation [`run`] ran.
    seen: BTreeSet<Needle>,
}

impl Pair {
    /// Two sessions, one after the other; on each, Alice writes, Bob answers and Alice
    /// writes again, so both have taken a DH step.
    fn new(v3: bool) -> Pair {
        let mut rng = rng();
        let alice = party::device(party::ALICE, 1, v3, &mut rng);
        let bob = party::device(party::BOB, 2, v3, &mut rng);
        let mut p = Pair {
            alice,
            bob,
            rng,
            seen: BTreeSet::new(),
        };
        for _ in 0..2 {
            let bundle = party::publish_bundle(&mut p.bob, v3, true, &mut p.rng);
            let b = p.b();
            party::start_session(&mut p.alice, &bundle, &b, &mut p.rng).unwrap();
            let m = p.send_a(b"hello");
            p.recv_b(&m);
            let r = p.send_b(b"hi");
            p.recv_a(&r);
            let m = p.send_a(b"again");
            p.recv_b(&m);
        }
        let record = p.bob.store().session_store.session(&p.a()).unwrap();
        assert_eq!(record.archived_count(), 1);
        p
    }

    fn copy(&self) -> Pair {
        Pair {
            alice: party::copy(&self.alice),
            bob: party::copy(&self.bob),
            rng: self.rng.clone(),
            seen: BTreeSet::new(),
        }
    }

    fn a(&self) -> ProtocolAddress {
        self.alice.address().clone()
    }

    fn b(&self) -> ProtocolAddress {
        self.bob.address().clone()
    }

    fn send_a(&mut self, plaintext: &[u8]) -> CiphertextMessage {
        let b = self.b();
        self.alice
            .encrypt(&b, plaintext, NOW, &mut self.rng)
            .unwrap()
    }

    fn send_b(&mut self, plaintext: &[u8]) -> CiphertextMessage {
        let a = self.a();
        self.bob.encrypt(&a, plaintext, NOW, &mut self.rng).unwrap()
    }

    fn recv_a(&mut self, m: &CiphertextMessage) -> Vec<u8> {
        let b = self.b();
        let d = self
            .alice
            .decrypt(&b, m.message_type(), m.serialize(), &mut self.rng);
        d.unwrap().plaintext
    }

    fn recv_b(&mut self, m: &CiphertextMessage) -> Vec<u8> {
        let a = self.a();
        let d = self
            .bob
            .decrypt(&a, m.message_type(), m.serialize(), &mut self.rng);
        d.unwrap().plaintext
    }

    /// Both session records, serialized.
    fn records(&self) -> [Vec<u8>; 2] {
        let alice = self.alice.store().session_store.session(&self.b());
        let bob = self.bob.store().session_store.session(&self.a());
        [alice, bob].map(|r| r.unwrap().serialize().to_vec())
    }

    /// Every secret of both records, labelled with whose it is and `when`.
    fn secrets(&self, when: &str) -> Vec<(String, Needle)> {
        let mut out = Vec::new();
        for (who, record) in ["alice", "bob"].into_iter().zip(self.records()) {
            for (what, n) in session_secrets(&record) {
                out.push((format!("{who} {when}, {what}"), n));
            }
        }
        out
    }
}

/// Makes `run`'s scan fail on purpose: a plain (unwiped) copy of one secret is made and
/// freed inside the armed operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leak {
    /// No deliberate leak: the real check.
    None,
    /// A secret the operation creates (only in the records after it).
    New,
    /// A secret the operation ends (only in the records before it).
    Old,
}

/// Runs `op` on `pair` with the scanner armed for every secret of both session records,
/// before the operation and after it: the after-secrets come from a dry run of `op` on
/// copies (same RNG state, so the same result). Returns `op`'s result, how many freed
/// blocks held a secret, and which secret the last one held.
fn run<T>(pair: &mut Pair, leak: Leak, op: impl Fn(&mut Pair) -> T) -> (T, usize, String) {
    let before = pair.secrets("before");
    let mut dry = pair.copy();
    drop(op(&mut dry));
    let expected = dry.records();
    let after = dry.secrets("after");
    drop(dry);
    let mut labels = BTreeMap::new();
    for (what, n) in after.iter().chain(&before) {
        if n != &[0; 32] {
            labels.insert(*n, what.clone());
        }
    }
    pair.seen.extend(labels.keys());
    let only_in = |a: &[(String, Needle)], b: &[(String, Needle)]| {
        a.iter()
            .map(|(_, n)| *n)
            .find(|n| n != &[0; 32] && b.iter().all(|(_, m)| m != n))
    };
    let planted = match leak {
        Leak::None => None,
        Leak::New => Some(only_in(&after, &before).expect("the operation makes a secret")),
        Leak::Old => Some(only_in(&before, &after).expect("the operation ends a secret")),
    };
    let needles: Vec<Needle> = labels.keys().copied().collect();
    let mut out = None;
    let hits = scanning(needles, || {
        out = Some(op(pair));
        if let Some(n) = planted {
            let copy: Vec<u8> = n.to_vec();
            drop(std::hint::black_box(copy));
        }
    });
    let found = last_found().map_or_else(String::new, |n| labels[&n].clone());
    assert!(
        pair.records() == expected,
        "the dry run on copies did not predict the operation"
    );
    (out.expect("ran"), hits, found)
}

/// [`run`] without a leak: asserts that no freed block held a secret.
fn clean<T>(what: &str, pair: &mut Pair, op: impl Fn(&mut Pair) -> T) -> T {
    let (out, hits, found) = run(pair, Leak::None, op);
    let hint = found_hint();
    assert_eq!(
        hits, 0,
        "{what}: {hits} freed block(s) held a session secret (last: {found}; {hint})"
    );
    out
}

/// Drops both devices' stores with the scanner armed for every secret their records held
/// during the test ([`Pair::seen`]); returns how many freed blocks held one. With
/// `plant`, a plain copy of a secret the records no longer hold is made and freed too.
fn drop_scan(pair: Pair, plant: bool) -> usize {
    let current: BTreeSet<Needle> = pair.secrets("now").into_iter().map(|x| x.1).collect();
    let planted = plant.then(|| {
        let old = pair.seen.iter().find(|n| !current.contains(*n));
        *old.expect("a secret the records no longer hold")
    });
    let needles: Vec<Needle> = pair.seen.iter().copied().collect();
    let Pair { alice, bob, .. } = pair;
    scanning(needles, || {
        drop((alice.into_store(), bob.into_store()));
        if let Some(n) = planted {
            drop(std::hint::black_box(n.to_vec()));
        }
    })
}

/// [`drop_scan`] without a plant: the records' own memory (including the unused space of
/// their heads) must not carry a stale copy of any secret they held.
fn drop_clean(what: &str, pair: Pair) {
    let hits = drop_scan(pair, false);
    let hint = found_hint();
    assert_eq!(
        hits, 0,
        "{what}: dropping the stores freed {hits} block(s) holding a secret the records held \
         ({hint})"
    );
}

fn version(v3: bool) -> &'static str {
    if v3 { "v3" } else { "v4" }
}

#[test]
fn device_same_chain_leaves_no_secrets() {
    let _guard = exclusive();
    for v3 in [true, false] {
        let v = version(v3);
        let mut p = Pair::new(v3);
        for i in 0..3u8 {
            let m = clean(&format!("{v} encrypt, same chain"), &mut p, |p| {
                p.send_a(&[i; 100])
            });
            let pt = clean(&format!("{v} decrypt, same chain"), &mut p, |p| {
                p.recv_b(&m)
            });
            assert_eq!(pt, [i; 100]);
        }
        drop_clean(&format!("{v} same chain"), p);
    }
}

#[test]
fn device_dh_steps_leave_no_secrets() {
    let _guard = exclusive();
    for v3 in [true, false] {
        let v = version(v3);
        let mut p = Pair::new(v3);
        // A message skipped on the first of these chains: its seed goes when the chain
        // is evicted (after 5 newer ones).
        let _lost = p.send_a(b"lost");
        let m = p.send_a(b"kept");
        p.recv_b(&m);
        for round in 0..7u8 {
            let r = clean(&format!("{v} encrypt, Bob's new chain"), &mut p, |p| {
                p.send_b(&[round; 30])
            });
            let pt = clean(
                &format!("{v} decrypt with a DH step (Alice)"),
                &mut p,
                |p| p.recv_a(&r),
            );
            assert_eq!(pt, [round; 30]);
            let m = clean(&format!("{v} encrypt, Alice's new chain"), &mut p, |p| {
                p.send_a(&[round; 31])
            });
            let pt = clean(&format!("{v} decrypt with a DH step (Bob)"), &mut p, |p| {
                p.recv_b(&m)
            });
            assert_eq!(pt, [round; 31]);
        }
        drop_clean(&format!("{v} DH steps"), p);
    }
}

/// The ML-KEM braid through two whole epochs of ping-pong: key generation, both halves
/// of the encapsulation, the decapsulation, and both epoch switches (the previous epoch's
/// chain kept, the next epoch's chains derived ahead), every operation armed.
#[test]
fn device_braid_epochs_leave_no_secrets() {
    let _guard = exclusive();
    let mut p = Pair::new(false);
    let mut states = BTreeSet::new();
    for i in 0..95u8 {
        let m = clean("v4 encrypt, braid", &mut p, |p| p.send_a(&[i; 10]));
        clean("v4 decrypt, braid", &mut p, |p| p.recv_b(&m));
        let r = clean("v4 encrypt, braid", &mut p, |p| p.send_b(&[i; 11]));
        clean("v4 decrypt, braid", &mut p, |p| p.recv_a(&r));
        for record in p.records() {
            for (what, _) in session_secrets(&record) {
                if what.contains("braid") || what.contains("epoch") {
                    states.insert(what.split(": ").nth(1).unwrap_or("").to_string());
                }
            }
        }
    }
    // Every kind of braid secret went through the scanner.
    for kind in [
        "braid decapsulation key z",
        "braid encapsulation randomness",
        "SPQR next epoch's sending chain key",
        "SPQR previous epoch's receiving chain key",
    ] {
        assert!(states.contains(kind), "{kind} never held: {states:?}");
    }
    drop_clean("v4 braid epochs", p);
}

#[test]
fn device_late_messages_leave_no_secrets() {
    let _guard = exclusive();
    for v3 in [true, false] {
        let v = version(v3);
        let mut p = Pair::new(v3);
        let sent: Vec<CiphertextMessage> = (0..6u8).map(|i| p.send_a(&[i; 20])).collect();
        clean(&format!("{v} decrypt skipping 5"), &mut p, |p| {
            p.recv_b(&sent[5])
        });
        for i in [2, 0, 4, 1, 3] {
            let pt = clean(&format!("{v} decrypt late, stored key {i}"), &mut p, |p| {
                p.recv_b(&sent[i])
            });
            assert_eq!(pt, [i as u8; 20]);
        }
        // A late message on an older chain, after both sides took a DH step.
        let old = p.send_a(b"old chain");
        let r = p.send_b(b"step");
        p.recv_a(&r);
        let m = p.send_a(b"new chain");
        p.recv_b(&m);
        let pt = clean(&format!("{v} decrypt late, older chain"), &mut p, |p| {
            p.recv_b(&old)
        });
        assert_eq!(pt, b"old chain");
        drop_clean(&format!("{v} late messages"), p);
    }
}

#[test]
fn device_skip_ahead_leaves_no_secrets() {
    let _guard = exclusive();
    for v3 in [true, false] {
        let v = version(v3);
        let mut p = Pair::new(v3);
        // 1,199 keys stored; then 1,499 more, past the 2,000 a chain keeps (the SPQR
        // window keeps as many).
        let mut first = None;
        for (count, stored) in [(1_200, 0), (1_500, 1_199)] {
            let sent: Vec<CiphertextMessage> = (0..count).map(|_| p.send_a(b"skip")).collect();
            first.get_or_insert_with(|| sent[0].clone());
            let last = &sent[count - 1];
            let what = format!("{v} decrypt skipping {} ({stored} stored)", count - 1);
            clean(&what, &mut p, |p| p.recv_b(last));
        }
        let stored = |p: &Pair| {
            let record = p.bob.store().session_store.session(&p.a()).unwrap();
            record.stored_key_count()
        };
        // The Double Ratchet keeps the newest 2,000 seeds; SPQR keeps the window of
        // 2,000 indices below the newest received, one of which was received.
        assert_eq!(stored(&p), if v3 { 2_000 } else { 2_000 + 1_999 });
        // The oldest was dropped: refused, and nothing changes.
        let first = first.expect("sent");
        let refused = clean(&format!("{v} decrypt refused, key dropped"), &mut p, |p| {
            let a = p.a();
            let m = &first;
            p.bob
                .decrypt(&a, m.message_type(), m.serialize(), &mut p.rng)
                .is_err()
        });
        assert!(refused, "a dropped key decrypted");
        // One more stored with the window full (the oldest goes), then a late one.
        let late = p.send_a(b"late");
        let next = p.send_a(b"next");
        clean(
            &format!("{v} decrypt skipping 1 (window full)"),
            &mut p,
            |p| p.recv_b(&next),
        );
        let pt = clean(&format!("{v} decrypt late (window full)"), &mut p, |p| {
            p.recv_b(&late)
        });
        assert_eq!(pt, b"late");
        // One seed in and the oldest out, then one consumed; the SPQR window moved by 2.
        assert_eq!(stored(&p), if v3 { 1_999 } else { 1_999 + 1_997 });
        drop_clean(&format!("{v} skip ahead"), p);
    }
}

#[test]
fn device_new_session_leaves_no_secrets() {
    let _guard = exclusive();
    for v3 in [true, false] {
        let v = version(v3);
        let mut p = Pair::new(v3);
        let bundle = party::publish_bundle(&mut p.bob, v3, true, &mut p.rng);
        clean(&format!("{v} session from a bundle"), &mut p, |p| {
            let b = p.b();
            party::start_session(&mut p.alice, &bundle, &b, &mut p.rng).unwrap()
        });
        // Unacknowledged: prekey messages, the handshake repeated in each.
        let sent: Vec<CiphertextMessage> = (0..3u8)
            .map(|i| {
                clean(&format!("{v} encrypt, unacknowledged"), &mut p, |p| {
                    p.send_a(&[i; 10])
                })
            })
            .collect();
        clean(&format!("{v} decrypt, new session"), &mut p, |p| {
            p.recv_b(&sent[1])
        });
        clean(&format!("{v} decrypt, prekey message, late"), &mut p, |p| {
            p.recv_b(&sent[0])
        });
        let r = clean(&format!("{v} encrypt, first answer"), &mut p, |p| {
            p.send_b(b"answer")
        });
        clean(&format!("{v} decrypt, first answer"), &mut p, |p| {
            p.recv_a(&r)
        });
        clean(
            &format!("{v} decrypt, prekey message after the answer"),
            &mut p,
            |p| p.recv_b(&sent[2]),
        );
        drop_clean(&format!("{v} new session"), p);
    }
}

/// Each kind of operation above, with a plain copy of one of its secrets made and freed
/// while it runs: the scan must see it. Shows that the checks above can fail, and that
/// their needles cover both the secrets an operation creates and those it ends.
#[test]
fn device_checks_see_a_leaked_secret() {
    let _guard = exclusive();
    for v3 in [true, false] {
        let v = version(v3);
        let mut p = Pair::new(v3);
        let expect_seen = |what: &str, p: &mut Pair, leak, op: &dyn Fn(&mut Pair)| {
            let ((), hits, found) = run(p, leak, op);
            assert_eq!(
                hits, 1,
                "{v} {what} ({leak:?}): the planted copy was not seen"
            );
            let when = if leak == Leak::New {
                " after,"
            } else {
                " before,"
            };
            assert!(found.contains(when), "{v} {what}: found {found}");
        };
        // Same chain: the old sending chain key ends, the next one is made.
        let m = p.send_a(b"a");
        expect_seen("encrypt", &mut p, Leak::New, &|p| drop(p.send_a(b"b")));
        expect_seen("decrypt", &mut p, Leak::Old, &|p| drop(p.recv_b(&m)));
        // A DH step: a new root key and ratchet key.
        let r = p.send_b(b"c");
        expect_seen("DH step", &mut p, Leak::New, &|p| drop(p.recv_a(&r)));
        // Skipping ahead stores keys; a late message consumes one.
        let sent: Vec<CiphertextMessage> = (0..40).map(|_| p.send_a(b"d")).collect();
        expect_seen("skip ahead", &mut p, Leak::New, &|p| {
            drop(p.recv_b(&sent[39]))
        });
        expect_seen("late", &mut p, Leak::Old, &|p| drop(p.recv_b(&sent[7])));
        // Dropping the stores: a copy of a secret they held earlier in the test.
        assert_eq!(drop_scan(p, true), 1, "{v}: the planted copy was not seen");
    }
}
