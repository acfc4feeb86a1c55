//! Every sender-key bound at the limit and one past it, through the public API.

mod group_common;

use group_common::*;
use missive::*;

/// Bob, holding chain `c` of alice's (sent over their 1:1 session).
fn receiver(c: &Crafted) -> (Member, ProtocolAddress) {
    crafted_receiver(c, 1)
}

fn err(e: ProtocolError) -> Result<Vec<u8>, Error> {
    Err(Error::Protocol(e))
}

#[test]
fn forward_jump_at_and_past_the_limit() {
    assert_eq!(MAX_SENDER_KEY_FORWARD_JUMP, 25_000);
    for in_use in [false, true] {
        let mut c = Crafted::new(1, 0, 1);
        let (mut bob, a) = receiver(&c);
        let next = u32::from(in_use);
        if in_use {
            let m = c.message(0, b"first");
            bob.recv_bytes(&a, &m).unwrap();
        }
        let before = bob.record(&a, GROUP);
        let past = c.message(next + MAX_SENDER_KEY_FORWARD_JUMP + 1, b"past");
        assert_eq!(
            bob.recv_bytes(&a, &past),
            err(ProtocolError::TooFarInFuture)
        );
        assert_eq!(
            bob.record(&a, GROUP),
            before,
            "refused jump changed the record"
        );
        let at = c.message(next + MAX_SENDER_KEY_FORWARD_JUMP, b"at");
        assert_eq!(bob.recv_bytes(&a, &at).unwrap(), b"at");
        // Once there, the refused one is within reach.
        assert_eq!(bob.recv_bytes(&a, &past).unwrap(), b"past");
    }
}

#[test]
fn stored_keys_at_and_past_the_limit() {
    assert_eq!(MAX_SENDER_MESSAGE_KEYS, 2_000);
    let max = MAX_SENDER_MESSAGE_KEYS as u32;
    // Skipping exactly 2,000 iterations keeps all their keys.
    let mut c = Crafted::new(2, 0, 2);
    let (mut bob, a) = receiver(&c);
    let m = c.message(max, b"jump");
    bob.recv_bytes(&a, &m).unwrap();
    let m = c.message(0, b"oldest kept");
    assert_eq!(bob.recv_bytes(&a, &m).unwrap(), b"oldest kept");
    // One more and the oldest is gone.
    let mut c = Crafted::new(3, 0, 3);
    let (mut bob, a) = receiver(&c);
    let m = c.message(max + 1, b"jump");
    bob.recv_bytes(&a, &m).unwrap();
    let m0 = c.message(0, b"dropped");
    let before = bob.record(&a, GROUP);
    assert_eq!(
        bob.recv_bytes(&a, &m0),
        err(ProtocolError::DuplicateMessage)
    );
    assert_eq!(bob.record(&a, GROUP), before);
    let m1 = c.message(1, b"kept");
    assert_eq!(bob.recv_bytes(&a, &m1).unwrap(), b"kept");
    // The newest 2,000 stored keys are kept, counted across jumps (not a window of
    // iterations), as libsignal does.
    let mut c = Crafted::new(4, 0, 4);
    let (mut bob, a) = receiver(&c);
    for n in [1500, 3001] {
        let m = c.message(n, b"jump");
        bob.recv_bytes(&a, &m).unwrap();
    }
    let m = c.message(999, b"x");
    assert_eq!(bob.recv_bytes(&a, &m), err(ProtocolError::DuplicateMessage));
    for n in [1000, 1499, 1501, 3000] {
        let m = c.message(n, b"y");
        assert_eq!(bob.recv_bytes(&a, &m).unwrap(), b"y", "iteration {n}");
    }
}

#[test]
fn states_at_and_past_the_limit() {
    assert_eq!(MAX_SENDER_KEY_STATES, 5);
    let (mut alice, mut bob) = connected("alice", "bob", 1);
    let a = alice.address.clone();
    let mut chains: Vec<Crafted> = (0..6).map(|i| Crafted::new(10 + i, 0, i.into())).collect();
    for c in &chains[..5] {
        carry(&mut alice, &mut bob, &c.distribution_bytes()).unwrap();
    }
    for c in chains.iter_mut().take(5) {
        let m = c.message(0, b"ok");
        assert_eq!(bob.recv_bytes(&a, &m).unwrap(), b"ok");
    }
    carry(&mut alice, &mut bob, &chains[5].distribution_bytes()).unwrap();
    let m = chains[0].message(1, b"evicted");
    assert_eq!(bob.recv_bytes(&a, &m), err(ProtocolError::NoSenderKeyState));
    for c in chains.iter_mut().skip(1) {
        let m = c.message(1, b"kept");
        assert_eq!(bob.recv_bytes(&a, &m).unwrap(), b"kept");
    }
}

#[test]
fn the_end_of_the_counter() {
    // Iteration 2^32 − 1 has no successor chain key: refused, as libsignal refuses it.
    let mut c = Crafted::new(5, u32::MAX - 2, 5);
    let (mut bob, a) = receiver(&c);
    for n in [u32::MAX - 2, u32::MAX - 1] {
        let m = c.message(n, b"fine");
        assert_eq!(bob.recv_bytes(&a, &m).unwrap(), b"fine");
    }
    let before = bob.record(&a, GROUP);
    let m = c.message(u32::MAX, b"no");
    assert_eq!(bob.recv_bytes(&a, &m), err(ProtocolError::TooFarInFuture));
    assert_eq!(bob.record(&a, GROUP), before);
    let mut c = Crafted::new(6, u32::MAX, 6);
    let (mut bob, a) = receiver(&c);
    let before = bob.record(&a, GROUP);
    let m = c.message(u32::MAX, b"no");
    assert_eq!(bob.recv_bytes(&a, &m), err(ProtocolError::TooFarInFuture));
    assert_eq!(bob.record(&a, GROUP), before);
}

#[test]
fn chain_ids_and_iterations_are_u32() {
    // Any u32 chain id works (libsignal draws 31-bit ones but accepts the rest).
    for id in [0, 1 << 31, u32::MAX] {
        let mut c = Crafted::new(id, 0, 7);
        let (mut bob, a) = receiver(&c);
        let m = c.message(0, b"id");
        assert_eq!(bob.recv_bytes(&a, &m).unwrap(), b"id");
    }
    // Past u32: refused (libsignal truncates such varints to 32 bits instead).
    let c = Crafted::new(0, 0, 8);
    let mut bytes = vec![0x33];
    put_bytes(&mut bytes, 1, GROUP.as_bytes());
    put_uint(&mut bytes, 2, 1 << 32);
    put_uint(&mut bytes, 3, 0);
    put_bytes(&mut bytes, 4, &c.chain_key);
    put_bytes(&mut bytes, 5, &c.signing.public_key().serialize());
    assert_eq!(
        SenderKeyDistributionMessage::deserialize(&bytes).err(),
        Some(DecodeError::BadLength)
    );
}
