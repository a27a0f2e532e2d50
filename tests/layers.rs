//! The stages import downward only (docs/architecture.md): a module of
//! `src/` may name, through `crate::`, only modules of a lower layer (or its
//! own). The read-only half never reaches the privileged tracer, the
//! tracer never reaches what consumes its events, and the live view never
//! reaches the session it watches.

use std::path::{Path, PathBuf};

/// The layers, lowest first; modules on one line are siblings, which may
/// not name each other either.
const LAYERS: &[&[&str]] = &[
    &["base"],
    &["arch"],
    &["go_binary"],
    &["probe"],
    &["proc"],
    &["event"],
    &["tracer"],
    &["stats"],
    &["render"],
    &["monitor"],
    &["tui", "exporter"],
    &["session"],
    &["app"],
    &["lib"],
];

fn layer(module: &str) -> usize {
    LAYERS
        .iter()
        .position(|l| l.contains(&module))
        .unwrap_or_else(|| panic!("module {module} is in no layer: add it to LAYERS"))
}

fn rust_files(dir: &Path, into: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            rust_files(&path, into);
        } else if path.extension().is_some_and(|x| x == "rs") {
            into.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to.
fn module_of(src: &Path, file: &Path) -> String {
    let first = file.strip_prefix(src).unwrap().components().next().unwrap();
    let name = first.as_os_str().to_str().unwrap();
    name.strip_suffix(".rs").unwrap_or(name).to_string()
}

/// The modules a line names through `crate::`.
fn named(line: &str) -> Vec<&str> {
    line.match_indices("crate::")
        .map(|(i, m)| {
            let rest = &line[i + m.len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .filter(|m| !m.is_empty())
        .collect()
}

#[test]
fn every_import_goes_down() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut climbing = Vec::new();
    for file in &files {
        let from = module_of(&src, file);
        if from == "main" {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for to in named(line) {
                if to != from && layer(to) >= layer(&from) {
                    climbing.push(format!(
                        "{}:{}: {from} names {to}",
                        file.strip_prefix(&src).unwrap().display(),
                        n + 1
                    ));
                }
            }
        }
    }
    assert!(
        climbing.is_empty(),
        "imports that climb:\n{}",
        climbing.join("\n")
    );
}

#[test]
fn the_check_sees_a_climbing_import() {
    assert_eq!(
        named("use crate::tracer::Tracer; crate::base::x"),
        ["tracer", "base"]
    );
    assert!(layer("tracer") > layer("arch"));
    assert!(layer("session") > layer("tui"));
}
