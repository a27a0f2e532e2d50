//! `runtime.g` offsets by Go version, for stripped binaries (no DWARF).
//!
//! The values were read from the DWARF of binaries built with each toolchain
//! of the test matrix; the test suite checks this table against DWARF for
//! every toolchain it builds. `g.stack` is the first field of `g` in every
//! version, so `stack.hi` is at 8; `g.sched` follows stackguard0,
//! stackguard1, _panic, _defer and m, so `sched.pc` is at 64.

use super::buildinfo::major_minor;
use super::dwarf::GOffsets;

/// `(first minor version, goid offset)`, ascending; a row holds until the next.
const GOID_BY_MINOR: &[(u32, u64)] = &[
    (17, 152),
    // Go 1.23 added g.syscallbp before goid.
    (23, 160),
    // Go 1.25 dropped gobuf.ret, moving goid back.
    (25, 152),
];

/// The newest minor version whose layout was checked; newer ones reuse it.
pub const NEWEST_CHECKED_MINOR: u32 = 27;

/// Offsets for `version` (`go1.21.13`), if it is a Go 1.x at or after 1.17.
pub fn g_offsets_for(version: &str) -> Option<GOffsets> {
    let (major, minor) = major_minor(version)?;
    if major != 1 || minor < GOID_BY_MINOR[0].0 {
        return None;
    }
    let goid = GOID_BY_MINOR
        .iter()
        .rev()
        .find(|(from, _)| minor >= *from)
        .map(|&(_, off)| off)?;
    Some(GOffsets {
        goid,
        stack_hi: Some(8),
        sched_pc: Some(64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_rows() {
        let goid = |v| g_offsets_for(v).map(|g| g.goid);
        assert_eq!(goid("go1.17.13"), Some(152));
        assert_eq!(goid("go1.22.1"), Some(152));
        assert_eq!(goid("go1.23.9"), Some(160));
        assert_eq!(goid("go1.24.0"), Some(160));
        assert_eq!(goid("go1.25.5"), Some(152));
        assert_eq!(goid("go1.16.15"), None);
        assert_eq!(goid("devel"), None);
    }
}
