/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Filling struct ks_exec. Three producers share it: the exec tracepoint in both variants (current is
 * the task after exec) and the task iterator (any task, KS_EXEC_FLAG_SNAPSHOT). They differ only in
 * where the path comes from and how user memory of the task is read, so those two stay with the
 * callers and everything read from the task_struct lives here.
 */
#ifndef KS_PROCESS_EXEC_H
#define KS_PROCESS_EXEC_H

#include "lib/task.h"
#include "lib/path.h"
#include "lib/files.h"

/* Inode timestamps moved: a timespec64 i_mtime until 6.5, __i_mtime in 6.6, split sec/nsec since 6.7. */
struct inode___timespec_mtime {
	struct timespec64 i_mtime;
} __attribute__((preserve_access_index));

struct inode___private_mtime {
	struct timespec64 __i_mtime;
} __attribute__((preserve_access_index));

static __always_inline __u64 ks_inode_mtime_ns(struct inode *inode)
{
	struct inode___timespec_mtime *timespec_inode = (void *)inode;
	struct inode___private_mtime *private_inode = (void *)inode;
	__u64 sec = 0, nsec = 0;

	if (bpf_core_field_exists(inode->i_mtime_sec)) {
		sec = BPF_CORE_READ(inode, i_mtime_sec);
		nsec = BPF_CORE_READ(inode, i_mtime_nsec);
	} else if (bpf_core_field_exists(private_inode->__i_mtime)) {
		sec = BPF_CORE_READ(private_inode, __i_mtime.tv_sec);
		nsec = BPF_CORE_READ(private_inode, __i_mtime.tv_nsec);
	} else if (bpf_core_field_exists(timespec_inode->i_mtime)) {
		sec = BPF_CORE_READ(timespec_inode, i_mtime.tv_sec);
		nsec = BPF_CORE_READ(timespec_inode, i_mtime.tv_nsec);
	}
	return sec * 1000000000ULL + nsec;
}

#define KS_EXEC_FD_NAME_LEN 32

/* The decimal fd that ends a name at `digits` (at most 7 digits, then its NUL), or -1. */
static __always_inline int ks_exec_parse_fd(const char *digits)
{
	int fd = 0, count = 0;
	bool ended = false;

#pragma unroll
	for (int i = 0; i < 8; i++) {
		char c = digits[i];

		if (ended)
			continue;
		if (c == 0) {
			ended = true;
		} else if (c >= '0' && c <= '9' && i < 7) {
			fd = fd * 10 + (c - '0');
			count++;
		} else {
			return -1;
		}
	}
	return ended && count > 0 ? fd : -1;
}

/*
 * The fd of the calling process that an exec's filename names: "/dev/fd/N" is what the kernel names an
 * execveat(fd, "", AT_EMPTY_PATH), "/proc/self/fd/N" what a caller writes. A #! script's interpreter opens that same
 * name after exec, so for a script to run from such an fd it is still open now. -1 for any other name.
 */
static __always_inline int ks_exec_filename_fd(const char *filename)
{
	char name[KS_EXEC_FD_NAME_LEN] = {};

	if (bpf_probe_read_kernel_str(name, sizeof(name), filename) <= 0)
		return -1;
	if (name[0] == '/' && name[1] == 'd' && name[2] == 'e' && name[3] == 'v' && name[4] == '/' && name[5] == 'f' &&
	    name[6] == 'd' && name[7] == '/')
		return ks_exec_parse_fd(name + 8);
	if (name[0] == '/' && name[1] == 'p' && name[2] == 'r' && name[3] == 'o' && name[4] == 'c' && name[5] == '/' &&
	    name[6] == 's' && name[7] == 'e' && name[8] == 'l' && name[9] == 'f' && name[10] == '/' && name[11] == 'f' &&
	    name[12] == 'd' && name[13] == '/')
		return ks_exec_parse_fd(name + 14);
	return -1;
}

/*
 * Enforcement on a fileless exec: at sched_process_exec the new image is in place but has not run an instruction,
 * so a SIGKILL now means the fileless program never starts. Decided on the files' inode facts
 * (ks_file_is_fileless()), never on a name: the executed file (mm->exe_file), and for a #! script, whose exe_file is
 * the interpreter, the fd the filename names. The test runs only when the rule kills in this container: an exec
 * otherwise pays one array lookup (enforcement off) or one hash lookup more.
 */
static __always_inline __u32 ks_exec_enforce(struct task_struct *task, const char *filename)
{
	__u32 mode = ks_enforce_mode_for(KS_ENFORCE_MEMFD_EXEC);

	if (mode == KS_ENFORCE_OFF)
		return 0;
	if (!ks_file_is_fileless(BPF_CORE_READ(task, mm, exe_file)) &&
	    !ks_file_is_fileless(ks_fd_file(ks_exec_filename_fd(filename))))
		return 0;
	return ks_enforce_act(KS_ENFORCE_MEMFD_EXEC, mode);
}

static __always_inline void ks_exec_fill_exe(struct ks_exec *e, struct file *exe)
{
	struct inode *inode;

	if (!exe)
		return;
	inode = BPF_CORE_READ(exe, f_inode);
	e->exe_ino = BPF_CORE_READ(inode, i_ino);
	e->exe_dev = BPF_CORE_READ(inode, i_sb, s_dev);
	e->exe_mtime_ns = ks_inode_mtime_ns(inode);
	e->exe_nlink = BPF_CORE_READ(inode, __i_nlink);
	if (e->exe_nlink == 0)
		e->exe_flags |= KS_EXEC_FLAG_UNLINKED;
	if (ks_file_is_memfd(exe))
		e->exe_flags |= KS_EXEC_FLAG_MEMFD;
}

/*
 * The executed file's own path, which rules match rather than the filename exec was given: that one
 * is the caller's string (./x, /usr/local/bin/../../tmp/x, a symlink). After exec mm->exe_file is
 * bprm->file; for a #! script both are the interpreter, whose path says nothing of the script.
 */
static __always_inline void ks_exec_fill_exe_path(struct ks_exec *e, struct task_struct *task, struct file *exe)
{
	if (exe)
		e->exe_path_len = ks_task_file_path(task, exe, e->exe_path, &e->hdr);
}

static __always_inline void ks_exec_fill_task(struct ks_exec *e, struct task_struct *task)
{
	const struct cred *cred = ks_task_cred(task);
	struct nsproxy *namespaces = BPF_CORE_READ(task, nsproxy);

	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->euid = BPF_CORE_READ(cred, euid.val);
	e->egid = BPF_CORE_READ(cred, egid.val);
	e->cap_effective = ks_cap_effective(cred);
	e->user_ns = BPF_CORE_READ(cred, user_ns, ns.inum);
	e->pid_ns = ks_task_pid_ns_inum(task);
	/* nsproxy is NULL once a task is exiting; an iterator can meet such a task */
	if (namespaces) {
		e->mnt_ns = BPF_CORE_READ(namespaces, mnt_ns, ns.inum);
		e->net_ns = BPF_CORE_READ(namespaces, net_ns, ns.inum);
		e->uts_ns = BPF_CORE_READ(namespaces, uts_ns, ns.inum);
		e->ipc_ns = BPF_CORE_READ(namespaces, ipc_ns, ns.inum);
		e->cgroup_ns = BPF_CORE_READ(namespaces, cgroup_ns, ns.inum);
	}
	ks_exec_fill_exe(e, BPF_CORE_READ(task, mm, exe_file));
	ks_exec_fill_exe_path(e, task, BPF_CORE_READ(task, mm, exe_file));
}

/*
 * Where the task's argv strings are and how many bytes of them fit in ks_exec.args. The strings are
 * contiguous and NUL-separated between mm->arg_start and mm->arg_end.
 */
static __always_inline __u32 ks_exec_args_window(struct ks_exec *e, struct mm_struct *mm, unsigned long *start)
{
	unsigned long arg_start, arg_end, len;

	if (!mm)
		return 0;
	arg_start = BPF_CORE_READ(mm, arg_start);
	arg_end = BPF_CORE_READ(mm, arg_end);
	if (arg_end <= arg_start)
		return 0;
	len = arg_end - arg_start;
	if (len > KS_ARGS_LEN) {
		len = KS_ARGS_LEN;
		e->hdr.flags |= KS_HDR_FLAG_TRUNCATED;
	}
	*start = arg_start;
	return len;
}

/*
 * After exec the ELF loader leaves argc at the initial stack pointer, which it records as
 * mm->start_stack; the fallback tracepoint and the iterator have no linux_binprm to ask.
 */
static __always_inline unsigned long ks_exec_argc_address(struct mm_struct *mm)
{
	return mm ? BPF_CORE_READ(mm, start_stack) : 0;
}

/* args and argc of the current task, just after its exec. */
static __always_inline void ks_exec_fill_args_of_current(struct ks_exec *e, struct task_struct *task, long argc)
{
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	unsigned long start = 0;
	__u32 len = ks_exec_args_window(e, mm, &start);

	if (len > 0 && len <= KS_ARGS_LEN && bpf_probe_read_user(e->args, len, (void *)start) == 0)
		e->args_len = len;
	if (argc < 0 && bpf_probe_read_user(&argc, sizeof(argc), (void *)ks_exec_argc_address(mm)))
		argc = 0;
	e->argc = argc;
}

#define KS_ARGC_UNKNOWN (-1L)

/* Zeroes a reserved record in two runs of stores: clang expands a memset inline up to 128 stores, and ks_exec is larger. */
#define KS_MEMSET_INLINE_BYTES 1024
static __always_inline void ks_exec_zero(struct ks_exec *e)
{
	_Static_assert(sizeof(*e) <= 2 * KS_MEMSET_INLINE_BYTES, "ks_exec needs a third memset");
	__builtin_memset(e, 0, KS_MEMSET_INLINE_BYTES);
	/* volatile: a plain loop would be turned back into a memset call, which BPF does not have */
	volatile __u64 *rest = (volatile __u64 *)((char *)e + KS_MEMSET_INLINE_BYTES);

	_Static_assert(sizeof(*e) % 8 == 0, "ks_exec is zeroed in 8-byte words");
#pragma unroll
	for (__u32 i = 0; i < (sizeof(*e) - KS_MEMSET_INLINE_BYTES) / 8; i++)
		rest[i] = 0;
}

/* ks_begin() without its single memset, which ks_exec outgrew: admission (a hot type) stays. */
static __always_inline struct ks_exec *ks_exec_reserve_for_current(void)
{
	struct ks_exec *e;

	if (!ks_admit(KS_EVENT_EXEC, sizeof(*e)))
		return NULL;
	e = ks_reserve(KS_EVENT_EXEC, sizeof(*e));
	if (!e)
		return NULL;
	ks_exec_zero(e);
	ks_fill_header(&e->hdr, KS_EVENT_EXEC, sizeof(*e));
	return e;
}

#endif /* KS_PROCESS_EXEC_H */
