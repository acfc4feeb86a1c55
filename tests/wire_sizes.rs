//! Wire sizes of the messages, pinned: a change in the encoding shows up here (and the
//! numbers are quoted in README.md and docs/PROTOCOL.md).

mod common;
use common::*;

/// (v3, one-time prekey, addresses) → (prekey message, 100-byte SignalMessage) sizes.
fn sizes(v3: bool, one_time: bool, aci: bool) -> (usize, usize) {
    let mut rng = rng(77);
    let (an, bn) = if aci {
        (
            "9d0652a3-dcc3-4d11-975f-74d61598733f",
            "796abedb-ca4e-4f18-8803-1fde5b921f9f",
        )
    } else {
        ("alice", "bob")
    };
    let new = if v3 { legacy_device } else { device };
    let mut alice = new(an, 1, &mut rng);
    let mut bob = new(bn, 1, &mut rng);
    let (a, b) = (alice.address().clone(), bob.address().clone());
    establish(&mut alice, &mut bob, one_time, v3, &mut rng);
    let first = send(&mut alice, &b, &[0x61; 100], &mut rng);
    recv(&mut bob, &a, &first, &mut rng).unwrap();
    let reply = send(&mut bob, &a, &[0x62; 100], &mut rng);
    (first.serialize().len(), reply.serialize().len())
}

#[test]
fn pinned_sizes() {
    // SignalMessage, 100-byte plaintext: version 1 + ratchet key 35 + counter 2 +
    // previous counter 2 + ciphertext 114 (112 bytes of AES-CBC) + SPQR field 6 + MAC 8
    // (the responder's reply: its braid waits for the header and sends None).
    // PreKeySignalMessage: adds base key 35, identity 35, ids, registration id, the
    // Kyber ciphertext (1 + 1568 + 3 bytes of framing) and, with service-id names, the
    // 38-byte addresses field inside; its SPQR field carries the first ML-KEM braid
    // chunk (header chunk 0): 39 bytes instead of 6.
    assert_eq!(sizes(false, true, true), (1894, 168));
    assert_eq!(sizes(false, false, true), (1892, 168));
    assert_eq!(sizes(false, true, false), (1856, 168));
    // v3: no Kyber ciphertext, no SPQR field, no addresses.
    assert_eq!(sizes(true, true, true), (243, 162));
}
