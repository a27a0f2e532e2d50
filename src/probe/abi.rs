//! Go's internal register ABI (amd64 from Go 1.17, arm64 from 1.18), reduced
//! to what gozt needs: which registers hold each argument at entry and each
//! result at RET.
//!
//! Rules (Go's `src/cmd/compile/abi-internal.md`): integer-class words take
//! the architecture's integer registers in order (amd64: RAX, RBX, RCX, RDI,
//! RSI, R8, R9, R10, R11; arm64: R0-R15); a value is assigned to registers
//! whole or, when it does not fit in what is left, to the stack (later values
//! may still get registers); results restart at the first register. The
//! receiver is the first argument. A pointer, int or bool is one word, a
//! string two (ptr, len), a slice three (ptr, len, cap), an interface two
//! (type or itab, data). The goroutine pointer `g` lives in R14 on amd64,
//! R28 on arm64. Stack arguments start 8 bytes above SP at the entry on both:
//! above the return address on amd64, above the caller's saved-LR word on
//! arm64.

pub use crate::arch::{Arch, Reg};

/// The shapes of Go values that appear in catalog signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoType {
    /// Any pointer (including receivers).
    Ptr,
    /// int, int64, uint64.
    Int,
    Bool,
    /// `[]T`.
    Slice,
    String,
    /// An interface, including `error`.
    Iface,
}

impl GoType {
    /// Integer-register words the value takes.
    pub fn words(self) -> usize {
        match self {
            GoType::Ptr | GoType::Int | GoType::Bool => 1,
            GoType::String | GoType::Iface => 2,
            GoType::Slice => 3,
        }
    }

    /// The Go type's size in bytes.
    pub fn byte_size(self) -> u64 {
        match self {
            GoType::Bool => 1,
            other => 8 * other.words() as u64,
        }
    }
}

/// Where a value lives at entry (arguments) or at RET (results).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueLoc {
    /// One register per word.
    Regs(Vec<Reg>),
    /// Spilled to the caller's frame: byte offset from SP at entry (above the
    /// return address).
    Stack(u64),
}

/// Assigns `args` and then `results` under `arch`'s ABI rules; returns the
/// locations of the arguments and of the results.
pub fn assign(arch: Arch, args: &[GoType], results: &[GoType]) -> (Vec<ValueLoc>, Vec<ValueLoc>) {
    let int_regs = arch.int_regs();
    // Stack-assigned values follow the return address; results after arguments.
    let mut stack = 8u64;
    let mut one_pass = |values: &[GoType]| -> Vec<ValueLoc> {
        let mut next = 0usize;
        values
            .iter()
            .map(|ty| {
                let words = ty.words();
                if next + words <= int_regs.len() {
                    let regs = int_regs[next..next + words].to_vec();
                    next += words;
                    ValueLoc::Regs(regs)
                } else {
                    let at = stack;
                    stack += 8 * words as u64;
                    ValueLoc::Stack(at)
                }
            })
            .collect()
    };
    let a = one_pass(args);
    let r = one_pass(results);
    (a, r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use GoType::*;

    #[test]
    fn encode_all_layout() {
        // (*Encoder).EncodeAll(src, dst []byte) []byte
        let (args, results) = assign(Arch::Amd64, &[Ptr, Slice, Slice], &[Slice]);
        assert_eq!(args[0], ValueLoc::Regs(vec![Reg::Rax]));
        assert_eq!(args[1], ValueLoc::Regs(vec![Reg::Rbx, Reg::Rcx, Reg::Rdi]));
        assert_eq!(args[2], ValueLoc::Regs(vec![Reg::Rsi, Reg::R8, Reg::R9]));
        assert_eq!(
            results[0],
            ValueLoc::Regs(vec![Reg::Rax, Reg::Rbx, Reg::Rcx])
        );
    }

    #[test]
    fn decode_all_error_follows_slice() {
        let (_, results) = assign(Arch::Amd64, &[Ptr, Slice, Slice], &[Slice, Iface]);
        assert_eq!(results[1], ValueLoc::Regs(vec![Reg::Rdi, Reg::Rsi]));
    }

    #[test]
    fn overflow_goes_to_stack_and_later_values_still_get_registers() {
        // 3 slices fill 9 registers; a fourth spills, a bool after it too.
        let (args, _) = assign(Arch::Amd64, &[Slice, Slice, Slice, Slice, Bool], &[]);
        assert_eq!(args[3], ValueLoc::Stack(8));
        assert_eq!(args[4], ValueLoc::Stack(32));
        let (args, _) = assign(Arch::Amd64, &[Slice, Slice, Int, Slice, Int], &[]);
        assert_eq!(args[3], ValueLoc::Stack(8));
        assert_eq!(args[4], ValueLoc::Regs(vec![Reg::R10]));
    }
}

#[cfg(test)]
mod arm64_tests {
    use super::*;
    use GoType::*;

    #[test]
    fn encode_all_layout_on_arm64() {
        let (args, results) = assign(Arch::Arm64, &[Ptr, Slice, Slice], &[Slice]);
        assert_eq!(args[0], ValueLoc::Regs(vec![Reg::X0]));
        assert_eq!(args[1], ValueLoc::Regs(vec![Reg::X1, Reg::X2, Reg::X3]));
        assert_eq!(args[2], ValueLoc::Regs(vec![Reg::X4, Reg::X5, Reg::X6]));
        assert_eq!(results[0], ValueLoc::Regs(vec![Reg::X0, Reg::X1, Reg::X2]));
    }

    #[test]
    fn sixteen_registers_before_the_stack() {
        // Five slices fill 15 registers: a sixth spills, an int after it
        // takes the last register.
        let (args, _) = assign(
            Arch::Arm64,
            &[Slice, Slice, Slice, Slice, Slice, Slice, Int],
            &[],
        );
        assert_eq!(args[4], ValueLoc::Regs(vec![Reg::X12, Reg::X13, Reg::X14]));
        assert_eq!(args[5], ValueLoc::Stack(8));
        assert_eq!(args[6], ValueLoc::Regs(vec![Reg::X15]));
    }
}
