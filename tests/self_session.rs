//! Sessions with oneself (two linked devices sharing one identity key): exempt from both
//! forward-jump bounds, as in libsignal-client 0.103 (`interop/tests/self_session.rs`),
//! but still bounded by the per-message work budget (`docs/PROTOCOL.md` §4.13). Each
//! bound at its limit and one past it; a refusal leaves the records byte-identical.

mod common;
use common::*;
use missive::session::{BRAID_STEP_COST, DH_STEP_COST, DR_STEP_COST, SPQR_STEP_COST};
use missive::store::memory::InMemSignalProtocolStore;
use missive::*;

const ME: &str = "9d0652a3-dcc3-4d11-975f-74d61598733f";

/// Two devices of `ME` with one identity key, a v4 session between them, and one round
/// trip: device 2 has received SPQR index 1 from device 1, and device 1's next message
/// starts a new chain.
fn linked_devices(seed: u64) -> (Dev, Dev, rand_chacha::ChaCha20Rng) {
    let mut rng = rng(seed);
    let mut one = device(ME, 1, &mut rng);
    let mut two = Device::new(
        ProtocolAddress::new(ME, 2),
        InMemSignalProtocolStore::new(identity(&one), 77),
    );
    let (a1, a2) = (one.address().clone(), two.address().clone());
    establish(&mut one, &mut two, true, false, &mut rng);
    let m = send(&mut one, &a2, b"first", &mut rng);
    recv(&mut two, &a1, &m, &mut rng).unwrap();
    let r = send(&mut two, &a1, b"ack", &mut rng);
    recv(&mut one, &a2, &r, &mut rng).unwrap();
    (one, two, rng)
}

fn refused_unchanged(
    dev: &mut Dev,
    from: &ProtocolAddress,
    msg: &CiphertextMessage,
    rng: &mut rand_chacha::ChaCha20Rng,
) {
    let before = snapshot(dev, &[from]);
    assert_eq!(
        recv(dev, from, msg, rng).unwrap_err(),
        Error::Protocol(ProtocolError::DecryptionFailed),
        "past the budget"
    );
    assert_eq!(
        before,
        snapshot(dev, &[from]),
        "a refusal changed the store"
    );
}

/// A jump on one new chain: counter `c` costs a DH step, `c + 1` chain steps and, the
/// SPQR index running one ahead of the counter, `c + 1` SPQR steps (no braid step: the
/// receiver holds one chunk of the three of the braid's header, so this one cannot
/// complete it). The longest that fits the budget is 31,686 (past the 25,000 that binds
/// other sessions).
#[test]
fn jump_on_one_chain_bounded_by_the_budget() {
    let per_message = DR_STEP_COST + SPQR_STEP_COST;
    let limit = (MESSAGE_WORK_BUDGET - DH_STEP_COST) / per_message - 1;
    assert_eq!(limit, 31_686, "docs/PROTOCOL.md §4.13 quotes this");
    let limit = u32::try_from(limit).unwrap();
    let (mut one, mut two, mut rng) = linked_devices(1);
    let (a1, a2) = (one.address().clone(), two.address().clone());
    let mut msgs: Vec<_> = (0..=limit + 1)
        .map(|i| send(&mut one, &a2, format!("{i}").as_bytes(), &mut rng))
        .collect();
    let past = msgs.pop().unwrap();
    let at = msgs.pop().unwrap();
    refused_unchanged(&mut two, &a1, &past, &mut rng);
    assert_eq!(
        recv(&mut two, &a1, &at, &mut rng).unwrap(),
        format!("{limit}").as_bytes()
    );
    assert_eq!(
        recv(&mut two, &a1, &past, &mut rng).unwrap(),
        format!("{}", limit + 1).as_bytes()
    );
    // A late one from inside the gap, from the stored keys.
    let late = msgs.pop().unwrap();
    assert_eq!(
        recv(&mut two, &a1, &late, &mut rng).unwrap(),
        format!("{}", limit - 1).as_bytes()
    );
}

/// An SPQR-only jump: `n − 1` messages lost on one chain, then a DH step, then counter 0
/// of the new chain at SPQR distance `n`: a DH step, one chain step and `n` SPQR steps.
/// Counter 0 also carries the third chunk of the braid's header (the receiver holds two),
/// so its plan is charged a braid step. The longest that fits is 47,019; counter 1 of the
/// same chain (distance `n + 1`, two chain steps) is past it until counter 0 has arrived.
#[test]
fn spqr_only_jump_bounded_by_the_budget() {
    let limit =
        (MESSAGE_WORK_BUDGET - DH_STEP_COST - DR_STEP_COST - BRAID_STEP_COST) / SPQR_STEP_COST;
    assert_eq!(limit, 47_019, "docs/PROTOCOL.md §4.13 quotes this");
    let limit = u32::try_from(limit).unwrap();
    let (mut one, mut two, mut rng) = linked_devices(2);
    let (a1, a2) = (one.address().clone(), two.address().clone());
    let known = send(&mut one, &a2, b"known chain", &mut rng);
    recv(&mut two, &a1, &known, &mut rng).unwrap();
    for i in 0..limit - 1 {
        send(&mut one, &a2, format!("lost {i}").as_bytes(), &mut rng);
    }
    let turn = send(&mut two, &a1, b"turn", &mut rng);
    recv(&mut one, &a2, &turn, &mut rng).unwrap();
    let at = send(&mut one, &a2, b"at", &mut rng);
    let past = send(&mut one, &a2, b"past", &mut rng);
    refused_unchanged(&mut two, &a1, &past, &mut rng);
    assert_eq!(recv(&mut two, &a1, &at, &mut rng).unwrap(), b"at");
    assert_eq!(recv(&mut two, &a1, &past, &mut rng).unwrap(), b"past");
}

/// The exemption is for sessions with oneself only: the same devices under two identity
/// keys keep the 25,000 bound of both chains (`tests/bounds.rs` has the limits).
#[test]
fn other_identities_keep_the_forward_bound() {
    let mut rng = rng(3);
    let mut one = device(ME, 1, &mut rng);
    let mut two = device(ME, 2, &mut rng);
    let (a1, a2) = (one.address().clone(), two.address().clone());
    establish(&mut one, &mut two, true, false, &mut rng);
    let m = send(&mut one, &a2, b"first", &mut rng);
    recv(&mut two, &a1, &m, &mut rng).unwrap();
    let past = (0..=MAX_FORWARD_JUMP)
        .map(|i| send(&mut one, &a2, format!("{i}").as_bytes(), &mut rng))
        .last()
        .unwrap();
    let before = snapshot(&two, &[&a1]);
    assert_eq!(
        recv(&mut two, &a1, &past, &mut rng).unwrap_err(),
        Error::Protocol(ProtocolError::TooFarInFuture)
    );
    assert_eq!(before, snapshot(&two, &[&a1]));
}
