use alloc::vec::Vec;

use serde_json::Value;

use super::*;

const JSON: &str = include_str!("../../../../tests/vectors/braid_kdf.json");

fn h(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn h32(v: &Value) -> [u8; 32] {
    h(v).try_into().unwrap()
}

/// Replays every exchange of a libsignal-client conversation from the auth key and the
/// shared secrets alone.
#[test]
fn libsignal_key_schedule() {
    let json: Value = serde_json::from_str(JSON).unwrap();
    let auth_key = h32(&json["auth_key"]);
    let mut auth = Authenticator::new(&auth_key);
    assert_eq!(auth.root, h32(&json["authenticator_1"]["root"]));
    assert_eq!(auth.mac_key, h32(&json["authenticator_1"]["mac_key"]));
    let start = hkdf::<96>(
        Some(&ZERO),
        &auth_key,
        &[b"Signal PQ Ratchet V1 Chain  Start"],
    );
    let mut next_root = h32(&json["chain_start_next_root"]);
    assert_eq!(start[..32], next_root);

    let exchanges = json["exchanges"].as_array().unwrap();
    assert!(exchanges.len() >= 4);
    for (n, x) in exchanges.iter().enumerate() {
        let epoch = x["epoch"].as_u64().unwrap();
        assert_eq!(epoch, n as u64 + 1, "one exchange per epoch, in order");
        let header: [u8; 64] = h(&x["header"]).try_into().unwrap();
        let header_mac = h(&x["header_mac"]);
        assert_eq!(auth.header_mac(epoch, &header).to_vec(), header_mac);
        assert!(auth.verify_header(epoch, &header, &header_mac));
        assert!(!auth.verify_header(epoch + 1, &header, &header_mac));

        let es = epoch_secret(&h32(&x["shared_secret"]), epoch);
        assert_eq!(*es, h32(&x["epoch_secret"]));
        let before = auth.clone();
        auth.update(epoch, &es);
        assert_eq!(auth.root, h32(&x["authenticator"]["root"]));
        assert_eq!(auth.mac_key, h32(&x["authenticator"]["mac_key"]));

        let (ct1, ct2, ct_mac) = (h(&x["ct1"]), h(&x["ct2"]), h(&x["ciphertext_mac"]));
        assert_eq!((ct1.len(), ct2.len()), (960, 128));
        assert!(auth.verify_ciphertext(epoch, &ct1, &ct2, &ct_mac));
        // With the key before the update it does not verify; nor with a flipped bit.
        assert!(!before.verify_ciphertext(epoch, &ct1, &ct2, &ct_mac));
        let mut bad = ct2.clone();
        bad[0] ^= 1;
        assert!(!auth.verify_ciphertext(epoch, &ct1, &bad, &ct_mac));

        let chains = add_epoch(&next_root, &es);
        assert_eq!(chains.next_root, h32(&x["next_root"]));
        assert_eq!(chains.a_to_b, h32(&x["chain_a_to_b"]));
        assert_eq!(chains.b_to_a, h32(&x["chain_b_to_a"]));
        next_root = chains.next_root;
    }
}

#[test]
fn secrets_do_not_debug() {
    let a = Authenticator::new(&[7; 32]);
    assert_eq!(alloc::format!("{a:?}"), "Authenticator(..)");
    let c = add_epoch(&[1; 32], &[2; 32]);
    assert_eq!(alloc::format!("{c:?}"), "EpochChains(..)");
}
