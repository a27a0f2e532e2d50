//! Compiles bpf/gozt.bpf.c into a libbpf-rs skeleton (CO-RE, against the
//! checked-in vmlinux.h).

use std::env;
use std::path::PathBuf;

use libbpf_cargo::SkeletonBuilder;

const SRC: &str = "bpf/gozt.bpf.c";

fn main() {
    let out =
        PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR set by cargo")).join("gozt.skel.rs");
    let arch = env::var("CARGO_CFG_TARGET_ARCH").expect("target arch set by cargo");
    let vmlinux = match arch.as_str() {
        "x86_64" => "vmlinux/x86",
        other => panic!("gozt's BPF side supports x86_64, not {other}"),
    };
    SkeletonBuilder::new()
        .source(SRC)
        .clang_args(["-I", vmlinux, "-I", "bpf", "-D__TARGET_ARCH_x86"])
        .build_and_generate(&out)
        .expect("compile bpf/gozt.bpf.c (needs clang)");
    for path in [SRC, "bpf/gozt.h", "vmlinux/x86/vmlinux.h"] {
        println!("cargo:rerun-if-changed={path}");
    }
}
