//! Every bound at its limit and one past it; each rejection leaves the store unchanged.

mod common;
use common::*;
use missive::*;

const ALICE: &str = "9d0652a3-dcc3-4d11-975f-74d61598733f";
const BOB: &str = "5e4f7f2c-3a6b-4c1d-9e8f-0a1b2c3d4e5f";

fn pair(seed: u64) -> (Dev, Dev, rand_chacha::ChaCha20Rng) {
    let mut rng = rng(seed);
    let mut alice = device(ALICE, 1, &mut rng);
    let mut bob = device(BOB, 1, &mut rng);
    establish(&mut alice, &mut bob, true, false, &mut rng);
    (alice, bob, rng)
}

fn expect_err(
    dev: &mut Dev,
    from: &ProtocolAddress,
    msg: &CiphertextMessage,
    rng: &mut rand_chacha::ChaCha20Rng,
    want: ProtocolError,
) {
    let before = snapshot(dev, &[from]);
    assert_eq!(
        recv(dev, from, msg, rng).unwrap_err(),
        Error::Protocol(want)
    );
    assert_eq!(
        before,
        snapshot(dev, &[from]),
        "store changed by a failed decrypt"
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
    let new = if v3 { legacy_device } else { device };
    let mut alice = new(ALICE, 1, &mut rng);
    let mut bob = new(BOB, 1, &mut rng);
    let (a, b) = (alice.address().clone(), bob.address().clone());
    establish(&mut alice, &mut bob, true, v3, &mut rng);
    let first = send(&mut alice, &b, b"first", &mut rng);
    recv(&mut bob, &a, &first, &mut rng).unwrap();
    let reply = send(&mut bob, &a, b"ack", &mut rng);
    recv(&mut alice, &b, &reply, &mut rng).unwrap();
    // Bob expects counter 0 of Alice's new chain (and SPQR index 2).
    let limit = MAX_FORWARD_JUMP - spqr_lead;
    let mut msgs = Vec::new();
    for i in 0..=limit + 1 {
        msgs.push(send(&mut alice, &b, format!("{i}").as_bytes(), &mut rng));
    }
    let past = msgs.pop().unwrap();
    let at = msgs.pop().unwrap();
    expect_err(&mut bob, &a, &past, &mut rng, ProtocolError::TooFarInFuture);
    assert_eq!(
        recv(&mut bob, &a, &at, &mut rng).unwrap(),
        format!("{limit}").as_bytes()
    );
    // Now the one that was past the limit is one step ahead.
    assert_eq!(
        recv(&mut bob, &a, &past, &mut rng).unwrap(),
        format!("{}", limit + 1).as_bytes()
    );
}

#[test]
fn skipped_keys_limit() {
    assert_eq!(MAX_SKIPPED_KEYS_PER_CHAIN, 2_000);
    for extra in [0u32, 1] {
        let (mut alice, mut bob, mut rng) = pair(2 + u64::from(extra));
        let (a, b) = (alice.address().clone(), bob.address().clone());
        let first = send(&mut alice, &b, b"first", &mut rng);
        recv(&mut bob, &a, &first, &mut rng).unwrap();
        let reply = send(&mut bob, &a, b"ack", &mut rng);
        recv(&mut alice, &b, &reply, &mut rng).unwrap();
        let n = MAX_SKIPPED_KEYS_PER_CHAIN as u32 + extra;
        let mut msgs = Vec::new();
        for i in 0..=n {
            msgs.push(send(&mut alice, &b, format!("{i}").as_bytes(), &mut rng));
        }
        // Deliver the last: skips counters 0..n, i.e. n keys.
        recv(&mut bob, &a, &msgs[n as usize], &mut rng).unwrap();
        if extra == 0 {
            // Exactly at the limit: the oldest skipped key is still there.
            assert_eq!(recv(&mut bob, &a, &msgs[0], &mut rng).unwrap(), b"0");
        } else {
            // One past: the oldest was dropped, the next oldest is kept.
            expect_err(
                &mut bob,
                &a,
                &msgs[0],
                &mut rng,
                ProtocolError::DuplicateMessage,
            );
            assert_eq!(recv(&mut bob, &a, &msgs[1], &mut rng).unwrap(), b"1");
        }
    }
}

#[test]
fn receiver_chain_limit() {
    assert_eq!(MAX_RECEIVER_CHAINS, 5);
    let (mut alice, mut bob, mut rng) = pair(4);
    let (a, b) = (alice.address().clone(), bob.address().clone());
    let first = send(&mut alice, &b, b"first", &mut rng);
    recv(&mut bob, &a, &first, &mut rng).unwrap();
    // Each round trip gives Bob one new receiving chain of Alice's; keep a late message
    // from each chain.
    let mut late = Vec::new();
    for round in 0..=MAX_RECEIVER_CHAINS {
        let r = send(&mut bob, &a, b"ping", &mut rng);
        recv(&mut alice, &b, &r, &mut rng).unwrap();
        let kept = send(&mut alice, &b, format!("late {round}").as_bytes(), &mut rng);
        let m = send(&mut alice, &b, b"pong", &mut rng);
        recv(&mut bob, &a, &m, &mut rng).unwrap();
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
    assert_eq!(recv(&mut bob, &a, &late[1], &mut rng).unwrap(), b"late 1");
}

#[test]
fn archived_session_limit() {
    assert_eq!(DEFAULT_MAX_ARCHIVED_SESSIONS, 40);
    for extra in [0usize, 1] {
        let mut rng = rng(5 + extra as u64);
        let mut alice = device(ALICE, 1, &mut rng);
        let mut bob = device(BOB, 1, &mut rng);
        assert_eq!(
            alice.config().archived_sessions(),
            DEFAULT_MAX_ARCHIVED_SESSIONS
        );
        let (a, b) = (alice.address().clone(), bob.address().clone());
        // Alice starts 41 (+1) sessions; Bob accepts each one's first message.
        let mut bob_side = Vec::new();
        for _ in 0..=DEFAULT_MAX_ARCHIVED_SESSIONS + extra {
            establish(&mut alice, &mut bob, true, false, &mut rng);
            let m = send(&mut alice, &b, b"hi", &mut rng);
            recv(&mut bob, &a, &m, &mut rng).unwrap();
            // Bob's reply on this session, delivered later.
            bob_side.push(send(&mut bob, &a, b"reply to the oldest", &mut rng));
        }
        let oldest = &bob_side[0];
        if extra == 0 {
            assert_eq!(
                recv(&mut alice, &b, oldest, &mut rng).unwrap(),
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
                recv(&mut alice, &b, &bob_side[1], &mut rng).unwrap(),
                b"reply to the oldest"
            );
        }
    }
}

#[test]
fn unacknowledged_session_age_limit() {
    let (mut alice, bob, mut rng) = pair(8);
    let b = bob.address().clone();
    let at = Timestamp::from_millis(NOW.as_millis() + MAX_UNACKNOWLEDGED_SESSION_AGE_MS);
    let past = Timestamp::from_millis(at.as_millis() + 1);
    let before = snapshot(&alice, &[&b]);
    let err = alice.encrypt(&b, b"late", past, &mut rng).unwrap_err();
    assert_eq!(err, Error::Protocol(ProtocolError::SessionExpired));
    assert_eq!(before, snapshot(&alice, &[&b]));
    alice.encrypt(&b, b"in time", at, &mut rng).unwrap();
}

/// An honest message at the forward-jump limit on the *current* session, while an
/// archived session (which Alice used heavily before) is cheaper to try: the current
/// session is tried first, and the budget always covers its worst case
/// (`docs/PROTOCOL.md` §4.10, §4.13).
#[test]
fn budget_current_session_at_limit_with_cheaper_archived_session() {
    let mut rng = rng(30);
    let mut alice = device(ALICE, 1, &mut rng);
    let mut bob = device(BOB, 1, &mut rng);
    let (a, b) = (alice.address().clone(), bob.address().clone());
    // Session 1: Alice's SPQR index runs to about 20,000.
    establish(&mut alice, &mut bob, true, false, &mut rng);
    let m = send(&mut alice, &b, b"s1", &mut rng);
    recv(&mut bob, &a, &m, &mut rng).unwrap();
    let r = send(&mut bob, &a, b"ack", &mut rng);
    recv(&mut alice, &b, &r, &mut rng).unwrap();
    let last = (0..20_000)
        .map(|i| send(&mut alice, &b, format!("{i}").as_bytes(), &mut rng))
        .last();
    recv(&mut bob, &a, &last.unwrap(), &mut rng).unwrap();
    // Session 2 becomes current at Bob's; session 1 is archived.
    establish(&mut alice, &mut bob, true, false, &mut rng);
    let m = send(&mut alice, &b, b"s2", &mut rng);
    recv(&mut bob, &a, &m, &mut rng).unwrap();
    let r = send(&mut bob, &a, b"ack", &mut rng);
    recv(&mut alice, &b, &r, &mut rng).unwrap();
    // The same jump as forward_jump_limit_spqr's message at the limit.
    let limit = MAX_FORWARD_JUMP - 1;
    let at = (0..=limit)
        .map(|i| send(&mut alice, &b, format!("{i}").as_bytes(), &mut rng))
        .last()
        .unwrap();
    assert_eq!(
        recv(&mut bob, &a, &at, &mut rng).unwrap(),
        format!("{limit}").as_bytes()
    );
}

/// Bob started `sessions` sessions with Alice; Alice accepted only the first and answers
/// on it (an archived session at Bob's), Bob receiving only her `gap`-th message.
fn reply_on_archived_session(v3: bool, sessions: usize, gap: u32) -> Result<Vec<u8>, Error> {
    let mut rng = rng(31);
    let new = if v3 { legacy_device } else { device };
    let mut alice = new(ALICE, 1, &mut rng);
    let mut bob = new(BOB, 1, &mut rng);
    let (a, b) = (alice.address().clone(), bob.address().clone());
    establish(&mut bob, &mut alice, true, v3, &mut rng);
    let m = send(&mut bob, &a, b"hi", &mut rng);
    recv(&mut alice, &b, &m, &mut rng).unwrap();
    for _ in 1..sessions {
        establish(&mut bob, &mut alice, true, v3, &mut rng);
    }
    let last = (0..gap)
        .map(|i| send(&mut alice, &b, format!("{i}").as_bytes(), &mut rng))
        .last()
        .unwrap();
    recv(&mut bob, &a, &last, &mut rng)
}

/// A reply on an archived session after a few lost messages decrypts with a full archive.
#[test]
fn reply_on_archived_session_after_a_gap() {
    for v3 in [true, false] {
        let got = reply_on_archived_session(v3, DEFAULT_MAX_ARCHIVED_SESSIONS + 1, 100);
        assert_eq!(got.unwrap(), b"99", "v3 {v3}");
    }
}

/// The same after 3,000 lost messages on a new chain: every session tried before the
/// right one costs the same walk, so the message's one budget covers about ten of them
/// in v4 and thirty in v3 (`docs/PROTOCOL.md` §4.13). With a small archive the reply
/// decrypts; with a full one it is refused and nothing changes, where a bound per
/// session alone (libsignal's) would have let every session cost the full walk.
#[test]
fn reply_on_archived_session_after_a_long_gap_is_bounded_by_the_budget() {
    for v3 in [true, false] {
        let got = reply_on_archived_session(v3, 8, 3_000);
        assert_eq!(got.unwrap(), b"2999", "v3 {v3}, 8 sessions");
        let got = reply_on_archived_session(v3, DEFAULT_MAX_ARCHIVED_SESSIONS + 1, 3_000);
        assert_eq!(
            got.unwrap_err(),
            Error::Protocol(ProtocolError::DecryptionFailed),
            "v3 {v3}, 41 sessions"
        );
    }
}
