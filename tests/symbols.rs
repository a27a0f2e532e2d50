//! Naming callers of processes gozt cannot look into any more (no root):
//! a stripped PIE of the newest Go, a process that exited before its
//! mappings were read, placed by the address of the RET that ended one of
//! its calls; one that no call places is reported as such; and a pid
//! reused by another process starts afresh.

mod common;

use std::collections::HashMap;

use gozt::event::CallEvent;
use gozt::go_binary::GoBinary;
use gozt::probe::plan::Plan;
use gozt::proc::identity::{ProcId, ProcessFacts, Wanted};
use gozt::proc::os::{ExeMappings, Os};
use gozt::session::symbols::{ProcSymbols, Unnamed};
use gozt::stats::Symbolizer;

/// Every process has exited: nothing can be read of any.
struct AllGone;

impl Os for AllGone {
    fn alive(&self, _: u32) -> bool {
        false
    }
    fn cpu_ns(&self, _: u32) -> Option<u64> {
        None
    }
    fn facts(&self, _: u32) -> Option<ProcessFacts> {
        None
    }
    fn exe_mappings(&self, _: u32) -> Option<ExeMappings> {
        None
    }
    fn running(&self, _: &Wanted) -> Vec<ProcId> {
        Vec::new()
    }
}

fn event(pid: u32, start_ns: u64, func_id: u32, ret_ip: u64) -> CallEvent {
    CallEvent {
        tgid: pid,
        proc_start_ns: start_ns,
        ret_ip,
        goid: 1,
        func_id,
        start_ns: 0,
        duration_ns: 1,
        bytes_in: None,
        bytes_out: None,
        error: false,
        stack: vec![],
        ..CallEvent::default()
    }
}

#[test]
fn a_gone_pie_is_placed_by_a_ret_and_its_functions_named() {
    let path = common::newest("workload-pie-stripped");
    let bin = GoBinary::open(&path).unwrap();
    assert!(bin.pie);
    let plan = Plan::build(&bin).unwrap();
    let probe = plan.probes.iter().find(|p| p.usable()).unwrap();
    let rets: Vec<u64> = probe
        .ret_offsets
        .iter()
        .map(|&o| bin.layout.vaddr_of_offset(o).unwrap())
        .collect();
    // A function the caller could be: main.zstdRound's first bytes.
    let caller = bin
        .functions
        .iter()
        .find(|f| f.name == "main.zstdRound")
        .unwrap()
        .clone();
    let bins = vec![bin];
    let mut sym = ProcSymbols::new(&bins, HashMap::new(), true).with_rets(vec![(0, rets.clone())]);
    let base = 0x5634_1200_0000;
    let s = 7_000_000_000; // ns since boot

    // No RET address: not placed, and said why.
    sym.observe(&AllGone, &event(41, s, 0, 0));
    assert_eq!(sym.function_at(41, base + caller.addr + 4), None);
    let id = ProcId::of_event(41, s);
    assert_eq!(sym.unnamed(id), Some(Unnamed::NotPlaced));

    // Any of its RETs places it, exactly.
    for r in &rets {
        let pid = 42 + *r as u32 % 1000;
        sym.observe(&AllGone, &event(pid, s, 0, base + r));
        assert_eq!(
            sym.function_at(pid, base + caller.addr + 4).as_deref(),
            Some("main.zstdRound")
        );
        assert_eq!(sym.unnamed(ProcId::of_event(pid, s)), None);
    }

    // The pid taken by another process, loaded elsewhere: the earlier
    // names are not its.
    let other = base + 0x10_0000;
    let first = 42 + rets[0] as u32 % 1000;
    assert!(sym.observe(&AllGone, &event(first, s + 50_000_000, 0, other + rets[0])));
    assert_ne!(
        sym.function_at(first, base + caller.addr + 4).as_deref(),
        Some("main.zstdRound")
    );
    assert_eq!(
        sym.function_at(first, other + caller.addr + 4).as_deref(),
        Some("main.zstdRound")
    );
}
