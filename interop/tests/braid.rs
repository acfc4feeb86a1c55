//! Post-quantum healing against libsignal-client 0.103: the SPQR ML-KEM braid advances
//! epochs between missive and the peer, in both roles, at the rate two libsignal-client
//! peers reach on the same traffic; and between two missive peers.
//!
//! The traffic (`Schedule`): 1,000 round trips of ping-pong (2,000 messages). Except the
//! very first (prekey) message, every message is lost with probability 10 % and otherwise
//! delivered after a random delay of 0 to `WINDOW` further sends, so that deliveries
//! interleave out of order inside that window. The schedule is drawn from a seeded RNG
//! whose draws do not depend on the parties, so every pairing sees exactly the same
//! losses and reorderings. missive's session record is serialized and read back between
//! every two operations in the runs against the peer (whose own driver stores records
//! serialized and reads them back on every operation).

mod common;
use common::*;
use missive::*;
use missive_interop::{CiphertextMessage as Wire, Peer, PeerKind};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

const ROUND_TRIPS: usize = 1_000;
const LOSS: f64 = 0.10;
/// Reordering window, in sends.
const WINDOW: u64 = 4;
const SEED: u64 = 11;

fn client() -> Peer {
    Peer::spawn(PeerKind::Client).expect("spawn libsignal-client driver")
}

/// The epoch of a message's SPQR field (`01 ‖ varint epoch ‖ …`).
fn epoch_of(m: &Wire) -> u64 {
    let field = if m.is_prekey() {
        PreKeySignalMessage::deserialize(&m.body)
            .unwrap()
            .message()
            .pq_ratchet()
            .to_vec()
    } else {
        SignalMessage::deserialize(&m.body)
            .unwrap()
            .pq_ratchet()
            .to_vec()
    };
    assert_eq!(field.first(), Some(&1), "SPQR field version");
    let mut epoch = 0u64;
    for (i, b) in field[1..].iter().enumerate() {
        epoch |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return epoch;
        }
    }
    panic!("truncated epoch")
}

/// What one run of the schedule did.
#[derive(Debug, Default, Clone)]
struct Run {
    /// The highest epoch in the fields each side sent.
    epoch_a: u64,
    epoch_b: u64,
    /// The message number (1-based, in sending order) at which each epoch first appeared.
    first_message_of_epoch: Vec<(u64, usize)>,
    sent: usize,
    lost: usize,
    /// Messages delivered after a later message of the same sender.
    reordered: usize,
    failed: Vec<String>,
}

impl Run {
    /// Epoch advances (the session starts at epoch 1).
    fn advances(&self) -> u64 {
        self.epoch_a.max(self.epoch_b) - 1
    }
}

/// Runs the schedule between `a` (who sends first) and `b`.
fn run_schedule(a: &mut dyn Endpoint, b: &mut dyn Endpoint) -> Run {
    let mut rng = ChaCha20Rng::seed_from_u64(SEED);
    let mut run = Run::default();
    // (due, send number, from a?, message)
    let mut pending: Vec<(u64, usize, bool, Wire)> = Vec::new();
    let mut t = 0u64;
    let mut newest_delivered = [0usize; 2];
    let mut deliver = |pending: &mut Vec<(u64, usize, bool, Wire)>,
                       t: u64,
                       all: bool,
                       run: &mut Run,
                       a: &mut dyn Endpoint,
                       b: &mut dyn Endpoint| {
        // In order of due time; ties in sending order.
        pending.sort_by_key(|p| (p.0, p.1));
        while let Some(p) = pending.first() {
            if !all && p.0 > t {
                break;
            }
            let (_, n, from_a, m) = pending.remove(0);
            let side = usize::from(!from_a);
            if n < newest_delivered[side] {
                run.reordered += 1;
            }
            newest_delivered[side] = newest_delivered[side].max(n);
            let to: &mut dyn Endpoint = if from_a { &mut *b } else { &mut *a };
            if let Err(e) = to.decrypt(&m) {
                run.failed.push(format!("message {n}: {e}"));
            }
        }
    };
    for i in 0..ROUND_TRIPS {
        for from_a in [true, false] {
            let m = if from_a {
                a.encrypt(b"ping")
            } else {
                b.encrypt(b"pong")
            };
            run.sent += 1;
            t += 1;
            let e = epoch_of(&m);
            if run
                .first_message_of_epoch
                .last()
                .is_none_or(|&(last, _)| e > last)
            {
                run.first_message_of_epoch.push((e, run.sent));
            }
            if from_a {
                run.epoch_a = run.epoch_a.max(e);
            } else {
                run.epoch_b = run.epoch_b.max(e);
            }
            if i == 0 && from_a {
                // The prekey message always arrives: it makes the session.
                let got = b.decrypt(&m).expect("the prekey message");
                assert_eq!(got, b"ping");
                continue;
            }
            // The draws do not depend on the parties: the same schedule for every pair.
            let lost = (rng.next_u64() as f64 / u64::MAX as f64) < LOSS;
            if lost {
                run.lost += 1;
                continue;
            }
            let delay = rng.next_u64() % (WINDOW + 1);
            pending.push((t + delay, run.sent, from_a, m));
            deliver(&mut pending, t, false, &mut run, a, b);
        }
    }
    deliver(&mut pending, t, true, &mut run, a, b);
    run
}

/// Serializes the missive party's record and reads it back into its store, checking the
/// encoding is stable.
fn round_trip_record(p: &mut MissiveParty) {
    let Some(bytes) = p.record() else {
        return;
    };
    let back = SessionRecord::deserialize(&bytes).expect("our own record parses");
    assert_eq!(*back.serialize(), *bytes, "record encoding is stable");
    let remote = p.remote.clone();
    p.device
        .store_mut()
        .session_store
        .store_session(&remote, back);
}

/// A libsignal-client party in its own driver process (so that two can talk).
fn peer_party<'a>(
    peer: &'a mut Peer,
    party: &str,
    remote_name: &str,
    remote_device: u32,
) -> PeerParty<'a> {
    PeerParty {
        peer,
        party: party.into(),
        remote_name: remote_name.into(),
        remote_device,
    }
}

fn libsignal_pair() -> Run {
    let mut pa = client();
    let mut pb = client();
    pa.new_party("alice", ALICE_ACI, 1).unwrap();
    pb.new_party("bob", BOB_ACI, 2).unwrap();
    let bundle = pb.make_bundle("bob", true).unwrap();
    pa.process_bundle("alice", BOB_ACI, 2, &bundle).unwrap();
    let mut alice = peer_party(&mut pa, "alice", BOB_ACI, 2);
    let mut bob = peer_party(&mut pb, "bob", ALICE_ACI, 1);
    run_schedule(&mut alice, &mut bob)
}

fn missive_initiates() -> Run {
    let mut peer = client();
    peer.new_party("bob", BOB_ACI, 2).unwrap();
    let bundle = peer.make_bundle("bob", true).unwrap();
    let mut alice = MissiveParty::new(ALICE_ACI, 1, BOB_ACI, 2, 101);
    alice.process_bundle(&bundle).unwrap();
    let mut bob = peer_party(&mut peer, "bob", ALICE_ACI, 1);
    let mut round_trips = 0usize;
    let run = run_with_round_trips(&mut alice, &mut bob, true, &mut round_trips);
    // Before and after each of its 1,000 sends and ~900 deliveries.
    assert!(
        round_trips >= 2 * (1_000 + 800),
        "{round_trips} record round trips"
    );
    run
}

fn client_initiates() -> Run {
    let mut peer = client();
    peer.new_party("alice", ALICE_ACI, 1).unwrap();
    let mut bob = MissiveParty::new(BOB_ACI, 2, ALICE_ACI, 1, 102);
    let bundle = bob.bundle(true, false);
    peer.process_bundle("alice", BOB_ACI, 2, &bundle).unwrap();
    let mut alice = peer_party(&mut peer, "alice", BOB_ACI, 2);
    let mut round_trips = 0usize;
    let run = run_with_round_trips(&mut bob, &mut alice, false, &mut round_trips);
    // Before and after each of its 1,000 sends and ~900 deliveries.
    assert!(
        round_trips >= 2 * (1_000 + 800),
        "{round_trips} record round trips"
    );
    run
}

/// Runs the schedule between a missive party and a peer party, with missive's record
/// read back from its serialization after every operation. `missive_first`: missive is
/// the initiator (sends first).
fn run_with_round_trips(
    ours: &mut MissiveParty,
    theirs: &mut PeerParty<'_>,
    missive_first: bool,
    count: &mut usize,
) -> Run {
    // missive's record is read back from its serialization before and after each of
    // its operations, so every operation starts from a deserialized record.
    struct RoundTripping<'a> {
        inner: &'a mut MissiveParty,
        count: &'a mut usize,
    }
    impl Endpoint for RoundTripping<'_> {
        fn name(&self) -> String {
            self.inner.name()
        }
        fn encrypt(&mut self, plaintext: &[u8]) -> Wire {
            round_trip_record(self.inner);
            *self.count += 1;
            let m = self.inner.encrypt(plaintext);
            round_trip_record(self.inner);
            *self.count += 1;
            m
        }
        fn decrypt(&mut self, msg: &Wire) -> Result<Vec<u8>, String> {
            round_trip_record(self.inner);
            *self.count += 1;
            let r = self.inner.decrypt(msg);
            round_trip_record(self.inner);
            *self.count += 1;
            r
        }
    }
    let mut ours = RoundTripping { inner: ours, count };
    if missive_first {
        run_schedule(&mut ours, theirs)
    } else {
        run_schedule(theirs, &mut ours)
    }
}

fn missive_pair() -> Run {
    let mut alice = MissiveParty::new(ALICE_ACI, 1, BOB_ACI, 2, 201);
    let mut bob = MissiveParty::new(BOB_ACI, 2, ALICE_ACI, 1, 202);
    let bundle = bob.bundle(true, false);
    alice.process_bundle(&bundle).unwrap();
    run_schedule(&mut alice, &mut bob)
}

fn report(name: &str, r: &Run) {
    eprintln!(
        "{name}: epochs reached A {} / B {} ({} advances); sent {}, lost {}, reordered {}, \
         failed {}; first message of epochs 2..: {:?}",
        r.epoch_a,
        r.epoch_b,
        r.advances(),
        r.sent,
        r.lost,
        r.reordered,
        r.failed.len(),
        &r.first_message_of_epoch[1..r.first_message_of_epoch.len().min(6)],
    );
}

/// Within 20 % of the reference's advances.
fn within_20_percent(ours: &Run, reference: &Run) -> bool {
    let (o, r) = (ours.advances() as f64, reference.advances() as f64);
    (o - r).abs() <= 0.2 * r
}

#[test]
fn epochs_advance_with_libsignal_at_the_peers_rate() {
    let reference = libsignal_pair();
    report("libsignal-client <-> libsignal-client", &reference);
    assert!(reference.failed.is_empty(), "{:?}", reference.failed);
    assert_eq!(reference.sent, 2 * ROUND_TRIPS);
    assert!(
        reference.lost > 150 && reference.reordered > 100,
        "{reference:?}"
    );
    assert!(
        reference.advances() >= 10,
        "the peers advance: {reference:?}"
    );

    for (name, run) in [
        (
            "missive (initiator) <-> libsignal-client",
            missive_initiates(),
        ),
        (
            "libsignal-client (initiator) <-> missive",
            client_initiates(),
        ),
        ("missive <-> missive", missive_pair()),
    ] {
        report(name, &run);
        assert!(run.failed.is_empty(), "{name}: {:?}", run.failed);
        // Same schedule: the same losses and reorderings.
        assert_eq!(
            (run.sent, run.lost, run.reordered),
            (reference.sent, reference.lost, reference.reordered),
            "{name}"
        );
        // Both sides advance.
        assert!(run.epoch_a >= 10 && run.epoch_b >= 10, "{name}: {run:?}");
        assert!(
            within_20_percent(&run, &reference),
            "{name}: {} advances, libsignal-client pair {}",
            run.advances(),
            reference.advances()
        );
    }
}
