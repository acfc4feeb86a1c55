use alloc::vec::Vec;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::ratchet::spqr::{Role, SpqrState, parse};

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// Strict ping-pong between two braiding states: the epoch advances every 87 messages,
/// as between two libsignal-client peers (docs/notes/spqr-braid.md §1.1).
#[test]
fn ping_pong_advances_one_epoch_per_87_messages() {
    let auth = [3u8; 32];
    let mut a = SpqrState::new(&auth, Role::Initiator);
    let mut b = SpqrState::new(&auth, Role::Responder);
    let mut r = rng(1);
    let mut epochs = Vec::new();
    for n in 1..=2000u32 {
        let (from, to) = if n % 2 == 1 {
            (&mut a, &mut b)
        } else {
            (&mut b, &mut a)
        };
        let (f, k) = from.send(&mut r).unwrap();
        let got = to.recv(&f).unwrap();
        assert_eq!(got.as_bytes(), k.as_bytes(), "message {n}");
        let e = parse(&f).unwrap().epoch;
        if epochs.last().is_none_or(|&(_, last)| last < e) {
            epochs.push((n, e));
        }
    }
    assert_eq!(epochs[1], (87, 2), "{epochs:?}");
    assert_eq!(epochs[2], (174, 3), "{epochs:?}");
    assert_eq!(epochs.last().unwrap().1, 23, "{epochs:?}");
}
