//! The group stateful target: two to four members (missive [`Device`](missive::Device)s) and an
//! outsider, Mallory, under a list of actions read from the input. Members hand out
//! their sender keys over real 1:1 sessions (PQXDH, created on first use), rotate them,
//! send to two groups, and their messages arrive reordered, dropped, replayed, tampered
//! with, alone or in batches. Mallory sends raw group messages, and raw distribution
//! messages over her own 1:1 sessions with the members (a distribution is processed
//! only under the sender its 1:1 message authenticated, so hers count as hers).
//!
//! A model of every member's sender-key records (`docs/PROTOCOL.md` §11.7–§11.9:
//! states per sender and distribution id, stored iterations, the bounds) predicts each
//! decryption. Invariants, checked after every call:
//! * an honest message delivered for the first time decrypts to what was sent, unless a
//!   bound explains the refusal: its chain was never handed to the receiver or was
//!   evicted (5 states), it precedes the distribution, its stored key was dropped
//!   (2,000 per chain), or it is more than 25,000 ahead (senders skip ahead cheaply
//!   with `__fuzz::skip_sender_messages`, so the fuzzer reaches both bounds);
//! * anything accepted as from a member is exactly a message that member sent, and a
//!   replay is accepted only when a re-processed distribution re-opened its chain after
//!   the first delivery;
//! * a tampered message (one byte changed, cut or added) is refused;
//! * every decryption result (plaintext or exact error) is the model's, and every call
//!   that fails leaves every record of the party byte-identical: sender-key records for
//!   group calls, and sessions, identities, prekeys and sender keys for 1:1 calls;
//! * a 1:1 message that carries a distribution names its sender, and the distribution
//!   is processed under that sender only;
//! * a batch (`group_decrypt_batch`) returns exactly what one-by-one decryption returns
//!   for the same messages on a copy of the store, and leaves the same records.
//!
//! Input: `config (1) ‖ seed (8) ‖ actions`, each action an opcode byte and its
//! arguments (see [`op`]). Missing bytes read as zero.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;

use missive::crypto::PublicKey;
use missive::store::memory::InMemSenderKeyStore;
use missive::{
    CiphertextMessageType, DistributionId, Error, MAX_SENDER_KEY_FORWARD_JUMP,
    MAX_SENDER_KEY_STATES, MAX_SENDER_MESSAGE_KEYS, MisuseError, ProtocolAddress, ProtocolError,
    Sender, SenderKeyDistributionMessage, SenderKeyMessage,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::conversation::Input;
use super::party::{self, ALICE, BOB, CAROL, DAVE, Frozen, NOW, Party, SenderKeys, Snapshot};

/// Opcodes: the first byte of each action, modulo their number. `who` and `to` name a
/// member (modulo the number of members); `g` a group (`g & 1`).
pub mod op {
    /// `SEND who g len`: `who` encrypts `4 + len` bytes to group `g`; every other
    /// member gets a copy in flight.
    pub const SEND: u8 = 0;
    /// `DISTRIBUTE who g mask`: `who` hands its chain for `g` (a new one if it has none)
    /// to the members in `mask` (bit i: member i), over 1:1 sessions.
    pub const DISTRIBUTE: u8 = 1;
    /// `ROTATE who g mask`: `who` starts a new chain for `g` and hands it to `mask`.
    pub const ROTATE: u8 = 2;
    /// `DELIVER to pick`: delivers in-flight item `pick` (mod count) to `to`: a group
    /// message, or a 1:1 message carrying a distribution (then processed).
    pub const DELIVER: u8 = 3;
    /// `DROP to pick`: loses in-flight item `pick`.
    pub const DROP: u8 = 4;
    /// `REPLAY to pick`: delivers an already delivered item again. For a distribution,
    /// the 1:1 message is replayed (refused), then its distribution processed again, as
    /// if its sender had sent it once more.
    pub const REPLAY: u8 = 5;
    /// `TAMPER to pick how pos_hi pos_lo value`: delivers a modified copy of an
    /// in-flight or delivered group message: `how % 4` = flip bit `pos`, truncate to
    /// `pos`, set byte `pos` to `value`, append `value`.
    pub const TAMPER: u8 = 6;
    /// `FORGE to kind from len bytes…`: raw bytes delivered to `to`: a group message
    /// from member `from` (mod members + 1, the last being Mallory) if `kind & 1`, else
    /// a distribution message processed under Mallory's address (`from` unused).
    pub const FORGE: u8 = 7;
    /// `SKIP who g count`: `who` skips `16 × count` iterations of its chain for `g`, as
    /// if it had sent that many messages that nobody received.
    pub const SKIP: u8 = 8;
    /// `BATCH to sel rot [from len bytes…]`: every group message in flight to `to`, in
    /// queue order rotated by `rot`, goes to `group_decrypt_batch`, with two replays of
    /// delivered messages if `sel & 1`, a bit-flipped copy of one if `sel & 2` (bit
    /// `rot`), and a forged message (as in `FORGE`; these arguments follow) if `sel & 4`.
    pub const BATCH: u8 = 9;
    /// How many opcodes there are in `group_conversation`.
    pub const COUNT: u8 = 10;
    /// `RECORDS who` (`mixed` only): every record of member `who` is serialized and the
    /// member continues on a device rebuilt from those bytes; the records must read back
    /// byte-identical.
    pub const RECORDS: u8 = 10;
    /// `CHAT who to len` (`mixed` only): `who` sends `4 + len` bytes to member `to` over
    /// their 1:1 session (a message that carries no distribution).
    pub const CHAT: u8 = 11;
    /// How many opcodes there are in `mixed`.
    pub const MIXED_COUNT: u8 = 12;
}

/// `config`: `config & 3` gives the number of members (0: 2, 1: 3, else 4).
pub mod config {
    /// Every member starts a chain for group 0 and hands it to every other member,
    /// delivered at once, before the actions run.
    pub const SETUP: u8 = 4;
}

/// The two groups every member may send to.
pub const GROUPS: [DistributionId; 2] = [
    DistributionId::from_bytes([
        0x6a, 0x1f, 0x3c, 0x90, 0x52, 0x4e, 0x4b, 0x07, 0x8d, 0x2a, 0x61, 0xf3, 0xc0, 0x9e, 0x44,
        0x18,
    ]),
    DistributionId::from_bytes([
        0xe2, 0x7b, 0x05, 0xd8, 0x19, 0xa4, 0x4c, 0x6f, 0xb1, 0x3e, 0x82, 0x5d, 0x0a, 0xc7, 0x96,
        0x2b,
    ]),
];

/// Members' names (service ids, so that the prekey messages carry `addresses`).
pub const MEMBERS: [&str; 4] = [ALICE, BOB, CAROL, DAVE];
/// The outsider whose distribution and group messages are raw input.
pub const MALLORY: &str = "mallory";

/// Group encryptions beyond this are ignored (each costs a signature).
const MAX_ENCRYPTS: u32 = 600;
/// Skipped iterations beyond this are ignored: enough to pass the 2,000 stored keys of a
/// chain and the forward jump of 25,000 (also tested in `tests/group_bounds.rs`).
const MAX_SKIPPED: u32 = 30_000;
/// 1:1 messages per pair of members beyond this are not sent. A receiver then learns at
/// most 10 of the sender's ratchet chains, so none of a waiting message's chain is
/// evicted (that needs 5 newer ones, hence 11 messages): every honest 1:1 message must
/// decrypt.
const MAX_PAIR_MESSAGES: u32 = 10;

/// An item in flight to a member.
#[derive(Clone)]
enum Item {
    /// An honest group message from member `from`.
    Group {
        from: usize,
        message: SenderKeyMessage,
    },
    /// A 1:1 message from member `from` carrying the distribution message `skdm`.
    Distribution {
        from: usize,
        kind: CiphertextMessageType,
        bytes: Vec<u8>,
        skdm: Vec<u8>,
    },
    /// A 1:1 message from member `from` carrying only `text`.
    Chat {
        from: usize,
        kind: CiphertextMessageType,
        bytes: Vec<u8>,
        text: Vec<u8>,
    },
}

/// How a group message reaches a member: the bytes an honest member sent (for the first
/// time or again), or bytes changed by someone else.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    First,
    Replay,
    Tampered,
    Forged,
}

/// One sender chain as the model of a receiver holds it (the record's state).
#[derive(Clone)]
struct Chain {
    chain_id: u32,
    key: PublicKey,
    /// The iteration of the distribution the chain came from.
    start: u32,
    /// The next iteration (the chain key's).
    next: u32,
    /// Stored iterations, oldest first.
    stored: VecDeque<u32>,
    /// Every iteration below this (from `start`) was passed over and not stored, or
    /// stored and then dropped.
    dropped_below: u32,
    /// When the state was added (the world's clock).
    added: u64,
}

impl Chain {
    /// `docs/PROTOCOL.md` §11.9 step 4, on the model.
    fn step(&mut self, it: u32) -> Result<(), ProtocolError> {
        if it < self.next {
            let pos = self.stored.iter().position(|&i| i == it);
            let pos = pos.ok_or(ProtocolError::DuplicateMessage)?;
            self.stored.remove(pos);
            return Ok(());
        }
        if it - self.next > MAX_SENDER_KEY_FORWARD_JUMP || it == u32::MAX {
            return Err(ProtocolError::TooFarInFuture);
        }
        let keep_from = it
            .saturating_sub(MAX_SENDER_MESSAGE_KEYS as u32)
            .max(self.next);
        self.dropped_below = self.dropped_below.max(keep_from);
        for i in keep_from..it {
            self.stored.push_back(i);
            if self.stored.len() > MAX_SENDER_MESSAGE_KEYS {
                let dropped = self.stored.pop_front().expect("not empty");
                self.dropped_below = self.dropped_below.max(dropped + 1);
            }
        }
        self.next = it + 1;
        Ok(())
    }
}

/// Our own sending chain for a group, as the model knows it.
#[derive(Clone, Copy)]
struct Own {
    chain_id: u32,
    key: PublicKey,
    next: u32,
}

/// (sender index, distribution id, chain id, iteration): one message of one chain.
type MessageId = (usize, DistributionId, u32, u32);

struct Member {
    party: Party,
    /// The members (and Mallory) whose 1:1 messages we decrypted, as they authenticated:
    /// a replayed distribution is processed again under its sender's.
    senders: BTreeMap<usize, Sender>,
    /// The model of our records of others: (sender, distribution id) → states, newest
    /// first.
    chains: BTreeMap<(usize, DistributionId), VecDeque<Chain>>,
    own: [Option<Own>; 2],
    /// Messages we decrypted, and when.
    consumed: BTreeMap<MessageId, u64>,
    in_flight: Vec<Item>,
    delivered: Vec<Item>,
}

impl Clone for Member {
    fn clone(&self) -> Self {
        Member {
            party: party::copy(&self.party),
            senders: self.senders.clone(),
            chains: self.chains.clone(),
            own: self.own,
            consumed: self.consumed.clone(),
            in_flight: self.in_flight.clone(),
            delivered: self.delivered.clone(),
        }
    }
}

struct World {
    members: Vec<Member>,
    /// Mallory's device: she hands out raw distribution messages over 1:1 sessions.
    mallory: Party,
    /// Members' addresses, then Mallory's.
    addresses: Vec<ProtocolAddress>,
    rng: ChaCha20Rng,
    /// Every message members encrypted: its signing key, plaintext and bytes.
    sent: BTreeMap<MessageId, (PublicKey, Vec<u8>, Vec<u8>)>,
    /// Every distribution id seen (the groups, and any in forged input).
    ids: BTreeSet<DistributionId>,
    encrypts: u32,
    skipped: u32,
    pair_messages: BTreeMap<(usize, usize), u32>,
    clock: u64,
}

impl Clone for World {
    fn clone(&self) -> Self {
        World {
            members: self.members.clone(),
            mallory: party::copy(&self.mallory),
            addresses: self.addresses.clone(),
            rng: self.rng.clone(),
            sent: self.sent.clone(),
            ids: self.ids.clone(),
            encrypts: self.encrypts,
            skipped: self.skipped,
            pair_messages: self.pair_messages.clone(),
            clock: self.clock,
        }
    }
}

impl World {
    fn n(&self) -> usize {
        self.members.len()
    }

    fn mallory(&self) -> usize {
        self.n()
    }

    /// Every (sender, distribution id) a record may exist under.
    fn keys(&self) -> Vec<(ProtocolAddress, DistributionId)> {
        let mut keys = Vec::new();
        for a in &self.addresses {
            keys.extend(self.ids.iter().map(|id| (a.clone(), *id)));
        }
        keys
    }

    fn sender_keys(&self, store: &InMemSenderKeyStore) -> SenderKeys {
        SenderKeys::of(store, &self.keys())
    }

    /// Everyone `me` may have a session with: the other members and Mallory.
    fn others(&self, me: usize) -> Vec<ProtocolAddress> {
        (0..=self.n())
            .filter(|&i| i != me)
            .map(|i| self.addresses[i].clone())
            .collect()
    }

    /// Group encryption by `s`; the message, if the model says there must be one.
    fn encrypt(&mut self, s: usize, g: usize, plaintext: Vec<u8>) -> Option<SenderKeyMessage> {
        if self.encrypts >= MAX_ENCRYPTS {
            return None;
        }
        self.encrypts += 1;
        let id = GROUPS[g];
        let device = &mut self.members[s].party;
        let before = device.store().sender_key_store.clone();
        let sent = device.group_encrypt(id, &plaintext, &mut self.rng);
        let Some(own) = self.members[s].own[g].as_mut() else {
            let e = sent.expect_err("encrypted without a chain");
            assert_eq!(e, Error::Misuse(MisuseError::InvalidState));
            let after = &self.members[s].party.store().sender_key_store;
            assert_eq!(
                self.sender_keys(&before),
                self.sender_keys(after),
                "failed group_encrypt changed records"
            );
            return None;
        };
        let m = sent.unwrap_or_else(|e| panic!("group_encrypt failed on our chain: {e:?}"));
        assert_eq!((m.chain_id(), m.iteration()), (own.chain_id, own.next));
        assert_eq!(m.distribution_id(), id);
        own.next += 1;
        let key = own.key;
        self.sent
            .entry((s, id, m.chain_id(), m.iteration()))
            .or_insert((key, plaintext, m.serialized().to_vec()));
        Some(m)
    }

    /// `s` skips `count` iterations of its chain for `g`.
    fn skip(&mut self, s: usize, g: usize, count: u32) {
        if self.skipped + count > MAX_SKIPPED {
            return;
        }
        self.skipped += count;
        let device = &mut self.members[s].party;
        let before = device.store().sender_key_store.clone();
        let r = missive::__fuzz::skip_sender_messages(device, GROUPS[g], count);
        match self.members[s].own[g].as_mut() {
            Some(own) => {
                r.unwrap_or_else(|e| panic!("skipping on our chain failed: {e:?}"));
                own.next += count;
            }
            None => {
                assert_eq!(r, Err(Error::Misuse(MisuseError::InvalidState)));
                let after = &self.members[s].party.store().sender_key_store;
                assert_eq!(
                    self.sender_keys(&before),
                    self.sender_keys(after),
                    "failed skip changed records"
                );
            }
        }
    }

    fn send(&mut self, s: usize, g: usize, len: u8) {
        let mut plaintext = self.encrypts.to_be_bytes().to_vec();
        plaintext.resize(4 + usize::from(len), len);
        let Some(m) = self.encrypt(s, g, plaintext) else {
            return;
        };
        for r in 0..self.n() {
            if r != s {
                self.members[r].in_flight.push(Item::Group {
                    from: s,
                    message: m.clone(),
                });
            }
        }
    }

    /// Starts a session from `s` to `r` unless `s` has one.
    fn ensure_session(&mut self, s: usize, r: usize) {
        let remote = self.addresses[r].clone();
        let device = if s == self.mallory() {
            &mut self.mallory
        } else {
            &mut self.members[s].party
        };
        if party::has_session(device, &remote) {
            return;
        }
        let bundle = party::publish_bundle(&mut self.members[r].party, false, true, &mut self.rng);
        let device = if s == self.mallory() {
            &mut self.mallory
        } else {
            &mut self.members[s].party
        };
        party::start_session(device, &bundle, &remote, &mut self.rng)
            .expect("an honest bundle starts a session");
    }

    /// `s` sends `4 + len` bytes to member `to` over their 1:1 session (within the pair's
    /// message budget).
    fn chat(&mut self, s: usize, to: u8, len: u8) {
        let r = usize::from(to) % self.n();
        let pair = (s.min(r), s.max(r));
        let used = self.pair_messages.get(&pair).copied().unwrap_or(0);
        if r == s || used >= MAX_PAIR_MESSAGES {
            return;
        }
        self.pair_messages.insert(pair, used + 1);
        self.ensure_session(s, r);
        let mut text = self.clock.to_be_bytes()[4..].to_vec();
        text.resize(4 + usize::from(len), len);
        let remote = self.addresses[r].clone();
        let device = &mut self.members[s].party;
        let m = device
            .encrypt(&remote, &text, NOW, &mut self.rng)
            .unwrap_or_else(|e| panic!("encrypt on a session failed: {e:?}"));
        self.members[r].in_flight.push(Item::Chat {
            from: s,
            kind: m.message_type(),
            bytes: m.serialize().to_vec(),
            text,
        });
    }

    /// Member `who` goes on from its records: every record serialized and read back into
    /// a new device, which must hold exactly the same bytes.
    fn round_trip(&mut self, who: usize) {
        let (others, keys) = (self.others(who), self.keys());
        let device = &self.members[who].party;
        let before = Snapshot::of(device.store(), &others, &keys);
        let thawed = Frozen::freeze(device).thaw_all();
        assert_eq!(
            before,
            Snapshot::of(thawed.store(), &others, &keys),
            "records changed through serialization"
        );
        self.members[who].party = thawed;
    }

    /// `s` makes (or, with `rotate`, replaces) its chain for `g` and sends its
    /// distribution over 1:1 sessions to the members in `mask`.
    fn distribute(&mut self, s: usize, g: usize, mask: u8, rotate: bool) {
        let id = GROUPS[g];
        let device = &mut self.members[s].party;
        let d = if rotate {
            device.rotate_sender_key(id, &mut self.rng)
        } else {
            device.sender_key_distribution_message(id, &mut self.rng)
        };
        let d = d.expect("a member can always hand out its chain");
        assert_eq!(d.distribution_id(), id);
        let own = &mut self.members[s].own[g];
        match own {
            Some(o) if !rotate => {
                assert_eq!((d.chain_id(), d.iteration()), (o.chain_id, o.next));
                assert_eq!(d.signing_key(), &o.key);
            }
            _ => {
                if let Some(o) = own {
                    assert_ne!(d.chain_id(), o.chain_id, "rotation kept the chain id");
                }
                assert_eq!(d.iteration(), 0);
                *own = Some(Own {
                    chain_id: d.chain_id(),
                    key: *d.signing_key(),
                    next: 0,
                });
            }
        }
        let mut to = Vec::new();
        for r in 0..self.n() {
            let pair = (s.min(r), s.max(r));
            let used = self.pair_messages.get(&pair).copied().unwrap_or(0);
            if r == s || mask & (1 << r) == 0 || used >= MAX_PAIR_MESSAGES {
                continue;
            }
            self.pair_messages.insert(pair, used + 1);
            self.ensure_session(s, r);
            to.push(r);
        }
        let recipients: Vec<ProtocolAddress> =
            to.iter().map(|&r| self.addresses[r].clone()).collect();
        let device = &mut self.members[s].party;
        let sent = device.distribute_sender_key(&d, &recipients, NOW, &mut self.rng);
        for (r, (addr, m)) in to.into_iter().zip(sent) {
            assert_eq!(addr, self.addresses[r]);
            let m = m.unwrap_or_else(|e| panic!("encrypt on a fresh session failed: {e:?}"));
            self.members[r].in_flight.push(Item::Distribution {
                from: s,
                kind: m.message_type(),
                bytes: m.serialize().to_vec(),
                skdm: d.serialized().to_vec(),
            });
        }
    }

    /// Member `r` processes distribution `d` from sender `from` (a member, or Mallory),
    /// under the sender the 1:1 message from `from` authenticated, and the model adds
    /// its chain (`docs/PROTOCOL.md` §11.7).
    fn process(&mut self, r: usize, from: usize, d: &SenderKeyDistributionMessage) {
        let member = &mut self.members[r];
        let sender = member
            .senders
            .get(&from)
            .expect("a 1:1 message from the sender");
        assert_eq!(sender.address(), &self.addresses[from]);
        member
            .party
            .process_sender_key_distribution_message(sender, d)
            .expect("a distribution from another device");
        self.ids.insert(d.distribution_id());
        let states = self.members[r]
            .chains
            .entry((from, d.distribution_id()))
            .or_default();
        let new = Chain {
            chain_id: d.chain_id(),
            key: *d.signing_key(),
            start: d.iteration(),
            next: d.iteration(),
            stored: VecDeque::new(),
            dropped_below: d.iteration(),
            added: self.clock,
        };
        let old = states.iter().position(|c| c.chain_id == new.chain_id);
        let keep = match old.and_then(|i| states.remove(i)) {
            Some(old) if old.key == new.key => old,
            _ => new,
        };
        states.push_front(keep);
        states.truncate(MAX_SENDER_KEY_STATES);
    }

    /// Delivers the 1:1 message of a distribution item; it must decrypt (or, replayed,
    /// be refused and change nothing).
    fn deliver_one_to_one(&mut self, r: usize, item: &Item, replay: bool) {
        let (from, kind, bytes, skdm) = match item {
            Item::Distribution {
                from,
                kind,
                bytes,
                skdm,
            } => (from, kind, bytes, skdm),
            Item::Chat {
                from,
                kind,
                bytes,
                text,
            } => (from, kind, bytes, text),
            Item::Group { .. } => unreachable!("a 1:1 item"),
        };
        let remote = self.addresses[*from].clone();
        let (others, keys) = (self.others(r), self.keys());
        let device = &mut self.members[r].party;
        let before = Snapshot::of(device.store(), &others, &keys);
        let got = device.decrypt(&remote, *kind, bytes, &mut self.rng);
        match got {
            Ok(d) => {
                assert!(!replay, "a replayed 1:1 message decrypted");
                assert_eq!(&d.plaintext, skdm, "1:1 message decrypted wrongly");
                assert_eq!(d.sender.address(), &remote, "1:1 message from someone else");
                self.members[r].senders.insert(*from, d.sender);
            }
            Err(e) => {
                assert_eq!(
                    before,
                    Snapshot::of(device.store(), &others, &keys),
                    "failed 1:1 decrypt changed records"
                );
                assert!(replay, "honest 1:1 message refused: {e:?}");
            }
        }
    }

    /// The model's verdict on `m` from `from` at member `r`, up to (not including) the
    /// AES decryption: the index of the state and the state after the step.
    fn verdict(
        &self,
        r: usize,
        from: usize,
        m: &SenderKeyMessage,
        kind: Kind,
    ) -> Result<(usize, Chain), ProtocolError> {
        let states = self.members[r].chains.get(&(from, m.distribution_id()));
        let states = states.ok_or(ProtocolError::NoSenderKeyState)?;
        let i = states.iter().position(|c| c.chain_id == m.chain_id());
        let i = i.ok_or(ProtocolError::NoSenderKeyState)?;
        let chain = &states[i];
        let signed = match kind {
            // An honest member's bytes verify exactly under the key they were signed with.
            Kind::First | Kind::Replay => {
                let id = (from, m.distribution_id(), m.chain_id(), m.iteration());
                self.sent.get(&id).expect("an honest message was sent").0 == chain.key
            }
            Kind::Tampered | Kind::Forged => m.verify_signature(&chain.key),
        };
        if !signed {
            return Err(ProtocolError::BadSignature);
        }
        let mut staged = chain.clone();
        staged.step(m.iteration())?;
        Ok((i, staged))
    }

    /// Checks one decryption result against the model and the invariants, and moves the
    /// model on if it succeeded.
    fn judge(
        &mut self,
        r: usize,
        from: usize,
        m: &SenderKeyMessage,
        kind: Kind,
        got: &Result<Vec<u8>, Error>,
    ) {
        let member = from < self.n();
        let id: MessageId = (from, m.distribution_id(), m.chain_id(), m.iteration());
        let verdict = self.verdict(r, from, m, kind);
        if kind == Kind::First {
            // An honest first delivery is refused only where a bound or the missing chain
            // explains it.
            if let (Err(ProtocolError::DuplicateMessage), Some(states)) = (
                &verdict,
                self.members[r].chains.get(&(from, m.distribution_id())),
            ) {
                let c = states.iter().find(|c| c.chain_id == m.chain_id());
                let c = c.expect("a duplicate has its chain");
                let it = m.iteration();
                assert!(
                    it < c.start
                        || it < c.dropped_below
                        || self.members[r].consumed.contains_key(&id),
                    "honest message {id:?} refused as a duplicate"
                );
            }
        }
        match (verdict, got) {
            (Err(want), Err(e)) => assert_eq!(*e, Error::Protocol(want), "{kind:?} {id:?}"),
            (Err(want), Ok(_)) => panic!("{kind:?} message {id:?} accepted; the model: {want:?}"),
            (Ok(_), Err(e)) => {
                assert!(
                    !member,
                    "{kind:?} message {id:?} from a member refused: {e:?}"
                );
                assert_eq!(*e, Error::Protocol(ProtocolError::DecryptionFailed));
            }
            (Ok((i, staged)), Ok(pt)) => {
                assert_ne!(kind, Kind::Tampered, "tampered message {id:?} accepted");
                if member {
                    match self.sent.get(&id) {
                        Some((_, sent, bytes)) if m.serialized() == bytes.as_slice() => {
                            assert_eq!(pt, sent, "{kind:?} message {id:?} decrypted wrongly")
                        }
                        // Signed under the member's own key (the verdict checked it), yet
                        // not the bytes sent in this run (never sent, or sent with another
                        // plaintext): the fuzzer replayed bytes the member sends in another
                        // run. Worlds are deterministic (the snapshot and the seed fix every
                        // key and every RNG draw, and the same chain at the same iteration
                        // gives the same message key), so such bytes are genuine; a forgery
                        // would need the signing key, since the signature covers every byte.
                        // Only forged or tampered input can carry them.
                        _ => assert!(
                            matches!(kind, Kind::Forged | Kind::Tampered),
                            "{kind:?} message {id:?} accepted, not the bytes sent"
                        ),
                    }
                }
                let receiver = &mut self.members[r];
                let states = receiver
                    .chains
                    .get_mut(&(from, m.distribution_id()))
                    .expect("a verdict has its states");
                if let (Kind::Replay, Some(first)) = (kind, receiver.consumed.get(&id)) {
                    assert!(
                        states[i].added > *first,
                        "replay {id:?} accepted on the chain that decrypted it"
                    );
                }
                states[i] = staged;
                receiver.consumed.insert(id, self.clock);
            }
        }
    }

    /// Group decryption of one message; a failure must leave the records as they were.
    fn deliver_group(&mut self, r: usize, from: usize, m: &SenderKeyMessage, kind: Kind) {
        self.ids.insert(m.distribution_id());
        let device = &mut self.members[r].party;
        let before = device.store().sender_key_store.clone();
        let got = device.group_decrypt(&self.addresses[from], m);
        if got.is_err() {
            let after = &self.members[r].party.store().sender_key_store;
            assert_eq!(
                self.sender_keys(&before),
                self.sender_keys(after),
                "failed group_decrypt changed records"
            );
        }
        self.judge(r, from, m, kind, &got);
    }

    fn deliver(&mut self, r: usize, pick: u8) {
        let q = &mut self.members[r].in_flight;
        if q.is_empty() {
            return;
        }
        let item = q.remove(usize::from(pick) % q.len());
        match &item {
            Item::Group { from, message } => self.deliver_group(r, *from, message, Kind::First),
            Item::Distribution { from, skdm, .. } => {
                self.deliver_one_to_one(r, &item, false);
                let d = SenderKeyDistributionMessage::deserialize(skdm)
                    .expect("missive parses what it sends");
                self.process(r, *from, &d);
            }
            Item::Chat { .. } => self.deliver_one_to_one(r, &item, false),
        }
        self.members[r].delivered.push(item);
    }

    fn replay(&mut self, r: usize, pick: u8) {
        let d = &self.members[r].delivered;
        if d.is_empty() {
            return;
        }
        let item = d[usize::from(pick) % d.len()].clone();
        match &item {
            Item::Group { from, message } => self.deliver_group(r, *from, message, Kind::Replay),
            Item::Distribution { from, skdm, .. } => {
                self.deliver_one_to_one(r, &item, true);
                let d = SenderKeyDistributionMessage::deserialize(skdm).expect("parsed before");
                self.process(r, *from, &d);
            }
            Item::Chat { .. } => self.deliver_one_to_one(r, &item, true),
        }
    }

    /// Group messages in flight to or delivered to `r`.
    fn group_messages(&self, r: usize) -> Vec<(usize, SenderKeyMessage)> {
        let m = &self.members[r];
        m.in_flight
            .iter()
            .chain(&m.delivered)
            .filter_map(|i| match i {
                Item::Group { from, message } => Some((*from, message.clone())),
                Item::Distribution { .. } | Item::Chat { .. } => None,
            })
            .collect()
    }

    fn tamper(&mut self, r: usize, input: &mut Input<'_>) {
        let pick = usize::from(input.byte());
        let how = input.byte() % 4;
        let pos = usize::from(u16::from_be_bytes([input.byte(), input.byte()]));
        let value = input.byte();
        let candidates = self.group_messages(r);
        if candidates.is_empty() {
            return;
        }
        let (from, original) = &candidates[pick % candidates.len()];
        let mut bytes = original.serialized().to_vec();
        let len = bytes.len();
        match how {
            0 => bytes[pos / 8 % len] ^= 1 << (pos % 8),
            1 => bytes.truncate(pos % len),
            2 if bytes[pos % len] != value => bytes[pos % len] = value,
            2 => return,
            _ => bytes.push(value),
        }
        if let Ok(m) = SenderKeyMessage::deserialize(&bytes) {
            self.deliver_group(r, *from, &m, Kind::Tampered);
        }
    }

    /// Reads `from len bytes…`: a forged group message and its claimed sender.
    fn forged_message(&mut self, input: &mut Input<'_>) -> Option<(usize, SenderKeyMessage)> {
        let from = usize::from(input.byte()) % (self.n() + 1);
        let len = usize::from(input.byte());
        let m = SenderKeyMessage::deserialize(input.take(len)).ok()?;
        Some((from, m))
    }

    fn forge(&mut self, r: usize, input: &mut Input<'_>) {
        if input.byte() & 1 == 1 {
            if let Some((from, m)) = self.forged_message(input) {
                self.deliver_group(r, from, &m, Kind::Forged);
            }
            return;
        }
        let _from = input.byte();
        let len = usize::from(input.byte());
        let bytes = input.take(len);
        if SenderKeyDistributionMessage::deserialize(bytes).is_ok() {
            let bytes = bytes.to_vec();
            self.mallory_hands_out(r, &bytes);
        }
    }

    /// Mallory sends `bytes` (a distribution message) to member `r` over her 1:1
    /// session (made on first use), and `r` processes it under Mallory's name.
    fn mallory_hands_out(&mut self, r: usize, bytes: &[u8]) {
        let mallory = self.mallory();
        self.ensure_session(mallory, r);
        let to = self.addresses[r].clone();
        let m = self
            .mallory
            .encrypt(&to, bytes, NOW, &mut self.rng)
            .unwrap_or_else(|e| panic!("Mallory's session failed: {e:?}"));
        let item = Item::Distribution {
            from: mallory,
            kind: m.message_type(),
            bytes: m.serialize().to_vec(),
            skdm: bytes.to_vec(),
        };
        self.deliver_one_to_one(r, &item, false);
        let d = SenderKeyDistributionMessage::deserialize(bytes).expect("parsed before");
        self.process(r, mallory, &d);
    }

    fn batch(&mut self, r: usize, input: &mut Input<'_>) {
        let sel = input.byte();
        let rot = input.byte();
        let mut entries: Vec<(usize, SenderKeyMessage, Kind)> = Vec::new();
        let mut firsts = Vec::new();
        let q = std::mem::take(&mut self.members[r].in_flight);
        for item in q {
            match item {
                Item::Group { from, ref message } => {
                    entries.push((from, message.clone(), Kind::First));
                    firsts.push(item);
                }
                Item::Distribution { .. } | Item::Chat { .. } => {
                    self.members[r].in_flight.push(item)
                }
            }
        }
        let len = entries.len();
        if len > 0 {
            entries.rotate_left(usize::from(rot) % len);
        }
        let delivered: Vec<(usize, SenderKeyMessage)> = self.members[r]
            .delivered
            .iter()
            .filter_map(|i| match i {
                Item::Group { from, message } => Some((*from, message.clone())),
                Item::Distribution { .. } | Item::Chat { .. } => None,
            })
            .collect();
        if sel & 1 != 0 {
            for (from, m) in delivered.first().into_iter().chain(delivered.last()) {
                entries.push((*from, m.clone(), Kind::Replay));
            }
        }
        if sel & 2 != 0
            && let Some((from, m, _)) = entries.first().cloned()
        {
            let mut bytes = m.serialized().to_vec();
            let bit = usize::from(rot);
            let at = bit / 8 % bytes.len();
            bytes[at] ^= 1 << (bit % 8);
            if let Ok(t) = SenderKeyMessage::deserialize(&bytes) {
                entries.push((from, t, Kind::Tampered));
            }
        }
        if sel & 4 != 0
            && let Some((from, m)) = self.forged_message(input)
        {
            entries.push((from, m, Kind::Forged));
        }
        if entries.is_empty() {
            return;
        }
        for (_, m, _) in &entries {
            self.ids.insert(m.distribution_id());
        }
        let addresses = self.addresses.clone();
        let refs: Vec<(&ProtocolAddress, &SenderKeyMessage)> = entries
            .iter()
            .map(|(from, m, _)| (&addresses[*from], m))
            .collect();
        let device = &mut self.members[r].party;
        let mut copy = party::copy(device);
        let got = device.group_decrypt_batch(&refs);
        // The same messages one by one, on a copy: each failure changes nothing.
        let mut one_by_one = Vec::new();
        for (sender, m) in &refs {
            let before = copy.store().sender_key_store.clone();
            let r = copy.group_decrypt(sender, m);
            if r.is_err() {
                assert_eq!(
                    self.sender_keys(&before),
                    self.sender_keys(&copy.store().sender_key_store),
                    "failed group_decrypt changed records"
                );
            }
            one_by_one.push(r);
        }
        assert_eq!(got, one_by_one, "batch and one-by-one decryption disagree");
        assert_eq!(
            self.sender_keys(&self.members[r].party.store().sender_key_store),
            self.sender_keys(&copy.store().sender_key_store),
            "batch and one-by-one decryption leave different records"
        );
        for ((from, m, kind), got) in entries.iter().zip(&got) {
            self.judge(r, *from, m, *kind, got);
        }
        self.members[r].delivered.extend(firsts);
    }
}

impl World {
    /// The world a run starts from: its members, and with [`config::SETUP`] their chains
    /// handed out over fresh 1:1 sessions. One world per configuration, made once and
    /// frozen ([`party::Frozen`]): each run deserializes the devices' records, and `seed`
    /// feeds only the RNG of the run's own actions. Other 1:1 sessions are made when first
    /// used, as before: made in advance for every pair, their records would cost every
    /// run more to deserialize (a public-key check per session) than the few runs that
    /// use them save.
    fn start(cfg: u8, seed: u64) -> World {
        thread_local! {
            static SNAPSHOTS: RefCell<BTreeMap<u8, Rc<FrozenWorld>>> = const {
                RefCell::new(BTreeMap::new())
            };
        }
        let cfg = (cfg & 3).min(2) | (cfg & config::SETUP);
        let snap = SNAPSHOTS.with(|c| {
            let mut c = c.borrow_mut();
            c.entry(cfg)
                .or_insert_with(|| Rc::new(FrozenWorld::make(cfg)))
                .clone()
        });
        snap.thaw(ChaCha20Rng::seed_from_u64(seed))
    }

    fn build(cfg: u8, seed: u64) -> World {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let n = 2 + usize::from(cfg & 3).min(2);
        let mut addresses = Vec::new();
        let members: Vec<Member> = MEMBERS[..n]
            .iter()
            .zip(1001u32..)
            .map(|(name, registration_id)| {
                let party = party::device(name, registration_id, false, &mut rng);
                addresses.push(party.address().clone());
                Member {
                    party,
                    senders: BTreeMap::new(),
                    chains: BTreeMap::new(),
                    own: [None, None],
                    consumed: BTreeMap::new(),
                    in_flight: Vec::new(),
                    delivered: Vec::new(),
                }
            })
            .collect();
        let mallory = party::device(MALLORY, 666, false, &mut rng);
        addresses.push(mallory.address().clone());
        let mut w = World {
            members,
            mallory,
            addresses,
            rng,
            sent: BTreeMap::new(),
            ids: GROUPS.into_iter().collect(),
            encrypts: 0,
            skipped: 0,
            pair_messages: BTreeMap::new(),
            clock: 0,
        };
        if cfg & config::SETUP != 0 {
            for s in 0..n {
                w.distribute(s, 0, 0xff, false);
            }
            for r in 0..n {
                while !w.members[r].in_flight.is_empty() {
                    w.deliver(r, 0);
                }
            }
        }
        w
    }
}

/// A group world frozen after its setup: the devices as records, the model as it is.
struct FrozenWorld {
    /// The model; its devices are placeholders, replaced by thawed ones.
    world: World,
    members: Vec<Frozen>,
    mallory: Frozen,
}

impl FrozenWorld {
    fn make(cfg: u8) -> FrozenWorld {
        let w = World::build(cfg, 0x6772_6f75_7073 + u64::from(cfg));
        FrozenWorld {
            members: w.members.iter().map(|m| Frozen::freeze(&m.party)).collect(),
            mallory: Frozen::freeze(&w.mallory),
            world: w,
        }
    }

    fn thaw(&self, rng: ChaCha20Rng) -> World {
        let w = &self.world;
        World {
            members: w
                .members
                .iter()
                .zip(&self.members)
                .map(|(m, f)| Member {
                    party: f.thaw(),
                    senders: m.senders.clone(),
                    chains: m.chains.clone(),
                    own: m.own,
                    consumed: m.consumed.clone(),
                    in_flight: m.in_flight.clone(),
                    delivered: m.delivered.clone(),
                })
                .collect(),
            mallory: self.mallory.thaw(),
            addresses: w.addresses.clone(),
            rng,
            sent: w.sent.clone(),
            ids: w.ids.clone(),
            encrypts: w.encrypts,
            skipped: w.skipped,
            pair_messages: w.pair_messages.clone(),
            clock: w.clock,
        }
    }
}

/// Runs one group conversation from `data`.
pub fn group_conversation(data: &[u8]) {
    run(data, op::COUNT);
}

/// Runs one conversation mixing group messages, 1:1 messages between the members
/// (distributions and plain text) and round trips of a member's records through
/// serialization, from `data` (the group target's input, with two more opcodes).
pub fn mixed(data: &[u8]) {
    run(data, op::MIXED_COUNT);
}

fn run(data: &[u8], opcodes: u8) {
    let mut input = Input(data);
    let cfg = input.byte();
    let seed = input.seed();
    let mut w = World::start(cfg, seed);
    let n = w.n();
    while !input.0.is_empty() {
        w.clock += 1;
        let opcode = input.byte() % opcodes;
        let who = usize::from(input.byte()) % n;
        match opcode {
            op::SEND | op::DISTRIBUTE | op::ROTATE | op::SKIP => {
                let g = usize::from(input.byte() & 1);
                let arg = input.byte();
                match opcode {
                    op::SEND => w.send(who, g, arg),
                    op::DISTRIBUTE => w.distribute(who, g, arg, false),
                    op::ROTATE => w.distribute(who, g, arg, true),
                    _ => w.skip(who, g, 16 * u32::from(arg)),
                }
            }
            op::DELIVER => {
                let pick = input.byte();
                w.deliver(who, pick)
            }
            op::DROP => {
                let pick = usize::from(input.byte());
                let q = &mut w.members[who].in_flight;
                if !q.is_empty() {
                    q.remove(pick % q.len());
                }
            }
            op::REPLAY => {
                let pick = input.byte();
                w.replay(who, pick)
            }
            op::TAMPER => w.tamper(who, &mut input),
            op::FORGE => w.forge(who, &mut input),
            op::BATCH => w.batch(who, &mut input),
            op::RECORDS => w.round_trip(who),
            op::CHAT => {
                let to = input.byte();
                let len = input.byte();
                w.chat(who, to, len)
            }
            _ => unreachable!("opcodes are taken modulo their count"),
        }
    }
}
