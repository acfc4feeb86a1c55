//! Incremental ML-KEM-768 (FIPS 203) for the braid, from libcrux-ml-kem's `incremental`
//! API: the encapsulation key travels in two parts (the 64-byte header `rho ‖ H(ek)` and
//! the 1,152-byte `ek_vector`), and so does the ciphertext (`c1` from the header alone,
//! `c2` once `ek_vector` is known). `c1 ‖ c2` is a standard ML-KEM-768 ciphertext and the
//! shared secret is the standard one (evidence: `docs/notes/spqr-braid.md` §2, §4.8).
//!
//! Every function here is one ML-KEM step: key generation, the first or second half of an
//! encapsulation, or a decapsulation. The encapsulator keeps only its 32-byte randomness
//! `m` between the halves and redoes the first half (deterministic in `m` and the
//! header) when it computes `c2`: so no library-internal state is ever stored in a record,
//! and a record holds nothing whose layout depends on the build.

use alloc::boxed::Box;
use core::fmt;

use libcrux_ml_kem::mlkem768::incremental as inc;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// The standard ML-KEM-768 decapsulation key: `dk_pke (1152) ‖ ek_vector (1152) ‖ rho
/// (32) ‖ H(ek) (32) ‖ z (32)`.
pub(crate) const DK_LEN: usize = 2400;
/// `rho ‖ H(ek)`: what the header authenticates.
pub(crate) const HEADER_LEN: usize = 64;
/// The encapsulation-key vector (`ek` without `rho`).
pub(crate) const EK_LEN: usize = 1152;
/// The first ciphertext part.
pub(crate) const CT1_LEN: usize = 960;
/// The second ciphertext part (without the braid's MAC).
pub(crate) const C2_LEN: usize = 128;

const EK_AT: usize = 1152;
const HEADER_AT: usize = 2304;
const ENCAPS_STATE_LEN: usize = inc::encaps_state_len();

#[cfg(test)]
extern crate std;
#[cfg(test)]
std::thread_local! {
    /// ML-KEM steps taken on this thread (for the one-step-per-message tests).
    pub(crate) static STEPS: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

/// Counts one ML-KEM step (tests only).
fn step() {
    #[cfg(test)]
    STEPS.with(|c| c.set(c.get() + 1));
}

const _: () = assert!(inc::pk1_len() == HEADER_LEN);
const _: () = assert!(inc::pk2_len() == EK_LEN);
const _: () = assert!(inc::key_pair_compressed_len() == DK_LEN);
const _: () = assert!(inc::Ciphertext1::len() == CT1_LEN);
const _: () = assert!(inc::Ciphertext2::len() == C2_LEN);

/// A decapsulation key (secret; boxed, wiped on drop).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct DecapsKey(Box<[u8; DK_LEN]>);

impl fmt::Debug for DecapsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DecapsKey(..)")
    }
}

impl DecapsKey {
    /// ML-KEM-768 key generation from 64 random bytes (`d ‖ z`).
    pub(crate) fn generate(seed: &Zeroizing<[u8; 64]>) -> Self {
        step();
        let mut dk = Box::new([0u8; DK_LEN]);
        inc::generate_key_pair_compressed(**seed, &mut dk);
        DecapsKey(dk)
    }

    /// A key read from a record. Returns `None` unless its embedded encapsulation key is
    /// well formed and hashes to its embedded `H(ek)`, as key generation makes it.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let mut dk = Box::new([0u8; DK_LEN]);
        if bytes.len() != DK_LEN {
            return None;
        }
        dk.copy_from_slice(bytes);
        let key = DecapsKey(dk);
        validate(key.header(), key.ek_vector()).then_some(key)
    }

    /// The raw 2,400 bytes (for the record).
    pub(crate) fn as_bytes(&self) -> &[u8; DK_LEN] {
        &self.0
    }

    /// `rho ‖ H(ek)`.
    pub(crate) fn header(&self) -> &[u8; HEADER_LEN] {
        self.0
            .get(HEADER_AT..HEADER_AT + HEADER_LEN)
            .and_then(|s| s.try_into().ok())
            .unwrap_or(&[0; HEADER_LEN])
    }

    /// `ek_vector`.
    pub(crate) fn ek_vector(&self) -> &[u8; EK_LEN] {
        self.0
            .get(EK_AT..EK_AT + EK_LEN)
            .and_then(|s| s.try_into().ok())
            .unwrap_or(&[0; EK_LEN])
    }

    /// Decapsulation (with FIPS 203's implicit rejection: a bad ciphertext gives an
    /// unrelated secret, which the braid's ciphertext MAC then refuses).
    pub(crate) fn decapsulate(
        &self,
        ct1: &[u8; CT1_LEN],
        c2: &[u8; C2_LEN],
    ) -> Zeroizing<[u8; 32]> {
        step();
        let ct1 = inc::Ciphertext1 { value: *ct1 };
        let ct2 = inc::Ciphertext2 { value: *c2 };
        Zeroizing::new(inc::decapsulate_compressed_key(&self.0, &ct1, &ct2))
    }
}

/// Whether `ek_vector` completes the authenticated header into a valid ML-KEM-768
/// encapsulation key: `SHA3-256(ek_vector ‖ rho) = H(ek)` and every coefficient reduced
/// (FIPS 203's input check).
pub(crate) fn validate(header: &[u8; HEADER_LEN], ek_vector: &[u8; EK_LEN]) -> bool {
    inc::validate_pk_bytes(header, ek_vector).is_ok()
}

/// `c1` and the shared secret of an encapsulation.
pub(crate) type Encapsulated = (Box<[u8; CT1_LEN]>, Zeroizing<[u8; 32]>);

/// The first half of an encapsulation to `header` with randomness `m`: `c1` and the
/// shared secret.
pub(crate) fn encapsulate1(header: &[u8; HEADER_LEN], m: &[u8; 32]) -> Option<Encapsulated> {
    step();
    let mut state = Zeroizing::new([0u8; ENCAPS_STATE_LEN]);
    let mut ss = Zeroizing::new([0u8; 32]);
    let ct1 = inc::encapsulate1(header, *m, state.as_mut_slice(), ss.as_mut_slice()).ok()?;
    Some((Box::new(ct1.value), ss))
}

/// The second half: `c2` of the encapsulation to `header ‖ ek_vector` with randomness
/// `m` (the first half is redone: it is deterministic).
pub(crate) fn encapsulate2(
    header: &[u8; HEADER_LEN],
    m: &[u8; 32],
    ek_vector: &[u8; EK_LEN],
) -> Option<[u8; C2_LEN]> {
    step();
    let mut state = Zeroizing::new([0u8; ENCAPS_STATE_LEN]);
    let mut ss = Zeroizing::new([0u8; 32]);
    inc::encapsulate1(header, *m, state.as_mut_slice(), ss.as_mut_slice()).ok()?;
    Some(inc::encapsulate2(&state, ek_vector).value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decaps_key_debug_shows_no_key_material() {
        let dk = DecapsKey::generate(&Zeroizing::new([7u8; 64]));
        assert_eq!(alloc::format!("{dk:?}"), "DecapsKey(..)");
    }

    #[test]
    fn halves_make_a_standard_ml_kem_768_exchange() {
        let dk = DecapsKey::generate(&Zeroizing::new([7u8; 64]));
        assert!(validate(dk.header(), dk.ek_vector()));
        let m = [9u8; 32];
        let (ct1, ss) = encapsulate1(dk.header(), &m).unwrap();
        let c2 = encapsulate2(dk.header(), &m, dk.ek_vector()).unwrap();
        assert_eq!(*dk.decapsulate(&ct1, &c2), *ss);
        // Deterministic in m.
        assert_eq!(encapsulate1(dk.header(), &m).unwrap().0, ct1);
        // A flipped ciphertext bit gives another secret (implicit rejection).
        let mut bad = *ct1;
        bad[0] ^= 1;
        assert_ne!(*dk.decapsulate(&bad, &c2), *ss);
        // A wrong ek_vector or header does not validate.
        let mut ek = *dk.ek_vector();
        ek[5] ^= 1;
        assert!(!validate(dk.header(), &ek));
        let mut h = *dk.header();
        h[40] ^= 1;
        assert!(!validate(&h, dk.ek_vector()));
        // Round trip through bytes; a key with a wrong embedded hash is refused.
        let back = DecapsKey::from_bytes(dk.as_bytes()).unwrap();
        assert_eq!(back.as_bytes(), dk.as_bytes());
        let mut raw = *dk.as_bytes();
        raw[HEADER_AT + 40] ^= 1;
        assert!(DecapsKey::from_bytes(&raw).is_none());
        assert!(DecapsKey::from_bytes(&raw[1..]).is_none());
    }
}
