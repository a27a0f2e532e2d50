//! One table of exit codes (`gozt::Exit`), said the same way everywhere:
//! the README's table, `gozt --help`, the man page, and the help of the
//! flag that picks one (`--exit-on-alert`).

mod common;

use gozt::Exit;

/// The README's exit-code table: (code, meaning) per row.
fn readme_table() -> Vec<(u8, String)> {
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    let section = readme
        .split("\n### Exit codes\n")
        .nth(1)
        .expect("the README has an Exit codes section");
    section
        .lines()
        .skip_while(|l| !l.starts_with("| code |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").collect();
            assert_eq!(cells.len(), 2, "{l}");
            (
                cells[0].trim().parse().unwrap(),
                cells[1].trim().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_readme_table_is_the_code_table() {
    let want: Vec<(u8, String)> = Exit::ALL
        .iter()
        .map(|e| (e.code(), e.meaning().to_string()))
        .collect();
    assert_eq!(readme_table(), want);
}

#[test]
fn help_and_man_page_list_every_code() {
    let (status, help, err) = common::gozt(&["--help"]);
    assert_eq!(status, 0, "{err}");
    assert!(help.contains(&Exit::help()), "{help}");
    let (status, man, err) = common::gozt(&["man"]);
    assert_eq!(status, 0, "{err}");
    // roff escapes minus signs and apostrophes.
    let man = man.replace("\\-", "-").replace("\\*(Aq", "'");
    for e in Exit::ALL {
        let line = format!("  {:>2}  {}", e.code(), e.meaning().replace('`', ""));
        assert!(help.contains(&line), "--help lacks {line}");
        assert!(man.contains(&line), "the man page lacks {line}:\n{man}");
    }
    for cmd in ["attach", "trace"] {
        let (_, help, _) = common::gozt(&[cmd, "--help"]);
        let want = format!(
            "Exit with code {} when the run ends in ALERT",
            Exit::Alert.code()
        );
        assert!(help.contains(&want), "{cmd}: {help}");
    }
}

#[test]
fn a_bad_flag_exits_as_the_table_says() {
    let (status, _, _) = common::gozt(&["attach", "--no-such-flag"]);
    assert_eq!(status, i32::from(Exit::Usage.code()));
    let (status, _, _) = common::gozt(&["report", "/nonexistent/report.json"]);
    assert_eq!(status, i32::from(Exit::File.code()));
}
