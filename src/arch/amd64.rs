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

use super::{BranchBefore, CodeFacts, Reg, SinkLen};
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
        Reg::Rdx => 1,
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
        Reg::Rdx => gozt_h::GOZT_AMD64_RDX,
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
        Reg::Rdx => "rdx",
        _ => unreachable!("{r:?} is an arm64 register"),
    }
}

/// Decodes `code`, the bytes of a function at `addr`, linearly. Go emits no
/// data inside functions (jump tables live in rodata), and pads functions with
/// INT3, so a linear sweep visits every instruction. The work is linear in
/// `code.len()` whatever the bytes are: each exit is recorded once, by a set.
pub fn scan_code(code: &[u8], addr: u64) -> CodeFacts {
    let end = addr.saturating_add(code.len() as u64);
    let mut facts = CodeFacts {
        stack_check_branch: stack_check_branch(code, addr),
        ..CodeFacts::default()
    };
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

/// The conditional branch of a Go prologue's stack check, when the
/// instructions before it write nothing but R12 and the flags (Go's
/// prologues: `cmp rsp, [r14+0x10]`; `lea r12, [rsp-n]; cmp r12,
/// [r14+0x10]`; for large frames `mov r12, rsp; sub r12, n` and a `jb`
/// first) and it jumps forward inside the function (to the
/// `call runtime.morestack` at its end). At that branch the arguments, SP
/// and R14 are what they were at the entry. Linux emulates a Jcc under a
/// uprobe instead of stepping it out of line, which saves a second
/// exception per trap (on this VM 0.6 us a trap there against 21 us at an
/// entry's `cmp`).
pub fn stack_check_branch(code: &[u8], addr: u64) -> Option<u64> {
    /// Instructions looked at from the entry.
    const PROLOGUE: usize = 4;
    let end = addr.saturating_add(code.len() as u64);
    let mut info = InstructionInfoFactory::new();
    let mut decoder = Decoder::with_ip(64, code, addr, DecoderOptions::NONE);
    for insn in decoder.iter().take(PROLOGUE) {
        if insn.is_invalid() {
            return None;
        }
        if insn.flow_control() == FlowControl::ConditionalBranch {
            let target = insn.near_branch_target();
            let inside = matches!(insn.op0_kind(), OpKind::NearBranch64)
                && target > insn.ip()
                && target < end;
            return inside.then(|| insn.ip());
        }
        let allowed = matches!(
            insn.mnemonic(),
            iced_x86::Mnemonic::Cmp
                | iced_x86::Mnemonic::Lea
                | iced_x86::Mnemonic::Mov
                | iced_x86::Mnemonic::Sub
        );
        let i = info.info(&insn);
        let writes_other = i
            .used_registers()
            .iter()
            .any(|u| is_write(u.access()) && u.register().full_register() != Register::R12);
        let writes_memory = i.used_memory().iter().any(|m| is_write(m.access()));
        if !allowed || writes_other || writes_memory || insn.flow_control() != FlowControl::Next {
            return None;
        }
    }
    None
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

/// For each of `calls` (writer calls of `code`, ascending), the branch
/// before it where its length can be read, when there is one: a forward
/// conditional branch past the call, at most [`BACK`] instructions before
/// it, followed by straight-line code only; no jump of the function lands
/// between the branch and the call; the length register (RCX at the call)
/// traced back through register moves (and one zero-extension of a low
/// byte) to a register the programs copy at the branch (an argument
/// register or RDX), or to a constant moved into it.
pub fn branches_before(code: &[u8], addr: u64, calls: &[u64]) -> Vec<Option<BranchBefore>> {
    const BACK: usize = 16;
    let insns: Vec<iced_x86::Instruction> = Decoder::with_ip(64, code, addr, DecoderOptions::NONE)
        .into_iter()
        .collect();
    let targets: HashSet<u64> = insns
        .iter()
        .filter(|i| {
            matches!(
                i.flow_control(),
                FlowControl::UnconditionalBranch | FlowControl::ConditionalBranch
            ) && i.op0_kind() == OpKind::NearBranch64
        })
        .map(|i| i.near_branch_target())
        .collect();
    let mut info = InstructionInfoFactory::new();
    calls
        .iter()
        .map(|&call| {
            let at = insns.iter().position(|i| i.ip() == call)?;
            let mut want = Register::RCX;
            let mut constant = None;
            let mut low_byte = false;
            for k in (at.saturating_sub(BACK)..at).rev() {
                let insn = &insns[k];
                if targets.contains(&insns[k + 1].ip()) {
                    return None;
                }
                if insn.flow_control() == FlowControl::ConditionalBranch {
                    let forward =
                        insn.op0_kind() == OpKind::NearBranch64 && insn.near_branch_target() > call;
                    let mut readable = INT_REGS.iter().chain([&Reg::Rdx]);
                    let len = match constant {
                        Some(c) => SinkLen::Const(c),
                        None => {
                            let r = *readable.find(|r| register(**r) == want)?;
                            if low_byte {
                                SinkLen::LowByte(r)
                            } else {
                                SinkLen::Reg(r)
                            }
                        }
                    };
                    return forward.then(|| BranchBefore {
                        at: insn.ip(),
                        condition: (insn.condition_code() as u8).wrapping_sub(1),
                        len,
                    });
                }
                if insn.flow_control() != FlowControl::Next {
                    return None;
                }
                let writes_want = info
                    .info(insn)
                    .used_registers()
                    .iter()
                    .any(|u| is_write(u.access()) && u.register().full_register() == want);
                if writes_want {
                    let copy = matches!(insn.code(), Code::Mov_r64_rm64 | Code::Mov_rm64_r64)
                        && insn.op0_kind() == OpKind::Register
                        && insn.op1_kind() == OpKind::Register;
                    let immediate = matches!(
                        insn.code(),
                        Code::Mov_r32_imm32 | Code::Mov_r64_imm64 | Code::Mov_rm64_imm32
                    ) && insn.op0_kind() == OpKind::Register;
                    // `movzx ecx, dl`: a uint8 count, from a low-byte register.
                    let widened = insn.code() == Code::Movzx_r32_rm8
                        && insn.op1_kind() == OpKind::Register
                        && !matches!(
                            insn.op1_register(),
                            Register::AH | Register::BH | Register::CH | Register::DH
                        );
                    if copy && !low_byte {
                        want = insn.op1_register().full_register();
                    } else if widened && !low_byte {
                        want = insn.op1_register().full_register();
                        low_byte = true;
                    } else if immediate {
                        constant = Some(u16::try_from(insn.immediate(1)).ok()?);
                        want = Register::None;
                    } else {
                        return None;
                    }
                }
            }
            None
        })
        .collect()
}

/// iced's name of a register the programs copy (the arguments, RDX).
fn register(r: Reg) -> Register {
    match r {
        Reg::Rax => Register::RAX,
        Reg::Rbx => Register::RBX,
        Reg::Rcx => Register::RCX,
        Reg::Rdi => Register::RDI,
        Reg::Rsi => Register::RSI,
        Reg::R8 => Register::R8,
        Reg::R9 => Register::R9,
        Reg::R10 => Register::R10,
        Reg::R11 => Register::R11,
        Reg::Rdx => Register::RDX,
        _ => Register::None,
    }
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
    fn the_stack_check_branch_is_found_in_go_prologues_only() {
        // lea r12, [rsp-0x20]; cmp r12, [r14+0x10]; jbe +0x10; ret; (pad)
        let mut big = vec![
            0x4c, 0x8d, 0x64, 0x24, 0xe0, 0x4d, 0x3b, 0x66, 0x10, 0x76, 0x10, 0xc3,
        ];
        big.resize(0x20, 0xcc);
        assert_eq!(stack_check_branch(&big, 0x1000), Some(0x1009));
        // cmp rsp, [r14+0x10]; jbe +0x10
        let mut small = vec![0x49, 0x3b, 0x66, 0x10, 0x76, 0x10, 0xc3];
        small.resize(0x20, 0xcc);
        assert_eq!(stack_check_branch(&small, 0x1000), Some(0x1004));
        // mov rax, [r14+0x10] (an argument register); jbe
        let mut clobbers = vec![0x49, 0x8b, 0x46, 0x10, 0x76, 0x10, 0xc3];
        clobbers.resize(0x20, 0xcc);
        assert_eq!(stack_check_branch(&clobbers, 0x1000), None);
        // cmp rsp, [r14+0x10]; jbe backwards (not to the function's end)
        assert_eq!(
            stack_check_branch(&[0x49, 0x3b, 0x66, 0x10, 0x76, 0xf0, 0xc3], 0x1000),
            None
        );
        // push rbp; ... (no stack check: a NOSPLIT function)
        assert_eq!(stack_check_branch(&[0x55, 0x76, 0x10, 0xc3], 0x1000), None);
    }

    /// flate's inlined `w.write(b)`: `cmp qword [rax+0x1d0], 0; jne` past
    /// the call, then the call's setup (`middle`) and `call rdx`; `ret`.
    fn flush_like(middle: &[u8]) -> (Vec<u8>, u64) {
        flush_calling(middle, 0xd2)
    }

    /// The same with `call` through another register (ModRM byte `modrm`).
    fn flush_calling(middle: &[u8], modrm: u8) -> (Vec<u8>, u64) {
        let mut code = vec![0x48, 0x83, 0xb8, 0xd0, 0x01, 0x00, 0x00, 0x00, 0x75, 0x00];
        code.extend_from_slice(middle);
        code.extend_from_slice(&[0xff, modrm]);
        let call = code.len() as u64 - 2;
        code[9] = (code.len() - 10) as u8; // to the ret
        code.push(0xc3);
        (code, call)
    }

    #[test]
    fn a_sink_traps_at_the_error_check_before_its_call() {
        // mov rdx, [rax]; mov rsi, [rax+8]; mov rdx, [rdx+0x18];
        // mov rcx, r8; mov rax, rsi
        let setup = [
            0x48, 0x8b, 0x10, 0x48, 0x8b, 0x70, 0x08, 0x48, 0x8b, 0x52, 0x18, 0x4c, 0x89, 0xc1,
            0x48, 0x89, 0xf0,
        ];
        let (code, call) = flush_like(&setup);
        assert_eq!(writer_calls(&code, 0x1000), vec![0x1000 + call]);
        let found = branches_before(&code, 0x1000, &[0x1000 + call]);
        assert_eq!(
            found,
            vec![Some(BranchBefore {
                at: 0x1008,
                condition: 5,
                len: SinkLen::Reg(Reg::R8)
            })]
        );
        // The length set from a constant (`mov ecx, 8`: gzip's trailer).
        let mut constant = setup[..11].to_vec();
        constant.extend_from_slice(&[0xb9, 0x08, 0x00, 0x00, 0x00, 0x48, 0x89, 0xf0]);
        let (code, call) = flush_like(&constant);
        let found = branches_before(&code, 0x1000, &[0x1000 + call]);
        assert_eq!(found[0].unwrap().len, SinkLen::Const(8));
        // A uint8 count, widened from RDX's low byte before RDX is reused
        // (klauspost's flate: mov rsi, [rax]; lea rbx, [rax+0x60];
        // movzx ecx, dl; mov rdx, [rax+8]; mov rsi, [rsi+0x18];
        // mov rax, rdx; call rsi), read from RDX at the branch.
        let widened = [
            0x48, 0x8b, 0x30, 0x48, 0x8d, 0x58, 0x60, 0x0f, 0xb6, 0xca, 0x48, 0x8b, 0x50, 0x08,
            0x48, 0x8b, 0x76, 0x18, 0x48, 0x89, 0xd0,
        ];
        let (code, call) = flush_calling(&widened, 0xd6);
        assert_eq!(writer_calls(&code, 0x1000), vec![0x1000 + call]);
        let found = branches_before(&code, 0x1000, &[0x1000 + call]);
        assert_eq!(found[0].unwrap().len, SinkLen::LowByte(Reg::Rdx));
        // Widened from a byte of a register reused after (here RDX's low
        // byte, but `mov rdx, [rdx+0x18]` follows): at the call only.
        let mut reused = setup[..11].to_vec();
        reused.extend_from_slice(&[0x0f, 0xb6, 0xca, 0x48, 0x89, 0xf0]);
        let (code, call) = flush_like(&reused);
        assert_eq!(branches_before(&code, 0x1000, &[0x1000 + call]), vec![None]);
        // The length changed between (`add rcx, 1`): at the call.
        let mut other = setup.to_vec();
        other.extend_from_slice(&[0x48, 0x83, 0xc1, 0x01]);
        let (code, call) = flush_like(&other);
        assert_eq!(branches_before(&code, 0x1000, &[0x1000 + call]), vec![None]);
        // A jump from elsewhere lands between the branch and the call.
        let (mut code, call) = flush_like(&setup);
        let from = code.len() as u64;
        let rel = 0x0d_i64 - (from as i64 + 2);
        code.extend_from_slice(&[0xeb, rel as i8 as u8, 0xc3]);
        assert_eq!(branches_before(&code, 0x1000, &[0x1000 + call]), vec![None]);
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
