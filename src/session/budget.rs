//! The work one incoming message may cause, across every session it is tried on.
//!
//! Trial decryption tries a message on the current session and then on archived ones.
//! Each attempt may need a DH step and long walks along a Double Ratchet chain and the
//! SPQR chain before the MAC can be checked, and a forged message is only known to be
//! forged after that. A per-session bound (25,000 steps each) is therefore not a bound
//! on the message: with 41 sessions one forgery would cost 41 of them. Instead every
//! message gets one [`Budget`]; each attempt is planned from the header first
//! ([`DecryptPlan`](super::state::DecryptPlan)), charged its cost, and skipped if the
//! budget cannot pay for it.
//!
//! Units: one unit is one HMAC-SHA256 of a 32-byte key over a short input, half a Double
//! Ratchet chain step. The weights below are the ratios measured on x86_64, rounded up
//! (`cargo bench --features hazmat --bench budget`; docs/PERFORMANCE.md): an SPQR step
//! costs 1.5 Double Ratchet steps, a DH step (X25519 and the root-key HKDF) about 110,
//! the worst braid step about 720.

use crate::error::ProtocolError;
use crate::ratchet::chain::MAX_FORWARD_JUMP;
use crate::ratchet::spqr::MAX_FORWARD_JUMP as SPQR_MAX_FORWARD_JUMP;

/// One Double Ratchet chain step (two HMACs: the seed and the next chain key).
pub const DR_STEP_COST: u64 = 2;
/// One SPQR chain step (an HKDF-SHA256 extract and a 64-byte expand).
pub const SPQR_STEP_COST: u64 = 4;
/// One X25519 Diffie-Hellman with its root-key HKDF.
pub const DH_STEP_COST: u64 = 256;
/// The heaviest braid step a received message can cause once it authenticated: decoding
/// a 36-chunk value none of whose data chunks arrived (about 1,300 units, the bulk of
/// it), checking it, and one ML-KEM-768 step (an encapsulation, redone in full for its
/// second half, or a decapsulation: about 140 units). Charged when the message's chunk
/// may complete a value (or acknowledges `c1` once the key is complete); other messages
/// cost the braid a chunk copy.
pub const BRAID_STEP_COST: u64 = 2_048;

/// The most one honest message can cost on the session it belongs to: a DH step, a
/// jump of [`MAX_FORWARD_JUMP`] on a new chain, the longest SPQR jump, and a braid step.
pub const MAX_SESSION_COST: u64 = DH_STEP_COST
    + (MAX_FORWARD_JUMP as u64 + 1) * DR_STEP_COST
    + SPQR_MAX_FORWARD_JUMP as u64 * SPQR_STEP_COST
    + BRAID_STEP_COST;

/// The budget of one incoming message: the worst honest message on one session, plus a
/// quarter for the attempts on the sessions it does not belong to (which are usually
/// cheap: a DH step and a few chain steps, or a refusal from the header alone). A
/// forged message therefore costs at most 1.25 times what it costs against a record
/// with a single session, however many sessions the record archives.
pub const MESSAGE_WORK_BUDGET: u64 = MAX_SESSION_COST + MAX_SESSION_COST / 4;

// The budget always pays for the worst honest message on the session tried first, and a
// forgery costs at most 1.5 times what it costs against a single session.
const _: () = assert!(MESSAGE_WORK_BUDGET >= MAX_SESSION_COST);
const _: () = assert!(2 * MESSAGE_WORK_BUDGET <= 3 * MAX_SESSION_COST);

/// The work an attempt costs, in budget units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Cost(u64);

impl Cost {
    pub(crate) fn new(dh_steps: u32, dr_steps: u32, spqr_steps: u32) -> Self {
        Cost(
            u64::from(dh_steps) * DH_STEP_COST
                + u64::from(dr_steps) * DR_STEP_COST
                + u64::from(spqr_steps) * SPQR_STEP_COST,
        )
    }

    /// This cost, plus a braid step if `heavy`.
    pub(crate) fn plus_braid(self, heavy: bool) -> Self {
        Cost(self.0 + if heavy { BRAID_STEP_COST } else { 0 })
    }
}

/// What is left of one message's budget.
#[derive(Debug)]
pub(crate) struct Budget {
    remaining: u64,
}

impl Budget {
    /// A fresh budget for one incoming message.
    pub(crate) fn per_message() -> Self {
        Budget {
            remaining: MESSAGE_WORK_BUDGET,
        }
    }

    /// Pays for an attempt, or refuses it (and pays nothing) if too little is left.
    pub(crate) fn charge(&mut self, cost: Cost) -> Result<(), ProtocolError> {
        if cost.0 > self.remaining {
            return Err(ProtocolError::DecryptionFailed);
        }
        self.remaining -= cost.0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The figures `docs/PROTOCOL.md` §4 gives: the worst honest message on one session
    /// (a DH step, 25,001 Double Ratchet steps, 25,000 SPQR steps and a braid step) costs
    /// 152,306 units, and a message's budget is 1.25 times that, 190,382.
    #[test]
    fn the_documented_costs() {
        let worst = Cost::new(1, MAX_FORWARD_JUMP + 1, SPQR_MAX_FORWARD_JUMP).plus_braid(true);
        assert_eq!(worst, Cost(152_306));
        assert_eq!(MAX_SESSION_COST, 152_306);
        assert_eq!(MESSAGE_WORK_BUDGET, 190_382);
        assert_eq!(
            Cost::new(2, 3, 5).plus_braid(false),
            Cost(2 * 256 + 3 * 2 + 5 * 4)
        );
    }

    /// A budget pays for attempts until what is left is spent exactly, refuses one unit
    /// more, and pays nothing for a refused attempt.
    #[test]
    fn a_budget_pays_to_the_last_unit() {
        let mut b = Budget::per_message();
        b.charge(Cost(MAX_SESSION_COST)).unwrap();
        assert_eq!(b.remaining, MAX_SESSION_COST / 4);
        assert_eq!(
            b.charge(Cost(b.remaining + 1)),
            Err(ProtocolError::DecryptionFailed)
        );
        assert_eq!(b.remaining, MAX_SESSION_COST / 4, "a refusal pays nothing");
        b.charge(Cost(b.remaining)).unwrap();
        assert_eq!(b.remaining, 0);
        b.charge(Cost(0)).unwrap();
        assert_eq!(b.charge(Cost(1)), Err(ProtocolError::DecryptionFailed));
    }
}
