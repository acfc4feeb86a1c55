//! Batch decryption of a backlog decides exactly as one-by-one decryption: the same
//! result for every message and the same records afterwards, with valid and forged
//! messages mixed, several senders and groups, duplicates and unknown chains.

mod group_common;

use group_common::*;
use missive::store::memory::InMemSignalProtocolStore;
use missive::*;

/// Every sender-key record in `store` for the given senders and groups, serialized.
fn dump(
    store: &InMemSignalProtocolStore,
    senders: &[ProtocolAddress],
    groups: &[DistributionId],
) -> Vec<Option<Vec<u8>>> {
    let mut out = Vec::new();
    for s in senders {
        for g in groups {
            out.push(
                store
                    .sender_key_store
                    .sender_key(s, *g)
                    .map(|r| r.serialize().to_vec()),
            );
        }
    }
    out
}

/// Runs the backlog both ways, on two copies of `receiver`'s store, and compares.
fn compare(
    receiver: &Member,
    backlog: &[(ProtocolAddress, SenderKeyMessage)],
    senders: &[ProtocolAddress],
    groups: &[DistributionId],
) -> Vec<Result<Vec<u8>, Error>> {
    let copy = || Device::new(receiver.address.clone(), receiver.device.store().clone());
    let mut one = copy();
    let singles: Vec<_> = backlog
        .iter()
        .map(|(s, m)| one.group_decrypt(s, m))
        .collect();
    let mut batch = copy();
    let refs: Vec<(&ProtocolAddress, &SenderKeyMessage)> =
        backlog.iter().map(|(s, m)| (s, m)).collect();
    let batched = batch.group_decrypt_batch(&refs);
    assert_eq!(batched, singles);
    assert_eq!(
        dump(batch.store(), senders, groups),
        dump(one.store(), senders, groups)
    );
    batched
}

fn flip(m: &SenderKeyMessage, bit: usize) -> SenderKeyMessage {
    let mut b = m.serialized().to_vec();
    b[bit / 8] ^= 1 << (bit % 8);
    SenderKeyMessage::deserialize(&b).unwrap()
}

#[test]
fn a_backlog_with_forgeries_decides_like_one_by_one() {
    let groups = [GROUP, DistributionId::from_bytes([7; 16])];
    let mut senders: Vec<Member> = (0..3)
        .map(|i| Member::new(&format!("sender{i}"), 10 + i))
        .collect();
    let mut bob = Member::new("bob", 1);
    for s in senders.iter_mut() {
        connect(s, &mut bob);
        for g in groups {
            let d = s.distribution(g);
            share(s, &mut bob, &d);
        }
    }
    let mut backlog = Vec::new();
    let mut rng = rng(3);
    for round in 0..60u32 {
        for (i, s) in senders.iter_mut().enumerate() {
            let g = groups[(round as usize + i) % 2];
            let m = s.send(g, format!("{i}/{round}").as_bytes());
            backlog.push((s.address.clone(), m));
        }
    }
    let valid = backlog.len();
    // Forgeries: flipped signatures, flipped bodies (re-parsed), the sign bit.
    for k in 0..valid / 3 {
        let (s, m) = backlog[k * 3].clone();
        let bit = (rand_core::Rng::next_u32(&mut rng) as usize) % (m.serialized().len() * 8);
        if let Ok(f) = SenderKeyMessage::deserialize(&{
            let mut b = m.serialized().to_vec();
            b[bit / 8] ^= 1 << (bit % 8);
            b
        }) {
            backlog.push((s.clone(), f));
        }
        let last = m.serialized().len() * 8 - 1;
        backlog.push((s.clone(), flip(&m, last)));
        backlog.push((s, flip(&m, last - 300)));
    }
    // Duplicates, a message attributed to the wrong sender, an unknown chain.
    for k in [5usize, 17, 40] {
        backlog.push(backlog[k].clone());
        let (_, m) = backlog[k].clone();
        backlog.push((senders[(k + 1) % 3].address.clone(), m));
    }
    let mut stranger = Member::new("stranger", 99);
    stranger.distribution(GROUP);
    backlog.push((senders[0].address.clone(), stranger.send(GROUP, b"?")));
    // Shuffle (deterministically).
    for i in (1..backlog.len()).rev() {
        let j = (rand_core::Rng::next_u64(&mut rng) % (i as u64 + 1)) as usize;
        backlog.swap(i, j);
    }
    let addresses: Vec<_> = senders.iter().map(|s| s.address.clone()).collect();
    let results = compare(&bob, &backlog, &addresses, &groups);
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, valid, "every genuine message once, nothing else");
    let bad_sig = results
        .iter()
        .filter(|r| **r == Err(Error::Protocol(ProtocolError::BadSignature)))
        .count();
    assert!(bad_sig > valid / 3);
    assert!(results.contains(&Err(Error::Protocol(ProtocolError::DuplicateMessage))));
    assert!(results.contains(&Err(Error::Protocol(ProtocolError::NoSenderKeyState))));
}

#[test]
fn forged_messages_from_a_crafted_sender() {
    // Valid signatures over bad content, and messages past the bounds, mixed with good
    // ones: the batch must leave every decision to the same one-by-one checks.
    let mut c = Crafted::new(500, 0, 5);
    let (bob, a) = crafted_receiver(&c, 1);
    let mut backlog = Vec::new();
    for n in 0..50u32 {
        let bytes = c.message(n, &n.to_le_bytes());
        backlog.push((a.clone(), SenderKeyMessage::deserialize(&bytes).unwrap()));
    }
    let bad_padding = c.body(0x33, 60, &[0u8; 32]);
    let bad_padding = c.sign(&bad_padding);
    let too_far = c.message(25_100, b"far");
    let mut unsigned = c.body(0x33, 55, &c.encrypt(55, b"unsigned"));
    unsigned.extend_from_slice(&[0u8; 64]);
    for b in [bad_padding, too_far, unsigned] {
        backlog.insert(7, (a.clone(), SenderKeyMessage::deserialize(&b).unwrap()));
    }
    let results = compare(&bob, &backlog, std::slice::from_ref(&a), &[GROUP]);
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 50);
}

#[test]
fn an_empty_backlog_and_one_without_state() {
    let mut bob = Member::new("bob", 1);
    assert!(bob.device.group_decrypt_batch(&[]).is_empty());
    let mut alice = Member::new("alice", 2);
    alice.distribution(GROUP);
    let m = alice.send(GROUP, b"x");
    let a = alice.address.clone();
    assert_eq!(
        bob.device.group_decrypt_batch(&[(&a, &m), (&a, &m)]),
        vec![
            Err(Error::Protocol(ProtocolError::NoSenderKeyState)),
            Err(Error::Protocol(ProtocolError::NoSenderKeyState))
        ]
    );
}
