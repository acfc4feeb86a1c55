//! Sender-key groups through the public API: distribution, order, duplicates, states,
//! rotation, the sender's errors, and distribution over 1:1 sessions.

mod common;
mod group_common;

use group_common::*;
use missive::store::SenderKeyStore;
use missive::*;

fn pair() -> (Member, Member) {
    let mut alice = Member::new("alice", 1);
    let mut bob = Member::new("bob", 2);
    let d = alice.distribution(GROUP);
    bob.process(&alice.address.clone(), &d);
    (alice, bob)
}

#[test]
fn in_order_and_out_of_order() {
    let (mut alice, mut bob) = pair();
    let a = alice.address.clone();
    let msgs: Vec<_> = (0..10u8).map(|i| alice.send(GROUP, &[i; 20])).collect();
    for (i, m) in msgs.iter().enumerate() {
        assert_eq!(m.iteration(), i as u32);
        assert_eq!(m.serialized()[0], 0x33);
    }
    for i in [3usize, 0, 9, 1, 2, 8, 4, 7, 5, 6] {
        assert_eq!(bob.recv(&a, &msgs[i]).unwrap(), vec![i as u8; 20]);
    }
}

#[test]
fn duplicates_are_refused_and_change_nothing() {
    let (mut alice, mut bob) = pair();
    let a = alice.address.clone();
    let m0 = alice.send(GROUP, b"zero");
    let m1 = alice.send(GROUP, b"one");
    let m2 = alice.send(GROUP, b"two");
    bob.recv(&a, &m2).unwrap();
    bob.recv(&a, &m0).unwrap();
    let before = bob.record(&a, GROUP);
    for m in [&m0, &m2] {
        assert_eq!(
            bob.recv(&a, m),
            Err(Error::Protocol(ProtocolError::DuplicateMessage))
        );
        assert_eq!(bob.record(&a, GROUP), before);
    }
    assert_eq!(bob.recv(&a, &m1).unwrap(), b"one");
    assert_eq!(
        bob.recv(&a, &m1),
        Err(Error::Protocol(ProtocolError::DuplicateMessage))
    );
}

#[test]
fn ciphertext_is_padded_cbc() {
    let (mut alice, _) = pair();
    for (len, ct) in [(0usize, 16usize), (15, 16), (16, 32), (17, 32), (100, 112)] {
        assert_eq!(alice.send(GROUP, &vec![1; len]).ciphertext().len(), ct);
    }
    // 109 bytes for a one-block message, as libsignal's (OBSERVED §11).
    assert_eq!(alice.send(GROUP, b"").serialized().len(), 109);
}

#[test]
fn a_late_joiner_reads_from_the_distribution_on() {
    let (mut alice, mut bob) = pair();
    let a = alice.address.clone();
    let early = alice.send(GROUP, b"before carol");
    let mut carol = Member::new("carol", 3);
    let d = alice.distribution(GROUP);
    assert_eq!(d.iteration(), 1, "the same chain, at its current iteration");
    carol.process(&a, &d);
    let later = alice.send(GROUP, b"after carol");
    assert_eq!(
        carol.recv(&a, &early),
        Err(Error::Protocol(ProtocolError::DuplicateMessage))
    );
    assert_eq!(carol.recv(&a, &later).unwrap(), b"after carol");
    assert_eq!(bob.recv(&a, &early).unwrap(), b"before carol");
    assert_eq!(bob.recv(&a, &later).unwrap(), b"after carol");
}

#[test]
fn unknown_sender_group_or_chain() {
    let (mut alice, mut bob) = pair();
    let a = alice.address.clone();
    let m = alice.send(GROUP, b"x");
    let no_state = Err(Error::Protocol(ProtocolError::NoSenderKeyState));
    // Another sender address (a device of alice's included).
    assert_eq!(bob.recv(&ProtocolAddress::new("mallory", 1), &m), no_state);
    assert_eq!(bob.recv(&ProtocolAddress::new("alice", 2), &m), no_state);
    // Another distribution id.
    let other = DistributionId::from_bytes([9; 16]);
    alice.distribution(other);
    assert_eq!(bob.recv(&a, &alice.send(other, b"y")), no_state);
    // A chain id bob never got.
    let c = Crafted::new(77, 0, 5);
    let mut c = c;
    let bytes = c.message(0, b"z");
    assert_eq!(bob.recv_bytes(&a, &bytes), no_state);
    assert_eq!(bob.recv(&a, &m).unwrap(), b"x");
}

#[test]
fn five_chains_per_sender_and_the_replacement_rule() {
    let mut bob = Member::new("bob", 2);
    let a = ProtocolAddress::new("alice", 1);
    let mut chains: Vec<Crafted> = (1..=6)
        .map(|i| Crafted::new(100 + i, 0, i.into()))
        .collect();
    for c in &chains[..5] {
        bob.process(&a, &c.distribution());
    }
    let record = bob.store.load_sender_key(&a, GROUP).unwrap().unwrap();
    assert_eq!(
        record.chain_ids().collect::<Vec<_>>(),
        [105, 104, 103, 102, 101]
    );
    // 101 used once, then its distribution again: kept as it is (not rewound) and
    // moved to the newest place, so 102 is the one dropped when 106 arrives.
    let m = chains[0].message(0, b"101/0");
    bob.recv_bytes(&a, &m).unwrap();
    bob.process(&a, &chains[0].distribution());
    assert_eq!(
        bob.recv_bytes(&a, &m),
        Err(Error::Protocol(ProtocolError::DuplicateMessage))
    );
    bob.process(&a, &chains[5].distribution());
    let record = bob.store.load_sender_key(&a, GROUP).unwrap().unwrap();
    assert_eq!(
        record.chain_ids().collect::<Vec<_>>(),
        [106, 101, 105, 104, 103]
    );
    let m = chains[1].message(0, b"102/0");
    assert_eq!(
        bob.recv_bytes(&a, &m),
        Err(Error::Protocol(ProtocolError::NoSenderKeyState))
    );
    // 103 again with another signing key: replaced.
    let mut twin = Crafted::new(103, 0, 99);
    bob.process(&a, &twin.distribution());
    let old = chains[2].message(0, b"old 103");
    assert_eq!(
        bob.recv_bytes(&a, &old),
        Err(Error::Protocol(ProtocolError::BadSignature))
    );
    let new = twin.message(0, b"new 103");
    assert_eq!(bob.recv_bytes(&a, &new).unwrap(), b"new 103");
    // Decrypting does not reorder: 104 (untouched since) is dropped next, not 101.
    let m101 = chains[0].message(1, b"101/1");
    bob.recv_bytes(&a, &m101).unwrap();
    chains.push(Crafted::new(107, 0, 7));
    bob.process(&a, &chains[6].distribution());
    let record = bob.store.load_sender_key(&a, GROUP).unwrap().unwrap();
    assert_eq!(
        record.chain_ids().collect::<Vec<_>>(),
        [107, 103, 106, 101, 105]
    );
}

#[test]
fn rotation_keeps_messages_in_flight_and_shuts_out_who_left() {
    let mut alice = Member::new("alice", 1);
    let mut bob = Member::new("bob", 2);
    let mut eve = Member::new("eve", 3);
    let a = alice.address.clone();
    let d = alice.distribution(GROUP);
    bob.process(&a, &d);
    eve.process(&a, &d);
    let in_flight = alice.send(GROUP, b"sent before eve left");
    // Eve leaves; alice rotates and tells bob only.
    let d2 = alice.rotate(GROUP);
    assert_ne!(d2.chain_id(), d.chain_id());
    assert_eq!(d2.iteration(), 0);
    assert_ne!(d2.signing_key(), d.signing_key());
    let own = alice.store.load_sender_key(&a, GROUP).unwrap().unwrap();
    assert_eq!(
        own.chain_ids().collect::<Vec<_>>(),
        [d2.chain_id()],
        "old chain erased"
    );
    bob.process(&a, &d2);
    let after = alice.send(GROUP, b"after the rotation");
    assert_eq!(after.chain_id(), d2.chain_id());
    assert_eq!(bob.recv(&a, &after).unwrap(), b"after the rotation");
    assert_eq!(bob.recv(&a, &in_flight).unwrap(), b"sent before eve left");
    assert_eq!(
        eve.recv(&a, &after),
        Err(Error::Protocol(ProtocolError::NoSenderKeyState))
    );
    assert_eq!(eve.recv(&a, &in_flight).unwrap(), b"sent before eve left");
    // Asking again for the distribution gives the new chain, not the old one.
    assert_eq!(alice.distribution(GROUP).chain_id(), d2.chain_id());
}

#[test]
fn sender_errors() {
    let mut alice = Member::new("alice", 1);
    let a = alice.address.clone();
    let misuse = Err(Error::Misuse(MisuseError::InvalidState));
    // Nothing to send on yet.
    assert_eq!(
        group_encrypt(&a, GROUP, b"x", &mut alice.store, &mut alice.rng).map(|_| ()),
        misuse
    );
    // Someone else's chain filed under our own address is not ours to send on (the
    // peer refuses the same way).
    alice.distribution(GROUP);
    let c = Crafted::new(5, 0, 5);
    alice.process(&a, &c.distribution());
    assert_eq!(
        group_encrypt(&a, GROUP, b"x", &mut alice.store, &mut alice.rng).map(|_| ()),
        misuse
    );
    assert_eq!(
        create_sender_key_distribution_message(&a, GROUP, &mut alice.store, &mut alice.rng)
            .map(|_| ()),
        misuse
    );
    // Rotation starts over.
    alice.rotate(GROUP);
    alice.send(GROUP, b"ok");
}

#[test]
fn sender_at_the_end_of_the_counter() {
    // A sending chain at iteration 2^32 − 2 can send once more, then must rotate.
    let mut c = Crafted::new(9, u32::MAX - 1, 9);
    let mut store = missive::store::memory::InMemSenderKeyStore::new();
    let me = ProtocolAddress::new("me", 1);
    let mut state = vec![];
    put_uint(&mut state, 1, 9);
    put_uint(&mut state, 2, u64::from(u32::MAX - 1));
    put_bytes(&mut state, 3, &c.chain_key);
    put_bytes(&mut state, 4, &c.signing.public_key.serialize());
    put_bytes(&mut state, 5, c.private().to_bytes().as_ref());
    let mut record = vec![1u8];
    put_bytes(&mut record, 1, &state);
    put_uint(&mut record, 2, 1);
    store
        .store_sender_key(&me, GROUP, &SenderKeyRecord::deserialize(&record).unwrap())
        .unwrap();
    let m = group_encrypt(&me, GROUP, b"last", &mut store, &mut c.rng).unwrap();
    assert_eq!(m.iteration(), u32::MAX - 1);
    assert_eq!(
        group_encrypt(&me, GROUP, b"one too many", &mut store, &mut c.rng).map(|_| ()),
        Err(Error::Misuse(MisuseError::InvalidState))
    );
}

#[test]
fn distribution_over_one_to_one_sessions() {
    use common::Party;
    let mut rng = common::rng(40);
    let mut alice = Party::new("alice", 1, &mut rng);
    let mut bob = Party::new("bob", 1, &mut rng);
    let mut carol = Party::new("carol", 1, &mut rng);
    let (a, b, c) = (
        alice.address.clone(),
        bob.address.clone(),
        carol.address.clone(),
    );
    for (p, addr) in [(&mut bob, &b), (&mut carol, &c)] {
        let bundle = p.bundle(true, false, &mut rng);
        alice.start_session(&bundle, addr, &mut rng);
    }
    let skdm = create_sender_key_distribution_message(
        &a,
        GROUP,
        &mut alice.store.sender_key_store,
        &mut rng,
    )
    .unwrap();
    let nobody = ProtocolAddress::new("no-session", 1);
    let sent = distribute_sender_key(
        &skdm,
        &[b.clone(), nobody.clone(), c.clone()],
        &a,
        &mut alice.store.session_store,
        &mut alice.store.identity_store,
        common::NOW,
        &mut rng,
    );
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[1].0, nobody);
    assert_eq!(
        sent[1].1.as_ref().map(|_| ()),
        Err(&Error::Protocol(ProtocolError::NoSession))
    );
    let m = group_encrypt(
        &a,
        GROUP,
        b"to the group",
        &mut alice.store.sender_key_store,
        &mut rng,
    )
    .unwrap();
    for (p, (addr, carried)) in [(&mut bob, &sent[0]), (&mut carol, &sent[2])] {
        let carried = carried.as_ref().unwrap();
        assert_eq!(addr, &p.address);
        let plaintext = p.decrypt(&a, carried, &mut rng).unwrap();
        let received = SenderKeyDistributionMessage::deserialize(&plaintext).unwrap();
        assert_eq!(received, skdm);
        process_sender_key_distribution_message(&a, &received, &mut p.store.sender_key_store)
            .unwrap();
        assert_eq!(
            group_decrypt(&m, &a, &mut p.store.sender_key_store).unwrap(),
            b"to the group"
        );
    }
}

#[test]
fn distribution_message_encoding() {
    let mut alice = Member::new("alice", 1);
    let d = alice.distribution(GROUP);
    let bytes = d.serialized();
    assert_eq!(bytes.len(), 96, "as libsignal's (OBSERVED §11)");
    assert_eq!(bytes[0], 0x33);
    let back = SenderKeyDistributionMessage::deserialize(bytes).unwrap();
    assert_eq!(back, d);
    assert_eq!(back.chain_id(), d.chain_id());
    assert!(d.chain_id() < 1 << 31);
    // Debug output does not show the chain key.
    let shown = format!("{d:?}");
    let hex: String = d.chain_key().iter().map(|b| format!("{b:02x}")).collect();
    assert!(!shown.contains(&hex) && !shown.contains(&format!("{:?}", d.chain_key())));
    assert_eq!(format!("{GROUP}"), "d1b6f0a4-3f63-4b3c-9b1e-2b8a5f0c7e11");
    assert_eq!(
        DistributionId::parse("D1B6F0A4-3F63-4B3C-9B1E-2B8A5F0C7E11"),
        Some(GROUP)
    );
    assert_eq!(
        DistributionId::parse("d1b6f0a4-3f63-4b3c-9b1e-2b8a5f0c7e1"),
        None
    );
}
