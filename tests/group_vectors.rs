//! Sender-key known answers from libsignal-client (`tests/vectors/sender_keys.json`,
//! made by `interop/vectors/sender_keys.js`): missive builds the same distribution
//! messages and the same message bytes (up to the signature, which is randomized), and
//! reads every message the peer made.

mod group_common;

use group_common::{Member, carry, connected, record_bytes, record_state};
use missive::crypto::{PrivateKey, PublicKey};
use missive::*;
use serde_json::Value;

const VECTORS: &str = include_str!("vectors/sender_keys.json");

/// The sender's address in the vectors.
const ALICE: &str = "9d0652a4-4a1c-4b28-8b5e-6f5b3c1a0a11";

fn b(v: &Value, f: &str) -> Vec<u8> {
    hex::decode(v[f].as_str().unwrap()).unwrap()
}

fn arr<const N: usize>(v: &Value, f: &str) -> [u8; N] {
    b(v, f).try_into().unwrap()
}

/// A sending record (missive's format, `docs/PROTOCOL.md` §11.6) for a chain at a
/// given iteration.
fn sending_record(
    chain_id: u32,
    iteration: u32,
    chain_key: &[u8],
    private: &PrivateKey,
) -> SenderKeyRecord {
    let state = record_state(
        chain_id,
        iteration,
        chain_key,
        &private.public_key(),
        Some(private),
    );
    SenderKeyRecord::deserialize(&record_bytes(&[state])).unwrap()
}

/// A device of alice's whose sending record for `id` is `record`.
fn sender_with(record: SenderKeyRecord, id: DistributionId) -> Member {
    let mut me = Member::new(ALICE, 1);
    let at = me.address.clone();
    me.device
        .store_mut()
        .sender_key_store
        .store_sender_key(&at, id, record);
    me
}

/// Bob, holding the peer's distribution message `bytes`, which alice (the vectors'
/// sender) sent him over their 1:1 session.
fn receiver_of(bytes: &[u8]) -> (Member, ProtocolAddress) {
    let (mut alice, mut bob) = connected(ALICE, "bob", 2);
    carry(&mut alice, &mut bob, bytes).unwrap();
    (bob, alice.address)
}

#[test]
fn crafted_chains_byte_for_byte() {
    let j: Value = serde_json::from_str(VECTORS).unwrap();
    let crafted = j["crafted"].as_array().unwrap();
    assert_eq!(crafted.len(), 2);
    for c in crafted {
        let private = PrivateKey::from_bytes(&arr(c, "signing_private"));
        assert_eq!(
            private.public_key().serialize().to_vec(),
            b(c, "signing_public")
        );
        let id = DistributionId::from_bytes(arr(c, "distribution_id"));
        let chain_id = c["chain_id"].as_u64().unwrap() as u32;
        let start = c["iteration"].as_u64().unwrap() as u32;

        // The same distribution message from the same state.
        let mut me = sender_with(
            sending_record(chain_id, start, &b(c, "chain_key"), &private),
            id,
        );
        let d = me
            .device
            .sender_key_distribution_message(id, &mut me.rng)
            .unwrap();
        assert_eq!(d.serialized(), b(c, "distribution"));

        // The same message bytes before the signature, and a signature that verifies.
        let messages = c["messages"].as_array().unwrap();
        assert!(messages.len() >= 5);
        for m in messages {
            let n = m["iteration"].as_u64().unwrap() as u32;
            let mut me = sender_with(
                sending_record(chain_id, n, &b(m, "chain_key"), &private),
                id,
            );
            let ours = me
                .device
                .group_encrypt(id, &b(m, "plaintext"), &mut me.rng)
                .unwrap();
            let theirs = b(m, "message");
            assert_eq!(ours.serialized().len(), theirs.len());
            let split = theirs.len() - 64;
            assert_eq!(ours.serialized()[..split], theirs[..split], "iteration {n}");
            assert_eq!(ours.ciphertext(), b(m, "ciphertext"));
            assert!(ours.verify_signature(&private.public_key()));
            assert_eq!(m["peer_decrypts"], Value::Bool(true));
        }

        // And the peer's messages decrypt, newest first.
        let d = SenderKeyDistributionMessage::deserialize(&b(c, "distribution")).unwrap();
        assert_eq!((d.chain_id(), d.iteration()), (chain_id, start));
        let (mut bob, alice) = receiver_of(&b(c, "distribution"));
        for m in messages.iter().rev() {
            let msg = SenderKeyMessage::deserialize(&b(m, "message")).unwrap();
            assert!(
                msg.verify_signature(&PublicKey::deserialize(&b(c, "signing_public")).unwrap())
            );
            assert_eq!(bob.recv(&alice, &msg).unwrap(), b(m, "plaintext"));
        }
    }
}

#[test]
fn peer_made_chain() {
    let j: Value = serde_json::from_str(VECTORS).unwrap();
    let p = &j["peer_made"];
    let id = DistributionId::parse(p["distribution_id"].as_str().unwrap()).unwrap();
    let d = SenderKeyDistributionMessage::deserialize(&b(p, "distribution")).unwrap();
    assert_eq!(d.distribution_id(), id);
    assert!(d.chain_id() < 1 << 31);
    let (mut bob, alice) = receiver_of(&b(p, "distribution"));
    let messages = p["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 20);
    // Odd ones first, then the even ones in reverse: skipped keys both ways.
    let order = (0..20)
        .filter(|i| i % 2 == 1)
        .chain((0..20).filter(|i| i % 2 == 0).rev());
    for i in order {
        let m = &messages[i];
        let msg = SenderKeyMessage::deserialize(&b(m, "message")).unwrap();
        assert_eq!(msg.iteration() as u64, m["iteration"].as_u64().unwrap());
        assert_eq!(bob.recv(&alice, &msg).unwrap(), b(m, "plaintext"));
    }
    assert_eq!(bob.sender_key(&alice, id).state_count(), 1);
}
