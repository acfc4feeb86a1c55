//! The 1:1 stateful target: Alice and Bob converse under a list of actions read from the
//! input (sends, deliveries in any order, drops, replays, tampered and forged messages,
//! new sessions from fresh bundles, simultaneous initiation).
//!
//! Invariants, checked after every action:
//! * an honest message delivered for the first time decrypts to what was sent, unless
//!   the receiver has since learnt [`MAX_RECEIVER_CHAINS`] newer chains of the sender
//!   (then it must fail);
//! * a replayed, tampered or forged message fails, unless a tampering is one the
//!   protocol cannot see (the unauthenticated registration id, or handshake fields
//!   unused on a session that already exists): then it must give exactly the original
//!   plaintext, and only while the original was still undelivered;
//! * every call that fails (encrypt, decrypt or session start) leaves every record of
//!   that party byte-identical: session, identity, and all prekey records;
//! * a decryption names the peer as its sender, reports a new session only for a
//!   prekey message, and never a replaced identity (nobody changes identity here).
//!
//! The parties are [`missive::Device`]s; in the v3 configuration they accept v3 prekey
//! messages ([`missive::Config::accept_legacy_x3dh`]), in v4 they keep the default and
//! refuse them.
//!
//! Two targets run this world:
//! * [`conversation`] starts from a snapshot: parties with an established session (and,
//!   with [`config::LIVED`], a second session, archived messages and skipped keys), made
//!   once per configuration and deserialized from their records for every execution
//!   ([`party::Frozen`]), so an execution costs its actions, not a handshake;
//! * [`handshake`] starts from two fresh identities and a handshake, as every session
//!   does: the fuzzer steers identities, bundles and the first messages through the seed.
//!
//! Input: `config (1) ‖ seed (8) ‖ actions`, each action an opcode byte and its
//! arguments (see [`op`]). Missing bytes read as zero.

use missive::crypto::PublicKey;
use missive::{
    CiphertextMessageType, Error, IdentityChange, MAX_RECEIVER_CHAINS, PreKeySignalMessage,
    ProtocolAddress, ProtocolError, SignalMessage,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use super::party::{self, ALICE, BOB, Frozen, NOW, Party};

/// Opcodes: the first byte of each action, modulo their number.
pub mod op {
    /// `SEND from len`: the party `from & 1` (0 Alice, 1 Bob) encrypts `len` bytes.
    pub const SEND: u8 = 0;
    /// `DELIVER to pick`: delivers in-flight message `pick` (mod count) to `to & 1`.
    pub const DELIVER: u8 = 1;
    /// `DROP to pick`: loses in-flight message `pick`.
    pub const DROP: u8 = 2;
    /// `REPLAY to pick`: delivers an already delivered message again.
    pub const REPLAY: u8 = 3;
    /// `TAMPER to pick how pos_hi pos_lo value`: delivers a modified copy of an in-flight
    /// or delivered message: `how % 4` = flip bit `pos`, truncate to `pos`, set byte
    /// `pos` to `value`, append `value`.
    pub const TAMPER: u8 = 4;
    /// `FORGE to kind len bytes…`: delivers `len` raw bytes as a prekey (`kind & 1`) or
    /// normal message.
    pub const FORGE: u8 = 5;
    /// `RESTART who`: `who & 1` starts a new session from a fresh bundle of the other.
    pub const RESTART: u8 = 6;
    /// How many opcodes there are.
    pub const COUNT: u8 = 7;
}

/// `config` bits: 1 = v3 (X3DH, legacy bundles) instead of v4; 2 = bundles carry a
/// one-time EC prekey; 4 = ([`conversation`] only) the snapshot has lived.
pub mod config {
    /// Run the v3 protocol.
    pub const V3: u8 = 1;
    /// Bundles carry a one-time EC prekey.
    pub const ONE_TIME: u8 = 2;
    /// The snapshot has lived: besides the established session, Bob has started a second
    /// one (the first is archived on his side), and three of Alice's messages wait in
    /// flight, one of them delivered out of order (Bob holds skipped keys).
    pub const LIVED: u8 = 4;
}

/// Sends beyond this are ignored: far inside every window and jump bound, so that each
/// honest first delivery must succeed (the bounds have their own tests).
const MAX_SENDS: u32 = 600;
/// New sessions beyond this are ignored: far inside the archive bound (40).
const MAX_RESTARTS: u32 = 8;

/// The bytes of an input, read from the front; missing bytes read as zero.
pub(crate) struct Input<'a>(pub(crate) &'a [u8]);

impl Input<'_> {
    pub(crate) fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    pub(crate) fn take(&mut self, n: usize) -> &[u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }
    /// The next 8 bytes as a seed (little-endian, zero-padded).
    pub(crate) fn seed(&mut self) -> u64 {
        let mut seed = [0u8; 8];
        let bytes = self.take(8);
        seed.get_mut(..bytes.len())
            .expect("at most 8 bytes")
            .copy_from_slice(bytes);
        u64::from_le_bytes(seed)
    }
    /// A ChaCha RNG seeded by the next 8 bytes.
    pub(crate) fn rng(&mut self) -> ChaCha20Rng {
        ChaCha20Rng::seed_from_u64(self.seed())
    }
}

#[derive(Clone)]
struct InFlight {
    kind: CiphertextMessageType,
    bytes: Vec<u8>,
    plaintext: Vec<u8>,
    ratchet_key: PublicKey,
}

fn ratchet_key(kind: CiphertextMessageType, bytes: &[u8]) -> PublicKey {
    let key = match kind {
        CiphertextMessageType::PreKey => {
            PreKeySignalMessage::deserialize(bytes).map(|m| *m.message().sender_ratchet_key())
        }
        _ => SignalMessage::deserialize(bytes).map(|m| *m.sender_ratchet_key()),
    };
    key.expect("missive parses what it sends")
}

/// The sender chains a receiver has learnt, oldest first, over all its sessions with the
/// sender. A session keeps the newest [`MAX_RECEIVER_CHAINS`] of its own, and never more
/// newer ones than this list holds, so "not evicted here" implies "still kept".
#[derive(Default, Clone)]
struct Learnt(Vec<PublicKey>);

impl Learnt {
    fn evicted(&self, k: &PublicKey) -> bool {
        self.0
            .iter()
            .position(|x| x == k)
            .is_some_and(|i| i + MAX_RECEIVER_CHAINS < self.0.len())
    }
    fn learn(&mut self, k: PublicKey) {
        if !self.0.contains(&k) {
            self.0.push(k);
        }
    }
}

struct World {
    parties: [Party; 2],
    rng: ChaCha20Rng,
    v3: bool,
    one_time: bool,
    /// `in_flight[i]`: messages on their way to party `i`.
    in_flight: [Vec<InFlight>; 2],
    delivered: [Vec<InFlight>; 2],
    learnt: [Learnt; 2],
    sends: u32,
    restarts: u32,
}

impl World {
    fn addresses(&self, to: usize) -> (ProtocolAddress, ProtocolAddress) {
        (
            self.parties[to].address().clone(),
            self.parties[1 - to].address().clone(),
        )
    }

    /// Delivers `bytes` to party `to`; on failure, checks that nothing changed.
    fn deliver(
        &mut self,
        to: usize,
        kind: CiphertextMessageType,
        bytes: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let (_, from) = self.addresses(to);
        let party = &mut self.parties[to];
        let before = party::snapshot(party, &from);
        let r = party.decrypt(&from, kind, bytes, &mut self.rng);
        match r {
            Ok(d) => {
                assert_eq!(d.sender.address(), &from, "wrong sender");
                assert!(
                    !d.new_session || kind == CiphertextMessageType::PreKey,
                    "a normal message made a session"
                );
                assert!(
                    !matches!(d.identity_change, IdentityChange::Replaced { .. }),
                    "identity replaced, yet nobody changed identity"
                );
                Ok(d.plaintext)
            }
            Err(e) => {
                assert_eq!(
                    before,
                    party::snapshot(party, &from),
                    "failed decrypt changed records"
                );
                Err(e)
            }
        }
    }

    fn send(&mut self, from: usize, len: u8) {
        if self.sends >= MAX_SENDS {
            return;
        }
        self.sends += 1;
        let mut plaintext = self.sends.to_be_bytes().to_vec();
        plaintext.resize(4 + usize::from(len), len);
        let (_, to) = self.addresses(from);
        let party = &mut self.parties[from];
        let before = party::snapshot(party, &to);
        match party.encrypt(&to, &plaintext, NOW, &mut self.rng) {
            Ok(m) => {
                let kind = m.message_type();
                let bytes = m.serialize().to_vec();
                self.in_flight[1 - from].push(InFlight {
                    kind,
                    ratchet_key: ratchet_key(kind, &bytes),
                    bytes,
                    plaintext,
                });
            }
            Err(e) => {
                assert!(
                    !party::has_session(party, &to),
                    "encrypt failed on a session: {e:?}"
                );
                assert_eq!(e, Error::Protocol(ProtocolError::NoSession));
                assert_eq!(
                    before,
                    party::snapshot(party, &to),
                    "failed encrypt changed records"
                );
            }
        }
    }

    fn deliver_in_flight(&mut self, to: usize, pick: u8) {
        let q = &mut self.in_flight[to];
        if q.is_empty() {
            return;
        }
        let m = q.remove(usize::from(pick) % q.len());
        let r = self.deliver(to, m.kind, &m.bytes);
        // Exact with one session; with several, a session may still keep a chain that
        // the count over all sessions calls evicted.
        let evicted = self.learnt[to].evicted(&m.ratchet_key);
        match r {
            Err(_) if evicted => return,
            Err(e) => panic!("honest message refused: {e:?}"),
            Ok(_) if evicted && self.restarts <= 1 => panic!("evicted chain decrypted"),
            Ok(pt) => assert_eq!(pt, m.plaintext, "honest message decrypted wrongly"),
        }
        self.learnt[to].learn(m.ratchet_key);
        self.delivered[to].push(m);
    }

    fn replay(&mut self, to: usize, pick: u8) {
        let d = &self.delivered[to];
        if d.is_empty() {
            return;
        }
        let m = &d[usize::from(pick) % d.len()];
        let (kind, bytes) = (m.kind, m.bytes.clone());
        assert!(self.deliver(to, kind, &bytes).is_err(), "replay accepted");
    }

    fn tamper(&mut self, to: usize, input: &mut Input<'_>) {
        let pick = usize::from(input.byte());
        let how = input.byte() % 4;
        let pos = usize::from(u16::from_be_bytes([input.byte(), input.byte()]));
        let value = input.byte();
        let (pending, done) = (self.in_flight[to].len(), self.delivered[to].len());
        if pending + done == 0 {
            return;
        }
        let i = pick % (pending + done);
        let original = if i < pending {
            &self.in_flight[to][i]
        } else {
            &self.delivered[to][i - pending]
        };
        let mut bytes = original.bytes.clone();
        let len = bytes.len();
        match how {
            0 => bytes[pos / 8 % len] ^= 1 << (pos % 8),
            1 => bytes.truncate(pos % len),
            2 if bytes[pos % len] != value => bytes[pos % len] = value,
            2 => return,
            _ => bytes.push(value),
        }
        let (kind, plaintext) = (original.kind, original.plaintext.clone());
        let Ok(pt) = self.deliver(to, kind, &bytes) else {
            return;
        };
        assert!(
            i < pending,
            "tampered replay of a delivered message accepted"
        );
        assert_eq!(
            pt, plaintext,
            "tampered message decrypted to something else"
        );
        // The original's keys are spent now: it counts as delivered.
        let m = self.in_flight[to].remove(i);
        self.learnt[to].learn(m.ratchet_key);
        self.delivered[to].push(m);
    }

    fn forge(&mut self, to: usize, input: &mut Input<'_>) {
        let kind = if input.byte() & 1 == 1 {
            CiphertextMessageType::PreKey
        } else {
            CiphertextMessageType::Whisper
        };
        let len = usize::from(input.byte());
        let bytes = input.take(len).to_vec();
        assert!(
            self.deliver(to, kind, &bytes).is_err(),
            "forged message accepted"
        );
    }

    fn restart(&mut self, who: usize) {
        if self.restarts >= MAX_RESTARTS {
            return;
        }
        self.restarts += 1;
        let other = &mut self.parties[1 - who];
        let bundle = party::publish_bundle(other, self.v3, self.one_time, &mut self.rng);
        let (_, remote) = self.addresses(who);
        let party = &mut self.parties[who];
        let change = party::start_session(party, &bundle, &remote, &mut self.rng)
            .expect("an honest bundle starts a session");
        assert!(
            !matches!(change, IdentityChange::Replaced { .. }),
            "identity replaced, yet nobody changed identity"
        );
    }
}

impl World {
    /// Two fresh parties and a session Alice starts: `handshake`'s starting point.
    fn fresh(cfg: u8, mut rng: ChaCha20Rng) -> World {
        let v3 = cfg & config::V3 != 0;
        let one_time = cfg & config::ONE_TIME != 0;
        let alice: Party = party::device(ALICE, 1001, v3, &mut rng);
        let bob = party::device(BOB, 2002, v3, &mut rng);
        let mut w = World {
            parties: [alice, bob],
            rng,
            v3,
            one_time,
            in_flight: [Vec::new(), Vec::new()],
            delivered: [Vec::new(), Vec::new()],
            learnt: [Learnt::default(), Learnt::default()],
            sends: 0,
            restarts: 0,
        };
        w.restart(0);
        w
    }

    /// `conversation`'s starting point for `cfg`: made once, then deserialized.
    fn from_snapshot(cfg: u8, rng: ChaCha20Rng) -> World {
        thread_local! {
            static SNAPSHOTS: RefCell<BTreeMap<u8, Rc<FrozenWorld>>> = const {
                RefCell::new(BTreeMap::new())
            };
        }
        let cfg = cfg & (config::V3 | config::ONE_TIME | config::LIVED);
        let snap = SNAPSHOTS.with(|c| {
            c.borrow_mut()
                .entry(cfg)
                .or_insert_with(|| Rc::new(FrozenWorld::make(cfg)))
                .clone()
        });
        World {
            parties: [snap.parties[0].thaw(), snap.parties[1].thaw()],
            rng,
            v3: snap.v3,
            one_time: snap.one_time,
            in_flight: snap.in_flight.clone(),
            delivered: snap.delivered.clone(),
            learnt: snap.learnt.clone(),
            sends: snap.sends,
            restarts: snap.restarts,
        }
    }

    /// Runs the actions of `input` (see [`op`]).
    fn run(&mut self, input: &mut Input<'_>) {
        while !input.0.is_empty() {
            let opcode = input.byte() % op::COUNT;
            let party = usize::from(input.byte() & 1);
            match opcode {
                op::SEND => {
                    let len = input.byte();
                    self.send(party, len)
                }
                op::DELIVER => {
                    let pick = input.byte();
                    self.deliver_in_flight(party, pick)
                }
                op::DROP => {
                    let pick = usize::from(input.byte());
                    let q = &mut self.in_flight[party];
                    if !q.is_empty() {
                        q.remove(pick % q.len());
                    }
                }
                op::REPLAY => {
                    let pick = input.byte();
                    self.replay(party, pick)
                }
                op::TAMPER => self.tamper(party, input),
                op::FORGE => self.forge(party, input),
                _ => self.restart(party),
            }
        }
    }
}

/// A world frozen after its setup: both parties as records, and the model of what is in
/// flight and delivered.
struct FrozenWorld {
    parties: [Frozen; 2],
    v3: bool,
    one_time: bool,
    in_flight: [Vec<InFlight>; 2],
    delivered: [Vec<InFlight>; 2],
    learnt: [Learnt; 2],
    sends: u32,
    restarts: u32,
}

impl FrozenWorld {
    /// Runs the setup of `cfg` through the checked actions themselves, and freezes it.
    fn make(cfg: u8) -> FrozenWorld {
        let mut w = World::fresh(
            cfg,
            ChaCha20Rng::seed_from_u64(0x736e_6170 + u64::from(cfg)),
        );
        // An established session: a prekey message, a reply, an acknowledgement.
        let mut setup: Vec<u8> = vec![op::SEND, 0, 5, op::DELIVER, 1, 0, op::SEND, 1, 7];
        setup.extend([op::DELIVER, 0, 0, op::SEND, 0, 9, op::DELIVER, 1, 0]);
        if cfg & config::LIVED != 0 {
            // Bob starts a second session; Alice sends three on the first, Bob gets the last.
            setup.extend([
                op::RESTART,
                1,
                op::SEND,
                0,
                1,
                op::SEND,
                0,
                2,
                op::SEND,
                0,
                3,
            ]);
            setup.extend([op::DELIVER, 1, 2]);
        }
        w.run(&mut Input(&setup));
        FrozenWorld {
            parties: [Frozen::freeze(&w.parties[0]), Frozen::freeze(&w.parties[1])],
            v3: w.v3,
            one_time: w.one_time,
            in_flight: w.in_flight,
            delivered: w.delivered,
            learnt: w.learnt,
            sends: w.sends,
            restarts: w.restarts,
        }
    }
}

/// Runs one conversation from `data`, starting from an established session (a snapshot
/// deserialized for this run; see the module doc).
pub fn conversation(data: &[u8]) {
    let mut input = Input(data);
    let cfg = input.byte();
    let rng = input.rng();
    World::from_snapshot(cfg, rng).run(&mut input);
}

/// Runs one conversation from `data`, starting with two fresh identities and a handshake
/// (the seed makes the identities, bundles and ephemeral keys).
pub fn handshake(data: &[u8]) {
    let mut input = Input(data);
    let cfg = input.byte();
    let rng = input.rng();
    World::fresh(cfg, rng).run(&mut input);
}
