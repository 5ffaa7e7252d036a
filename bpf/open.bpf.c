// SPDX-License-Identifier: GPL-2.0
/*
 * Opens of sensitive paths (service-account tokens, host credentials, runtime sockets, ...): the
 * open family is matched in the kernel against `path_patterns`, and only matches are emitted, so
 * the many ordinary opens never reach user space. One program per syscall, at its exit (see bpf/README.md):
 *  - a successful open is matched on the opened file's real path, rebuilt from its dentries and mounts up to
 *    the opener's root, which relative paths, dirfds, '..', '//' and symlinks cannot disguise. Rebuilding costs
 *    a walk, so only a file whose name (d_name) is the leaf of some pattern is rebuilt (open/path_index.h); the
 *    rest cost an fd-table read and one or two array lookups.
 *  - the caller's string, read through the saved registers, for a failed open (ENOENT, EACCES, EROFS, and
 *    ENXIO, which is what opening a socket gives) and for a successful one where it can name what the resolved
 *    path cannot: see ks_open_caller_string_matters(). Reading it costs ~110 ns, a third of an open's program.
 * Both are reported when they match different patterns (one record each); the record says which
 * string `path` is. open_by_handle_at is always emitted: it bypasses paths altogether (the "shocker" escape).
 */
#include "lib/common.h"
#include "lib/syscall.h"
#define KS_PATH_BTF_LOADS
#include "lib/path.h"
#include "open/path_match.h"
#include "open/file_identity.h"
#include "open/untrusted_loads.h"

#define KS_AT_FDCWD (-100)

/* The record is built off-stack (it is larger than the stack allows) before we know it is wanted. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ks_open);
} open_scratch SEC(".maps");

/* Only the fixed part is zeroed: the strings are written before they are emitted, and only their bytes are. */
static __always_inline struct ks_open *ks_open_record(void)
{
	__u32 zero = 0;
	struct ks_open *e = bpf_map_lookup_elem(&open_scratch, &zero);

	if (e)
		__builtin_memset(e, 0, KS_OPEN_FIXED_SIZE);
	return e;
}

/* The caller's flags, or the file's own mode when there is a file: openat2's flags may be unreadable. */
static __always_inline bool ks_open_is_write(struct ks_open *e)
{
	return (e->flags & (KS_O_ACCMODE | KS_O_CREAT | KS_O_TRUNC)) != 0 || (e->file_facts & KS_OPEN_FACT_WRITE);
}

/*
 * Emits the fixed part and the strings' bytes (struct ks_open): path, its NUL, and the caller's string with its NUL
 * when caller_path_len says there is one. The scratch record holds older records' strings past the last NUL: the
 * rest of its 8-byte word is zeroed, so the emitted bytes are this record's only.
 */
static __always_inline void ks_open_emit(struct ks_open *e, bool urgent)
{
	__u32 used = ks_bounded(e->path_len, KS_PATH_LEN - 1) + 1;
	__u32 last_word, size;
	__u64 *words = (__u64 *)e->strings;

	if (e->caller_path_len)
		used += ks_bounded(e->caller_path_len, KS_PATH_LEN - 1) + 1;
	last_word = ks_bounded((used - 1) / 8, sizeof(e->strings) / 8 - 1);
	words[last_word] &= ks_low_bytes_mask(used - 8 * last_word);
	size = KS_OPEN_FIXED_SIZE + 8 * (last_word + 1);
	e->hdr.size = size;
	ks_output(e, size, KS_EVENT_OPEN, urgent);
}

/*
 * A file opened for writing (its f_mode, not the flags the caller passed) that is a cgroup release_agent /
 * notify_on_release or a kernel tunable (open/file_identity.h): what the file is decides, not a path. At syscall
 * exit the file is open but nothing has been written through it: the process dies before its first write.
 */
static __always_inline __u32 ks_open_enforce(__u32 facts)
{
	if (!(facts & KS_OPEN_FACT_WRITE))
		return 0;
	if (facts & KS_OPEN_FACT_CGROUP_CONTROL)
		return ks_enforce(KS_ENFORCE_RELEASE_AGENT_WRITE);
	if (facts & KS_OPEN_FACT_KERNEL_TUNABLE)
		return ks_enforce(KS_ENFORCE_TUNABLE_WRITE);
	return 0;
}

/*
 * The call's arguments at exit come from the registers the syscall was entered with: x86-64 keeps them in
 * pt_regs and a syscall overwrites only the return value there. Plain loads through the BTF pointer, no helper
 * calls. (ia32 compat calls fire no syscall tracepoints at all.)
 */
static __always_inline struct pt_regs *ks_open_regs(struct task_struct *task)
{
	return (struct pt_regs *)bpf_task_pt_regs(task);
}

static __always_inline const void *ks_open_user_path(__u32 op, struct pt_regs *regs)
{
	if (op == KS_OP_OPENAT || op == KS_OP_OPENAT2)
		return (const void *)PT_REGS_PARM2_SYSCALL(regs);
	return (const void *)PT_REGS_PARM1_SYSCALL(regs);
}

/* The header and the call's arguments, for a record that will be emitted. */
static __always_inline void ks_open_fill_call(struct ks_open *e, __u32 op, struct pt_regs *regs, long ret)
{
	struct {
		__u64 flags;
		__u64 mode;
	} how = {};

	ks_fill_header(&e->hdr, KS_EVENT_OPEN, sizeof(*e));
	e->op = op;
	e->ret = ret;
	e->dirfd = KS_AT_FDCWD;
	switch (op) {
	case KS_OP_OPENAT:
		e->dirfd = PT_REGS_PARM1_SYSCALL(regs);
		e->flags = PT_REGS_PARM3_SYSCALL(regs);
		e->mode = PT_REGS_PARM4_SYSCALL(regs);
		break;
	case KS_OP_OPENAT2: /* openat2(dirfd, path, how, size): struct open_how starts with u64 flags, u64 mode */
		e->dirfd = PT_REGS_PARM1_SYSCALL(regs);
		bpf_probe_read_user(&how, sizeof(how), (void *)PT_REGS_PARM3_SYSCALL(regs));
		e->flags = how.flags;
		e->mode = how.mode;
		break;
	case KS_OP_OPEN:
		e->flags = PT_REGS_PARM2_SYSCALL(regs);
		e->mode = PT_REGS_PARM3_SYSCALL(regs);
		break;
	case KS_OP_CREAT: /* creat(path, mode) is open(path, O_CREAT|O_WRONLY|O_TRUNC, mode) */
		e->flags = KS_O_CREAT | KS_O_WRONLY | KS_O_TRUNC;
		e->mode = PT_REGS_PARM2_SYSCALL(regs);
		break;
	}
}

/* Rebuilds the file's path into the record's first string and matches it; the pattern index or -1. */
static __always_inline int ks_open_match_resolved(struct task_struct *task, struct ks_open *e, struct file *file,
						  __u64 leaf_candidates)
{
	struct ks_path_head head;
	__u64 candidates;
	__u32 len;

	len = ks_task_file_path(task, file, e->strings, &e->hdr);
	e->path_len = len;
	__builtin_memcpy(&head, e->strings, sizeof(head));
	candidates = ks_path_candidates(head.word[0]) & leaf_candidates;
	if (!candidates)
		return -1;
	candidates = ks_path_head_filter(&head, candidates);
	return candidates ? ks_path_match(e, len, candidates, KS_PATH_HEAD_BYTES) : -1;
}

/* The caller's string after the resolved path, as the record's second string. */
static __always_inline void ks_open_read_caller_path(struct ks_open *e, const void *user_path)
{
	/* at most KS_PATH_LEN, so KS_PATH_LEN bytes from it stay inside strings[] */
	__u32 at = ks_bounded(e->path_len, KS_PATH_LEN - 1) + 1;

	e->caller_path_len = ks_read_user_str(&e->strings[at], KS_PATH_LEN, user_path, &e->hdr);
}

/*
 * The new fd's file, on every successful open, so with as few helper calls as possible: BTF pointers are read with
 * plain loads (faults read as 0); the fd slot (an array indexed by the fd) too where the verifier allows it
 * (open/untrusted_loads.h), else a probe read. A racing close leaves a stale or NULL file, as in lib/files.h; the
 * walk that follows a gate hit reads it the same way.
 */
static __always_inline struct file *ks_new_fd_file(struct task_struct *task, long fd)
{
	struct fdtable *fdt = task->files->fdt;
	struct file *file = NULL;

	if (fd < 0 || !fdt || fd >= fdt->max_fds)
		return NULL;
	if (untrusted_loads)
		return ks_fd_slot_load(fdt, fd);
	bpf_probe_read_kernel(&file, sizeof(file), (void *)((unsigned long)fdt->fd + fd * sizeof(file)));
	return file;
}

/*
 * The name's first 8 bytes. Without untrusted loads: a name shorter than the dentry's inline store (d_shortname,
 * 40 bytes, since 6.14) lives in the dentry itself, a plain load then, which is most opens; a longer one (or an
 * older kernel) takes a probe read.
 */
static __always_inline __u64 ks_file_name_head(struct file *file)
{
	struct dentry *dentry = ks_btf(struct file, file)->f_path.dentry;
	const unsigned char *name = dentry->d_name.name;
	__u64 head = 0;

	if (untrusted_loads)
		return ks_name_head_load(dentry);
	if (bpf_core_field_exists(dentry->d_shortname) && (unsigned long)name == (unsigned long)&dentry->d_shortname) {
		__u64 inline_head = dentry->d_shortname.words[0];

		/* keeps clang from sharing one load instruction between this pointer and the stack below */
		barrier_var(inline_head);
		return inline_head;
	}
	if (bpf_probe_read_kernel(&head, sizeof(head), name)) {
		head = 0;
		bpf_probe_read_kernel_str(&head, sizeof(head), name);
	}
	return head;
}

/*
 * KS_OPEN_FACT_OWN_PROCESS for a file of the opener's own /proc/<pid>/ (or /proc/<pid>/task/<tid>/ of itself): the
 * proc inode holds the struct pid it was made for. /proc/self/mem resolves to /proc/<pid>/mem, and which pid is the
 * opener's own is not in the path (pid namespaces) nor to be taken from the caller's string.
 */
static __always_inline __u32 ks_open_proc_facts(struct task_struct *task, struct file *file)
{
	struct inode *inode = ks_btf(struct file, file)->f_inode;
	struct proc_inode *proc;
	struct pid *pid;

	if (!inode || ks_btf(struct super_block, ks_btf(struct inode, inode)->i_sb)->s_magic != KS_PROC_SUPER_MAGIC)
		return 0;
	proc = ks_btf(struct proc_inode, (unsigned long)inode - bpf_core_field_offset(struct proc_inode, vfs_inode));
	pid = proc->pid;
	if (pid && (pid == task->thread_pid || pid == task->group_leader->thread_pid))
		return KS_OPEN_FACT_OWN_PROCESS;
	return 0;
}

/*
 * A task in a container's cgroup, below one of the kubepods roots the agent listed (container_root_ids/levels), at
 * least a pod and a container deep: what a container's process that joined the host's mount namespace still is.
 * Most host processes are in system.slice services, two levels down, and stop at the level compare.
 */
static __always_inline bool ks_open_task_in_container_cgroup(struct task_struct *task)
{
	__u32 level = task->cgroups->dfl_cgrp->level;

	for (__u32 i = 0; i < KS_MAX_CONTAINER_ROOTS; i++) {
		__u64 *id = bpf_map_lookup_elem(&container_root_ids, &i);
		__u32 *root_level = bpf_map_lookup_elem(&container_root_levels, &i);

		if (!id || !root_level || !*id)
			return false;
		if (level >= *root_level + 2 && bpf_get_current_ancestor_cgroup_id(*root_level) == *id)
			return true;
	}
	return false;
}

/* struct file before 6.13 counted its references in f_count (one reference: 1); file_ref_t counts from 0 */
struct file___f_count {
	atomic_long_t f_count;
} __attribute__((preserve_access_index));

/*
 * More references to the file than the new fd's own: another thread may have dup2()'d the new fd away and put
 * another file in its slot before this program read it, to have an innocent file judged (it holds a reference of
 * its own fd too). A fresh open's file has exactly the fd table's reference.
 */
static __always_inline bool ks_open_file_shared(struct file *file)
{
	if (bpf_core_field_exists(file->f_ref))
		return ks_btf(struct file, file)->f_ref.refcnt.counter != 0;
	return BPF_CORE_READ((struct file___f_count *)file, f_count.counter) != 1;
}

/*
 * Whether a successful open's caller string can match a pattern that the file's resolved path cannot; reading it
 * is a third of an ordinary open's cost, so it is read only then. Kernel facts decide, none of the caller's text:
 *  - an O_PATH fd, which is also how a socket is opened (/run/<any>.sock matches the string only);
 *  - a file with more references than the new fd's (ks_open_file_shared(): a slot swapped under us);
 *  - for a process outside the host's mount namespace (a container's): a file on a mount of another mount
 *    namespace (/proc/<pid>/root/..., /proc/<pid>/exe of another container's or the host's process: the resolved
 *    path is the target's own, which names no /proc); or a file that is not on the container's image (its root,
 *    when that is an overlay: a root on the host's disk after chroot /host, or a --rootfs on the disk its volumes
 *    are on, is no image) and is not made by the kernel (proc, sysfs, cgroup, a device node): what volumes hold,
 *    hostPath, emptyDir, secrets, where the patterns with no leaf point (/etc/kubernetes/<any>.conf,
 *    /var/lib/kubelet/pods/<uid>/volumes/kubernetes.io~secret/...). A list of the host's filesystems would miss
 *    the tmpfs of a pod started after the agent.
 *  - for a process in the host's mount namespace: when it is a container's by its cgroup (nsenter -t 1 -m from a
 *    privileged pod); the host's own processes read it for failed opens only, as every rule whose pattern has no
 *    leaf looks at containers only.
 * With the host's mount namespace unknown (host_mnt_ns_inum 0) it is always read.
 */
static __always_inline bool ks_open_caller_string_matters(struct task_struct *task, struct file *file)
{
	struct nsproxy *nsproxy = task->nsproxy;
	struct file *f = ks_btf(struct file, file);
	struct vfsmount *vfsmnt = f->f_path.mnt;
	struct mount *mnt = container_of(vfsmnt, struct mount, mnt);
	struct super_block *sb, *root_sb;
	struct inode *inode;
	__u32 type;

	if ((f->f_mode & KS_FMODE_PATH) || ks_open_file_shared(file))
		return true;
	if (host_mnt_ns_inum == 0 || !nsproxy)
		return true;
	if (nsproxy->mnt_ns->ns.inum == host_mnt_ns_inum)
		return ks_open_task_in_container_cgroup(task);
	if (ks_btf(struct mount, mnt)->mnt_ns != nsproxy->mnt_ns)
		return true;
	sb = ks_btf(struct vfsmount, vfsmnt)->mnt_sb;
	root_sb = ks_btf(struct vfsmount, task->fs->root.mnt)->mnt_sb;
	if (sb == root_sb && ks_btf(struct super_block, sb)->s_magic == KS_OVERLAYFS_SUPER_MAGIC)
		return false;
	switch (ks_btf(struct super_block, sb)->s_magic) {
	case KS_PROC_SUPER_MAGIC:
	case KS_SYSFS_MAGIC:
	case KS_CGROUP_SUPER_MAGIC:
	case KS_CGROUP2_SUPER_MAGIC:
		return false;
	}
	inode = f->f_inode;
	type = inode ? ks_btf(struct inode, inode)->i_mode & KS_S_IFMT : 0;
	return type != KS_S_IFCHR && type != KS_S_IFBLK;
}

/*
 * One program per open syscall, at its exit. A new fd's file name is looked up among the patterns' leaves, and
 * the caller's string (stages 1-2 of path_match.h on its first bytes) where it can matter; only a candidate of
 * either goes on to the record. The caller's string is read after the kernel has read it (so a page the kernel
 * faulted in is readable too); it is the caller's memory, which another thread may change after the kernel's
 * copy: the resolved path is the one to trust.
 */
static __always_inline int ks_open_exit(struct trace_event_raw_sys_exit *ctx, __u32 op)
{
	struct task_struct *task = bpf_get_current_task_btf();
	long ret = ctx->ret;
	const void *user_path = NULL;
	struct pt_regs *regs = NULL;
	struct ks_path_head head;
	struct file *file = NULL;
	__u64 callers = 0, leaves = 0, name_head = 0;
	struct ks_open *e;
	int resolved = -1, matched;
	__u32 len, facts = 0;
	bool identified, read_caller = true;

	if (ret >= 0) {
		file = ks_new_fd_file(task, ret);
		if (file) {
			name_head = ks_file_name_head(file);
			leaves = ks_head_candidates(&leaf_heads, &leaf_key_lens, name_head);
			read_caller = ks_open_caller_string_matters(task, file);
		}
	}
	if (read_caller) {
		regs = ks_open_regs(task);
		user_path = ks_open_user_path(op, regs);
		ks_path_head(&head, user_path);
		callers = ks_path_candidates(head.word[0]);
		if (callers)
			callers = ks_path_head_filter(&head, callers);
	}
	/* the agent's own opens (task->tgid: the same as bpf_get_current_pid_tgid(), without a helper call) */
	if ((!callers && !leaves && !ks_file_name_may_be_control(name_head)) || task->tgid == agent_tgid)
		return 0;
	if (file)
		facts = ks_open_file_facts(file, name_head);
	/* a file identified by its facts is reported opened for writing: a read of it is only the patterns' business */
	identified = (facts & KS_OPEN_FACTS_IDENTIFIED) && (facts & KS_OPEN_FACT_WRITE);
	if (!callers && !leaves && !identified)
		return 0;
	e = ks_open_record();
	if (!e)
		return 0;
	if (!regs) {
		regs = ks_open_regs(task);
		user_path = ks_open_user_path(op, regs);
	}
	if (leaves || identified) {
		/* leaves 0: only rebuilds the path, which an identified file is reported with */
		resolved = ks_open_match_resolved(task, e, file, leaves);
		if (resolved >= 0 || identified) {
			ks_open_fill_call(e, op, regs, ret);
			e->pattern_id = resolved >= 0 ? resolved : KS_OPEN_NO_PATTERN;
			e->file_facts = facts | ks_open_proc_facts(task, file);
			e->path_source = KS_OPEN_PATH_RESOLVED;
			/* The caller's string as context (how the file was reached: a dirfd, '..', a symlink) where it was
			 * read above, and for a write-open, what attacks do; a routine read of a sensitive file (a token)
			 * goes without it, ~110 ns less. */
			if (read_caller || (facts & KS_OPEN_FACT_WRITE))
				ks_open_read_caller_path(e, user_path);
			e->hdr.flags |= ks_open_enforce(facts);
			/* Reading a sensitive path is mostly routine; opening one to change it is what the rules raise on. */
			ks_open_emit(e, ks_open_is_write(e));
			/* The caller's string adds a record only when its lowest match is another pattern, which needs
			 * another candidate: the common case, the same path, stops here. */
			if (resolved >= 0 && callers == (1ULL << ks_bounded(resolved, 63)))
				return 0;
			e->caller_path_len = 0;
		}
		if (!callers)
			return 0;
		/* the caller's string replaces the resolved path, and the walk's truncation flag goes with it */
		e->hdr.flags = 0;
	}
	if (!callers)
		return 0;
	len = ks_read_user_str(e->strings, KS_PATH_LEN, user_path, &e->hdr);
	e->path_len = len;
	matched = ks_path_match(e, len, callers, 0);
	if (matched < 0 || matched == resolved)
		return 0;
	ks_open_fill_call(e, op, regs, ret);
	e->pattern_id = matched;
	e->file_facts = facts | (file ? ks_open_proc_facts(task, file) : 0);
	e->path_source = KS_OPEN_PATH_CALLER;
	ks_open_emit(e, ks_open_is_write(e));
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int sys_exit_openat__tp(struct trace_event_raw_sys_exit *ctx)
{
	return ks_open_exit(ctx, KS_OP_OPENAT);
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int sys_exit_openat2__tp(struct trace_event_raw_sys_exit *ctx)
{
	return ks_open_exit(ctx, KS_OP_OPENAT2);
}

SEC("tracepoint/syscalls/sys_exit_open")
int sys_exit_open__tp(struct trace_event_raw_sys_exit *ctx)
{
	return ks_open_exit(ctx, KS_OP_OPEN);
}

SEC("tracepoint/syscalls/sys_exit_creat")
int sys_exit_creat__tp(struct trace_event_raw_sys_exit *ctx)
{
	return ks_open_exit(ctx, KS_OP_CREAT);
}

/* open_by_handle_at(mount_fd, handle, flags): no path to match, always emitted */
SEC("tracepoint/syscalls/sys_enter_open_by_handle_at")
int sys_enter_open_by_handle_at__tp(struct trace_event_raw_sys_enter *ctx)
{
	struct ks_open *e;
	__u32 enforced;

	if (ks_from_agent())
		return 0;
	enforced = ks_enforce(KS_ENFORCE_OPEN_BY_HANDLE);
	e = ks_open_record();
	if (!e)
		return 0;
	ks_fill_header(&e->hdr, KS_EVENT_OPEN, sizeof(*e));
	e->hdr.flags |= enforced;
	e->op = KS_OP_OPEN_BY_HANDLE_AT;
	e->dirfd = KS_ARG(ctx, 0);
	e->flags = KS_ARG(ctx, 2);
	e->pattern_id = KS_OPEN_NO_PATTERN;
	e->ret = KS_OPEN_RET_UNKNOWN;
	e->path_source = KS_OPEN_PATH_CALLER;
	e->strings[0] = 0;
	ks_open_emit(e, true);
	return 0;
}
