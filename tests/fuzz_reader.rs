//! A mutation fuzzer for the binary reader: matrix binaries (one with its
//! DWARF uncompressed, and a tiny hand-built Go binary) with bits flipped
//! in their pclntab, build info, symtab, DWARF, text and headers, length and
//! offset fields set to extremes, symbol entries copied over one another, and
//! truncations; each mutant goes through the real `gozt probes` (and
//! `--json` when that succeeds) in a child under a memory limit and a hang
//! guard, and must keep [`hostile::contract`].
//!
//! In `cargo test` it runs a fixed number of mutants from a fixed seed. By
//! hand, longer (`scripts/fuzz.sh` wraps this):
//!
//! - `GOZT_FUZZ_ITERATIONS=N`, `GOZT_FUZZ_SEED=S`: how many mutants, from
//!   which seed; mutant `i` depends only on `(S, i)`.
//! - `GOZT_FUZZ_CASE=i`: only mutant `i` (to replay a failure).
//! - `GOZT_FUZZ_CORPUS=a:b`: more base binaries (e.g. `/usr/bin/prometheus`).
//! - `GOZT_FUZZ_JOBS=N`: children run at once (default 2).
//! - `GOZT_FUZZ_KEEP=DIR`: where failing mutants are written (default: the
//!   temp directory's `gozt-fuzz-failures`).
//! - `GOZT_TEST_BIN=PATH`: the gozt to run (e.g. a release build).
//!
//! Every failure it finds becomes a test in `tests/hostile_inputs.rs`.

mod common;
mod hostile;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use hostile::{contract, probes, section, Run, SYM_SIZE};

/// Mutants per `cargo test` run: 15-30 s on two cores (debug build).
const CI_ITERATIONS: u64 = 600;
const CI_SEED: u64 = 0x676f_7a74_0014;

/// splitmix64: small, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, case: u64) -> Rng {
        let mut r = Rng(seed ^ case.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        r.next();
        r
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// A named byte range of a base binary that mutations aim at.
#[derive(Debug, Clone)]
struct Region {
    name: String,
    start: usize,
    len: usize,
}

/// One base binary and its regions.
struct Base {
    path: PathBuf,
    data: Vec<u8>,
    regions: Vec<Region>,
    symtab: Option<(usize, usize)>,
}

impl Base {
    fn load(path: &Path) -> Base {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Base::new(path.to_path_buf(), data)
    }

    fn new(path: PathBuf, data: Vec<u8>) -> Base {
        let u16_at = |o: usize| u16::from_le_bytes([data[o], data[o + 1]]) as usize;
        let u64_at = |o: usize| hostile::u64_at(&data, o) as usize;
        let mut regions = vec![
            Region {
                name: "ELF header".into(),
                start: 0,
                len: 64,
            },
            Region {
                name: "program headers".into(),
                start: u64_at(32),
                len: u16_at(56) * u16_at(54),
            },
            Region {
                name: "section headers".into(),
                start: u64_at(40),
                len: u16_at(60) * u16_at(58),
            },
        ];
        let file = object::File::parse(&*data).unwrap();
        for s in object::Object::sections(&file) {
            let name = object::ObjectSection::name(&s).unwrap_or("").to_string();
            let Some((start, len)) = object::ObjectSection::file_range(&s) else {
                continue;
            };
            let wanted = [
                ".gopclntab",
                ".go.buildinfo",
                ".go.module",
                ".noptrdata",
                ".symtab",
                ".strtab",
                ".shstrtab",
                ".text",
            ];
            if wanted.contains(&name.as_str()) || name.starts_with(".debug_") {
                regions.push(Region {
                    name,
                    start: start as usize,
                    len: len as usize,
                });
            }
        }
        regions.retain(|r| r.len > 0 && r.start + r.len <= data.len());
        let symtab = section(&data, ".symtab");
        Base {
            path,
            data,
            regions,
            symtab,
        }
    }
}

/// Values that length, count and offset fields are set to.
fn extreme(rng: &mut Rng, file_len: usize, region: &Region) -> u64 {
    let values = [
        0,
        1,
        0x7f,
        0x80,
        0xff,
        0xffff,
        0x7fff_ffff,
        0x8000_0000,
        0xffff_ffff,
        1 << 32,
        1 << 40,
        i64::MAX as u64,
        u64::MAX,
        u64::MAX - 7,
        file_len as u64,
        file_len as u64 + 1,
        region.len as u64,
        region.len as u64 - 1,
        region.start as u64,
    ];
    *rng.pick(&values)
}

/// An offset in `region`, half the time among its first 256 bytes (where
/// the headers and counts are).
fn offset_in(rng: &mut Rng, region: &Region) -> usize {
    let span = if rng.below(2) == 0 {
        region.len.min(256)
    } else {
        region.len
    };
    region.start + rng.below(span as u64) as usize
}

/// Applies one to three mutations to a copy of `base`; returns the mutant
/// and what was done to it.
fn mutate(base: &Base, rng: &mut Rng) -> (Vec<u8>, String) {
    let mut data = base.data.clone();
    let mut done = Vec::new();
    for _ in 0..1 + rng.below(3) {
        let region = rng.pick(&base.regions).clone();
        match rng.below(10) {
            0..=3 => {
                let flips = 1 + rng.below(8);
                for _ in 0..flips {
                    let at = offset_in(rng, &region);
                    data[at] ^= 1 << rng.below(8);
                }
                done.push(format!("{flips} bit flips in {}", region.name));
            }
            4..=6 => {
                let width = if rng.below(2) == 0 { 4 } else { 8 };
                let at = region.start + ((offset_in(rng, &region) - region.start) & !(width - 1));
                let value = extreme(rng, data.len(), &region);
                if at + width <= data.len() {
                    data[at..at + width].copy_from_slice(&value.to_le_bytes()[..width]);
                }
                done.push(format!(
                    "{}+{:#x} set to {value:#x} ({width} bytes)",
                    region.name,
                    at - region.start
                ));
            }
            7 => {
                let len = if rng.below(2) == 0 {
                    rng.below(data.len() as u64) as usize
                } else {
                    offset_in(rng, &region)
                };
                data.truncate(len);
                done.push(format!("truncated to {len} bytes (in {})", region.name));
                break;
            }
            8 => match base.symtab {
                Some((off, size)) if size >= 2 * SYM_SIZE => {
                    let n = size / SYM_SIZE;
                    let copies = 1 + rng.below(256);
                    let from = off + rng.below(n as u64) as usize * SYM_SIZE;
                    for _ in 0..copies {
                        let to = off + rng.below(n as u64) as usize * SYM_SIZE;
                        data.copy_within(from..from + SYM_SIZE, to);
                    }
                    done.push(format!("symbol {from:#x} copied over {copies} others"));
                }
                _ => {
                    let at = offset_in(rng, &region);
                    data[at] ^= 0x80;
                    done.push(format!("bit flip in {}", region.name));
                }
            },
            _ => {
                let len = (16 + rng.below(4096) as usize).min(region.len);
                let from = region.start + rng.below((region.len - len + 1) as u64) as usize;
                let to = region.start + rng.below((region.len - len + 1) as u64) as usize;
                data.copy_within(from..from + len, to);
                done.push(format!(
                    "{len} bytes of {} moved from +{:#x} to +{:#x}",
                    region.name,
                    from - region.start,
                    to - region.start
                ));
            }
        }
    }
    (data, done.join("; "))
}

/// One mutant's verdict.
struct Verdict {
    case: u64,
    code: i32,
    failure: Option<String>,
}

fn check(path: &Path) -> (Run, Result<(), String>) {
    let run = probes(path, false);
    if let Err(e) = contract(&run, false) {
        return (run, Err(format!("probes: {e}")));
    }
    if run.code == Some(0) {
        let json = probes(path, true);
        if let Err(e) = contract(&json, true) {
            return (json, Err(format!("probes --json: {e}")));
        }
        if json.code != Some(0) {
            return (
                json,
                Err("probes succeeded but probes --json did not".into()),
            );
        }
    }
    (run, Ok(()))
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    Some(
        match v.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => v.parse(),
        }
        .unwrap_or_else(|e| panic!("{name}={v}: {e}")),
    )
}

fn corpus() -> Vec<Base> {
    let mut paths: Vec<PathBuf> = [
        ("go1.19", "workload-default"),
        ("go1.21", "workload-cgo-stripped"),
        ("go1.25", "workload-pie-stripped"),
        ("go1.27", "workload-stripped"),
        ("go1.27", "vendored-module"),
    ]
    .iter()
    .map(|(toolchain, name)| hostile::matrix_bin(toolchain, name))
    .collect();
    if let Ok(extra) = std::env::var("GOZT_FUZZ_CORPUS") {
        paths.extend(
            extra
                .split(':')
                .filter(|p| !p.is_empty())
                .map(PathBuf::from),
        );
    }
    let mut bases: Vec<Base> = paths.iter().map(|p| Base::load(p)).collect();
    // And a Go binary of a few hundred bytes, compressed DWARF included.
    let tiny = hostile::tiny_go(
        1,
        vec![hostile::TinySection {
            name: ".debug_info",
            flags: 0x800,
            addr: 0,
            data: hostile::zlib_section(&[0; 100], 100),
        }],
    );
    bases.push(Base::new(PathBuf::from("(tiny Go binary)"), tiny));
    // And one with its DWARF stored plain, so that flips reach the DWARF
    // parser rather than the inflater.
    let src = hostile::matrix_bin("go1.23", "workload-default");
    let plain = hostile::TempDir::new("fuzz-plain");
    let out = plain.join("workload-default-plain");
    let status = std::process::Command::new("objcopy")
        .arg("--decompress-debug-sections")
        .arg(&src)
        .arg(&out)
        .status()
        .expect("objcopy (binutils)");
    assert!(status.success());
    let data = std::fs::read(&out).unwrap();
    bases.push(Base::new(
        PathBuf::from(format!("{} (DWARF uncompressed)", src.display())),
        data,
    ));
    bases
}

#[test]
fn mutants_of_the_matrix_keep_the_contract() {
    let seed = env_u64("GOZT_FUZZ_SEED").unwrap_or(CI_SEED);
    let iterations = env_u64("GOZT_FUZZ_ITERATIONS").unwrap_or(CI_ITERATIONS);
    let only = env_u64("GOZT_FUZZ_CASE");
    let jobs = env_u64("GOZT_FUZZ_JOBS").unwrap_or(2).max(1);
    let keep = std::env::var_os("GOZT_FUZZ_KEEP")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("gozt-fuzz-failures"));
    let bases = corpus();
    let dir = hostile::TempDir::new("fuzz");
    let cases: Vec<u64> = match only {
        Some(i) => vec![i],
        None => (0..iterations).collect(),
    };
    let next = AtomicU64::new(0);
    let verdicts = Mutex::new(Vec::new());
    let start = Instant::now();
    std::thread::scope(|s| {
        for job in 0..jobs {
            let (bases, dir, cases, next, verdicts, keep) =
                (&bases, &dir, &cases, &next, &verdicts, &keep);
            s.spawn(move || {
                let path = dir.join(format!("mutant-{job}"));
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let Some(&case) = cases.get(n) else {
                        break;
                    };
                    let mut rng = Rng::new(seed, case);
                    let base = rng.pick(bases);
                    let (data, what) = mutate(base, &mut rng);
                    std::fs::write(&path, &data).unwrap();
                    let (run, verdict) = check(&path);
                    let failure = verdict.err().map(|e| {
                        std::fs::create_dir_all(keep).unwrap();
                        let kept = keep.join(format!("{seed:#x}-{case}"));
                        std::fs::copy(&path, &kept).unwrap();
                        format!(
                            "case {case} ({} : {what}): {e}\n  replay: GOZT_FUZZ_SEED={seed:#x} GOZT_FUZZ_CASE={case}; mutant kept at {}",
                            base.path.display(),
                            kept.display()
                        )
                    });
                    verdicts.lock().unwrap().push(Verdict {
                        case,
                        code: run.code.unwrap_or(-1),
                        failure,
                    });
                }
            });
        }
    });
    let mut verdicts = verdicts.into_inner().unwrap();
    verdicts.sort_by_key(|v| v.case);
    let mut by_code = std::collections::BTreeMap::new();
    for v in &verdicts {
        *by_code.entry(v.code).or_insert(0) += 1;
    }
    eprintln!(
        "fuzz: seed {seed:#x}, {} mutants of {} bases in {:.1} s; exit codes {by_code:?}",
        verdicts.len(),
        bases.len(),
        start.elapsed().as_secs_f64()
    );
    let failures: Vec<&str> = verdicts
        .iter()
        .filter_map(|v| v.failure.as_deref())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} mutants broke the contract:\n{}",
        failures.len(),
        verdicts.len(),
        failures.join("\n")
    );
    // A fuzzer whose mutants all fail alike, or all pass, tests nothing: the
    // CI run must reach both the reader's refusals and its success path.
    if only.is_none() && iterations >= CI_ITERATIONS {
        assert!(by_code.get(&0).copied().unwrap_or(0) > 0, "{by_code:?}");
        assert!(by_code.get(&5).copied().unwrap_or(0) > 0, "{by_code:?}");
    }
}

#[test]
fn the_contract_rejects_what_a_crash_looks_like() {
    let ok_error = Run {
        code: Some(5),
        stderr: b"gozt: /x: malformed Go binary: pclntab too short\n".to_vec(),
        ..Run::default()
    };
    assert!(contract(&ok_error, false).is_ok());
    let table = Run {
        code: Some(0),
        stdout: b"binary   /x\n".to_vec(),
        ..Run::default()
    };
    assert!(contract(&table, false).is_ok());
    let failed = |code: i32, stderr: &[u8]| Run {
        code: Some(code),
        stderr: stderr.to_vec(),
        ..Run::default()
    };
    let bad = [
        failed(
            101,
            b"thread 'main' panicked at src/x.rs:1:1:\ncapacity overflow\n",
        ),
        Run {
            signal: Some(6),
            stderr: b"memory allocation of 171798691800 bytes failed\n".to_vec(),
            ..Run::default()
        },
        Run {
            timed_out: true,
            ..Run::default()
        },
        failed(5, b"gozt: /x: malformed\nGo binary\n"),
        failed(5, b"gozt: /x: go1.19\x1b[31m\n"),
        failed(5, b"/x: no gozt prefix\n"),
        failed(5, b"gozt: /x: no newline"),
        failed(1, b"gozt: internal error\n"),
        Run {
            code: Some(0),
            stdout: b"binary   /x\x1b[2J\n".to_vec(),
            ..Run::default()
        },
    ];
    for run in &bad {
        assert!(contract(run, false).is_err(), "{run:?}");
    }
    let not_json = Run {
        code: Some(0),
        stdout: b"{\"binary\": ".to_vec(),
        ..Run::default()
    };
    assert!(contract(&not_json, true).is_err());
}

#[test]
fn mutants_depend_only_on_seed_and_case() {
    let bases = corpus();
    let one = |case| {
        let mut rng = Rng::new(CI_SEED, case);
        let base = rng.pick(&bases);
        mutate(base, &mut rng)
    };
    assert_eq!(one(7), one(7));
    assert_ne!(one(7).0, one(8).0);
}
