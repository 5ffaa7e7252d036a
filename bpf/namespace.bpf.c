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
	if (flags & KS_CLONE_NEWUSER)
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
	if (KS_ARG(ctx, 1) < sizeof(flags) || bpf_probe_read_user(&flags, sizeof(flags), KS_ARG_PTR(ctx, 0)))
		return 0;
	if (flags & KS_CLONE_NEW_MASK)
		ks_emit_namespace(KS_OP_CLONE3, flags);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_setns")
int sys_enter_setns__tp(struct trace_event_raw_sys_enter *ctx)
{
	int fd = KS_ARG(ctx, 0);
	struct inode *inode;
	struct ks_setns *e;
	__u32 target_ino = 0, target_type = 0, enforced = 0;

	if (ks_from_agent())
		return 0;
	inode = ks_file_inode(ks_fd_file(fd));
	/* only an nsfs file names a namespace; a pidfd (pidfs or anon inode) leaves the target 0 */
	if (inode && BPF_CORE_READ(inode, i_sb, s_magic) == KS_NSFS_MAGIC) {
		target_ino = BPF_CORE_READ(inode, i_ino);
		/* nsfs keeps the namespace's ns_common in i_private */
		target_type = ks_ns_type(BPF_CORE_READ(inode, i_private));
	}
	/*
	 * Joining a host namespace by its nsfs file. A pidfd target (setns(pidfd, ...) into a host process's
	 * namespaces) names no namespace here and is not enforced: documented in docs/enforcement.md.
	 */
	if (target_ino && bpf_map_lookup_elem(&host_namespaces, &target_ino))
		enforced = ks_enforce(KS_ENFORCE_SETNS_HOST);
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
