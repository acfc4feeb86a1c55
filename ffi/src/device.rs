//! The device: who we are (identity, registration id, address) and how we behave
//! (archive size, legacy peers, identity changes, error detail).
//!
//! Thread safety (this family): the setters need exclusive access and must not run while
//! an operation uses the device; once configured, the device is only read, and any
//! number of threads may run operations with it at once.

use missive::{Config, IdentityKeyPair, ProtocolAddress};

use crate::boundary::{
    MissiveAddress, exclusive, give, guard, guard_void, out_handle, reference, take_and_free,
};
use crate::keys::MissiveIdentityKeyPair;
use crate::status::MissiveStatus::{self, *};

/// Receive from a changed identity, report it as replaced, and save the new one (what
/// Signal's apps do: the app tells the user the safety number changed). The default.
pub const MISSIVE_RECEIVE_ACCEPT_CHANGES: u32 = 0;
/// Refuse a changed identity (`MISSIVE_ERROR_UNTRUSTED_IDENTITY`) until the app stores
/// the new one itself, after the user approved it.
pub const MISSIVE_RECEIVE_REQUIRE_APPROVAL: u32 = 1;

/// One device: our identity key pair, registration id and address, and the
/// configuration of every operation. Holds a copy of the identity (wiped when freed).
///
/// Thread safety: the `missive_device_set_*` functions need exclusive access (no other
/// call may use the device meanwhile); operations only read the device, so any number of
/// threads may run operations with one device at once. Its `_free` must not run while
/// another call uses it.
pub struct MissiveDevice {
    pub(crate) address: ProtocolAddress,
    pub(crate) identity: IdentityKeyPair,
    pub(crate) registration_id: u32,
    pub(crate) config: Config,
    pub(crate) require_approval: bool,
    pub(crate) detailed_errors: bool,
}

/// Makes a device for our `identity` (copied), `registration_id` and `address` (copied)
/// into `*out`, with the defaults: 40 archived sessions, v3 prekey messages refused,
/// `MISSIVE_RECEIVE_ACCEPT_CHANGES`, decryption errors collapsed.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_device_new(
    identity: *const MissiveIdentityKeyPair,
    registration_id: u32,
    address: *const MissiveAddress,
    out: *mut *mut MissiveDevice,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { out_handle(out) }?;
        // SAFETY: the caller's contract.
        let identity = unsafe { reference(identity) }?.inner.clone();
        // SAFETY: the caller's contract.
        let address = unsafe { crate::boundary::address(address) }?;
        give(
            out,
            MissiveDevice {
                address,
                identity,
                registration_id,
                config: Config::default(),
                require_approval: false,
                detailed_errors: false,
            },
        );
        Ok(())
    })
}

/// Sets how many archived sessions a session record keeps per peer (default 40; at most
/// 1,000, larger values are capped).
///
/// # Safety
/// Pointers as documented in the header's conventions; exclusive access to `device`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_device_set_max_archived_sessions(
    device: *mut MissiveDevice,
    max_archived_sessions: usize,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let d = unsafe { exclusive(device) }?;
        d.config = d
            .config
            .clone()
            .max_archived_sessions(max_archived_sessions);
        Ok(())
    })
}

/// Sets whether v3 (X3DH) prekey messages from legacy peers are accepted (default:
/// refused, as libsignal-client). Sessions with legacy peers are started with
/// `missive_session_process_legacy_bundle` either way.
///
/// # Safety
/// Pointers as documented in the header's conventions; exclusive access to `device`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_device_set_accept_legacy_x3dh(
    device: *mut MissiveDevice,
    accept: bool,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let d = unsafe { exclusive(device) }?;
        d.config = d.config.clone().accept_legacy_x3dh(accept);
        Ok(())
    })
}

/// Sets the policy for receiving from an identity other than the stored one:
/// `MISSIVE_RECEIVE_ACCEPT_CHANGES` (default) or `MISSIVE_RECEIVE_REQUIRE_APPROVAL`.
/// Sending to a changed identity is always refused until the app stores it.
///
/// # Safety
/// Pointers as documented in the header's conventions; exclusive access to `device`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_device_set_receive_policy(
    device: *mut MissiveDevice,
    policy: u32,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let d = unsafe { exclusive(device) }?;
        d.require_approval = match policy {
            MISSIVE_RECEIVE_ACCEPT_CHANGES => false,
            MISSIVE_RECEIVE_REQUIRE_APPROVAL => true,
            _ => return Err(MISSIVE_ERROR_INVALID_ARGUMENT),
        };
        Ok(())
    })
}

/// Sets whether decryption functions report the precise reason of a failure instead of
/// `MISSIVE_ERROR_DECRYPTION_FAILED` (default: collapsed; see `MissiveStatus`).
///
/// # Safety
/// Pointers as documented in the header's conventions; exclusive access to `device`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_device_set_detailed_errors(
    device: *mut MissiveDevice,
    detailed: bool,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let d = unsafe { exclusive(device) }?;
        d.detailed_errors = detailed;
        Ok(())
    })
}

/// Wipes and frees the device and sets `*device` to NULL (no-op for NULL).
///
/// # Safety
/// `*device` must be NULL or a handle from this library not freed since, with no
/// operation using it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_device_free(device: *mut *mut MissiveDevice) {
    guard_void(|| {
        // SAFETY: the caller's contract.
        unsafe { take_and_free(device) }
    })
}
