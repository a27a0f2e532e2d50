//! What to probe in a Go binary, without privileges: the functions gozt
//! knows ([`catalog`]) with their registers under Go's ABI ([`abi`]), the
//! probe plan of one binary ([`plan`]), and the `--func` selection
//! ([`select`]).

pub mod abi;
pub mod catalog;
pub mod plan;
pub mod select;
