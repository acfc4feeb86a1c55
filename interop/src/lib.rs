//! Harness that drives the real Signal peers, out of process, for missive's tests.
//!
//! Two peers, both installed from npm at the versions `package-lock.json` pins and never
//! linked into missive (they are AGPL / GPL):
//! - [`PeerKind::Client`]: `@signalapp/libsignal-client` 0.103.0, the v4 peer
//!   (PQXDH, Double Ratchet with SPQR, sender keys), driven by `driver/client.js`;
//! - [`PeerKind::Legacy`]: `libsignal` 6.0.0 (libsignal-node), the v3 peer
//!   (X3DH, Double Ratchet), driven by `driver/legacy.js`.
//!
//! Each driver is a long-running `node` process speaking JSON lines; the full command
//! list is at the top of each driver file. [`Peer::call`] sends any command; the typed
//! methods wrap the common ones. A driver holds any number of named *parties*, each a
//! local user/device with its own in-memory stores.
//!
//! ```no_run
//! use missive_interop::{Peer, PeerKind};
//! let mut peer = Peer::spawn(PeerKind::Client)?;
//! peer.new_party("a", "alice", 1)?;
//! peer.new_party("b", "bob", 1)?;
//! let bundle = peer.make_bundle("b", true)?;
//! peer.process_bundle("a", "bob", 1, &bundle)?;
//! let msg = peer.encrypt("a", "bob", 1, b"hello")?;
//! assert_eq!(peer.decrypt("b", "alice", 1, &msg)?, b"hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod groups;
mod install;
mod peer;
mod types;

pub use peer::{Peer, PeerKind};
pub use types::{Bundle, CiphertextMessage, PartyKeys, SignalMessageInfo};

use std::fmt;

/// The harness could not start a peer.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum HarnessError {
    /// `node` is not installed or does not run.
    NodeMissing(String),
    /// Installing the pinned npm packages failed.
    Install(String),
    /// The driver process could not be started or did not answer its first request.
    Spawn(String),
}

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HarnessError::NodeMissing(m) => write!(f, "Node.js is missing: {m}"),
            HarnessError::Install(m) => write!(f, "installing the peers failed: {m}"),
            HarnessError::Spawn(m) => write!(f, "starting the peer driver failed: {m}"),
        }
    }
}

impl std::error::Error for HarnessError {}

/// A request to a running peer failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerError {
    /// The peer (or the driver, for a malformed request) refused the request.
    Rejected {
        /// `"<ErrorClass>: <message>"` as the peer reported it.
        error: String,
        /// The peer's error code, where it has one (libsignal-client's `ErrorCode` name).
        code: Option<String>,
        /// Lines the peer printed while serving the request.
        log: Vec<String>,
    },
    /// The driver process died, timed out or answered something unreadable.
    Driver(String),
}

impl PeerError {
    /// The peer's error text, or the driver failure description.
    pub fn message(&self) -> &str {
        match self {
            PeerError::Rejected { error, .. } => error,
            PeerError::Driver(m) => m,
        }
    }

    /// The peer's error code, if it was a rejection that carried one.
    pub fn code(&self) -> Option<&str> {
        match self {
            PeerError::Rejected { code, .. } => code.as_deref(),
            PeerError::Driver(_) => None,
        }
    }
}

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerError::Rejected { error, code, log } => {
                write!(f, "peer refused: {error}")?;
                if let Some(c) = code {
                    write!(f, " [{c}]")?;
                }
                for line in log {
                    write!(f, "\n  peer log: {line}")?;
                }
                Ok(())
            }
            PeerError::Driver(m) => write!(f, "peer driver failed: {m}"),
        }
    }
}

impl std::error::Error for PeerError {}
