//! Attaching the programs at a binary's sites, by the kernel's method: one
//! uprobe.multi link per binary holds every entry and RET (the kernel
//! registers and unregisters its offsets in the order given), or one classic
//! uprobe per site. Either way every RET comes before every entry, so a call
//! whose entry is seen always has its RETs in place. The cookie is the
//! function id, with GOZT_COOKIE_RET at RETs (GOZT_COOKIE_SINK at sinks);
//! without attach cookies the `sites` map gives it by (inode, file offset).

use std::os::fd::{AsRawFd, IntoRawFd};
use std::path::PathBuf;

use libbpf_rs::{Link, UprobeMultiOpts};

use super::events::Event;
use super::TraceError;
use crate::base::gozt_h::{
    GOZT_COOKIE_BINARY, GOZT_COOKIE_EMULATED, GOZT_COOKIE_HEADER, GOZT_COOKIE_REQUEST,
    GOZT_COOKIE_RET, GOZT_COOKIE_SINK, GOZT_COOKIE_SINK_BRANCH, GOZT_COOKIE_SINK_KEYED,
    GOZT_COOKIE_SINK_LEN_BYTE, GOZT_COOKIE_SINK_LEN_CONST, GOZT_SINK_COND_SHIFT,
    GOZT_SINK_CONST_SHIFT, GOZT_SINK_LEN_REG, GOZT_SINK_REG_SHIFT,
};
use crate::base::pid::Pid;
use crate::base::privileges::Op;

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
    /// The file offset at a process's `mm->start_code`, when every site
    /// lies in that segment: grouped classic uprobes with cookies find a
    /// site by its distance from there.
    pub code_start: Option<u64>,
    /// The request site, when the binary serves HTTP and routes are traced.
    pub request: Option<RequestSites>,
}

/// Where requests served by net/http begin (gozt.h, GOZT_COOKIE_REQUEST).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSites {
    pub entry: u64,
    /// The entry's trap is at an emulated branch.
    pub emulated: bool,
    /// Its RETs: attached where a RET trap is simulated (arm64); where it
    /// is stepped (amd64), the request's end is found from its frame.
    pub rets: Vec<u64>,
    /// A function of the binary, which lends its `runtime.g` offsets and
    /// request layout.
    pub func_id: u32,
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
    /// Its bytes are kept under its destination (GOZT_COOKIE_SINK_KEYED):
    /// a trap at the call.
    pub keyed: bool,
    /// The register (gozt.h index) holding the write's length at the trap.
    pub len_reg: u8,
    /// The write's length, when a constant (then `len_reg` is not read).
    pub len_const: Option<u16>,
    /// The length is `len_reg`'s low byte.
    pub len_byte: bool,
    /// The trap is at a branch before the call: the call is made when
    /// this condition code does not hold.
    pub branch: Option<u8>,
}

impl SinkSite {
    /// A sink trapping at its call.
    pub fn at_call(offset: u64, func_id: u32, header: bool) -> SinkSite {
        SinkSite {
            offset,
            func_id,
            header,
            keyed: false,
            len_reg: GOZT_SINK_LEN_REG as u8,
            len_const: None,
            len_byte: false,
            branch: None,
        }
    }

    /// The site's attach cookie.
    fn cookie(self) -> u64 {
        let header = if self.header { GOZT_COOKIE_HEADER } else { 0 };
        let branch = self.branch.map_or(0, |c| {
            GOZT_COOKIE_SINK_BRANCH | (u64::from(c & 0xf) << GOZT_SINK_COND_SHIFT)
        });
        let constant = self.len_const.map_or(0, |n| {
            GOZT_COOKIE_SINK_LEN_CONST | (u64::from(n) << GOZT_SINK_CONST_SHIFT)
        });
        let byte = if self.len_byte {
            GOZT_COOKIE_SINK_LEN_BYTE
        } else {
            0
        };
        // Its bit is the branch's condition's: a keyed sink has none.
        let keyed = if self.keyed && self.branch.is_none() {
            GOZT_COOKIE_SINK_KEYED
        } else {
            0
        };
        GOZT_COOKIE_SINK
            | header
            | keyed
            | branch
            | constant
            | byte
            | (u64::from(self.len_reg & 0xf) << GOZT_SINK_REG_SHIFT)
            | u64::from(self.func_id)
    }
}

impl BinarySites {
    /// Offsets and cookies in attach order: RETs, sinks, then entries (a
    /// call whose entry is seen has its RETs and sinks in place).
    pub fn offsets_and_cookies(&self) -> (Vec<usize>, Vec<u64>) {
        let request = self.request.as_ref();
        let request_cookie = request.map_or(0, |q| GOZT_COOKIE_REQUEST | u64::from(q.func_id));
        let request_rets = request.into_iter().flat_map(|q| {
            q.rets
                .iter()
                .map(move |&off| (off as usize, request_cookie | GOZT_COOKIE_RET))
        });
        let request_entry = request.map(|q| {
            let emulated = if q.emulated { GOZT_COOKIE_EMULATED } else { 0 };
            (q.entry as usize, request_cookie | emulated)
        });
        self.rets
            .iter()
            .map(|&(off, id)| (off as usize, u64::from(id) | GOZT_COOKIE_RET))
            .chain(request_rets)
            .chain(self.sinks.iter().map(|s| (s.offset as usize, s.cookie())))
            .chain(
                self.entries
                    .iter()
                    .map(|&(off, id)| (off as usize, u64::from(id))),
            )
            .chain(request_entry)
            .unzip()
    }

    /// The keys this binary needs in the `sites` map (kernels without
    /// attach cookies): every site, sinks included, under each inode its
    /// mappings may carry.
    pub fn site_keys(&self) -> usize {
        let request = self.request.as_ref().map_or(0, |q| 1 + q.rets.len());
        (self.rets.len() + self.sinks.len() + self.entries.len() + request)
            * self.inodes.len().max(1)
    }
}

fn attach_error(b: &BinarySites, e: libbpf_rs::Error) -> TraceError {
    if let Some(refused) = TraceError::refused_libbpf(&e, Op::Attach) {
        return refused;
    }
    TraceError::Attach {
        path: b.binary.display().to_string(),
        reason: e.to_string(),
    }
}

/// Attaches `prog` at every site of binary `b` with one uprobe.multi
/// link; it detaches when dropped. Nothing for a binary without sites (one
/// detached while the session runs).
pub fn attach_multi(
    prog: &libbpf_rs::ProgramMut<'_>,
    b: &BinarySites,
) -> Result<Vec<Link>, TraceError> {
    if b.entries.is_empty() {
        return Ok(Vec::new());
    }
    let (offsets, cookies) = b.offsets_and_cookies();
    let opts = UprobeMultiOpts {
        offsets,
        cookies,
        ..Default::default()
    };
    let link = prog
        .attach_uprobe_multi_with_opts(b.pid.map_or(-1, Pid::raw), &b.binary, "", opts)
        .map_err(|e| attach_error(b, e))?;
    Ok(vec![link])
}

/// Attaches `prog` at every site of binary `b` (index `i` of the
/// session's) as classic uprobes: through its grouped event where it has
/// one (one perf event, its cookie naming the binary when `cookies`), else
/// one link per site, with its cookie when `cookies`.
pub fn attach_classic(
    prog: &libbpf_rs::ProgramMut<'_>,
    (i, b): (usize, &BinarySites),
    event: Option<&Event>,
    cookies: bool,
) -> Result<Vec<Link>, TraceError> {
    if b.entries.is_empty() {
        return Ok(Vec::new());
    }
    if let Some(event) = event {
        let fd = event.open(b.pid.map(Pid::raw)).map_err(|e| {
            e.raw_os_error()
                .and_then(|errno| TraceError::refused(errno, Op::Attach))
                .unwrap_or_else(|| TraceError::Attach {
                    path: b.binary.display().to_string(),
                    reason: format!("perf event of a uprobe event: {e}"),
                })
        })?;
        let opts = libbpf_rs::PerfEventOpts {
            cookie: if cookies {
                GOZT_COOKIE_BINARY | i as u64
            } else {
                0
            },
            ..Default::default()
        };
        let link = prog
            .attach_perf_event_with_opts(fd.as_raw_fd(), opts)
            .map_err(|e| attach_error(b, e))?;
        // The link owns the descriptor now (libbpf closes it on detach).
        let _ = fd.into_raw_fd();
        return Ok(vec![link]);
    }
    let (offsets, site_cookies) = b.offsets_and_cookies();
    let mut links = Vec::with_capacity(offsets.len());
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
    Ok(links)
}

/// Detaches every link, from threads at once: each waits for grace periods
/// as it goes, and uprobe.multi links' waits overlap. Perf events' do not:
/// their teardown holds the kernel's global event_mutex across its grace
/// periods (perf_uprobe_destroy, perf_trace_event_unreg), one after another
/// — 341 perf uprobes, one per site, took 42.9 s here (6.18), with 127 of
/// the threads waiting for that mutex — hence classic uprobes grouped in
/// one event per binary (events.rs), whose one link took 131-147 ms.
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
    fn the_sites_map_holds_sinks_under_every_inode() {
        // A gzip-only program: more sink sites than entries and RETs, and
        // (an overlay's file and the file beneath) two inodes.
        let b = BinarySites {
            binary: "/x".into(),
            entries: vec![(0x100, 0), (0x200, 1)],
            rets: vec![(0x150, 0), (0x250, 1)],
            sinks: (0..9)
                .map(|i| SinkSite::at_call(0x300 + i, 0, false))
                .collect(),
            inodes: vec![11, 12],
            ..BinarySites::default()
        };
        assert_eq!(b.site_keys(), 2 * 13);
        let none = BinarySites {
            inodes: vec![],
            ..b
        };
        assert_eq!(none.site_keys(), 13);
    }

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
            code_start: None,
            request: None,
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
    fn a_request_site_has_its_rets_first_and_its_entry_last() {
        let b = BinarySites {
            entries: vec![(0x100, 3)],
            rets: vec![(0x150, 3)],
            inodes: vec![1, 2],
            request: Some(RequestSites {
                entry: 0x300,
                emulated: true,
                rets: vec![0x340, 0x350],
                func_id: 3,
            }),
            ..BinarySites::default()
        };
        let (offsets, cookies) = b.offsets_and_cookies();
        assert_eq!(offsets, vec![0x150, 0x340, 0x350, 0x100, 0x300]);
        let request = GOZT_COOKIE_REQUEST | 3;
        assert_eq!(
            cookies,
            vec![
                GOZT_COOKIE_RET | 3,
                request | GOZT_COOKIE_RET,
                request | GOZT_COOKIE_RET,
                3,
                request | GOZT_COOKIE_EMULATED
            ]
        );
        assert_eq!(b.site_keys(), 5 * 2);
        // Where RETs are not attached (amd64), the entry alone.
        let entry_only = BinarySites {
            request: Some(RequestSites {
                rets: Vec::new(),
                emulated: false,
                ..b.request.clone().unwrap()
            }),
            ..b
        };
        let (offsets, cookies) = entry_only.offsets_and_cookies();
        assert_eq!(offsets, vec![0x150, 0x100, 0x300]);
        assert_eq!(cookies[2], request);
    }

    #[test]
    fn sinks_come_between_rets_and_entries_with_their_cookies() {
        let b = BinarySites {
            entries: vec![(0x100, 3)],
            rets: vec![(0x150, 3)],
            sinks: vec![
                SinkSite::at_call(0x180, 3, true),
                SinkSite {
                    branch: Some(5),
                    len_reg: 4,
                    ..SinkSite::at_call(0x190, 3, false)
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
                GOZT_COOKIE_SINK | GOZT_COOKIE_HEADER | (2 << GOZT_SINK_REG_SHIFT) | 3,
                GOZT_COOKIE_SINK
                    | GOZT_COOKIE_SINK_BRANCH
                    | (5 << GOZT_SINK_COND_SHIFT)
                    | (4 << GOZT_SINK_REG_SHIFT)
                    | 3,
                3
            ]
        );
    }

    #[test]
    fn a_keyed_sink_says_so_where_a_branch_would_say_its_condition() {
        let keyed = SinkSite {
            keyed: true,
            ..SinkSite::at_call(0x180, 3, false)
        };
        assert_eq!(
            keyed.cookie(),
            GOZT_COOKIE_SINK | GOZT_COOKIE_SINK_KEYED | (2 << GOZT_SINK_REG_SHIFT) | 3
        );
        // The bit is a condition's at a branch: a keyed sink never has one.
        assert_eq!(GOZT_COOKIE_SINK_KEYED >> GOZT_SINK_COND_SHIFT, 1);
        let branch = SinkSite {
            branch: Some(4),
            ..keyed
        };
        assert_eq!(branch.cookie() & GOZT_COOKIE_SINK_KEYED, 0);
    }
}
