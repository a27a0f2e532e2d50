/* SPDX-License-Identifier: Apache-2.0 */
/* Every type shared by gozt's BPF programs and user space. */
#ifndef GOZT_H
#define GOZT_H

/* Frames kept per event for caller attribution: [SP] at RET, then the
 * frame-pointer chain. */
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

/* In-flight calls are keyed by goroutine and frame depth, never by thread. */
struct gozt_key {
	__u32 tgid;
	__u32 pad;
	__u64 goid;
	__u64 depth; /* g.stack.hi - SP: survives stack copies */
};

/* A call under way at its key; once its RET has run, `done` is set and the
 * entry stays for the next call at that key (user space removes idle ones):
 * the next call writes it in place, which costs far less than a map insert
 * and delete per call. */
struct gozt_inflight {
	__u64 start_ns;
	__u64 in_bytes;
	__u64 minus;
	__u32 func_id;
	__u32 done;
};

/* A return address known to be a caller's, in the code of process tgid:
 * the frame walk stops there (user space adds them as it names callers). */
struct gozt_caller_key {
	__u32 tgid;
	__u32 pad;
	__u64 addr;
};

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
