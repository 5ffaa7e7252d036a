// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * One empty program per hook type. src/receiver/probe.ts loads and attaches them one at a time to learn what
 * this kernel allows (`kubesentry check`, and the hook-variant choice in src/receiver/kernel.ts): only whether
 * the kernel accepts a program matters, so they do nothing. Built alone (`make probe`), never linked into
 * kubesentry.bpf.o.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Attached through perf_event_open by tracefs id, as the agent attaches its tp variants. */
SEC("tracepoint/syscalls/sys_enter_getpid")
int probe_tracepoint(void *ctx)
{
	return 0;
}

SEC("raw_tp/sys_enter")
int BPF_PROG(probe_raw_tp)
{
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(probe_tp_btf)
{
	return 0;
}

SEC("iter/task")
int probe_iter(struct bpf_iter__task *ctx)
{
	return 0;
}

/* Attached to libc's getpid by probe.ts; no path here, so the section names no target. */
SEC("uprobe")
int BPF_KPROBE(probe_uprobe)
{
	return 0;
}

/*
 * Enforcement's helper (src/check.ts): the verifier accepts this program only where tracing programs may call
 * bpf_send_signal(). Loaded, never attached; signal 0 would send nothing anyway.
 */
SEC("tracepoint/syscalls/sys_enter_getpid")
int probe_send_signal(void *ctx)
{
	bpf_send_signal(0);
	return 0;
}

/* lsm and fentry are reported for operators; the agent depends on neither. */
SEC("lsm/file_open")
int BPF_PROG(probe_lsm)
{
	return 0;
}

SEC("fentry/do_unlinkat")
int BPF_PROG(probe_fentry)
{
	return 0;
}
