//! Every bound at its limit and one past it; each rejection leaves the record unchanged.

mod common;
use common::*;
use missive::*;

fn pair(seed: u64) -> (Party, Party, rand_chacha::ChaCha20Rng) {
    let mut rng = rng(seed);
    let mut alice = Party::new("9d0652a3-dcc3-4d11-975f-74d61598733f", 1, &mut rng);
    let mut bob = Party::new("5e4f7f2c-3a6b-4c1d-9e8f-0a1b2c3d4e5f", 1, &mut rng);
    let bundle = bob.bundle(true, false, &mut rng);
    let b = bob.address.clone();
    alice.start_session(&bundle, &b, &mut rng);
    (alice, bob, rng)
}

fn expect_err(
    party: &mut Party,
    from: &ProtocolAddress,
    msg: &CiphertextMessage,
    rng: &mut rand_chacha::ChaCha20Rng,
    want: ProtocolError,
) {
    let before = party.record_bytes(from);
    assert_eq!(
        party.decrypt(from, msg, rng).unwrap_err(),
        Error::Protocol(want)
    );
    assert_eq!(
        before,
        party.record_bytes(from),
        "record changed by a failed decrypt"
    );
}

/// The Double Ratchet's bound: a v3 session has no SPQR chain, so it is the only one.
#[test]
fn forward_jump_limit_double_ratchet() {
    forward_jump(true, 0);
}

/// In v4 the SPQR chain enforces the same 25,000 on its own index, which counts across
/// Double Ratchet chains; after one message on an earlier chain it runs ahead of the
/// counter and binds first (libsignal-client behaves the same: see interop/OBSERVED.md).
#[test]
fn forward_jump_limit_spqr() {
    forward_jump(false, 1);
}

fn forward_jump(v3: bool, spqr_lead: u32) {
    assert_eq!(MAX_FORWARD_JUMP, 25_000);
    let mut rng = rng(1);
    let mut alice = Party::new("9d0652a3-dcc3-4d11-975f-74d61598733f", 1, &mut rng);
    let mut bob = Party::new("5e4f7f2c-3a6b-4c1d-9e8f-0a1b2c3d4e5f", 1, &mut rng);
    let (a, b) = (alice.address.clone(), bob.address.clone());
    let bundle = bob.bundle(true, v3, &mut rng);
    alice.start_session(&bundle, &b, &mut rng);
    let first = alice.encrypt(&b, b"first", &mut rng);
    bob.decrypt(&a, &first, &mut rng).unwrap();
    let reply = bob.encrypt(&a, b"ack", &mut rng);
    alice.decrypt(&b, &reply, &mut rng).unwrap();
    // Bob expects counter 0 of Alice's new chain (and SPQR index 2).
    let limit = MAX_FORWARD_JUMP - spqr_lead;
    let mut msgs = Vec::new();
    for i in 0..=limit + 1 {
        msgs.push(alice.encrypt(&b, format!("{i}").as_bytes(), &mut rng));
    }
    let past = msgs.pop().unwrap();
    let at = msgs.pop().unwrap();
    expect_err(&mut bob, &a, &past, &mut rng, ProtocolError::TooFarInFuture);
    assert_eq!(
        bob.decrypt(&a, &at, &mut rng).unwrap(),
        format!("{limit}").as_bytes()
    );
    // Now the one that was past the limit is one step ahead.
    assert_eq!(
        bob.decrypt(&a, &past, &mut rng).unwrap(),
        format!("{}", limit + 1).as_bytes()
    );
}

#[test]
fn skipped_keys_limit() {
    assert_eq!(MAX_SKIPPED_KEYS_PER_CHAIN, 2_000);
    for extra in [0u32, 1] {
        let (mut alice, mut bob, mut rng) = pair(2 + u64::from(extra));
        let (a, b) = (alice.address.clone(), bob.address.clone());
        let first = alice.encrypt(&b, b"first", &mut rng);
        bob.decrypt(&a, &first, &mut rng).unwrap();
        let reply = bob.encrypt(&a, b"ack", &mut rng);
        alice.decrypt(&b, &reply, &mut rng).unwrap();
        let n = MAX_SKIPPED_KEYS_PER_CHAIN as u32 + extra;
        let mut msgs = Vec::new();
        for i in 0..=n {
            msgs.push(alice.encrypt(&b, format!("{i}").as_bytes(), &mut rng));
        }
        // Deliver the last: skips counters 0..n, i.e. n keys.
        bob.decrypt(&a, &msgs[n as usize], &mut rng).unwrap();
        if extra == 0 {
            // Exactly at the limit: the oldest skipped key is still there.
            assert_eq!(bob.decrypt(&a, &msgs[0], &mut rng).unwrap(), b"0");
        } else {
            // One past: the oldest was dropped, the next oldest is kept.
            expect_err(
                &mut bob,
                &a,
                &msgs[0],
                &mut rng,
                ProtocolError::DuplicateMessage,
            );
            assert_eq!(bob.decrypt(&a, &msgs[1], &mut rng).unwrap(), b"1");
        }
    }
}

#[test]
fn receiver_chain_limit() {
    assert_eq!(MAX_RECEIVER_CHAINS, 5);
    let (mut alice, mut bob, mut rng) = pair(4);
    let (a, b) = (alice.address.clone(), bob.address.clone());
    let first = alice.encrypt(&b, b"first", &mut rng);
    bob.decrypt(&a, &first, &mut rng).unwrap();
    // Each round trip gives Bob one new receiving chain of Alice's; keep a late message
    // from each chain.
    let mut late = Vec::new();
    for round in 0..=MAX_RECEIVER_CHAINS {
        let r = bob.encrypt(&a, b"ping", &mut rng);
        alice.decrypt(&b, &r, &mut rng).unwrap();
        let kept = alice.encrypt(&b, format!("late {round}").as_bytes(), &mut rng);
        let m = alice.encrypt(&b, b"pong", &mut rng);
        bob.decrypt(&a, &m, &mut rng).unwrap();
        late.push(kept);
    }
    // Bob has seen 1 + 6 of Alice's chains; the 5 newest are kept. The late message of
    // round 0 is on a chain one past the limit; round 1's is at the limit.
    expect_err(
        &mut bob,
        &a,
        &late[0],
        &mut rng,
        ProtocolError::DecryptionFailed,
    );
    assert_eq!(bob.decrypt(&a, &late[1], &mut rng).unwrap(), b"late 1");
}

#[test]
fn archived_session_limit() {
    assert_eq!(DEFAULT_MAX_ARCHIVED_SESSIONS, 40);
    for extra in [0usize, 1] {
        let mut rng = rng(5 + extra as u64);
        let mut alice = Party::new("9d0652a3-dcc3-4d11-975f-74d61598733f", 1, &mut rng);
        let mut bob = Party::new("5e4f7f2c-3a6b-4c1d-9e8f-0a1b2c3d4e5f", 1, &mut rng);
        let (a, b) = (alice.address.clone(), bob.address.clone());
        // Alice starts 41 (+1) sessions; Bob accepts each one's first message.
        let mut bob_side = Vec::new();
        for _ in 0..=DEFAULT_MAX_ARCHIVED_SESSIONS + extra {
            let bundle = bob.bundle(true, false, &mut rng);
            alice.start_session(&bundle, &b, &mut rng);
            let m = alice.encrypt(&b, b"hi", &mut rng);
            bob.decrypt(&a, &m, &mut rng).unwrap();
            // Bob's reply on this session, delivered later.
            bob_side.push(bob.encrypt(&a, b"reply to the oldest", &mut rng));
        }
        let oldest = &bob_side[0];
        if extra == 0 {
            assert_eq!(
                alice.decrypt(&b, oldest, &mut rng).unwrap(),
                b"reply to the oldest"
            );
        } else {
            expect_err(
                &mut alice,
                &b,
                oldest,
                &mut rng,
                ProtocolError::DecryptionFailed,
            );
            assert_eq!(
                alice.decrypt(&b, &bob_side[1], &mut rng).unwrap(),
                b"reply to the oldest"
            );
        }
    }
}

#[test]
fn unacknowledged_session_age_limit() {
    let (mut alice, bob, mut rng) = pair(8);
    let b = bob.address.clone();
    let at = Timestamp::from_millis(NOW.as_millis() + MAX_UNACKNOWLEDGED_SESSION_AGE_MS);
    let past = Timestamp::from_millis(at.as_millis() + 1);
    let before = alice.record_bytes(&b);
    let err = encrypt(
        b"late",
        &b,
        &alice.address.clone(),
        &mut alice.store.session_store,
        &mut alice.store.identity_store,
        past,
        &mut rng,
    )
    .unwrap_err();
    assert_eq!(err, Error::Protocol(ProtocolError::SessionExpired));
    assert_eq!(before, alice.record_bytes(&b));
    encrypt(
        b"in time",
        &b,
        &alice.address.clone(),
        &mut alice.store.session_store,
        &mut alice.store.identity_store,
        at,
        &mut rng,
    )
    .unwrap();
}
