//! `gozt probes` on arm64 Go binaries, read on any host: across the
//! toolchain matrix, stripped builds must give exactly what their
//! symtab/DWARF twins give (the same JSON but for where symbols and offsets
//! came from, and the same table rows), the DWARF twins' derived registers
//! must agree with DWARF's arm64 register numbers, and every RET found must
//! be one `go tool objdump` disassembles as RET.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use gozt::arch::Arch;
use gozt::go_binary::GoBinary;
use gozt::probe::plan::{AbiCheck, Plan};
use serde_json::Value;

/// Every catalog function the workload calls directly or through a stream.
const WORKLOAD_FUNCTIONS: usize = 74;

const TWINS: [(&str, &str); 3] = [
    ("workload-default", "workload-stripped"),
    ("workload-pie", "workload-pie-stripped"),
    ("workload-cgo", "workload-cgo-stripped"),
];

fn arm64_dir(toolchain: &Path) -> PathBuf {
    toolchain.join("arm64")
}

fn probes_json(path: &Path) -> Value {
    let (code, out, err) = common::gozt(&["probes", "--json", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{}: {err}", path.display());
    serde_json::from_str(&out).unwrap()
}

/// The JSON without what differs by design between twins: the path, where
/// symbols, `runtime.g` offsets and zstd's encoder counts came from, and
/// whether DWARF checked the layout.
fn comparable(mut v: Value) -> Value {
    let o = v.as_object_mut().unwrap();
    for k in [
        "binary",
        "symbol_source",
        "goid_offset_source",
        "zstd_counts",
    ] {
        assert!(o.remove(k).is_some(), "{k}");
    }
    for p in o["probes"].as_array_mut().unwrap() {
        assert!(p.as_object_mut().unwrap().remove("abi_check").is_some());
    }
    let layout = o["request"]["layout"]
        .as_object_mut()
        .expect("a request site");
    assert!(layout.remove("source").is_some());
    v
}

/// The table's rows, each without its ABI column (dwarf or -).
fn table_rows(path: &Path) -> Vec<Vec<String>> {
    let (code, out, err) = common::gozt(&["probes", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{}: {err}", path.display());
    let lines: Vec<&str> = out.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.starts_with("CODEC"))
        .expect("a table header");
    lines[header + 1..]
        .iter()
        .map(|l| {
            let mut cells: Vec<String> = l.split_whitespace().map(str::to_string).collect();
            if cells.len() == 11 {
                cells.remove(9);
            }
            cells
        })
        .collect()
}

#[test]
fn arm64_stripped_builds_match_their_dwarf_twins() {
    let mut checked = 0;
    for dir in common::toolchains() {
        let dir = arm64_dir(&dir);
        for (full, stripped) in TWINS {
            let (f, s) = (dir.join(full), dir.join(stripped));
            let name = s.display().to_string();
            let fj = probes_json(&f);
            let sj = probes_json(&s);
            assert_eq!(fj["arch"], "arm64", "{name}");
            assert_eq!(fj["g_register"], "x28", "{name}");
            assert_eq!(fj["symbol_source"], "symtab", "{name}");
            assert_eq!(sj["symbol_source"], "pclntab", "{name}");
            assert_eq!(fj["goid_offset_source"], "dwarf", "{name}");
            assert_eq!(sj["goid_offset_source"], "table", "{name}");
            // zstd's encoder counts: from the stripped twin's code, at the
            // offset DWARF gives its twin; and the sinks are there.
            assert_eq!(fj["zstd_counts"], "dwarf", "{name}");
            assert_eq!(sj["zstd_counts"], "code", "{name}");
            // The request site: *http.Request in X3, its layout from DWARF,
            // else by Go version (the same offsets: comparable below).
            assert_eq!(fj["request"]["request_reg"], "x3", "{name}");
            assert_eq!(fj["request"]["layout"]["source"], "dwarf", "{name}");
            assert_eq!(sj["request"]["layout"]["source"], "table", "{name}");
            assert_eq!(fj["request"]["entry_emulated"], true, "{name}");
            assert!(
                !fj["sinks"].as_array().unwrap().is_empty(),
                "{name}: no sinks"
            );
            let functions: Vec<(String, bool)> = fj["probes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    let lifecycle =
                        p["role"] == "new" || p["role"] == "reset" || p["role"] == "internal";
                    (p["function"].as_str().unwrap().to_string(), lifecycle)
                })
                .collect();
            assert_eq!(
                common::payload_functions(&functions, &name),
                WORKLOAD_FUNCTIONS
            );
            let totals = |p: &Path| -> Vec<Option<u64>> {
                let plan = Plan::build(&GoBinary::open(p).unwrap()).unwrap();
                plan.probes.iter().map(|p| p.totals_offset).collect()
            };
            let ft = totals(&f);
            assert!(ft.iter().any(Option::is_some), "{name}: no zstd counts");
            assert_eq!(ft, totals(&s), "{name}: zstd counts differ");
            assert_eq!(comparable(fj), comparable(sj), "{name}: probes differ");
            assert_eq!(table_rows(&f), table_rows(&s), "{name}: table rows differ");
            checked += 1;
        }
    }
    assert_eq!(checked, 18);
}

#[test]
fn arm64_layouts_agree_with_dwarf_and_rets_lie_in_their_functions() {
    for dir in common::toolchains() {
        for (full, _) in TWINS {
            let path = arm64_dir(&dir).join(full);
            let bin = GoBinary::open(&path).unwrap();
            assert_eq!(bin.arch, Arch::Arm64);
            let plan = Plan::build(&bin).unwrap();
            let functions: Vec<(String, bool)> = plan
                .probes
                .iter()
                .map(|p| (p.function.clone(), !p.entry.role.is_payload_call()))
                .collect();
            let what = path.display().to_string();
            assert_eq!(
                common::payload_functions(&functions, &what),
                WORKLOAD_FUNCTIONS,
                "{what}"
            );
            let mut located = 0;
            for p in &plan.probes {
                match &p.abi_check {
                    AbiCheck::Dwarf { located: n } => located += n,
                    other => panic!("{}: {}: {other:?}", path.display(), p.function),
                }
                assert!(!p.ret_offsets.is_empty(), "{}: no RET", p.function);
                assert!(p.ret_offsets.windows(2).all(|w| w[0] < w[1]));
                assert!(p.ret_offsets.iter().all(|&r| r > p.file_offset
                    && r < p.file_offset + p.size
                    && (r - p.file_offset) % 4 == 0));
                // The entry traps at its prologue's stack-check `b.cond`
                // (simulated by the kernel), a few words in.
                let code = std::fs::read(&path).unwrap();
                let at = p.entry_site as usize;
                let word = u32::from_le_bytes(code[at..at + 4].try_into().unwrap());
                assert!(
                    p.entry_site > p.file_offset
                        && p.entry_site < p.file_offset + 24
                        && word & 0xff00_0010 == 0x5400_0000,
                    "{}: {}: {word:#x}",
                    path.display(),
                    p.function
                );
            }
            // Most arguments have entry locations in DWARF, each checked.
            assert!(
                located > WORKLOAD_FUNCTIONS,
                "{}: {located}",
                path.display()
            );
        }
    }
}

/// `go tool objdump`'s RETs: function name -> addresses.
fn objdump_rets(go: &Path, bin: &Path, names: &BTreeSet<String>) -> BTreeMap<String, Vec<u64>> {
    let pattern = names
        .iter()
        .map(|n| format!("^{}$", regex_quote(n)))
        .collect::<Vec<_>>()
        .join("|");
    let out = Command::new(go)
        .args(["tool", "objdump", "-s", &pattern])
        .arg(bin)
        .output()
        .expect("go tool objdump");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut rets: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut current = None;
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        if let Some(rest) = line.strip_prefix("TEXT ") {
            let name = rest.split("(SB)").next().unwrap().to_string();
            rets.entry(name.clone()).or_default();
            current = Some(name);
            continue;
        }
        // file:line  address  encoding  instruction...
        let cells: Vec<&str> = line.split_whitespace().collect();
        if cells.len() == 4 && cells[3] == "RET" {
            let addr = u64::from_str_radix(cells[1].trim_start_matches("0x"), 16).unwrap();
            rets.get_mut(current.as_ref().unwrap()).unwrap().push(addr);
        }
    }
    rets
}

fn regex_quote(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$".contains(c);
            special.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

#[test]
fn arm64_rets_are_what_go_disassembles() {
    // The oldest and the newest toolchains, each with its own objdump.
    let dirs = common::toolchains();
    for dir in [dirs.first().unwrap(), dirs.last().unwrap()] {
        let path = arm64_dir(dir).join("workload-default");
        let bin = GoBinary::open(&path).unwrap();
        let plan = Plan::build(&bin).unwrap();
        let version = dir.file_name().unwrap().to_str().unwrap();
        let go = match version.strip_prefix("go1.19") {
            Some(_) => PathBuf::from("/usr/lib/go-1.19/bin/go"),
            None => {
                let cache = std::env::var("GOZT_CACHE").unwrap_or("/var/cache/gozt".into());
                PathBuf::from(format!("{cache}/go-{}/bin/go", &version[2..]))
            }
        };
        let names: BTreeSet<String> = plan.probes.iter().map(|p| p.function.clone()).collect();
        let want = objdump_rets(&go, &path, &names);
        assert_eq!(want.len(), names.len(), "{version}: objdump's functions");
        let mut rets = 0;
        for p in &plan.probes {
            let got: Vec<u64> = p
                .ret_offsets
                .iter()
                .map(|&o| o - p.file_offset + p.address)
                .collect();
            assert_eq!(got, want[&p.function], "{version}: {}", p.function);
            rets += got.len();
        }
        assert!(rets > WORKLOAD_FUNCTIONS, "{version}: {rets} RETs");
    }
}

#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn tracing_an_arm64_binary_elsewhere_is_refused() {
    // Without root, gozt says so first (exit 10).
    common::require_privileged();
    if Arch::HOST == Arch::Arm64 {
        // On arm64 the amd64 twin is the foreign one.
        let path = common::newest("workload-default");
        let (code, _, err) = common::gozt(&["trace", "--", path.to_str().unwrap()]);
        assert_eq!(code, 4, "{err}");
        assert!(err.contains("an amd64 binary"), "{err}");
        return;
    }
    let path = arm64_dir(&common::toolchains()[0]).join("workload-default");
    let (code, _, err) = common::gozt(&["trace", "--", path.to_str().unwrap()]);
    assert_eq!(code, 4, "{err}");
    assert!(
        err.contains("an arm64 binary; this gozt traces amd64 programs"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}
