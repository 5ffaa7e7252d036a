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
#include <bpf/bpf_core_read.h>
#include "open/untrusted_loads.h"

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

/*
 * The open programs' two untrusted plain loads (bpf/open/untrusted_loads.h), the same instructions: the agent sets
 * their `untrusted_loads` tunable only where this loads. Loaded, never attached.
 */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

SEC("tracepoint/syscalls/sys_exit_openat")
int probe_untrusted_loads(struct trace_event_raw_sys_exit *ctx)
{
	struct fdtable *fdt = bpf_get_current_task_btf()->files->fdt;
	long fd = ctx->ret;
	struct file *file;

	if (fd < 0 || !fdt || fd >= fdt->max_fds)
		return 0;
	file = ks_fd_slot_load(fdt, fd);
	if (!file)
		return 0;
	return ks_name_head_load(((struct file *)bpf_rdonly_cast(file, bpf_core_type_id_kernel(struct file)))->f_path.dentry) != 0;
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
