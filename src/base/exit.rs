//! gozt's exit codes, in one table. Every error kind maps to one of them
//! ([`crate::Error::exit`], [`crate::app::run::RunError::exit`]); `gozt --help`,
//! the man page and the README's table are written from it or checked
//! against it (tests/exit_codes.rs). A new code is one line below, and one
//! row in the README's table.

/// Declares [`Exit`] from its rows: variant, code, meaning.
macro_rules! exit_codes {
    ($($name:ident = $code:literal, $meaning:literal;)*) => {
        /// How a run of gozt ended.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Exit {
            $($name,)*
        }

        impl Exit {
            /// Every exit, by code.
            pub const ALL: &'static [Exit] = &[$(Exit::$name),*];

            /// The process's exit code.
            pub fn code(self) -> u8 {
                match self {
                    $(Exit::$name => $code,)*
                }
            }

            /// What it means, as the README's table says it (Markdown).
            pub fn meaning(self) -> &'static str {
                match self {
                    $(Exit::$name => $meaning,)*
                }
            }
        }
    };
}

exit_codes! {
    Success = 0, "success";
    Internal = 1, "internal error";
    Usage = 2, "bad flags or arguments";
    File = 3, "file missing or unreadable (or `-o` not writable, found before tracing)";
    NotElf = 4, "not an ELF file, or neither amd64 nor arm64 (or, for attach and trace, not gozt's own architecture)";
    NotGo = 5, "not a Go binary (or a malformed one)";
    GoTooOld = 6, "Go older than 1.17 (1.18 on arm64: no register ABI)";
    NoCompression = 7, "no compression functions found (or none that `--codec` and `--func` select)";
    NoProcess = 8, "process not found (gone, or never existed)";
    ProcessPermission = 9, "permission denied on the process's executable";
    NotRoot = 10, "not root (attach, trace)";
    NoBtf = 11, "kernel without BTF (and no `--btf FILE`), or a `--btf` file that cannot be read";
    Bpf = 12, "BPF load or attach failure";
    Listen = 13, "cannot listen on the `--prometheus` address";
    NotReport = 14, "not a gozt JSON report (`gozt report`)";
    Kernel = 15, "kernel without what gozt needs: uprobes, the BPF ring buffer, a way to attach (attach cookies or a list of mappings), or the `GOZT_ATTACH` method it lacks";
    Alert = 16, "`--exit-on-alert`, and the run ended in ALERT (its report is written first)";
    BpfDenied = 17, "refused by the kernel as root: a capability missing (named), a seccomp filter (a container's default profile), or a security module; or a kernel without bpf()";
}

impl Exit {
    /// The table as `gozt --help` and the man page show it.
    pub fn help() -> String {
        let mut s = String::from("Exit codes:");
        for e in Exit::ALL {
            s.push_str(&format!(
                "\n  {:>2}  {}",
                e.code(),
                e.meaning().replace('`', "")
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::Exit;

    #[test]
    fn codes_run_from_zero_without_a_gap() {
        for (i, e) in Exit::ALL.iter().enumerate() {
            assert_eq!(usize::from(e.code()), i, "{e:?}");
        }
        assert!(Exit::help().contains("\n  16  --exit-on-alert, and the run ended in ALERT"));
    }
}
