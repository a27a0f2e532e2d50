//! The known-callers cache the programs stop their frame walks at: user space
//! decides which slot each caller's tag takes, with the hash of bpf/gozt.h.

use crate::base::gozt_h::{GOZT_CALLER_MIX, GOZT_CALLER_TEST_ADDR, GOZT_CALLER_TEST_TGID};

/// The tag of return address `addr` of process `tgid` and its first slot
/// (the other is `slot ^ 1`), as `GOZT_CALLER_TAG` and `GOZT_CALLER_SLOT`
/// compute them.
pub fn caller_slot(tgid: u32, addr: u64, mask: u32) -> (u32, u64) {
    let tag = addr ^ u64::from(tgid).wrapping_mul(GOZT_CALLER_MIX);
    let slot = (tag.wrapping_mul(GOZT_CALLER_MIX) >> 32) as u32 & mask;
    (slot, tag)
}

/// The test vector of bpf/gozt.h, which the C compiler checks too.
pub const TEST_INPUT: (u32, u64) = (GOZT_CALLER_TEST_TGID as u32, GOZT_CALLER_TEST_ADDR);

/// The cache as user space wrote it: the slot a new caller's tag goes in, of
/// its two, or None when both hold other tags.
/// The process of each slot's tag is kept beside it, so that a pid another
/// process takes leaves none of the earlier one's tags.
pub struct CallerSlots(Vec<u64>, Vec<u32>);

impl CallerSlots {
    /// `slots` slots (rounded up to a power of two, at least 2).
    pub fn new(slots: u32) -> CallerSlots {
        let n = slots.max(2).next_power_of_two() as usize;
        CallerSlots(vec![0; n], vec![0; n])
    }

    pub fn slots(&self) -> u32 {
        self.0.len() as u32
    }

    /// Empties the slots of process `tgid`'s tags; returns them.
    pub fn forget(&mut self, tgid: u32) -> Vec<u32> {
        let mut freed = Vec::new();
        for (i, owner) in self.1.iter_mut().enumerate() {
            if *owner == tgid && self.0[i] != 0 {
                self.0[i] = 0;
                *owner = 0;
                freed.push(i as u32);
            }
        }
        freed
    }

    pub fn mask(&self) -> u32 {
        self.slots() - 1
    }

    pub fn place(&mut self, tgid: u32, addr: u64) -> Option<(u32, u64)> {
        let (first, tag) = caller_slot(tgid, addr, self.mask());
        let slot = [first, first ^ 1]
            .into_iter()
            .find(|&i| self.0[i as usize] == 0 || self.0[i as usize] == tag)?;
        self.0[slot as usize] = tag;
        self.1[slot as usize] = tgid;
        Some((slot, tag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::gozt_h::{GOZT_CALLER_TEST_MASK, GOZT_CALLER_TEST_SLOT, GOZT_CALLER_TEST_TAG};

    #[test]
    fn a_process_forgotten_leaves_no_tag_and_its_slots_are_free_again() {
        let mut c = CallerSlots::new(2);
        let a = c.place(7, 0x1000).unwrap();
        let b = c.place(8, 0x2000).unwrap();
        assert_ne!(a.0, b.0);
        // Both slots taken: a third tag finds none.
        assert_eq!(c.place(9, 0x3000), None);
        assert_eq!(c.forget(7), vec![a.0]);
        assert_eq!(c.forget(7), Vec::<u32>::new());
        assert!(c.place(9, 0x3000).is_some());
    }

    #[test]
    fn the_hash_meets_the_shared_test_vector() {
        let (tgid, addr) = TEST_INPUT;
        assert_eq!(
            caller_slot(tgid, addr, GOZT_CALLER_TEST_MASK as u32),
            (GOZT_CALLER_TEST_SLOT as u32, GOZT_CALLER_TEST_TAG)
        );
    }

    #[test]
    fn a_caller_takes_the_free_one_of_its_two_slots() {
        let mut slots = CallerSlots::new(8);
        let (first, tag) = caller_slot(7, 0x4a1234, 7);
        assert_eq!(slots.place(7, 0x4a1234), Some((first, tag)));
        // Again: the same slot, nothing new.
        assert_eq!(slots.place(7, 0x4a1234), Some((first, tag)));
        // Another process's same address is another tag.
        assert_ne!(caller_slot(7 + (1 << 17), 0x4a1234, 7).1, tag);
        // With both slots taken by other tags, a caller finds none.
        let mut full = CallerSlots(vec![u64::MAX; 8], vec![0; 8]);
        assert_eq!(full.place(7, 0x4a1234), None);
        full.0[(first ^ 1) as usize] = 0;
        assert_eq!(full.place(7, 0x4a1234), Some((first ^ 1, tag)));
    }
}
