//! Receiving chains and their skipped message keys.

use alloc::collections::VecDeque;

use super::keys::{ChainKey, MessageSeed};
use crate::crypto::PublicKey;
use crate::error::ProtocolError;

/// How far ahead of the next expected message one message may jump within a chain.
/// Each skipped step costs two HMACs, so this bounds the work one forged header can
/// cause; libsignal uses the same value (sessions with oneself are exempt, as in
/// libsignal, because the peer is our own device).
pub const MAX_FORWARD_JUMP: u32 = 25_000;

/// Skipped-message seeds kept per receiving chain; the oldest are dropped first. Bounds
/// the memory one chain can hold (libsignal's value).
pub const MAX_SKIPPED_KEYS_PER_CHAIN: usize = 2_000;

/// Receiving chains kept per session: late messages from up to this many of the peer's
/// ratchet keys still decrypt (libsignal's value).
pub const MAX_RECEIVER_CHAINS: usize = 5;

/// One of the peer's sending chains, as we receive it.
#[derive(Clone)]
pub(crate) struct ReceiverChain {
    pub(crate) ratchet_key: PublicKey,
    pub(crate) chain_key: ChainKey,
    /// Seeds of messages skipped over, oldest first, keyed by counter.
    pub(crate) skipped: VecDeque<(u32, MessageSeed)>,
}

impl ReceiverChain {
    pub(crate) fn new(ratchet_key: PublicKey, chain_key: ChainKey) -> Self {
        ReceiverChain {
            ratchet_key,
            chain_key,
            skipped: VecDeque::new(),
        }
    }

    /// The seed of message `counter`: a stored skipped seed (removed, so a replay fails),
    /// or a step forward along the chain that stores the seeds it passes.
    pub(crate) fn seed_for(
        &mut self,
        counter: u32,
        unlimited_jump: bool,
    ) -> Result<MessageSeed, ProtocolError> {
        let index = self.chain_key.index();
        if counter < index {
            let pos = self
                .skipped
                .iter()
                .position(|(c, _)| *c == counter)
                .ok_or(ProtocolError::DuplicateMessage)?;
            let (_, seed) = self
                .skipped
                .remove(pos)
                .ok_or(ProtocolError::DuplicateMessage)?;
            return Ok(seed);
        }
        let jump = counter - index;
        if jump > MAX_FORWARD_JUMP && !unlimited_jump {
            return Err(ProtocolError::TooFarInFuture);
        }
        // Seeds older than the newest MAX_SKIPPED_KEYS_PER_CHAIN would be dropped at once:
        // step over them without deriving them.
        let keep_from = counter.saturating_sub(MAX_SKIPPED_KEYS_PER_CHAIN as u32);
        let mut ck = self.chain_key.clone();
        while ck.index() < counter {
            if ck.index() >= keep_from {
                self.skipped.push_back((ck.index(), ck.message_seed()));
                if self.skipped.len() > MAX_SKIPPED_KEYS_PER_CHAIN {
                    self.skipped.pop_front();
                }
            }
            ck = ck.next().ok_or(ProtocolError::TooFarInFuture)?;
        }
        let seed = ck.message_seed();
        self.chain_key = ck.next().ok_or(ProtocolError::TooFarInFuture)?;
        Ok(seed)
    }
}
