//! The constant-time padding check against the obvious definition, for every last block
//! shape that matters, and round trips of every length around the block boundaries.

extern crate std;

use std::vec::Vec;

use super::*;

/// The textbook PKCS#7 check (branches freely: the reference, not the implementation).
fn reference(last: &[u8; BLOCK_LEN]) -> Option<u8> {
    let n = last[BLOCK_LEN - 1];
    let ok = (1..=BLOCK_LEN as u8).contains(&n)
        && last[BLOCK_LEN - usize::from(n)..].iter().all(|&b| b == n);
    ok.then_some(n)
}

#[test]
fn padding_check_matches_reference() {
    let mut shapes = 0;
    for n in 0..=255u8 {
        for filler in [0u8, 1, n.wrapping_sub(1), n, n.wrapping_add(1), 0xff] {
            // All-filler block ending in n; then each single position set to n or not.
            let mut base = [filler; BLOCK_LEN];
            base[BLOCK_LEN - 1] = n;
            for pos in 0..BLOCK_LEN {
                for v in [n, n ^ 1, filler] {
                    let mut block = base;
                    block[pos] = v;
                    let (valid, got) = padding_len(&block);
                    assert_eq!(
                        bool::from(valid).then_some(got),
                        reference(&block),
                        "{block:02x?}"
                    );
                    shapes += 1;
                }
            }
        }
    }
    assert!(shapes > 50_000);
}

#[test]
fn every_valid_padding_is_accepted() {
    for n in 1..=BLOCK_LEN as u8 {
        let mut block = [0xAA; BLOCK_LEN];
        block[BLOCK_LEN - usize::from(n)..].fill(n);
        let (valid, got) = padding_len(&block);
        assert!(bool::from(valid));
        assert_eq!(got, n);
    }
}

#[test]
fn round_trips_and_refusals() {
    let key = [7u8; 32];
    let iv = [9u8; 16];
    for len in 0..=50 {
        let plaintext: Vec<u8> = (0..len as u8).collect();
        let ct = encrypt(&key, &iv, &plaintext);
        assert_eq!(ct.len(), (len / BLOCK_LEN + 1) * BLOCK_LEN);
        assert_eq!(decrypt(&key, &iv, &ct).as_deref(), Some(&plaintext[..]));
        // Cut or extended by a partial block: refused before any padding is looked at.
        assert_eq!(decrypt(&key, &iv, &ct[..ct.len() - 1]), None);
        let mut longer = ct.clone();
        longer.push(0);
        assert_eq!(decrypt(&key, &iv, &longer), None);
    }
    assert_eq!(decrypt(&key, &iv, &[]), None);
}

#[test]
fn bad_padding_is_refused() {
    let key = [3u8; 32];
    let iv = [5u8; 16];
    // Encrypt chosen last blocks without padding, then decrypt with the check.
    for last in [[0u8; 16], [17u8; 16], {
        let mut b = [2u8; 16];
        b[14] = 3;
        b
    }] {
        let mut buf = last.to_vec();
        cbc::Encryptor::<Aes256>::new((&key).into(), (&iv).into())
            .encrypt_blocks(cbc::cipher::Block::<Aes256>::slice_as_chunks_mut(&mut buf).0);
        assert_eq!(decrypt(&key, &iv, &buf), None);
        let mut plain = buf.clone();
        assert!(decrypt_blocks(&key, &iv, &mut plain));
        assert_eq!(plain, last);
    }
}
