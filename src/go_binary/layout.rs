//! ELF load layout: PT_LOAD segments and the mapping from virtual addresses to
//! file offsets, which is what uprobes attach by.

use object::{Object, ObjectSegment, SegmentFlags};

/// One PT_LOAD segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub vaddr: u64,
    pub mem_size: u64,
    pub file_offset: u64,
    pub file_size: u64,
    pub executable: bool,
}

/// The PT_LOAD segments of an ELF file, in file order.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    pub segments: Vec<Segment>,
}

const PF_X: u32 = 1;

impl Layout {
    pub(crate) fn read(file: &object::File<'_>) -> Self {
        let segments = file
            .segments()
            .map(|s| {
                let (file_offset, file_size) = s.file_range();
                let executable =
                    matches!(s.flags(), SegmentFlags::Elf { p_flags, .. } if p_flags.0 & PF_X != 0);
                Segment {
                    vaddr: s.address(),
                    mem_size: s.size(),
                    file_offset,
                    file_size,
                    executable,
                }
            })
            .collect();
        Layout { segments }
    }

    /// The segment whose file-backed part holds `vaddr`.
    fn segment_of(&self, vaddr: u64, executable: bool) -> Option<&Segment> {
        self.segments.iter().find(|s| {
            (s.executable || !executable)
                && vaddr >= s.vaddr
                && vaddr - s.vaddr < s.file_size
                && s.file_offset.checked_add(s.file_size).is_some()
        })
    }

    /// File offset of `vaddr` if it lies in the file-backed part of a segment.
    pub fn file_offset(&self, vaddr: u64) -> Option<u64> {
        let s = self.segment_of(vaddr, false)?;
        Some(vaddr - s.vaddr + s.file_offset)
    }

    /// File offset of `vaddr` if it lies in an executable segment: the only
    /// place a uprobe can go.
    pub fn text_file_offset(&self, vaddr: u64) -> Option<u64> {
        let s = self.segment_of(vaddr, true)?;
        Some(vaddr - s.vaddr + s.file_offset)
    }

    /// File offset of `vaddr` if all of `[vaddr, vaddr + len)` lies in the
    /// file-backed part of one executable segment: then every address of the
    /// range maps by the same difference, with no search per address.
    pub fn text_span(&self, vaddr: u64, len: u64) -> Option<u64> {
        let s = self.segment_of(vaddr, true)?;
        (len <= s.file_size - (vaddr - s.vaddr)).then(|| vaddr - s.vaddr + s.file_offset)
    }

    /// The virtual address that file offset `offset` is mapped at, if any.
    pub fn vaddr_of_offset(&self, offset: u64) -> Option<u64> {
        self.segments
            .iter()
            .find(|s| offset >= s.file_offset && offset - s.file_offset < s.file_size)
            .and_then(|s| (offset - s.file_offset).checked_add(s.vaddr))
    }

    /// The file offset where a process running this executable has its
    /// `mm->start_code`: the kernel sets it to the lowest executable
    /// segment's address (plus the PIE load bias). None unless every one of
    /// `offsets` lies in that segment, where a site's offset from it is
    /// its distance from start_code in every process.
    pub fn code_start(&self, offsets: impl IntoIterator<Item = u64>) -> Option<u64> {
        let s = self
            .segments
            .iter()
            .filter(|s| s.executable)
            .min_by_key(|s| s.vaddr)?;
        offsets
            .into_iter()
            .all(|o| o >= s.file_offset && o - s.file_offset < s.file_size)
            .then_some(s.file_offset)
    }

    /// `len` bytes of the file at `vaddr`, if they are all file-backed (in one
    /// segment, inside `data`). Sizes come from the binary: nothing here
    /// trusts them to fit.
    pub fn bytes<'d>(&self, data: &'d [u8], vaddr: u64, len: u64) -> Option<&'d [u8]> {
        let seg = self.segment_of(vaddr, false)?;
        let start = vaddr - seg.vaddr;
        if len > seg.file_size - start {
            return None;
        }
        let off = usize::try_from(start + seg.file_offset).ok()?;
        data.get(off..off.checked_add(usize::try_from(len).ok()?)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        Layout {
            segments: vec![
                Segment {
                    vaddr: 0x400000,
                    mem_size: 0x2000,
                    file_offset: 0,
                    file_size: 0x2000,
                    executable: true,
                },
                Segment {
                    vaddr: 0x403000,
                    mem_size: 0x3000,
                    file_offset: 0x2000,
                    file_size: 0x1000,
                    executable: false,
                },
            ],
        }
    }

    #[test]
    fn maps_addresses_through_segments() {
        let l = layout();
        assert_eq!(l.file_offset(0x401234), Some(0x1234));
        assert_eq!(l.text_file_offset(0x401234), Some(0x1234));
        assert_eq!(l.file_offset(0x403010), Some(0x2010));
        assert_eq!(l.text_file_offset(0x403010), None);
        // .bss part of the second segment has no file bytes.
        assert_eq!(l.file_offset(0x404010), None);
        assert_eq!(l.vaddr_of_offset(0x2010), Some(0x403010));
    }

    #[test]
    fn bytes_stay_inside_one_segment() {
        let l = layout();
        let data = vec![0u8; 0x3000];
        assert_eq!(l.bytes(&data, 0x401ff0, 0x10).map(<[u8]>::len), Some(0x10));
        assert!(l.bytes(&data, 0x401ff0, 0x20).is_none());
        assert!(l.bytes(&data, 0x401ff0, u64::MAX).is_none());
        assert!(l.bytes(&data, u64::MAX, 1).is_none());
        assert_eq!(l.text_span(0x401ff0, 0x10), Some(0x1ff0));
        assert_eq!(l.text_span(0x401ff0, 0x11), None);
        assert_eq!(l.text_span(0x403000, 0x10), None);
    }
}
