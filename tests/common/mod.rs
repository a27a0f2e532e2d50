//! Shared helpers for the integration tests: the Go test-program matrix.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The directory of built test programs: `$GOZT_TESTBINS`, or what
/// `scripts/build-testdata.sh` builds (cached by content hash).
pub fn testbins() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os("GOZT_TESTBINS") {
            return PathBuf::from(dir);
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build-testdata.sh");
        let out = Command::new("bash")
            .arg(&script)
            .output()
            .expect("run scripts/build-testdata.sh");
        assert!(
            out.status.success(),
            "scripts/build-testdata.sh failed (run scripts/toolchains.sh first):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        PathBuf::from(stdout.lines().last().expect("script prints the directory"))
    })
}

/// Every toolchain directory (`go1.19.8`, ...), sorted.
pub fn toolchains() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(testbins())
        .expect("read the testbins directory")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 6,
        "expected six toolchains in {}",
        testbins().display()
    );
    dirs
}

/// Runs the gozt binary with `args`; returns (exit code, stdout, stderr).
pub fn gozt(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gozt"))
        .args(args)
        .output()
        .expect("run gozt");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
