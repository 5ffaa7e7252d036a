// SPDX-License-Identifier: GPL-2.0
/*
 * The processes that existed before the agent: a task iterator that emits one ks_exec with
 * KS_EXEC_FLAG_SNAPSHOT per thread-group leader into the events ring (not into the seq_file, which
 * stays empty). User space attaches it as an iterator link, creates an iterator fd and read()s it to
 * EOF; each read runs the program over the tasks.
 *
 * Sleepable (iter.s) because the argv of another process can only be read with
 * bpf_copy_from_user_task(), which may fault pages in. The path is rebuilt from the exe file's
 * dentries: bpf_d_path() refuses the untrusted pointer that task->mm->exe_file is.
 */
#include "lib/common.h"
#include "lib/path.h"
#include "process/exec.h"

static __always_inline void ks_snapshot_fill_args(struct ks_exec *e, struct task_struct *task)
{
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	unsigned long start = 0;
	long argc = 0;
	__u32 len = ks_exec_args_window(e, mm, &start);

	if (len > 0 && len <= KS_ARGS_LEN && bpf_copy_from_user_task(e->args, len, (void *)start, task, 0) == 0)
		e->args_len = len;
	if (mm && bpf_copy_from_user_task(&argc, sizeof(argc), (void *)ks_exec_argc_address(mm), task, 0) == 0)
		e->argc = argc;
}

static __always_inline void ks_snapshot_fill_path(struct ks_exec *e, struct task_struct *task)
{
	struct file *exe = BPF_CORE_READ(task, mm, exe_file);

	if (exe)
		e->path_len = ks_file_path(exe, e->path, &e->hdr);
}

SEC("iter.s/task")
int snapshot_tasks__iter(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct ks_exec *e;

	if (!task || task->pid != task->tgid || task->tgid == agent_tgid)
		return 0;
	e = ks_reserve(KS_EVENT_EXEC, sizeof(*e));
	if (!e)
		return 0;
	ks_exec_zero(e);
	ks_fill_header_for_task(&e->hdr, KS_EVENT_EXEC, sizeof(*e), task);
	e->exe_flags = KS_EXEC_FLAG_SNAPSHOT;
	ks_exec_fill_task(e, task);
	ks_snapshot_fill_path(e, task);
	ks_snapshot_fill_args(e, task);
	ks_submit(e, sizeof(*e));
	return 0;
}
