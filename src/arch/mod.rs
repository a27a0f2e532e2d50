//! The target architecture, in one place: Go's integer register order, the
//! register holding `g`, DWARF register numbers, and the RET scanner, for
//! amd64 ([`amd64`]) and arm64 ([`arm64`]). A binary's architecture comes
//! from its ELF header ([`Arch::of_elf`]), so `gozt probes` reads either on
//! any host; tracing needs the host's ([`Arch::HOST`]).

pub mod amd64;
pub mod arm64;

use serde::Serialize;

use crate::base::gozt_h;

/// What decoding a function's bytes found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CodeFacts {
    /// Virtual addresses of every RET instruction, ascending.
    pub rets: Vec<u64>,
    /// Targets of direct jumps that leave the function.
    pub jumps_out: Vec<u64>,
    /// The branch of the prologue's stack check (Go's `JLS morestack`,
    /// `BLS` on arm64), when everything before it only compares: there the
    /// arguments are still as at the entry, and the kernel emulates (amd64)
    /// or simulates (arm64) a branch where it single-steps the entry's
    /// instruction, so a trap there costs a fraction of one at the entry
    /// (None where not found).
    pub stack_check_branch: Option<u64>,
}

/// Where a writer call's bytes can be counted with an emulated trap: the
/// conditional branch a few instructions before the call (flate's `if
/// w.err != nil { return }`) whose fall-through runs straight to it, and
/// the register that holds, at that branch, the length the call will get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BranchBefore {
    /// The branch's address.
    pub at: u64,
    /// Its condition code (the low nibble of its opcode): the call is made
    /// when the condition does not hold.
    pub condition: u8,
    /// The call's length, as known at the branch.
    pub len: SinkLen,
}

/// Where a sink's length is, at its trap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkLen {
    /// In a register.
    Reg(Reg),
    /// In a register's low byte (a uint8 count, zero-extended at the call).
    LowByte(Reg),
    /// A constant the code sets between the branch and the call (gzip's
    /// 8-byte trailer).
    Const(u16),
}

/// An architecture gozt reads Go binaries of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    Amd64,
    Arm64,
}

impl Arch {
    /// The architecture gozt itself runs on, the only one it can trace.
    pub const HOST: Arch = if cfg!(target_arch = "aarch64") {
        Arch::Arm64
    } else {
        Arch::Amd64
    };

    /// The architecture of an ELF file, when gozt reads its Go binaries.
    pub fn of_elf(arch: object::Architecture) -> Option<Arch> {
        match arch {
            object::Architecture::X86_64 => Some(Arch::Amd64),
            object::Architecture::Aarch64 => Some(Arch::Arm64),
            _ => None,
        }
    }

    /// The instruction a uprobe puts in a process's copy of a probed page:
    /// int3 on amd64; on arm64 BRK #0x5 (the kernel's UPROBES_BRK_IMM).
    pub fn uprobe_breakpoint(self) -> &'static [u8] {
        match self {
            Arch::Amd64 => &[0xcc],
            Arch::Arm64 => &[0xa0, 0x00, 0x20, 0xd4],
        }
    }

    /// Go's name (GOARCH).
    pub fn name(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }

    /// The first Go release (major, minor) with the register ABI here.
    pub fn register_abi_since(self) -> (u32, u32) {
        match self {
            Arch::Amd64 => (1, 17),
            Arch::Arm64 => (1, 18),
        }
    }

    /// The integer argument and result registers, in assignment order.
    pub fn int_regs(self) -> &'static [Reg] {
        match self {
            Arch::Amd64 => &amd64::INT_REGS,
            Arch::Arm64 => &arm64::INT_REGS,
        }
    }

    /// The register holding the current goroutine's `g`.
    pub fn g_register(self) -> &'static str {
        match self {
            Arch::Amd64 => amd64::G_REGISTER,
            Arch::Arm64 => arm64::G_REGISTER,
        }
    }

    /// RETs and jumps out of one function's code at `addr`.
    pub fn scan_code(self, code: &[u8], addr: u64) -> CodeFacts {
        match self {
            Arch::Amd64 => amd64::scan_code(code, addr),
            Arch::Arm64 => arm64::scan_code(code, addr),
        }
    }

    /// The calls of an io.Writer's Write in a function's code (sink sites):
    /// calls through a register loaded from an itab's first method slot.
    pub fn writer_calls(self, code: &[u8], addr: u64) -> Vec<u64> {
        match self {
            Arch::Amd64 => amd64::writer_calls(code, addr),
            Arch::Arm64 => arm64::writer_calls(code, addr),
        }
    }

    /// For each of `calls` (a function's writer calls, ascending), the
    /// branch before it where an emulated trap can count its bytes (amd64;
    /// on arm64 none: its sinks trap at their calls).
    pub fn branches_before(
        self,
        code: &[u8],
        addr: u64,
        calls: &[u64],
    ) -> Vec<Option<BranchBefore>> {
        match self {
            Arch::Amd64 => amd64::branches_before(code, addr, calls),
            Arch::Arm64 => vec![None; calls.len()],
        }
    }

    /// Displacements of the 8-byte memory words that a function's code adds
    /// `value` to (`add qword [reg+d], value`; on arm64 a load, an add and a
    /// store back of the same word).
    pub fn adds_to_memory(self, code: &[u8], addr: u64, value: i64) -> Vec<u64> {
        match self {
            Arch::Amd64 => amd64::adds_to_memory(code, addr, value),
            Arch::Arm64 => arm64::adds_to_memory(code, value),
        }
    }
}

/// An integer argument register of either architecture: amd64's by name,
/// arm64's as X0-X15 (Go's R0-R15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reg {
    Rax,
    Rbx,
    Rcx,
    Rdi,
    Rsi,
    R8,
    R9,
    R10,
    R11,
    /// amd64's RDX: no argument register (Go's closure context), but a
    /// sink's length may be in it at the branch before its call.
    Rdx,
    X0,
    X1,
    X2,
    X3,
    X4,
    X5,
    X6,
    X7,
    X8,
    X9,
    X10,
    X11,
    X12,
    X13,
    X14,
    X15,
}

impl Reg {
    /// The DWARF register number (System V x86-64 numbering on amd64, the
    /// AArch64 DWARF numbering, X0 = 0, on arm64).
    pub fn dwarf_number(self) -> u16 {
        match arm64::number(self) {
            Some(n) => n as u16,
            None => amd64::dwarf_number(self),
        }
    }

    /// The register's index in the BPF programs' register copy (gozt.h).
    pub fn bpf_index(self) -> u8 {
        match arm64::number(self) {
            Some(n) => (gozt_h::GOZT_ARM64_X0 as u8) + n,
            None => amd64::bpf_index(self),
        }
    }

    pub fn name(self) -> &'static str {
        match arm64::number(self) {
            Some(_) => arm64::name(self),
            None => amd64::name(self),
        }
    }
}
