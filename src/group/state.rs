//! One sender chain as a member (or the sender) holds it.

use alloc::collections::VecDeque;
use core::fmt;

use super::chain::{SenderChainKey, SenderMessageKeys, SenderMessageSeed};
use super::{MAX_SENDER_KEY_FORWARD_JUMP, MAX_SENDER_MESSAGE_KEYS};
use crate::crypto::{PrivateKey, PublicKey};
use crate::error::ProtocolError;

/// One chain of one sender: its id, the chain key at the next iteration, the signing
/// key (with its private half when the chain is ours), and the seeds of messages
/// skipped over, oldest first.
#[derive(Clone)]
pub(crate) struct SenderKeyState {
    pub(crate) chain_id: u32,
    pub(crate) chain_key: SenderChainKey,
    pub(crate) signing_key: PublicKey,
    pub(crate) signing_private: Option<PrivateKey>,
    pub(crate) skipped: VecDeque<(u32, SenderMessageSeed)>,
}

impl SenderKeyState {
    /// The keys of message `iteration`, from a stored seed (removed, so a replay is a
    /// duplicate) or by stepping the chain forward and storing the seeds passed over.
    /// Works in place: callers stage on a copy and commit only after decryption.
    pub(crate) fn keys_for(&mut self, iteration: u32) -> Result<SenderMessageKeys, ProtocolError> {
        let next = self.chain_key.iteration();
        if iteration < next {
            let pos = self
                .skipped
                .iter()
                .position(|(i, _)| *i == iteration)
                .ok_or(ProtocolError::DuplicateMessage)?;
            let (_, seed) = self
                .skipped
                .remove(pos)
                .ok_or(ProtocolError::DuplicateMessage)?;
            return Ok(SenderMessageKeys::derive(&seed));
        }
        if iteration - next > MAX_SENDER_KEY_FORWARD_JUMP {
            return Err(ProtocolError::TooFarInFuture);
        }
        // Seeds that would be dropped at once are stepped over without being derived.
        let keep_from = iteration.saturating_sub(MAX_SENDER_MESSAGE_KEYS as u32);
        let mut ck = self.chain_key.clone();
        while ck.iteration() < iteration {
            if ck.iteration() >= keep_from {
                self.skipped.push_back((ck.iteration(), ck.seed()));
                if self.skipped.len() > MAX_SENDER_MESSAGE_KEYS {
                    self.skipped.pop_front();
                }
            }
            ck = ck.next().ok_or(ProtocolError::TooFarInFuture)?;
        }
        let keys = SenderMessageKeys::derive(&ck.seed());
        self.chain_key = ck.next().ok_or(ProtocolError::TooFarInFuture)?;
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
