//! What gozt says about itself: every command's `--help` ends with
//! examples, the percentage rule is in the help of the flags that take one,
//! and `gozt completions` and `gozt man` generate what the README installs.

mod common;

use common::gozt;

#[test]
fn every_command_help_ends_with_examples() {
    for cmd in ["probes", "attach", "trace", "report", "completions", "man"] {
        let (status, stdout, stderr) = gozt(&[cmd, "--help"]);
        assert_eq!(status, 0, "{cmd}: {stderr}");
        let examples = stdout
            .find("Examples:\n")
            .unwrap_or_else(|| panic!("{cmd}: no examples:\n{stdout}"));
        // Only examples (and the percentage rule) come after the options.
        assert!(stdout.find("Options:").unwrap() < examples, "{stdout}");
        assert!(
            stdout[examples..].contains(&format!("\n  gozt {cmd} ")),
            "{cmd}: {stdout}"
        );
    }
    let (_, top, _) = gozt(&["--help"]);
    assert!(top.contains("Examples:\n  gozt probes"), "{top}");
}

#[test]
fn the_percentage_rule_is_in_the_help() {
    for cmd in ["attach", "trace"] {
        let (_, stdout, _) = gozt(&[cmd, "--help"]);
        assert!(stdout.contains("--alert-threshold <PERCENT>"), "{stdout}");
        assert!(stdout.contains("--max-overhead <PERCENT>"), "{stdout}");
        assert!(
            stdout.contains("N% from 0% to 100%, or a ratio below 1"),
            "{stdout}"
        );
    }
    let (_, stdout, _) = gozt(&["attach", "--help"]);
    assert!(stdout.contains("-p, --pid <PID>"), "{stdout}");
    assert!(stdout.contains("--ns"), "{stdout}");
}

#[test]
fn completions_for_each_shell() {
    for (shell, marker) in [
        ("bash", "_gozt()"),
        ("zsh", "#compdef gozt"),
        ("fish", "complete -c gozt"),
    ] {
        let (status, stdout, stderr) = gozt(&["completions", shell]);
        assert_eq!(status, 0, "{shell}: {stderr}");
        assert!(stdout.contains(marker), "{shell}: {stdout}");
        // The commands and their flags are in it.
        for word in ["attach", "alert-threshold", "binary"] {
            assert!(stdout.contains(word), "{shell} lacks {word}");
        }
    }
    // bash accepts the script.
    let (_, script, _) = gozt(&["completions", "bash"]);
    let out = std::process::Command::new("bash")
        .args(["-n", "-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn man_pages_on_stdout_and_into_a_directory() {
    let (status, stdout, stderr) = gozt(&["man"]);
    assert_eq!(status, 0, "{stderr}");
    assert!(stdout.contains(".TH gozt 1"), "{stdout}");
    assert!(stdout.contains("attach"), "{stdout}");
    let dir = std::env::temp_dir().join(format!("gozt-man-{}", std::process::id()));
    let (status, stdout, stderr) = gozt(&["man", "--dir", dir.to_str().unwrap()]);
    assert_eq!(status, 0, "{stderr}");
    for page in ["gozt.1", "gozt-attach.1", "gozt-trace.1", "gozt-probes.1"] {
        let path = dir.join(page);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH"), "{page}");
        assert!(stdout.contains(path.to_str().unwrap()), "{stdout}");
    }
    let attach = std::fs::read_to_string(dir.join("gozt-attach.1")).unwrap();
    assert!(attach.contains("alert\\-threshold"), "{attach}");
    std::fs::remove_dir_all(&dir).unwrap();
}
