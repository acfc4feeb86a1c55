//! Two missive parties under random traffic: sends, reordered deliveries, drops and
//! duplicates. Every first delivery of an honest message decrypts to what was sent,
//! unless its chain is older than the receiver keeps (MAX_RECEIVER_CHAINS); every
//! duplicate is refused; every refusal leaves the receiver's records byte-identical.

mod common;
use common::*;
use missive::crypto::PublicKey;
use missive::*;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Action {
    Send { from_alice: bool, len: u8 },
    Deliver { to_alice: bool, pick: usize },
    Drop { to_alice: bool, pick: usize },
    Duplicate { to_alice: bool, pick: usize },
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => (any::<bool>(), any::<u8>()).prop_map(|(from_alice, len)| Action::Send { from_alice, len }),
        4 => (any::<bool>(), any::<usize>()).prop_map(|(to_alice, pick)| Action::Deliver { to_alice, pick }),
        1 => (any::<bool>(), any::<usize>()).prop_map(|(to_alice, pick)| Action::Drop { to_alice, pick }),
        1 => (any::<bool>(), any::<usize>()).prop_map(|(to_alice, pick)| Action::Duplicate { to_alice, pick }),
    ]
}

struct InFlight {
    kind: CiphertextMessageType,
    bytes: Vec<u8>,
    plaintext: Vec<u8>,
    ratchet_key: PublicKey,
}

fn ratchet_key(kind: CiphertextMessageType, bytes: &[u8]) -> PublicKey {
    match kind {
        CiphertextMessageType::PreKey => *PreKeySignalMessage::deserialize(bytes)
            .unwrap()
            .message()
            .sender_ratchet_key(),
        _ => *SignalMessage::deserialize(bytes)
            .unwrap()
            .sender_ratchet_key(),
    }
}

/// The sender chains a receiver has learnt, oldest first.
#[derive(Default)]
struct Learnt(Vec<PublicKey>);

impl Learnt {
    fn evicted(&self, k: &PublicKey) -> bool {
        match self.0.iter().position(|x| x == k) {
            Some(i) => i + MAX_RECEIVER_CHAINS < self.0.len(),
            None => false,
        }
    }
    fn learn(&mut self, k: PublicKey) {
        if !self.0.contains(&k) {
            self.0.push(k);
        }
    }
}

fn run(v3: bool, seed: u64, actions: Vec<Action>) {
    let mut rng = rng(seed);
    let new = if v3 { legacy_device } else { device };
    let mut alice = new("9d0652a3-dcc3-4d11-975f-74d61598733f", 1, &mut rng);
    let mut bob = new("5e4f7f2c-3a6b-4c1d-9e8f-0a1b2c3d4e5f", 1, &mut rng);
    let (a, b) = (alice.address().clone(), bob.address().clone());
    establish(&mut alice, &mut bob, true, v3, &mut rng);

    // Index 0: to Bob; 1: to Alice.
    let mut queues: [Vec<InFlight>; 2] = [Vec::new(), Vec::new()];
    let mut delivered: [Vec<InFlight>; 2] = [Vec::new(), Vec::new()];
    let mut learnt = [Learnt::default(), Learnt::default()];
    let mut bob_has_session = false;
    let mut counter = 0u32;

    for act in actions {
        match act {
            Action::Send { from_alice, len } => {
                if !from_alice && !bob_has_session {
                    continue;
                }
                counter += 1;
                let mut plaintext = counter.to_be_bytes().to_vec();
                plaintext.resize(4 + usize::from(len), len);
                let (sender, to, q) = if from_alice {
                    (&mut alice, &b, 0)
                } else {
                    (&mut bob, &a, 1)
                };
                let m = send(sender, to, &plaintext, &mut rng);
                let kind = m.message_type();
                let bytes = m.serialize().to_vec();
                queues[q].push(InFlight {
                    kind,
                    ratchet_key: ratchet_key(kind, &bytes),
                    bytes,
                    plaintext,
                });
            }
            Action::Deliver { to_alice, pick } | Action::Drop { to_alice, pick }
                if !queues[usize::from(to_alice)].is_empty() =>
            {
                let q = usize::from(to_alice);
                let m = queues[q].remove(pick % queues[q].len());
                if matches!(act, Action::Drop { .. }) {
                    continue;
                }
                let (receiver, from) = if to_alice {
                    (&mut alice, &b)
                } else {
                    (&mut bob, &a)
                };
                let before = snapshot(receiver, &[from]);
                let r = recv_bytes(receiver, from, m.kind, &m.bytes, &mut rng);
                if learnt[q].evicted(&m.ratchet_key) {
                    assert!(r.is_err(), "message on an evicted chain decrypted");
                    assert_eq!(before, snapshot(receiver, &[from]));
                } else {
                    assert_eq!(r.unwrap(), m.plaintext, "honest message failed");
                    learnt[q].learn(m.ratchet_key);
                    if !to_alice {
                        bob_has_session = true;
                    }
                    delivered[q].push(m);
                }
            }
            Action::Duplicate { to_alice, pick }
                if !delivered[usize::from(to_alice)].is_empty() =>
            {
                let q = usize::from(to_alice);
                let m = &delivered[q][pick % delivered[q].len()];
                let (receiver, from) = if to_alice {
                    (&mut alice, &b)
                } else {
                    (&mut bob, &a)
                };
                let before = snapshot(receiver, &[from]);
                assert!(
                    recv_bytes(receiver, from, m.kind, &m.bytes, &mut rng).is_err(),
                    "replay accepted"
                );
                assert_eq!(before, snapshot(receiver, &[from]), "replay changed state");
            }
            _ => {}
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn v4_random_traffic(seed in any::<u64>(), actions in proptest::collection::vec(action(), 1..80)) {
        run(false, seed, actions);
    }

    #[test]
    fn v3_random_traffic(seed in any::<u64>(), actions in proptest::collection::vec(action(), 1..80)) {
        run(true, seed, actions);
    }
}
