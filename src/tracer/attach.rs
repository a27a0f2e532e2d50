//! Attaching the programs at a binary's sites, by the kernel's method: one
//! uprobe.multi link per binary holds every entry and RET (the kernel
//! registers and unregisters its offsets in the order given), or one classic
//! uprobe per site. Either way every RET comes before every entry, so a call
//! whose entry is seen always has its RETs in place. The cookie is the
//! function id, with GOZT_COOKIE_RET at RETs (GOZT_COOKIE_SINK at sinks);
//! without attach cookies the `sites` map gives it by (inode, file offset).

use std::path::PathBuf;

use libbpf_rs::{Link, UprobeMultiOpts};

use super::TraceError;
use crate::base::gozt_h::{GOZT_COOKIE_HEADER, GOZT_COOKIE_RET, GOZT_COOKIE_SINK};
use crate::base::pid::Pid;

/// Where to attach in one binary, for one process or all (`pid` None): file
/// offsets of entries and RETs, each with its function id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BinarySites {
    pub binary: PathBuf,
    pub pid: Option<Pid>,
    pub entries: Vec<(u64, u32)>,
    pub rets: Vec<(u64, u32)>,
    /// The session's index of the binary (processes running one file
    /// share it).
    pub binary_index: usize,
    /// The inodes its mappings may carry (kernels without attach cookies
    /// find a site by inode and offset): the file's, and an overlay's
    /// file's beneath it, as the session read them.
    pub inodes: Vec<u64>,
    /// Sink sites (gozt.h).
    pub sinks: Vec<SinkSite>,
}

/// A sink site: a call of a stream's io.Writer in compressor code, where
/// the stream's compressed output is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinkSite {
    pub offset: u64,
    /// A function of the binary, which lends the site its `runtime.g`
    /// offsets.
    pub func_id: u32,
    /// The write is a stream's header (gzip, zlib): its start was seen.
    pub header: bool,
}

impl SinkSite {
    /// The site's attach cookie.
    fn cookie(self) -> u64 {
        let header = if self.header { GOZT_COOKIE_HEADER } else { 0 };
        GOZT_COOKIE_SINK | header | u64::from(self.func_id)
    }
}

impl BinarySites {
    /// Offsets and cookies in attach order: RETs, sinks, then entries (a
    /// call whose entry is seen has its RETs and sinks in place).
    pub fn offsets_and_cookies(&self) -> (Vec<usize>, Vec<u64>) {
        self.rets
            .iter()
            .map(|&(off, id)| (off as usize, u64::from(id) | GOZT_COOKIE_RET))
            .chain(self.sinks.iter().map(|s| (s.offset as usize, s.cookie())))
            .chain(
                self.entries
                    .iter()
                    .map(|&(off, id)| (off as usize, u64::from(id))),
            )
            .unzip()
    }
}

fn attach_error(b: &BinarySites, e: libbpf_rs::Error) -> TraceError {
    TraceError::Attach {
        path: b.binary.display().to_string(),
        reason: e.to_string(),
    }
}

/// Attaches `prog` at every site of `sites`, one uprobe.multi link per
/// binary; the links detach when dropped.
pub fn attach_multi(
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
            .attach_uprobe_multi_with_opts(b.pid.map_or(-1, Pid::raw), &b.binary, "", opts)
            .map_err(|e| attach_error(b, e))?;
        links.push(link);
    }
    Ok(links)
}

/// Attaches `prog` at every site of `sites` as classic uprobes, one link per
/// site, with its cookie when `cookies`.
pub fn attach_classic(
    prog: &libbpf_rs::ProgramMut<'_>,
    sites: &[BinarySites],
    cookies: bool,
) -> Result<Vec<Link>, TraceError> {
    let mut links = Vec::new();
    for b in sites.iter().filter(|b| !b.entries.is_empty()) {
        let (offsets, site_cookies) = b.offsets_and_cookies();
        for (offset, cookie) in offsets.into_iter().zip(site_cookies) {
            let opts = libbpf_rs::UprobeOpts {
                cookie: if cookies { cookie } else { 0 },
                ..Default::default()
            };
            let link = prog
                .attach_uprobe_with_opts(b.pid.map_or(-1, Pid::raw), &b.binary, offset, opts)
                .map_err(|e| attach_error(b, e))?;
            links.push(link);
        }
    }
    Ok(links)
}

/// Detaches every link. A classic uprobe waits for the kernel's
/// synchronisation as it goes (about 100 ms here), so many are dropped from
/// threads at once and share it; one uprobe.multi link waits once.
pub fn detach(links: Vec<Link>) {
    const THREADS: usize = 128;
    if links.len() <= 1 {
        return;
    }
    let per = links.len().div_ceil(THREADS);
    let mut links = links;
    std::thread::scope(|s| {
        while !links.is_empty() {
            let chunk: Vec<Link> = links.drain(..per.min(links.len())).collect();
            s.spawn(move || drop(chunk));
        }
    });
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
            binary_index: 0,
            inodes: vec![],
            sinks: Vec::new(),
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

    #[test]
    fn sinks_come_between_rets_and_entries_with_their_cookies() {
        let b = BinarySites {
            entries: vec![(0x100, 3)],
            rets: vec![(0x150, 3)],
            sinks: vec![
                SinkSite {
                    offset: 0x180,
                    func_id: 3,
                    header: true,
                },
                SinkSite {
                    offset: 0x190,
                    func_id: 3,
                    header: false,
                },
            ],
            ..BinarySites::default()
        };
        let (offsets, cookies) = b.offsets_and_cookies();
        assert_eq!(offsets, vec![0x150, 0x180, 0x190, 0x100]);
        assert_eq!(
            cookies,
            vec![
                GOZT_COOKIE_RET | 3,
                GOZT_COOKIE_SINK | GOZT_COOKIE_HEADER | 3,
                GOZT_COOKIE_SINK | 3,
                3
            ]
        );
    }
}
