//! Random group traffic against a model: members send, deliveries reorder, drop and
//! duplicate, members rotate (sometimes leaving someone out), and backlogs arrive in
//! batches. Every decryption result must be what the model predicts, and the batch
//! path must predict the same as the one-by-one path.

mod group_common;

use std::collections::BTreeSet;

use group_common::*;
use missive::*;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Action {
    Send {
        who: usize,
    },
    Deliver {
        to: usize,
        pick: usize,
    },
    Drop {
        to: usize,
        pick: usize,
    },
    Replay {
        to: usize,
        pick: usize,
    },
    Rotate {
        who: usize,
        leave_out: Option<usize>,
    },
    Backlog {
        to: usize,
    },
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => (0usize..8).prop_map(|who| Action::Send { who }),
        6 => (0usize..8, any::<usize>()).prop_map(|(to, pick)| Action::Deliver { to, pick }),
        1 => (0usize..8, any::<usize>()).prop_map(|(to, pick)| Action::Drop { to, pick }),
        2 => (0usize..8, any::<usize>()).prop_map(|(to, pick)| Action::Replay { to, pick }),
        1 => (0usize..8, proptest::option::of(0usize..8))
            .prop_map(|(who, leave_out)| Action::Rotate { who, leave_out }),
        1 => (0usize..8).prop_map(|to| Action::Backlog { to }),
    ]
}

#[derive(Clone)]
struct Sent {
    from: usize,
    message: SenderKeyMessage,
    plaintext: Vec<u8>,
}

/// What one receiver knows of one chain of one sender.
#[derive(Clone, Debug)]
struct ModelChain {
    chain_id: u32,
    start: u32,
    received: BTreeSet<u32>,
}

struct World {
    members: Vec<Member>,
    /// `chains[r][s]`: receiver r's chains of sender s, newest first.
    chains: Vec<Vec<Vec<ModelChain>>>,
    /// Messages not yet delivered, per receiver.
    pending: Vec<Vec<Sent>>,
    /// Messages delivered (or dropped), per receiver, for replays.
    history: Vec<Vec<Sent>>,
    counter: u32,
}

impl World {
    fn new(n: usize, seed: u64) -> Self {
        let mut members: Vec<Member> = (0..n)
            .map(|i| Member::new(&format!("member{i}"), seed.wrapping_add(i as u64)))
            .collect();
        // A 1:1 session between every two members, to carry distribution messages.
        for i in 0..n {
            for j in i + 1..n {
                let (a, b) = two(&mut members, i, j);
                connect(a, b);
            }
        }
        let mut w = World {
            members,
            chains: vec![vec![Vec::new(); n]; n],
            pending: vec![Vec::new(); n],
            history: vec![Vec::new(); n],
            counter: 0,
        };
        for s in 0..n {
            let d = w.members[s].distribution(GROUP);
            w.distribute(s, &d, None);
        }
        w
    }

    /// Sender `s` hands `d` over 1:1 sessions to every other member but `leave_out`.
    fn distribute(&mut self, s: usize, d: &SenderKeyDistributionMessage, leave_out: Option<usize>) {
        let to: Vec<usize> = (0..self.members.len())
            .filter(|&r| r != s && Some(r) != leave_out)
            .collect();
        group_common::distribute(&mut self.members, s, d, &to);
        for r in to {
            let list = &mut self.chains[r][s];
            // Fresh chain ids (rotation avoids the old one), so always a new state.
            assert!(list.iter().all(|c| c.chain_id != d.chain_id()));
            list.insert(
                0,
                ModelChain {
                    chain_id: d.chain_id(),
                    start: d.iteration(),
                    received: BTreeSet::new(),
                },
            );
            list.truncate(MAX_SENDER_KEY_STATES);
        }
    }

    /// The model's verdict, applied to the model if it is a success.
    fn expect(&mut self, r: usize, sent: &Sent) -> Result<Vec<u8>, Error> {
        let m = &sent.message;
        let Some(chain) = self.chains[r][sent.from]
            .iter_mut()
            .find(|c| c.chain_id == m.chain_id())
        else {
            return Err(Error::Protocol(ProtocolError::NoSenderKeyState));
        };
        if m.iteration() < chain.start || !chain.received.insert(m.iteration()) {
            return Err(Error::Protocol(ProtocolError::DuplicateMessage));
        }
        Ok(sent.plaintext.clone())
    }

    fn deliver(&mut self, r: usize, sent: Sent) {
        let from = self.members[sent.from].address.clone();
        let got = self.members[r].recv(&from, &sent.message);
        let want = self.expect(r, &sent);
        assert_eq!(got, want, "member {r} receiving {:?}", sent.message);
        self.history[r].push(sent);
    }

    fn apply(&mut self, a: &Action) {
        let n = self.members.len();
        match *a {
            Action::Send { who } => {
                let s = who % n;
                self.counter += 1;
                let plaintext = format!("{s}:{}", self.counter).into_bytes();
                let message = self.members[s].send(GROUP, &plaintext);
                for r in 0..n {
                    if r != s {
                        self.pending[r].push(Sent {
                            from: s,
                            message: message.clone(),
                            plaintext: plaintext.clone(),
                        });
                    }
                }
            }
            Action::Deliver { to, pick } => {
                let r = to % n;
                if !self.pending[r].is_empty() {
                    let i = pick % self.pending[r].len();
                    let sent = self.pending[r].remove(i);
                    self.deliver(r, sent);
                }
            }
            Action::Drop { to, pick } => {
                let r = to % n;
                if !self.pending[r].is_empty() {
                    let i = pick % self.pending[r].len();
                    self.pending[r].remove(i);
                }
            }
            Action::Replay { to, pick } => {
                let r = to % n;
                if !self.history[r].is_empty() {
                    let sent = self.history[r][pick % self.history[r].len()].clone();
                    self.deliver(r, sent);
                }
            }
            Action::Rotate { who, leave_out } => {
                let s = who % n;
                let d = self.members[s].rotate(GROUP);
                self.distribute(s, &d, leave_out.map(|l| l % n));
            }
            Action::Backlog { to } => {
                let r = to % n;
                let backlog: Vec<Sent> = std::mem::take(&mut self.pending[r]);
                let addresses: Vec<ProtocolAddress> = backlog
                    .iter()
                    .map(|s| self.members[s.from].address.clone())
                    .collect();
                let refs: Vec<(&ProtocolAddress, &SenderKeyMessage)> = addresses
                    .iter()
                    .zip(&backlog)
                    .map(|(a, s)| (a, &s.message))
                    .collect();
                let got = self.members[r].device.group_decrypt_batch(&refs);
                for (sent, got) in backlog.into_iter().zip(got) {
                    let want = self.expect(r, &sent);
                    assert_eq!(got, want, "member {r}, batch, {:?}", sent.message);
                    self.history[r].push(sent);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_group_traffic(
        n in 3usize..=5,
        seed in any::<u64>(),
        actions in proptest::collection::vec(action(), 1..160),
    ) {
        let mut world = World::new(n, seed);
        for a in &actions {
            world.apply(a);
        }
        // Everything still pending arrives at the end, one way or the other.
        for r in 0..n {
            world.apply(&Action::Backlog { to: r });
        }
        // Records survive a round trip through their serialization.
        for m in &world.members {
            for other in &world.members {
                if let Some(bytes) = m.record(&other.address, GROUP) {
                    let r = SenderKeyRecord::deserialize(&bytes).unwrap();
                    prop_assert_eq!(r.serialize().to_vec(), bytes);
                }
            }
        }
    }
}
