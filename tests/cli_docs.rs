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

/// The pages the README's install step names: its `gozt man --dir` line
/// ends with them as a comment (`# gozt.1, gozt-probes.1, ...`).
fn readme_man_pages() -> Vec<String> {
    let readme = include_str!("../README.md");
    let line = readme
        .lines()
        .find(|l| l.starts_with("gozt man --dir "))
        .expect("the README installs the man pages");
    let (_, pages) = line.split_once('#').expect("the line names the pages");
    pages.split(',').map(|p| p.trim().to_string()).collect()
}

#[test]
fn man_pages_on_stdout_and_into_a_directory() {
    let (status, stdout, stderr) = gozt(&["man"]);
    assert_eq!(status, 0, "{stderr}");
    assert!(stdout.contains(".TH gozt 1"), "{stdout}");
    assert!(stdout.contains("attach"), "{stdout}");
    // clap's help subcommand is no page: the pages are the help.
    assert!(!stdout.contains("gozt\\-help"), "{stdout}");
    let dir = common::TempDir::new("man");
    let (status, stdout, stderr) = gozt(&["man", "--dir", dir.to_str().unwrap()]);
    assert_eq!(status, 0, "{stderr}");
    // Exactly the README's pages, each listed once on stdout.
    let mut wanted = readme_man_pages();
    wanted.sort();
    let mut written: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(written, wanted);
    let mut listed: Vec<String> = stdout.lines().map(str::to_string).collect();
    listed.sort();
    let paths: Vec<String> = wanted
        .iter()
        .map(|p| dir.join(p).to_string_lossy().into_owned())
        .collect();
    assert_eq!(listed, paths);
    for page in &wanted {
        let text = std::fs::read_to_string(dir.join(page)).unwrap();
        assert!(text.contains(".TH"), "{page}");
    }
    let attach = std::fs::read_to_string(dir.join("gozt-attach.1")).unwrap();
    assert!(attach.contains("alert\\-threshold"), "{attach}");
    // A file already there is neither listed nor touched.
    std::fs::write(dir.join("gozt-help.1"), "not ours").unwrap();
    let (status, again, _) = gozt(&["man", "--dir", dir.to_str().unwrap()]);
    assert_eq!(status, 0);
    assert_eq!(again, stdout);
    assert_eq!(
        std::fs::read_to_string(dir.join("gozt-help.1")).unwrap(),
        "not ours"
    );
}
