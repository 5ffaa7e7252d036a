// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A hook whose preferred variant the verifier refuses: openKernelSource must demote sched_exec__tp_btf, load
 * sched_exec__raw_tp instead, and say why in hooks(). Carries the contract's tunables and maps so nothing
 * else fails first.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "../../bpf/events.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KS_EVENT_TYPE_MAX);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KS_MAX_PATH_PATTERNS);
	__type(key, __u32);
	__type(value, struct ks_path_pattern);
} path_patterns SEC(".maps");

const volatile __u32 agent_tgid = 0;
const volatile __u64 wakeup_batch_bytes = 0;
const volatile __u32 untrusted_loads = 0; /* set by the loader wherever the verifier allows (bpf/lib/maps.h); unused here */

SEC("tp_btf/sched_process_exec")
int BPF_PROG(sched_exec__tp_btf)
{
	long *not_a_pointer = (long *)(unsigned long)bpf_get_prandom_u32();

	return *not_a_pointer + agent_tgid;
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(sched_exec__raw_tp)
{
	return agent_tgid == 0 && wakeup_batch_bytes == 0;
}
