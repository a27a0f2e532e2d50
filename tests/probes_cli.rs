//! `gozt probes` end to end: output for people and machines, `--pid`, and one
//! clear line with a documented exit code for each kind of bad input.

mod common;
mod hostile;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{gozt, toolchains};
use hostile::TempDir;

fn newest() -> std::path::PathBuf {
    toolchains().pop().unwrap()
}

/// Asserts a one-line error on stderr containing `needle`, nothing on stdout,
/// and exit code `code`.
fn assert_error(args: &[&str], code: i32, needle: &str) {
    let (status, stdout, stderr) = gozt(args);
    assert_eq!(status, code, "{args:?}: stderr {stderr}");
    assert!(stdout.is_empty(), "{args:?}: stdout {stdout}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "{args:?}: not one line: {stderr}"
    );
    assert!(stderr.starts_with("gozt: "), "{stderr}");
    assert!(
        stderr.contains(needle),
        "{args:?}: {stderr:?} lacks {needle:?}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn table_names_every_probe_and_its_sites() {
    let path = newest().join("workload-stripped");
    let (status, stdout, stderr) = gozt(&["probes", path.to_str().unwrap()]);
    assert_eq!(status, 0, "{stderr}");
    assert!(
        stdout.contains("stripped: symbols from .gopclntab"),
        "{stdout}"
    );
    assert!(
        stdout.contains("g.goid at +152 (from the Go version table)"),
        "{stdout}"
    );
    let row = stdout
        .lines()
        .find(|l| l.ends_with("github.com/klauspost/compress/zstd.(*Encoder).EncodeAll"))
        .expect("EncodeAll row");
    for cell in ["zstd", "compress", "oneshot", "entry:rcx", "ret:rbx-r8"] {
        assert!(row.contains(cell), "{row}");
    }
    // 74 payloads' functions, 2 of a library's internal work, 29 constructors and resets (Go 1.27
    // inlines gzip.NewReader, flate.NewWriter and two more).
    assert!(stdout.contains("105 functions, 105 probeable"), "{stdout}");
    assert!(
        stdout.contains("105 of the entries trap at their prologue's stack-check branch"),
        "{stdout}"
    );
    let row = stdout
        .lines()
        .find(|l| l.ends_with("compress/gzip.NewWriterLevel"))
        .expect("NewWriterLevel row");
    for cell in ["gzip", "compress", "new", "ret:rbx"] {
        assert!(row.contains(cell), "{row}");
    }
    assert!(
        stdout.contains("sink sites (gzip, zlib, flate output); zstd encoder counts at +0x"),
        "{stdout}"
    );
}

#[test]
fn json_has_the_documented_fields() {
    let path = toolchains()[0].join("workload-pie");
    let (status, stdout, _) = gozt(&["probes", "--json", path.to_str().unwrap()]);
    assert_eq!(status, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["binary"], path.to_str().unwrap());
    assert_eq!(v["go_version"], "go1.19.8");
    assert_eq!(v["goid_offset"], 152);
    assert_eq!(v["goid_offset_source"], "dwarf");
    assert_eq!(v["symbol_source"], "symtab");
    assert_eq!(v["pie"], true);
    assert!(v["modules"].is_array());
    let probes = v["probes"].as_array().unwrap();
    let payload = probes
        .iter()
        .filter(|p| !["new", "reset", "internal"].contains(&p["role"].as_str().unwrap()))
        .count();
    assert_eq!(payload, 74);
    assert_eq!(v["zstd_counts"], "dwarf");
    let sinks = v["sinks"].as_array().unwrap();
    assert!(sinks
        .iter()
        .any(|s| s["function"] == "compress/gzip.(*Writer).Write" && s["header"] == true));
    assert!(sinks
        .iter()
        .any(|s| s["function"] == "compress/gzip.(*Writer).Close" && s["header"] == false));
    let decode = probes
        .iter()
        .find(|p| p["function"] == "github.com/klauspost/compress/zstd.(*Decoder).DecodeAll")
        .unwrap();
    assert_eq!(decode["codec"], "zstd");
    assert_eq!(decode["op"], "decompress");
    assert_eq!(decode["api"], "oneshot");
    assert_eq!(decode["error"], serde_json::json!({"reg": "rdi"}));
    let entry = decode["file_offset"].as_u64().unwrap();
    let rets: Vec<u64> = decode["ret_offsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_u64().unwrap())
        .collect();
    assert!(!rets.is_empty() && rets.windows(2).all(|w| w[0] < w[1]));
    assert!(rets[0] > entry);
    assert!(decode["address"].as_u64().unwrap() > 0);
    // Every entry traps at its prologue's stack-check branch (`jbe`, or
    // `jb` for a large frame; rel8 or rel32), a few bytes in: the kernel
    // emulates it.
    let code = std::fs::read(&path).unwrap();
    for p in probes {
        let (entry, trap) = (
            p["file_offset"].as_u64().unwrap(),
            p["entry_trap_offset"].as_u64().unwrap(),
        );
        assert!(trap > entry && trap < entry + 16, "{p}");
        let at = &code[trap as usize..trap as usize + 2];
        let jcc = (0x70..0x80).contains(&at[0]) || (at[0] == 0x0f && (0x80..0x90).contains(&at[1]));
        assert!(jcc, "{}: {at:x?}", p["function"]);
    }
}

#[test]
fn pid_reads_the_running_executable() {
    let path = newest().join("workload-stripped");
    let mut child = Command::new(&path)
        .arg("-wait")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The workload prints its pid on stderr once it waits; any moment works
    // for /proc/PID/exe, the process exists from spawn on.
    let pid = child.id().to_string();
    let (status, by_pid, stderr) = gozt(&["probes", "--json", "--pid", &pid]);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(status, 0, "{stderr}");
    let (_, by_path, _) = gozt(&["probes", "--json", path.to_str().unwrap()]);
    let mut a: serde_json::Value = serde_json::from_str(&by_pid).unwrap();
    let b: serde_json::Value = serde_json::from_str(&by_path).unwrap();
    assert_eq!(a["pid"].as_i64().unwrap().to_string(), pid);
    assert_eq!(a["binary"], format!("/proc/{pid}/exe"));
    a["binary"] = b["binary"].clone();
    a.as_object_mut().unwrap().remove("pid");
    assert_eq!(a, b);
}

#[test]
fn missing_file() {
    assert_error(
        &["probes", "/nonexistent/gozt-test"],
        3,
        "/nonexistent/gozt-test: no such file",
    );
}

#[test]
fn not_elf() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    assert_error(
        &["probes", manifest.to_str().unwrap()],
        4,
        "not an ELF file",
    );
    assert_error(&["probes", "/tmp"], 4, "not an ELF file");
}

#[test]
fn not_go() {
    assert_error(&["probes", "/bin/true"], 5, "not a Go binary");
}

#[test]
fn go_older_than_the_register_abi() {
    // A real Go binary whose build info says go1.16: gozt must refuse it from
    // the version alone, before trusting any register layout.
    let src = toolchains()[0].join("workload-stripped");
    let mut data = std::fs::read(&src).unwrap();
    let info = data
        .windows(14)
        .position(|w| w == b"\xff Go buildinf:")
        .expect("build info");
    let at = info
        + data[info..]
            .windows(8)
            .position(|w| w == b"go1.19.8")
            .expect("version string in the build info");
    data[at..at + 8].copy_from_slice(b"go1.16.8");
    let dir = TempDir::new("test");
    let old = dir.join("go116");
    std::fs::write(&old, data).unwrap();
    assert_error(
        &["probes", old.to_str().unwrap()],
        6,
        "built with go1.16.8; gozt needs go1.17",
    );
}

#[test]
fn no_compression_functions() {
    let path = newest().join("nocompress-stripped");
    assert_error(
        &["probes", path.to_str().unwrap()],
        7,
        "no compression functions found",
    );
}

#[test]
fn pid_gone() {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id().to_string();
    child.wait().unwrap();
    assert_error(
        &["probes", "--pid", &pid],
        8,
        &format!("process {pid} not found"),
    );
}

#[test]
fn pid_not_permitted() {
    // An unprivileged gozt cannot open the executable of a root process.
    let me = env!("CARGO_BIN_EXE_gozt");
    let dir = TempDir::new("test");
    let copy = dir.join("gozt");
    std::fs::copy(me, &copy).unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&copy)
        .args(["probes", "--pid", "1"])
        .output()
        .expect("setpriv (util-linux)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(9), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("process 1: permission denied"), "{stderr}");
}

#[test]
fn bad_flags() {
    assert_error(&["probes", "--bogus"], 2, "unexpected argument '--bogus'");
    assert_error(&["probes"], 2, "required");
    assert_error(&["probes", "--pid", "abc"], 2, "invalid value 'abc'");
    assert_error(&["frobnicate"], 2, "unrecognized subcommand");
}
