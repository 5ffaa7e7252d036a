/* SPDX-License-Identifier: GPL-2.0 */
/*
 * struct ks_exit, once per process. sched_process_exit fires for every exiting thread, and the leader
 * may exit (pthread_exit) long before its process does; do_exit() decrements signal->live before the
 * tracepoint, so the thread that sees it at 0 is the last one and its exit is the process's exit.
 * hdr.pid is that last thread; hdr.tgid and hdr.start_boottime_ns name the process.
 */
#ifndef KS_PROCESS_EXIT_H
#define KS_PROCESS_EXIT_H

#include "lib/task.h"

static __always_inline void ks_emit_exit(struct task_struct *task)
{
	struct ks_exit *e;

	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return;
	e = ks_begin(KS_EVENT_EXIT, sizeof(*e));
	if (!e)
		return;
	/* for exit_group() and fatal signals every thread carries the group's code */
	e->exit_code = BPF_CORE_READ(task, exit_code);
	ks_submit(e, sizeof(*e));
}

#endif /* KS_PROCESS_EXIT_H */
