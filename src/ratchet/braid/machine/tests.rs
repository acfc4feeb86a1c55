use alloc::vec::Vec;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::*;
use crate::ratchet::spqr::{Role, SpqrState, parse};

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// Strict ping-pong between two braiding states: the epoch advances every 87 messages,
/// as between two libsignal-client peers (docs/notes/spqr-braid.md §1.1).
#[test]
fn ping_pong_advances_one_epoch_per_87_messages() {
    let auth = [3u8; 32];
    let mut a = SpqrState::new(&auth, Role::Initiator);
    let mut b = SpqrState::new(&auth, Role::Responder);
    let mut r = rng(1);
    let mut epochs = Vec::new();
    for n in 1..=2000u32 {
        let (from, to) = if n % 2 == 1 {
            (&mut a, &mut b)
        } else {
            (&mut b, &mut a)
        };
        let (f, k) = from.send(&mut r).unwrap();
        let got = to.recv(&f).unwrap();
        assert_eq!(got.as_bytes(), k.as_bytes(), "message {n}");
        let e = parse(&f).unwrap().epoch;
        if epochs.last().is_none_or(|&(_, last)| last < e) {
            epochs.push((n, e));
        }
    }
    assert_eq!(epochs[1], (87, 2), "{epochs:?}");
    assert_eq!(epochs[2], (174, 3), "{epochs:?}");
    assert_eq!(epochs.last().unwrap().1, 23, "{epochs:?}");
}

/// One braid message from `s` to `r`, delivered at once. Returns (the state numbers of
/// `r` before and after, whether `recv_work` said heavy, whether `recv` returned a secret).
fn deliver(s: &mut Braid, r: &mut Braid, rng: &mut ChaCha20Rng) -> (u8, u8, bool, bool) {
    let epoch = s.epoch;
    let (msg_type, chunk, _) = s.send(rng).unwrap();
    let header = SpqrHeader {
        epoch,
        index: 1,
        msg_type,
        chunk,
    };
    if header.epoch == r.epoch + 1 {
        assert!(r.awaits_next_epoch(), "a later epoch only after our c2");
        r.enter_next_epoch();
    }
    let before = r.phase.number();
    let heavy = r.recv_work(&header) == RecvWork::Heavy;
    let secret = r.recv(&header).unwrap().is_some();
    (before, r.phase.number(), heavy, secret)
}

/// A braid's serialized state (with the epoch, which `serialize` leaves to the head).
fn bytes(b: &Braid) -> Vec<u8> {
    let mut out = b.epoch.to_be_bytes().to_vec();
    b.serialize(&mut out);
    out
}

/// Where a braid stands, in the order its stamp must grow: epoch, state, progress.
fn stand(b: &Braid) -> (u64, u8, u32) {
    let (state, progress) = b.progress();
    (b.epoch, state, progress)
}

/// Honest exchanges in order, `a_burst` messages from A for each `b_burst` from B, over
/// three epochs. At every message `recv_work` must say heavy exactly when the chunk
/// completes a value (a decode, a check, an ML-KEM step) or the acknowledgement starts
/// the second encapsulation, and every change of either braid must move its progress
/// forward (the stamp a store compares), while a braid left as it was keeps its stamp.
/// Returns the heavy transitions seen.
fn exchange(a_burst: usize, b_burst: usize, seed: u64) -> Vec<(u8, u8)> {
    let auth = [5u8; 32];
    let mut a = Braid::new(Role::Initiator, &auth);
    let mut b = Braid::new(Role::Responder, &auth);
    let mut r = rng(seed);
    let mut heavy_seen = Vec::new();
    let mut turn = 0u32;
    while a.epoch < 4 || b.epoch < 4 {
        turn += 1;
        assert!(turn < 5_000, "epoch 4 not reached");
        for (from_a, burst) in [(true, a_burst), (false, b_burst)] {
            for _ in 0..burst {
                let (s, rcv) = if from_a {
                    (&mut a, &mut b)
                } else {
                    (&mut b, &mut a)
                };
                let (s_before, s_bytes) = (stand(s), bytes(s));
                let (r_before, r_bytes) = (stand(rcv), bytes(rcv));
                let (before, after, heavy, secret) = deliver(s, rcv, &mut r);
                let completes = secret
                    || matches!(
                        (before, after),
                        (3, 4) | (6, 7) | (8, 9) | (8, 11) | (9, 11) | (10, 11)
                    );
                assert_eq!(heavy, completes, "state {before} -> {after}");
                if completes {
                    heavy_seen.push((before, after));
                }
                for (b, was, was_bytes) in [(&*s, s_before, s_bytes), (&*rcv, r_before, r_bytes)] {
                    if bytes(b) == was_bytes {
                        assert_eq!(stand(b), was, "unchanged braid, same stamp");
                    } else {
                        assert!(stand(b) > was, "{was:?} -> {:?}", stand(b));
                    }
                }
            }
        }
    }
    heavy_seen
}

#[test]
fn recv_work_is_heavy_exactly_when_a_value_completes_and_progress_grows() {
    let mut seen = Vec::new();
    for (a_burst, b_burst, seed) in [(1, 1, 1), (3, 1, 2), (1, 3, 3), (5, 2, 4)] {
        seen.extend(exchange(a_burst, b_burst, seed));
    }
    // Every heavy case of recv_work was met: c1, c2 (a secret, from state 5), the
    // header, Ek while c1 is unacknowledged or acknowledged, and the acknowledgement
    // that follows a complete Ek.
    for want in [(3, 4), (5, 6), (6, 7), (10, 11)] {
        assert!(seen.contains(&want), "{want:?} not met in {seen:?}");
    }
    assert!(
        seen.iter().any(|&t| t == (8, 9) || t == (8, 11)),
        "Ek completed in state 8 in none of {seen:?}"
    );
    assert!(seen.contains(&(9, 11)), "(9, 11) not met in {seen:?}");
}

/// A braid in state 8 (c1 being sent, Ek being collected), for the acknowledgement tests.
fn in_state_8() -> (Braid, ChaCha20Rng) {
    let auth = [6u8; 32];
    let mut a = Braid::new(Role::Initiator, &auth);
    let mut b = Braid::new(Role::Responder, &auth);
    let mut r = rng(7);
    while b.phase.number() < 7 {
        deliver(&mut a, &mut b, &mut r);
    }
    b.send(&mut r).unwrap();
    assert_eq!(b.phase.number(), 8);
    (b, r)
}

#[test]
fn a_chunkless_ct1_ack_moves_state_8_to_10_and_nothing_else_does() {
    let (b, _) = in_state_8();
    let ack = |msg_type| SpqrHeader {
        epoch: 1,
        index: 1,
        msg_type,
        chunk: None,
    };
    let mut acked = b.clone();
    assert!(acked.recv(&ack(SpqrMsgType::Ct1Ack)).unwrap().is_none());
    assert_eq!(acked.phase.number(), 10, "c1 acknowledged");
    for other in [SpqrMsgType::None, SpqrMsgType::Ek, SpqrMsgType::Ct2] {
        let mut c = b.clone();
        assert!(c.recv(&ack(other)).unwrap().is_none());
        assert_eq!(
            c.phase.number(),
            8,
            "{other:?} without a chunk changes nothing"
        );
    }
    // A chunkless acknowledgement of another epoch is ignored.
    let mut c = b.clone();
    let mut old = ack(SpqrMsgType::Ct1Ack);
    old.epoch = 0;
    assert!(c.recv(&old).unwrap().is_none());
    assert_eq!(c.phase.number(), 8);
}

#[test]
fn braid_debug_shows_epoch_and_state_only() {
    let (b, _) = in_state_8();
    assert_eq!(alloc::format!("{b:?}"), "Braid { epoch: 1, state: 8, .. }");
}
