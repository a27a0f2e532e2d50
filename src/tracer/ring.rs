//! The ring buffer of completed calls, drained into the caller's buffer (the
//! programs submit without wakeups: user space polls on a timer).

use std::cell::RefCell;
use std::rc::Rc;

use libbpf_rs::{RingBuffer, RingBufferBuilder};

use super::skel::types::gozt_event;
use super::skel::GoztSkel;
use crate::base::gozt_h::{
    GOZT_EV_EOF, GOZT_EV_ERROR, GOZT_EV_INNER, GOZT_EV_IN_VALID, GOZT_EV_OUT_VALID,
    GOZT_EV_PATTERN, GOZT_EV_ROUTE, GOZT_EV_STARTED, GOZT_EV_TOTALS, GOZT_EV_WRITE,
};
use crate::event::{CallEvent, FdKind, RouteSeen, WriteSeen};

/// The events map, read.
pub struct Ring<'obj> {
    ring: RingBuffer<'obj>,
    pending: Rc<RefCell<Vec<CallEvent>>>,
}

impl<'obj> Ring<'obj> {
    pub fn new(skel: &GoztSkel<'obj>) -> libbpf_rs::Result<Ring<'obj>> {
        let pending: Rc<RefCell<Vec<CallEvent>>> = Rc::default();
        let into = Rc::clone(&pending);
        let mut builder = RingBufferBuilder::new();
        builder.add(&skel.maps.events, move |data: &[u8]| {
            if let Some(ev) = decode(data) {
                into.borrow_mut().push(ev);
            }
            0
        })?;
        Ok(Ring {
            ring: builder.build()?,
            pending,
        })
    }

    /// Appends every event submitted so far to `out`.
    pub fn drain(&self, out: &mut Vec<CallEvent>) {
        let _ = self.ring.consume();
        out.append(&mut self.pending.borrow_mut());
    }
}

/// One ring-buffer record as a call event.
pub fn decode(data: &[u8]) -> Option<CallEvent> {
    let ev: gozt_event = bytemuck::pod_read_unaligned(data.get(..size_of::<gozt_event>())?);
    let flag = |f: u64| u64::from(ev.flags) & f != 0;
    Some(CallEvent {
        tgid: ev.tgid,
        proc_start_ns: ev.proc_start_ns,
        ret_ip: ev.ret_ip,
        goid: ev.goid,
        func_id: ev.func_id,
        start_ns: ev.start_ns,
        duration_ns: ev.duration_ns,
        bytes_in: flag(GOZT_EV_IN_VALID).then_some(ev.bytes_in),
        bytes_out: flag(GOZT_EV_OUT_VALID).then_some(ev.bytes_out),
        error: flag(GOZT_EV_ERROR),
        eof: flag(GOZT_EV_EOF),
        outer: flag(GOZT_EV_INNER).then_some(ev.outer_id),
        obj: ev.obj,
        started: flag(GOZT_EV_STARTED),
        totals: flag(GOZT_EV_TOTALS).then_some((ev.total_in, ev.total_out)),
        traps_inside: ev.traps_inside,
        prog_inside_ns: ev.prog_inside_ns,
        emulated_inside: ev.emulated_inside,
        correction_ns: 0,
        uncorrected: false,
        stack: ev.stack.iter().copied().take_while(|&a| a != 0).collect(),
        route: flag(GOZT_EV_ROUTE).then(|| route(&ev)),
        write: flag(GOZT_EV_WRITE).then(|| WriteSeen {
            payload_end_ns: ev.payload_end_ns,
            kind: FdKind::of_code(ev.fd_kind),
        }),
    })
}

/// The request an event's call was made serving.
fn route(ev: &gozt_event) -> RouteSeen {
    let bytes = |b: &[i8]| b.iter().map(|&c| c as u8).collect::<Vec<u8>>();
    let method = bytes(&ev.method);
    let method = &method[..method.iter().position(|&c| c == 0).unwrap_or(method.len())];
    let text = bytes(&ev.route);
    let n = (ev.route_len as usize).min(text.len());
    RouteSeen {
        method: String::from_utf8_lossy(method).into_owned(),
        text: String::from_utf8_lossy(&text[..n]).into_owned(),
        len: ev.route_len,
        pattern: u64::from(ev.flags) & GOZT_EV_PATTERN != 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_read_whole_or_not_at_all() {
        let mut ev = gozt_event {
            tgid: 7,
            goid: 9,
            bytes_in: 4096,
            flags: GOZT_EV_IN_VALID as u32 | GOZT_EV_ERROR as u32,
            ..gozt_event::default()
        };
        ev.stack[0] = 0x401000;
        // One byte in, as the ring buffer may hand it: unaligned.
        let mut bytes = vec![0u8];
        bytes.extend_from_slice(bytemuck::bytes_of(&ev));
        let call = decode(&bytes[1..]).unwrap();
        assert_eq!((call.tgid, call.goid), (7, 9));
        assert_eq!((call.bytes_in, call.bytes_out), (Some(4096), None));
        assert!(call.error && !call.eof);
        assert_eq!(call.stack, vec![0x401000]);
        assert_eq!(decode(&bytes[1..bytes.len() - 1]), None, "cut short");
    }
}
