//! The ML-KEM braid inside sessions: bad braid data under a valid message MAC (an
//! authenticated peer misbehaving) is refused with every record byte-identical, and the
//! healing the braid gives after a compromise of the whole session state.

extern crate std;

use std::boxed::Box;
use std::vec::Vec;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::state::{SessionState, TAMPER_FIELD};
use crate::ratchet::spqr::{self, SpqrHeader, SpqrMsgType};
use crate::wire::proto::put_varint;
use crate::*;

use super::tests::{Dev, NOW, attempts, pair};

fn send(from: &mut Dev, to: &Dev, rng: &mut ChaCha20Rng) -> CiphertextMessage {
    from.encrypt(to.address(), b"braid", NOW, rng).unwrap()
}

fn recv(
    to: &mut Dev,
    from: &Dev,
    m: &CiphertextMessage,
    rng: &mut ChaCha20Rng,
) -> Result<Decrypted, Error> {
    to.decrypt(from.address(), m.message_type(), m.serialize(), rng)
}

/// The inner SignalMessage of either kind.
fn signal_message(m: &CiphertextMessage) -> SignalMessage {
    match m {
        CiphertextMessage::Whisper(s) => s.clone(),
        CiphertextMessage::PreKey(p) => p.message().clone(),
    }
}

fn field_of(m: &CiphertextMessage) -> SpqrHeader {
    spqr::parse(signal_message(m).pq_ratchet()).unwrap()
}

fn encode(h: &SpqrHeader) -> Vec<u8> {
    let mut f = std::vec![spqr::FIELD_VERSION];
    put_varint(&mut f, h.epoch);
    put_varint(&mut f, u64::from(h.index));
    f.push(h.msg_type.to_byte());
    if let Some(c) = &h.chunk {
        put_varint(&mut f, u64::from(c.index));
        f.extend_from_slice(&c.data);
    }
    f
}

/// Encrypts with the SPQR field rewritten by `g` before the MAC.
fn send_tampered(
    from: &mut Dev,
    to: &Dev,
    rng: &mut ChaCha20Rng,
    g: impl Fn(&mut SpqrHeader) + 'static,
) -> CiphertextMessage {
    TAMPER_FIELD.with(|t| {
        *t.borrow_mut() = Some(Box::new(move |f: &mut Vec<u8>| {
            let mut h = spqr::parse(f).unwrap();
            g(&mut h);
            *f = encode(&h);
        }))
    });
    let m = send(from, to, rng);
    TAMPER_FIELD.with(|t| *t.borrow_mut() = None);
    m
}

fn state<'a>(d: &'a Dev, remote: &Dev) -> &'a SessionState {
    d.store()
        .session_store
        .session(remote.address())
        .and_then(|r| r.current.as_deref())
        .unwrap()
}

fn braid_state(d: &Dev, remote: &Dev) -> u8 {
    state(d, remote)
        .head
        .spqr
        .as_ref()
        .and_then(|s| s.braid_state())
        .unwrap()
}

/// One message from Alice to Bob and one back, each delivered.
fn round_trip(alice: &mut Dev, bob: &mut Dev, rng: &mut ChaCha20Rng) {
    let m = send(alice, bob, rng);
    recv(bob, alice, &m, rng).unwrap();
    let m = send(bob, alice, rng);
    recv(alice, bob, &m, rng).unwrap();
}

/// Chunk index 0 again, with other bytes than the first time.
fn conflicting_chunk_zero(h: &mut SpqrHeader) {
    if let Some(c) = h.chunk.as_mut() {
        c.index = 0;
        c.data[5] ^= 0x20;
    }
}

/// The message is refused with `PqRatchet` and the receiver's store is byte-identical.
fn refused(to: &mut Dev, from: &Dev, m: &CiphertextMessage, rng: &mut ChaCha20Rng) {
    let before = to.store().snapshot();
    let r = recv(to, from, m, rng);
    assert_eq!(
        r.map(|_| ()),
        Err(Error::Protocol(ProtocolError::PqRatchet))
    );
    assert!(to.store().snapshot() == before, "records changed");
}

#[test]
fn bad_braid_data_under_a_valid_mac_is_refused_without_change() {
    let (mut alice, mut bob, mut rng) = pair(1);
    // Header chunk 0, in the prekey message; Bob answers (None: he waits for the header).
    let m0 = send(&mut alice, &bob, &mut rng);
    let chunk0 = field_of(&m0).chunk.unwrap();
    recv(&mut bob, &alice, &m0, &mut rng).unwrap();
    let r = send(&mut bob, &alice, &mut rng);
    recv(&mut alice, &bob, &r, &mut rng).unwrap();
    assert_eq!(braid_state(&bob, &alice), 6);

    // Chunk index 0 again with other bytes: refused at once.
    let m = send_tampered(&mut alice, &bob, &mut rng, conflicting_chunk_zero);
    refused(&mut bob, &alice, &m, &mut rng);
    // A future epoch (no exchange has completed): refused before any MAC work.
    let m = send_tampered(&mut alice, &bob, &mut rng, |h| h.epoch = 2);
    refused(&mut bob, &alice, &m, &mut rng);
    // The same chunk index with the same bytes (as after the u16 wrap): accepted, and
    // the braid does not move.
    let m = send_tampered(&mut alice, &bob, &mut rng, move |h| h.chunk = Some(chunk0));
    let braid = |d: &Dev| state(d, &alice).head.spqr.as_ref().unwrap().braid_bytes();
    let before = braid(&bob);
    recv(&mut bob, &alice, &m, &mut rng).unwrap();
    assert_eq!(braid(&bob), before);
    // Chunk 1, then a corrupted chunk that completes the header: its MAC fails.
    let m = send(&mut alice, &bob, &mut rng);
    recv(&mut bob, &alice, &m, &mut rng).unwrap();
    let m = send_tampered(&mut alice, &bob, &mut rng, |h| {
        if let Some(c) = h.chunk.as_mut() {
            c.data[31] ^= 1;
        }
    });
    refused(&mut bob, &alice, &m, &mut rng);
    assert_eq!(braid_state(&bob, &alice), 6);
    // The next honest chunk completes it.
    let m = send(&mut alice, &bob, &mut rng);
    assert_eq!(field_of(&m).msg_type, SpqrMsgType::Hdr);
    recv(&mut bob, &alice, &m, &mut rng).unwrap();
    assert_eq!(braid_state(&bob, &alice), 7);
    // And the conversation goes on to the next epoch.
    for _ in 0..60 {
        let m = send(&mut bob, &alice, &mut rng);
        recv(&mut alice, &bob, &m, &mut rng).unwrap();
        let m = send(&mut alice, &bob, &mut rng);
        recv(&mut bob, &alice, &m, &mut rng).unwrap();
    }
    assert!(state(&alice, &bob).head.spqr.as_ref().unwrap().epoch() >= 2);
}

/// The error of an archived session is discarded (docs/PROTOCOL.md §4.9): a message
/// that authenticates on Bob's archived session and then fails in the braid is refused
/// there with `PqRatchet` while the session is current, and as `DecryptionFailed` once it
/// is archived; either way the record is unchanged.
#[test]
fn an_archived_sessions_error_is_discarded() {
    let (mut alice, mut bob, mut rng) = pair(9);
    round_trip(&mut alice, &mut bob, &mut rng);
    let m = send_tampered(&mut alice, &bob, &mut rng, conflicting_chunk_zero);
    refused(&mut bob, &alice, &m, &mut rng);
    bob.archive_session(alice.address()).unwrap();
    let before = bob.store().snapshot();
    let n = attempts(|| {
        assert_eq!(
            recv(&mut bob, &alice, &m, &mut rng).map(|_| ()),
            Err(Error::Protocol(ProtocolError::DecryptionFailed))
        );
    });
    assert_eq!(n, 1, "tried on the archive");
    assert!(bob.store().snapshot() == before, "records changed");
}

/// Healing, shown. At message N an attacker copies Bob's whole session state (the
/// "compromise") and from then on learns every X25519 ratchet private key of both sides
/// and every message on the wire. With the classical ratchet alone that is enough to read
/// every later message: the attacker `classical`, given the SPQR keys, tracks the Double
/// Ratchet exactly (its root key equals Bob's after every step) and decrypts all of
/// Alice's messages. The attacker `pq`, who has only what the copy and the wire give it
/// for SPQR (it processes every field, runs the braid, and sends when Bob sends), reads
/// Alice's messages of the compromised epoch, and none of an epoch two or more after it:
/// the exchange after the compromise mixed in an ML-KEM secret it cannot compute.
#[test]
fn a_compromised_state_cannot_read_messages_after_the_next_epoch() {
    // Compromises in every phase of Bob's side of the exchanges (N round trips in: the
    // braid state Bob is in): waiting for the header (2: state 6), holding the
    // encapsulation randomness (3, 10: state 8; 35: state 10), having sent c2 (40: state
    // 11), holding his own decapsulation key (44: state 2; 65: 3; 80: 4; 84: 5).
    for (seed, round_trips) in [
        (2, 2),
        (3, 3),
        (4, 10),
        (5, 35),
        (6, 40),
        (7, 44),
        (8, 65),
        (9, 80),
        (10, 84),
    ] {
        healing(seed, round_trips);
    }
}

fn healing(seed: u64, round_trips: usize) {
    let (mut alice, mut bob, mut rng) = pair(seed);
    for _ in 0..round_trips {
        round_trip(&mut alice, &mut bob, &mut rng);
    }
    let compromised = state(&bob, &alice).clone();
    let epoch_n = compromised.head.spqr.as_ref().unwrap().epoch();
    let braid_state_n = compromised.head.spqr.as_ref().unwrap().braid_state();
    let mut classical = compromised.clone();
    let mut pq_head = (**compromised.head.spqr.as_ref().unwrap()).clone();
    let mut pq_keys = compromised.keys.spqr.clone();
    let mut attacker_rng = ChaCha20Rng::seed_from_u64(666);

    // (epoch of Alice's message, whether `pq` read it)
    let mut outcomes: Vec<(u64, bool)> = Vec::new();
    while outcomes.last().is_none_or(|&(e, _)| e < epoch_n + 4) {
        assert!(outcomes.len() < 600, "epochs do not advance");
        // Alice → Bob.
        let m = send(&mut alice, &bob, &mut rng);
        let sm = signal_message(&m);
        let epoch = field_of(&m).epoch;
        let bob_before = state(&bob, &alice).clone();
        recv(&mut bob, &alice, &m, &mut rng).unwrap();
        let real = state(&bob, &alice).clone();
        // The post-quantum attacker: the Double Ratchet as the classical attacker knows
        // it before this message, and its own SPQR state.
        let mut trial = classical.clone();
        trial.head.spqr = Some(Box::new(pq_head.clone()));
        trial.keys.spqr = pq_keys.clone();
        let read = trial
            .plan_decrypt(&sm)
            .and_then(|plan| trial.stage_decrypt(&sm, &plan, None));
        if let Ok(staged) = &read {
            assert_eq!(staged.plaintext, b"braid");
            if let Some(h) = staged.head.spqr.as_ref() {
                pq_head = (**h).clone();
            }
            pq_keys.apply(&staged.delta.spqr);
        }
        outcomes.push((epoch, read.is_ok()));
        // The classical attacker: its copy's Double Ratchet, Bob's real SPQR state as it
        // was before the message, and Bob's new ratchet key (whose private key is known).
        let mut c = classical.clone();
        c.head.spqr = bob_before.head.spqr.clone();
        c.keys.spqr = bob_before.keys.spqr.clone();
        let plan = c.plan_decrypt(&sm).unwrap();
        let staged = c
            .stage_decrypt(&sm, &plan, None)
            .unwrap()
            .finish_with(Some(real.head.sender.ratchet.clone()))
            .unwrap();
        assert_eq!(staged.plaintext, b"braid");
        c.head = staged.head;
        c.keys.apply(&staged.delta);
        assert_eq!(
            c.head.root_key.as_bytes(),
            real.head.root_key.as_bytes(),
            "the classical attacker tracks the Double Ratchet"
        );
        classical = c;

        // Bob → Alice: the attackers follow Bob's sending chain.
        let m = send(&mut bob, &alice, &mut rng);
        recv(&mut alice, &bob, &m, &mut rng).unwrap();
        let real = state(&bob, &alice).clone();
        let mut next = classical.clone();
        next.head.spqr = bob_spqr(&real);
        next.head
            .encrypt(b"braid", None, &mut attacker_rng)
            .unwrap();
        assert_eq!(
            next.head.sender.chain_key.key(),
            real.head.sender.chain_key.key(),
            "the classical attacker follows Bob's sending chain"
        );
        classical = next;
        classical.head.spqr = None;
        pq_head.send(&mut attacker_rng).unwrap();
    }

    let read_in = |lo: u64, hi: u64| {
        outcomes
            .iter()
            .filter(|(e, _)| (lo..=hi).contains(e))
            .map(|&(_, r)| r)
            .collect::<Vec<bool>>()
    };
    // The compromise is real: the messages of the compromised epoch are read (here also
    // most of the next one: at message N Bob held the randomness of the encapsulation in
    // progress, so the copy knows that exchange's secret).
    let same = read_in(epoch_n, epoch_n);
    assert!(
        same.iter().all(|&r| r),
        "N = {round_trips} round trips, Bob in braid state {braid_state_n:?}: {outcomes:?}"
    );
    assert!(outcomes.first().is_some_and(|&(e, r)| e == epoch_n && r));
    // Healed: nothing of epoch N + 2 or later (two whole epochs of messages here).
    let later = read_in(epoch_n + 2, u64::MAX);
    assert!(later.len() > 80, "{outcomes:?}");
    assert!(later.iter().all(|&r| !r), "{outcomes:?}");
}

fn bob_spqr(s: &SessionState) -> Option<Box<crate::ratchet::spqr::SpqrHead>> {
    s.head.spqr.clone()
}

/// Two late messages decrypted from the same record move neither chain's indices (their
/// keys were stored) but each moves the braid (a header chunk): the second change set,
/// computed before the first was committed, is refused rather than undoing the first's
/// braid step.
#[test]
fn a_change_from_a_head_whose_braid_moved_is_refused() {
    use crate::store::ProtocolStore;
    let (mut alice, mut bob, mut rng) = pair(3);
    round_trip(&mut alice, &mut bob, &mut rng);
    let late: Vec<CiphertextMessage> = (0..2).map(|_| send(&mut alice, &bob, &mut rng)).collect();
    let last = send(&mut alice, &bob, &mut rng);
    recv(&mut bob, &alice, &last, &mut rng).unwrap();
    let (a, local) = (alice.address().clone(), bob.address().clone());
    let changes: Vec<_> = late
        .iter()
        .map(|m| {
            let sm = signal_message(m);
            super::decrypt_signal_message(bob.store(), &local, &a, &sm, 40, &mut rng)
                .unwrap()
                .1
        })
        .collect();
    let [first, second] = <[_; 2]>::try_from(changes).ok().unwrap();
    bob.store_mut().commit(first).unwrap();
    let before = bob.store().snapshot();
    assert!(
        bob.store_mut().commit(second).is_err(),
        "a stale change applied"
    );
    assert!(bob.store().snapshot() == before);
    // Decrypted afresh, the second message still goes through.
    recv(&mut bob, &alice, &late[1], &mut rng).unwrap();
    assert_eq!(
        braid_state(&bob, &alice),
        7,
        "both chunks and the last one: the header"
    );
}
