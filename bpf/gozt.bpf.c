// SPDX-License-Identifier: Apache-2.0
/* gozt: latency, sizes and failures of Go compression calls.
 *
 * gozt_site runs at each probed function's entry and at each of its RET
 * instructions (never a uretprobe: they crash Go when stacks move), all from
 * one uprobe.multi link per binary (gozt_site, kernels 6.6+), or from one
 * classic uprobe per site: with attach cookies (gozt_site_cookie, 5.15+), or
 * without (gozt_site_ip, which finds its site from the trap's address). The
 * cookie is the function id, indexing `funcs`, with GOZT_COOKIE_RET set at
 * RET sites. User space attaches every RET before every entry, so a call
 * whose entry was seen always has its RETs in place.
 *
 * Each lost or unmeasured call is counted once, under one cause, in per-CPU
 * counters (gozt.h).
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "gozt.h"
#include "go_abi.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The caller tags of user space and of these programs agree (gozt.h). */
_Static_assert(GOZT_CALLER_TAG(GOZT_CALLER_TEST_TGID, GOZT_CALLER_TEST_ADDR) ==
		       GOZT_CALLER_TEST_TAG,
	       "caller tag test vector");
_Static_assert(GOZT_CALLER_SLOT(GOZT_CALLER_TEST_TAG, GOZT_CALLER_TEST_MASK) ==
		       GOZT_CALLER_TEST_SLOT,
	       "caller slot test vector");

/* Sizes are set from user space before load. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gozt_func);
} funcs SEC(".maps");

/* One record per goroutine runtime.g that has made a traced call. Go never
 * frees a g (dead ones are kept for reuse by new goroutines), so a process
 * has at most as many records as it ever had goroutines at once: records
 * stay until their process exits, and a g's next goroutine writes its calls
 * in place. Not preallocated: memory follows the goroutines seen. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct gozt_key);
	__type(value, struct gozt_inflight);
} inflight SEC(".maps");

/* The request each goroutine serving one is serving (gozt.h), by its g. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, GOZT_REQUESTS);
	__type(key, struct gozt_key);
	__type(value, struct gozt_request);
} requests SEC(".maps");

/* Goroutines with calls counted in inflight_full whose RETs are still to
 * come: those RETs are not unmatched returns (each loss counted once). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct gozt_key);
	__type(value, __u32);
} dropped SEC(".maps");

/* Tags of known callers (gozt.h); the size, a power of two, is set before
 * load together with caller_mask. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} callers SEC(".maps");

/* Set before load: the callers map's size - 1. */
const volatile __u32 caller_mask = 0;

/* Kernels without attach cookies: (inode, file offset) of each site ->
 * its cookie. Sized by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, struct gozt_site_key);
	__type(value, __u64);
} sites SEC(".maps");

/* Keyed sinks' bytes written on a goroutine of the library's own, by
 * destination, until the stream's call that writes there next takes them
 * (GOZT_COOKIE_SINK_KEYED). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, GOZT_DEST_SLOTS);
	__type(key, struct gozt_dest_key);
	__type(value, __u64);
} dest_bytes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

/* Read by user space, summed over the slots. */
struct gozt_counters counters[GOZT_COUNTER_SLOTS] = {};

/* Traps are counted here only when count_traps is set: where the kernel
 * keeps BPF statistics, their run count is the same number at no cost. */
const volatile __u8 count_traps = 0;

/* Set before load when payloads' downstream writes are traced (the write
 * tracepoints attached): a payload's end arms its goroutine's record. */
const volatile __u8 trace_writes = 0;

/* Set by user space when tracing stops: entries record nothing more, and
 * RETs that find no call are those of calls begun since (not losses). */
__u32 stopping = 0;

/* Set by user space while the probes are being attached: a RET that finds
 * no call then belongs to a call begun before its entry's probe was in
 * place (the RETs go in first), not a loss. */
__u32 attaching = 0;

/* Benchmarks (gozt attach --probe-alternate): while set, gozt_site returns
 * at once, as the floor program does, so that user space can switch between
 * the two every few hundred milliseconds in one running target. */
__u32 floor_now = 0;

/* The last call found abandoned, and the entry that found it (GOZT_TIMING
 * prints them): function ids, frame depths, and where g.sched.pc was from
 * the new entry's trap. Written without locking: one record, for reading
 * after a run. */
__u32 abandoned_last_func = 0;
__u32 abandoned_last_by = 0;
__u64 abandoned_last_depth = 0;
__u64 abandoned_last_by_depth = 0;
__u64 abandoned_last_sched_off = 0;
__u64 abandoned_last_count = 0;

/* Make libbpf-cargo emit the Rust types. */
struct gozt_event gozt_event_type = {};
struct gozt_inflight gozt_inflight_type = {};
struct gozt_key gozt_key_type = {};

#define COUNT(field)                                                                   \
	__sync_fetch_and_add(                                                          \
		&counters[bpf_get_smp_processor_id() & (GOZT_COUNTER_SLOTS - 1)].field, 1)
#define COUNT_N(field, n)                                                              \
	__sync_fetch_and_add(                                                          \
		&counters[bpf_get_smp_processor_id() & (GOZT_COUNTER_SLOTS - 1)].field, n)

static __always_inline __u64 reg(const struct regs *r, __u8 i)
{
	if (i >= GO_ABI_REGS)
		return 0;
	return r->r[i];
}

/* What gozt reads of runtime.g. */
struct g_view {
	__u64 goid;
	__u64 stack_hi;
	__u64 sched_pc;
};

/* One read of target memory costs far more than its size (about 100 ns
 * here), so g.stack.hi, g.sched.pc and g.goid come in one read when they lie
 * in g's first GOZT_G_WORDS words, as in every Go version gozt knows. */
static __always_inline int read_g(const struct regs *r, const struct gozt_func *f,
				  struct g_view *v)
{
	__u32 goid_i = f->goid_off / 8, hi_i = f->stack_hi_off / 8, pc_i = f->sched_pc_off / 8;
	__u64 g[GOZT_G_WORDS];

	if (goid_i < GOZT_G_WORDS && hi_i < GOZT_G_WORDS && pc_i < GOZT_G_WORDS) {
		if (bpf_probe_read_user(g, sizeof(g), (void *)r->g))
			return -1;
		/* Bounded again here, after the call: kernels before 5.13 forget
		 * the bounds of a scalar spilled to the stack across it. */
		barrier_var(goid_i);
		barrier_var(hi_i);
		barrier_var(pc_i);
		if (goid_i >= GOZT_G_WORDS || hi_i >= GOZT_G_WORDS || pc_i >= GOZT_G_WORDS)
			return -1;
		v->goid = g[goid_i];
		v->stack_hi = g[hi_i];
		v->sched_pc = g[pc_i];
		return 0;
	}
	if (bpf_probe_read_user(&v->goid, sizeof(v->goid), (void *)(r->g + f->goid_off)) ||
	    bpf_probe_read_user(&v->stack_hi, sizeof(v->stack_hi),
				(void *)(r->g + f->stack_hi_off)) ||
	    bpf_probe_read_user(&v->sched_pc, sizeof(v->sched_pc),
				(void *)(r->g + f->sched_pc_off)))
		return -1;
	return 0;
}

/* The key of the current goroutine's record. */
static __always_inline void goroutine_key(const struct regs *r, struct gozt_key *key)
{
	key->tgid = bpf_get_current_pid_tgid() >> 32;
	key->pad = 0;
	key->g = r->g;
}

/* True when addr, in process tgid, is a return address user space has
 * already named a caller by: its tag is in one of its two slots (gozt.h). */
static __always_inline int caller_known(__u32 tgid, __u64 addr)
{
	__u64 tag = GOZT_CALLER_TAG(tgid, addr), *slot;
	__u32 i = GOZT_CALLER_SLOT(tag, caller_mask);

	slot = bpf_map_lookup_elem(&callers, &i);
	if (slot && *slot == tag)
		return 1;
	i ^= 1;
	slot = bpf_map_lookup_elem(&callers, &i);
	return slot && *slot == tag;
}

/* The return address (go_abi.bpf.h), then the frame-pointer chain (still
 * the caller's at the entry), up to the first frame known to be a
 * caller's. */
static __always_inline void read_callers(const struct regs *r, __u32 tgid, __u64 *stack)
{
	__u64 fp, walked = 0;
	int i;

	stack[0] = return_address(r);
	fp = caller_known(tgid, stack[0]) ? 0 : r->fp;
	for (i = 1; i < GOZT_STACK_DEPTH; i++) {
		/* One read per frame: the saved frame pointer, then the return address. */
		struct {
			__u64 next;
			__u64 ret;
		} frame = {};

		if (!fp || bpf_probe_read_user(&frame, sizeof(frame), (void *)fp)) {
			stack[i] = 0;
			fp = 0;
			continue;
		}
		walked++;
		stack[i] = frame.ret;
		fp = caller_known(tgid, frame.ret) ? 0 : frame.next;
	}
	if (walked)
		COUNT_N(frames_walked, walked);
}

/* A call that is not measured: its RET is told not to count it again. */
static __always_inline void drop_call(struct gozt_key *key)
{
	__u32 one = 1, *n = bpf_map_lookup_elem(&dropped, key);

	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&dropped, key, &one, BPF_ANY);
}

/* Whether call c, whose frame lies above the current SP, is still under
 * way: the word at its entry's SP (its return address on amd64) is still
 * what its entry found there. */
static __always_inline int caller_live(const struct gozt_call *c, const struct g_view *v)
{
	__u64 ret = 0;

	if (!c->sp_word)
		return 1;
	if (bpf_probe_read_user(&ret, sizeof(ret), (void *)(v->stack_hi - c->depth)))
		return 1;
	return ret == c->sp_word;
}

/* Inserted for a goroutine's first call under way. */
const struct gozt_inflight empty_inflight = {};

/* Charges the run time of this program so far (since `t0`) to the calls
 * of `rec` in `mask` (those whose traps_inside this trap counted). */
static __always_inline void charge(struct gozt_inflight *rec, __u32 mask, __u64 t0)
{
	__u64 ns = bpf_ktime_get_ns() - t0;
	int i;

	if (!mask)
		return;
#pragma unroll
	for (i = 0; i < GOZT_NEST; i++) {
		struct gozt_call *c = &rec->calls[i];
		__u64 sum;

		if (!(mask & (1u << i)))
			continue;
		sum = (__u64)c->prog_ns + ns;
		c->prog_ns = sum > 0xffffffffULL ? 0xffffffffU : (__u32)sum;
	}
}

/* A probed function's entry: records the call in its goroutine's record. */
static __always_inline int on_entry(const struct regs *r, __u64 ip, __u32 id, __u64 t0)
{
	struct gozt_inflight *rec;
	struct gozt_call *call;
	struct gozt_key key;
	struct gozt_func *f;
	struct g_view v;
	__u64 depth, now, outer_depth = ~0ULL;
	__u32 outer_id = GOZT_NO_OUTER, mask = 0, emulated;
	int i, slot = -1;

	if (stopping)
		return 0;
	f = bpf_map_lookup_elem(&funcs, &id);
	if (!f)
		return 0;
	emulated = f->flags & GOZT_ENTRY_EMULATED;
	if (emulated)
		COUNT(traps_emulated);
	goroutine_key(r, &key);
	if (read_g(r, f, &v)) {
		COUNT(read_failed);
		drop_call(&key);
		return 0;
	}
	depth = v.stack_hi - r->sp;
	rec = bpf_map_lookup_elem(&inflight, &key);
	if (!rec) {
		bpf_map_update_elem(&inflight, &key, &empty_inflight, BPF_NOEXIST);
		rec = bpf_map_lookup_elem(&inflight, &key);
		if (!rec) {
			COUNT(inflight_full);
			drop_call(&key);
			return 0;
		}
	}
#pragma unroll
	for (i = 0; i < GOZT_NEST; i++) {
		struct gozt_call *c = &rec->calls[i];

		if (!c->active) {
			if (slot < 0)
				slot = i;
			continue;
		}
		/* A caller's call, still under way: this call is made inside it.
		 * The outermost one names it. Unless a panic unwound it: its
		 * frame's return address slot then holds another frame's data
		 * (the new call's frames cover it, being deeper). */
		if (c->goid == v.goid && c->depth < depth && caller_live(c, &v)) {
			c->traps_inside++;
			if (emulated)
				c->emulated_inside++;
			mask |= 1u << i;
			if (c->depth < outer_depth) {
				outer_depth = c->depth;
				outer_id = c->func_id;
			}
			continue;
		}
		/* The same call again: runtime.morestack (stack growth, or a
		 * preemption request caught in the prologue) saved a PC inside
		 * this function in g.sched and jumped back to its entry. A new
		 * call after one that never returned finds g.sched.pc elsewhere
		 * (the panic's recovery point, the last park). But the register
		 * unspills between morestack's return and that jump are
		 * preemptible: an asynchronous preemption there leaves g.sched.pc
		 * in runtime.asyncPreempt2. So that too is the same call when
		 * nothing was trapped inside it but its own entry again and it
		 * comes from the same return address. */
		if (c->goid == v.goid && c->depth == depth && c->func_id == id &&
		    ((v.sched_pc >= ip && v.sched_pc - ip < f->size) ||
		     (v.sched_pc - (ip + f->preempt_off) < f->preempt_size &&
		      c->traps_inside == c->repeats && c->stack[0] &&
		      c->stack[0] == return_address(r)))) {
			COUNT(entry_repeated);
			c->repeats++;
			c->traps_inside++;
			if (emulated)
				c->emulated_inside++;
			charge(rec, mask | (1u << i), t0);
			return 0;
		}
		/* This frame, or a deeper one, was left without a RET (panic,
		 * Goexit), or a shallower one unwound by a panic, or g now runs
		 * another goroutine: that call never returned. */
		COUNT(entry_abandoned);
		if (c->goid != v.goid)
			COUNT(abandoned_goroutine);
		else if (c->depth < depth)
			COUNT(abandoned_caller);
		else
			COUNT(abandoned_frame);
		abandoned_last_func = c->func_id;
		abandoned_last_by = id;
		abandoned_last_depth = c->depth;
		abandoned_last_by_depth = depth;
		abandoned_last_sched_off = v.sched_pc - ip;
		abandoned_last_count++;
		c->active = 0;
		if (slot < 0)
			slot = i;
	}
	if (slot < 0 || slot >= GOZT_NEST) {
		COUNT(inflight_full);
		drop_call(&key);
		charge(rec, mask, t0);
		return 0;
	}
	call = &rec->calls[slot];
	/* A call made inside no other begins the next payload (or part of
	 * it): a write from here on is not the last payload's. */
	if (outer_id == GOZT_NO_OUTER && !(f->flags & GOZT_LIFECYCLE))
		rec->down.state = 0;
	/* Before the clock: the walk is gozt's time, not the call's. */
	read_callers(r, key.tgid, call->stack);
	call->sp_word = sp_word(r, call->stack);
	now = bpf_ktime_get_ns();
	call->func_id = id;
	call->in_bytes = (f->flags & GOZT_IN_AT_RET) ? 0 : reg(r, f->in_reg);
	call->minus = reg(r, f->minus_reg);
	call->goid = v.goid;
	call->depth = depth;
	call->obj = reg(r, f->obj_reg);
	call->sink_bytes = 0;
	call->outer_id = outer_id;
	call->flags = 0;
	call->traps_inside = 0;
	call->emulated_inside = 0;
	call->repeats = 0;
	call->prog_ns = 0;
	call->start_ns = now;
	call->active = 1;
	/* The callers' share ends here; the new call's clock has started. */
	charge(rec, mask, t0);
	return 0;
}

/* A Go string's header. */
struct go_string {
	__u64 ptr;
	__u64 len;
};

/* Copies the first bytes of Go string `s` (at most `size`, a constant) to
 * `out`: 0 when they were read (or it is empty), else -1. */
static __always_inline int read_go_string(const struct go_string *s, char *out, __u64 size)
{
	__u64 n = s->len;

	if (n > size)
		n = size;
	if (!n)
		return 0;
	if (!s->ptr)
		return -1;
	return bpf_probe_read_user(out, n, (void *)s->ptr) ? -1 : 0;
}

/* A request record to start from. */
const struct gozt_request empty_request = {};

/* A request site's entry: the goroutine now serves this request. Its
 * method and URL path are read here, once per request. */
static __always_inline int on_request(const struct regs *r, __u64 cookie)
{
	__u32 id = (__u32)cookie;
	struct gozt_request *q;
	struct gozt_inflight *rec;
	struct go_string s = {};
	struct gozt_key key;
	struct gozt_func *f;
	struct g_view v;
	__u64 req, url = 0;

	if (cookie & GOZT_COOKIE_EMULATED)
		COUNT(traps_emulated);
	goroutine_key(r, &key);
	/* Whatever follows, the goroutine's last request is over, and a
	 * payload's write, if any, came before this one. */
	q = bpf_map_lookup_elem(&requests, &key);
	if (q)
		q->active = 0;
	rec = bpf_map_lookup_elem(&inflight, &key);
	if (rec)
		rec->down.state = 0;
	if (stopping)
		return 0;
	f = bpf_map_lookup_elem(&funcs, &id);
	if (!f || f->req_reg == GOZT_REG_NONE)
		return 0;
	COUNT(requests);
	if (read_g(r, f, &v))
		return 0;
	req = reg(r, f->req_reg);
	if (!req)
		return 0;
	if (!q) {
		bpf_map_update_elem(&requests, &key, &empty_request, BPF_ANY);
		q = bpf_map_lookup_elem(&requests, &key);
		if (!q)
			return 0;
	}
	q->req = req;
	q->goid = v.goid;
	q->depth = v.stack_hi - r->sp;
	q->sp_word = 0;
	q->path_len = 0;
	__builtin_memset(q->method, 0, sizeof(q->method));
	__builtin_memset(q->path, 0, sizeof(q->path));
	if (!bpf_probe_read_user(&s, sizeof(s), (void *)(req + f->req_method_off)))
		read_go_string(&s, q->method, GOZT_METHOD_BYTES);
	if (!bpf_probe_read_user(&url, sizeof(url), (void *)(req + f->req_url_off)) && url &&
	    !bpf_probe_read_user(&s, sizeof(s), (void *)(url + f->url_path_off)) &&
	    !read_go_string(&s, q->path, GOZT_ROUTE_BYTES))
		q->path_len = s.len > 0xffffffffULL ? 0xffffffffU : (__u32)s.len;
	q->sp_word = return_address(r);
	{
		__u64 stack[1] = {q->sp_word};

		q->sp_word = sp_word(r, stack);
	}
	q->active = 1;
	return 0;
}

/* A request site's RET: the goroutine's request is over. */
static __always_inline int on_request_ret(const struct regs *r, __u32 id)
{
	struct gozt_request *q;
	struct gozt_key key;
	struct gozt_func *f;
	struct g_view v;

	f = bpf_map_lookup_elem(&funcs, &id);
	if (!f)
		return 0;
	goroutine_key(r, &key);
	q = bpf_map_lookup_elem(&requests, &key);
	if (!q || !q->active || read_g(r, f, &v))
		return 0;
	if (q->goid == v.goid && q->depth == v.stack_hi - r->sp)
		q->active = 0;
	return 0;
}

/* Fills the route of event `ev`, a call at `depth` on goroutine `v` of a
 * function `f` of the binary, when the goroutine serves a request whose
 * handler's frame is still there: the mux's pattern if it set one (read
 * now, after the mux ran), else the path read at the request's entry. */
static __always_inline void event_route(struct gozt_event *ev, const struct gozt_key *key,
					const struct gozt_func *f, const struct g_view *v,
					__u64 depth)
{
	struct gozt_request *q = bpf_map_lookup_elem(&requests, key);
	struct go_string s = {};
	__u64 word = 0;

	if (!q || !q->active || q->goid != v->goid || q->depth >= depth)
		return;
	/* The handler's frame is gone once the word at its entry's SP changed
	 * (on amd64 its return address: the caller's next call writes there). */
	if (bpf_probe_read_user(&word, sizeof(word), (void *)(v->stack_hi - q->depth)) ||
	    word != q->sp_word) {
		q->active = 0;
		return;
	}
	__builtin_memcpy(ev->method, q->method, sizeof(ev->method));
	ev->flags |= GOZT_EV_ROUTE;
	if (f->req_pattern_off != 0xffffffffU &&
	    !bpf_probe_read_user(&s, sizeof(s), (void *)(q->req + f->req_pattern_off)) &&
	    s.len && !read_go_string(&s, ev->route, GOZT_ROUTE_BYTES)) {
		ev->route_len = s.len > 0xffffffffULL ? 0xffffffffU : (__u32)s.len;
		ev->flags |= GOZT_EV_PATTERN;
		return;
	}
	__builtin_memcpy(ev->route, q->path, sizeof(ev->route));
	ev->route_len = q->path_len;
}

/* True when the error interface's data word points at an errorString "EOF". */
static __always_inline int is_eof(__u64 data)
{
	struct {
		__u64 ptr;
		__u64 len;
	} s = {};
	char text[4] = {};

	if (!data || bpf_probe_read_user(&s, sizeof(s), (void *)data) || s.len != 3)
		return 0;
	if (bpf_probe_read_user(text, 3, (void *)s.ptr))
		return 0;
	return text[0] == 'E' && text[1] == 'O' && text[2] == 'F';
}

/* A RET that found no call of its own. */
static __always_inline void ret_missed(struct gozt_key *key)
{
	__u32 *n;

	if (stopping || attaching) {
		COUNT(ret_stopping);
		return;
	}
	n = bpf_map_lookup_elem(&dropped, key);
	if (n && *n > 0) {
		/* No fetching atomics: kernels before 5.12 lack them. */
		__sync_fetch_and_add(n, -1);
		if (*n == 0)
			bpf_map_delete_elem(&dropped, key);
		COUNT(ret_dropped);
		return;
	}
	COUNT(ret_unmatched);
}

/* The current process's start time: its thread group leader's, in ns
 * since boot (what /proc/PID/stat gives in clock ticks). */
static __always_inline __u64 proc_start_ns(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	return BPF_CORE_READ(task, group_leader, start_boottime);
}

/* A RET of a probed function: the call's event. */
static __always_inline int on_ret(const struct regs *r, __u64 ip, __u64 now, __u32 id, __u64 t0)
{
	struct gozt_call *call = NULL;
	struct gozt_inflight *rec;
	struct gozt_event *ev;
	struct gozt_key key;
	struct gozt_func *f;
	struct g_view v;
	__u32 mask = 0;
	__u64 depth;
	int i;

	f = bpf_map_lookup_elem(&funcs, &id);
	if (!f)
		return 0;
	goroutine_key(r, &key);
	rec = bpf_map_lookup_elem(&inflight, &key);
	if (!rec) {
		ret_missed(&key);
		return 0;
	}
	/* SP is the entry's again at a RET; g's current goid and stack (it
	 * may have been copied during the call) name the call. */
	if (read_g(r, f, &v)) {
		COUNT(read_failed);
		return 0;
	}
	depth = v.stack_hi - r->sp;
#pragma unroll
	for (i = 0; i < GOZT_NEST; i++) {
		struct gozt_call *c = &rec->calls[i];

		if (c->active && c->func_id == id && c->depth == depth && c->goid == v.goid)
			call = c;
		/* This RET's trap is inside the calls under way above it. */
		else if (c->active && c->goid == v.goid && c->depth < depth) {
			c->traps_inside++;
			mask |= 1u << i;
		}
	}
	if (!call) {
		ret_missed(&key);
		charge(rec, mask, t0);
		return 0;
	}
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (ev) {
		ev->start_ns = call->start_ns;
		ev->duration_ns = now - call->start_ns;
		ev->goid = call->goid;
		ev->tgid = key.tgid;
		ev->proc_start_ns = proc_start_ns();
		ev->ret_ip = ip;
		ev->func_id = id;
		ev->flags = 0;
		ev->outer_id = call->outer_id;
		if (call->outer_id != GOZT_NO_OUTER)
			ev->flags |= GOZT_EV_INNER;
		if (call->flags & GOZT_CALL_STARTED)
			ev->flags |= GOZT_EV_STARTED;
		ev->obj = call->obj;
		ev->traps_inside = call->traps_inside;
		ev->emulated_inside = call->emulated_inside;
		ev->route_len = 0;
		ev->payload_end_ns = 0;
		ev->fd_kind = 0;
		ev->pad = 0;
		ev->prog_inside_ns = call->prog_ns;
		ev->total_in = 0;
		ev->total_out = 0;
		if (f->flags & GOZT_TOTALS_AT_RET) {
			__u64 counts[2];

			if (call->obj &&
			    !bpf_probe_read_user(counts, sizeof(counts),
						 (void *)(call->obj + f->totals_off))) {
				ev->total_out = counts[0];
				ev->total_in = counts[1];
				ev->flags |= GOZT_EV_TOTALS;
			}
		}
		ev->bytes_in = (f->flags & GOZT_IN_AT_RET) ? reg(r, f->in_reg) : call->in_bytes;
		if (f->in_reg != GOZT_REG_NONE)
			ev->flags |= GOZT_EV_IN_VALID;
		ev->bytes_out = 0;
		if (f->flags & GOZT_OUT_FROM_SINKS) {
			ev->bytes_out = call->sink_bytes;
			ev->flags |= GOZT_EV_OUT_VALID;
		} else if (f->out_reg != GOZT_REG_NONE) {
			ev->bytes_out = reg(r, f->out_reg) - call->minus;
			ev->flags |= GOZT_EV_OUT_VALID;
		}
		if (f->err_reg != GOZT_REG_NONE && reg(r, f->err_reg)) {
			if ((f->flags & GOZT_EOF_IS_SUCCESS) && is_eof(reg(r, f->err_reg + 1)))
				ev->flags |= GOZT_EV_EOF;
			else
				ev->flags |= GOZT_EV_ERROR;
		}
#pragma unroll
		for (i = 0; i < GOZT_STACK_DEPTH; i++)
			ev->stack[i] = call->stack[i];
		/* A payload's call (not one made inside another) carries the
		 * request its goroutine serves. */
		if (call->outer_id == GOZT_NO_OUTER)
			event_route(ev, &key, f, &v, depth);
		bpf_ringbuf_submit(ev, BPF_RB_NO_WAKEUP);
	} else {
		COUNT(ringbuf_full);
	}
	/* A payload ended: the goroutine's next write is its downstream one. */
	if (trace_writes && call->outer_id == GOZT_NO_OUTER &&
	    ((f->flags & GOZT_ENDS_PAYLOAD) ||
	     ((f->flags & GOZT_ENDS_AT_EOF) && f->err_reg != GOZT_REG_NONE &&
	      reg(r, f->err_reg)))) {
		rec->down.state = GOZT_DOWN_ARMED;
		rec->down.payload_end_ns = now;
		rec->down.goid = call->goid;
		rec->down.func_id = id;
	}
	call->active = 0;
	charge(rec, mask, t0);
	return 0;
}

/* Whether x86 condition code `cc` (a Jcc opcode's low nibble) holds in
 * `fl` (EFLAGS): the pairs o, b, e, be, s, p, l, le, each then negated. */
static __always_inline int condition_holds(__u64 fl, __u32 cc)
{
	int cf = fl & 1, pf = (fl >> 2) & 1, zf = (fl >> 6) & 1;
	int sf = (fl >> 7) & 1, of = (fl >> 11) & 1;
	int v;

	switch ((cc >> 1) & 7) {
	case 0:
		v = of;
		break;
	case 1:
		v = cf;
		break;
	case 2:
		v = zf;
		break;
	case 3:
		v = cf | zf;
		break;
	case 4:
		v = sf;
		break;
	case 5:
		v = pf;
		break;
	case 6:
		v = sf != of;
		break;
	default:
		v = zf | (sf != of);
		break;
	}
	return (cc & 1) ? !v : v;
}

/* A keyed sink's `len` bytes, written on the library's own goroutine: kept
 * under their destination for the stream's call that writes there next. */
static __always_inline void keep_dest_bytes(struct gozt_dest_key *dest, __u64 len)
{
	__u64 *kept = bpf_map_lookup_elem(&dest_bytes, dest);

	if (kept) {
		__sync_fetch_and_add(kept, len);
		return;
	}
	/* Another goroutine may have made the entry in between. */
	if (bpf_map_update_elem(&dest_bytes, dest, &len, BPF_NOEXIST)) {
		kept = bpf_map_lookup_elem(&dest_bytes, dest);
		if (kept)
			__sync_fetch_and_add(kept, len);
	}
}

/* A sink site (gozt.h): the bytes a stream's compressor hands its
 * io.Writer count as output of the innermost traced call under way on this
 * goroutine. */

static __always_inline int on_sink(const struct regs *r, __u64 cookie, __u64 t0)
{
	struct gozt_dest_key dest = {};
	int keyed;
	struct gozt_call *deepest = NULL;
	__u32 mask = 0;
	__u32 id = (__u32)cookie;
	int branch = !!(cookie & GOZT_COOKIE_SINK_BRANCH);
	struct gozt_inflight *rec;
	struct gozt_key key;
	struct gozt_func *f;
	struct g_view v;
	__u64 len;
	int i;

	if (branch)
		COUNT(traps_emulated);
	f = bpf_map_lookup_elem(&funcs, &id);
	if (!f)
		return 0;
	if (cookie & GOZT_COOKIE_SINK_LEN_CONST)
		len = (cookie >> GOZT_SINK_CONST_SHIFT) & 0xffff;
	else
		len = reg(r, (cookie >> GOZT_SINK_REG_SHIFT) & 0xf);
	if (cookie & GOZT_COOKIE_SINK_LEN_BYTE)
		len &= 0xff;
	keyed = !branch && (cookie & GOZT_COOKIE_SINK_KEYED);
	goroutine_key(r, &key);
	if (keyed) {
		dest.tgid = key.tgid;
		dest.pad = 0;
		dest.dest = reg(r, GOZT_SINK_DEST_REG);
	}
	rec = bpf_map_lookup_elem(&inflight, &key);
	if (!rec) {
		if (keyed)
			keep_dest_bytes(&dest, len);
		return 0;
	}
	/* Its bytes are lost to the call under way: counted. A keyed sink's
	 * goroutine may hold a record of earlier calls (g structs are reused):
	 * its bytes are kept as where it has none. */
	if (read_g(r, f, &v)) {
		COUNT(read_failed);
		if (keyed)
			keep_dest_bytes(&dest, len);
		return 0;
	}
	/* The innermost call under way is the one whose stream this is: a
	 * gzip writer's flate code is inlined into its methods, and a stream
	 * written into another stream's writer (gzip in gzip) makes its own
	 * traced call, deeper. */
#pragma unroll
	for (i = 0; i < GOZT_NEST; i++) {
		struct gozt_call *c = &rec->calls[i];

		if (!c->active || c->goid != v.goid)
			continue;
		c->traps_inside++;
		if (branch)
			c->emulated_inside++;
		mask |= 1u << i;
		if (!deepest || c->depth > deepest->depth)
			deepest = c;
	}
	/* At a branch that skips the call (the writer failed before), no
	 * bytes are written. */
	if (branch && condition_holds(r->flags, (cookie >> GOZT_SINK_COND_SHIFT) & 0xf))
		deepest = NULL;
	if (!deepest) {
		if (keyed)
			keep_dest_bytes(&dest, len);
		charge(rec, mask, t0);
		return 0;
	}
	if (keyed) {
		__u64 *kept = bpf_map_lookup_elem(&dest_bytes, &dest);

		if (kept) {
			if (!(cookie & GOZT_COOKIE_HEADER))
				deepest->sink_bytes += *kept;
			bpf_map_delete_elem(&dest_bytes, &dest);
		}
	}
	deepest->sink_bytes += len;
	if (cookie & GOZT_COOKIE_HEADER)
		deepest->flags |= GOZT_CALL_STARTED;
	charge(rec, mask, t0);
	return 0;
}

/* Every program's work, once the site's cookie is known. */
static __always_inline int site(struct pt_regs *ctx, __u64 cookie)
{
	__u64 ip = PT_REGS_IP(ctx);
	__u64 t0 = bpf_ktime_get_ns();
	struct regs r;

	if (count_traps)
		COUNT(traps);
	/* Registers are copied once, here: clang may otherwise fold the two
	 * handlers' context reads into a modified context pointer. */
	copy_regs(ctx, &r);
	/* Sinks first: their cookies use the bits of GOZT_COOKIE_REQUEST. */
	if (cookie & GOZT_COOKIE_SINK)
		return on_sink(&r, cookie, t0);
	if (cookie & GOZT_COOKIE_REQUEST)
		return (cookie & GOZT_COOKIE_RET) ? on_request_ret(&r, (__u32)cookie)
						  : on_request(&r, cookie);
	if (cookie & GOZT_COOKIE_RET)
		return on_ret(&r, ip, bpf_ktime_get_ns(), (__u32)cookie, t0);
	return on_entry(&r, ip, (__u32)cookie, t0);
}

SEC("uprobe.multi")
int gozt_site(struct pt_regs *ctx)
{
	if (floor_now)
		return 0;
	return site(ctx, bpf_get_attach_cookie(ctx));
}

/* A site of a binary's grouped event: found by the binary's index (the
 * event's cookie) and the trap's distance from the start of the process's
 * code (mm->start_code: the executable's lowest executable segment, wherever
 * PIE loaded it). 0 when not found. */
static __always_inline __u64 cookie_of_code(__u64 binary, __u64 ip)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct gozt_site_key key;
	__u64 *cookie;

	key.file = binary & 0xffffffff;
	key.offset = ip - BPF_CORE_READ(task, mm, start_code);
	cookie = bpf_map_lookup_elem(&sites, &key);
	return cookie ? *cookie : 0;	/* GOZT_COOKIE_KNOWN set */
}

SEC("uprobe")
int gozt_site_cookie(struct pt_regs *ctx)
{
	__u64 cookie;

	if (floor_now)
		return 0;
	cookie = bpf_get_attach_cookie(ctx);
	if (cookie & GOZT_COOKIE_BINARY) {
		cookie = cookie_of_code(cookie, PT_REGS_IP(ctx));
		if (!(cookie & GOZT_COOKIE_KNOWN)) {
			COUNT(site_unknown);
			return 0;
		}
		cookie &= ~(__u64)GOZT_COOKIE_KNOWN;
	}
	return site(ctx, cookie);
}

/* The mappings of kernels before 6.1 (a list, since replaced by a maple
 * tree), where the programs without cookies run. */
struct vm_area_struct___old {
	unsigned long vm_start;
	unsigned long vm_end;
	struct vm_area_struct___old *vm_next;
	unsigned long vm_pgoff;
	struct file *vm_file;
} __attribute__((preserve_access_index));

struct mm_struct___old {
	struct vm_area_struct___old *mmap;
} __attribute__((preserve_access_index));

/* The cookie of the site that trapped, from its address: the mapping that
 * holds it gives the file and the offset. 0 when not found. */
static __always_inline __u64 cookie_of_ip(__u64 ip)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct vm_area_struct___old *vma;
	struct mm_struct___old *mm;
	struct gozt_site_key key;
	__u64 *cookie;
	int i;

	mm = (struct mm_struct___old *)BPF_CORE_READ(task, mm);
	if (!mm)
		return 0;
	vma = BPF_CORE_READ(mm, mmap);
	for (i = 0; i < GOZT_VMA_WALK && vma; i++) {
		unsigned long start = BPF_CORE_READ(vma, vm_start);

		if (ip >= start && ip < BPF_CORE_READ(vma, vm_end)) {
			key.file = BPF_CORE_READ(vma, vm_file, f_inode, i_ino);
			key.offset = ip - start + ((__u64)BPF_CORE_READ(vma, vm_pgoff) << 12);
			cookie = bpf_map_lookup_elem(&sites, &key);
			return cookie ? *cookie : 0;	/* GOZT_COOKIE_KNOWN set */
		}
		vma = BPF_CORE_READ(vma, vm_next);
	}
	return 0;
}

SEC("uprobe")
int gozt_site_ip(struct pt_regs *ctx)
{
	__u64 cookie;

	if (floor_now)
		return 0;
	cookie = cookie_of_ip(PT_REGS_IP(ctx));
	if (!(cookie & GOZT_COOKIE_KNOWN)) {
		COUNT(site_unknown);
		return 0;
	}
	return site(ctx, cookie & ~(__u64)GOZT_COOKIE_KNOWN);
}

/* The user registers of the current task, as it entered the kernel. */
static __always_inline struct pt_regs *user_regs(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_task_pt_regs))
		return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	return (struct pt_regs *)((__u64)BPF_CORE_READ(task, stack) + GOZT_THREAD_SIZE -
				  bpf_core_type_size(struct pt_regs));
}

/* The record of the goroutine the current thread runs (its g from the user
 * registers), if it has one. */
static __always_inline struct gozt_inflight *current_goroutine(struct gozt_key *key)
{
	key->tgid = bpf_get_current_pid_tgid() >> 32;
	key->pad = 0;
	key->g = user_g_of(user_regs());
	if (!key->g)
		return NULL;
	return bpf_map_lookup_elem(&inflight, key);
}

/* What file descriptor `fd` of the current process is (GOZT_FD_*). */
static __always_inline __u32 fd_kind(__u64 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *file = NULL;
	struct socket *sock;
	__u16 family, type;
	__u32 mode;

	if (fd >= BPF_CORE_READ(fdt, max_fds) ||
	    bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return GOZT_FD_OTHER;
	mode = BPF_CORE_READ(file, f_inode, i_mode) & 0170000;
	if (mode == 0)
		return GOZT_FD_SKIP;
	if (mode == 0100000)
		return GOZT_FD_FILE;
	if (mode == 0010000)
		return GOZT_FD_PIPE;
	if (mode != 0140000)
		return GOZT_FD_OTHER;
	sock = (struct socket *)BPF_CORE_READ(file, private_data);
	family = BPF_CORE_READ(sock, sk, __sk_common.skc_family);
	type = BPF_CORE_READ(sock, type);
	if (family == 1 /* AF_UNIX */)
		return GOZT_FD_UNIX;
	if (family == 2 /* AF_INET */ || family == 10 /* AF_INET6 */)
		return type == 1 /* SOCK_STREAM */ ? GOZT_FD_TCP
		       : type == 2 /* SOCK_DGRAM */ ? GOZT_FD_UDP
						    : GOZT_FD_OTHER;
	return GOZT_FD_OTHER;
}

/* A write(2) of a goroutine whose payload awaits its downstream write: the
 * write begins (its first write(2); after EAGAIN or EINTR, Go writes the
 * rest again, the same write). */
SEC("tracepoint/syscalls/sys_enter_write")
int gozt_write_enter(struct trace_event_raw_sys_enter *ctx)
{
	struct gozt_downstream *d;
	struct gozt_inflight *rec;
	struct gozt_key key;
	struct gozt_func *f;
	__u64 goid = 0;

	__u32 kind;

	rec = current_goroutine(&key);
	if (!rec || !rec->down.state)
		return 0;
	d = &rec->down;
	f = bpf_map_lookup_elem(&funcs, &d->func_id);
	/* g runs another goroutine now: that payload had no write (or its
	 * write was left unfinished: a deadline after EAGAIN). */
	if (!f || bpf_probe_read_user(&goid, sizeof(goid), (void *)(key.g + f->goid_off)) ||
	    goid != d->goid) {
		d->state = 0;
		return 0;
	}
	/* The same write again after EAGAIN or EINTR, or a partial one. */
	if (d->state == GOZT_DOWN_WRITING) {
		if (d->fd != (__u32)ctx->args[0])
			d->state = 0;
		return 0;
	}
	kind = fd_kind(ctx->args[0]);
	if (kind == GOZT_FD_SKIP)
		return 0;
	d->start_ns = bpf_ktime_get_ns();
	d->want_bytes = ctx->args[2];
	d->written_bytes = 0;
	d->fd = (__u32)ctx->args[0];
	d->fd_kind = kind;
	d->state = GOZT_DOWN_WRITING;
	return 0;
}

/* A write(2) returns: the downstream write ends once its bytes are all
 * written, or it fails. */
SEC("tracepoint/syscalls/sys_exit_write")
int gozt_write_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct gozt_downstream *d;
	struct gozt_inflight *rec;
	struct gozt_event *ev;
	struct gozt_key key;
	long ret = ctx->ret;
	__u64 now;
	int i;

	rec = current_goroutine(&key);
	if (!rec || rec->down.state != GOZT_DOWN_WRITING)
		return 0;
	d = &rec->down;
	if (ret == -11 /* EAGAIN */ || ret == -4 /* EINTR */)
		return 0;
	if (ret > 0)
		d->written_bytes += ret;
	if (ret > 0 && d->written_bytes < d->want_bytes)
		return 0;
	now = bpf_ktime_get_ns();
	d->state = 0;
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		COUNT(ringbuf_full);
		return 0;
	}
	ev->start_ns = d->start_ns;
	ev->duration_ns = now - d->start_ns;
	ev->goid = d->goid;
	ev->bytes_in = d->want_bytes;
	ev->bytes_out = d->written_bytes;
#pragma unroll
	for (i = 0; i < GOZT_STACK_DEPTH; i++)
		ev->stack[i] = 0;
	ev->proc_start_ns = proc_start_ns();
	ev->ret_ip = 0;
	ev->tgid = key.tgid;
	ev->func_id = d->func_id;
	ev->flags = GOZT_EV_WRITE | GOZT_EV_IN_VALID | GOZT_EV_OUT_VALID;
	/* Go's FD.Write fails on an error, and on 0 bytes written. */
	if (ret <= 0 && d->want_bytes > 0)
		ev->flags |= GOZT_EV_ERROR;
	ev->outer_id = GOZT_NO_OUTER;
	ev->obj = 0;
	ev->total_in = 0;
	ev->total_out = 0;
	ev->traps_inside = 0;
	ev->prog_inside_ns = 0;
	ev->emulated_inside = 0;
	ev->route_len = 0;
	ev->payload_end_ns = d->payload_end_ns;
	ev->fd_kind = d->fd_kind;
	ev->pad = 0;
	bpf_ringbuf_submit(ev, BPF_RB_NO_WAKEUP);
	return 0;
}

/* The benchmark floor: the same traps with nothing to do (gozt attach
 * --probe-floor), and gozt's own trap-cost calibration. */
SEC("uprobe.multi")
int gozt_floor(struct pt_regs *ctx)
{
	return 0;
}

/* The floor for classic uprobes. */
SEC("uprobe")
int gozt_floor_classic(struct pt_regs *ctx)
{
	return 0;
}
