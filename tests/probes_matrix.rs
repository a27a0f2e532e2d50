//! `gozt probes` across the toolchain x build-mode matrix: stripped binaries
//! must give exactly what their symtab/DWARF twins give, the goid table must
//! agree with DWARF, and the derived ABI layouts must agree with DWARF, which
//! must read the same stored plain, zlib- or zstd-compressed.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use gozt::go_binary::{runtime, GoBinary, OffsetSource, SymbolSource};
use gozt::probe::plan::{AbiCheck, Plan};

/// (function, file offset, RET file offsets, probe-instead) per probe.
type Sites = Vec<(String, u64, Vec<u64>, Vec<String>)>;

fn sites(plan: &Plan) -> Sites {
    plan.probes
        .iter()
        .map(|p| {
            (
                p.function.clone(),
                p.file_offset,
                p.ret_offsets.clone(),
                p.probe_instead.clone(),
            )
        })
        .collect()
}

/// The plan's functions, and whether each is a constructor or a reset.
fn functions(plan: &Plan) -> Vec<(String, bool)> {
    plan.probes
        .iter()
        .map(|p| (p.function.clone(), !p.entry.role.is_payload_call()))
        .collect()
}

fn open(path: &Path) -> (GoBinary, Plan) {
    let bin = GoBinary::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let plan = Plan::build(&bin).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (bin, plan)
}

/// Every catalog function the workload calls directly or through a stream
/// (and the Flush and Close methods its streams' types keep).
const WORKLOAD_FUNCTIONS: usize = 74;

/// And in its amd64 cgo builds, the cgo zstd bindings' (cgo_zstd.go):
/// DataDog's CompressLevel and Decompress, gozstd's compressDictLevel and
/// DecompressDict.
const CGO_ZSTD_FUNCTIONS: usize = 4;

#[test]
fn stripped_builds_match_their_symtab_twins() {
    let mut checked = 0;
    for dir in common::toolchains() {
        for (full, stripped) in [
            ("workload-default", "workload-stripped"),
            ("workload-pie", "workload-pie-stripped"),
            ("workload-cgo", "workload-cgo-stripped"),
        ] {
            let (fbin, fplan) = open(&dir.join(full));
            let (sbin, splan) = open(&dir.join(stripped));
            let name = format!("{}/{stripped}", dir.display());
            assert_eq!(fbin.symbol_source, SymbolSource::Symtab, "{name}");
            assert_eq!(sbin.symbol_source, SymbolSource::Pclntab, "{name}");
            assert_eq!(fbin.offset_source, OffsetSource::Dwarf, "{name}");
            assert_eq!(sbin.offset_source, OffsetSource::Table, "{name}");
            assert_eq!(fbin.goid_offset, sbin.goid_offset, "{name}: goid offset");
            assert_eq!(fbin.build, sbin.build, "{name}: build info");
            assert_eq!(fbin.pie, full.contains("pie"), "{name}: PIE flag");
            let cgo_zstd = if full == "workload-cgo" {
                CGO_ZSTD_FUNCTIONS
            } else {
                0
            };
            assert_eq!(
                common::payload_functions(&functions(&fplan), &name),
                WORKLOAD_FUNCTIONS + cgo_zstd,
                "{name}"
            );
            assert_eq!(sites(&fplan), sites(&splan), "{name}: probe sites differ");
            // Stream output: the same sink sites, and zstd's encoder counts
            // found in the code where DWARF is gone, at DWARF's offset.
            assert!(
                fplan.sinks.len() >= 20,
                "{name}: {} sinks",
                fplan.sinks.len()
            );
            assert_eq!(fplan.sinks, splan.sinks, "{name}: sink sites differ");
            // The request site (the workload serves HTTP): the same site,
            // and the request layout by Go version where DWARF is gone.
            let (fq, sq) = (fplan.request.as_ref(), splan.request.as_ref());
            let (fq, sq) = (
                fq.unwrap_or_else(|| panic!("{name}: no request site")),
                sq.unwrap_or_else(|| panic!("{name}: no request site stripped")),
            );
            assert_eq!(fq.layout.source, OffsetSource::Dwarf, "{name}");
            assert_eq!(sq.layout.source, OffsetSource::Table, "{name}");
            assert!(fq.layout.same_offsets(&sq.layout), "{name}: request layout");
            assert_eq!(
                (fq.entry_site, &fq.ret_offsets, fq.request_reg),
                (sq.entry_site, &sq.ret_offsets, sq.request_reg),
                "{name}: request site"
            );
            assert!(fq.entry_emulated, "{name}: request entry not at its branch");
            assert_eq!(fplan.totals_source, "dwarf", "{name}");
            assert_eq!(splan.totals_source, "code", "{name}");
            let counts = |plan: &Plan| {
                plan.probes
                    .iter()
                    .filter_map(|p| p.totals_offset)
                    .collect::<Vec<u64>>()
            };
            assert_eq!(counts(&fplan).len(), 1, "{name}: zstd's Close");
            assert_eq!(counts(&fplan), counts(&splan), "{name}: encoder counts");
            for p in &fplan.probes {
                assert!(
                    !p.ret_offsets.is_empty(),
                    "{name}: {} has no RET",
                    p.function
                );
                assert!(p.ret_offsets.windows(2).all(|w| w[0] < w[1]));
                assert!(p
                    .ret_offsets
                    .iter()
                    .all(|&r| r > p.file_offset && r < p.file_offset + p.size));
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 18);
}

#[test]
fn pclntab_agrees_with_symtab_on_every_go_function() {
    for dir in common::toolchains() {
        for build in ["workload-default", "workload-pie", "workload-cgo"] {
            let path = dir.join(build);
            let bin = GoBinary::open(&path).unwrap();
            let pcln = gozt::go_binary::read_pclntab(&path).unwrap();
            // The symtab names ABI0 wrappers `F.abi0`; pclntab names them `F`,
            // like the function they wrap: compare (name, address) pairs.
            let symtab: BTreeSet<(&str, u64)> = bin
                .functions
                .iter()
                .map(|f| (f.name.strip_suffix(".abi0").unwrap_or(&f.name), f.addr))
                .collect();
            let names: BTreeSet<&str> = symtab.iter().map(|(n, _)| *n).collect();
            assert!(pcln.functions.len() > 1000, "{}", path.display());
            let mut compared = 0;
            for f in &pcln.functions {
                // The symtab may lack a few linker-made entries; every function
                // both have must sit at the same address.
                if names.contains(f.name.as_str()) {
                    assert!(
                        symtab.contains(&(f.name.as_str(), f.addr)),
                        "{}: {} at {:#x} in pclntab, elsewhere in symtab",
                        path.display(),
                        f.name,
                        f.addr
                    );
                    compared += 1;
                }
            }
            assert!(
                compared * 100 >= pcln.functions.len() * 95,
                "{}: only {compared} of {} pclntab functions in symtab",
                path.display(),
                pcln.functions.len()
            );
        }
    }
}

#[test]
fn goid_table_agrees_with_dwarf_for_every_toolchain() {
    for dir in common::toolchains() {
        let bin = GoBinary::open(&dir.join("workload-default")).unwrap();
        assert_eq!(bin.offset_source, OffsetSource::Dwarf);
        let table = runtime::g_offsets_for(&bin.build.go_version).unwrap();
        // DWARF's own offsets, not the binary's (which fall back to the
        // table's when DWARF lacks a field): each must be in DWARF, and equal.
        let dwarf = bin.dwarf.as_ref().unwrap().g_offsets().unwrap();
        let v = &bin.build.go_version;
        assert_eq!(table.goid, dwarf.goid, "{v}");
        assert!(dwarf.stack_hi.is_some(), "{v}: g.stack.hi not in DWARF");
        assert!(dwarf.sched_pc.is_some(), "{v}: g.sched.pc not in DWARF");
        assert_eq!(table.stack_hi, dwarf.stack_hi, "{v}");
        assert_eq!(table.sched_pc, dwarf.sched_pc, "{v}");
        let dir_name = dir.file_name().unwrap().to_str().unwrap();
        assert_eq!(bin.build.go_version, dir_name);
        // The http.Request layout, likewise: DWARF's has every field the
        // table gives (Pattern from Go 1.23), at the table's offsets.
        let dwarf = gozt::go_binary::http::RequestLayout::from_dwarf(bin.dwarf.as_ref().unwrap())
            .unwrap_or_else(|| panic!("{v}: http.Request not in DWARF"));
        let table = gozt::go_binary::http::RequestLayout::for_version(v).unwrap();
        assert!(dwarf.same_offsets(&table), "{v}: {dwarf:?} != {table:?}");
    }
}

#[test]
fn derived_abi_layouts_agree_with_dwarf() {
    for dir in common::toolchains() {
        for build in ["workload-default", "workload-cgo"] {
            let (_, plan) = open(&dir.join(build));
            let mut located = 0;
            for p in &plan.probes {
                match &p.abi_check {
                    AbiCheck::Dwarf { located: n } => located += n,
                    other => panic!("{}/{build}: {}: {other:?}", dir.display(), p.function),
                }
            }
            // Most arguments have entry locations in DWARF.
            assert!(located > WORKLOAD_FUNCTIONS, "{}: {located}", dir.display());
        }
    }
}

#[test]
fn a_wrong_signature_is_caught_by_dwarf() {
    let dir = &common::toolchains()[0];
    let (bin, plan) = open(&dir.join("workload-default"));
    let probe = plan
        .probes
        .iter()
        .find(|p| p.entry.name == "EncodeAll")
        .unwrap();
    let names = [probe.function.as_str()].into_iter().collect();
    let params = bin.dwarf.as_ref().unwrap().params(&names);
    let params = &params[&probe.function];
    // Pretend EncodeAll took (src []byte) only.
    let mut wrong = probe.entry;
    wrong.args = &probe.entry.args[..2];
    let check = gozt::probe::plan::check_against_dwarf(&wrong, &wrong.layout(bin.arch), params);
    assert!(matches!(check, AbiCheck::Mismatch { .. }), "{check:?}");
    // Or an int before src: sizes no longer line up.
    let mut ints = probe.entry;
    let args: &'static [gozt::probe::catalog::Param] = Box::leak(
        vec![
            probe.entry.args[0],
            gozt::probe::catalog::Param {
                name: "n",
                ty: gozt::probe::abi::GoType::Int,
            },
            probe.entry.args[1],
        ]
        .into_boxed_slice(),
    );
    ints.args = args;
    let check = gozt::probe::plan::check_against_dwarf(&ints, &ints.layout(bin.arch), params);
    assert!(matches!(check, AbiCheck::Mismatch { .. }), "{check:?}");
}

#[test]
fn vendored_builds_resolve_and_record_modules() {
    // scripts/build-testdata.sh builds them with the oldest and the newest
    // toolchain: both must be there.
    let all = common::toolchains();
    let with: Vec<_> = all
        .iter()
        .filter(|d| d.join("vendored-gopath").exists())
        .collect();
    assert_eq!(
        with,
        [all.first().unwrap(), all.last().unwrap()],
        "vendored builds"
    );
    for dir in with {
        let gopath = dir.join("vendored-gopath");
        let (_, plan) = open(&gopath);
        let names: Vec<&str> = plan
            .probes
            .iter()
            .filter(|p| p.entry.role.is_payload_call())
            .map(|p| p.function.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "gozt.example/vendored/vendor/github.com/klauspost/compress/zstd.(*Decoder).DecodeAll",
                "gozt.example/vendored/vendor/github.com/klauspost/compress/zstd.(*Encoder).EncodeAll",
            ]
        );
        for module in ["vendored-module", "vendored-module-stripped"] {
            let (bin, plan) = open(&dir.join(module));
            let payload = functions(&plan).iter().filter(|(_, l)| !l).count();
            assert_eq!(payload, 2);
            let compress = bin
                .build
                .modules
                .iter()
                .find(|m| m.path == "github.com/klauspost/compress")
                .expect("klauspost/compress in the build info");
            assert!(compress.version.starts_with("v1."), "{}", compress.version);
            assert!(bin
                .build
                .modules
                .iter()
                .any(|m| m.main && m.path == "gozt.example/vendored"));
        }
    }
}

#[test]
fn dwarf_reads_the_same_uncompressed_zlib_or_zstd() {
    // Go writes zlib; objcopy can store the same DWARF plain or as zstd.
    let src = common::toolchains()[1].join("workload-default");
    let dir = common::TempDir::new("dwarf");
    let (want_bin, want) = open(&src);
    assert_eq!(want_bin.offset_source, OffsetSource::Dwarf);
    for (name, flag) in [
        ("plain", "--decompress-debug-sections"),
        ("zstd", "--compress-debug-sections=zstd"),
    ] {
        let out = dir.join(name);
        let status = std::process::Command::new("objcopy")
            .arg(flag)
            .arg(&src)
            .arg(&out)
            .status()
            .expect("objcopy (binutils)");
        assert!(status.success(), "objcopy {flag}");
        let (bin, plan) = open(&out);
        assert_eq!(bin.offset_source, OffsetSource::Dwarf, "{name}");
        assert_eq!(bin.goid_offset, want_bin.goid_offset, "{name}");
        assert_eq!(sites(&plan), sites(&want), "{name}");
        let checks =
            |p: &Plan| -> Vec<AbiCheck> { p.probes.iter().map(|p| p.abi_check.clone()).collect() };
        assert_eq!(checks(&plan), checks(&want), "{name}");
    }
}
