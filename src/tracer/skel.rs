//! The generated BPF skeleton.
#![allow(
    clippy::all,
    clippy::pedantic,
    missing_docs,
    non_camel_case_types,
    dead_code
)]

include!(concat!(env!("OUT_DIR"), "/gozt.skel.rs"));
