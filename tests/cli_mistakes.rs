//! The mistakes a new user makes, as snapshots of what gozt answers: each
//! case's exit code and stderr in tests/golden/cli_mistakes.txt
//! (`GOZT_BLESS=1 cargo test --test cli_mistakes` rewrites it). Every error
//! is one line starting `gozt: `, bad flags exit 2, and each fails before
//! anything is traced (no root, no BPF needed).

mod common;

use common::gozt;

/// (arguments, expected exit code).
const CASES: &[(&[&str], i32)] = &[
    (&["attach", "1234"], 2),
    (&["attach"], 2),
    (&["attach", "-p"], 2),
    (&["attach", "-p", "abc"], 2),
    (&["attach", "-p", "1", "--binary", "/bin/true"], 2),
    (&["attach", "--durration", "1s", "-p", "1"], 2),
    (&["trace", "./cmd"], 2),
    (&["trace"], 2),
    (&["probes"], 2),
    (&["bogus"], 2),
    (&["attach", "-p", "1", "--alert-threshold", "3"], 2),
    (&["attach", "-p", "1", "--alert-threshold", "150%"], 2),
    (&["attach", "-p", "1", "--alert-threshold", "abc"], 2),
    (&["attach", "-p", "1", "--max-overhead", "1"], 2),
    (&["attach", "-p", "1", "--max-overhead", "0%"], 2),
    (&["attach", "-p", "1", "--prometheus", "99999"], 2),
    (&["attach", "-p", "1", "--prometheus", "::1"], 2),
    (&["attach", "-p", "1", "--func", "[zstd"], 2),
    (&["attach", "-p", "1", "--codec", "lzo"], 2),
    (
        &[
            "attach",
            "-p",
            "1",
            "-o",
            "/nonexistent-gozt-dir/report.txt",
        ],
        3,
    ),
    (&["attach", "-p", "1", "-o", "/"], 3),
    (&["completions", "tcsh"], 2),
    (&["attach", "-p", "1", "--interval", "10ms"], 2),
    (&["attach", "-p", "1", "--interval", "often"], 2),
    (&["attach", "-p", "1", "-q", "-v"], 2),
    (&["report"], 2),
    (&["report", "--live", "--ns", "x.json"], 2),
];

#[test]
fn mistakes_get_one_line_and_their_exit_code() {
    let mut snapshot = String::new();
    for (args, code) in CASES {
        let (status, stdout, stderr) = gozt(args);
        snapshot.push_str(&format!(
            "$ gozt {}\nexit {status}\n{stderr}\n",
            args.join(" ")
        ));
        assert_eq!(status, *code, "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}: stdout {stdout}");
        assert_eq!(
            stderr.lines().count(),
            1,
            "{args:?}: not one line: {stderr}"
        );
        assert!(stderr.starts_with("gozt: "), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    common::golden("cli_mistakes.txt", &snapshot);
}

#[test]
fn the_hints_say_what_to_write() {
    let hint = |args: &[&str]| gozt(args).2;
    let s = hint(&["attach", "1234"]);
    assert!(s.contains("-p 1234") && s.contains("--pid 1234"), "{s}");
    let s = hint(&["attach"]);
    assert!(s.contains("--pid") && s.contains("--binary"), "{s}");
    let s = hint(&["trace", "./cmd"]);
    assert!(s.contains("-- ./cmd"), "{s}");
    let s = hint(&["attach", "-p", "1", "--max-overhead", "1"]);
    assert!(s.contains("did you mean 1%?"), "{s}");
    let s = hint(&["attach", "-p", "1", "--alert-threshold", "3"]);
    assert!(s.contains("did you mean 3%?"), "{s}");
}

#[test]
fn gozt_alone_prints_the_usage_and_the_commands() {
    let (status, stdout, stderr) = gozt(&[]);
    assert_eq!(status, 2);
    assert!(stdout.is_empty());
    assert!(stderr.contains("Usage: gozt <COMMAND>"), "{stderr}");
    for c in ["probes", "attach", "trace", "completions", "man"] {
        assert!(
            stderr.lines().any(|l| l.trim_start().starts_with(c)),
            "{c}: {stderr}"
        );
    }
}

#[test]
fn every_command_says_gozt_and_its_version() {
    for args in [
        &["-V"][..],
        &["--version"],
        &["attach", "-V"],
        &["trace", "--version"],
    ] {
        let (status, stdout, stderr) = gozt(args);
        assert_eq!(status, 0, "{args:?}: {stderr}");
        assert_eq!(
            stdout,
            format!("gozt {}\n", env!("CARGO_PKG_VERSION")),
            "{args:?}"
        );
    }
}

/// `-o` that cannot be written fails before anything is traced, and leaves
/// no file behind; a file that exists keeps its content.
#[test]
fn a_bad_output_fails_first_and_an_old_report_survives() {
    let dir = common::TempDir::new("cli");
    let old = dir.join("old.txt");
    std::fs::write(&old, "earlier").unwrap();
    // A bad threshold after a good -o: the run fails, the old file stays.
    let (status, _, stderr) = gozt(&[
        "attach",
        "-p",
        "1",
        "-o",
        old.to_str().unwrap(),
        "--alert-threshold",
        "3",
    ]);
    assert_eq!(status, 2, "{stderr}");
    assert_eq!(std::fs::read_to_string(&old).unwrap(), "earlier");
    // A process that does not exist: -o was opened (and is removed again).
    let new = dir.join("new.txt");
    let (status, _, stderr) = gozt(&["attach", "-p", "999999999", "-o", new.to_str().unwrap()]);
    assert_ne!(status, 0, "{stderr}");
    assert!(
        !new.exists(),
        "a report file that was never written is removed"
    );
}

/// A selection that matches nothing names the functions there and points
/// at `gozt probes`, before anything is loaded.
#[test]
fn an_empty_selection_lists_the_short_names() {
    let bin = common::newest("workload-stripped");
    let bin = bin.to_str().unwrap();
    for args in [
        &["attach", "--binary", bin, "--func", "nomatch*"][..],
        &[
            "attach", "--binary", bin, "--codec", "zstd", "--func", "gzip.*",
        ],
    ] {
        let (status, stdout, stderr) = gozt(args);
        assert_eq!(status, 7, "{args:?}: {stderr}");
        assert!(stdout.is_empty());
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with(&format!("gozt: {bin}: no function matches")),
            "{stderr}"
        );
        assert!(
            stderr.contains(&format!("(see gozt probes {bin})")),
            "{stderr}"
        );
        for short in [
            "zstd.(*Encoder).EncodeAll",
            "gzip.(*Writer).Write",
            "snappy.Encode",
        ] {
            assert!(stderr.contains(short), "{short}: {stderr}");
        }
        assert!(
            !stderr.contains("github.com/"),
            "short names only: {stderr}"
        );
    }
}
