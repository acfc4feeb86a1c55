use alloc::format;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::*;

static SEED: AtomicU64 = AtomicU64::new(1);

/// A fresh deterministic RNG (a different seed on every call).
pub(crate) fn rng() -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(SEED.fetch_add(1, Ordering::Relaxed))
}

fn pair() -> (SpqrState, SpqrState) {
    let auth = [7u8; 32];
    (
        SpqrState::new(&auth, Role::Initiator),
        SpqrState::new(&auth, Role::Responder),
    )
}

fn bytes(s: &SpqrState) -> Vec<u8> {
    let mut out = Vec::new();
    s.serialize(&mut out);
    out
}

fn field(epoch: u64, index: u64, ty: u8) -> Vec<u8> {
    let mut f = vec![FIELD_VERSION];
    put_varint(&mut f, epoch);
    put_varint(&mut f, index);
    f.push(ty);
    f
}

fn with_chunk(mut f: Vec<u8>, chunk_index: u64, len: usize) -> Vec<u8> {
    put_varint(&mut f, chunk_index);
    f.extend(core::iter::repeat_n(0xab, len));
    f
}

/// Sends `n` messages from `s`, returning their fields and keys.
fn send_n(s: &mut SpqrState, n: usize) -> Vec<(Vec<u8>, [u8; 32])> {
    let mut r = rng();
    (0..n)
        .map(|_| {
            let (f, k) = s.send(&mut r).unwrap();
            (f, *k.as_bytes())
        })
        .collect()
}

fn send1(s: &mut SpqrState) -> (Vec<u8>, MessageKey) {
    s.send(&mut rng()).unwrap()
}

fn err(r: Result<MessageKey, Error>) -> Error {
    r.unwrap_err()
}

// ---- parse ----

#[test]
fn parse_none_as_missive_sends_it() {
    let h = parse(&[1, 1, 5, 0]).unwrap();
    assert_eq!(
        h,
        SpqrHeader {
            epoch: 1,
            index: 5,
            msg_type: SpqrMsgType::None,
            chunk: None
        }
    );
}

#[test]
fn parse_chunk_types() {
    for (ty, t) in [
        (1, SpqrMsgType::Hdr),
        (2, SpqrMsgType::Ek),
        (3, SpqrMsgType::EkCt1Ack),
        (5, SpqrMsgType::Ct1),
        (6, SpqrMsgType::Ct2),
    ] {
        let f = with_chunk(field(1, 300, ty), 65_535, 32);
        let h = parse(&f).unwrap();
        assert_eq!(h.msg_type, t);
        assert_eq!(h.index, 300);
        assert_eq!(
            h.chunk,
            Some(Chunk {
                index: 65_535,
                data: [0xab; 32]
            })
        );
        assert_eq!(t.to_byte(), ty);
    }
    let h = parse(&field(1, 1, 4)).unwrap();
    assert_eq!((h.msg_type, h.chunk), (SpqrMsgType::Ct1Ack, None));
}

#[test]
fn parse_ignores_trailing_bytes_like_the_peer() {
    // libsignal accepts all of these (observed), so missive does too.
    assert!(parse(&[1, 1, 1, 0, 0]).is_ok());
    assert!(
        parse(&with_chunk(field(1, 1, 0), 0, 32))
            .unwrap()
            .chunk
            .is_none()
    );
    assert!(
        parse(&with_chunk(field(1, 1, 4), 0, 32))
            .unwrap()
            .chunk
            .is_none()
    );
    assert!(parse(&with_chunk(field(1, 1, 1), 0, 33)).is_ok());
}

#[test]
fn parse_accepts_non_minimal_varints_like_the_peer() {
    let h = parse(&[1, 0x81, 0x00, 0x85, 0x00, 0]).unwrap();
    assert_eq!((h.epoch, h.index), (1, 5));
}

#[test]
fn parse_rejects_malformed_fields() {
    let cases: &[(&str, Vec<u8>, DecodeError)] = &[
        ("empty", vec![], DecodeError::Truncated),
        ("version only", vec![1], DecodeError::Truncated),
        (
            "version 0",
            field(1, 1, 0).into_iter().skip(1).fold(vec![0], push),
            DecodeError::UnknownVersion,
        ),
        (
            "version 2",
            field(1, 1, 0).into_iter().skip(1).fold(vec![2], push),
            DecodeError::UnknownVersion,
        ),
        ("epoch 0", field(0, 1, 0), DecodeError::Malformed),
        ("no type", vec![1, 1, 1], DecodeError::Truncated),
        ("type 7", field(1, 1, 7), DecodeError::UnknownType),
        ("type 255", field(1, 1, 255), DecodeError::UnknownType),
        ("Hdr without chunk", field(1, 1, 1), DecodeError::Truncated),
        ("Ct1 without chunk", field(1, 1, 5), DecodeError::Truncated),
        (
            "chunk of 31 bytes",
            with_chunk(field(1, 1, 1), 0, 31),
            DecodeError::Truncated,
        ),
        (
            "chunk index 65536",
            with_chunk(field(1, 1, 6), 65_536, 32),
            DecodeError::BadLength,
        ),
        ("index 2^32", field(1, 1 << 32, 0), DecodeError::BadLength),
        (
            "index u64::MAX",
            field(1, u64::MAX, 0),
            DecodeError::BadLength,
        ),
        ("truncated varint", vec![1, 0x81], DecodeError::Truncated),
        (
            "11-byte varint",
            [&[1u8, 1][..], &[0x81; 10], &[0, 0]].concat(),
            DecodeError::Malformed,
        ),
        (
            "varint = 2^64",
            [&[1u8, 1][..], &[0x80; 9], &[2, 0]].concat(),
            DecodeError::Malformed,
        ),
    ];
    for (name, f, e) in cases {
        assert_eq!(parse(f), Err(*e), "{name}");
    }
}

fn push(mut v: Vec<u8>, b: u8) -> Vec<u8> {
    v.push(b);
    v
}

#[test]
fn parse_never_panics_on_prefixes_and_bit_flips() {
    let f = with_chunk(field(1, 200, 1), 300, 32);
    for n in 0..f.len() {
        let _ = parse(&f[..n]);
    }
    for i in 0..f.len() {
        for bit in 0..8 {
            let mut g = f.clone();
            g[i] ^= 1 << bit;
            let _ = parse(&g);
        }
    }
}

// ---- send / recv (the chains; the braid has its own tests in braid/machine) ----

#[test]
fn send_writes_epoch_1_fields_with_consecutive_indices() {
    let (mut a, mut b) = pair();
    // The responder waits for a header: None, index 1, 2, …
    let sent = send_n(&mut b, 130);
    assert_eq!(sent[0].0, [1, 1, 1, 0]);
    assert_eq!(sent[126].0, [1, 1, 127, 0]);
    assert_eq!(sent[127].0, [1, 1, 0x80, 0x01, 0]);
    let keys: alloc::collections::BTreeSet<_> = sent.iter().map(|s| s.1).collect();
    assert_eq!(keys.len(), 130, "keys repeat");
    // The initiator sends header chunks 0, 1, 2, … from its first message.
    let sent = send_n(&mut a, 130);
    for (i, (f, _)) in sent.iter().enumerate() {
        let h = parse(f).unwrap();
        assert_eq!((h.epoch, h.index), (1, i as u32 + 1));
        assert_eq!(h.msg_type, SpqrMsgType::Hdr);
        assert_eq!(h.chunk.unwrap().index, i as u16);
    }
    assert_eq!(sent[0].0.len(), 4 + 1 + 32);
    assert_eq!(sent[127].0.len(), 5 + 1 + 32);
}

#[test]
fn round_trip_both_directions() {
    let (mut a, mut b) = pair();
    let mut r = rng();
    for round in 0..50 {
        for _ in 0..(round % 4) {
            let (f, k) = a.send(&mut r).unwrap();
            assert_eq!(b.recv(&f).unwrap().as_bytes(), k.as_bytes());
        }
        let (f, k) = b.send(&mut r).unwrap();
        assert_eq!(a.recv(&f).unwrap().as_bytes(), k.as_bytes());
    }
}

#[test]
fn directions_use_different_chains() {
    let (mut a, mut b) = pair();
    let (_, ka) = send1(&mut a);
    let (_, kb) = send1(&mut b);
    assert_ne!(ka.as_bytes(), kb.as_bytes());
}

/// A state that cannot join the braid (format 1) takes the peer's chunks without acting
/// on them, as every missive state did before the braid.
#[test]
fn a_state_without_braid_ignores_chunks() {
    let (mut a, _) = pair();
    let mut b = SpqrState::without_braid(&[7u8; 32], Role::Responder);
    let sent = send_n(&mut a, 40);
    for (f, k) in &sent {
        assert_eq!(b.recv(f).unwrap().as_bytes(), k);
    }
    assert_eq!((b.head.epoch(), b.head.braid_state()), (1, None));
    assert_eq!(send1(&mut b).0, [1, 1, 1, 0]);
}

#[test]
fn recv_rejects_other_epochs_and_index_zero() {
    let (_, mut b) = pair();
    for f in [
        field(2, 1, 0),
        field(u64::MAX, 1, 0),
        field(1, 0, 0),
        with_chunk(field(1, 0, 1), 0, 32),
    ] {
        assert_eq!(err(b.recv(&f)), Error::Protocol(ProtocolError::PqRatchet));
    }
    assert_eq!(err(b.recv(&[])), Error::Protocol(ProtocolError::PqRatchet));
    assert_eq!(
        err(b.recv(&field(1, 1, 9))),
        Error::Protocol(ProtocolError::PqRatchet)
    );
}

#[test]
fn out_of_order_and_reverse_within_window() {
    let (mut a, mut b) = pair();
    let sent = send_n(&mut a, 300);
    for (f, k) in sent.iter().rev() {
        assert_eq!(b.recv(f).unwrap().as_bytes(), k);
    }
    assert_eq!(b.skipped.len(), 0);
}

#[test]
fn duplicates_fail() {
    let (mut a, mut b) = pair();
    let sent = send_n(&mut a, 3);
    b.recv(&sent[2].0).unwrap();
    b.recv(&sent[0].0).unwrap();
    for f in [&sent[0].0, &sent[2].0] {
        assert_eq!(
            err(b.recv(f)),
            Error::Protocol(ProtocolError::DuplicateMessage)
        );
    }
    b.recv(&sent[1].0).unwrap();
    assert_eq!(
        err(b.recv(&sent[1].0)),
        Error::Protocol(ProtocolError::DuplicateMessage)
    );
}

#[test]
fn skipped_key_at_window_edge_works_one_past_fails() {
    let d = MAX_SKIPPED_DISTANCE as usize;
    // Key for index 1, newest = 1 + d: distance d, kept.
    let (mut a, mut b) = pair();
    let sent = send_n(&mut a, d + 1);
    b.recv(&sent[d].0).unwrap();
    assert_eq!(b.skipped.len(), d);
    assert_eq!(b.recv(&sent[0].0).unwrap().as_bytes(), &sent[0].1);
    // Newest = 2 + d: index 1 is at distance d + 1 and gone, index 2 still there.
    let (mut a, mut b) = pair();
    let sent = send_n(&mut a, d + 2);
    b.recv(&sent[d + 1].0).unwrap();
    assert_eq!(b.skipped.len(), d);
    assert_eq!(
        err(b.recv(&sent[0].0)),
        Error::Protocol(ProtocolError::DuplicateMessage)
    );
    assert_eq!(b.recv(&sent[1].0).unwrap().as_bytes(), &sent[1].1);
}

#[test]
fn window_is_by_index_not_by_count() {
    // As observed in libsignal: consuming a skipped key does not make room for an older one.
    let d = MAX_SKIPPED_DISTANCE as usize;
    let (mut a, mut b) = pair();
    let sent = send_n(&mut a, d + 3);
    b.recv(&sent[d + 1].0).unwrap(); // newest = d + 2; indices 1..=d+1 stored, 1 at distance d + 1 trimmed
    b.recv(&sent[2].0).unwrap(); // consume index 3
    b.recv(&sent[d + 2].0).unwrap(); // newest = d + 3: index 2 now at distance d + 1
    assert_eq!(
        err(b.recv(&sent[1].0)),
        Error::Protocol(ProtocolError::DuplicateMessage)
    );
}

#[test]
fn forward_jump_at_bound_works_one_past_fails() {
    let j = MAX_FORWARD_JUMP as usize;
    let (_, mut b) = pair();
    // A sender without braid: the same chains, and 25,000 sends stay cheap.
    let mut a = SpqrState::without_braid(&[7u8; 32], Role::Initiator);
    let sent = send_n(&mut a, j + 2);
    b.recv(&sent[0].0).unwrap();
    let before = bytes(&b);
    // From newest = 1: index j + 2 is a jump of j + 1.
    assert_eq!(
        err(b.recv(&sent[j + 1].0)),
        Error::Protocol(ProtocolError::TooFarInFuture)
    );
    assert_eq!(bytes(&b), before, "failed recv changed the state");
    // Index j + 1 is a jump of exactly j.
    assert_eq!(b.recv(&sent[j].0).unwrap().as_bytes(), &sent[j].1);
    assert_eq!(b.skipped.len(), MAX_SKIPPED_DISTANCE as usize);
}

#[test]
fn failed_recv_leaves_state_unchanged() {
    let (mut a, mut b) = pair();
    let sent = send_n(&mut a, 10);
    b.recv(&sent[5].0).unwrap();
    b.recv(&sent[1].0).unwrap();
    let before = bytes(&b);
    let bad = [
        sent[5].0.clone(),
        sent[1].0.clone(),
        field(2, 7, 0),
        field(1, 0, 0),
        field(1, 30_000, 0),
        vec![1, 1],
        vec![],
    ];
    for f in &bad {
        // On the caller's clone, as the session code does.
        let mut staged = b.clone();
        assert!(staged.recv(f).is_err());
        assert_eq!(bytes(&staged), before);
        assert_eq!(bytes(&b), before);
    }
    // And a successful recv on a discarded clone leaves the original alone too.
    let mut staged = b.clone();
    staged.recv(&sent[9].0).unwrap();
    assert_eq!(bytes(&b), before);
    assert_eq!(b.recv(&sent[9].0).unwrap().as_bytes(), &sent[9].1);
}

#[test]
fn send_stops_at_u32_max() {
    let (mut a, _) = pair();
    a.head.send.index = u32::MAX - 1;
    let mut a = SpqrState::deserialize(&bytes(&a)).unwrap();
    let (f, _) = send1(&mut a);
    assert_eq!(parse(&f).unwrap().index, u32::MAX);
    let before = bytes(&a);
    assert_eq!(
        a.send(&mut rng()).unwrap_err(),
        Error::Protocol(ProtocolError::SessionExpired)
    );
    assert_eq!(bytes(&a), before);
}

// ---- serialization ----

/// Offsets in a format-3 state at epoch 1 whose braid is in state 6 with an empty
/// header decoder (a responder that has received no chunk).
const V3_E1_S6_CHAINS: usize = 1 + 1 + 32 + 32 + 8 + 64 + 1 + 1;

#[test]
fn serialize_round_trip_with_skipped_keys() {
    let (mut a, b) = pair();
    // The initiator (state 1: nothing sent yet) holds keys of the responder's messages.
    let mut b2 = b.clone();
    let sent = send_n(&mut b2, 40);
    a.recv(&sent[39].0).unwrap();
    a.recv(&sent[3].0).unwrap();
    let raw = bytes(&a);
    let mut c = SpqrState::deserialize(&raw).unwrap();
    assert_eq!(bytes(&c), raw);
    assert_eq!(c.role(), Role::Initiator);
    assert_eq!(c.recv(&sent[10].0).unwrap().as_bytes(), &sent[10].1);
    // A responder whose braid holds no chunk yet has the layout of §8.7.
    let mut b = b;
    let peer = send_n(
        &mut SpqrState::without_braid(&[7u8; 32], Role::Initiator),
        40,
    );
    b.recv(&peer[39].0).unwrap();
    b.recv(&peer[3].0).unwrap();
    let raw = bytes(&b);
    assert_eq!(raw[0], 3);
    assert_eq!(raw.len(), V3_E1_S6_CHAINS + 2 * 36 + 2 + 38 * 36);
    let mut back = SpqrState::deserialize(&raw).unwrap();
    assert_eq!(bytes(&back), raw);
    assert_eq!(back.recv(&peer[10].0).unwrap().as_bytes(), &peer[10].1);
}

/// A state written before the auth key was kept (format 1: no auth key) still loads,
/// keeps working, and is written back as it was read; it never joins the braid.
#[test]
fn format_1_states_still_load() {
    let mut a = SpqrState::without_braid(&[7u8; 32], Role::Initiator);
    let mut b = SpqrState::without_braid(&[7u8; 32], Role::Responder);
    let sent = send_n(&mut a, 5);
    b.recv(&sent[2].0).unwrap(); // skipped: 1, 2
    let v1 = bytes(&b);
    assert_eq!(v1[0], 1);
    assert_eq!(v1.len(), 108 + 2 * 36);
    let mut old = SpqrState::deserialize(&v1).unwrap();
    assert_eq!(bytes(&old), v1, "written back in format 1");
    assert_eq!(old.recv(&sent[4].0).unwrap().as_bytes(), &sent[4].1);
    assert_eq!(old.recv(&sent[0].0).unwrap().as_bytes(), &sent[0].1);
    assert_eq!(bytes(&old)[0], 1);
    assert_eq!(old.head.braid_state(), None);
}

/// The format-2 encoding (auth key, epoch 1, no braid) of an epoch-1 state.
fn format_2(st: &SpqrState, auth_key: &[u8; 32]) -> Vec<u8> {
    let h = &st.head;
    let role = match h.role {
        Role::Initiator => 0,
        Role::Responder => 1,
    };
    let mut v2 = vec![2u8, role];
    v2.extend_from_slice(auth_key);
    v2.extend_from_slice(&h.next_root);
    for c in [&h.send, &h.recv] {
        v2.extend_from_slice(&c.index.to_be_bytes());
        v2.extend_from_slice(&c.key);
    }
    let keys = st.skipped.get(1);
    v2.extend_from_slice(&(keys.map_or(0, SkippedKeys::len) as u16).to_be_bytes());
    for e in keys.into_iter().flat_map(SkippedKeys::iter) {
        v2.extend_from_slice(&e.n.to_be_bytes());
        v2.extend_from_slice(&e.key);
    }
    v2
}

/// Format-2 states (auth key, epoch 1, written since issue 8 and before the braid) load,
/// keep their chains, and join the braid from its start: written back in format 3.
#[test]
fn format_2_states_join_the_braid() {
    let auth = [7u8; 32];
    let mut a = SpqrState::without_braid(&auth, Role::Initiator);
    let mut b = SpqrState::without_braid(&auth, Role::Responder);
    let sent = send_n(&mut a, 5);
    b.recv(&sent[2].0).unwrap(); // skipped: 1, 2
    let (a2, b2) = (format_2(&a, &auth), format_2(&b, &auth));
    assert_eq!(b2.len(), 140 + 2 * 36);
    let mut a = SpqrState::deserialize(&a2).unwrap();
    let mut b = SpqrState::deserialize(&b2).unwrap();
    assert_eq!(a.head.braid_state(), Some(1));
    assert_eq!(b.head.braid_state(), Some(6));
    assert_eq!(bytes(&b)[0], 3);
    assert_eq!(b.recv(&sent[0].0).unwrap().as_bytes(), &sent[0].1);
    // They talk, and both advance.
    let mut r = rng();
    for _ in 0..200 {
        let (f, k) = a.send(&mut r).unwrap();
        assert_eq!(b.recv(&f).unwrap().as_bytes(), k.as_bytes());
        let (f, k) = b.send(&mut r).unwrap();
        assert_eq!(a.recv(&f).unwrap().as_bytes(), k.as_bytes());
    }
    assert!(a.head.epoch() >= 4 && b.head.epoch() >= 4);
    // The late message 4 of epoch 1 is gone with epoch 1 (only the previous epoch stays).
    assert_eq!(
        err(b.recv(&sent[1].0)),
        Error::Protocol(ProtocolError::PqRatchet)
    );
}

#[test]
fn deserialize_is_strict() {
    let (mut a, mut b) = pair();
    let peer = send_n(
        &mut SpqrState::without_braid(&[7u8; 32], Role::Initiator),
        5,
    );
    b.recv(&peer[4].0).unwrap(); // skipped: 1, 2, 3, 4; no braid chunk held
    let good = bytes(&b);
    let skipped_at = V3_E1_S6_CHAINS + 2 * 36 + 2;
    assert_eq!(good.len(), skipped_at + 4 * 36);

    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    cases.push(("trailing byte", [&good[..], &[0]].concat()));
    let mut v = good.clone();
    v[0] = 4;
    cases.push(("format 4", v));
    let mut v = good.clone();
    v[1] = 2;
    cases.push(("role 2", v));
    let mut v = good.clone();
    v[1] = 0;
    cases.push(("initiator in state 6 at epoch 1", v));
    let mut v = good.clone();
    v[66..74].copy_from_slice(&0u64.to_be_bytes());
    cases.push(("epoch 0", v));
    let mut v = good.clone();
    v[74 + 64] = 12;
    cases.push(("braid state 12", v));
    let mut v = good.clone();
    v[74 + 64 + 1] = 3;
    cases.push(("header decoder full", v));
    let mut v = good.clone();
    v[skipped_at..skipped_at + 4].copy_from_slice(&3u32.to_be_bytes()); // 3, 2, ...
    cases.push(("not ascending", v));
    let mut v = good.clone();
    v[skipped_at..skipped_at + 4].copy_from_slice(&0u32.to_be_bytes());
    cases.push(("index 0", v));
    let mut v = good.clone();
    let last = skipped_at + 3 * 36;
    v[last..last + 4].copy_from_slice(&5u32.to_be_bytes()); // == recv index
    cases.push(("not below newest", v));
    let mut v = good.clone();
    v[skipped_at - 2..skipped_at].copy_from_slice(&(MAX_SKIPPED_DISTANCE as u16 + 1).to_be_bytes());
    cases.push(("count over bound", v));
    for (name, v) in &cases {
        assert!(SpqrState::deserialize(v).is_err(), "{name}");
    }
    for n in 0..good.len() {
        assert!(SpqrState::deserialize(&good[..n]).is_err(), "prefix {n}");
    }
    assert!(SpqrState::deserialize(&good).is_ok());
    // The same for a state holding ML-KEM material: an initiator that sent its header
    // (state 2: the decapsulation key), whose key must be well formed.
    send_n(&mut a, 1);
    let good = bytes(&a);
    assert_eq!(good[74 + 64], 2);
    let dk_at = 74 + 64 + 1;
    let mut v = good.clone();
    v[dk_at + 2340] ^= 1; // inside the embedded H(ek)
    assert_eq!(
        SpqrState::deserialize(&v).err(),
        Some(DecodeError::InvalidKey)
    );
    for n in (0..good.len()).step_by(97) {
        assert!(SpqrState::deserialize(&good[..n]).is_err(), "prefix {n}");
    }
    assert_eq!(bytes(&SpqrState::deserialize(&good).unwrap()), good);
}

#[test]
fn deserialize_rejects_key_outside_window() {
    let d = MAX_SKIPPED_DISTANCE;
    let (_, mut b) = pair();
    let peer = send_n(
        &mut SpqrState::without_braid(&[7u8; 32], Role::Initiator),
        d as usize + 2,
    );
    b.recv(&peer[d as usize].0).unwrap(); // newest d + 1, skipped 1..=d
    let mut raw = bytes(&b);
    assert!(SpqrState::deserialize(&raw).is_ok());
    // Claim newest = d + 2: index 1 is then outside the window.
    let recv_index_at = V3_E1_S6_CHAINS + 36;
    assert_eq!(raw[recv_index_at..recv_index_at + 4], (d + 1).to_be_bytes());
    raw[recv_index_at..recv_index_at + 4].copy_from_slice(&(d + 2).to_be_bytes());
    assert_eq!(
        SpqrState::deserialize(&raw).err(),
        Some(DecodeError::Malformed)
    );
}

#[test]
fn debug_prints_no_key_material() {
    let (mut a, _) = pair();
    let (_, k) = send1(&mut a);
    assert_eq!(format!("{k:?}"), "MessageKey(..)");
    let s = format!("{a:?}");
    assert_eq!(
        s,
        "SpqrState { head: SpqrHead { role: Initiator, epoch: 1, braid_state: Some(2), \
         send_index: 1, recv_index: 0, .. }, skipped: 0 }"
    );
}

// ---- known answers from libsignal-client (tests/vectors/spqr.json) ----

mod vectors {
    use alloc::string::String;
    use alloc::vec::Vec;

    use serde_json::Value;

    use super::super::*;
    use crate::crypto::{aes_cbc, kdf};

    const JSON: &str = include_str!("../../../tests/vectors/spqr.json");

    fn h(v: &Value) -> Vec<u8> {
        hex::decode(v.as_str().unwrap()).unwrap()
    }

    fn h32(v: &Value) -> [u8; 32] {
        h(v).try_into().unwrap()
    }

    /// Protobuf field 4 (ciphertext) of `version ‖ SignalMessage ‖ mac`.
    fn ciphertext(msg: &[u8]) -> Vec<u8> {
        let body = &msg[1..msg.len() - 8];
        let mut i = 0;
        let varint = |i: &mut usize| {
            let mut v = 0u64;
            for s in 0.. {
                let b = body[*i];
                *i += 1;
                v |= u64::from(b & 0x7f) << (7 * s);
                if b & 0x80 == 0 {
                    break;
                }
            }
            v
        };
        while i < body.len() {
            let key = varint(&mut i);
            match key & 7 {
                0 => {
                    varint(&mut i);
                }
                2 => {
                    let len = varint(&mut i) as usize;
                    if key >> 3 == 4 {
                        return body[i..i + len].to_vec();
                    }
                    i += len;
                }
                t => panic!("wire type {t}"),
            }
        }
        panic!("no ciphertext")
    }

    /// The closing step: SPQR key as salt → message keys → MAC and plaintext of the real message.
    fn check_message(ev: &Value, spqr_key: &[u8; 32], sender: &[u8], receiver: &[u8]) {
        let Some(seed) = ev.get("dr_seed") else {
            return;
        };
        let keys = kdf::hkdf::<80>(Some(spqr_key), &h(seed), &[b"WhisperMessageKeys"]);
        assert_eq!(keys.to_vec(), h(&ev["message_keys"]));
        let msg = h(&ev["signal_message"]);
        let mac = kdf::hmac(&keys[32..64], &[sender, receiver, &msg[..msg.len() - 8]]);
        assert_eq!(mac[..8], msg[msg.len() - 8..], "MAC");
        let aes: [u8; 32] = keys[..32].try_into().unwrap();
        let iv: [u8; 16] = keys[64..].try_into().unwrap();
        let plain = aes_cbc::decrypt(&aes, &iv, &ciphertext(&msg)).unwrap();
        assert_eq!(
            String::from_utf8(plain).unwrap(),
            ev["plaintext"].as_str().unwrap()
        );
    }

    #[test]
    fn libsignal_sessions() {
        let doc: Value = serde_json::from_str(JSON).unwrap();
        let sessions = doc["sessions"].as_array().unwrap();
        assert_eq!(sessions.len(), 2);
        for s in sessions {
            let role = match s["missive_role"].as_str().unwrap() {
                "initiator" => Role::Initiator,
                _ => Role::Responder,
            };
            let auth = h32(&s["auth_key"]);
            let missive_id = h(&s["missive_identity"]);
            let peer_id = h(&s["peer_identity"]);
            // missive did not braid when these were recorded: it sent None.
            let mut state = SpqrState::without_braid(&auth, role);
            assert_eq!(state.head.next_root, h32(&s["chain_start"]["next_root"]));
            let (ours, theirs) = match role {
                Role::Initiator => ("a_to_b", "b_to_a"),
                Role::Responder => ("b_to_a", "a_to_b"),
            };
            assert_eq!(state.head.send.key, h32(&s["chain_start"][ours]));
            assert_eq!(state.head.recv.key, h32(&s["chain_start"][theirs]));

            let events = s["events"].as_array().unwrap();
            // What missive sent, in sending order (= index order): fields must match byte for byte.
            let mut sent: Vec<&Value> = events.iter().filter(|e| e["from"] == "missive").collect();
            sent.sort_by_key(|e| e["index"].as_u64().unwrap());
            let mut next = 1;
            for ev in sent {
                let index = ev["index"].as_u64().unwrap();
                let (field, key) = loop {
                    let (field, key) = state.send(&mut super::rng()).unwrap();
                    if next == index {
                        break (field, key);
                    }
                    next += 1;
                };
                next += 1;
                assert_eq!(field, h(&ev["field"]), "missive field {index}");
                assert_eq!(key.as_bytes(), &h32(&ev["spqr_key"]), "missive key {index}");
                check_message(ev, key.as_bytes(), &missive_id, &peer_id);
            }
            // What the peer sent, in delivery order.
            let mut received = 0;
            for ev in events.iter().filter(|e| e["from"] == "peer") {
                let field = h(&ev["field"]);
                let header = parse(&field).unwrap();
                assert_eq!(
                    (header.epoch, u64::from(header.index)),
                    (1, ev["index"].as_u64().unwrap())
                );
                assert_eq!(
                    u64::from(header.msg_type.to_byte()),
                    ev["peer_type"].as_u64().unwrap()
                );
                let key = state.recv(&field).unwrap();
                assert_eq!(
                    key.as_bytes(),
                    &h32(&ev["spqr_key"]),
                    "peer key {}",
                    header.index
                );
                check_message(ev, key.as_bytes(), &peer_id, &missive_id);
                received += 1;
            }
            assert!(received >= 15, "{received} peer messages");
        }
    }
}

#[test]
fn stored_keys_fit_only_a_delta_that_applies() {
    use crate::ratchet::skipped::{KeysDelta, keys_at};
    let mut keys = SpqrKeys::default();
    assert!(keys.push(1, 3, &[3; 32]));
    let delta = |epoch: u64, consumed: Option<u32>, added: &[u32]| SpqrDelta {
        epoch,
        keys: KeysDelta {
            consumed,
            added: keys_at(added.iter().copied()),
            drop_below: None,
        },
        evicted: None,
    };
    assert!(keys.fits(&delta(1, Some(3), &[])));
    assert!(!keys.fits(&delta(1, Some(4), &[])), "no such key");
    assert!(keys.fits(&delta(1, None, &[4, 5])));
    assert!(!keys.fits(&delta(1, None, &[3])), "not above the stored");
    // An epoch without stored keys: nothing to consume there, anything to add.
    assert!(!keys.fits(&delta(2, Some(3), &[])));
    assert!(keys.fits(&delta(2, None, &[1])));
}

#[test]
fn an_in_order_message_changes_no_stored_key() {
    // The next message in order, with the oldest stored key exactly at the window's
    // edge: nothing to add and nothing to drop, so the store has nothing to write.
    let d = MAX_SKIPPED_DISTANCE as usize;
    let (mut a, mut b) = pair();
    let sent = send_n(&mut a, d + 1);
    b.recv(&sent[d - 1].0).unwrap();
    assert_eq!(b.skipped.get(1).map(SkippedKeys::first), Some(Some(1)));
    let plan = b.head.plan_recv(&sent[d].0, &b.skipped, false).unwrap();
    let mut head = b.head.clone();
    let (key, delta) = head.stage_recv(&plan, &b.skipped).unwrap();
    assert_eq!(key.as_bytes(), &sent[d].1);
    assert!(delta.keys.is_empty(), "{:?}", delta.keys);
    // One further, the key at the edge falls out of the window.
    b.recv(&sent[d].0).unwrap();
    let (field, _) = send1(&mut a);
    let plan = b.head.plan_recv(&field, &b.skipped, false).unwrap();
    let (_, delta) = b.head.clone().stage_recv(&plan, &b.skipped).unwrap();
    assert_eq!(delta.keys.drop_below, Some(2));
}

#[test]
fn deserialize_refuses_epoch_0_and_the_last_epoch_first() {
    // Checked before the braid is read: neither epoch can be reached (epochs start at 1,
    // and the next epoch's number must exist).
    let (_, b) = pair();
    let good = bytes(&b);
    for epoch in [0, u64::MAX] {
        let mut v = good.clone();
        v[66..74].copy_from_slice(&epoch.to_be_bytes());
        assert_eq!(
            SpqrState::deserialize(&v).err(),
            Some(DecodeError::Malformed),
            "epoch {epoch}"
        );
    }
}

#[test]
fn reader_takes_up_to_exactly_what_is_left() {
    let bytes = [1u8, 2, 3];
    let mut r = Reader { rest: &bytes };
    assert_eq!(r.take(0), Ok(&[][..]));
    assert_eq!(r.take(2), Ok(&[1u8, 2][..]));
    assert_eq!(r.take(2), Err(DecodeError::Truncated));
    assert_eq!(r.take(1), Ok(&[3u8][..]));
    assert_eq!(r.take(1), Err(DecodeError::Truncated));
    assert_eq!(r.take(0), Ok(&[][..]));
}
