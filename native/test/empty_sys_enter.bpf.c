// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* An empty program on the raw sys_enter tracepoint (every syscall): the yardstick of bpf/compat.bpf.c's cost. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("raw_tp/sys_enter")
int empty_sys_enter__raw_tp(void *ctx)
{
	return 0;
}
