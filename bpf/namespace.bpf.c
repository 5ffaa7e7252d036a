// SPDX-License-Identifier: GPL-2.0
/*
 * Namespace changes: unshare/clone/clone3 carrying CLONE_NEW* (entering new namespaces) and setns
 * (joining existing ones, the way a process breaks into a container or the host). Recorded at
 * syscall entry: an attempt that the kernel refuses is as telling as one that succeeds.
 */
#include "lib/common.h"
#include "lib/syscall.h"
#include "lib/files.h"
#include "lib/task.h"

static __always_inline void ks_emit_namespace(__u32 op, __u64 flags)
{
	struct ks_namespace *e;
	__u32 enforced = 0;

	if (ks_from_agent())
		return;
	/*
	 * Decided before the record is reserved, so a full ring cannot save the process. For clone/clone3 the pending
	 * SIGKILL also makes copy_process() fail: no child is left running in the new namespace.
	 */
	if (flags & (KS_CLONE_NEWUSER | KS_CLONE_FLAGS_UNREAD))
		enforced = ks_enforce(KS_ENFORCE_USER_NAMESPACE);
	e = ks_begin(KS_EVENT_NAMESPACE, sizeof(*e));
	if (!e)
		return;
	e->hdr.flags |= enforced;
	e->flags = flags;
	e->op = op;
	ks_submit_urgent(e, sizeof(*e));
}

SEC("tracepoint/syscalls/sys_enter_unshare")
int sys_enter_unshare__tp(struct trace_event_raw_sys_enter *ctx)
{
	__u64 flags = KS_ARG(ctx, 0);

	if (flags & KS_CLONE_NEW_MASK)
		ks_emit_namespace(KS_OP_UNSHARE, flags);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_clone")
int sys_enter_clone__tp(struct trace_event_raw_sys_enter *ctx)
{
	__u64 flags = KS_ARG(ctx, 0);

	if (flags & KS_CLONE_NEW_MASK_CLONE)
		ks_emit_namespace(KS_OP_CLONE, flags);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_clone3")
int sys_enter_clone3__tp(struct trace_event_raw_sys_enter *ctx)
{
	__u64 flags = 0;

	/* struct clone_args starts with the u64 flags; args[1] is its size as the caller declares it */
	if (KS_ARG(ctx, 1) < sizeof(flags))
		return 0; /* the kernel refuses a clone_args smaller than its first version (EINVAL) */
	/*
	 * A page the caller has never touched cannot be read here (no fault-in), yet the kernel's copy will fault it
	 * in: flags the program cannot see are taken as CLONE_NEWUSER by enforcement, so where KS-ESC-001 kills the call
	 * fails closed and copy_process() refuses to fork. The record carries KS_CLONE_FLAGS_UNREAD alone.
	 */
	if (bpf_probe_read_user(&flags, sizeof(flags), KS_ARG_PTR(ctx, 0)))
		flags = KS_CLONE_FLAGS_UNREAD;
	if (flags & (KS_CLONE_NEW_MASK | KS_CLONE_FLAGS_UNREAD))
		ks_emit_namespace(KS_OP_CLONE3, flags);
	return 0;
}

static __always_inline bool ks_is_host_namespace(__u32 inum)
{
	return inum && bpf_map_lookup_elem(&host_namespaces, &inum);
}

/* The process a pidfd names: the pid's first task, read as the kernel's pid_task() does; NULL once it exited. */
static __always_inline struct task_struct *ks_pidfd_task(struct inode *inode)
{
	/* pidfs keeps the struct pid in the inode's i_private (pidfd_pid()) */
	struct pid *pid = BPF_CORE_READ(inode, i_private);
	struct hlist_node *first = pid ? BPF_CORE_READ(pid, tasks[PIDTYPE_PID].first) : NULL;

	return first ? (void *)first - bpf_core_field_offset(struct task_struct, pid_links) : NULL;
}

/*
 * setns(pidfd, nstype) joins the namespaces of the process the pidfd names, those nstype selects (0: all): whether
 * one of them is the host's. A process that has exited joins nothing.
 */
static __always_inline bool ks_pidfd_joins_host(struct inode *inode, __u32 nstype)
{
	struct task_struct *task = ks_pidfd_task(inode);
	struct nsproxy *ns;

	if (!task)
		return false;
	ns = BPF_CORE_READ(task, nsproxy);
	if (!ns)
		return false;
	if (!nstype)
		nstype = ~0u;
	return ((nstype & KS_CLONE_NEWNS) && ks_is_host_namespace(BPF_CORE_READ(ns, mnt_ns, ns.inum))) ||
	       ((nstype & KS_CLONE_NEWNET) && ks_is_host_namespace(BPF_CORE_READ(ns, net_ns, ns.inum))) ||
	       ((nstype & KS_CLONE_NEWPID) && ks_is_host_namespace(ks_task_pid_ns_inum(task))) ||
	       ((nstype & KS_CLONE_NEWUSER) && ks_is_host_namespace(BPF_CORE_READ(task, cred, user_ns, ns.inum))) ||
	       ((nstype & KS_CLONE_NEWUTS) && ks_is_host_namespace(BPF_CORE_READ(ns, uts_ns, ns.inum))) ||
	       ((nstype & KS_CLONE_NEWIPC) && ks_is_host_namespace(BPF_CORE_READ(ns, ipc_ns, ns.inum))) ||
	       ((nstype & KS_CLONE_NEWCGROUP) && ks_is_host_namespace(BPF_CORE_READ(ns, cgroup_ns, ns.inum)));
}

/* setns into a user namespace other than the caller's: by its nsfs file, or by a pidfd with nstype 0 or CLONE_NEWUSER. */
static __always_inline bool ks_setns_joins_other_user_ns(unsigned long magic, struct inode *inode, __u32 target_ino,
							 __u32 target_type, __u32 nstype)
{
	struct task_struct *task;
	__u32 target = 0;

	if (magic == KS_NSFS_MAGIC && target_type == KS_CLONE_NEWUSER) {
		target = target_ino;
	} else if (magic == KS_PIDFS_MAGIC && (!nstype || (nstype & KS_CLONE_NEWUSER))) {
		task = ks_pidfd_task(inode);
		if (task)
			target = BPF_CORE_READ(task, cred, user_ns, ns.inum);
	}
	return target && target != BPF_CORE_READ((struct task_struct *)bpf_get_current_task_btf(), cred, user_ns, ns.inum);
}

SEC("tracepoint/syscalls/sys_enter_setns")
int sys_enter_setns__tp(struct trace_event_raw_sys_enter *ctx)
{
	int fd = KS_ARG(ctx, 0);
	__u32 nstype = KS_ARG(ctx, 1);
	struct file *file;
	struct inode *inode;
	struct ks_setns *e;
	__u32 target_ino = 0, target_type = 0, enforced = 0, mode;
	unsigned long magic;

	if (ks_from_agent())
		return 0;
	file = ks_fd_file(fd);
	inode = ks_file_inode(file);
	magic = inode ? BPF_CORE_READ(inode, i_sb, s_magic) : 0;
	/* only an nsfs file names a namespace; a pidfd (pidfs or anon inode) leaves the target 0 */
	if (magic == KS_NSFS_MAGIC) {
		target_ino = BPF_CORE_READ(inode, i_ino);
		/* nsfs keeps the namespace's ns_common in i_private */
		target_type = ks_ns_type(BPF_CORE_READ(inode, i_private));
	}
	/*
	 * Joining a host namespace, by its nsfs file or through a pidfd of a process in it (looked at only where the
	 * rule kills). A pidfd from before pidfs (an anon inode, kernels before 6.9) is not: docs/enforcement.md.
	 */
	mode = ks_enforce_mode_for(KS_ENFORCE_SETNS_HOST);
	if (mode != KS_ENFORCE_OFF &&
	    (ks_is_host_namespace(target_ino) || (magic == KS_PIDFS_MAGIC && ks_pidfd_joins_host(inode, nstype))))
		enforced = ks_enforce_act(KS_ENFORCE_SETNS_HOST, mode);
	/*
	 * Joining another user namespace is creating one by other means where user namespaces kill: a killed unshare's
	 * namespace outlives it (its zombie's ns/user stays open to the parent), and a sibling joining it gets the
	 * capabilities the kill was to deny. The runtime joins a user-namespaced container's from the host's mount
	 * namespace, which ks_enforce never kills in.
	 */
	if (!enforced && ks_setns_joins_other_user_ns(magic, inode, target_ino, target_type, nstype))
		enforced = ks_enforce(KS_ENFORCE_USER_NAMESPACE);
	e = ks_begin(KS_EVENT_SETNS, sizeof(*e));
	if (!e)
		return 0;
	e->hdr.flags |= enforced;
	e->fd = fd;
	e->nstype = KS_ARG(ctx, 1);
	e->target_ns_ino = target_ino;
	e->target_ns_type = target_type;
	ks_submit_urgent(e, sizeof(*e));
	return 0;
}
