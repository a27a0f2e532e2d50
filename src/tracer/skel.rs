//! The generated BPF skeleton, and which of its plain C structs (gozt.h)
//! are read from and written as bytes.
#![allow(
    clippy::all,
    clippy::pedantic,
    missing_docs,
    non_camel_case_types,
    dead_code
)]

include!(concat!(env!("OUT_DIR"), "/gozt.skel.rs"));

// SAFETY: each is a #[repr(C)] struct of gozt.h made only of integers and
// arrays of them, so every bit pattern is a value and all zeroes is one;
// `Copy + 'static` as generated.
unsafe impl bytemuck::Zeroable for types::gozt_event {}
// SAFETY: as above; with no padding (checked below), so tests write one.
unsafe impl bytemuck::Pod for types::gozt_event {}
// SAFETY: as above.
unsafe impl bytemuck::Zeroable for types::gozt_key {}
// SAFETY: as above.
unsafe impl bytemuck::AnyBitPattern for types::gozt_key {}
// SAFETY: as above.
unsafe impl bytemuck::Zeroable for types::gozt_inflight {}
// SAFETY: as above.
unsafe impl bytemuck::AnyBitPattern for types::gozt_inflight {}
// SAFETY: as above; written as bytes too, which needs no padding either:
// gozt.h pads both explicitly (checked below).
unsafe impl bytemuck::Zeroable for types::gozt_func {}
// SAFETY: as above.
unsafe impl bytemuck::Pod for types::gozt_func {}
// SAFETY: as above.
unsafe impl bytemuck::Zeroable for types::gozt_site_key {}
// SAFETY: as above.
unsafe impl bytemuck::Pod for types::gozt_site_key {}

// No padding: their fields add up to their sizes (u32 x2, u8 x8, u32 x4,
// i64; u64 x2; u64 x5, [u64; 8], u64 x2, u32 x4, u64 x3, u32 x4).
const _: () = assert!(std::mem::size_of::<types::gozt_func>() == 4 * 2 + 8 + 4 * 4 + 8 + 4 * 4);
const _: () = assert!(
    std::mem::size_of::<types::gozt_event>()
        == 8 * 5 + 8 * 8 + 8 * 2 + 4 * 4 + 8 * 3 + 4 * 4 + 8 + 64 + 16
);
const _: () = assert!(std::mem::size_of::<types::gozt_site_key>() == 8 * 2);
