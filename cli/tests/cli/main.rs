//! Robustness tests of the `archc` binary: hostile inputs must give exit code 1 and a
//! coded diagnostic (`A0003`) on stderr, never a panic; usage and IO errors exit 2;
//! every bundled model checks clean; `fmt` and `--format json` behave.
//!
//! Inputs are written to a fresh directory under `std::env::temp_dir()` per test.
//! Each run of the binary has a time limit, so a hang fails the test instead of
//! stalling the suite.

mod common;
mod happy;
mod hostile;
mod usage;
