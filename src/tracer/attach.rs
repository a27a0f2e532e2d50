//! Attaching the programs at a binary's sites. One uprobe.multi link per
//! binary holds every entry and RET (the attach cookie is the function id,
//! with GOZT_COOKIE_RET at RETs); the kernel registers and unregisters its
//! offsets in the order given, and every RET comes before every entry, so a
//! call whose entry is seen always has its RETs in place.

use std::path::PathBuf;

use libbpf_rs::{Link, UprobeMultiOpts};

use super::consts::GOZT_COOKIE_RET;
use super::TraceError;

/// Where to attach in one binary, for one process or all (`pid` None): file
/// offsets of entries and RETs, each with its function id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BinarySites {
    pub binary: PathBuf,
    pub pid: Option<i32>,
    pub entries: Vec<(u64, u32)>,
    pub rets: Vec<(u64, u32)>,
}

impl BinarySites {
    /// Offsets and cookies in attach order: RETs, then entries.
    pub fn offsets_and_cookies(&self) -> (Vec<usize>, Vec<u64>) {
        self.rets
            .iter()
            .map(|&(off, id)| (off as usize, u64::from(id) | GOZT_COOKIE_RET))
            .chain(
                self.entries
                    .iter()
                    .map(|&(off, id)| (off as usize, u64::from(id))),
            )
            .unzip()
    }
}

/// Attaches `prog` at every site of `sites`; the links detach when dropped.
pub fn attach(
    prog: &libbpf_rs::ProgramMut<'_>,
    sites: &[BinarySites],
) -> Result<Vec<Link>, TraceError> {
    let mut links = Vec::new();
    for b in sites.iter().filter(|b| !b.entries.is_empty()) {
        let (offsets, cookies) = b.offsets_and_cookies();
        let opts = UprobeMultiOpts {
            offsets,
            cookies,
            ..Default::default()
        };
        let link = prog
            .attach_uprobe_multi_with_opts(b.pid.unwrap_or(-1), &b.binary, "", opts)
            .map_err(|e| TraceError::Attach {
                path: b.binary.display().to_string(),
                reason: e.to_string(),
            })?;
        links.push(link);
    }
    Ok(links)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rets_come_before_entries() {
        let b = BinarySites {
            binary: "/x".into(),
            pid: None,
            entries: vec![(0x100, 0), (0x200, 1)],
            rets: vec![(0x150, 0), (0x250, 1), (0x260, 1)],
        };
        let (offsets, cookies) = b.offsets_and_cookies();
        assert_eq!(offsets, vec![0x150, 0x250, 0x260, 0x100, 0x200]);
        assert_eq!(
            cookies,
            vec![
                GOZT_COOKIE_RET,
                GOZT_COOKIE_RET | 1,
                GOZT_COOKIE_RET | 1,
                0,
                1
            ]
        );
    }
}
