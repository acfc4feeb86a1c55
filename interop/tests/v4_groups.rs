//! Sender-key groups: missive against libsignal-client 0.103, both ways. Distribution
//! over real 1:1 sessions, 500 messages, out-of-order delivery, the forward-jump limit
//! at and one past it, a sender that rotates while old messages are in flight, tampered
//! signatures (records unchanged), a backlog decrypted in one batch, and a group of six
//! mixing the two.
//!
//! Every distribution message travels as an app sends it: inside a 1:1 message on the
//! session between the two members (set up from a bundle on first use). missive takes
//! the sender from the decryption that delivered it (`Decrypted.sender`).

mod common;
use common::{NOW, to_missive_bundle, to_wire, to_wire_bundle, wire_type};
use missive::store::memory::{BundleSpec, InMemSignalProtocolStore};
use missive::*;
use missive_interop::{Bundle, CiphertextMessage as Wire, Peer, PeerError, PeerKind};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

const GROUP: &str = "d1b6f0a4-3f63-4b3c-9b1e-2b8a5f0c7e11";

fn group() -> DistributionId {
    DistributionId::parse(GROUP).unwrap()
}

fn client() -> Peer {
    Peer::spawn(PeerKind::Client).expect("spawn libsignal-client driver")
}

/// A missive group member: one device, with 1:1 sessions to the members it has
/// exchanged distribution messages with.
struct Member {
    device: Device<InMemSignalProtocolStore>,
    rng: ChaCha20Rng,
    next_bundle_id: u32,
}

impl Member {
    fn new(name: &str, device: u32, seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let store = InMemSignalProtocolStore::new(IdentityKeyPair::generate(&mut rng), 77);
        Member {
            device: Device::new(ProtocolAddress::new(name, device), store),
            rng,
            next_bundle_id: 1,
        }
    }
    fn address(&self) -> ProtocolAddress {
        self.device.address().clone()
    }
    fn name(&self) -> String {
        self.device.address().name().to_owned()
    }
    fn device_id(&self) -> u32 {
        self.device.address().device_id()
    }
    /// A fresh v4 bundle with a one-time prekey, as published to the server.
    fn prekey_bundle(&mut self) -> PreKeyBundle {
        let spec = BundleSpec::new(self.next_bundle_id).with_one_time_pre_key();
        self.next_bundle_id += 1;
        let device_id = self.device_id();
        self.device
            .store_mut()
            .generate_bundle(&spec, device_id, NOW, &mut self.rng)
    }
    fn bundle(&mut self) -> Bundle {
        to_wire_bundle(&self.prekey_bundle())
    }
    fn has_session(&self, with: &ProtocolAddress) -> bool {
        self.device
            .store()
            .session_store
            .session(with)
            .is_some_and(|r| r.has_current_session())
    }
    fn start_session(&mut self, with: &ProtocolAddress, bundle: &PreKeyBundle) {
        self.device
            .process_prekey_bundle(with, bundle, NOW, &mut self.rng)
            .unwrap();
    }
    /// A 1:1 message to `to`.
    fn seal(&mut self, to: &ProtocolAddress, plaintext: &[u8]) -> Wire {
        to_wire(
            &self
                .device
                .encrypt(to, plaintext, NOW, &mut self.rng)
                .unwrap(),
        )
    }
    /// A distribution message that arrived in a 1:1 message from `from`: processed as
    /// from the sender that the 1:1 session authenticated.
    fn receive_distribution(&mut self, from: &ProtocolAddress, w: &Wire) {
        let d = self
            .device
            .decrypt(from, wire_type(w), &w.body, &mut self.rng)
            .unwrap();
        assert_eq!(d.sender.address(), from);
        let skdm = SenderKeyDistributionMessage::deserialize(&d.plaintext).unwrap();
        self.device
            .process_sender_key_distribution_message(&d.sender, &skdm)
            .unwrap();
    }
    fn distribution(&mut self) -> SenderKeyDistributionMessage {
        self.device
            .sender_key_distribution_message(group(), &mut self.rng)
            .unwrap()
    }
    fn rotate(&mut self) -> SenderKeyDistributionMessage {
        self.device
            .rotate_sender_key(group(), &mut self.rng)
            .unwrap()
    }
    fn send(&mut self, plaintext: &[u8]) -> Vec<u8> {
        self.device
            .group_encrypt(group(), plaintext, &mut self.rng)
            .unwrap()
            .serialized()
            .to_vec()
    }
    fn recv(&mut self, from: &ProtocolAddress, bytes: &[u8]) -> Result<Vec<u8>, Error> {
        let m = SenderKeyMessage::deserialize(bytes)?;
        self.device.group_decrypt(from, &m)
    }
    fn record(&self, from: &ProtocolAddress) -> Option<Vec<u8>> {
        self.device
            .store()
            .sender_key_store
            .sender_key(from, group())
            .map(|r| r.serialize().to_vec())
    }
}

/// missive member `m` sends its distribution message to the client party `to` (party
/// id = name) in a 1:1 message, first starting a session from the party's bundle if it
/// has none; the peer decrypts it and processes what came out.
fn missive_to_client(
    m: &mut Member,
    peer: &mut Peer,
    (to, to_device): (&str, u32),
    skdm: &SenderKeyDistributionMessage,
) {
    let to_addr = ProtocolAddress::new(to, to_device);
    if !m.has_session(&to_addr) {
        let bundle = to_missive_bundle(&peer.make_bundle(to, true).unwrap());
        m.start_session(&to_addr, &bundle);
    }
    let w = m.seal(&to_addr, skdm.serialized());
    let got = peer.decrypt(to, &m.name(), m.device_id(), &w).unwrap();
    assert_eq!(got, skdm.serialized());
    peer.sk_process(to, &m.name(), m.device_id(), &got).unwrap();
}

/// The client party `from` (party id = name) sends its distribution message `skdm` to
/// missive member `m` in a 1:1 message (a session from `m`'s bundle first if needed).
fn client_to_missive(
    peer: &mut Peer,
    (from, from_device): (&str, u32),
    m: &mut Member,
    skdm: &[u8],
) {
    if !peer.has_session(from, &m.name(), m.device_id()).unwrap() {
        let bundle = m.bundle();
        peer.process_bundle(from, &m.name(), m.device_id(), &bundle)
            .unwrap();
    }
    let w = peer.encrypt(from, &m.name(), m.device_id(), skdm).unwrap();
    m.receive_distribution(&ProtocolAddress::new(from, from_device), &w);
}

/// Between two client parties (party id = name), over their own 1:1 session.
fn client_to_client(
    peer: &mut Peer,
    (from, from_device): (&str, u32),
    (to, to_device): (&str, u32),
    skdm: &[u8],
) {
    if !peer.has_session(from, to, to_device).unwrap() {
        let bundle = peer.make_bundle(to, true).unwrap();
        peer.process_bundle(from, to, to_device, &bundle).unwrap();
    }
    let w = peer.encrypt(from, to, to_device, skdm).unwrap();
    let got = peer.decrypt(to, from, from_device, &w).unwrap();
    peer.sk_process(to, from, from_device, &got).unwrap();
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
    assert_eq!(d.serialized()[0], 0x33);
    missive_to_client(&mut alice, &mut peer, ("bob", 2), &d);
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
    client_to_missive(&mut peer, ("alice", 1), &mut bob, &d);
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
    let mut one = Device::new(bob.address(), bob.device.store().clone());
    let singles: Vec<_> = messages.iter().map(|m| one.group_decrypt(&a, m)).collect();
    let refs: Vec<_> = messages.iter().map(|m| (&a, m)).collect();
    let batched = bob.device.group_decrypt_batch(&refs);
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
    let d = dave.distribution();
    missive_to_client(&mut dave, &mut peer, ("carol", 3), &d);
    let d = peer.sk_distribution("carol", GROUP).unwrap();
    client_to_missive(&mut peer, ("carol", 3), &mut dave, &d);
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
    let mut bob = Member::new("bob", 2, 6);
    client_to_missive(&mut peer, ("alice", 1), &mut bob, &d);
    let bob_start = bob.device.store().clone();
    for (skip, accepted) in [(jump, true), (jump + 1, false)] {
        peer.set_sk_record("alice", "alice", 1, GROUP, Some(&start))
            .unwrap();
        *bob.device.store_mut() = bob_start.clone();
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
    let d = sender.distribution();
    let start = sender.device.store().clone();
    for (i, (skip, accepted)) in [(jump, true), (jump + 1, false)].into_iter().enumerate() {
        *sender.device.store_mut() = start.clone();
        let party = format!("receiver{i}");
        peer.new_party(&party, &party, 10 + i as u32).unwrap();
        missive_to_client(&mut sender, &mut peer, (&party, 10 + i as u32), &d);
        for _ in 0..skip {
            sender
                .device
                .group_encrypt(group(), b"", &mut sender.rng)
                .unwrap();
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
        client_to_missive(&mut peer, (&sender, 1), &mut bob, &d);
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
        let name = alice.name();
        let receiver = format!("r{i}");
        peer.new_party(&receiver, &receiver, 2).unwrap();
        let d = alice.distribution();
        missive_to_client(&mut alice, &mut peer, (&receiver, 2), &d);
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
    let d1 = alice.distribution();
    missive_to_client(&mut alice, &mut peer, ("bob", 2), &d1);
    let old: Vec<_> = (0..3).map(|i| alice.send(&text(i))).collect();
    let d2 = alice.rotate();
    let new: Vec<_> = (10..13).map(|i| alice.send(&text(i))).collect();
    missive_to_client(&mut alice, &mut peer, ("bob", 2), &d2);
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
    client_to_missive(&mut peer, ("carol", 3), &mut dave, &d1);
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
    client_to_missive(&mut peer, ("carol", 3), &mut dave, &d2);
    for (i, m) in (10..13).zip(&new) {
        assert_eq!(dave.recv(&c, m).unwrap(), text(i));
    }
    for (i, m) in (0..3).zip(&old).rev() {
        assert_eq!(dave.recv(&c, m).unwrap(), text(i), "late {i}");
    }
    let record = dave
        .device
        .store()
        .sender_key_store
        .sender_key(&c, group())
        .unwrap();
    assert_eq!(record.chain_ids().collect::<Vec<_>>(), [c2, c1]);
}

#[test]
fn tampered_signatures_rejected_records_unchanged_both_ways() {
    let mut peer = client();
    peer.new_party("alice", "alice", 1).unwrap();
    peer.new_party("bob", "bob", 2).unwrap();
    let a = ProtocolAddress::new("alice", 1);
    let mut carol = Member::new("carol", 3, 10);
    let d = carol.distribution();
    missive_to_client(&mut carol, &mut peer, ("bob", 2), &d);
    let d = peer.sk_distribution("alice", GROUP).unwrap();
    client_to_missive(&mut peer, ("alice", 1), &mut carol, &d);
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

impl Who {
    fn name(&self) -> String {
        match self {
            Who::Missive(m) => m.name(),
            Who::Client(p) => p.clone(),
        }
    }
}

/// Mutable borrows of two different members.
fn two<T>(v: &mut [T], i: usize, j: usize) -> (&mut T, &mut T) {
    assert_ne!(i, j);
    if i < j {
        let (a, b) = v.split_at_mut(j);
        (&mut a[i], &mut b[0])
    } else {
        let (a, b) = v.split_at_mut(i);
        (&mut b[0], &mut a[j])
    }
}

/// Member `from` makes (or, with `rotate`, starts anew) its chain and hands the
/// distribution message to every member of `to` but itself, each over their 1:1
/// session: a missive sender through `Device::distribute_sender_key`, after starting
/// the sessions it lacks from the members' bundles.
fn distribute(members: &mut [Who], peer: &mut Peer, from: usize, to: &[usize], rotate: bool) {
    let recipients: Vec<usize> = to.iter().copied().filter(|&r| r != from).collect();
    let from_name = members[from].name();
    if let Who::Client(p) = &members[from] {
        let p = p.clone();
        if rotate {
            peer.set_sk_record(&p, &p, 1, GROUP, None).unwrap();
        }
        let d = peer.sk_distribution(&p, GROUP).unwrap();
        for &r in &recipients {
            match &mut members[r] {
                Who::Missive(m) => client_to_missive(peer, (&p, 1), m, &d),
                Who::Client(q) => client_to_client(peer, (&p, 1), (q, 1), &d),
            }
        }
        return;
    }
    let addrs: Vec<ProtocolAddress> = recipients
        .iter()
        .map(|&r| ProtocolAddress::new(members[r].name(), 1))
        .collect();
    for (&r, addr) in recipients.iter().zip(&addrs) {
        let (Who::Missive(m), receiver) = two(members, from, r) else {
            unreachable!("a missive sender")
        };
        if !m.has_session(addr) {
            let bundle = match receiver {
                Who::Missive(x) => x.prekey_bundle(),
                Who::Client(q) => to_missive_bundle(&peer.make_bundle(q, true).unwrap()),
            };
            m.start_session(addr, &bundle);
        }
    }
    let Who::Missive(m) = &mut members[from] else {
        unreachable!("a missive sender")
    };
    let skdm = if rotate { m.rotate() } else { m.distribution() };
    let from_addr = m.address();
    let sealed = m
        .device
        .distribute_sender_key(&skdm, &addrs, NOW, &mut m.rng);
    for ((addr, sent), &r) in sealed.into_iter().zip(&recipients) {
        assert_eq!(
            addr.name(),
            members[r].name(),
            "one result per member, in order"
        );
        let w = to_wire(&sent.unwrap());
        match &mut members[r] {
            Who::Missive(x) => x.receive_distribution(&from_addr, &w),
            Who::Client(q) => {
                let got = peer.decrypt(q, &from_name, 1, &w).unwrap();
                assert_eq!(got, skdm.serialized());
                peer.sk_process(q, &from_name, 1, &got).unwrap();
            }
        }
    }
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

    // Everyone sends its distribution to everyone else over their 1:1 sessions.
    let everyone: Vec<usize> = (0..6).collect();
    for s in 0..6 {
        distribute(&mut members, &mut peer, s, &everyone, false);
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
        distribute(&mut members, &mut peer, s, &staying, true);
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
