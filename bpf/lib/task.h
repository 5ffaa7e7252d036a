/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reading identity out of a task_struct: process start time, namespaces, credentials, cgroup.
 * Everything goes through CO-RE reads so the same code serves tp_btf (trusted BTF pointers),
 * raw_tp and classic tracepoints (plain kernel pointers), and iterators (another task than current).
 */
#ifndef KS_LIB_TASK_H
#define KS_LIB_TASK_H

/* Before 6.18 the namespace type lived in the nsfs operations, not in ns_common. */
struct proc_ns_operations___with_type {
	int type;
} __attribute__((preserve_access_index));

struct ns_common___with_ops_type {
	const struct proc_ns_operations___with_type *ops;
} __attribute__((preserve_access_index));

static __always_inline struct task_struct *ks_current_task(void)
{
	return (struct task_struct *)bpf_get_current_task();
}

/* The thread group leader's start time: with the tgid, the identity of a process across pid reuse. */
static __always_inline __u64 ks_process_start_boottime(struct task_struct *task)
{
	return BPF_CORE_READ(task, group_leader, start_boottime);
}

static __always_inline __u32 ks_ns_inum(struct ns_common *ns)
{
	return ns ? BPF_CORE_READ(ns, inum) : 0;
}

/* CLONE_NEW* of a namespace. */
static __always_inline __u32 ks_ns_type(struct ns_common *ns)
{
	struct ns_common___with_ops_type *old = (void *)ns;

	if (!ns)
		return 0;
	if (bpf_core_field_exists(ns->ns_type))
		return BPF_CORE_READ(ns, ns_type);
	if (bpf_core_field_exists(old->ops->type))
		return BPF_CORE_READ(old, ops, type);
	return 0;
}

/* The pid namespace the task itself lives in (not pid_ns_for_children, which unshare changes). */
static __always_inline __u32 ks_task_pid_ns_inum(struct task_struct *task)
{
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	unsigned int level;
	struct upid upid = {};

	if (!pid)
		return 0;
	level = BPF_CORE_READ(pid, level);
	if (level >= KS_MAX_PID_NS_LEVEL)
		return 0;
	if (bpf_core_read(&upid, sizeof(upid), &pid->numbers[level]))
		return 0;
	return upid.ns ? BPF_CORE_READ(upid.ns, ns.inum) : 0;
}

/* A pid number of `task` as seen from the pid namespace at `level` (0: the host). */
static __always_inline __u32 ks_task_vnr_at(struct task_struct *task, unsigned int level)
{
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	struct upid upid = {};

	if (!pid || level >= KS_MAX_PID_NS_LEVEL || BPF_CORE_READ(pid, level) < level)
		return 0;
	if (bpf_core_read(&upid, sizeof(upid), &pid->numbers[level]))
		return 0;
	return upid.nr;
}

static __always_inline unsigned int ks_task_pid_ns_level(struct task_struct *task)
{
	return BPF_CORE_READ(task, thread_pid, level);
}

/* kernel_cap_t is one u64 since 6.3 and two u32 before: the same 8 bytes either way. */
static __always_inline __u64 ks_cap_effective(const struct cred *cred)
{
	__u64 caps = 0;

	bpf_core_read(&caps, sizeof(caps), &cred->cap_effective);
	return caps;
}

static __always_inline __u64 ks_cap_permitted(const struct cred *cred)
{
	__u64 caps = 0;

	bpf_core_read(&caps, sizeof(caps), &cred->cap_permitted);
	return caps;
}

static __always_inline const struct cred *ks_task_cred(struct task_struct *task)
{
	return BPF_CORE_READ(task, cred);
}

/* The cgroup v2 id of any task, as bpf_get_current_cgroup_id() gives it for current. */
static __always_inline __u64 ks_task_cgroup_id(struct task_struct *task)
{
	return BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
}

/* The header for a record about `task`, which need not be current (task iterator). */
static __always_inline void ks_fill_header_for_task(struct ks_header *hdr, __u16 type, __u16 size,
						    struct task_struct *task)
{
	const struct cred *cred = ks_task_cred(task);

	hdr->type = type;
	hdr->size = size;
	hdr->ktime_ns = bpf_ktime_get_boot_ns();
	hdr->cgroup_id = ks_task_cgroup_id(task);
	hdr->tgid = BPF_CORE_READ(task, tgid);
	hdr->pid = BPF_CORE_READ(task, pid);
	hdr->uid = BPF_CORE_READ(cred, uid.val);
	hdr->gid = BPF_CORE_READ(cred, gid.val);
	BPF_CORE_READ_STR_INTO(&hdr->comm, task, comm);
	hdr->start_boottime_ns = ks_process_start_boottime(task);
}

#endif /* KS_LIB_TASK_H */
