//! amd64 under Go's register ABI (Go 1.17+): integer arguments and results in
//! RAX, RBX, RCX, RDI, RSI, R8, R9, R10, R11, `g` in R14, the frame pointer in
//! RBP. Register indexes shared with the BPF programs come from bpf/gozt.h.
//!
//! The code is decoded with iced-x86: RETs and jumps out of a function,
//! calls of a stream's io.Writer, and adds to memory.

use std::collections::HashSet;

use iced_x86::{
    Code, Decoder, DecoderOptions, FlowControl, InstructionInfoFactory, OpKind, Register,
};

use super::{CodeFacts, Reg};
use crate::base::gozt_h;

/// Assignment order of integer registers.
pub const INT_REGS: [Reg; 9] = [
    Reg::Rax,
    Reg::Rbx,
    Reg::Rcx,
    Reg::Rdi,
    Reg::Rsi,
    Reg::R8,
    Reg::R9,
    Reg::R10,
    Reg::R11,
];

const _: () = assert!(INT_REGS.len() as u64 == gozt_h::GOZT_INT_REGS);

/// The register holding the current goroutine's `g`.
pub const G_REGISTER: &str = "r14";

/// The DWARF register number (System V x86-64 numbering) of an amd64
/// register; arm64 registers are numbered by [`super::arm64`].
pub(super) fn dwarf_number(r: Reg) -> u16 {
    match r {
        Reg::Rax => 0,
        Reg::Rcx => 2,
        Reg::Rbx => 3,
        Reg::Rsi => 4,
        Reg::Rdi => 5,
        Reg::R8 => 8,
        Reg::R9 => 9,
        Reg::R10 => 10,
        Reg::R11 => 11,
        _ => unreachable!("{r:?} is an arm64 register"),
    }
}

/// The register's index in the BPF programs' register copy (gozt.h).
pub(super) fn bpf_index(r: Reg) -> u8 {
    (match r {
        Reg::Rax => gozt_h::GOZT_AMD64_RAX,
        Reg::Rbx => gozt_h::GOZT_AMD64_RBX,
        Reg::Rcx => gozt_h::GOZT_AMD64_RCX,
        Reg::Rdi => gozt_h::GOZT_AMD64_RDI,
        Reg::Rsi => gozt_h::GOZT_AMD64_RSI,
        Reg::R8 => gozt_h::GOZT_AMD64_R8,
        Reg::R9 => gozt_h::GOZT_AMD64_R9,
        Reg::R10 => gozt_h::GOZT_AMD64_R10,
        Reg::R11 => gozt_h::GOZT_AMD64_R11,
        _ => unreachable!("{r:?} is an arm64 register"),
    }) as u8
}

pub(super) fn name(r: Reg) -> &'static str {
    match r {
        Reg::Rax => "rax",
        Reg::Rbx => "rbx",
        Reg::Rcx => "rcx",
        Reg::Rdi => "rdi",
        Reg::Rsi => "rsi",
        Reg::R8 => "r8",
        Reg::R9 => "r9",
        Reg::R10 => "r10",
        Reg::R11 => "r11",
        _ => unreachable!("{r:?} is an arm64 register"),
    }
}

/// Decodes `code`, the bytes of a function at `addr`, linearly. Go emits no
/// data inside functions (jump tables live in rodata), and pads functions with
/// INT3, so a linear sweep visits every instruction. The work is linear in
/// `code.len()` whatever the bytes are: each exit is recorded once, by a set.
pub fn scan_code(code: &[u8], addr: u64) -> CodeFacts {
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

/// The calls of an `io.Writer`'s `Write` in a function's code: indirect
/// calls through a register loaded from an itab's first method slot
/// (`mov reg, [itab+0x18]`; io.Writer has one method). Other interfaces'
/// first methods load from the same slot, so callers scan only functions
/// whose interface calls are their writer's. A slot load further back than
/// the instructions that set up the arguments is not found, and the call is
/// not listed. Addresses ascending.
pub fn writer_calls(code: &[u8], addr: u64) -> Vec<u64> {
    /// Instructions searched back from a call for the slot load.
    const BACK: usize = 16;
    let mut calls = Vec::new();
    let mut recent: std::collections::VecDeque<iced_x86::Instruction> =
        std::collections::VecDeque::with_capacity(BACK);
    let mut info = InstructionInfoFactory::new();
    let mut decoder = Decoder::with_ip(64, code, addr, DecoderOptions::NONE);
    for insn in &mut decoder {
        if insn.flow_control() == FlowControl::IndirectCall && insn.op0_kind() == OpKind::Register {
            // Follow the target back through register copies to the
            // instruction that loaded it.
            let mut target = insn.op0_register().full_register();
            for prev in recent.iter().rev() {
                let writes = info
                    .info(prev)
                    .used_registers()
                    .iter()
                    .any(|u| u.register().full_register() == target && is_write(u.access()));
                if !writes {
                    continue;
                }
                let copy = matches!(prev.code(), Code::Mov_r64_rm64 | Code::Mov_rm64_r64)
                    && prev.op0_kind() == OpKind::Register
                    && prev.op1_kind() == OpKind::Register;
                if copy {
                    target = prev.op1_register().full_register();
                    continue;
                }
                let slot_load = prev.code() == Code::Mov_r64_rm64
                    && prev.op1_kind() == OpKind::Memory
                    && prev.memory_index() == Register::None
                    && prev.memory_base() != Register::RIP
                    && prev.memory_displacement64() == 0x18;
                if slot_load {
                    calls.push(insn.ip());
                }
                break;
            }
        }
        if recent.len() == BACK {
            recent.pop_front();
        }
        recent.push_back(insn);
    }
    calls
}

fn is_write(access: iced_x86::OpAccess) -> bool {
    use iced_x86::OpAccess::*;
    matches!(access, Write | CondWrite | ReadWrite | ReadCondWrite)
}

/// Displacements `d` of every `add qword ptr [reg+d], imm` with `imm` ==
/// `value` in a function's code, in order.
pub fn adds_to_memory(code: &[u8], addr: u64, value: i64) -> Vec<u64> {
    let mut found = Vec::new();
    let mut decoder = Decoder::with_ip(64, code, addr, DecoderOptions::NONE);
    for insn in &mut decoder {
        if matches!(insn.code(), Code::Add_rm64_imm8 | Code::Add_rm64_imm32)
            && insn.op0_kind() == OpKind::Memory
            && insn.memory_index() == Register::None
            && insn.memory_base() != Register::RIP
            && insn.immediate(1) as i64 == value
        {
            found.push(insn.memory_displacement64());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bpf_indexes_follow_the_abi_order() {
        // The programs copy registers into the slots gozt.h names; the ABI
        // assigns them in INT_REGS order: both must be the same order.
        for (i, r) in INT_REGS.iter().enumerate() {
            assert_eq!(r.bpf_index() as usize, i, "{r:?}");
        }
    }

    #[test]
    fn finds_rets_and_tail_jumps() {
        // push rbp; ret; ret 8; jmp +0x100 (out); int3
        let code = [
            0x55, 0xc3, 0xc2, 0x08, 0x00, 0xe9, 0x00, 0x01, 0x00, 0x00, 0xcc,
        ];
        let f = scan_code(&code, 0x1000);
        assert_eq!(f.rets, vec![0x1001, 0x1002]);
        assert_eq!(f.jumps_out, vec![0x1000 + 10 + 0x100]);
    }

    #[test]
    fn jumps_inside_are_not_exits() {
        // jmp -2 (to itself); ret
        let f = scan_code(&[0xeb, 0xfe, 0xc3], 0x2000);
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
        let f = scan_code(&code, addr);
        assert_eq!(f.rets, vec![addr + JUMPS * 5]);
        let want: Vec<u64> = (0..JUMPS.div_ceil(2)).map(|i| 0x1000 + i * 16).collect();
        assert_eq!(f.jumps_out, want);
    }

    #[test]
    fn writer_calls_are_calls_through_an_itabs_first_slot() {
        // mov rsi, [rax]; mov rsi, [rsi+0x18]; mov rax, rdx; call rsi
        // (io.Writer.Write); mov rdx, [rcx+0x40]; call rdx (another slot);
        // mov rdx, [rax]; call rdx (a closure); mov rcx, [rcx+0x18];
        // mov r8, rcx; call r8 (through a copy)
        let code = [
            0x48, 0x8b, 0x30, 0x48, 0x8b, 0x76, 0x18, 0x48, 0x89, 0xd0, 0xff, 0xd6, 0x48, 0x8b,
            0x51, 0x40, 0xff, 0xd2, 0x48, 0x8b, 0x10, 0xff, 0xd2, 0x48, 0x8b, 0x49, 0x18, 0x49,
            0x89, 0xc8, 0x41, 0xff, 0xd0,
        ];
        assert_eq!(writer_calls(&code, 0x1000), vec![0x100a, 0x101e]);
    }

    #[test]
    fn adds_of_a_value_to_memory_are_found() {
        // add qword ptr [rdi+0xd8], 4; add qword ptr [rdi+8], 1
        let code = [
            0x48, 0x83, 0x87, 0xd8, 0x00, 0x00, 0x00, 0x04, 0x48, 0x83, 0x47, 0x08, 0x01,
        ];
        assert_eq!(adds_to_memory(&code, 0, 4), vec![0xd8]);
    }
}
