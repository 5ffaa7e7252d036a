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

#include "contract.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

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
