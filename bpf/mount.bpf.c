// SPDX-License-Identifier: GPL-2.0
/*
 * Filesystem view changes: the mount family (old mount(2) and the new fsopen/fsmount/move_mount
 * API) and root changes (chroot, pivot_root). Container runtimes do all of these at container start;
 * a process doing them later inside a container is what detectors look for. Recorded at entry.
 */
#include "lib/common.h"
#include "lib/syscall.h"

static __always_inline struct ks_mount *ks_mount_begin(__u32 op, __u64 flags)
{
	struct ks_mount *e;

	if (ks_from_agent())
		return NULL;
	e = ks_begin(KS_EVENT_MOUNT, sizeof(*e));
	if (!e)
		return NULL;
	e->op = op;
	e->flags = flags;
	return e;
}

/*
 * mount(2) and fsopen(2) name the filesystem type: read it once, decide enforcement on it (before reserving, so a
 * full ring cannot save the process), then record it. The rest of the buffer stays zero: it is a map key.
 */
static __always_inline int ks_emit_fstype_mount(__u32 op, __u64 flags, const void *fstype_arg, const void *source_arg,
						const void *target_arg)
{
	char fstype[KS_FSTYPE_LEN] = {};
	__u32 enforced = 0, *rule;
	struct ks_mount *e;
	char next = 0;
	long copied;

	if (ks_from_agent())
		return 0;
	copied = bpf_probe_read_user_str(fstype, sizeof(fstype), fstype_arg);
	rule = copied > 0 ? bpf_map_lookup_elem(&enforce_fstypes, fstype) : NULL;
	if (rule)
		enforced = ks_enforce(*rule);
	e = ks_mount_begin(op, flags);
	if (!e)
		return 0;
	e->hdr.flags |= enforced;
	if (source_arg)
		ks_read_user_str(e->source, sizeof(e->source), source_arg, &e->hdr);
	if (target_arg)
		ks_read_user_str(e->target, sizeof(e->target), target_arg, &e->hdr);
	__builtin_memcpy(e->fstype, fstype, sizeof(fstype));
	if (copied == sizeof(fstype) && bpf_probe_read_user(&next, 1, (const char *)fstype_arg + sizeof(fstype) - 1) == 0)
		ks_mark_truncated_if(&e->hdr, next != 0);
	ks_submit_urgent(e, sizeof(*e));
	return 0;
}

/* mount(source, target, fstype, flags, data) */
SEC("tracepoint/syscalls/sys_enter_mount")
int sys_enter_mount__tp(struct trace_event_raw_sys_enter *ctx)
{
	return ks_emit_fstype_mount(KS_OP_MOUNT, KS_ARG(ctx, 3), KS_ARG_PTR(ctx, 2), KS_ARG_PTR(ctx, 0), KS_ARG_PTR(ctx, 1));
}

/* umount2(target, flags) */
SEC("tracepoint/syscalls/sys_enter_umount")
int sys_enter_umount__tp(struct trace_event_raw_sys_enter *ctx)
{
	struct ks_mount *e = ks_mount_begin(KS_OP_UMOUNT, KS_ARG(ctx, 1));

	if (!e)
		return 0;
	ks_read_user_str(e->target, sizeof(e->target), KS_ARG_PTR(ctx, 0), &e->hdr);
	ks_submit_urgent(e, sizeof(*e));
	return 0;
}

/* fsopen(fstype, flags) */
SEC("tracepoint/syscalls/sys_enter_fsopen")
int sys_enter_fsopen__tp(struct trace_event_raw_sys_enter *ctx)
{
	return ks_emit_fstype_mount(KS_OP_FSOPEN, KS_ARG(ctx, 1), KS_ARG_PTR(ctx, 0), NULL, NULL);
}

/* fsmount(fs_fd, flags, attr_flags): no strings; the fsopen before it named the filesystem */
SEC("tracepoint/syscalls/sys_enter_fsmount")
int sys_enter_fsmount__tp(struct trace_event_raw_sys_enter *ctx)
{
	struct ks_mount *e = ks_mount_begin(KS_OP_FSMOUNT, KS_ARG(ctx, 1));

	if (e)
		ks_submit_urgent(e, sizeof(*e));
	return 0;
}

/* move_mount(from_dfd, from_path, to_dfd, to_path, flags) */
SEC("tracepoint/syscalls/sys_enter_move_mount")
int sys_enter_move_mount__tp(struct trace_event_raw_sys_enter *ctx)
{
	struct ks_mount *e = ks_mount_begin(KS_OP_MOVE_MOUNT, KS_ARG(ctx, 4));

	if (!e)
		return 0;
	ks_read_user_str(e->source, sizeof(e->source), KS_ARG_PTR(ctx, 1), &e->hdr);
	ks_read_user_str(e->target, sizeof(e->target), KS_ARG_PTR(ctx, 3), &e->hdr);
	ks_submit_urgent(e, sizeof(*e));
	return 0;
}

static __always_inline struct ks_root_change *ks_root_change_begin(__u32 op)
{
	struct ks_root_change *e;

	if (ks_from_agent())
		return NULL;
	e = ks_begin(KS_EVENT_ROOT_CHANGE, sizeof(*e));
	if (e)
		e->op = op;
	return e;
}

SEC("tracepoint/syscalls/sys_enter_chroot")
int sys_enter_chroot__tp(struct trace_event_raw_sys_enter *ctx)
{
	struct ks_root_change *e = ks_root_change_begin(KS_OP_CHROOT);

	if (!e)
		return 0;
	ks_read_user_str(e->new_root, sizeof(e->new_root), KS_ARG_PTR(ctx, 0), &e->hdr);
	ks_submit_urgent(e, sizeof(*e));
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_pivot_root")
int sys_enter_pivot_root__tp(struct trace_event_raw_sys_enter *ctx)
{
	struct ks_root_change *e = ks_root_change_begin(KS_OP_PIVOT_ROOT);

	if (!e)
		return 0;
	ks_read_user_str(e->new_root, sizeof(e->new_root), KS_ARG_PTR(ctx, 0), &e->hdr);
	ks_read_user_str(e->put_old, sizeof(e->put_old), KS_ARG_PTR(ctx, 1), &e->hdr);
	ks_submit_urgent(e, sizeof(*e));
	return 0;
}
