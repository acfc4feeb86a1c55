//! PLACEHOLDER until the spqr branch lands.
use alloc::vec::Vec;
use zeroize::{Zeroize, ZeroizeOnDrop};
use crate::error::{DecodeError, Error};

/// Which PQXDH side we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role { Initiator, Responder }

/// A 32-byte SPQR message key.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct MessageKey([u8; 32]);
impl MessageKey { pub(crate) fn as_bytes(&self) -> &[u8; 32] { &self.0 } }

/// Placeholder state.
#[derive(Clone)]
pub(crate) struct SpqrState { key: [u8; 32], role: Role }
impl SpqrState {
    pub(crate) fn new(auth_key: &[u8; 32], role: Role) -> Self { SpqrState { key: *auth_key, role } }
    pub(crate) fn send(&mut self) -> (Vec<u8>, MessageKey) { let _ = self.role; (alloc::vec![1, 1, 1, 0], MessageKey(self.key)) }
    pub(crate) fn recv(&mut self, field: &[u8]) -> Result<MessageKey, Error> { if field.is_empty() { return Err(DecodeError::Malformed.into()) } Ok(MessageKey(self.key)) }
    pub(crate) fn serialize(&self, out: &mut Vec<u8>) { out.extend_from_slice(&self.key); out.push(matches!(self.role, Role::Initiator) as u8) }
    pub(crate) fn deserialize(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (k, r) = bytes.split_at_checked(32).ok_or(DecodeError::Truncated)?;
        let key: [u8; 32] = k.try_into().map_err(|_| DecodeError::Truncated)?;
        let role = match r { [1] => Role::Initiator, [0] => Role::Responder, _ => return Err(DecodeError::Malformed) };
        Ok(SpqrState { key, role })
    }
}
