/* SPDX-License-Identifier: GPL-2.0 */
/*
 * struct ks_fork for a new thread group. sched_process_fork fires in the parent, after copy_process(),
 * for threads too; a thread shares the parent's tgid, so pid != tgid tells it apart.
 *
 * The tracepoint does not carry the clone flags, so clone_flags is rebuilt from what the child
 * shares with its parent: CLONE_VM/FS/FILES/SIGHAND/PARENT and the CLONE_NEW* of every namespace
 * that differs. Flags that leave no trace in the child yet are absent: CLONE_SETTLS and the like,
 * and CLONE_VFORK, whose vfork_done kernel_clone() sets only after the tracepoint.
 */
#ifndef KS_PROCESS_FORK_H
#define KS_PROCESS_FORK_H

#include "lib/task.h"

static __always_inline __u64 ks_fork_namespace_flags(struct task_struct *parent, struct task_struct *child)
{
	struct nsproxy *pns = BPF_CORE_READ(parent, nsproxy);
	struct nsproxy *cns = BPF_CORE_READ(child, nsproxy);
	__u64 flags = 0;

	if (BPF_CORE_READ(parent, cred, user_ns) != BPF_CORE_READ(child, cred, user_ns))
		flags |= KS_CLONE_NEWUSER;
	if (ks_task_pid_ns_inum(parent) != ks_task_pid_ns_inum(child))
		flags |= KS_CLONE_NEWPID;
	if (!pns || !cns || pns == cns)
		return flags;
	if (BPF_CORE_READ(pns, mnt_ns) != BPF_CORE_READ(cns, mnt_ns))
		flags |= KS_CLONE_NEWNS;
	if (BPF_CORE_READ(pns, uts_ns) != BPF_CORE_READ(cns, uts_ns))
		flags |= KS_CLONE_NEWUTS;
	if (BPF_CORE_READ(pns, ipc_ns) != BPF_CORE_READ(cns, ipc_ns))
		flags |= KS_CLONE_NEWIPC;
	if (BPF_CORE_READ(pns, net_ns) != BPF_CORE_READ(cns, net_ns))
		flags |= KS_CLONE_NEWNET;
	if (BPF_CORE_READ(pns, cgroup_ns) != BPF_CORE_READ(cns, cgroup_ns))
		flags |= KS_CLONE_NEWCGROUP;
	return flags;
}

static __always_inline __u64 ks_fork_clone_flags(struct task_struct *parent, struct task_struct *child)
{
	__u64 flags = ks_fork_namespace_flags(parent, child);

	if (BPF_CORE_READ(parent, mm) == BPF_CORE_READ(child, mm))
		flags |= KS_CLONE_VM;
	if (BPF_CORE_READ(parent, fs) == BPF_CORE_READ(child, fs))
		flags |= KS_CLONE_FS;
	if (BPF_CORE_READ(parent, files) == BPF_CORE_READ(child, files))
		flags |= KS_CLONE_FILES;
	if (BPF_CORE_READ(parent, sighand) == BPF_CORE_READ(child, sighand))
		flags |= KS_CLONE_SIGHAND;
	/* CLONE_PARENT makes the child a sibling: its real parent is the caller's parent */
	if (BPF_CORE_READ(child, real_parent) == BPF_CORE_READ(parent, real_parent))
		flags |= KS_CLONE_PARENT;
	return flags;
}

/* Signals a task other than current (6.13); weak, so the object still loads on a kernel without it. */
extern int bpf_send_signal_task(struct task_struct *task, int sig, enum pid_type type, __u64 value) __ksym __weak;

/*
 * A child in a user namespace its parent is not in, made by a process of an armed container where KS-ESC-001 kills.
 * The syscall entry's check missed it: another thread rewrote clone_args between that read and the kernel's copy.
 * The kernel's own result decides here. The tracepoint fires before wake_up_new_task(), so the child has not run:
 * with `child` a trusted pointer (tp_btf) and bpf_send_signal_task(), a SIGKILL pending on it means it dies before
 * its first instruction. The parent, current, dies on its way back from clone. The namespace exists by then (a
 * killed unshare's does too); nothing runs in it. Every fork pays the comparison of the two user namespaces, which
 * the caller reads (plain loads through tp_btf's pointers). Returns the header flags of ks_enforce_act().
 */
static __always_inline __u32 ks_fork_enforce(struct task_struct *child, bool new_user_ns, bool child_trusted)
{
	__u32 mode, enforced;

	if (!new_user_ns)
		return 0;
	mode = ks_enforce_mode_for(KS_ENFORCE_USER_NAMESPACE);
	enforced = ks_enforce_act(KS_ENFORCE_USER_NAMESPACE, mode);
	if ((enforced & KS_HDR_FLAG_KILLED) && child_trusted && bpf_send_signal_task)
		bpf_send_signal_task(child, KS_SIGKILL, PIDTYPE_TGID, 0);
	return enforced;
}

static __always_inline void ks_emit_fork(struct task_struct *parent, struct task_struct *child, __u32 enforced)
{
	__u32 child_tgid = BPF_CORE_READ(child, tgid);
	__u32 child_pid = BPF_CORE_READ(child, pid);
	struct ks_fork *e;

	if (child_pid != child_tgid)
		return;
	e = ks_begin(KS_EVENT_FORK, sizeof(*e));
	if (!e)
		return;
	e->hdr.flags |= enforced;
	e->child_start_boottime_ns = BPF_CORE_READ(child, start_boottime);
	e->child_tgid = child_tgid;
	e->child_pid = child_pid;
	e->clone_flags = ks_fork_clone_flags(parent, child);
	ks_submit(e, sizeof(*e));
}

#endif /* KS_PROCESS_FORK_H */
