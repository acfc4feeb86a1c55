//! Every 1-bit flip and every truncation of each message kind is rejected, and every
//! record is byte-identical afterwards; then the honest message still decrypts.

mod common;
use common::*;
use missive::*;

fn setup(v3: bool, seed: u64) -> (Dev, Dev, rand_chacha::ChaCha20Rng) {
    let mut rng = rng(seed);
    let new = if v3 { legacy_device } else { device };
    let mut alice = new("9d0652a3-dcc3-4d11-975f-74d61598733f", 1, &mut rng);
    let mut bob = new("5e4f7f2c-3a6b-4c1d-9e8f-0a1b2c3d4e5f", 1, &mut rng);
    establish(&mut alice, &mut bob, true, v3, &mut rng);
    (alice, bob, rng)
}

/// Flips every bit and tries every truncation of `bytes`; `undetectable` names bytes
/// whose flip the protocol cannot detect (skipped here, checked by the caller).
fn hammer(
    receiver: &mut Dev,
    from: &ProtocolAddress,
    kind: CiphertextMessageType,
    bytes: &[u8],
    rng: &mut rand_chacha::ChaCha20Rng,
    undetectable: &std::ops::Range<usize>,
) -> usize {
    let before = snapshot(receiver, &[from]);
    let mut rejected = 0;
    for bit in 0..bytes.len() * 8 {
        let mut t = bytes.to_vec();
        t[bit / 8] ^= 1 << (bit % 8);
        if undetectable.contains(&(bit / 8)) {
            continue;
        }
        let r = recv_bytes(receiver, from, kind, &t, rng);
        assert!(r.is_err(), "flip of bit {bit} accepted");
        assert_eq!(
            before,
            snapshot(receiver, &[from]),
            "flip of bit {bit} changed state"
        );
        rejected += 1;
    }
    for len in 0..bytes.len() {
        let r = recv_bytes(receiver, from, kind, &bytes[..len], rng);
        assert!(r.is_err(), "truncation to {len} accepted");
        assert_eq!(
            before,
            snapshot(receiver, &[from]),
            "truncation to {len} changed state"
        );
        rejected += 1;
    }
    rejected
}

fn run(v3: bool, seed: u64) {
    let (mut alice, mut bob, mut rng) = setup(v3, seed);
    let (a, b) = (alice.address().clone(), bob.address().clone());

    // PreKeySignalMessage.
    let m = send(&mut alice, &b, b"prekey message body", &mut rng);
    assert_eq!(m.message_type(), CiphertextMessageType::PreKey);
    let bytes = m.serialize().to_vec();
    // The registration id (field 5) is not authenticated by the protocol: a flip there
    // gives a session with a wrong remote registration id, in libsignal too.
    let reg = varint_field_range(&bytes[1..], 5).unwrap();
    let reg = reg.start + 1..reg.end + 1;
    let n = hammer(
        &mut bob,
        &a,
        CiphertextMessageType::PreKey,
        &bytes,
        &mut rng,
        &reg,
    );
    assert!(n > bytes.len() * 8);
    // Those flips decrypt to the same plaintext (on a throwaway copy of Bob).
    for bit in reg.start * 8..reg.end * 8 {
        let mut copy = Device::with_config(
            bob.address().clone(),
            bob.store().clone(),
            bob.config().clone(),
        );
        let mut t = bytes.clone();
        t[bit / 8] ^= 1 << (bit % 8);
        if let Ok(pt) = recv_bytes(&mut copy, &a, CiphertextMessageType::PreKey, &t, &mut rng) {
            assert_eq!(pt, b"prekey message body");
        }
    }
    assert_eq!(
        recv(&mut bob, &a, &m, &mut rng).unwrap(),
        b"prekey message body"
    );

    // SignalMessage.
    let r = send(&mut bob, &a, b"whisper body", &mut rng);
    assert_eq!(r.message_type(), CiphertextMessageType::Whisper);
    let bytes = r.serialize().to_vec();
    hammer(
        &mut alice,
        &b,
        CiphertextMessageType::Whisper,
        &bytes,
        &mut rng,
        &(0..0),
    );
    assert_eq!(recv(&mut alice, &b, &r, &mut rng).unwrap(), b"whisper body");

    // Replays of both, after they were accepted.
    let before = snapshot(&bob, &[&a]);
    assert!(recv(&mut bob, &a, &m, &mut rng).is_err());
    assert_eq!(before, snapshot(&bob, &[&a]));
    let before = snapshot(&alice, &[&b]);
    assert_eq!(
        recv(&mut alice, &b, &r, &mut rng).unwrap_err(),
        Error::Protocol(ProtocolError::DuplicateMessage)
    );
    assert_eq!(before, snapshot(&alice, &[&b]));
}

#[test]
fn v4_every_flip_and_truncation_rejected() {
    run(false, 21);
}

#[test]
fn v3_every_flip_and_truncation_rejected() {
    run(true, 22);
}

#[test]
fn garbage_never_panics() {
    let (_alice, mut bob, mut rng) = setup(false, 23);
    let a = ProtocolAddress::new("9d0652a3-dcc3-4d11-975f-74d61598733f", 1);
    use rand_core::Rng;
    let before = snapshot(&bob, &[&a]);
    for len in 0..300 {
        let mut buf = vec![0u8; len];
        rng.fill_bytes(&mut buf);
        if let Some(b) = buf.first_mut() {
            *b = 0x44;
        }
        assert!(recv_bytes(&mut bob, &a, CiphertextMessageType::PreKey, &buf, &mut rng).is_err());
        assert!(recv_bytes(&mut bob, &a, CiphertextMessageType::Whisper, &buf, &mut rng).is_err());
    }
    assert_eq!(before, snapshot(&bob, &[&a]));
}
