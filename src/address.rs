//! Who a session is with: a name (usually a Signal service id) and a device id.

use alloc::string::String;
use core::fmt;

use crate::wire::ADDRESSES_LEN;

/// A party's address: its name and device id, as the stores key sessions and identities.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProtocolAddress {
    name: String,
    device_id: u32,
}

impl ProtocolAddress {
    /// An address. `name` is usually a service id string: an ACI (a UUID such as
    /// `"9d0652a3-dcc3-4d11-975f-74d61598733f"`) or a PNI (`"PNI:"` and a UUID).
    pub fn new(name: impl Into<String>, device_id: u32) -> Self {
        ProtocolAddress {
            name: name.into(),
            device_id,
        }
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The device id.
    pub fn device_id(&self) -> u32 {
        self.device_id
    }

    /// The 17-byte fixed-width service id (kind byte ‖ UUID) when the name is an ACI or
    /// PNI string and the device id fits a byte; otherwise `None`.
    pub fn service_id_fixed_width(&self) -> Option<[u8; 17]> {
        let (kind, uuid) = match self.name.strip_prefix("PNI:") {
            Some(rest) => (0x01u8, rest),
            None => (0x00u8, self.name.as_str()),
        };
        let mut out = [0u8; 17];
        out[0] = kind;
        let (_, dst) = out.split_at_mut(1);
        parse_uuid(uuid, dst)?;
        Some(out)
    }
}

/// Parses the canonical 8-4-4-4-12 hex form (either case) into 16 bytes.
pub(crate) fn parse_uuid(s: &str, out: &mut [u8]) -> Option<()> {
    let b = s.as_bytes();
    if b.len() != 36 || out.len() != 16 {
        return None;
    }
    let mut nibbles = b.iter().enumerate().filter_map(|(i, c)| {
        if matches!(i, 8 | 13 | 18 | 23) {
            None
        } else {
            Some(*c)
        }
    });
    for (i, c) in b.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) && *c != b'-' {
            return None;
        }
    }
    for o in out.iter_mut() {
        let hi = hex_val(nibbles.next()?)?;
        let lo = hex_val(nibbles.next()?)?;
        *o = (hi << 4) | lo;
    }
    Some(())
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// `sender service id (17) ‖ sender device (1) ‖ recipient service id (17) ‖
/// recipient device (1)`, or `None` when either address is not a service id.
pub(crate) fn encode_addresses(
    sender: &ProtocolAddress,
    recipient: &ProtocolAddress,
) -> Option<[u8; ADDRESSES_LEN]> {
    let s = sender.service_id_fixed_width()?;
    let r = recipient.service_id_fixed_width()?;
    let sd = u8::try_from(sender.device_id).ok()?;
    let rd = u8::try_from(recipient.device_id).ok()?;
    let mut out = [0u8; ADDRESSES_LEN];
    for (d, v) in out.iter_mut().zip(
        s.iter()
            .chain([sd].iter())
            .chain(r.iter())
            .chain([rd].iter()),
    ) {
        *d = *v;
    }
    Some(out)
}

impl fmt::Debug for ProtocolAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProtocolAddress({}.{})", self.name, self.device_id)
    }
}

impl fmt::Display for ProtocolAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.name, self.device_id)
    }
}

#[cfg(test)]
mod tests;
