//! What a run's reader should know that the counts do not say: no process
//! was traced, a target's executable was deleted or replaced while it ran,
//! a target's callers could not be named (and why). They go in the
//! report's `warnings` and on stderr.

use super::symbols::ProcSymbols;
use super::targets::BinaryTarget;
use super::Targets;
use crate::proc::identity::{ProcId, ProcessFacts};
use crate::stats::TargetInfo;

/// The warnings of a run of `targets` that traced `traced`.
pub fn of(
    targets: &Targets,
    binary_target: Option<&BinaryTarget>,
    traced: &[TargetInfo],
    sym: &ProcSymbols<'_>,
    unprobed: &[(ProcId, ProcessFacts, String)],
) -> Vec<String> {
    let mut out = Vec::new();
    if traced.is_empty() {
        out.push(match (targets, binary_target) {
            (Targets::Name(name), _) => {
                format!("no process named {name} ran during the run: nothing was traced")
            }
            (_, Some(bt)) => format!(
                "no process ran {} during the run: nothing was traced",
                bt.names().join(" or ")
            ),
            _ => "no process was traced".to_string(),
        });
    }
    for (id, f, why) in unprobed {
        let container = f
            .container_id
            .as_deref()
            .map(|c| format!(" in container {}", crate::render::target::short_id(c)))
            .unwrap_or_default();
        out.push(format!(
            "pid {}{container} runs {}: not traced: {why}",
            id.pid, f.exe
        ));
    }
    for t in traced {
        let who = format!("pid {}{}", t.pid, crate::render::target::tags(t));
        if t.exe_deleted {
            out.push(format!(
                "{who}: its executable {} was deleted or replaced on disk while it ran \
                 (traced through the file it runs)",
                t.exe
            ));
        }
        let id = ProcId {
            pid: t.pid,
            start_ticks: t.start_ticks,
        };
        if let Some(why) = sym.unnamed(id) {
            out.push(format!("{who}: callers not named: {}", why.reason()));
        }
    }
    out
}
