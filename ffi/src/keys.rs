//! Keys: our identity, one-time prekeys, signed prekeys and Kyber prekeys; generation,
//! (de)serialization and the public parts a bundle publishes.
//!
//! Thread safety (this family): the handles are immutable once made; any number of
//! threads may read one at once. `_free` needs exclusive access.

use missive::crypto::KemKeyType;
use missive::{
    IdentityKeyPair, KyberPreKeyId, KyberPreKeyLifetime, KyberPreKeyRecord, PreKeyId, PreKeyRecord,
    SignedPreKeyId, SignedPreKeyRecord,
};

use crate::boundary::{
    bytes, give, guard, out_bytes, out_handle, out_value, reference, take_and_free,
};
use crate::buffer::{MissiveBuffer, out_buffer};
use crate::rng::{MissiveRng, with_rng};
use crate::status::MissiveStatus;
use crate::{MISSIVE_PUBLIC_KEY_LEN, MISSIVE_SIGNATURE_LEN};

/// Our identity key pair (the private key inside). Wiped when freed.
///
/// Thread safety: immutable once made; any number of threads may use it at once.
/// Its `_free` must not run while another call uses it.
pub struct MissiveIdentityKeyPair {
    pub(crate) inner: IdentityKeyPair,
}

/// A one-time EC prekey with its private key. Wiped when freed.
///
/// Thread safety: immutable once made; any number of threads may use it at once.
/// Its `_free` must not run while another call uses it.
pub struct MissivePreKeyRecord {
    pub(crate) inner: PreKeyRecord,
}

/// A signed EC prekey with its private key and signature. Wiped when freed.
///
/// Thread safety: immutable once made; any number of threads may use it at once.
/// Its `_free` must not run while another call uses it.
pub struct MissiveSignedPreKeyRecord {
    pub(crate) inner: SignedPreKeyRecord,
}

/// A Kyber1024 prekey with its secret key and signature, one-time or last-resort. Wiped
/// when freed.
///
/// Thread safety: immutable once made; any number of threads may use it at once.
/// Its `_free` must not run while another call uses it.
pub struct MissiveKyberPreKeyRecord {
    pub(crate) inner: KyberPreKeyRecord,
}

// ---- identity ---------------------------------------------------------------------

/// Generates a new identity key pair into `*out` (freed by
/// `missive_identity_key_pair_free`). `rng`: NULL for the OS generator.
///
/// # Safety
/// Pointers as documented in the header's conventions: NULL where allowed, otherwise
/// valid for the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_identity_key_pair_generate(
    rng: *const MissiveRng,
    out: *mut *mut MissiveIdentityKeyPair,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for `out` and `rng`.
        let out = unsafe { out_handle(out) }?;
        // SAFETY: as above.
        let inner = unsafe { with_rng(rng, |r| IdentityKeyPair::generate(r)) }?;
        give(out, MissiveIdentityKeyPair { inner });
        Ok(())
    })
}

/// Serializes the key pair (private key included: keep it encrypted at rest) into a new
/// buffer `*out` (library-owned: `missive_buffer_free`).
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_identity_key_pair_serialize(
    key_pair: *const MissiveIdentityKeyPair,
    out: *mut MissiveBuffer,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { out_buffer(out) }?;
        // SAFETY: the caller's contract.
        let kp = unsafe { reference(key_pair) }?;
        *out = MissiveBuffer::copy_of(&kp.inner.serialize());
        Ok(())
    })
}

/// Parses a serialized key pair (`data`, `len`: borrowed for the call) into `*out`.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_identity_key_pair_deserialize(
    data: *const u8,
    len: usize,
    out: *mut *mut MissiveIdentityKeyPair,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { out_handle(out) }?;
        // SAFETY: the caller's contract.
        let inner = IdentityKeyPair::deserialize(unsafe { bytes(data, len) }?)?;
        give(out, MissiveIdentityKeyPair { inner });
        Ok(())
    })
}

/// Writes the public identity key (`MISSIVE_PUBLIC_KEY_LEN` bytes) to `out`, which holds
/// `out_len` bytes (at least `MISSIVE_PUBLIC_KEY_LEN`).
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_identity_key_pair_public_key(
    key_pair: *const MissiveIdentityKeyPair,
    out: *mut u8,
    out_len: usize,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let kp = unsafe { reference(key_pair) }?;
        // SAFETY: the caller's contract.
        let dst = unsafe { out_bytes(out, out_len, MISSIVE_PUBLIC_KEY_LEN) }?;
        dst.copy_from_slice(&kp.inner.identity_key().serialize());
        Ok(())
    })
}

/// Wipes and frees a key pair and sets `*key_pair` to NULL. NULL and `*key_pair == NULL`
/// are no-ops.
///
/// # Safety
/// `*key_pair` must be NULL or a handle from this library not freed since.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_identity_key_pair_free(
    key_pair: *mut *mut MissiveIdentityKeyPair,
) {
    crate::boundary::guard_void(|| {
        // SAFETY: the caller's contract.
        unsafe { take_and_free(key_pair) }
    })
}

// ---- one-time prekeys -------------------------------------------------------------------

/// Generates a one-time EC prekey with id `id` into `*out`. `rng`: NULL for the OS
/// generator.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_pre_key_record_generate(
    rng: *const MissiveRng,
    id: u32,
    out: *mut *mut MissivePreKeyRecord,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { out_handle(out) }?;
        // SAFETY: the caller's contract.
        let inner = unsafe { with_rng(rng, |r| PreKeyRecord::generate(PreKeyId(id), r)) }?;
        give(out, MissivePreKeyRecord { inner });
        Ok(())
    })
}

/// Serializes the record (private key included) into `*out` (library-owned).
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_pre_key_record_serialize(
    record: *const MissivePreKeyRecord,
    out: *mut MissiveBuffer,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { out_buffer(out) }?;
        // SAFETY: the caller's contract.
        let r = unsafe { reference(record) }?;
        *out = MissiveBuffer::copy_of(&r.inner.serialize());
        Ok(())
    })
}

/// Parses a serialized one-time prekey record into `*out`.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_pre_key_record_deserialize(
    data: *const u8,
    len: usize,
    out: *mut *mut MissivePreKeyRecord,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { out_handle(out) }?;
        // SAFETY: the caller's contract.
        let inner = PreKeyRecord::deserialize(unsafe { bytes(data, len) }?)?;
        give(out, MissivePreKeyRecord { inner });
        Ok(())
    })
}

/// Writes the record's id to `*out`.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_pre_key_record_id(
    record: *const MissivePreKeyRecord,
    out: *mut u32,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { out_value(out) }?;
        // SAFETY: the caller's contract.
        *out = unsafe { reference(record) }?.inner.id().0;
        Ok(())
    })
}

/// Writes the public key (`MISSIVE_PUBLIC_KEY_LEN` bytes) to `out` (`out_len` bytes).
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_pre_key_record_public_key(
    record: *const MissivePreKeyRecord,
    out: *mut u8,
    out_len: usize,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let r = unsafe { reference(record) }?;
        // SAFETY: the caller's contract.
        let dst = unsafe { out_bytes(out, out_len, MISSIVE_PUBLIC_KEY_LEN) }?;
        dst.copy_from_slice(&r.inner.public_key().serialize());
        Ok(())
    })
}

/// Wipes and frees the record and sets `*record` to NULL (no-op for NULL).
///
/// # Safety
/// `*record` must be NULL or a handle from this library not freed since.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_pre_key_record_free(record: *mut *mut MissivePreKeyRecord) {
    crate::boundary::guard_void(|| {
        // SAFETY: the caller's contract.
        unsafe { take_and_free(record) }
    })
}

// ---- signed prekeys ---------------------------------------------------------------------

/// Generates a signed EC prekey with id `id`, signed by `identity`, stamped
/// `timestamp_ms` (milliseconds since the Unix epoch, from the caller's clock), into
/// `*out`. `rng`: NULL for the OS generator.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_signed_pre_key_record_generate(
    rng: *const MissiveRng,
    identity: *const MissiveIdentityKeyPair,
    id: u32,
    timestamp_ms: u64,
    out: *mut *mut MissiveSignedPreKeyRecord,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { out_handle(out) }?;
        // SAFETY: the caller's contract.
        let identity = &unsafe { reference(identity) }?.inner;
        // SAFETY: the caller's contract.
        let inner = unsafe {
            with_rng(rng, |r| {
                SignedPreKeyRecord::generate(SignedPreKeyId(id), timestamp_ms, identity, r)
            })
        }?;
        give(out, MissiveSignedPreKeyRecord { inner });
        Ok(())
    })
}

/// Serializes the record (private key included) into `*out` (library-owned).
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_signed_pre_key_record_serialize(
    record: *const MissiveSignedPreKeyRecord,
    out: *mut MissiveBuffer,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { out_buffer(out) }?;
        // SAFETY: the caller's contract.
        let r = unsafe { reference(record) }?;
        *out = MissiveBuffer::copy_of(&r.inner.serialize());
        Ok(())
    })
}

/// Parses a serialized signed prekey record into `*out`.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_signed_pre_key_record_deserialize(
    data: *const u8,
    len: usize,
    out: *mut *mut MissiveSignedPreKeyRecord,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { out_handle(out) }?;
        // SAFETY: the caller's contract.
        let inner = SignedPreKeyRecord::deserialize(unsafe { bytes(data, len) }?)?;
        give(out, MissiveSignedPreKeyRecord { inner });
        Ok(())
    })
}

/// Writes the record's id to `*out`.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_signed_pre_key_record_id(
    record: *const MissiveSignedPreKeyRecord,
    out: *mut u32,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { out_value(out) }?;
        // SAFETY: the caller's contract.
        *out = unsafe { reference(record) }?.inner.id().0;
        Ok(())
    })
}

/// Writes the record's timestamp (milliseconds) to `*out`.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_signed_pre_key_record_timestamp(
    record: *const MissiveSignedPreKeyRecord,
    out: *mut u64,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { out_value(out) }?;
        // SAFETY: the caller's contract.
        *out = unsafe { reference(record) }?.inner.timestamp();
        Ok(())
    })
}

/// Writes the public key (`MISSIVE_PUBLIC_KEY_LEN` bytes) to `out` (`out_len` bytes).
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_signed_pre_key_record_public_key(
    record: *const MissiveSignedPreKeyRecord,
    out: *mut u8,
    out_len: usize,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let r = unsafe { reference(record) }?;
        // SAFETY: the caller's contract.
        let dst = unsafe { out_bytes(out, out_len, MISSIVE_PUBLIC_KEY_LEN) }?;
        dst.copy_from_slice(&r.inner.public_key().serialize());
        Ok(())
    })
}

/// Writes the signature (`MISSIVE_SIGNATURE_LEN` bytes) to `out` (`out_len` bytes).
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_signed_pre_key_record_signature(
    record: *const MissiveSignedPreKeyRecord,
    out: *mut u8,
    out_len: usize,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let r = unsafe { reference(record) }?;
        // SAFETY: the caller's contract.
        let dst = unsafe { out_bytes(out, out_len, MISSIVE_SIGNATURE_LEN) }?;
        dst.copy_from_slice(r.inner.signature());
        Ok(())
    })
}

/// Wipes and frees the record and sets `*record` to NULL (no-op for NULL).
///
/// # Safety
/// `*record` must be NULL or a handle from this library not freed since.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_signed_pre_key_record_free(
    record: *mut *mut MissiveSignedPreKeyRecord,
) {
    crate::boundary::guard_void(|| {
        // SAFETY: the caller's contract.
        unsafe { take_and_free(record) }
    })
}

// ---- Kyber prekeys ----------------------------------------------------------------------

/// Generates a Kyber1024 prekey with id `id`, signed by `identity`, stamped
/// `timestamp_ms`, into `*out`: one-time (deleted after its first use) unless
/// `last_resort` (kept; each use remembered). `rng`: NULL for the OS generator.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_kyber_pre_key_record_generate(
    rng: *const MissiveRng,
    identity: *const MissiveIdentityKeyPair,
    id: u32,
    timestamp_ms: u64,
    last_resort: bool,
    out: *mut *mut MissiveKyberPreKeyRecord,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { out_handle(out) }?;
        // SAFETY: the caller's contract.
        let identity = &unsafe { reference(identity) }?.inner;
        let lifetime = if last_resort {
            KyberPreKeyLifetime::LastResort
        } else {
            KyberPreKeyLifetime::OneTime
        };
        // SAFETY: the caller's contract.
        let inner = unsafe {
            with_rng(rng, |r| {
                KyberPreKeyRecord::generate(
                    KemKeyType::Kyber1024,
                    KyberPreKeyId(id),
                    timestamp_ms,
                    lifetime,
                    identity,
                    r,
                )
            })
        }?;
        give(out, MissiveKyberPreKeyRecord { inner });
        Ok(())
    })
}

/// Serializes the record (secret key included) into `*out` (library-owned).
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_kyber_pre_key_record_serialize(
    record: *const MissiveKyberPreKeyRecord,
    out: *mut MissiveBuffer,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { out_buffer(out) }?;
        // SAFETY: the caller's contract.
        let r = unsafe { reference(record) }?;
        *out = MissiveBuffer::copy_of(&r.inner.serialize());
        Ok(())
    })
}

/// Parses a serialized Kyber prekey record into `*out`.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_kyber_pre_key_record_deserialize(
    data: *const u8,
    len: usize,
    out: *mut *mut MissiveKyberPreKeyRecord,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { out_handle(out) }?;
        // SAFETY: the caller's contract.
        let inner = KyberPreKeyRecord::deserialize(unsafe { bytes(data, len) }?)?;
        give(out, MissiveKyberPreKeyRecord { inner });
        Ok(())
    })
}

/// Writes the record's id to `*out`.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_kyber_pre_key_record_id(
    record: *const MissiveKyberPreKeyRecord,
    out: *mut u32,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { out_value(out) }?;
        // SAFETY: the caller's contract.
        *out = unsafe { reference(record) }?.inner.id().0;
        Ok(())
    })
}

/// Writes the record's timestamp (milliseconds) to `*out`.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_kyber_pre_key_record_timestamp(
    record: *const MissiveKyberPreKeyRecord,
    out: *mut u64,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { out_value(out) }?;
        // SAFETY: the caller's contract.
        *out = unsafe { reference(record) }?.inner.timestamp();
        Ok(())
    })
}

/// Writes whether the key is a last-resort key to `*out`.
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_kyber_pre_key_record_is_last_resort(
    record: *const MissiveKyberPreKeyRecord,
    out: *mut bool,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { out_value(out) }?;
        // SAFETY: the caller's contract.
        *out = unsafe { reference(record) }?.inner.is_last_resort();
        Ok(())
    })
}

/// Puts the serialized public key (`MISSIVE_KYBER_PUBLIC_KEY_LEN` bytes) in a new buffer
/// `*out` (library-owned).
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_kyber_pre_key_record_public_key(
    record: *const MissiveKyberPreKeyRecord,
    out: *mut MissiveBuffer,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { out_buffer(out) }?;
        // SAFETY: the caller's contract.
        let r = unsafe { reference(record) }?;
        *out = MissiveBuffer::copy_of(&r.inner.public_key().serialize());
        Ok(())
    })
}

/// Writes the signature (`MISSIVE_SIGNATURE_LEN` bytes) to `out` (`out_len` bytes).
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_kyber_pre_key_record_signature(
    record: *const MissiveKyberPreKeyRecord,
    out: *mut u8,
    out_len: usize,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let r = unsafe { reference(record) }?;
        // SAFETY: the caller's contract.
        let dst = unsafe { out_bytes(out, out_len, MISSIVE_SIGNATURE_LEN) }?;
        dst.copy_from_slice(r.inner.signature());
        Ok(())
    })
}

/// Wipes and frees the record and sets `*record` to NULL (no-op for NULL).
///
/// # Safety
/// `*record` must be NULL or a handle from this library not freed since.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_kyber_pre_key_record_free(
    record: *mut *mut MissiveKyberPreKeyRecord,
) {
    crate::boundary::guard_void(|| {
        // SAFETY: the caller's contract.
        unsafe { take_and_free(record) }
    })
}
