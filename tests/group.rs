//! Sender-key groups through the public API: distribution, order, duplicates, states,
//! rotation, the sender's errors, and distribution over 1:1 sessions.

mod group_common;

use group_common::*;
use missive::*;

/// Alice and bob with a 1:1 session, and alice's chain handed to bob over it.
fn pair() -> (Member, Member) {
    let (mut alice, mut bob) = connected("alice", "bob", 1);
    let d = alice.distribution(GROUP);
    share(&mut alice, &mut bob, &d);
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
    connect(&mut alice, &mut carol);
    let d = alice.distribution(GROUP);
    assert_eq!(d.iteration(), 1, "the same chain, at its current iteration");
    share(&mut alice, &mut carol, &d);
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
fn a_member_cannot_file_a_chain_under_another_member() {
    // Mallory is a member: she holds alice's distribution message and has a session with
    // bob. Whatever she sends bob over it is filed under her own address, the one her
    // session authenticated, never under alice's.
    let mut members = group(&["alice", "bob", "mallory"], 60);
    let a = members[0].address.clone();
    let m_at = members[2].address.clone();
    let alices = members[0].distribution(GROUP);
    let mallorys = members[2].distribution(GROUP);
    let before = members[1].record(&a, GROUP).unwrap();
    let [alice, bob, mallory] = &mut members[..] else {
        unreachable!()
    };
    // A chain of her own under alice's chain id: hers, not alice's.
    let mut forged = Crafted::new(alices.chain_id(), 0, 61);
    carry(mallory, bob, &forged.distribution_bytes()).unwrap();
    assert_eq!(bob.record(&a, GROUP).unwrap(), before);
    assert_eq!(
        bob.sender_key(&m_at, GROUP).chain_ids().collect::<Vec<_>>(),
        [alices.chain_id(), mallorys.chain_id()]
    );
    let as_alice = forged.message(0, b"from alice, honest");
    assert_eq!(
        bob.recv_bytes(&a, &as_alice),
        Err(Error::Protocol(ProtocolError::BadSignature))
    );
    assert_eq!(bob.record(&a, GROUP).unwrap(), before);
    assert_eq!(
        bob.recv_bytes(&m_at, &as_alice).unwrap(),
        b"from alice, honest"
    );
    // Alice's own distribution message, forwarded: filed under mallory too.
    carry(mallory, bob, alices.serialized()).unwrap();
    assert_eq!(bob.record(&a, GROUP).unwrap(), before);
    // Alice's messages still read as hers.
    let m = alice.send(GROUP, b"really alice");
    assert_eq!(bob.recv(&a, &m).unwrap(), b"really alice");
}

#[test]
fn five_chains_per_sender_and_the_replacement_rule() {
    // Alice is an authenticated member who sends bob hand-made chains over their 1:1
    // session: bob keeps them as he keeps any chain of hers.
    let (mut alice, mut bob) = connected("alice", "bob", 1);
    let a = alice.address.clone();
    let mut chains: Vec<Crafted> = (1..=6)
        .map(|i| Crafted::new(100 + i, 0, i.into()))
        .collect();
    for c in &chains[..5] {
        carry(&mut alice, &mut bob, &c.distribution_bytes()).unwrap();
    }
    assert_eq!(
        bob.sender_key(&a, GROUP).chain_ids().collect::<Vec<_>>(),
        [105, 104, 103, 102, 101]
    );
    // 101 used once, then its distribution again: kept as it is (not rewound) and
    // moved to the newest place, so 102 is the one dropped when 106 arrives.
    let m = chains[0].message(0, b"101/0");
    bob.recv_bytes(&a, &m).unwrap();
    carry(&mut alice, &mut bob, &chains[0].distribution_bytes()).unwrap();
    assert_eq!(
        bob.recv_bytes(&a, &m),
        Err(Error::Protocol(ProtocolError::DuplicateMessage))
    );
    carry(&mut alice, &mut bob, &chains[5].distribution_bytes()).unwrap();
    assert_eq!(
        bob.sender_key(&a, GROUP).chain_ids().collect::<Vec<_>>(),
        [106, 101, 105, 104, 103]
    );
    let m = chains[1].message(0, b"102/0");
    assert_eq!(
        bob.recv_bytes(&a, &m),
        Err(Error::Protocol(ProtocolError::NoSenderKeyState))
    );
    // 103 again with another signing key: replaced.
    let mut twin = Crafted::new(103, 0, 99);
    carry(&mut alice, &mut bob, &twin.distribution_bytes()).unwrap();
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
    carry(&mut alice, &mut bob, &chains[6].distribution_bytes()).unwrap();
    assert_eq!(
        bob.sender_key(&a, GROUP).chain_ids().collect::<Vec<_>>(),
        [107, 103, 106, 101, 105]
    );
}

#[test]
fn rotation_keeps_messages_in_flight_and_shuts_out_who_left() {
    let mut members = group(&["alice", "bob", "eve"], 1);
    let a = members[0].address.clone();
    let d = members[0].distribution(GROUP);
    let in_flight = members[0].send(GROUP, b"sent before eve left");
    // Eve leaves; alice rotates and tells bob only.
    let d2 = members[0].rotate(GROUP);
    assert_ne!(d2.chain_id(), d.chain_id());
    assert_eq!(d2.iteration(), 0);
    assert_ne!(d2.signing_key(), d.signing_key());
    assert_eq!(
        members[0]
            .sender_key(&a, GROUP)
            .chain_ids()
            .collect::<Vec<_>>(),
        [d2.chain_id()],
        "old chain erased"
    );
    distribute(&mut members, 0, &d2, &[1]);
    let [alice, bob, eve] = &mut members[..] else {
        unreachable!()
    };
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
        alice
            .device
            .group_encrypt(GROUP, b"x", &mut alice.rng)
            .map(|_| ()),
        misuse
    );
    alice.distribution(GROUP);
    let own = alice.record(&a, GROUP).unwrap();
    // A distribution message under our own address is refused, even from a session
    // that authenticated it (another install that took over our address): our chains
    // are ours to create. Nothing changes.
    let c = Crafted::new(5, 0, 5);
    let mut twin = Member::new("alice", 2);
    let bundle = alice.bundle();
    twin.device
        .process_prekey_bundle(&a, &bundle, NOW, &mut twin.rng)
        .unwrap();
    let carrier = twin
        .device
        .encrypt(&a, &c.distribution_bytes(), NOW, &mut twin.rng)
        .unwrap();
    let got = alice
        .device
        .decrypt(
            &a,
            carrier.message_type(),
            carrier.serialize(),
            &mut alice.rng,
        )
        .unwrap();
    assert_eq!(got.sender.address(), &a);
    let d = SenderKeyDistributionMessage::deserialize(&got.plaintext).unwrap();
    assert_eq!(
        alice
            .device
            .process_sender_key_distribution_message(&got.sender, &d),
        Err(Error::Misuse(MisuseError::InvalidArgument))
    );
    assert_eq!(alice.record(&a, GROUP).unwrap(), own);
    // Someone else's chain filed under our own address (a record imported from
    // elsewhere) is not ours to send on (the peer refuses the same way): the same
    // record as before with c's chain, without its private key, as the newest.
    let mut record = vec![1u8];
    put_bytes(&mut record, 1, &c.state(false));
    // alice's own state, as serialized: between the version byte and the count.
    assert_eq!(own[0], 1);
    assert_eq!(own[own.len() - 2..], [0x10, 1]);
    record.extend_from_slice(&own[1..own.len() - 2]);
    put_uint(&mut record, 2, 2);
    let record = SenderKeyRecord::deserialize(&record).unwrap();
    assert_eq!(record.chain_ids().collect::<Vec<_>>()[0], 5);
    alice
        .device
        .store_mut()
        .sender_key_store
        .store_sender_key(&a, GROUP, record);
    assert_eq!(
        alice
            .device
            .group_encrypt(GROUP, b"x", &mut alice.rng)
            .map(|_| ()),
        misuse
    );
    assert_eq!(
        alice
            .device
            .sender_key_distribution_message(GROUP, &mut alice.rng)
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
    let c = Crafted::new(9, u32::MAX - 1, 9);
    let mut me = Member::new("me", 10);
    let record = SenderKeyRecord::deserialize(&record_bytes(&[c.state(true)])).unwrap();
    let at = me.address.clone();
    me.device
        .store_mut()
        .sender_key_store
        .store_sender_key(&at, GROUP, record);
    let m = me
        .device
        .group_encrypt(GROUP, b"last", &mut me.rng)
        .unwrap();
    assert_eq!(m.iteration(), u32::MAX - 1);
    assert!(m.verify_signature(c.signing.public_key()));
    assert_eq!(
        me.device
            .group_encrypt(GROUP, b"one too many", &mut me.rng)
            .map(|_| ()),
        Err(Error::Misuse(MisuseError::InvalidState))
    );
}

#[test]
fn distribution_over_one_to_one_sessions() {
    let mut alice = Member::new("alice", 40);
    let mut bob = Member::new("bob", 41);
    let mut carol = Member::new("carol", 42);
    let (a, b, c) = (
        alice.address.clone(),
        bob.address.clone(),
        carol.address.clone(),
    );
    // Alice starts sessions from bundles; bob and carol have not answered yet.
    for p in [&mut bob, &mut carol] {
        let bundle = p.bundle();
        alice
            .device
            .process_prekey_bundle(&p.address, &bundle, NOW, &mut alice.rng)
            .unwrap();
    }
    let skdm = alice.distribution(GROUP);
    let nobody = ProtocolAddress::new("no-session", 1);
    let sent = alice.device.distribute_sender_key(
        &skdm,
        &[b.clone(), nobody.clone(), c.clone()],
        NOW,
        &mut alice.rng,
    );
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[1].0, nobody);
    assert_eq!(
        sent[1].1.as_ref().map(|_| ()),
        Err(&Error::Protocol(ProtocolError::NoSession))
    );
    let m = alice.send(GROUP, b"to the group");
    for (p, (addr, carried)) in [(&mut bob, &sent[0]), (&mut carol, &sent[2])] {
        let carried = carried.as_ref().unwrap();
        assert_eq!(addr, &p.address);
        assert_eq!(carried.message_type(), CiphertextMessageType::PreKey);
        let got = p
            .device
            .decrypt(&a, carried.message_type(), carried.serialize(), &mut p.rng)
            .unwrap();
        assert_eq!(got.sender.address(), &a);
        assert_eq!(
            got.sender.identity(),
            alice
                .device
                .store()
                .identity_key_pair()
                .unwrap()
                .identity_key()
        );
        let received = SenderKeyDistributionMessage::deserialize(&got.plaintext).unwrap();
        assert_eq!(received, skdm);
        p.device
            .process_sender_key_distribution_message(&got.sender, &received)
            .unwrap();
        assert_eq!(p.recv(&a, &m).unwrap(), b"to the group");
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
