// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The parts of emitting one open record, each alone on sys_exit_openat, for bench/kernel.ts's decomposition of the
 * resolved-path filter's cost: what a ring record costs before any path work, so the per-open goal can be judged
 * against what a record can cost at all. Every program runs for every open on the machine, as the agent's do.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "../../bpf/events.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ks_open);
} scratch SEC(".maps");

const volatile __u32 agent_tgid = 0;
const volatile __u64 wakeup_batch_bytes = 0;

/* Reserve a whole ks_open and give it back: the ring's own bookkeeping, no copy. */
SEC("tracepoint/syscalls/sys_exit_openat")
int reserve_discard(void *ctx)
{
	struct ks_open *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (e)
		bpf_ringbuf_discard(e, BPF_RB_NO_WAKEUP);
	return 0;
}

/* Reserve a whole ks_open, write its header's first word, submit without a wakeup (the consumer drains it). */
SEC("tracepoint/syscalls/sys_exit_openat")
int reserve_submit(void *ctx)
{
	struct ks_open *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e)
		return 0;
	e->hdr.type = KS_EVENT_OPEN;
	e->hdr.size = sizeof(*e);
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

/* What the agent's open record costs to emit: zero a per-CPU ks_open, copy it into the ring with bpf_ringbuf_output. */
SEC("tracepoint/syscalls/sys_exit_openat")
int zero_and_output(void *ctx)
{
	__u32 zero = 0;
	struct ks_open *e = bpf_map_lookup_elem(&scratch, &zero);

	if (!e)
		return 0;
	__builtin_memset(e, 0, sizeof(*e));
	e->hdr.type = KS_EVENT_OPEN;
	e->hdr.size = sizeof(*e);
	bpf_ringbuf_output(&events, e, sizeof(*e), BPF_RB_NO_WAKEUP);
	return 0;
}

/* The helper calls of a record header (ks_fill_header), into per-CPU memory: no ring. */
SEC("tracepoint/syscalls/sys_exit_openat")
int header_helpers(void *ctx)
{
	__u32 zero = 0;
	struct ks_open *e = bpf_map_lookup_elem(&scratch, &zero);
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();

	if (!e)
		return 0;
	e->hdr.ktime_ns = bpf_ktime_get_boot_ns();
	e->hdr.cgroup_id = bpf_get_current_cgroup_id();
	e->hdr.tgid = pid_tgid >> 32;
	e->hdr.pid = (__u32)pid_tgid;
	e->hdr.uid = (__u32)uid_gid;
	e->hdr.gid = uid_gid >> 32;
	bpf_get_current_comm(e->hdr.comm, sizeof(e->hdr.comm));
	return 0;
}
