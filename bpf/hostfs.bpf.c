// SPDX-License-Identifier: GPL-2.0
/*
 * A container reaching the host's filesystems (a "bad pod" with the host's / as a hostPath volume): a chroot or
 * pivot_root whose new root lies on a host filesystem, an exec of a file on one, a write-open of a file on one.
 *
 * Decided on kernel facts, never on the names the caller passed:
 *  - the process is not in the host's mount namespace (host_mnt_ns_inum, set by user space before load), so the
 *    host's own work never pays more than this one comparison;
 *  - the superblock of the mount involved is one of the host's filesystems: user space lists their s_dev in
 *    host_filesystems from the host's mountinfo at start-up. A container's root is an overlay with a superblock
 *    of its own and never matches; its volumes on the host disk (emptyDir, hostPath) do, and user space tells a
 *    pod's own volumes from the rest by fs_path, the path from the filesystem's root, which no bind mount, chroot
 *    or relative path of the caller can change.
 * Each record also says whether the mount shows the whole filesystem (its root is the superblock's root) and
 * whether it is read-only, and carries the path as the container sees it.
 */
#include "lib/common.h"
#include "lib/syscall.h"
#include "lib/files.h"
/*
 * path.h defines its per-CPU scratch map in the including unit; snapshot.bpf.c already owns that name in the
 * linked object, so this unit's copy gets one of its own.
 */
#define path_scratch hostfs_path_scratch
#include "lib/path.h"
#undef path_scratch

#define KS_MNT_READONLY 0x40 /* vfsmount->mnt_flags */
#define KS_SB_RDONLY 0x1ul   /* super_block->s_flags */


static __always_inline bool ks_on_host_fs(struct vfsmount *vfsmnt)
{
	__u32 dev = BPF_CORE_READ(vfsmnt, mnt_sb, s_dev);

	return vfsmnt && bpf_map_lookup_elem(&host_filesystems, &dev) != NULL;
}

/* One component per step, leaf first, up to the superblock's root: mounts are not crossed, so bind mounts do not count. */
static long ks_fs_path_step(__u64 index, void *ctx)
{
	struct ks_path_walk *w = ctx;
	struct dentry *dentry = w->dentry;

	return ks_path_record_component(w, dentry, BPF_CORE_READ(dentry, d_parent));
}

/*
 * The path of `dentry` from its filesystem's root into out[KS_PATH_LEN]; returns its length. Deeper than
 * KS_PATH_MAX_COMPONENTS keeps the leaf-side components and sets *truncated: user space must not read a prefix from
 * such a path (its own flag, not the header's, which the container-view path shares).
 */
static __always_inline __u32 ks_fs_path(struct dentry *dentry, char *out, bool *truncated)
{
	__u32 zero = 0, len;
	struct ks_path_walk w = {};

	w.scratch = bpf_map_lookup_elem(&hostfs_path_scratch, &zero);
	w.dentry = dentry;
	if (!w.scratch || !dentry)
		return 0;
	w.scratch->depth = 0;
	w.scratch->len = 0;
	bpf_loop(KS_PATH_MAX_COMPONENTS + 1, ks_fs_path_step, &w, 0);
	bpf_loop(KS_PATH_MAX_COMPONENTS, ks_path_append_step, &w, 0);
	len = w.scratch->len;
	if (len == 0)
		w.scratch->buf[len++] = '/';
	if (len > KS_PATH_LEN - 1) {
		len = KS_PATH_LEN - 1;
		w.truncated = true;
	}
	len = ks_bounded(len, KS_PATH_LEN - 1);
	w.scratch->buf[len] = 0;
	*truncated = w.truncated;
	bpf_probe_read_kernel(out, KS_PATH_LEN, w.scratch->buf);
	return len;
}

/*
 * Emits the record for `file`, reached through the mount and dentry of its f_path. For a root change there is no
 * file: the caller passes the struct path embedded in fs_struct as if it were a file's f_path (only f_path and
 * f_inode are read, and f_inode is not: the inode comes from the dentry).
 */
static __always_inline void ks_host_fs_emit(__u32 op, struct vfsmount *vfsmnt, struct dentry *dentry,
					    struct file *file_for_path, __u32 open_flags)
{
	struct super_block *sb = BPF_CORE_READ(vfsmnt, mnt_sb);
	struct ks_host_fs *e;
	bool fs_path_truncated = false;

	if (ks_from_agent())
		return;
	e = ks_begin(KS_EVENT_HOST_FS, sizeof(*e));
	if (!e)
		return;
	e->op = op;
	e->dev = BPF_CORE_READ(sb, s_dev);
	e->open_flags = open_flags;
	e->ino = BPF_CORE_READ(dentry, d_inode, i_ino);
	e->nlink = BPF_CORE_READ(dentry, d_inode, __i_nlink);
	if (BPF_CORE_READ(vfsmnt, mnt_root) == BPF_CORE_READ(sb, s_root))
		e->flags |= KS_HOST_FS_FLAG_WHOLE_FS;
	if ((BPF_CORE_READ(vfsmnt, mnt_flags) & KS_MNT_READONLY) || (BPF_CORE_READ(sb, s_flags) & KS_SB_RDONLY))
		e->flags |= KS_HOST_FS_FLAG_READONLY;
	e->fs_path_len = ks_fs_path(dentry, e->fs_path, &fs_path_truncated);
	if (fs_path_truncated) {
		e->flags |= KS_HOST_FS_FLAG_FS_PATH_TRUNCATED;
		e->hdr.flags |= KS_HDR_FLAG_TRUNCATED;
	}
	e->path_len = ks_file_path(file_for_path, e->path, &e->hdr);
	ks_submit_urgent(e, sizeof(*e));
}

static __always_inline void ks_host_fs_file(__u32 op, struct file *file, __u32 open_flags)
{
	struct vfsmount *vfsmnt = BPF_CORE_READ(file, f_path.mnt);

	if (!file || !ks_on_host_fs(vfsmnt))
		return;
	ks_host_fs_emit(op, vfsmnt, BPF_CORE_READ(file, f_path.dentry), file, open_flags);
}

/* After a successful chroot or pivot_root: the caller's new root (fs->root), whatever path it named. */
static __always_inline int ks_host_fs_root_change(void *ctx, __u32 op)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fs_struct *fs;
	struct vfsmount *vfsmnt;

	if (KS_RET(ctx) != 0 || ks_in_host_mnt_ns())
		return 0;
	fs = BPF_CORE_READ(task, fs);
	vfsmnt = BPF_CORE_READ(fs, root.mnt);
	if (!fs || !ks_on_host_fs(vfsmnt))
		return 0;
	ks_host_fs_emit(op, vfsmnt, BPF_CORE_READ(fs, root.dentry),
			(struct file *)((void *)&fs->root - bpf_core_field_offset(struct file, f_path)), 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_chroot")
int hostfs_chroot__tp(struct trace_event_raw_sys_exit *ctx)
{
	return ks_host_fs_root_change(ctx, KS_OP_CHROOT);
}

SEC("tracepoint/syscalls/sys_exit_pivot_root")
int hostfs_pivot_root__tp(struct trace_event_raw_sys_exit *ctx)
{
	return ks_host_fs_root_change(ctx, KS_OP_PIVOT_ROOT);
}

/* The executed file itself (bprm->file), not the name exec was given. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(hostfs_exec__tp_btf, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	if (!ks_in_host_mnt_ns())
		ks_host_fs_file(KS_OP_EXEC, BPF_CORE_READ(bprm, file), 0);
	return 0;
}

/* Without BTF arguments: by now exec has made the new file the task's mm->exe_file. */
SEC("tracepoint/sched/sched_process_exec")
int hostfs_exec__tp(struct trace_event_raw_sched_process_exec *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	if (!ks_in_host_mnt_ns())
		ks_host_fs_file(KS_OP_EXEC, BPF_CORE_READ(task, mm, exe_file), 0);
	return 0;
}

/*
 * A successful open of the open family returns the new fd: its file's f_mode says whether it was opened for
 * writing (O_WRONLY, O_RDWR, creat), whatever flags, dirfd, symlinks or ".." the caller used to get there.
 */
static __always_inline int ks_host_fs_write_open(void *ctx, __u32 op)
{
	long fd = KS_RET(ctx);
	struct file *file;

	if (fd < 0 || ks_in_host_mnt_ns())
		return 0;
	file = ks_fd_file(fd);
	if (!file || !(BPF_CORE_READ(file, f_mode) & KS_FMODE_WRITE))
		return 0;
	ks_host_fs_file(op, file, BPF_CORE_READ(file, f_flags));
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int hostfs_openat__tp(struct trace_event_raw_sys_exit *ctx)
{
	return ks_host_fs_write_open(ctx, KS_OP_OPENAT);
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int hostfs_openat2__tp(struct trace_event_raw_sys_exit *ctx)
{
	return ks_host_fs_write_open(ctx, KS_OP_OPENAT2);
}

SEC("tracepoint/syscalls/sys_exit_open")
int hostfs_open__tp(struct trace_event_raw_sys_exit *ctx)
{
	return ks_host_fs_write_open(ctx, KS_OP_OPEN);
}

SEC("tracepoint/syscalls/sys_exit_creat")
int hostfs_creat__tp(struct trace_event_raw_sys_exit *ctx)
{
	return ks_host_fs_write_open(ctx, KS_OP_CREAT);
}
