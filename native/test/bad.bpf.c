// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* A program the verifier must reject (it dereferences a number as a pointer): the fixture for load errors. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tracepoint/syscalls/sys_enter_getpid")
int sys_enter_getpid__tp(void *ctx)
{
	long *not_a_pointer = (long *)(unsigned long)bpf_get_prandom_u32();

	return *not_a_pointer;
}
