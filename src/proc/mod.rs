//! Processes as gozt sees them from /proc: who a process is ([`identity`]),
//! what a session asks about processes ([`os`], a trait tests fake), and
//! the executable a pid runs ([`exe`]), and whether its code traps at
//! given sites already ([`traps`]).

pub mod exe;
pub mod identity;
pub mod os;
pub mod traps;
