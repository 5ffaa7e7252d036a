// SPDX-License-Identifier: GPL-2.0
/*
 * Process lifecycle: exec, fork, exit. Each hook has a BTF variant (tp_btf, typed arguments) and a
 * fallback for kernels without it; the loader autoloads exactly one variant per hook.
 */
#include "lib/common.h"
#include "process/exec.h"
#include "process/fork.h"
#include "process/exit.h"

SEC("tp_btf/sched_process_exec")
int BPF_PROG(sched_exec__tp_btf, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	struct ks_exec *e;
	__u32 enforced;

	if (ks_from_agent())
		return 0;
	/* Armed first, so that an entrypoint that is a memfd exec is already enforced at this exec. */
	ks_enforce_arm_at_exec(task);
	enforced = ks_exec_enforce(task, BPF_CORE_READ(bprm, filename));
	e = ks_exec_reserve_for_current();
	if (!e)
		return 0;
	e->hdr.flags |= enforced;
	e->path_len = ks_read_kernel_str(e->path, sizeof(e->path), BPF_CORE_READ(bprm, filename), &e->hdr);
	ks_exec_fill_task(e, task);
	ks_exec_fill_args_of_current(e, task, BPF_CORE_READ(bprm, argc));
	ks_submit(e, sizeof(*e));
	return 0;
}

SEC("tracepoint/sched/sched_process_exec")
int sched_exec__tp(struct trace_event_raw_sched_process_exec *ctx)
{
	struct task_struct *task = ks_current_task();
	/* __data_loc: the low 16 bits are the string's offset inside the record */
	const char *filename = (const char *)ctx + (ctx->__data_loc_filename & 0xFFFF);
	struct ks_exec *e;
	__u32 enforced;

	if (ks_from_agent())
		return 0;
	/* Armed first, so that an entrypoint that is a memfd exec is already enforced at this exec. */
	ks_enforce_arm_at_exec(task);
	enforced = ks_exec_enforce(task, filename);
	e = ks_exec_reserve_for_current();
	if (!e)
		return 0;
	e->hdr.flags |= enforced;
	e->path_len = ks_read_kernel_str(e->path, sizeof(e->path), filename, &e->hdr);
	ks_exec_fill_task(e, task);
	ks_exec_fill_args_of_current(e, task, KS_ARGC_UNKNOWN);
	ks_submit(e, sizeof(*e));
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(sched_fork__tp_btf, struct task_struct *parent, struct task_struct *child)
{
	if (!ks_from_agent())
		ks_emit_fork(parent, child, ks_fork_enforce(child, parent->cred->user_ns != child->cred->user_ns, true));
	return 0;
}

/* The raw_tp's child is not a trusted pointer: the parent is killed, the child is not signalled. */
SEC("raw_tp/sched_process_fork")
int BPF_PROG(sched_fork__raw_tp, struct task_struct *parent, struct task_struct *child)
{
	if (!ks_from_agent())
		ks_emit_fork(parent, child,
			     ks_fork_enforce(child, BPF_CORE_READ(parent, cred, user_ns) != BPF_CORE_READ(child, cred, user_ns),
					     false));
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(sched_exit__tp_btf, struct task_struct *task)
{
	if (!ks_from_agent())
		ks_emit_exit(task);
	return 0;
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(sched_exit__raw_tp, struct task_struct *task)
{
	if (!ks_from_agent())
		ks_emit_exit(task);
	return 0;
}
