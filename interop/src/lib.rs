//! Harness that drives the real peers (out of process) against missive.
