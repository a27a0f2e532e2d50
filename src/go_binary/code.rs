//! Machine-code facts about one function: where it returns, and where it jumps
//! out when it never returns itself (tail-call wrappers).

use std::collections::HashSet;

use iced_x86::{Decoder, DecoderOptions, FlowControl, OpKind};

/// What decoding a function's bytes found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CodeFacts {
    /// Virtual addresses of every RET instruction, ascending.
    pub rets: Vec<u64>,
    /// Targets of direct jumps that leave the function.
    pub jumps_out: Vec<u64>,
}

/// Decodes `code`, the bytes of a function at `addr`, linearly. Go emits no
/// data inside functions (jump tables live in rodata), and pads functions with
/// INT3, so a linear sweep visits every instruction. The work is linear in
/// `code.len()` whatever the bytes are: each exit is recorded once, by a set.
pub fn scan(code: &[u8], addr: u64) -> CodeFacts {
    let end = addr.saturating_add(code.len() as u64);
    let mut facts = CodeFacts::default();
    let mut seen = HashSet::new();
    let mut decoder = Decoder::with_ip(64, code, addr, DecoderOptions::NONE);
    for insn in &mut decoder {
        match insn.flow_control() {
            FlowControl::Return => facts.rets.push(insn.ip()),
            FlowControl::UnconditionalBranch | FlowControl::ConditionalBranch
                if matches!(insn.op0_kind(), OpKind::NearBranch64) =>
            {
                let target = insn.near_branch_target();
                if (target < addr || target >= end) && seen.insert(target) {
                    facts.jumps_out.push(target);
                }
            }
            _ => {}
        }
    }
    facts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_rets_and_tail_jumps() {
        // push rbp; ret; ret 8; jmp +0x100 (out); int3
        let code = [
            0x55, 0xc3, 0xc2, 0x08, 0x00, 0xe9, 0x00, 0x01, 0x00, 0x00, 0xcc,
        ];
        let f = scan(&code, 0x1000);
        assert_eq!(f.rets, vec![0x1001, 0x1002]);
        assert_eq!(f.jumps_out, vec![0x1000 + 10 + 0x100]);
    }

    #[test]
    fn jumps_inside_are_not_exits() {
        // jmp -2 (to itself); ret
        let f = scan(&[0xeb, 0xfe, 0xc3], 0x2000);
        assert_eq!(f.rets, vec![0x2002]);
        assert!(f.jumps_out.is_empty());
    }

    #[test]
    fn many_exits_are_each_listed_once_in_order() {
        // 2 MiB of `jmp rel32` out of the function (every other one to the
        // same target as the one before it), then a RET: the input that took
        // a quadratic scan 23 s.
        const JUMPS: u64 = (2 << 20) / 5;
        let addr = 0x1000_0000u64;
        let mut code = Vec::new();
        for i in 0..JUMPS {
            let ip = addr + code.len() as u64;
            let target = 0x1000 + (i / 2) * 16;
            let rel = (target as i64 - (ip as i64 + 5)) as i32;
            code.push(0xe9);
            code.extend_from_slice(&rel.to_le_bytes());
        }
        code.push(0xc3);
        let f = scan(&code, addr);
        assert_eq!(f.rets, vec![addr + JUMPS * 5]);
        let want: Vec<u64> = (0..JUMPS.div_ceil(2)).map(|i| 0x1000 + i * 16).collect();
        assert_eq!(f.jumps_out, want);
    }
}
