//! The braid's key schedule: the authenticator, the two MACs, the epoch secret and
//! "Add Epoch", exactly as libsignal-client 0.103.0 computes them (evidence:
//! `docs/notes/spqr-braid.md` §4; known answers: `tests/vectors/braid_kdf.json`).
//!
//! ```text
//! PI = "Signal_PQCKA_V1_MLKEM768";  e = the epoch the exchange runs in, BE64(e) 8 bytes
//! KDF_AUTH(root, key, e) = HKDF(salt 0^32, ikm root ‖ key, PI ‖ ":Authenticator Update" ‖ BE64(e)) → root' ‖ mac'
//! authenticator at epoch 1 = KDF_AUTH(0^32, SPQR auth key, 1)
//! header MAC   = HMAC(mac_e,     PI ‖ ":ekheader"   ‖ BE64(e) ‖ rho ‖ H(ek))
//! epoch secret = HKDF(salt 0^32, ikm ML-KEM shared secret, PI ‖ ":SCKA Key" ‖ BE64(e)) → 32
//! authenticator at e+1 = KDF_AUTH(root_e, epoch secret, e)
//! ciphertext MAC = HMAC(mac_{e+1}, PI ‖ ":ciphertext" ‖ BE64(e) ‖ ct1 ‖ ct2)
//! Add Epoch: HKDF(salt next root, ikm epoch secret, "Signal PQ Ratchet V1 Chain Add Epoch") → 96
//!            = next root ‖ chain A→B ‖ chain B→A   (A = the PQXDH initiator, in every epoch)
//! ```

use core::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::crypto::kdf::{ct_eq, hkdf, hmac};

/// Protocol string that prefixes every braid label.
const PROTOCOL_INFO: &[u8] = b"Signal_PQCKA_V1_MLKEM768";
const LABEL_AUTH_UPDATE: &[u8] = b":Authenticator Update";
const LABEL_HEADER: &[u8] = b":ekheader";
const LABEL_CIPHERTEXT: &[u8] = b":ciphertext";
const LABEL_EPOCH_SECRET: &[u8] = b":SCKA Key";
const LABEL_ADD_EPOCH: &[u8] = b"Signal PQ Ratchet V1 Chain Add Epoch";
const ZERO: [u8; 32] = [0; 32];

/// Length of both braid MACs (full HMAC-SHA256).
pub(crate) const MAC_LEN: usize = 32;

/// The braid authenticator: a root that absorbs every epoch secret and the MAC key of
/// the current epoch.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct Authenticator {
    root: [u8; 32],
    mac_key: [u8; 32],
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Authenticator(..)")
    }
}

impl Authenticator {
    /// The epoch-1 authenticator of a session, from the SPQR auth key (PQXDH output bytes
    /// 64..96).
    pub(crate) fn new(auth_key: &[u8; 32]) -> Self {
        let mut a = Authenticator {
            root: ZERO,
            mac_key: ZERO,
        };
        a.update(1, auth_key);
        a
    }

    /// `root ‖ mac key`, for the record.
    pub(crate) fn to_bytes(&self) -> Zeroizing<[u8; 64]> {
        let mut out = Zeroizing::new([0u8; 64]);
        let (r, m) = out.split_at_mut(32);
        r.copy_from_slice(&self.root);
        m.copy_from_slice(&self.mac_key);
        out
    }

    /// Reads [`Authenticator::to_bytes`]'s output.
    pub(crate) fn from_bytes(bytes: &[u8; 64]) -> Self {
        let mut a = Authenticator {
            root: ZERO,
            mac_key: ZERO,
        };
        let (r, m) = bytes.split_at(32);
        a.root.copy_from_slice(r);
        a.mac_key.copy_from_slice(m);
        a
    }

    /// Absorbs `key` (the epoch secret of the exchange that ran in `epoch`).
    pub(crate) fn update(&mut self, epoch: u64, key: &[u8; 32]) {
        let mut ikm = Zeroizing::new([0u8; 64]);
        let (r, k) = ikm.split_at_mut(32);
        r.copy_from_slice(&self.root);
        k.copy_from_slice(key);
        let okm = Zeroizing::new(hkdf::<64>(
            Some(&ZERO),
            ikm.as_slice(),
            &[PROTOCOL_INFO, LABEL_AUTH_UPDATE, &epoch.to_be_bytes()],
        ));
        let (root, mac_key) = okm.split_at(32);
        self.root.copy_from_slice(root);
        self.mac_key.copy_from_slice(mac_key);
    }

    /// MAC of the header `rho ‖ H(ek)` sent in `epoch`.
    pub(crate) fn header_mac(&self, epoch: u64, header: &[u8; 64]) -> [u8; MAC_LEN] {
        hmac(
            &self.mac_key,
            &[PROTOCOL_INFO, LABEL_HEADER, &epoch.to_be_bytes(), header],
        )
    }

    /// MAC of the ciphertext `ct1 ‖ ct2` of the exchange in `epoch` (computed with the
    /// authenticator *after* [`Authenticator::update`] with that exchange's secret).
    pub(crate) fn ciphertext_mac(&self, epoch: u64, ct1: &[u8], ct2: &[u8]) -> [u8; MAC_LEN] {
        hmac(
            &self.mac_key,
            &[
                PROTOCOL_INFO,
                LABEL_CIPHERTEXT,
                &epoch.to_be_bytes(),
                ct1,
                ct2,
            ],
        )
    }

    /// Checks a header MAC in constant time.
    pub(crate) fn verify_header(&self, epoch: u64, header: &[u8; 64], mac: &[u8]) -> bool {
        ct_eq(&self.header_mac(epoch, header), mac)
    }

    /// Checks a ciphertext MAC in constant time.
    pub(crate) fn verify_ciphertext(&self, epoch: u64, ct1: &[u8], ct2: &[u8], mac: &[u8]) -> bool {
        ct_eq(&self.ciphertext_mac(epoch, ct1, ct2), mac)
    }
}

/// The epoch secret of the exchange that ran in `epoch`, from its ML-KEM shared secret.
pub(crate) fn epoch_secret(shared_secret: &[u8; 32], epoch: u64) -> Zeroizing<[u8; 32]> {
    Zeroizing::new(hkdf::<32>(
        Some(&ZERO),
        shared_secret,
        &[PROTOCOL_INFO, LABEL_EPOCH_SECRET, &epoch.to_be_bytes()],
    ))
}

/// The chains of a new epoch: "Add Epoch" into the SPQR chain.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct EpochChains {
    /// Salt of the next Add Epoch.
    pub(crate) next_root: [u8; 32],
    /// Chain the PQXDH initiator sends on.
    pub(crate) a_to_b: [u8; 32],
    /// Chain the PQXDH responder sends on.
    pub(crate) b_to_a: [u8; 32],
}

impl fmt::Debug for EpochChains {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EpochChains(..)")
    }
}

/// `HKDF(salt = next root, ikm = epoch secret, "Signal PQ Ratchet V1 Chain Add Epoch")`.
pub(crate) fn add_epoch(next_root: &[u8; 32], epoch_secret: &[u8; 32]) -> EpochChains {
    let okm = Zeroizing::new(hkdf::<96>(
        Some(next_root),
        epoch_secret,
        &[LABEL_ADD_EPOCH],
    ));
    let mut chains = EpochChains {
        next_root: ZERO,
        a_to_b: ZERO,
        b_to_a: ZERO,
    };
    for (dst, src) in [
        &mut chains.next_root,
        &mut chains.a_to_b,
        &mut chains.b_to_a,
    ]
    .into_iter()
    .zip(okm.chunks_exact(32))
    {
        dst.copy_from_slice(src);
    }
    chains
}

#[cfg(test)]
mod tests;
