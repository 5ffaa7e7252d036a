// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The only variant of a hook dereferences a number as a pointer, so the verifier must reject it and
 * openKernelSource must fail with EBPF_LOAD and the verifier's words. It carries the contract's tunables so the
 * failure happens at load, not before.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u32 agent_tgid = 0;
const volatile __u64 wakeup_batch_bytes = 0;
const volatile __u32 untrusted_loads = 0; /* set by the loader wherever the verifier allows (bpf/lib/maps.h); unused here */

SEC("tracepoint/syscalls/sys_enter_getpid")
int sys_enter_getpid__tp(void *ctx)
{
	long *not_a_pointer = (long *)(unsigned long)bpf_get_prandom_u32();

	return *not_a_pointer + agent_tgid + wakeup_batch_bytes;
}
