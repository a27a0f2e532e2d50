//! amd64 under Go's register ABI (Go 1.17+): integer arguments and results in
//! RAX, RBX, RCX, RDI, RSI, R8, R9, R10, R11, `g` in R14, the frame pointer in
//! RBP. Register indexes shared with the BPF programs come from bpf/gozt.h.

use super::Reg;
use crate::base::gozt_h;
use crate::go_binary::code::{self, CodeFacts};

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

/// RETs and jumps out of one function's code at `addr`.
pub fn scan_code(code: &[u8], addr: u64) -> CodeFacts {
    code::scan(code, addr)
}

/// The calls of an io.Writer's Write in a function's code (sink sites).
pub fn writer_calls(code: &[u8], addr: u64) -> Vec<u64> {
    code::writer_calls(code, addr)
}

/// Displacements of `add qword [reg+d], value` in a function's code.
pub fn adds_to_memory(code: &[u8], addr: u64, value: i64) -> Vec<u64> {
    code::adds_to_memory(code, addr, value)
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
}
