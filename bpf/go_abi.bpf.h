/* SPDX-License-Identifier: Apache-2.0 */
/* The registers of Go's register ABI, per architecture (the one clang is
 * given: __TARGET_ARCH_x86 or __TARGET_ARCH_arm64, set by build.rs from
 * cargo's target). gozt.bpf.c reads a call's registers only through these:
 *   struct regs         the integer argument/result registers in the ABI's
 *                       order (gozt.h's indexes), g, SP and the frame pointer;
 *   copy_regs(ctx, r)   copies them once out of the trap's context;
 *   return_address(r)   the probed function's return address at its entry;
 *   sp_word(r, stack)   the word at SP at the entry, which stays the same
 *                       while the call's frame lives (stack: its callers).
 * amd64: arguments in RAX RBX RCX RDI RSI R8 R9 R10 R11, g in R14, the
 * return address at [SP], RBP the caller's frame pointer.
 * arm64: arguments in X0-X15, g in X28, the return address in LR (X30),
 * X29 the caller's frame pointer; the context is struct user_pt_regs. Go's
 * frame records look alike on both: [fp] is the next frame pointer and
 * [fp + 8] the frame's return address. */
#ifndef GO_ABI_BPF_H
#define GO_ABI_BPF_H

#if defined(__TARGET_ARCH_x86)
#define GO_ABI_INT_REGS GOZT_INT_REGS
/* The argument registers, then RDX (GOZT_AMD64_RDX). */
#define GO_ABI_REGS (GOZT_INT_REGS + 1)
#elif defined(__TARGET_ARCH_arm64)
#define GO_ABI_INT_REGS GOZT_ARM64_INT_REGS
#define GO_ABI_REGS GOZT_ARM64_INT_REGS
#else
#error "gozt's BPF programs support __TARGET_ARCH_x86 and __TARGET_ARCH_arm64"
#endif

/* The registers gozt reads, copied once out of the context. */
struct regs {
	__u64 r[GO_ABI_REGS];
	__u64 g;
	__u64 sp;
	__u64 fp;
	__u64 lr; /* arm64's link register; 0 on amd64 */
	__u64 flags; /* EFLAGS on amd64 (a sink's branch reads them); PSTATE on arm64 */
};

#if defined(__TARGET_ARCH_x86)

static __always_inline void copy_regs(struct pt_regs *ctx, struct regs *out)
{
	out->r[GOZT_AMD64_RAX] = ctx->ax;
	out->r[GOZT_AMD64_RBX] = ctx->bx;
	out->r[GOZT_AMD64_RCX] = ctx->cx;
	out->r[GOZT_AMD64_RDI] = ctx->di;
	out->r[GOZT_AMD64_RSI] = ctx->si;
	out->r[GOZT_AMD64_R8] = ctx->r8;
	out->r[GOZT_AMD64_R9] = ctx->r9;
	out->r[GOZT_AMD64_R10] = ctx->r10;
	out->r[GOZT_AMD64_R11] = ctx->r11;
	out->r[GOZT_AMD64_RDX] = ctx->dx;
	out->g = ctx->r14;
	out->sp = ctx->sp;
	out->fp = ctx->bp;
	out->lr = 0;
	out->flags = ctx->flags;
}

/* The goroutine a thread in a system call runs: g of the user registers it
 * entered with (Go makes its syscalls with g still in R14). 0 when
 * unreadable. */
static __always_inline __u64 user_g_of(struct pt_regs *user)
{
	__u64 g = 0;

	bpf_probe_read_kernel(&g, sizeof(g), &user->r14);
	return g;
}

/* CALL pushed it: [SP] at the entry. 0 when unreadable. */
static __always_inline __u64 return_address(const struct regs *r)
{
	__u64 ret = 0;

	bpf_probe_read_user(&ret, sizeof(ret), (void *)r->sp);
	return ret;
}

/* The return address itself: the first caller read. */
static __always_inline __u64 sp_word(const struct regs *r, const __u64 *stack)
{
	return stack[0];
}

#else /* __TARGET_ARCH_arm64 */

static __always_inline void copy_regs(struct pt_regs *ctx, struct regs *out)
{
	const struct user_pt_regs *u = (const struct user_pt_regs *)ctx;
	int i;

#pragma unroll
	for (i = 0; i < GO_ABI_INT_REGS; i++)
		out->r[GOZT_ARM64_X0 + i] = u->regs[i];
	out->g = u->regs[28];
	out->fp = u->regs[29];
	out->lr = u->regs[30];
	out->flags = u->pstate;
	out->sp = u->sp;
}

/* BL left it in LR, which the entry has not saved yet. */
static __always_inline __u64 return_address(const struct regs *r)
{
	return r->lr;
}

/* The goroutine a thread in a system call runs: g of the user registers it
 * entered with (X28, which Go keeps for g). 0 when unreadable. */
static __always_inline __u64 user_g_of(struct pt_regs *user)
{
	__u64 g = 0;

	bpf_probe_read_kernel(&g, sizeof(g), &user->regs[28]);
	return g;
}

/* The caller's saved LR: Go's arm64 frames keep their LR at their own SP,
 * and the callee saves its LR below (at its new SP), so the word at the
 * entry's SP is the caller's until that frame is left. 0 when unreadable. */
static __always_inline __u64 sp_word(const struct regs *r, const __u64 *stack)
{
	__u64 word = 0;

	bpf_probe_read_user(&word, sizeof(word), (void *)r->sp);
	return word;
}

#endif

#endif /* GO_ABI_BPF_H */
