// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* An empty program on sys_enter_openat: the cost of a tracepoint program doing nothing, for bench/kernel.ts. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The contract's ring and tunables, so openKernelSource can load and start it like the real object. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

const volatile __u32 agent_tgid = 0;
const volatile __u64 wakeup_batch_bytes = 0;

SEC("tracepoint/syscalls/sys_enter_openat")
int sys_enter_openat__tp(void *ctx)
{
	return 0;
}
