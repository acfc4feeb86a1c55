//! Finding `node` and installing the pinned peers (`npm ci`) once, safely under
//! parallel test processes.
//!
//! nextest runs every test in its own process, so several may find `node_modules`
//! missing at the same moment. All of them take an exclusive advisory lock on one file
//! (`File::lock`, released by the kernel even if the holder dies), and only then check
//! and, if needed, install. Within one process the result is computed once.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::HarnessError;

/// The packages `package-lock.json` pins, as (directory under node_modules, version).
const PINNED: [(&str, &str); 2] = [
    ("@signalapp/libsignal-client", "0.103.0"),
    ("libsignal", "6.0.0"),
];

/// Written into `node_modules` after a successful `npm ci`: the hash of the
/// `package-lock.json` it installed. A mismatch (edited lock, interrupted install)
/// means install again.
const MARKER: &str = ".missive-installed";

/// The `interop/` directory (holds `package.json` and `driver/`).
pub(crate) fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Checks for `node` and installs the peers if needed. Runs once per process.
pub(crate) fn ensure_ready() -> Result<(), HarnessError> {
    static READY: OnceLock<Result<(), HarnessError>> = OnceLock::new();
    READY.get_or_init(prepare).clone()
}

fn prepare() -> Result<(), HarnessError> {
    check_node()?;
    let dir = interop_dir();
    let lock_path = std::env::temp_dir().join(format!(
        "missive-interop-{:016x}.lock",
        fnv1a(dir.to_string_lossy().as_bytes())
    ));
    let lock = File::create(&lock_path).map_err(|e| {
        HarnessError::Install(format!(
            "cannot create lock file {}: {e}",
            lock_path.display()
        ))
    })?;
    lock.lock()
        .map_err(|e| HarnessError::Install(format!("cannot lock {}: {e}", lock_path.display())))?;
    let result = if installed(&dir)? {
        Ok(())
    } else {
        npm_ci(&dir)
    };
    drop(lock); // releases the lock
    result
}

fn check_node() -> Result<(), HarnessError> {
    let out = Command::new("node")
        .arg("--version")
        .output()
        .map_err(|e| {
            HarnessError::NodeMissing(format!(
                "cannot run `node` ({e}). The interop tests drive the real Signal peers, which \
             run on Node.js (version 20 or later): install it (e.g. `apt-get install nodejs npm`) \
             and make sure `node` and `npm` are on PATH"
            ))
        })?;
    if !out.status.success() {
        return Err(HarnessError::NodeMissing(format!(
            "`node --version` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

fn installed(dir: &Path) -> Result<bool, HarnessError> {
    let lock = std::fs::read(dir.join("package-lock.json")).map_err(|e| {
        HarnessError::Install(format!("cannot read interop/package-lock.json: {e}"))
    })?;
    let modules = dir.join("node_modules");
    let marker_ok = std::fs::read_to_string(modules.join(MARKER))
        .is_ok_and(|m| m.trim() == format!("{:016x}", fnv1a(&lock)));
    Ok(marker_ok
        && PINNED
            .iter()
            .all(|(pkg, version)| package_version(&modules.join(pkg)).as_deref() == Some(*version)))
}

/// The `"version"` of a package's `package.json`, if it is there and readable.
fn package_version(pkg_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(pkg_dir.join("package.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(v.get("version")?.as_str()?.to_owned())
}

fn npm_ci(dir: &Path) -> Result<(), HarnessError> {
    // Straight to the process's stderr so the note shows even when the test harness
    // captures output.
    let _ = writeln!(
        std::io::stderr(),
        "missive-interop: the pinned Signal peers are not installed; running `npm ci` in {}",
        dir.display()
    );
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .output()
        .map_err(|e| {
            HarnessError::Install(format!(
                "cannot run `npm` ({e}); it comes with Node.js (e.g. `apt-get install npm`)"
            ))
        })?;
    if !out.status.success() {
        return Err(HarnessError::Install(format!(
            "`npm ci` in {} failed ({}):\n{}\n{}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let lock = std::fs::read(dir.join("package-lock.json")).map_err(|e| {
        HarnessError::Install(format!("cannot read interop/package-lock.json: {e}"))
    })?;
    std::fs::write(
        dir.join("node_modules").join(MARKER),
        format!("{:016x}\n", fnv1a(&lock)),
    )
    .map_err(|e| HarnessError::Install(format!("cannot write the install marker: {e}")))?;
    if !installed(dir)? {
        return Err(HarnessError::Install(
            "`npm ci` succeeded but the pinned packages are still missing".into(),
        ));
    }
    let _ = writeln!(std::io::stderr(), "missive-interop: `npm ci` done");
    Ok(())
}

/// FNV-1a 64: enough to notice that a file changed; not a security measure.
fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
