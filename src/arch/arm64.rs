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

use super::CodeFacts;
use super::Reg;
use crate::base::gozt_h;

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

const _: () = assert!(INT_REGS.len() as u64 == gozt_h::GOZT_ARM64_INT_REGS);

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
    let mut facts = CodeFacts {
        stack_check_branch: stack_check_branch(code, addr),
        ..CodeFacts::default()
    };
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

/// The `B.LS` of a Go prologue's stack check (`ldr x16, [x28, #16]`, a
/// `sub x17, sp, #n` for large frames, `cmp`, `b.ls` forward to the
/// `bl runtime.morestack` at the function's end; for huge frames the
/// size in X27 and a `subs` whose `b.lo` comes first), when everything
/// before it writes only X16, X17, X27 and the flags: there the arguments,
/// SP, LR and g are the entry's. The kernel simulates a `b.cond` under a
/// uprobe where it single-steps the entry's load.
pub fn stack_check_branch(code: &[u8], addr: u64) -> Option<u64> {
    /// Instructions looked at from the entry.
    const PROLOGUE: usize = 5;
    let end = addr.saturating_add(code.len() as u64);
    for (pc, insn) in words(code, addr).take(PROLOGUE) {
        if insn & 0xff00_0010 == 0x5400_0000 {
            let target = branch_target(pc, insn, 5, 19);
            return (target > pc && target < end).then_some(pc);
        }
        // X16 and X17 (the linker's scratch registers) and X27 (Go's
        // REGTMP) hold no argument.
        let scratch = |r: u32| r == 16 || r == 17 || r == 27;
        // LDR Xt, [Xn, #imm] into a scratch register.
        let load = ldr64(insn).is_some_and(|(t, _, _)| scratch(t));
        // SUB Xd, Xn|SP, #imm (64-bit, flags untouched), MOVZ or MOVK (a
        // large frame's size) into one.
        let set = matches!(insn & 0xff80_0000, 0xd100_0000 | 0xd280_0000 | 0xf280_0000)
            && scratch(insn & 31);
        // CMP/CMN, or SUBS/ADDS into a scratch register (shifted, extended
        // or immediate operand).
        let compare = (insn & 31 == 31 || scratch(insn & 31))
            && matches!(insn >> 24, 0xeb | 0xab | 0xf1 | 0xb1);
        if !(load || set || compare) {
            return None;
        }
    }
    None
}

/// The instruction words of `code`, each with its address.
fn words(code: &[u8], addr: u64) -> impl Iterator<Item = (u64, u32)> + '_ {
    code.chunks_exact(4).enumerate().map(move |(i, w)| {
        (
            addr + 4 * i as u64,
            u32::from_le_bytes([w[0], w[1], w[2], w[3]]),
        )
    })
}

/// `LDR Xt, [Xn, #imm]` (64-bit, unsigned offset): (t, n, byte offset).
fn ldr64(insn: u32) -> Option<(u32, u32, u64)> {
    (insn & 0xffc0_0000 == 0xf940_0000).then(|| {
        (
            insn & 31,
            (insn >> 5) & 31,
            u64::from((insn >> 10) & 0xfff) * 8,
        )
    })
}

/// `STR Xt, [Xn, #imm]` (64-bit, unsigned offset): (t, n, byte offset).
fn str64(insn: u32) -> Option<(u32, u32, u64)> {
    (insn & 0xffc0_0000 == 0xf900_0000).then(|| {
        (
            insn & 31,
            (insn >> 5) & 31,
            u64::from((insn >> 10) & 0xfff) * 8,
        )
    })
}

/// `MOV Xd, Xm` (`ORR Xd, XZR, Xm`): (d, m).
fn mov64(insn: u32) -> Option<(u32, u32)> {
    (insn & 0xffe0_ffe0 == 0xaa00_03e0).then_some((insn & 31, (insn >> 16) & 31))
}

/// Whether `insn` may write register `r` (0-30): its Rd/Rt field is `r`
/// and it is neither a store nor a branch nor a compare-and-branch, which
/// read that field. An over-approximation: a miss only ends a search.
fn may_write(insn: u32, r: u32) -> bool {
    let op0 = (insn >> 25) & 0xf;
    let is_branch = op0 & 0b1110 == 0b1010;
    let is_load_store = op0 & 0b0101 == 0b0100;
    let is_store = is_load_store && (insn >> 22) & 1 == 0 && insn & 0x3b00_0000 == 0x3900_0000;
    !is_branch && !is_store && insn & 31 == r
}

/// The calls of an `io.Writer`'s `Write` (sink sites): `BLR Xn` where Xn
/// was loaded from an itab's first method slot (`MOVD 24(Rm), Rn`),
/// possibly through register copies, within the 16 instructions before.
/// Addresses ascending.
pub fn writer_calls(code: &[u8], addr: u64) -> Vec<u64> {
    const BACK: usize = 16;
    let all: Vec<(u64, u32)> = words(code, addr).collect();
    let mut calls = Vec::new();
    for (i, &(pc, insn)) in all.iter().enumerate() {
        // BLR Xn
        if insn & 0xffff_fc1f != 0xd63f_0000 {
            continue;
        }
        let mut target = (insn >> 5) & 31;
        for &(_, prev) in all[i.saturating_sub(BACK)..i].iter().rev() {
            if !may_write(prev, target) {
                continue;
            }
            if let Some((_, m)) = mov64(prev) {
                target = m;
                continue;
            }
            if ldr64(prev).is_some_and(|(_, base, off)| off == 0x18 && base != 31) {
                calls.push(pc);
            }
            break;
        }
    }
    calls
}

/// Offsets `d` of every 8-byte word that the code adds `value` to: `LDR
/// Xt, [Xb, #d]`, `ADD Xs, Xt, #value`, `STR Xs, [Xb, #d]`, with at most 3
/// other instructions between the load and the add and between the add and
/// the store. In order.
pub fn adds_to_memory(code: &[u8], value: i64) -> Vec<u64> {
    const GAP: usize = 4;
    let Ok(imm) = u32::try_from(value) else {
        return Vec::new();
    };
    if imm > 0xfff {
        return Vec::new();
    }
    let all: Vec<u32> = words(code, 0).map(|(_, w)| w).collect();
    let mut found = Vec::new();
    for (i, &insn) in all.iter().enumerate() {
        // ADD Xd, Xn, #imm (64-bit, unshifted)
        if insn & 0xffc0_0000 != 0x9100_0000 || (insn >> 10) & 0xfff != imm {
            continue;
        }
        let (d, n) = (insn & 31, (insn >> 5) & 31);
        let load = all[i.saturating_sub(GAP)..i]
            .iter()
            .rev()
            .find_map(|&w| ldr64(w).filter(|&(t, _, _)| t == n));
        let Some((_, base, off)) = load else { continue };
        let stored = all[i + 1..(i + 1 + GAP).min(all.len())]
            .iter()
            .any(|&w| str64(w) == Some((d, base, off)));
        if stored {
            found.push(off);
        }
    }
    found
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
    fn the_stack_check_branch_is_found_in_go_prologues_only() {
        // A function of 12 words: `words`, RET, zero padding.
        let function = |words: &[u32]| {
            let mut all = words.to_vec();
            all.push(RET);
            all.resize(12, 0);
            code(&all)
        };
        // ldr x16, [x28, #16]; cmp sp, x16; b.ls +0x24; str x30, [sp, #-32]!
        let small = function(&[0xf940_0b90, 0xeb30_63ff, 0x5400_0129, 0xf81e_0ffe]);
        assert_eq!(stack_check_branch(&small, 0x1000), Some(0x1008));
        // ldr x16, [x28, #16]; sub x17, sp, #0x60; cmp x17, x16; b.ls +0x20
        let large = function(&[0xf940_0b90, 0xd101_83f1, 0xeb10_023f, 0x5400_0109]);
        assert_eq!(stack_check_branch(&large, 0x1000), Some(0x100c));
        // A huge frame: ldr x16, [x28, #16]; mov x27, #0x30;
        // movk x27, #0x10, lsl #16; subs x17, sp, x27; b.lo +0x1c
        let huge = [
            0xf940_0b90,
            0xd280_061b,
            0xf2a0_021b,
            0xeb3b_63f1,
            0x5400_00e3,
        ];
        assert_eq!(stack_check_branch(&function(&huge), 0x1000), Some(0x1010));
        // ldr x0, [x28, #16] (an argument register); b.ls
        let clobbers = function(&[0xf940_0b80, 0x5400_0129]);
        assert_eq!(stack_check_branch(&clobbers, 0x1000), None);
        // str x30, [sp, #-32]! first (no stack check)
        let nosplit = function(&[0xf81e_0ffe, 0x5400_0129]);
        assert_eq!(stack_check_branch(&nosplit, 0x1000), None);
    }

    #[test]
    fn a_trailing_partial_word_is_ignored() {
        let mut bytes = code(&[RET]);
        bytes.extend_from_slice(&[0xc0, 0x03]);
        assert_eq!(scan_code(&bytes, 0x3000).rets, vec![0x3000]);
    }

    #[test]
    fn writer_calls_are_calls_through_an_itabs_first_slot() {
        // ldr x5, [x4, #24]; mov x0, x2; blr x5 (io.Writer.Write);
        // ldr x6, [x4, #32]; blr x6 (another slot);
        // ldr x7, [x3, #24]; mov x8, x7; blr x8 (through a copy);
        // ldr x9, [x3, #24]; ldr x9, [x9]; blr x9 (reloaded: not a slot)
        let words = [
            0xf9400c85, 0xaa0203e0, 0xd63f00a0, 0xf9401086, 0xd63f00c0, 0xf9400c67, 0xaa0703e8,
            0xd63f0100, 0xf9400c69, 0xf9400129, 0xd63f0120,
        ];
        assert_eq!(writer_calls(&code(&words), 0x1000), vec![0x1008, 0x101c]);
    }

    #[test]
    fn adds_of_a_value_to_memory_are_found() {
        // ldr x1, [x0, #0xd8]; add x1, x1, #4; str x1, [x0, #0xd8];
        // ldr x2, [x0, #8]; add x2, x2, #1; str x2, [x0, #8];
        // ldr x3, [x0, #16]; add x3, x3, #4; str x3, [x0, #24] (elsewhere)
        let words = [
            0xf9406c01, 0x91001021, 0xf9006c01, 0xf9400402, 0x91000442, 0xf9000402, 0xf9400803,
            0x91001063, 0xf9000c03,
        ];
        assert_eq!(adds_to_memory(&code(&words), 4), vec![0xd8]);
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
