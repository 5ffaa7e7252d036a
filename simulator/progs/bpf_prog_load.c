/* SPDX-License-Identifier: Apache-2.0 */
/* KS-ESC-010: bpf(BPF_PROG_LOAD) of "return 0" as a socket filter (EPERM in a container); closed at once. */
#include "sim.h"
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 }, /* r0 = 0 */
		{ .code = BPF_JMP | BPF_EXIT },                                         /* exit */
	};
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
	attr.insns = (unsigned long)insns;
	attr.insn_cnt = sizeof(insns) / sizeof(insns[0]);
	attr.license = (unsigned long)"GPL";
	long fd = syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
	ks_report("bpf_prog_load", "BPF_PROG_LOAD", fd);
	if (fd >= 0)
		close(fd);
	return 0;
}
