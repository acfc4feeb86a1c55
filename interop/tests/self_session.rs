//! A session with oneself (two linked devices sharing one identity key) against
//! libsignal-client 0.103.0. The peer exempts such a session from both forward-jump
//! bounds, the Double Ratchet's and SPQR's (25,000 each); missive does the same, bounded
//! only by its per-message work budget (`docs/PROTOCOL.md` §4.13). Two shapes, each in
//! both directions, and the same shapes between two identities, which both sides refuse:
//!
//! * a jump of 25,001 on one chain (the SPQR index jumps 25,002 with it);
//! * an SPQR-only jump of 25,001: the lost messages were on an earlier chain, so the
//!   message that arrives is counter 0 of a new chain.

mod common;
use common::*;
use missive::crypto::PrivateKey;
use missive::store::memory::InMemSignalProtocolStore;
use missive::*;
use missive_interop::{CiphertextMessage as Wire, Peer, PeerKind};
use serde_json::json;

const JUMP: u32 = 25_001;

/// missive is `ALICE_ACI`.1; the peer's party "p" is `ALICE_ACI`.2 sharing missive's
/// identity key (`self_session`), or `BOB_ACI`.2 with its own.
struct Pair {
    peer: Peer,
    missive: MissiveParty,
}

impl Pair {
    fn new(self_session: bool, seed: u64) -> Pair {
        let remote_name = if self_session { ALICE_ACI } else { BOB_ACI };
        let mut missive = MissiveParty::new(ALICE_ACI, 1, remote_name, 2, seed);
        let identity = missive.store().identity_key_pair().unwrap().clone();
        let mut peer = Peer::spawn(PeerKind::Client).expect("spawn libsignal-client driver");
        let shared = identity.private_key().to_bytes();
        let keys = peer
            .new_party_with(
                "p",
                remote_name,
                2,
                None,
                self_session.then_some(&shared[..]),
            )
            .unwrap();
        assert_eq!(
            keys.identity_key == identity.identity_key().serialize(),
            self_session,
            "the peer's identity is missive's exactly in a self-session"
        );
        // Rebuild missive's store so nothing of the first one is left over (same key).
        let key = IdentityKeyPair::from_private_key(PrivateKey::from_bytes(&shared));
        missive.device = Device::new(
            missive.address().clone(),
            InMemSignalProtocolStore::new(key, 4243),
        );
        let mut pair = Pair { peer, missive };
        // missive initiates; one round trip and an acknowledgement.
        let bundle = pair.peer.make_bundle("p", true).unwrap();
        pair.missive.process_bundle(&bundle).unwrap();
        pair.send_to_peer("hello");
        pair.send_to_missive("hello back");
        pair.send_to_peer("ack");
        pair
    }

    fn party(&mut self) -> PeerParty<'_> {
        PeerParty {
            peer: &mut self.peer,
            party: "p".into(),
            remote_name: ALICE_ACI.into(),
            remote_device: 1,
        }
    }

    fn send_to_peer(&mut self, text: &str) {
        let m = self.missive.encrypt(text.as_bytes());
        assert_eq!(self.party().try_decrypt(&m).unwrap(), text.as_bytes());
    }

    fn send_to_missive(&mut self, text: &str) {
        let m = self.party().encrypt(text.as_bytes());
        assert_eq!(self.missive.try_decrypt(&m).unwrap(), text.as_bytes());
    }

    /// The peer encrypts `count` messages to missive and throws them away.
    fn peer_loses(&mut self, count: u32) {
        self.peer
            .call(
                "encrypt_discard",
                json!({"party": "p", "remote_name": ALICE_ACI, "remote_device": 1,
                       "count": count}),
            )
            .unwrap();
    }

    fn missive_loses(&mut self, count: u32) {
        for i in 0..count {
            self.missive.encrypt(format!("lost {i}").as_bytes());
        }
    }

    /// The peer's verdict on a message from missive.
    fn peer_takes(&mut self, m: &Wire) -> Result<Vec<u8>, String> {
        self.party().try_decrypt(m).map_err(|e| e.to_string())
    }

    /// missive's verdict; a refusal must leave its record byte-identical.
    fn missive_takes(&mut self, m: &Wire) -> Result<Vec<u8>, Error> {
        let before = self.missive.record();
        let r = self.missive.try_decrypt(m);
        if r.is_err() {
            assert_eq!(
                before,
                self.missive.record(),
                "a refusal changed the record"
            );
        }
        r
    }
}

/// Jump `JUMP` on the chain the receiver already knows.
fn one_chain_from_missive(self_session: bool, seed: u64) -> Result<Vec<u8>, String> {
    let mut p = Pair::new(self_session, seed);
    p.send_to_peer("known chain");
    p.missive_loses(JUMP);
    let m = p.missive.encrypt(b"after the gap");
    p.peer_takes(&m)
}

fn one_chain_from_peer(self_session: bool, seed: u64) -> Result<Vec<u8>, Error> {
    let mut p = Pair::new(self_session, seed);
    p.send_to_missive("known chain");
    p.peer_loses(JUMP);
    let m = p.party().encrypt(b"after the gap");
    p.missive_takes(&m)
}

/// `JUMP − 1` messages lost on one chain, then a DH step: the message that arrives is
/// counter 0 of a new chain, `JUMP` SPQR indices past the last one received.
fn spqr_only_from_missive(self_session: bool, seed: u64) -> Result<Vec<u8>, String> {
    let mut p = Pair::new(self_session, seed);
    p.send_to_peer("known chain");
    p.missive_loses(JUMP - 1);
    p.send_to_missive("turn");
    let m = p.missive.encrypt(b"new chain");
    p.peer_takes(&m)
}

fn spqr_only_from_peer(self_session: bool, seed: u64) -> Result<Vec<u8>, Error> {
    let mut p = Pair::new(self_session, seed);
    p.send_to_missive("known chain");
    p.peer_loses(JUMP - 1);
    p.send_to_peer("turn");
    let m = p.party().encrypt(b"new chain");
    p.missive_takes(&m)
}

#[test]
fn self_session_jump_of_25001_on_one_chain_accepted_both_ways() {
    assert_eq!(MAX_FORWARD_JUMP + 1, JUMP);
    assert_eq!(one_chain_from_missive(true, 1).unwrap(), b"after the gap");
    assert_eq!(one_chain_from_peer(true, 2).unwrap(), b"after the gap");
    // Between two identities the same jump is refused by both.
    assert!(one_chain_from_missive(false, 3).is_err());
    assert_eq!(
        one_chain_from_peer(false, 4).unwrap_err(),
        Error::Protocol(ProtocolError::TooFarInFuture)
    );
}

#[test]
fn self_session_spqr_only_jump_of_25001_accepted_both_ways() {
    assert_eq!(spqr_only_from_missive(true, 5).unwrap(), b"new chain");
    assert_eq!(spqr_only_from_peer(true, 6).unwrap(), b"new chain");
    assert!(spqr_only_from_missive(false, 7).is_err());
    assert_eq!(
        spqr_only_from_peer(false, 8).unwrap_err(),
        Error::Protocol(ProtocolError::TooFarInFuture)
    );
}
