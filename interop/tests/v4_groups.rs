//! Sender-key groups: missive against libsignal-client 0.103, both ways. Distribution,
//! 500 messages, out-of-order delivery, the forward-jump limit at and one past it, a
//! sender that rotates while old messages are in flight, tampered signatures (records
//! unchanged), a backlog decrypted in one batch, and a group of six mixing the two.

use missive::store::SenderKeyStore;
use missive::store::memory::InMemSenderKeyStore;
use missive::*;
use missive_interop::{Peer, PeerError, PeerKind};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

const GROUP: &str = "d1b6f0a4-3f63-4b3c-9b1e-2b8a5f0c7e11";

fn group() -> DistributionId {
    DistributionId::parse(GROUP).unwrap()
}

fn client() -> Peer {
    Peer::spawn(PeerKind::Client).expect("spawn libsignal-client driver")
}

/// A missive group member.
struct Member {
    address: ProtocolAddress,
    store: InMemSenderKeyStore,
    rng: ChaCha20Rng,
}

impl Member {
    fn new(name: &str, device: u32, seed: u64) -> Self {
        Member {
            address: ProtocolAddress::new(name, device),
            store: InMemSenderKeyStore::new(),
            rng: ChaCha20Rng::seed_from_u64(seed),
        }
    }
    fn distribution(&mut self) -> Vec<u8> {
        create_sender_key_distribution_message(
            &self.address,
            group(),
            &mut self.store,
            &mut self.rng,
        )
        .unwrap()
        .serialized()
        .to_vec()
    }
    fn rotate(&mut self) -> Vec<u8> {
        rotate_sender_key(&self.address, group(), &mut self.store, &mut self.rng)
            .unwrap()
            .serialized()
            .to_vec()
    }
    fn process(&mut self, from: &ProtocolAddress, bytes: &[u8]) {
        let m = SenderKeyDistributionMessage::deserialize(bytes).unwrap();
        process_sender_key_distribution_message(from, &m, &mut self.store).unwrap();
    }
    fn send(&mut self, plaintext: &[u8]) -> Vec<u8> {
        group_encrypt(
            &self.address,
            group(),
            plaintext,
            &mut self.store,
            &mut self.rng,
        )
        .unwrap()
        .serialized()
        .to_vec()
    }
    fn recv(&mut self, from: &ProtocolAddress, bytes: &[u8]) -> Result<Vec<u8>, Error> {
        let m = SenderKeyMessage::deserialize(bytes)?;
        group_decrypt(&m, from, &mut self.store)
    }
    fn record(&self, from: &ProtocolAddress) -> Option<Vec<u8>> {
        self.store
            .load_sender_key(from, group())
            .unwrap()
            .map(|r| r.serialize().to_vec())
    }
}

fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut v: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
    v
}

fn text(i: usize) -> Vec<u8> {
    format!("group message {i} {}", "x".repeat(i % 37)).into_bytes()
}

fn is_code(e: &PeerError, code: &str) -> bool {
    e.code() == Some(code)
}

#[test]
fn missive_to_libsignal_500_messages() {
    let mut peer = client();
    peer.new_party("bob", "bob", 2).unwrap();
    let mut alice = Member::new("alice", 1, 1);
    let d = alice.distribution();
    assert_eq!(d[0], 0x33);
    peer.sk_process("bob", "alice", 1, &d).unwrap();
    for i in 0..500 {
        let m = alice.send(&text(i));
        assert_eq!(m[0], 0x33);
        assert_eq!(
            peer.group_decrypt("bob", "alice", 1, &m).unwrap(),
            text(i),
            "message {i}"
        );
    }
}

#[test]
fn libsignal_to_missive_500_messages_and_a_batch() {
    let mut peer = client();
    peer.new_party("alice", "alice", 1).unwrap();
    let a = ProtocolAddress::new("alice", 1);
    let mut bob = Member::new("bob", 2, 2);
    let d = peer.sk_distribution("alice", GROUP).unwrap();
    bob.process(&a, &d);
    for i in 0..500 {
        let m = peer.group_encrypt("alice", GROUP, &text(i)).unwrap();
        assert_eq!(bob.recv(&a, &m).unwrap(), text(i), "message {i}");
    }
    // A backlog of 200 more, shuffled, with forgeries: one batch, decided exactly as
    // one-by-one decryption decides.
    let mut backlog: Vec<Vec<u8>> = (0..200)
        .map(|i| peer.group_encrypt("alice", GROUP, &text(i)).unwrap())
        .collect();
    for k in 0..20 {
        let mut f = backlog[k * 7].clone();
        let n = f.len();
        f[n - 1 - k] ^= 1 << (k % 8);
        backlog.push(f);
    }
    let order = shuffled(backlog.len(), 3);
    let messages: Vec<SenderKeyMessage> = order
        .iter()
        .map(|&i| SenderKeyMessage::deserialize(&backlog[i]).unwrap())
        .collect();
    let mut one = bob.store.clone();
    let singles: Vec<_> = messages
        .iter()
        .map(|m| group_decrypt(m, &a, &mut one))
        .collect();
    let refs: Vec<_> = messages.iter().map(|m| (&a, m)).collect();
    let batched = group_decrypt_batch(&refs, &mut bob.store);
    assert_eq!(batched, singles);
    assert_eq!(batched.iter().filter(|r| r.is_ok()).count(), 200);
    assert_eq!(
        batched
            .iter()
            .filter(|r| **r == Err(Error::Protocol(ProtocolError::BadSignature)))
            .count(),
        20
    );
}

#[test]
fn out_of_order_both_ways() {
    let mut peer = client();
    peer.new_party("carol", "carol", 3).unwrap();
    let c = ProtocolAddress::new("carol", 3);
    let mut dave = Member::new("dave", 4, 4);
    peer.sk_process("carol", "dave", 4, &dave.distribution())
        .unwrap();
    dave.process(&c, &peer.sk_distribution("carol", GROUP).unwrap());
    let from_dave: Vec<_> = (0..100).map(|i| dave.send(&text(i))).collect();
    let from_carol: Vec<_> = (0..100)
        .map(|i| peer.group_encrypt("carol", GROUP, &text(i)).unwrap())
        .collect();
    for i in shuffled(100, 5) {
        assert_eq!(
            peer.group_decrypt("carol", "dave", 4, &from_dave[i])
                .unwrap(),
            text(i)
        );
        assert_eq!(dave.recv(&c, &from_carol[i]).unwrap(), text(i));
    }
    // Duplicates: both refuse, and missive's record does not move.
    for i in [0, 57, 99] {
        let e = peer
            .group_decrypt("carol", "dave", 4, &from_dave[i])
            .unwrap_err();
        assert!(is_code(&e, "DuplicatedMessage"), "{e:?}");
        let before = dave.record(&c);
        assert_eq!(
            dave.recv(&c, &from_carol[i]),
            Err(Error::Protocol(ProtocolError::DuplicateMessage))
        );
        assert_eq!(dave.record(&c), before);
    }
}

#[test]
fn forward_jump_at_the_limit_and_one_past_both_ways() {
    let mut peer = client();
    let jump = MAX_SENDER_KEY_FORWARD_JUMP;
    assert_eq!(jump, 25_000);

    // libsignal-client sends, missive receives.
    peer.new_party("alice", "alice", 1).unwrap();
    let a = ProtocolAddress::new("alice", 1);
    let d = peer.sk_distribution("alice", GROUP).unwrap();
    let start = peer.sk_record("alice", "alice", 1, GROUP).unwrap().unwrap();
    for (skip, accepted) in [(jump, true), (jump + 1, false)] {
        peer.set_sk_record("alice", "alice", 1, GROUP, Some(&start))
            .unwrap();
        let mut bob = Member::new("bob", 2, 6);
        bob.process(&a, &d);
        peer.group_encrypt_discard("alice", GROUP, skip).unwrap();
        let m = peer.group_encrypt("alice", GROUP, b"probe").unwrap();
        assert_eq!(SenderKeyMessage::deserialize(&m).unwrap().iteration(), skip);
        let before = bob.record(&a);
        let r = bob.recv(&a, &m);
        if accepted {
            assert_eq!(r.unwrap(), b"probe");
        } else {
            assert_eq!(r, Err(Error::Protocol(ProtocolError::TooFarInFuture)));
            assert_eq!(bob.record(&a), before, "record unchanged");
        }
    }

    // missive sends, libsignal-client receives.
    let mut sender = Member::new("erin", 5, 7);
    let e = sender.address.clone();
    let d = sender.distribution();
    let start = sender.store.clone();
    for (i, (skip, accepted)) in [(jump, true), (jump + 1, false)].into_iter().enumerate() {
        sender.store = start.clone();
        let party = format!("receiver{i}");
        peer.new_party(&party, &party, 10 + i as u32).unwrap();
        peer.sk_process(&party, "erin", 5, &d).unwrap();
        for _ in 0..skip {
            group_encrypt(&e, group(), b"", &mut sender.store, &mut sender.rng).unwrap();
        }
        let m = sender.send(b"probe");
        assert_eq!(SenderKeyMessage::deserialize(&m).unwrap().iteration(), skip);
        let before = peer.sk_record(&party, "erin", 5, GROUP).unwrap();
        let r = peer.group_decrypt(&party, "erin", 5, &m);
        if accepted {
            assert_eq!(r.unwrap(), b"probe");
        } else {
            let err = r.unwrap_err();
            assert!(err.message().contains("too far into the future"), "{err:?}");
            assert_eq!(peer.sk_record(&party, "erin", 5, GROUP).unwrap(), before);
        }
    }
}

#[test]
fn stored_keys_at_the_limit_and_one_past_both_ways() {
    let mut peer = client();
    let max = MAX_SENDER_MESSAGE_KEYS as u32;
    // A jump over `skip` iterations, then the oldest skipped message (iteration 0): kept
    // at 2,000 skipped keys, dropped at 2,001. Both receivers agree.
    for (i, (skip, kept)) in [(max, true), (max + 1, false)].into_iter().enumerate() {
        let sender = format!("s{i}");
        peer.new_party(&sender, &sender, 1).unwrap();
        let s = ProtocolAddress::new(&sender, 1);
        let d = peer.sk_distribution(&sender, GROUP).unwrap();
        let mut bob = Member::new("bob", 2, 20 + i as u64);
        bob.process(&s, &d);
        let first = peer.group_encrypt(&sender, GROUP, b"oldest").unwrap();
        peer.group_encrypt_discard(&sender, GROUP, skip - 1)
            .unwrap();
        let newest = peer.group_encrypt(&sender, GROUP, b"newest").unwrap();
        assert_eq!(
            SenderKeyMessage::deserialize(&newest).unwrap().iteration(),
            skip
        );
        assert_eq!(bob.recv(&s, &newest).unwrap(), b"newest");
        let r = bob.recv(&s, &first);
        if kept {
            assert_eq!(r.unwrap(), b"oldest");
        } else {
            assert_eq!(r, Err(Error::Protocol(ProtocolError::DuplicateMessage)));
        }

        let mut alice = Member::new(&format!("m{i}"), 1, 30 + i as u64);
        let name = alice.address.name().to_owned();
        let receiver = format!("r{i}");
        peer.new_party(&receiver, &receiver, 2).unwrap();
        peer.sk_process(&receiver, &name, 1, &alice.distribution())
            .unwrap();
        let first = alice.send(b"oldest");
        for _ in 1..skip {
            alice.send(b"");
        }
        let newest = alice.send(b"newest");
        assert_eq!(
            peer.group_decrypt(&receiver, &name, 1, &newest).unwrap(),
            b"newest"
        );
        let r = peer.group_decrypt(&receiver, &name, 1, &first);
        if kept {
            assert_eq!(r.unwrap(), b"oldest");
        } else {
            assert!(is_code(&r.unwrap_err(), "DuplicatedMessage"));
        }
    }
}

#[test]
fn rotation_with_messages_in_flight_both_ways() {
    let mut peer = client();
    // missive rotates; libsignal-client receives the late messages after the new chain.
    peer.new_party("bob", "bob", 2).unwrap();
    let mut alice = Member::new("alice", 1, 8);
    peer.sk_process("bob", "alice", 1, &alice.distribution())
        .unwrap();
    let old: Vec<_> = (0..3).map(|i| alice.send(&text(i))).collect();
    let d2 = alice.rotate();
    let new: Vec<_> = (10..13).map(|i| alice.send(&text(i))).collect();
    peer.sk_process("bob", "alice", 1, &d2).unwrap();
    for (i, m) in (10..13).zip(&new) {
        assert_eq!(peer.group_decrypt("bob", "alice", 1, m).unwrap(), text(i));
    }
    for (i, m) in (0..3).zip(&old).rev() {
        assert_eq!(
            peer.group_decrypt("bob", "alice", 1, m).unwrap(),
            text(i),
            "late {i}"
        );
    }

    // libsignal-client rotates (its sending record dropped, a new distribution made);
    // missive receives the late messages after the new chain.
    peer.new_party("carol", "carol", 3).unwrap();
    let c = ProtocolAddress::new("carol", 3);
    let mut dave = Member::new("dave", 4, 9);
    let d1 = peer.sk_distribution("carol", GROUP).unwrap();
    dave.process(&c, &d1);
    let old: Vec<_> = (0..3)
        .map(|i| peer.group_encrypt("carol", GROUP, &text(i)).unwrap())
        .collect();
    peer.set_sk_record("carol", "carol", 3, GROUP, None)
        .unwrap();
    let d2 = peer.sk_distribution("carol", GROUP).unwrap();
    let c1 = SenderKeyDistributionMessage::deserialize(&d1)
        .unwrap()
        .chain_id();
    let c2 = SenderKeyDistributionMessage::deserialize(&d2)
        .unwrap()
        .chain_id();
    assert_ne!(c1, c2);
    let new: Vec<_> = (10..13)
        .map(|i| peer.group_encrypt("carol", GROUP, &text(i)).unwrap())
        .collect();
    dave.process(&c, &d2);
    for (i, m) in (10..13).zip(&new) {
        assert_eq!(dave.recv(&c, m).unwrap(), text(i));
    }
    for (i, m) in (0..3).zip(&old).rev() {
        assert_eq!(dave.recv(&c, m).unwrap(), text(i), "late {i}");
    }
    let record = dave.store.load_sender_key(&c, group()).unwrap().unwrap();
    assert_eq!(record.chain_ids().collect::<Vec<_>>(), [c2, c1]);
}

#[test]
fn tampered_signatures_rejected_records_unchanged_both_ways() {
    let mut peer = client();
    peer.new_party("alice", "alice", 1).unwrap();
    peer.new_party("bob", "bob", 2).unwrap();
    let a = ProtocolAddress::new("alice", 1);
    let mut carol = Member::new("carol", 3, 10);
    peer.sk_process("bob", "carol", 3, &carol.distribution())
        .unwrap();
    carol.process(&a, &peer.sk_distribution("alice", GROUP).unwrap());
    let from_alice = peer.group_encrypt("alice", GROUP, b"genuine").unwrap();
    let from_carol = carol.send(b"genuine");
    // R, s, the sign bit, and ciphertext bytes (covered by the signature), counted from the
    // end (the chain id's varint length varies).
    for back in [64usize, 33, 1, 70, 79] {
        for bit in [0u8, 7] {
            let byte = from_alice.len() - back;
            let mut t = from_alice.clone();
            t[byte] ^= 1 << bit;
            let before = carol.record(&a);
            assert_eq!(
                carol.recv(&a, &t),
                Err(Error::Protocol(ProtocolError::BadSignature)),
                "byte {byte} bit {bit}"
            );
            assert_eq!(carol.record(&a), before);

            let mut t = from_carol.clone();
            t[from_carol.len() - back] ^= 1 << bit;
            let before = peer.sk_record("bob", "carol", 3, GROUP).unwrap();
            let err = peer.group_decrypt("bob", "carol", 3, &t).unwrap_err();
            assert!(err.message().contains("invalid signature"), "{err:?}");
            assert_eq!(peer.sk_record("bob", "carol", 3, GROUP).unwrap(), before);
        }
    }
    assert_eq!(carol.recv(&a, &from_alice).unwrap(), b"genuine");
    assert_eq!(
        peer.group_decrypt("bob", "carol", 3, &from_carol).unwrap(),
        b"genuine"
    );
}

/// A member of the mixed group.
enum Who {
    Missive(Box<Member>),
    Client(String),
}

#[test]
fn a_group_of_six_mixing_missive_and_libsignal() {
    let mut peer = client();
    let names = ["m0", "c1", "m2", "c3", "m4", "c5"];
    let mut members: Vec<Who> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            if n.starts_with('m') {
                Who::Missive(Box::new(Member::new(n, 1, 100 + i as u64)))
            } else {
                peer.new_party(n, n, 1).unwrap();
                Who::Client((*n).to_owned())
            }
        })
        .collect();
    let addr = |i: usize| ProtocolAddress::new(names[i], 1);

    // Everyone sends its distribution to everyone else (over 1:1 sessions in an app).
    let distribute =
        |members: &mut Vec<Who>, peer: &mut Peer, from: usize, d: &[u8], to: &[usize]| {
            for &r in to {
                if r == from {
                    continue;
                }
                match &mut members[r] {
                    Who::Missive(m) => m.process(&addr(from), d),
                    Who::Client(p) => peer.sk_process(p, names[from], 1, d).unwrap(),
                }
            }
        };
    let everyone: Vec<usize> = (0..6).collect();
    for s in 0..6 {
        let d = match &mut members[s] {
            Who::Missive(m) => m.distribution(),
            Who::Client(p) => peer.sk_distribution(p, GROUP).unwrap(),
        };
        distribute(&mut members, &mut peer, s, &d, &everyone);
    }
    let send = |members: &mut Vec<Who>, peer: &mut Peer, s: usize, pt: &[u8]| match &mut members[s]
    {
        Who::Missive(m) => m.send(pt),
        Who::Client(p) => peer.group_encrypt(p, GROUP, pt).unwrap(),
    };
    let recv = |members: &mut Vec<Who>,
                peer: &mut Peer,
                r: usize,
                s: usize,
                m: &[u8]|
     -> Result<Vec<u8>, String> {
        match &mut members[r] {
            Who::Missive(me) => me.recv(&addr(s), m).map_err(|e| e.to_string()),
            Who::Client(p) => peer
                .group_decrypt(p, names[s], 1, m)
                .map_err(|e| e.message().to_owned()),
        }
    };

    // Round one: everyone sends 8, everyone else reads them in a shuffled order.
    let mut sent = Vec::new();
    for round in 0..8 {
        for (s, name) in names.iter().enumerate() {
            let pt = format!("{name} round {round}").into_bytes();
            sent.push((s, send(&mut members, &mut peer, s, &pt), pt));
        }
    }
    // One message from before the rotation is held back for everyone.
    let (late_sender, late, late_pt) = sent.remove(3);
    for r in 0..6 {
        for i in shuffled(sent.len(), r as u64) {
            let (s, m, pt) = &sent[i];
            if *s != r {
                assert_eq!(
                    &recv(&mut members, &mut peer, r, *s, m).unwrap(),
                    pt,
                    "{} reads {}",
                    names[r],
                    names[*s]
                );
            }
        }
    }

    // c5 leaves. Everyone else rotates and distributes to the four others that stay.
    let staying: Vec<usize> = (0..5).collect();
    for s in 0..5 {
        let d = match &mut members[s] {
            Who::Missive(m) => m.rotate(),
            Who::Client(p) => {
                peer.set_sk_record(p, p, 1, GROUP, None).unwrap();
                peer.sk_distribution(p, GROUP).unwrap()
            }
        };
        distribute(&mut members, &mut peer, s, &d, &staying);
    }
    for (s, name) in names.iter().enumerate().take(5) {
        let pt = format!("{name} after c5 left").into_bytes();
        let m = send(&mut members, &mut peer, s, &pt);
        for r in 0..5 {
            if r != s {
                assert_eq!(recv(&mut members, &mut peer, r, s, &m).unwrap(), pt);
            }
        }
        let err = recv(&mut members, &mut peer, 5, s, &m).unwrap_err();
        assert!(err.contains("missing sender key state"), "{err}");
    }
    // The message from before the rotation still decrypts for those who stayed.
    for r in 0..5 {
        if r != late_sender {
            assert_eq!(
                recv(&mut members, &mut peer, r, late_sender, &late).unwrap(),
                late_pt
            );
        }
    }
}
