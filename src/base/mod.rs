//! What every stage may use, and which imports nothing else of gozt's: the
//! error kinds ([`error`]) and exit codes ([`exit`]), process ids
//! ([`pid`]), gozt's own privileges and why the kernel refused it
//! ([`privileges`]), escaping of text from outside ([`text`]), human units
//! ([`units`]), and the constants
//! shared with the BPF programs ([`gozt_h`]), which the read-only half
//! needs as much as the tracer.

pub mod error;
pub mod exit;
pub mod gozt_h;
pub mod pid;
pub mod privileges;
pub mod text;
pub mod units;
