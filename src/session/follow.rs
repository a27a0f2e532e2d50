//! Following `--binary`/`--name` through deploys: an executable that
//! matches and that gozt has not probed (a new image's file, another copy,
//! an upgrade in place) is read off the loop's thread, and its sites are
//! attached while the session runs; a file no process has run for
//! [`DETACH_AFTER`] is detached (its links, grouped event and site keys go)
//! and attached again, from what was read, if a process runs it later. The
//! driver decides when; this module holds what was read and what is
//! under way.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::targets::Resolved;
use super::{SessionConfig, SessionError};
use crate::go_binary::GoBinary;
use crate::proc::identity::{FileId, ProcId};
use crate::stats::FuncMeta;
use crate::tracer::{BinarySites, FuncSpec};

/// A probed file that no process has run for this long is detached. Its
/// processes' restarts within it are traced from their first instruction;
/// later ones from the scan that finds them (at most a scan interval).
pub const DETACH_AFTER: Duration = Duration::from_secs(10);

/// How often processes are looked for while following: a new executable
/// is found within this of its start (then read and attached).
pub const FOLLOW_SCAN: Duration = Duration::from_millis(500);

/// Room in the programs' function table for binaries read while the
/// session runs (a rebuilt program has new function ids; a copy shares its
/// original's).
pub const SPARE_FUNCS: u32 = 4096;

/// Room in the `sites` map (kernels without attach cookies) for the sites
/// of binaries attached at once while the session runs.
pub const SPARE_SITE_KEYS: u32 = 1 << 16;

/// One more binary, read: what the session adds for it.
pub struct Addition {
    pub bin: GoBinary,
    /// Its sites, for every process running the file (no pid).
    pub sites: BinarySites,
    /// Every function of the session, its own last.
    pub funcs: Vec<FuncMeta>,
    /// What the programs read of its new functions (none for a copy).
    pub specs: Vec<FuncSpec>,
    /// By new function id: its binary and its RETs' link-time addresses.
    pub rets: Vec<(usize, Vec<u64>)>,
    /// A copy of the binary read earlier as this index: the same program
    /// (its functions' ids, entries and RETs), whose symbols serve.
    pub copy_of: Option<usize>,
}

/// Reads binaries as the session's start read its own: the same
/// selection, function ids after the session's, copies sharing theirs.
pub struct Reader {
    cfg: SessionConfig,
    /// The session's functions so far (its binaries stay with the driver).
    known: Resolved,
    binaries: usize,
}

impl Reader {
    /// Reads more binaries for the session that resolved `r`.
    pub fn new(cfg: &SessionConfig, r: &Resolved) -> Reader {
        Reader {
            cfg: cfg.clone(),
            known: Resolved {
                funcs: r.funcs.clone(),
                specs: r.specs.clone(),
                // Only the new functions' are handed on.
                rets: vec![(usize::MAX, Vec::new()); r.funcs.len()],
                copies: r.copies.clone(),
                ..Resolved::default()
            },
            binaries: r.binaries.len(),
        }
    }

    /// Reads the binary at `path` (a process's /proc/PID/exe) as the
    /// session's next.
    pub fn read(&mut self, path: &Path) -> Result<Addition, SessionError> {
        let before = self.known.funcs.len();
        let (bin, sites) = self.known.read_binary(&self.cfg, path, self.binaries)?;
        self.binaries += 1;
        let copy_of = match sites.entries.first() {
            Some(&(_, id)) if self.known.funcs.len() == before => {
                self.known.funcs.get(id as usize).map(|f| f.target)
            }
            _ => None,
        };
        Ok(Addition {
            bin,
            sites,
            funcs: self.known.funcs.clone(),
            specs: self.known.specs[before..].to_vec(),
            rets: self.known.rets[before..].to_vec(),
            copy_of,
        })
    }
}

/// Reads `path` with the session's reader.
fn read_with(reader: &Mutex<Reader>, path: &Path) -> Result<Addition, SessionError> {
    let mut r = reader.lock().unwrap_or_else(PoisonError::into_inner);
    r.read(path)
}

/// A file probed: where its sites are at the source, while attached.
pub struct Probed {
    pub file: FileId,
    pub sites: BinarySites,
    /// Its index at the source, while attached.
    pub index: Option<usize>,
    /// When a process last ran it (as the driver saw).
    pub last_run: Instant,
    /// Its processes trap at another file's probes already (the kernel
    /// probes the file beneath a container's overlay, which copies share):
    /// never attached itself.
    pub covered: bool,
}

/// Process `path` names, where it is `/proc/PID/exe` (a file read through
/// a process that runs it).
pub fn runner(path: &Path) -> Option<u32> {
    path.strip_prefix("/proc")
        .ok()?
        .to_str()?
        .strip_suffix("/exe")?
        .parse()
        .ok()
}

/// The file offsets of `sites`' entries.
pub fn entry_offsets(sites: &BinarySites) -> Vec<u64> {
    sites.entries.iter().map(|&(off, _)| off).collect()
}

/// A read under way: its file, when it began, and the thread reading it.
type Reading = (
    (FileId, PathBuf),
    Instant,
    JoinHandle<Result<Addition, SessionError>>,
);

/// What following holds.
pub struct Follow {
    /// Locked by the thread of the read under way. After a read that
    /// panicked the next reads go on (a function it had begun to add is
    /// never probed).
    reader: Arc<Mutex<Reader>>,
    reading: Option<Reading>,
    /// Files to read, in the order found: each with a path to it.
    queue: Vec<(FileId, PathBuf)>,
    /// Processes found running a file being read (or to be), by file.
    pub waiting: HashMap<FileId, Vec<ProcId>>,
    /// Files that could not be read or attached, with why.
    pub failed: HashMap<FileId, String>,
    /// Every file probed, in order.
    pub probed: Vec<Probed>,
}

impl Follow {
    /// Follows the session that resolved `r`, whose binaries' sites are at
    /// the source's indexes 0.. in `r.sites` order.
    pub fn new(cfg: &SessionConfig, r: &Resolved) -> Follow {
        let now = Instant::now();
        let probed = r
            .sites
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let file = r.files.get(s.binary_index).copied().flatten()?;
                Some(Probed {
                    file,
                    sites: s.clone(),
                    index: Some(i),
                    last_run: now,
                    covered: false,
                })
            })
            .collect();
        Follow {
            reader: Arc::new(Mutex::new(Reader::new(cfg, r))),
            reading: None,
            queue: Vec::new(),
            waiting: HashMap::new(),
            failed: HashMap::new(),
            probed,
        }
    }

    /// Process `id` runs `file`, which is not probed: it is read (through
    /// `path`) unless it is being read already or could not be.
    pub fn want(&mut self, file: FileId, path: PathBuf, id: ProcId) {
        let waiting = self.waiting.entry(file).or_default();
        if !waiting.contains(&id) {
            waiting.push(id);
        }
        let queued = self.queue.iter().any(|(f, _)| *f == file)
            || self
                .reading
                .as_ref()
                .is_some_and(|((f, _), _, _)| *f == file);
        if !queued && !self.failed.contains_key(&file) {
            self.queue.push((file, path));
        }
    }

    /// The file at the source's index `i` is covered by another's probes:
    /// it was left out of the attach.
    pub fn covered(&mut self, i: usize) {
        if let Some(p) = self.probed.iter_mut().find(|p| p.index == Some(i)) {
            p.index = None;
            p.covered = true;
        }
    }

    /// The probed file `file`, if it is.
    pub fn probed_mut(&mut self, file: FileId) -> Option<&mut Probed> {
        self.probed.iter_mut().find(|p| p.file == file)
    }

    /// Whether `file` is being read, or waits to be.
    pub fn reading(&self, file: FileId) -> bool {
        self.waiting.contains_key(&file) && !self.failed.contains_key(&file)
    }

    /// A read that has ended, with its file and how long it took; starts
    /// the next one queued.
    pub fn step(&mut self) -> Option<(FileId, Duration, Result<Addition, SessionError>)> {
        let mut done = None;
        if self
            .reading
            .as_ref()
            .is_some_and(|(_, _, h)| h.is_finished())
        {
            let ((file, path), began, handle) = self.reading.take().expect("checked");
            // A read that panicked fails its file (its processes are said
            // not to be traced, and why).
            let result = handle.join().unwrap_or_else(|_| {
                Err(SessionError::Input(crate::base::error::Error::Malformed {
                    path,
                    what: "gozt failed reading it".into(),
                }))
            });
            done = Some((file, began.elapsed(), result));
        }
        if self.reading.is_none() && !self.queue.is_empty() {
            let (file, path) = self.queue.remove(0);
            let (reader, at) = (Arc::clone(&self.reader), path.clone());
            let began = Instant::now();
            let spawned = std::thread::Builder::new()
                .name("gozt-read".into())
                .spawn(move || read_with(&reader, &at));
            match spawned {
                Ok(h) => self.reading = Some(((file, path), began, h)),
                // No thread to be had (a limit on threads): read here, the
                // loop held meanwhile, rather than not at all; one read's
                // end at a time (this one at the next step).
                Err(_) if done.is_none() => {
                    let result = read_with(&self.reader, &path);
                    done = Some((file, began.elapsed(), result));
                }
                Err(_) => self.queue.insert(0, (file, path)),
            }
        }
        done
    }
}
