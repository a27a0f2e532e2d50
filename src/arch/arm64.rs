//! arm64 under Go's register ABI (Go 1.18+ on arm64): integer arguments and
//! results in R0-R15 (X0-X15), `g` in R28, the return address in LR (X30) at
//! a function's entry (never on the stack), the frame pointer in R29 (X29),
//! which at the entry is still the caller's. Instructions are 4 bytes, so the
//! code is scanned word by word: RET is the fixed word `RET X30`, and a
//! function that never returns leaves through `B` (or a conditional branch)
//! to another, a tail call, as on amd64.
//!
//! BPF register indexes are the register numbers (bpf/gozt.h,
//! `GOZT_ARM64_X0`).

use super::Reg;
use crate::go_binary::code::CodeFacts;
use crate::tracer::consts;

/// Assignment order of integer registers.
pub const INT_REGS: [Reg; 16] = [
    Reg::X0,
    Reg::X1,
    Reg::X2,
    Reg::X3,
    Reg::X4,
    Reg::X5,
    Reg::X6,
    Reg::X7,
    Reg::X8,
    Reg::X9,
    Reg::X10,
    Reg::X11,
    Reg::X12,
    Reg::X13,
    Reg::X14,
    Reg::X15,
];

const _: () = assert!(INT_REGS.len() as u64 == consts::GOZT_ARM64_INT_REGS);

/// The register holding the current goroutine's `g` (Go's R28, `g`).
pub const G_REGISTER: &str = "x28";

/// The encoding of `RET` (`ret x30`), the only return Go's compiler emits.
pub const RET: u32 = 0xd65f_03c0;

/// The register number of an arm64 register, None for amd64's.
pub(super) fn number(r: Reg) -> Option<u8> {
    INT_REGS.iter().position(|&x| x == r).map(|n| n as u8)
}

pub(super) fn name(r: Reg) -> &'static str {
    const NAMES: [&str; 16] = [
        "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13",
        "x14", "x15",
    ];
    number(r).map_or("?", |n| NAMES[n as usize])
}

/// The target of a branch at `pc` whose signed word offset is the
/// `bits`-wide field at bit `shift` of `insn`.
fn branch_target(pc: u64, insn: u32, shift: u32, bits: u32) -> u64 {
    let field = (insn >> shift) & ((1 << bits) - 1);
    // Sign-extend the field, then scale it by the instruction size.
    let offset = ((field << (32 - bits)) as i32 >> (32 - bits)) as i64 * 4;
    pc.wrapping_add_signed(offset)
}

/// The target of `insn` at `pc` when it is a direct jump: B, B.cond,
/// CBZ/CBNZ or TBZ/TBNZ (BL is a call, and register jumps have no target).
fn jump_target(pc: u64, insn: u32) -> Option<u64> {
    if insn & 0xfc00_0000 == 0x1400_0000 {
        // B imm26
        Some(branch_target(pc, insn, 0, 26))
    } else if insn & 0xff00_0010 == 0x5400_0000 {
        // B.cond imm19
        Some(branch_target(pc, insn, 5, 19))
    } else if insn & 0x7e00_0000 == 0x3400_0000 {
        // CBZ, CBNZ imm19
        Some(branch_target(pc, insn, 5, 19))
    } else if insn & 0x7e00_0000 == 0x3600_0000 {
        // TBZ, TBNZ imm14
        Some(branch_target(pc, insn, 5, 14))
    } else {
        None
    }
}

/// RETs and jumps out of one function's code at `addr`: each aligned word
/// is one instruction. Go pads arm64 functions with zero words and keeps
/// its literal pools after unconditional branches, where no control
/// reaches; a pool word equal to RET's encoding would be taken for one
/// (none of the constants Go's compiler pools is that value in practice).
/// Linear in `code.len()`: each exit is recorded once, by a set.
pub fn scan_code(code: &[u8], addr: u64) -> CodeFacts {
    let end = addr.saturating_add(code.len() as u64);
    let mut facts = CodeFacts::default();
    let mut seen = std::collections::HashSet::new();
    for (i, word) in code.chunks_exact(4).enumerate() {
        let pc = addr + 4 * i as u64;
        let insn = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
        if insn == RET {
            facts.rets.push(pc);
        } else if let Some(target) = jump_target(pc, insn) {
            if (target < addr || target >= end) && seen.insert(target) {
                facts.jumps_out.push(target);
            }
        }
    }
    facts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(words: &[u32]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    #[test]
    fn finds_rets_and_tail_jumps() {
        // stp x29, x30, [sp, #-16]!; ret; b +0x100 (out); b.ne -8 (in);
        // cbz x0, -0x1000 (out); tbnz w1, #3, +8 (in); ret; udf
        let words = [
            0xa9bf_7bfd,
            RET,
            0x1400_0040,
            0x54ff_ffc1,
            0xb4ff_8000,
            0x3718_0041,
            RET,
            0x0000_0000,
        ];
        let f = scan_code(&code(&words), 0x1000);
        assert_eq!(f.rets, vec![0x1004, 0x1018]);
        assert_eq!(f.jumps_out, vec![0x1008 + 0x100, 0x1010 - 0x1000]);
    }

    #[test]
    fn calls_and_register_returns_are_not_exits() {
        // bl +0x1000; br x16; ret x1 (not Go's RET); b .
        let words = [0x9400_0400, 0xd61f_0200, 0xd65f_0020, 0x1400_0000];
        let f = scan_code(&code(&words), 0x2000);
        assert!(f.rets.is_empty());
        assert!(f.jumps_out.is_empty());
    }

    #[test]
    fn a_trailing_partial_word_is_ignored() {
        let mut bytes = code(&[RET]);
        bytes.extend_from_slice(&[0xc0, 0x03]);
        assert_eq!(scan_code(&bytes, 0x3000).rets, vec![0x3000]);
    }

    #[test]
    fn bpf_indexes_are_register_numbers() {
        for (i, r) in INT_REGS.iter().enumerate() {
            assert_eq!(r.bpf_index() as usize, i, "{r:?}");
            assert_eq!(r.dwarf_number() as usize, i, "{r:?}");
            assert_eq!(r.name(), format!("x{i}"));
        }
    }
}
