//! One sender chain as a member (or the sender) holds it.

use alloc::boxed::Box;
use core::fmt;

use super::chain::{SenderChainKey, SenderMessageKeys, SenderMessageSeed};
use super::{MAX_SENDER_KEY_FORWARD_JUMP, MAX_SENDER_MESSAGE_KEYS};
use crate::crypto::PublicKey;
use crate::crypto::xeddsa::{SigningKey, VerifyingKey};
use crate::error::ProtocolError;
use crate::ratchet::skipped::{KeysDelta, SkippedKeys};

/// One chain of one sender: its id, the chain key at the next iteration, the signing
/// key (with its private half when the chain is ours), and the seeds of messages
/// skipped over, oldest first.
///
/// The signing key's curve points are computed once and kept, never stored: the
/// private half as a [`SigningKey`] (its Edwards point is recomputed when a record is
/// read), the public half's Edwards point as a [`VerifyingKey`] (computed when the
/// chain is received, or at its first message after a record was read).
#[derive(Clone)]
pub(crate) struct SenderKeyState {
    pub(crate) chain_id: u32,
    pub(crate) chain_key: SenderChainKey,
    pub(crate) signing_key: PublicKey,
    /// Boxed: an inline `None` would carry 32 uninitialized bytes into the state's box,
    /// which no drop wipes.
    pub(crate) signing_private: Option<Box<SigningKey>>,
    /// `signing_key` ready to verify; `None` until it is first needed.
    /// Boxed: the change that sets it moves a pointer.
    pub(crate) verifier: Option<Box<VerifyingKey>>,
    pub(crate) skipped: SkippedKeys,
}

impl SenderKeyState {
    /// The keys of message `iteration`, from a stored seed (consumed, so a replay is a
    /// duplicate) or by stepping the chain forward and storing the seeds passed over.
    /// `self` is only read: returns the new chain key and the change to the stored
    /// seeds, which the caller commits after decryption.
    pub(crate) fn stage(
        &self,
        iteration: u32,
    ) -> Result<(SenderMessageKeys, SenderChainKey, KeysDelta), ProtocolError> {
        let next = self.chain_key.iteration();
        if iteration < next {
            let seed = self
                .skipped
                .get(iteration)
                .ok_or(ProtocolError::DuplicateMessage)?;
            let keys = SenderMessageKeys::derive(&SenderMessageSeed(*seed));
            let delta = KeysDelta {
                consumed: Some(iteration),
                ..KeysDelta::default()
            };
            return Ok((keys, self.chain_key.clone(), delta));
        }
        if iteration - next > MAX_SENDER_KEY_FORWARD_JUMP {
            return Err(ProtocolError::TooFarInFuture);
        }
        // Seeds that would be dropped at once are stepped over without being derived.
        let keep_from = iteration.saturating_sub(MAX_SENDER_MESSAGE_KEYS as u32);
        let mut added = SkippedKeys::with_capacity(
            usize::try_from(iteration - next.max(keep_from)).unwrap_or(0),
        );
        let mut ck = self.chain_key.clone();
        while ck.iteration() < iteration {
            if ck.iteration() >= keep_from {
                added.push(ck.iteration(), &ck.seed().0);
            }
            ck = ck.next().ok_or(ProtocolError::TooFarInFuture)?;
        }
        let keys = SenderMessageKeys::derive(&ck.seed());
        let chain_key = ck.next().ok_or(ProtocolError::TooFarInFuture)?;
        let old = self.skipped.len();
        let excess = (old + added.len()).saturating_sub(MAX_SENDER_MESSAGE_KEYS);
        let drop_below = if excess == 0 {
            None
        } else if excess < old {
            self.skipped.nth(excess)
        } else {
            added.nth(excess - old)
        };
        Ok((
            keys,
            chain_key,
            KeysDelta {
                consumed: None,
                added,
                drop_below,
            },
        ))
    }
}

#[cfg(test)]
impl SenderKeyState {
    /// [`SenderKeyState::stage`] applied in place.
    pub(crate) fn keys_for(&mut self, iteration: u32) -> Result<SenderMessageKeys, ProtocolError> {
        let (keys, chain_key, delta) = self.stage(iteration)?;
        self.chain_key = chain_key;
        delta.apply(&mut self.skipped);
        Ok(keys)
    }
}

impl fmt::Debug for SenderKeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SenderKeyState")
            .field("chain_id", &self.chain_id)
            .field("iteration", &self.chain_key.iteration())
            .field("signing_key", &self.signing_key)
            .field("has_private_key", &self.signing_private.is_some())
            .field("skipped", &self.skipped.len())
            .finish_non_exhaustive()
    }
}
