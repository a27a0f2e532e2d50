/* SPDX-License-Identifier: Apache-2.0 */
/* Every type shared by gozt's BPF programs and user space. */
#ifndef GOZT_H
#define GOZT_H

/* Frames kept per call for caller attribution: the return address, then
 * the frame-pointer chain. */
#define GOZT_STACK_DEPTH 8

/* Register indexes of Go's integer argument order (RAX RBX RCX RDI RSI R8 R9
 * R10 R11); GOZT_REG_NONE when a value is not read. */
#define GOZT_REG_NONE 0xff

/* gozt_func.flags */
#define GOZT_IN_AT_RET 0x1           /* bytes_in is read at RET, not entry */
#define GOZT_EOF_IS_SUCCESS 0x4      /* an io.EOF error is the end of a stream */

/* gozt_event.flags */
#define GOZT_EV_ERROR 0x1
#define GOZT_EV_IN_VALID 0x2
#define GOZT_EV_OUT_VALID 0x4

/* Set in the attach cookie of RET sites; the low 32 bits are the function id. */
#define GOZT_COOKIE_RET (1ULL << 32)

/* What one probed function reads; index = attach cookie. */
struct gozt_func {
	__u32 goid_off;     /* runtime.g.goid */
	__u32 stack_hi_off; /* runtime.g.stack.hi */
	__u8 in_reg;
	__u8 out_reg;
	__u8 minus_reg;     /* read at entry, subtracted from out */
	__u8 err_reg;       /* first word of the error */
	__u8 flags;
	__u8 pad[3];
	/* runtime.g.sched.pc: runtime.morestack leaves it inside the function
	 * whose prologue called it, and that function then runs again from its
	 * entry (stack growth, or a preemption request caught there). */
	__u32 sched_pc_off;
	__u32 size; /* bytes of code from the entry */
};

/* Calls one goroutine can have in flight at once, nested (a stream's Write
 * calling a block encoder, say). */
#define GOZT_NEST 4

/* In-flight calls are kept per goroutine, never per thread: the key is the
 * goroutine's runtime.g (R14), and each call records its frame depth
 * g.stack.hi - SP, which survives stack copies and separates recursive
 * frames. */
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
	__u64 depth;    /* g.stack.hi - SP at the entry */
	__u64 stack_hi; /* g.stack.hi at the entry: at a RET on the same stack,
			 * stack_hi - SP is the depth without reading g */
	__u32 func_id;
	__u32 active;
	/* The callers, read at the entry, where they are the same as at the
	 * RET: there the read follows the one of g, and a second read of
	 * target memory in a program costs less than the first. */
	__u64 stack[GOZT_STACK_DEPTH];
};

/* A goroutine's calls under way. The record stays when they have returned,
 * for the goroutine's next call, which writes it in place: far cheaper than a
 * map insert and delete per call (user space removes idle records). */
struct gozt_inflight {
	__u64 last_ns; /* the latest entry */
	struct gozt_call calls[GOZT_NEST];
};

/* Return addresses known to be callers' live in `callers`, an array of
 * tags: the frame walk stops at them (user space adds them as it names
 * callers). The tag of address addr in process tgid is
 * addr ^ (tgid * caller_mix); it goes in slot (tag * caller_mix) >> 32, masked
 * to the map's size, or in the slot next to it (index ^ 1) when that one is
 * taken; src/tracer/mod.rs computes the same. A cache, not a set: a tag that
 * finds both slots taken is not stored, and a miss only makes a walk
 * longer. Two (tgid, addr) pairs share a tag only if their addresses differ
 * by exactly the xor of their tgids' products, which for two traced
 * processes' return addresses does not happen in practice (the product's
 * top 17 bits would have to agree). */

/* One completed call. */
struct gozt_event {
	__u64 start_ns;
	__u64 duration_ns;
	__u64 goid;
	__u64 bytes_in;
	__u64 bytes_out;
	__u64 stack[GOZT_STACK_DEPTH];
	__u32 tgid;
	__u32 func_id;
	__u32 flags;
	__u32 pad;
};

#endif /* GOZT_H */
