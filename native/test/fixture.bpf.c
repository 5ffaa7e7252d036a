// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A stand-in for build/kubesentry.bpf.o with the same contract (maps `events`, `drops`, `path_patterns`;
 * .rodata `agent_tgid`, `wakeup_batch_bytes`; `<hook>__<variant>` program names; `snapshot_tasks__iter`),
 * so the loader and its tests do not depend on the real programs. It emits only what the tests count:
 * namespace records for unshare(CLONE_NEW*), a minimal record per getppid() (the cheapest way to make events,
 * for bench/kernel.ts) and snapshot records from the task iterator.
 * No vmlinux.h: the few kernel types used are declared here with CO-RE relocations.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#define KS_TEST_RING_BYTES (256 * 1024)
#include "contract.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Fixture only: when set, only this process emits, so drop counts in a shared machine belong to the test. */
const volatile __u32 only_tgid = 0;

/* CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME */
#define CLONE_NEW_ANY 0x7E020080ULL

struct trace_event_raw_sys_enter {
	__u64 common;
	long id;
	unsigned long args[6];
};

struct task_struct {
	int pid;
	int tgid;
} __attribute__((preserve_access_index));

struct bpf_iter_meta;
struct bpf_iter__task {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
} __attribute__((preserve_access_index));

static __always_inline void count_drop(__u32 type)
{
	__u64 *counter = bpf_map_lookup_elem(&drops, &type);
	if (counter)
		*counter += 1;
}

/* Wake the reader only once enough bytes are waiting; the reader also polls, so nothing is stranded. */
static __always_inline __u64 wakeup_flags(void)
{
	if (!wakeup_batch_bytes)
		return 0;
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_batch_bytes ? BPF_RB_FORCE_WAKEUP
										    : BPF_RB_NO_WAKEUP;
}

static __always_inline void fill_header(struct ks_header *hdr, __u16 type, __u16 size, __u64 pid_tgid)
{
	__u64 uid_gid = bpf_get_current_uid_gid();

	hdr->type = type;
	hdr->size = size;
	hdr->flags = 0;
	hdr->ktime_ns = bpf_ktime_get_boot_ns();
	hdr->cgroup_id = bpf_get_current_cgroup_id();
	hdr->tgid = pid_tgid >> 32;
	hdr->pid = (__u32)pid_tgid;
	hdr->uid = (__u32)uid_gid;
	hdr->gid = uid_gid >> 32;
	bpf_get_current_comm(hdr->comm, sizeof(hdr->comm));
	hdr->start_boottime_ns = 0; /* this object has no kernel types to read it with; no test here needs it */
}

SEC("tracepoint/syscalls/sys_enter_unshare")
int sys_enter_unshare__tp(struct trace_event_raw_sys_enter *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 flags = ctx->args[0];
	struct ks_namespace *record;

	if ((pid_tgid >> 32) == agent_tgid || !(flags & CLONE_NEW_ANY))
		return 0;
	if (only_tgid && (pid_tgid >> 32) != only_tgid)
		return 0;
	record = bpf_ringbuf_reserve(&events, sizeof(*record), 0);
	if (!record) {
		count_drop(KS_EVENT_NAMESPACE);
		return 0;
	}
	fill_header(&record->hdr, KS_EVENT_NAMESPACE, sizeof(*record), pid_tgid);
	record->flags = flags;
	record->op = KS_OP_UNSHARE;
	record->_pad0 = 0;
	bpf_ringbuf_submit(record, wakeup_flags());
	return 0;
}

/* Not a namespace change: op KS_OP_NONE and flags 0 mark these as load, which only the bench generates. */
SEC("tracepoint/syscalls/sys_enter_getppid")
int sys_enter_getppid__tp(void *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct ks_namespace *record;

	if ((pid_tgid >> 32) == agent_tgid)
		return 0;
	if (only_tgid && (pid_tgid >> 32) != only_tgid)
		return 0;
	record = bpf_ringbuf_reserve(&events, sizeof(*record), 0);
	if (!record) {
		count_drop(KS_EVENT_NAMESPACE);
		return 0;
	}
	fill_header(&record->hdr, KS_EVENT_NAMESPACE, sizeof(*record), pid_tgid);
	record->flags = 0;
	record->op = KS_OP_NONE;
	record->_pad0 = 0;
	bpf_ringbuf_submit(record, wakeup_flags());
	return 0;
}

/* Three variants of one hook, so variant selection has something to choose between. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(sched_exec__tp_btf)
{
	return 0;
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(sched_exec__raw_tp)
{
	return 0;
}

SEC("tracepoint/sched/sched_process_exec")
int sched_exec__tp(void *ctx)
{
	return 0;
}

SEC("iter/task")
int snapshot_tasks__iter(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct ks_exec *record;
	int pid, tgid;

	if (!task)
		return 0;
	pid = BPF_CORE_READ(task, pid);
	tgid = BPF_CORE_READ(task, tgid);
	if (pid != tgid)
		return 0;
	record = bpf_ringbuf_reserve(&events, sizeof(*record), 0);
	if (!record) {
		count_drop(KS_EVENT_EXEC);
		return 0;
	}
	/* clang inlines a memset of at most 1 KiB and ks_exec is larger; volatile keeps the rest a loop */
	__builtin_memset(record, 0, 1024);
	for (__u32 i = 1024 / 8; i < sizeof(*record) / 8; i++)
		((volatile __u64 *)record)[i] = 0;
	record->hdr.type = KS_EVENT_EXEC;
	record->hdr.size = sizeof(*record);
	record->hdr.tgid = tgid;
	record->hdr.pid = pid;
	record->exe_flags = KS_EXEC_FLAG_SNAPSHOT;
	bpf_ringbuf_submit(record, 0);
	return 0;
}
