/* SPDX-License-Identifier: Apache-2.0 */
/* Every type and constant shared by gozt's BPF programs and user space.
 * build.rs turns each `#define GOZT_* <integer>` below (or `<GOZT_ name>`,
 * defined before it) into a Rust constant (src/base/gozt_h.rs), and fails
 * on any other GOZT_ define but macros with arguments; the structs reach
 * Rust through the skeleton. */
#ifndef GOZT_H
#define GOZT_H

/* Frames kept per call for caller attribution: the return address, then
 * the frame-pointer chain. */
#define GOZT_STACK_DEPTH 8

/* Calls one goroutine can have in flight at once, nested (a stream's Write
 * calling a block encoder, say). */
#define GOZT_NEST 4

/* Slots of the per-CPU counters; CPUs beyond share slots (the counters are
 * added atomically, so sharing is correct, only slower). A power of two. */
#define GOZT_COUNTER_SLOTS 256

/* Go's integer argument and result registers on amd64, in the register
 * ABI's assignment order (RAX RBX RCX RDI RSI R8 R9 R10 R11): the index of
 * each in struct regs (gozt.bpf.c) and in gozt_func's register fields. */
#define GOZT_AMD64_RAX 0
#define GOZT_AMD64_RBX 1
#define GOZT_AMD64_RCX 2
#define GOZT_AMD64_RDI 3
#define GOZT_AMD64_RSI 4
#define GOZT_AMD64_R8 5
#define GOZT_AMD64_R9 6
#define GOZT_AMD64_R10 7
#define GOZT_AMD64_R11 8
#define GOZT_INT_REGS 9
/* Not an argument register (the closure context), copied after them: a
 * sink's length may be in it at the branch before its call. */
#define GOZT_AMD64_RDX 9
/* On arm64 they are R0-R15 (X0-X15): the index of Xn is GOZT_ARM64_X0 + n
 * (bpf/go_abi.bpf.h copies them). */
#define GOZT_ARM64_X0 0
#define GOZT_ARM64_INT_REGS 16
/* A value that is not read. */
#define GOZT_REG_NONE 0xff

/* gozt_func.flags */
#define GOZT_IN_AT_RET 0x1      /* bytes_in is read at RET, not entry */
/* An encoder's constructor or reset, or a library's internal work on a
 * goroutine of its own (pgzip's): made inside no other call, it does not
 * end the wait for the last payload's downstream write (caddy resets its
 * gzip writer after Close, before the response is written). */
#define GOZT_LIFECYCLE 0x2
#define GOZT_EOF_IS_SUCCESS 0x4 /* an io.EOF error is the end of a stream */
#define GOZT_OUT_FROM_SINKS 0x8 /* bytes_out is what the call wrote to its io.Writer */
#define GOZT_TOTALS_AT_RET 0x10 /* read the stream's own counts at RET (totals_off) */
/* The entry's trap is at the prologue's stack-check branch, which the
 * kernel emulates: it costs a fraction of a trap the kernel single-steps
 * (a RET, a sink), and is counted apart (emulated_inside). */
#define GOZT_ENTRY_EMULATED 0x20
/* A call of it made inside no other traced call ends a payload (a one-shot
 * call, a writer's Close), or does when it returns an error or io.EOF (a
 * reader's Read): the goroutine's next write(2) is the payload's
 * downstream write. */
#define GOZT_ENDS_PAYLOAD 0x40
#define GOZT_ENDS_AT_EOF 0x80

/* gozt_event.flags */
#define GOZT_EV_ERROR 0x1
#define GOZT_EV_IN_VALID 0x2
#define GOZT_EV_OUT_VALID 0x4
#define GOZT_EV_EOF 0x8     /* the call returned io.EOF: its stream ended */
#define GOZT_EV_INNER 0x10  /* made inside another traced call (outer_id) */
#define GOZT_EV_STARTED 0x20 /* the call wrote its stream's header */
#define GOZT_EV_TOTALS 0x40 /* total_in and total_out were read */
#define GOZT_EV_ROUTE 0x80   /* made serving an HTTP request: method, route */
#define GOZT_EV_PATTERN 0x100 /* route is the mux's pattern, not the path */
/* Not a call: a payload's downstream write (func_id is the function that
 * ended the payload; start_ns, duration_ns the write's; bytes_in what it
 * was given, bytes_out what it wrote; payload_end_ns, fd_kind). */
#define GOZT_EV_WRITE 0x200

/* What a downstream write writes to (gozt_event.fd_kind). */
#define GOZT_FD_OTHER 0
#define GOZT_FD_TCP 1
#define GOZT_FD_UDP 2
#define GOZT_FD_UNIX 3
#define GOZT_FD_FILE 4
#define GOZT_FD_PIPE 5
/* An anonymous inode (the Go runtime's eventfd that wakes its poller):
 * no payload's bytes go there, and the write is passed over. */
#define GOZT_FD_SKIP 6

/* gozt_downstream.state */
#define GOZT_DOWN_ARMED 1   /* a payload ended; its write not yet begun */
#define GOZT_DOWN_WRITING 2 /* its write's first write(2) was made */

/* The kernel stack of a task is this large (x86-64 and arm64 without
 * KASAN): its user registers lie at its top, where kernels without
 * bpf_task_pt_regs (before 5.15) are read. */
#define GOZT_THREAD_SIZE 16384

/* gozt_call.flags */
#define GOZT_CALL_STARTED 0x1

/* gozt_event.outer_id of a call made inside no other traced call. */
#define GOZT_NO_OUTER 0xffffffff

/* Set in the attach cookie of RET sites; the low 32 bits are the function id. */
#define GOZT_COOKIE_RET 0x100000000
/* Set in every cookie of the `sites` map, so that 0 means no site. */
#define GOZT_COOKIE_KNOWN 0x200000000
/* A sink site: a call of a stream's underlying io.Writer.Write, made by the
 * compressor's own code (flate's bit writer, gzip's and zlib's header and
 * trailer). Its length argument is added to the output of the innermost
 * traced call under way on the goroutine. The low 32 bits name a function of the same
 * binary, for its runtime.g offsets. */
#define GOZT_COOKIE_SINK 0x400000000
/* A sink that writes a stream's header: the stream's start was seen. */
#define GOZT_COOKIE_HEADER 0x800000000
/* The length of the slice argument of io.Writer.Write at its call, under
 * the register ABI (receiver RAX, then the slice's RBX RCX RDI): RCX. */
#define GOZT_SINK_LEN_REG GOZT_AMD64_RCX /* index 2: X2 on arm64, the same word */
/* A sink's cookie names the register that holds the write's length at the
 * trap (4 bits from GOZT_SINK_REG_SHIFT): GOZT_SINK_LEN_REG at the call.
 * GOZT_COOKIE_SINK_BRANCH: the trap is at a conditional branch a few
 * instructions before the call (flate's `if w.err != nil`), which the
 * kernel emulates where it single-steps a call; the call is made, and its
 * bytes count, when the branch's condition (x86 condition code, 4 bits from
 * GOZT_SINK_COND_SHIFT) does not hold in EFLAGS. */
#define GOZT_COOKIE_SINK_BRANCH 0x2000000000
#define GOZT_SINK_COND_SHIFT 40
#define GOZT_SINK_REG_SHIFT 44
/* The length is a constant the code sets after the branch (gzip's 8-byte
 * trailer), in the cookie's top 16 bits. */
#define GOZT_COOKIE_SINK_LEN_CONST 0x4000000000
#define GOZT_SINK_CONST_SHIFT 48
/* The length is the register's low byte (klauspost's flate keeps its
 * buffered byte count in a uint8). */
#define GOZT_COOKIE_SINK_LEN_BYTE 0x8000000000
/* A sink keyed by its destination, the io.Writer's data word (the call's
 * receiver, GOZT_SINK_DEST_REG at the call; without
 * GOZT_COOKIE_SINK_BRANCH, whose condition's bits it uses). A writer that
 * writes its blocks on a goroutine of its own (pgzip): made inside no
 * traced call, its length is added to `dest_bytes` under its destination;
 * made inside one, what was kept there is taken into that call's output
 * (the stream's trailer, written once every block has been), or, at a
 * header (GOZT_COOKIE_HEADER), forgotten (a stream that failed before its
 * trailer). */
#define GOZT_COOKIE_SINK_KEYED 0x10000000000
#define GOZT_SINK_DEST_REG GOZT_AMD64_RAX /* index 0: X0 on arm64, the same word */
/* Destinations whose blocks are kept at once (an LRU map). */
#define GOZT_DEST_SLOTS 4096

/* A request site (bits that sink cookies use for their fields: a cookie
 * with GOZT_COOKIE_SINK is a sink's): the entry (or, with GOZT_COOKIE_RET, a
 * RET) of net/http's serverHandler.ServeHTTP, which every request served by
 * net/http goes through (HTTP/1.1, and the bundled HTTP/2's handler
 * goroutines). The low 32 bits name a function of the same binary, for its
 * runtime.g offsets and its binary's http.Request layout. */
#define GOZT_COOKIE_REQUEST 0x10000000000
/* A request site's entry trap is at the prologue's stack-check branch, which
 * the kernel emulates (counted in traps_emulated). */
#define GOZT_COOKIE_EMULATED 0x20000000000

/* Bytes of a request's method and route kept: longer ones are cut (the
 * event says the full length). */
#define GOZT_METHOD_BYTES 8
#define GOZT_ROUTE_BYTES 64

/* The cookie of a binary's grouped event (classic uprobes through one
 * tracefs event per binary, src/tracer/events.rs): the low 32 bits are the
 * binary's index, and the site comes from `sites` by (index, distance of the
 * trap from the process's mm->start_code). */
#define GOZT_COOKIE_BINARY 0x1000000000

/* Kernels without attach cookies (before 5.15): the site of a trap comes
 * from its address, through the mapping that holds it (the first
 * GOZT_VMA_WALK mappings of the process are searched: the executable's come
 * first), as (inode, file offset) -> cookie in `sites`. */
#define GOZT_VMA_WALK 16

/* Words of runtime.g read at once: g.stack.hi, g.sched.pc and g.goid lie in
 * its first 176 bytes in every Go version gozt knows (goid at 152 or 160). */
#define GOZT_G_WORDS 22

/* Known callers. The frame walk stops at return addresses user space has
 * already named; they live in `callers`, an array of tags. The tag of
 * address addr in process tgid is GOZT_CALLER_TAG; it goes in slot
 * GOZT_CALLER_SLOT (masked to the map's size), or in the slot next to it
 * (index ^ 1) when that one is taken. A cache, not a set: a tag that finds
 * both slots taken is not stored, and a miss only makes a walk longer. Two
 * (tgid, addr) pairs share a tag only if their addresses differ by exactly
 * the xor of their tgids' products, which for two traced processes' return
 * addresses does not happen in practice. */
#define GOZT_CALLER_MIX 0x9e3779b97f4a7c15
#define GOZT_CALLER_TAG(tgid, addr) ((__u64)(addr) ^ ((__u64)(tgid) * (__u64)GOZT_CALLER_MIX))
#define GOZT_CALLER_SLOT(tag, mask) ((__u32)(((__u64)(tag) * (__u64)GOZT_CALLER_MIX) >> 32) & (mask))
/* One test vector, checked by the C compiler (gozt.bpf.c) and by Rust's
 * tests (src/tracer/callers.rs): both sides hash alike or neither builds
 * green. */
#define GOZT_CALLER_TEST_TGID 4242
#define GOZT_CALLER_TEST_ADDR 0x4a1234
#define GOZT_CALLER_TEST_TAG 0xb33f03bf407601ce
#define GOZT_CALLER_TEST_MASK 8191
#define GOZT_CALLER_TEST_SLOT 2761

/* What one probed function reads; index = attach cookie. */
struct gozt_func {
	__u32 goid_off;     /* runtime.g.goid */
	__u32 stack_hi_off; /* runtime.g.stack.hi */
	__u8 in_reg;
	__u8 out_reg;
	__u8 minus_reg;     /* read at entry, subtracted from out */
	__u8 err_reg;       /* first word of the error */
	__u8 flags;
	__u8 obj_reg;       /* the receiver, at entry: the stream's identity */
	/* serverHandler.ServeHTTP's *http.Request argument (request sites),
	 * GOZT_REG_NONE when the binary's request layout is not known. */
	__u8 req_reg;
	__u8 pad;
	/* runtime.g.sched.pc: runtime.morestack leaves it inside the function
	 * whose prologue called it, and that function then runs again from its
	 * entry (stack growth, or a preemption request caught there). */
	__u32 sched_pc_off;
	__u32 size; /* bytes of code from the entry */
	/* GOZT_TOTALS_AT_RET: the offset in the receiver of two int64 counts,
	 * output then input (zstd's Encoder: state.nWritten, state.nInput). */
	__u32 totals_off;
	/* runtime.asyncPreempt2, from the entry's trap (its start less the
	 * trap's address, in the same binary) and its size: where an
	 * asynchronous preemption leaves g.sched.pc (through mcall). Size 0
	 * when the binary has none. */
	__u32 preempt_size;
	__s64 preempt_off;
	/* The binary's http.Request: Method, URL, (*url.URL).Path, and Pattern
	 * (Go 1.23+; ~0 when it has none). */
	__u32 req_method_off;
	__u32 req_url_off;
	__u32 url_path_off;
	__u32 req_pattern_off;
};

/* A keyed sink's destination in one process (`dest_bytes`). */
struct gozt_dest_key {
	__u32 tgid;
	__u32 pad;
	__u64 dest;
};

/* In-flight calls are kept per goroutine, never per thread: the key is the
 * goroutine's runtime.g (R14), and each call records its goid and frame
 * depth g.stack.hi - SP, which survives stack copies and separates
 * recursive frames. */
struct gozt_key {
	__u32 tgid;
	__u32 pad;
	__u64 g;
};

/* One call under way; `active` is cleared when its RET has run. */
struct gozt_call {
	__u64 start_ns;
	__u64 in_bytes;
	__u64 minus;
	__u64 goid;
	__u64 depth; /* g.stack.hi - SP at the entry */
	__u32 func_id;
	__u32 active;
	__u64 obj;        /* the receiver at entry */
	__u64 sink_bytes; /* written to the stream's io.Writer so far */
	__u32 outer_id;   /* the traced call this one is made in, or GOZT_NO_OUTER */
	__u32 flags;      /* GOZT_CALL_* */
	/* Traps taken on this goroutine while the call was under way (its
	 * inner calls' entries and RETs, sinks, a repeated entry): gozt's own
	 * time inside the call, taken out of its latency in user space. */
	__u32 traps_inside;
	/* The run time of gozt's programs for those traps (ns, saturating):
	 * taken out with the traps' own cost. */
	__u32 prog_ns;
	/* Of traps_inside, those at an emulated branch (GOZT_ENTRY_EMULATED
	 * entries, GOZT_COOKIE_SINK_BRANCH sinks). */
	__u32 emulated_inside;
	/* Of traps_inside, its own entry's again (entry_repeated). */
	__u32 repeats;
	/* The callers, read at the entry, where they are the same as at the
	 * RET: there the read follows the one of g, and a second read of
	 * target memory in a program costs less than the first. */
	__u64 stack[GOZT_STACK_DEPTH];
	/* The word at SP at the entry, which stays while the call's frame lives
	 * (bpf/go_abi.bpf.h): the return address on amd64, the caller's saved
	 * LR on arm64. */
	__u64 sp_word;
};

/* The request a goroutine is serving: its serverHandler.ServeHTTP call,
 * whose frame is found again as a call's is (depth, sp_word), and what was
 * read of the request at its entry. */
struct gozt_request {
	__u64 req; /* the *http.Request */
	__u64 goid;
	__u64 depth;
	__u64 sp_word;
	__u32 active;
	__u32 path_len; /* the URL path's full length */
	char method[GOZT_METHOD_BYTES];
	char path[GOZT_ROUTE_BYTES];
};

/* A goroutine's payload awaiting its downstream write: the next write(2)
 * the goroutine makes (internal/poll.(*FD).Write's, for a socket, a file
 * or a pipe), before its next traced call (the next payload, or a part of
 * it) or request. One write: its
 * write(2) calls until all its bytes are written or it fails (EAGAIN and
 * EINTR, after which Go writes again, continue it). */
struct gozt_downstream {
	__u64 payload_end_ns;
	__u64 goid;
	__u64 start_ns;
	__u64 want_bytes;    /* the first write(2)'s count */
	__u64 written_bytes; /* what its write(2) calls wrote */
	__u32 func_id;       /* the function whose call ended the payload */
	__u32 state;         /* GOZT_DOWN_* */
	__u32 fd;
	__u32 fd_kind;       /* GOZT_FD_* */
};

/* A goroutine's calls under way. Only the programs of the goroutine running
 * on its g touch the record, and a goroutine runs on one CPU at a time: it
 * is written in place, and user space deletes it only once no program can
 * run for it (its process has exited, or the probes are detached), so no
 * party ever writes through a pointer to a deleted record. */
struct gozt_inflight {
	struct gozt_call calls[GOZT_NEST];
	struct gozt_downstream down;
};

/* Requests under way kept at once (the `requests` map, least recently
 * begun out first): a goroutine serving requests gets a record there, not
 * in `inflight`, unless it also compresses. */
#define GOZT_REQUESTS 16384

/* Counters, one set per CPU slot (user space sums them). Each lost or
 * unmeasured call is counted once, under one cause. */
struct gozt_counters {
	__u64 ringbuf_full;    /* measured, but its event found the ring full */
	__u64 inflight_full;   /* not measured: no record or no free slot */
	__u64 ret_unmatched;   /* a RET without its entry (call begun before attach) */
	__u64 ret_dropped;     /* the RET of a call counted in inflight_full */
	__u64 ret_stopping;    /* a RET without entry while entries are off or going on */
	__u64 entry_repeated;  /* a prologue run again after morestack */
	__u64 entry_abandoned; /* a call that never returned (panic, Goexit) */
	__u64 read_failed;     /* not measured: runtime.g unreadable */
	__u64 traps;           /* every trap, when counted here (count_traps) */
	__u64 frames_walked;   /* frames read past a call's return address */
	__u64 site_unknown;    /* a trap whose site was not found (no cookie) */
	__u64 traps_emulated; /* traps at an emulated branch: entries, sinks (of traps) */
	/* entry_abandoned by what the new entry found (GOZT_TIMING says them): */
	__u64 abandoned_goroutine; /* g runs another goroutine now */
	__u64 abandoned_caller;    /* a shallower call whose frame is gone */
	__u64 abandoned_frame;     /* a call at this depth or deeper, left */
	/* Request sites' entries: requests served by net/http while traced.
	 * The last word of the slot's 128 bytes (no false sharing). */
	__u64 requests;
};

/* A probe site of a binary, in the `sites` map of classic uprobes that do
 * not carry the site's own cookie: without attach cookies, its file's inode
 * and the site's file offset; in a grouped event with cookies, the binary's
 * index and the site's distance from mm->start_code. */
struct gozt_site_key {
	__u64 file;
	__u64 offset;
};

/* One completed call. */
struct gozt_event {
	__u64 start_ns;
	__u64 duration_ns;
	__u64 goid;
	__u64 bytes_in;
	__u64 bytes_out;
	__u64 stack[GOZT_STACK_DEPTH];
	/* The process's identity with tgid: its start time (the thread group
	 * leader's start_boottime, ns since boot; /proc/PID/stat's starttime
	 * is this in clock ticks), so a reused pid is another process. */
	__u64 proc_start_ns;
	/* The address of the RET that ended the call: with the function's RET
	 * offsets it gives a PIE's load address, for processes gone before
	 * their mappings were read. */
	__u64 ret_ip;
	__u32 tgid;
	__u32 func_id;
	__u32 flags;
	__u32 outer_id;
	__u64 obj;       /* the receiver (a stream's writer or reader), or 0 */
	__u64 total_in;  /* GOZT_EV_TOTALS: the stream's own counts */
	__u64 total_out;
	__u32 traps_inside;
	__u32 prog_inside_ns; /* gozt_call.prog_ns */
	__u32 emulated_inside; /* of traps_inside, at an emulated branch */
	/* GOZT_EV_ROUTE: the route's full length (route holds its first
	 * GOZT_ROUTE_BYTES). */
	__u32 route_len;
	char method[GOZT_METHOD_BYTES];
	char route[GOZT_ROUTE_BYTES];
	/* GOZT_EV_WRITE: when its payload ended, and what it wrote to. */
	__u64 payload_end_ns;
	__u32 fd_kind;
	__u32 pad;
};

#endif /* GOZT_H */
