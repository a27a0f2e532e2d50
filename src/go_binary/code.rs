//! Machine-code facts about one function: where it returns, and where it jumps
//! out when it never returns itself (tail-call wrappers).

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
/// INT3, so a linear sweep visits every instruction.
pub fn scan(code: &[u8], addr: u64) -> CodeFacts {
    let end = addr + code.len() as u64;
    let mut facts = CodeFacts::default();
    let mut decoder = Decoder::with_ip(64, code, addr, DecoderOptions::NONE);
    for insn in &mut decoder {
        match insn.flow_control() {
            FlowControl::Return => facts.rets.push(insn.ip()),
            FlowControl::UnconditionalBranch | FlowControl::ConditionalBranch
                if matches!(insn.op0_kind(), OpKind::NearBranch64) =>
            {
                let target = insn.near_branch_target();
                if (target < addr || target >= end) && !facts.jumps_out.contains(&target) {
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
}
