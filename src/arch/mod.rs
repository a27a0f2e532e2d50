//! The target architecture, in one place: Go's integer register order, the
//! register holding `g`, DWARF register numbers, and the RET scanner. gozt
//! traces amd64 today ([`amd64`]); a second architecture is a second module
//! with the same items.

pub mod amd64;

pub use amd64::{adds_to_memory, scan_code, writer_calls, Reg, G_REGISTER, INT_REGS};
