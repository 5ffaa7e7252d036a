// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * An open program the verifier refuses only with the untrusted_loads tunable set, on a kernel whose probe takes
 * them: openKernelSource must load it again with the tunable off, not fail, and untrustedLoads() must say why.
 * Carries the contract's tunables and maps so nothing else fails first.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "contract.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tracepoint/syscalls/sys_exit_openat")
int sys_exit_openat__tp(void *ctx)
{
	/* the tunable is read-only data: with it 0 the verifier never walks this branch */
	if (untrusted_loads) {
		long *not_a_pointer = (long *)(unsigned long)bpf_get_prandom_u32();

		return *not_a_pointer;
	}
	return agent_tgid == 0 && wakeup_batch_bytes == 0;
}
