//! DWARF facts gozt needs: the `runtime.g` field offsets, and the formal
//! parameters of the functions it probes (to check the ABI layouts it derives).
//!
//! Go compresses its `.debug_*` sections (SHF_COMPRESSED, zlib). They are
//! inflated here through a reader that stops at the size the section header
//! declares, and that size is checked against [`MAX_INFLATED`] first: the
//! input decides how much is asked for, so nothing is reserved on its word.
//! Everything read here is copied into owned values.

use std::collections::{HashMap, HashSet};
use std::io::Read;

use gimli::{AttributeValue, EndianSlice, LittleEndian, Section};
use object::{CompressionFormat, Object, ObjectSection};

type Slice<'a> = EndianSlice<'a, LittleEndian>;

/// One formal parameter or result of a function, as DWARF describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DwarfParam {
    pub name: String,
    /// `DW_AT_variable_parameter`: Go marks results this way.
    pub is_result: bool,
    pub type_name: String,
    pub byte_size: u64,
    /// DWARF register numbers holding the value's pieces at the function's
    /// entry, when a location list says so.
    pub entry_regs: Option<Vec<u16>>,
}

/// Offsets inside `runtime.g`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GOffsets {
    pub goid: u64,
    pub stack_hi: Option<u64>,
    /// `g.sched.pc`: where the goroutine resumes; morestack leaves it inside
    /// the function whose prologue called it.
    pub sched_pc: Option<u64>,
}

/// The most DWARF gozt inflates for one binary, all sections together. Go's
/// largest programs carry a few hundred MiB.
pub const MAX_INFLATED: u64 = 1 << 30;

/// Formal parameters read per function: catalog functions have a handful, so
/// more only makes the check fail, and each costs a location-list walk.
const MAX_PARAMS: usize = 64;

/// Entries of one location list walked to find where a parameter starts.
const MAX_LOCATIONS: usize = 4096;

/// The DWARF of one binary, inflated.
pub struct Dwarf {
    sections: gimli::DwarfSections<Vec<u8>>,
}

impl Dwarf {
    /// Loads the DWARF sections; `Ok(None)` when the binary has no
    /// `.debug_info`, an error when a section cannot be inflated or would
    /// inflate past the cap.
    pub fn load(file: &object::File<'_>) -> Result<Option<Dwarf>, String> {
        if file.section_by_name(".debug_info").is_none() {
            return Ok(None);
        }
        let mut budget = MAX_INFLATED;
        let sections = gimli::DwarfSections::load(|id| -> Result<_, String> {
            match file.section_by_name(id.name()) {
                Some(s) => section_bytes(&s, id.name(), &mut budget),
                None => Ok(Vec::new()),
            }
        })?;
        let dwarf = Dwarf { sections };
        dwarf.check_abbreviation_tables()?;
        Ok(Some(dwarf))
    }

    /// Checks that no unit's abbreviation table runs into another's. gimli
    /// parses a unit's table from its offset to the table's 0 code: with
    /// units pointing into one long table at many offsets, that is quadratic.
    /// Tables that do not overlap are parsed once each, in linear time.
    fn check_abbreviation_tables(&self) -> Result<(), String> {
        let dwarf = self.dwarf_uncached();
        let mut offsets = Vec::new();
        let mut units = dwarf.units();
        while let Ok(Some(header)) = units.next() {
            offsets.push(header.debug_abbrev_offset().0);
        }
        offsets.sort_unstable();
        offsets.dedup();
        let abbrev = dwarf.debug_abbrev.reader().slice();
        for (i, &off) in offsets.iter().enumerate() {
            let next = offsets.get(i + 1).copied();
            if abbreviation_table_end(abbrev, off, next.unwrap_or(abbrev.len())).is_none() {
                return Err(match next {
                    Some(next) => format!(
                        "DWARF: the abbreviation table at {off:#x} runs into the one at {next:#x}"
                    ),
                    None => format!("DWARF: the abbreviation table at {off:#x} is truncated"),
                });
            }
        }
        Ok(())
    }

    fn dwarf_uncached(&self) -> gimli::Dwarf<Slice<'_>> {
        self.sections
            .borrow(|s| EndianSlice::new(s.as_slice(), LittleEndian))
    }

    fn dwarf(&self) -> gimli::Dwarf<Slice<'_>> {
        let mut dwarf = self.dwarf_uncached();
        // Go's units share one abbreviation table: parse each table once, not
        // once per unit and pass.
        dwarf.populate_abbreviations_cache(gimli::AbbreviationsCacheStrategy::All);
        dwarf
    }

    /// `runtime.g.goid`, `runtime.g.stack.hi` and `runtime.g.sched.pc`
    /// offsets.
    pub fn g_offsets(&self) -> Option<GOffsets> {
        let dwarf = self.dwarf();
        let mut units = dwarf.units();
        while let Ok(Some(header)) = units.next() {
            let Ok(unit) = dwarf.unit(header) else {
                continue;
            };
            let mut cursor = unit.entries();
            let mut in_g: Option<isize> = None;
            let mut goid = None;
            let mut stack = None;
            let mut sched = None;
            while let Ok(Some(entry)) = cursor.next_dfs() {
                let depth = entry.depth();
                if let Some(d) = in_g {
                    if depth <= d {
                        break;
                    }
                    if entry.tag() == gimli::DW_TAG_member && depth == d + 1 {
                        let name = name_of(&dwarf, &unit, entry);
                        let off = entry
                            .attr_value(gimli::DW_AT_data_member_location)
                            .and_then(|v| v.udata_value());
                        match name.as_deref() {
                            Some("goid") => goid = off,
                            Some("stack") => stack = off,
                            Some("sched") => sched = off,
                            _ => {}
                        }
                    }
                    continue;
                }
                if entry.tag() == gimli::DW_TAG_structure_type
                    && name_of(&dwarf, &unit, entry).as_deref() == Some("runtime.g")
                {
                    in_g = Some(depth);
                }
            }
            if let Some(goid) = goid {
                // g.stack is a runtime.stack{lo, hi uintptr}; g.sched a
                // runtime.gobuf{sp, pc, ...}.
                return Some(GOffsets {
                    goid,
                    stack_hi: stack.map(|s| s + 8),
                    sched_pc: sched.map(|s| s + 8),
                });
            }
        }
        None
    }

    /// The member offsets of each struct type named in `wanted` (names
    /// without any vendor prefix), as DWARF describes them.
    pub fn struct_members(&self, wanted: &[&str]) -> HashMap<String, HashMap<String, u64>> {
        let dwarf = self.dwarf();
        let mut found: HashMap<String, HashMap<String, u64>> = HashMap::new();
        let mut units = dwarf.units();
        while let Ok(Some(header)) = units.next() {
            if found.len() == wanted.len() {
                break;
            }
            let Ok(unit) = dwarf.unit(header) else {
                continue;
            };
            let mut cursor = unit.entries();
            let mut current: Option<(isize, String)> = None;
            while let Ok(Some(entry)) = cursor.next_dfs() {
                let depth = entry.depth();
                if let Some((d, name)) = &current {
                    if depth > *d {
                        if entry.tag() == gimli::DW_TAG_member && depth == d + 1 {
                            let member = name_of(&dwarf, &unit, entry);
                            let off = entry
                                .attr_value(gimli::DW_AT_data_member_location)
                                .and_then(|v| v.udata_value());
                            if let (Some(member), Some(off)) = (member, off) {
                                found.entry(name.clone()).or_default().insert(member, off);
                            }
                        }
                        continue;
                    }
                    current = None;
                }
                if entry.tag() == gimli::DW_TAG_structure_type {
                    if let Some(name) = name_of(&dwarf, &unit, entry) {
                        let plain = super::names::unvendored(&name);
                        if wanted.contains(&plain) && !found.contains_key(plain) {
                            current = Some((depth, plain.to_string()));
                        }
                    }
                }
            }
        }
        found
    }

    /// Formal parameters of each named function that DWARF describes.
    pub fn params(&self, functions: &HashSet<&str>) -> HashMap<String, Vec<DwarfParam>> {
        let dwarf = self.dwarf();
        let types = type_table(&dwarf);
        let mut out = HashMap::new();
        let mut units = dwarf.units();
        while let Ok(Some(header)) = units.next() {
            let Ok(unit) = dwarf.unit(header) else {
                continue;
            };
            let mut cursor = unit.entries();
            // (name, depth, low_pc, params) of the subprogram being read.
            let mut current: Option<(String, isize, u64, Vec<DwarfParam>)> = None;
            while let Ok(Some(entry)) = cursor.next_dfs() {
                let depth = entry.depth();
                if let Some((_, d, low_pc, params)) = current.as_mut() {
                    if depth > *d {
                        if depth == *d + 1
                            && entry.tag() == gimli::DW_TAG_formal_parameter
                            && params.len() < MAX_PARAMS
                        {
                            params.push(param(&dwarf, &unit, &types, entry, *low_pc));
                        }
                        continue;
                    }
                    let (name, _, _, params) = current.take().unwrap();
                    out.insert(name, params);
                }
                if entry.tag() != gimli::DW_TAG_subprogram {
                    continue;
                }
                let Some(name) = name_of(&dwarf, &unit, entry) else {
                    continue;
                };
                // One subprogram per function: a second of the same name
                // (which Go does not write) is not read again.
                if !functions.contains(name.as_str()) || out.contains_key(&name) {
                    continue;
                }
                // Go 1.25+ writes DWARF 5, where low_pc is an index (addrx).
                let low_pc = match entry
                    .attr_value(gimli::DW_AT_low_pc)
                    .map(|v| dwarf.attr_address(&unit, v))
                {
                    Some(Ok(Some(a))) => a,
                    _ => continue,
                };
                current = Some((name, depth, low_pc, Vec::new()));
            }
            if let Some((name, _, _, params)) = current.take() {
                out.insert(name, params);
            }
        }
        out
    }
}

/// Where the abbreviation table at `off` in `abbrev` ends: just past its 0
/// code, or at `limit` when that is the end of the section (gimli reads the
/// end of the section as the end of the table). `None` when the table runs
/// past `limit`. Reads no further than `limit` plus one attribute.
fn abbreviation_table_end(abbrev: &[u8], off: usize, limit: usize) -> Option<usize> {
    let mut at = off;
    let leb = |at: &mut usize| -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..).step_by(7) {
            let b = *abbrev.get(*at)?;
            *at += 1;
            if shift < 64 {
                value |= u64::from(b & 0x7f) << shift;
            }
            if b & 0x80 == 0 {
                return Some(value);
            }
            if *at > limit {
                return None;
            }
        }
        None
    };
    loop {
        if at == limit && limit == abbrev.len() {
            return Some(at);
        }
        if at >= limit {
            return None;
        }
        // code, tag, DW_CHILDREN_*, then (name, form) pairs to (0, 0).
        if leb(&mut at)? == 0 {
            return Some(at);
        }
        leb(&mut at)?;
        at += 1;
        loop {
            let (name, form) = (leb(&mut at)?, leb(&mut at)?);
            if (name, form) == (0, 0) {
                break;
            }
            if form == u64::from(gimli::DW_FORM_implicit_const.0) {
                leb(&mut at)?;
            }
            if at > limit {
                return None;
            }
        }
    }
}

/// The contents of one section, inflated if compressed.
fn section_bytes(
    section: &object::Section<'_, '_>,
    name: &str,
    budget: &mut u64,
) -> Result<Vec<u8>, String> {
    let c = section
        .compressed_data()
        .map_err(|e| format!("DWARF: {name}: {e}"))?;
    inflate(name, &c, budget)
}

/// `c`'s bytes, inflated. `budget` is what is left of [`MAX_INFLATED`]; the
/// declared size is checked against it before anything is inflated, and the
/// inflated size must equal the declared one.
fn inflate(
    name: &str,
    c: &object::CompressedData<'_>,
    budget: &mut u64,
) -> Result<Vec<u8>, String> {
    let declared = c.uncompressed_size;
    let stream: Box<dyn Read + '_> = match c.format {
        CompressionFormat::None => return Ok(c.data.to_vec()),
        CompressionFormat::Zlib => Box::new(flate2::read::ZlibDecoder::new(c.data)),
        CompressionFormat::Zstandard => Box::new(
            ruzstd::decoding::StreamingDecoder::new(c.data)
                .map_err(|e| format!("DWARF: {name}: zstd: {e}"))?,
        ),
        other => return Err(format!("DWARF: {name}: unsupported compression {other:?}")),
    };
    if declared > *budget {
        return Err(format!(
            "DWARF: {name} declares {declared} bytes uncompressed; gozt inflates at most {MAX_INFLATED} bytes of DWARF"
        ));
    }
    // Deflate expands at most ~1032:1, so the input bounds a first reservation;
    // the declared size bounds the rest.
    let mut out = Vec::with_capacity(declared.min(c.data.len() as u64 * 4) as usize);
    stream
        .take(declared + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("DWARF: {name}: cannot inflate: {e}"))?;
    let got = out.len() as u64;
    if got > declared {
        return Err(format!(
            "DWARF: {name} inflates to more than the {declared} bytes its header declares"
        ));
    }
    if got < declared {
        return Err(format!(
            "DWARF: {name} inflates to {got} bytes, not the {declared} its header declares"
        ));
    }
    *budget -= declared;
    Ok(out)
}

fn name_of(
    dwarf: &gimli::Dwarf<Slice<'_>>,
    unit: &gimli::Unit<Slice<'_>>,
    entry: &gimli::DebuggingInformationEntry<Slice<'_>>,
) -> Option<String> {
    let value = entry.attr_value(gimli::DW_AT_name)?;
    let s = dwarf.attr_string(unit, value).ok()?;
    Some(s.to_string_lossy().into_owned())
}

/// Name and byte size of every named top-level DIE (Go puts its types in
/// their own units and refers to them across units), by `.debug_info` offset.
fn type_table(dwarf: &gimli::Dwarf<Slice<'_>>) -> HashMap<usize, (String, u64)> {
    let mut types = HashMap::new();
    let mut units = dwarf.units();
    while let Ok(Some(header)) = units.next() {
        let Ok(unit) = dwarf.unit(header) else {
            continue;
        };
        let mut cursor = unit.entries();
        while let Ok(Some(entry)) = cursor.next_dfs() {
            if entry.depth() != 1 || entry.tag() == gimli::DW_TAG_subprogram {
                continue;
            }
            let Some(name) = name_of(dwarf, &unit, entry) else {
                continue;
            };
            let size = entry
                .attr_value(gimli::DW_AT_byte_size)
                .and_then(|v| v.udata_value())
                .unwrap_or(0);
            if let Some(off) = entry.offset().to_debug_info_offset(&unit.header) {
                types.insert(off.0, (name, size));
            }
        }
    }
    types
}

fn param<'a>(
    dwarf: &gimli::Dwarf<Slice<'a>>,
    unit: &gimli::Unit<Slice<'a>>,
    types: &HashMap<usize, (String, u64)>,
    entry: &gimli::DebuggingInformationEntry<Slice<'a>>,
    low_pc: u64,
) -> DwarfParam {
    // Out-of-line copies of inlinable functions describe parameters through
    // DW_AT_abstract_origin: names and types live on the abstract DIE.
    let described = origin(unit, entry).unwrap_or_else(|| entry.clone());
    let name = name_of(dwarf, unit, &described).unwrap_or_default();
    let is_result = matches!(
        described.attr_value(gimli::DW_AT_variable_parameter),
        Some(AttributeValue::Flag(true))
    );
    let type_off = match described.attr_value(gimli::DW_AT_type) {
        Some(AttributeValue::UnitRef(off)) => off.to_debug_info_offset(&unit.header).map(|o| o.0),
        Some(AttributeValue::DebugInfoRef(off)) => Some(off.0),
        _ => None,
    };
    let (type_name, byte_size) = type_off
        .and_then(|o| types.get(&o).cloned())
        .unwrap_or_default();
    let entry_regs = entry
        .attr_value(gimli::DW_AT_location)
        .and_then(|v| entry_location(dwarf, unit, v, low_pc));
    DwarfParam {
        name,
        is_result,
        type_name,
        byte_size,
        entry_regs,
    }
}

/// The DIE named by `entry`'s DW_AT_abstract_origin, when in the same unit.
fn origin<'a>(
    unit: &gimli::Unit<Slice<'a>>,
    entry: &gimli::DebuggingInformationEntry<Slice<'a>>,
) -> Option<gimli::DebuggingInformationEntry<Slice<'a>>> {
    match entry.attr_value(gimli::DW_AT_abstract_origin)? {
        AttributeValue::UnitRef(off) => unit.entry(off).ok(),
        _ => None,
    }
}

/// The registers of the location that holds at `pc`, one per piece.
fn entry_location(
    dwarf: &gimli::Dwarf<Slice<'_>>,
    unit: &gimli::Unit<Slice<'_>>,
    value: AttributeValue<Slice<'_>>,
    pc: u64,
) -> Option<Vec<u16>> {
    let expr = match value {
        AttributeValue::Exprloc(e) => e,
        other => {
            // A parameter's list has an entry per range its home changes in;
            // the walk stops at MAX_LOCATIONS (lists may be shared, and each
            // parameter walks its own).
            let mut iter = dwarf.attr_locations(unit, other).ok()??;
            let mut walked = 0;
            loop {
                let loc = iter.next().ok()??;
                if loc.range.begin <= pc && pc < loc.range.end {
                    break loc.data;
                }
                walked += 1;
                if walked == MAX_LOCATIONS {
                    return None;
                }
            }
        }
    };
    let mut regs = Vec::new();
    let mut ops = expr.operations(unit.encoding());
    let mut pending = None;
    while let Ok(Some(op)) = ops.next() {
        match op {
            gimli::Operation::Register { register } => pending = Some(register.0),
            gimli::Operation::Piece { .. } => regs.push(pending.take()?),
            _ => return None,
        }
    }
    if let Some(r) = pending {
        regs.push(r);
    }
    (!regs.is_empty()).then_some(regs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(data).unwrap();
        z.finish().unwrap()
    }

    fn compressed(data: &[u8], declared: u64) -> object::CompressedData<'_> {
        object::CompressedData {
            format: CompressionFormat::Zlib,
            data,
            uncompressed_size: declared,
        }
    }

    /// Abbreviation declarations `code` (a compile unit with a string name),
    /// without the table's 0 code.
    fn declarations(codes: std::ops::Range<u8>) -> Vec<u8> {
        codes.flat_map(|c| [c, 0x11, 0, 0x03, 0x08, 0, 0]).collect()
    }

    #[test]
    fn abbreviation_tables_end_at_their_zero_code() {
        let mut t = declarations(1..4);
        t.push(0);
        let second = t.len();
        t.extend(declarations(1..3));
        t.push(0);
        assert_eq!(abbreviation_table_end(&t, 0, second), Some(second));
        assert_eq!(abbreviation_table_end(&t, second, t.len()), Some(t.len()));
        // The last table may end with the section, as gimli allows.
        let open = declarations(1..3);
        assert_eq!(
            abbreviation_table_end(&open, 0, open.len()),
            Some(open.len())
        );
        // A table that runs on into the next one.
        let long = declarations(1..40);
        assert_eq!(abbreviation_table_end(&long, 0, 14), None);
        assert_eq!(abbreviation_table_end(&long, 0, 13), None);
        // Implicit constants carry a value; an endless LEB stops at the limit.
        let implicit = [1, 0x11, 0, 0x03, 0x21, 0x7f, 0, 0, 0];
        assert_eq!(abbreviation_table_end(&implicit, 0, 9), Some(9));
        let endless = [0x80u8; 64];
        assert_eq!(abbreviation_table_end(&endless, 0, 8), None);
        assert_eq!(abbreviation_table_end(&endless, 0, 64), None);
    }

    #[test]
    fn inflates_what_the_header_declares() {
        let z = zlib(&[7u8; 100_000]);
        let mut budget = MAX_INFLATED;
        let out = inflate(".debug_info", &compressed(&z, 100_000), &mut budget).unwrap();
        assert_eq!(out, vec![7u8; 100_000]);
        assert_eq!(budget, MAX_INFLATED - 100_000);
    }

    #[test]
    fn refuses_sizes_past_the_cap_before_inflating() {
        let z = zlib(&[7u8; 1000]);
        let mut budget = MAX_INFLATED;
        let err = inflate(".debug_info", &compressed(&z, 1 << 40), &mut budget).unwrap_err();
        assert_eq!(
            err,
            format!("DWARF: .debug_info declares 1099511627776 bytes uncompressed; gozt inflates at most {MAX_INFLATED} bytes of DWARF")
        );
        // The cap is for all sections together.
        let mut budget = 999;
        assert!(inflate(".debug_loc", &compressed(&z, 1000), &mut budget).is_err());
    }

    #[test]
    fn refuses_sizes_that_are_not_the_inflated_size() {
        let z = zlib(&[7u8; 1000]);
        let mut budget = MAX_INFLATED;
        let err = inflate(".debug_info", &compressed(&z, 1 << 29), &mut budget).unwrap_err();
        assert!(
            err.contains("inflates to 1000 bytes, not the 536870912"),
            "{err}"
        );
        let err = inflate(".debug_info", &compressed(&z, 10), &mut budget).unwrap_err();
        assert!(err.contains("more than the 10 bytes"), "{err}");
        let err = inflate(".debug_info", &compressed(&z[..20], 1000), &mut budget).unwrap_err();
        assert!(err.contains(".debug_info"), "{err}");
    }
}
