//! A SQLite VFS that wraps the platform's and fails the k-th write, truncate or sync
//! (counted across every file: database and WAL) with an I/O error: fault injection
//! where SQLite meets the disk.
//!
//! The only unsafe code of the crate's tests: a C VFS table and file methods that
//! forward to the real VFS.
#![allow(unsafe_code, dead_code)]

use std::ffi::{CString, c_char, c_int, c_void};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use rusqlite::ffi;

/// The VFS name to open a database through.
pub const NAME: &str = "missive-faulty";

static ARMED: AtomicBool = AtomicBool::new(false);
static COUNT: AtomicU64 = AtomicU64::new(0);
static FAIL_AT: AtomicU64 = AtomicU64::new(0);
static FAILED: AtomicBool = AtomicBool::new(false);
static LOCK: Mutex<()> = Mutex::new(());

struct Base(*mut ffi::sqlite3_vfs);
// SAFETY: the base VFS is a static table owned by SQLite, only read.
unsafe impl Send for Base {}
unsafe impl Sync for Base {}
static BASE: OnceLock<Base> = OnceLock::new();

/// Our file: SQLite's header (the methods pointer), the real file right after it.
#[repr(C)]
struct ShimFile {
    base: ffi::sqlite3_file,
}

fn real(f: *mut ffi::sqlite3_file) -> *mut ffi::sqlite3_file {
    // SAFETY: every file SQLite hands us was allocated with szOsFile bytes, ours first.
    unsafe { (f as *mut u8).add(std::mem::size_of::<ShimFile>()) as *mut ffi::sqlite3_file }
}

fn methods(f: *mut ffi::sqlite3_file) -> &'static ffi::sqlite3_io_methods {
    // SAFETY: an opened real file has a methods table that outlives it.
    unsafe { &*(*real(f)).pMethods }
}

/// Counts one write-like call; true when it is the one to fail.
fn fails_now() -> bool {
    if !ARMED.load(Ordering::SeqCst) {
        return false;
    }
    let n = COUNT.fetch_add(1, Ordering::SeqCst) + 1;
    if n == FAIL_AT.load(Ordering::SeqCst) {
        FAILED.store(true, Ordering::SeqCst);
        true
    } else {
        false
    }
}

unsafe extern "C" fn x_close(f: *mut ffi::sqlite3_file) -> c_int {
    unsafe { (methods(f).xClose.unwrap())(real(f)) }
}
unsafe extern "C" fn x_read(f: *mut ffi::sqlite3_file, b: *mut c_void, n: c_int, o: i64) -> c_int {
    unsafe { (methods(f).xRead.unwrap())(real(f), b, n, o) }
}
unsafe extern "C" fn x_write(
    f: *mut ffi::sqlite3_file,
    b: *const c_void,
    n: c_int,
    o: i64,
) -> c_int {
    if fails_now() {
        return ffi::SQLITE_IOERR_WRITE;
    }
    unsafe { (methods(f).xWrite.unwrap())(real(f), b, n, o) }
}
unsafe extern "C" fn x_truncate(f: *mut ffi::sqlite3_file, size: i64) -> c_int {
    if fails_now() {
        return ffi::SQLITE_IOERR_TRUNCATE;
    }
    unsafe { (methods(f).xTruncate.unwrap())(real(f), size) }
}
unsafe extern "C" fn x_sync(f: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    if fails_now() {
        return ffi::SQLITE_IOERR_FSYNC;
    }
    unsafe { (methods(f).xSync.unwrap())(real(f), flags) }
}
unsafe extern "C" fn x_file_size(f: *mut ffi::sqlite3_file, s: *mut i64) -> c_int {
    unsafe { (methods(f).xFileSize.unwrap())(real(f), s) }
}
unsafe extern "C" fn x_lock(f: *mut ffi::sqlite3_file, l: c_int) -> c_int {
    unsafe { (methods(f).xLock.unwrap())(real(f), l) }
}
unsafe extern "C" fn x_unlock(f: *mut ffi::sqlite3_file, l: c_int) -> c_int {
    unsafe { (methods(f).xUnlock.unwrap())(real(f), l) }
}
unsafe extern "C" fn x_check_reserved_lock(f: *mut ffi::sqlite3_file, r: *mut c_int) -> c_int {
    unsafe { (methods(f).xCheckReservedLock.unwrap())(real(f), r) }
}
unsafe extern "C" fn x_file_control(f: *mut ffi::sqlite3_file, op: c_int, a: *mut c_void) -> c_int {
    unsafe { (methods(f).xFileControl.unwrap())(real(f), op, a) }
}
unsafe extern "C" fn x_sector_size(f: *mut ffi::sqlite3_file) -> c_int {
    unsafe { (methods(f).xSectorSize.unwrap())(real(f)) }
}
unsafe extern "C" fn x_device_characteristics(f: *mut ffi::sqlite3_file) -> c_int {
    unsafe { (methods(f).xDeviceCharacteristics.unwrap())(real(f)) }
}
unsafe extern "C" fn x_shm_map(
    f: *mut ffi::sqlite3_file,
    pg: c_int,
    sz: c_int,
    ext: c_int,
    pp: *mut *mut c_void,
) -> c_int {
    unsafe { (methods(f).xShmMap.unwrap())(real(f), pg, sz, ext, pp) }
}
unsafe extern "C" fn x_shm_lock(f: *mut ffi::sqlite3_file, o: c_int, n: c_int, fl: c_int) -> c_int {
    unsafe { (methods(f).xShmLock.unwrap())(real(f), o, n, fl) }
}
unsafe extern "C" fn x_shm_barrier(f: *mut ffi::sqlite3_file) {
    unsafe { (methods(f).xShmBarrier.unwrap())(real(f)) }
}
unsafe extern "C" fn x_shm_unmap(f: *mut ffi::sqlite3_file, d: c_int) -> c_int {
    unsafe { (methods(f).xShmUnmap.unwrap())(real(f), d) }
}
unsafe extern "C" fn x_fetch(
    f: *mut ffi::sqlite3_file,
    o: i64,
    n: c_int,
    pp: *mut *mut c_void,
) -> c_int {
    unsafe { (methods(f).xFetch.unwrap())(real(f), o, n, pp) }
}
unsafe extern "C" fn x_unfetch(f: *mut ffi::sqlite3_file, o: i64, p: *mut c_void) -> c_int {
    unsafe { (methods(f).xUnfetch.unwrap())(real(f), o, p) }
}

static IO: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(x_close),
    xRead: Some(x_read),
    xWrite: Some(x_write),
    xTruncate: Some(x_truncate),
    xSync: Some(x_sync),
    xFileSize: Some(x_file_size),
    xLock: Some(x_lock),
    xUnlock: Some(x_unlock),
    xCheckReservedLock: Some(x_check_reserved_lock),
    xFileControl: Some(x_file_control),
    xSectorSize: Some(x_sector_size),
    xDeviceCharacteristics: Some(x_device_characteristics),
    xShmMap: Some(x_shm_map),
    xShmLock: Some(x_shm_lock),
    xShmBarrier: Some(x_shm_barrier),
    xShmUnmap: Some(x_shm_unmap),
    xFetch: Some(x_fetch),
    xUnfetch: Some(x_unfetch),
};

unsafe extern "C" fn x_open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    f: *mut ffi::sqlite3_file,
    flags: c_int,
    out: *mut c_int,
) -> c_int {
    let base = BASE.get().unwrap().0;
    unsafe {
        (*f).pMethods = ptr::null();
        let rc = ((*base).xOpen.unwrap())(base, name, real(f), flags, out);
        if rc == ffi::SQLITE_OK && !(*real(f)).pMethods.is_null() {
            (*f).pMethods = &IO;
        }
        rc
    }
}

/// Registers the VFS (once) and returns a guard: one fault test at a time.
pub fn install() -> MutexGuard<'static, ()> {
    let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    BASE.get_or_init(|| unsafe {
        ffi::sqlite3_initialize();
        let base = ffi::sqlite3_vfs_find(ptr::null());
        assert!(!base.is_null());
        let mut vfs: ffi::sqlite3_vfs = ptr::read(base);
        vfs.szOsFile = (*base).szOsFile + std::mem::size_of::<ShimFile>() as c_int;
        vfs.zName = CString::new(NAME).unwrap().into_raw() as *const c_char;
        vfs.pNext = ptr::null_mut();
        vfs.xOpen = Some(x_open);
        let vfs = Box::leak(Box::new(vfs));
        assert_eq!(ffi::sqlite3_vfs_register(vfs, 0), ffi::SQLITE_OK);
        Base(base)
    });
    disarm();
    guard
}

/// Counts write-like calls from now on; the `k`-th fails (`k = 0`: none fails).
pub fn arm(k: u64) {
    COUNT.store(0, Ordering::SeqCst);
    FAIL_AT.store(k, Ordering::SeqCst);
    FAILED.store(false, Ordering::SeqCst);
    ARMED.store(true, Ordering::SeqCst);
}

/// Stops counting; returns (calls counted, whether the fault fired).
pub fn disarm() -> (u64, bool) {
    ARMED.store(false, Ordering::SeqCst);
    (COUNT.load(Ordering::SeqCst), FAILED.load(Ordering::SeqCst))
}
