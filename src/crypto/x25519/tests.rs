use super::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

#[test]
fn dh_agrees_and_rejects_zero() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let a = KeyPair::generate(&mut rng);
    let b = KeyPair::generate(&mut rng);
    let ab = a.private_key().diffie_hellman(b.public_key()).unwrap();
    let ba = b.private_key().diffie_hellman(a.public_key()).unwrap();
    assert_eq!(ab.as_bytes(), ba.as_bytes());
    let zero = PublicKey::from_u_bytes([0u8; 32]);
    assert_eq!(
        a.private_key().diffie_hellman(&zero).unwrap_err(),
        ProtocolError::NonContributory
    );
}

#[test]
fn serialization_is_strict() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let a = KeyPair::generate(&mut rng);
    let s = a.public_key().serialize();
    assert_eq!(PublicKey::deserialize(&s).unwrap(), *a.public_key());
    assert_eq!(
        PublicKey::deserialize(&s[..32]),
        Err(DecodeError::BadLength)
    );
    let mut t = s;
    t[0] = 0x06;
    assert_eq!(PublicKey::deserialize(&t), Err(DecodeError::UnknownType));
    assert_eq!(PublicKey::deserialize(&[]), Err(DecodeError::Truncated));
}

#[test]
fn canonical_check() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    for _ in 0..20 {
        assert!(KeyPair::generate(&mut rng).public_key().is_canonical());
    }
    // u = p is not canonical.
    let mut p = [0xffu8; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    assert!(!PublicKey::from_u_bytes(p).is_canonical());
    // u = 0 is a low-order point.
    assert!(!PublicKey::from_u_bytes([0u8; 32]).is_canonical());
    // u = 1 has order 4.
    let mut one = [0u8; 32];
    one[0] = 1;
    assert!(!PublicKey::from_u_bytes(one).is_canonical());
}

#[test]
fn private_key_is_clamped_on_import() {
    let k = PrivateKey::from_bytes(&[0xff; 32]);
    let b = k.to_bytes();
    assert_eq!(b[0] & 7, 0);
    assert_eq!(b[31] & 0x80, 0);
    assert_eq!(b[31] & 0x40, 0x40);
}
