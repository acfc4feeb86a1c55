//! Service ids as v2 messages carry them: `kind ‖ uuid`, 17 bytes.

use alloc::string::String;
use core::fmt;

use crate::error::DecodeError;

/// Which kind of account identifier a [`ServiceId`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceIdKind {
    /// An account identifier (kind byte 0; written as the bare uuid).
    Aci,
    /// A phone-number identifier (kind byte 1; written `PNI:` and the uuid).
    Pni,
}

/// A service id in its fixed-width binary form: kind byte (0 ACI, 1 PNI) ‖ 16 uuid bytes.
///
/// ```
/// use missive::sealed::{ServiceId, ServiceIdKind};
/// let pni = ServiceId::parse("PNI:796abedb-ca4e-4f18-8803-1fde5b921f9f").unwrap();
/// assert_eq!(pni.kind(), ServiceIdKind::Pni);
/// assert_eq!(pni.as_bytes()[0], 1);
/// assert_eq!(pni.to_string(), "PNI:796abedb-ca4e-4f18-8803-1fde5b921f9f");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceId([u8; 17]);

impl ServiceId {
    /// Length of the fixed-width form.
    pub const LEN: usize = 17;

    /// From a kind and the 16 uuid bytes.
    pub fn new(kind: ServiceIdKind, uuid: [u8; 16]) -> Self {
        let mut out = [0u8; 17];
        let (k, rest) = out.split_at_mut(1);
        k.copy_from_slice(&[kind_byte(kind)]);
        rest.copy_from_slice(&uuid);
        ServiceId(out)
    }

    /// Parses the string form: a bare uuid (ACI) or `PNI:` and a uuid.
    pub fn parse(s: &str) -> Option<Self> {
        let (kind, uuid) = match s.strip_prefix("PNI:") {
            Some(rest) => (ServiceIdKind::Pni, rest),
            None => (ServiceIdKind::Aci, s),
        };
        let mut bytes = [0u8; 16];
        crate::address::parse_uuid(uuid, &mut bytes)?;
        Some(Self::new(kind, bytes))
    }

    /// Parses the fixed-width form; a kind byte other than 0 or 1 is refused, as
    /// libsignal refuses it.
    pub fn from_bytes(bytes: &[u8; 17]) -> Result<Self, DecodeError> {
        match bytes.first() {
            Some(0 | 1) => Ok(ServiceId(*bytes)),
            _ => Err(DecodeError::UnknownType),
        }
    }

    /// The fixed-width form.
    pub const fn as_bytes(&self) -> &[u8; 17] {
        &self.0
    }

    /// The kind.
    pub fn kind(&self) -> ServiceIdKind {
        match self.0.first() {
            Some(1) => ServiceIdKind::Pni,
            _ => ServiceIdKind::Aci,
        }
    }

    /// The 16 uuid bytes.
    pub fn uuid(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        if let Some(u) = self.0.get(1..) {
            out.copy_from_slice(u);
        }
        out
    }
}

fn kind_byte(kind: ServiceIdKind) -> u8 {
    match kind {
        ServiceIdKind::Aci => 0,
        ServiceIdKind::Pni => 1,
    }
}

/// Formats 16 bytes as a lowercase 8-4-4-4-12 uuid.
pub(super) fn format_uuid(uuid: &[u8; 16]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(36);
    for (i, b) in uuid.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        for nibble in [b >> 4, b & 0x0f] {
            if let Some(&c) = HEX.get(usize::from(nibble)) {
                s.push(char::from(c));
            }
        }
    }
    s
}

impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind() == ServiceIdKind::Pni {
            f.write_str("PNI:")?;
        }
        f.write_str(&format_uuid(&self.uuid()))
    }
}

impl fmt::Debug for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServiceId({self})")
    }
}
