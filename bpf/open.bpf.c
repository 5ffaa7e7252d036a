// SPDX-License-Identifier: GPL-2.0
/*
 * Opens of sensitive paths (service-account tokens, host credentials, runtime sockets, ...): the
 * open family is matched in the kernel against `path_patterns`, and only matches are emitted, so
 * the many ordinary opens never reach user space. Two strings are matched (see bpf/README.md):
 *  - at entry, the caller's string. A match waits in `open_pending` for the exit, which adds the
 *    result; a failed open (ENOENT, EACCES, EROFS) is reported with this string.
 *  - at exit, the opened file's real path, rebuilt from its dentries and mounts up to the opener's
 *    root, which relative paths, dirfds, '..', '//' and symlinks cannot disguise. Rebuilding costs
 *    a walk, so only a file whose name (d_name) is the leaf of some pattern is rebuilt
 *    (open/path_index.h); the rest cost an fd-table read and one or two array lookups.
 * Both are reported when they match different patterns (one record each); the record says which
 * string `path` is.
 * open_by_handle_at is always emitted: it bypasses paths altogether (the "shocker" escape).
 */
#include "lib/common.h"
#include "lib/syscall.h"
#include "lib/path.h"
#include "open/path_match.h"

#define KS_AT_FDCWD (-100)
/* ks_open.pattern_id of records that no pattern produced (open_by_handle_at) */
#define KS_OPEN_NO_PATTERN 0xffffffffu

/* Opens at once whose caller's string matched and whose exit has not come yet; beyond it they are reported at entry. */
#define KS_OPEN_PENDING_MAX 1024

/* The record is built off-stack (it is larger than the stack allows) before we know it is wanted. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ks_open);
} open_scratch SEC(".maps");

/* thread (pid_tgid) -> its open whose caller's string matched at entry, completed at exit */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KS_OPEN_PENDING_MAX);
	__type(key, __u64);
	__type(value, struct ks_open);
} open_pending SEC(".maps");

/* [0]: entries in open_pending, so that an exit looks in the hash only while some open waits there */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} open_pending_count SEC(".maps");

struct ks_open_call {
	__u32 op;
	__s32 dirfd;
	const void *user_path;
	__u32 flags;
	__u32 mode;
};

static __always_inline struct ks_open *ks_open_record(void)
{
	__u32 zero = 0;
	struct ks_open *e = bpf_map_lookup_elem(&open_scratch, &zero);

	if (e)
		__builtin_memset(e, 0, sizeof(*e));
	return e;
}

static __always_inline bool ks_open_is_write(__u32 flags)
{
	return (flags & (KS_O_ACCMODE | KS_O_CREAT | KS_O_TRUNC)) != 0;
}

static __always_inline void ks_open_emit(struct ks_open *e)
{
	/* Reading a sensitive path is mostly routine; opening one to change it is what the rules raise on. */
	ks_output(e, sizeof(*e), KS_EVENT_OPEN, ks_open_is_write(e->flags));
}

/*
 * A write-open of a file whose resolved path matched a pattern some rule kills for. At syscall exit the file is
 * open but nothing has been written through it: the process dies before its first write.
 */
static __always_inline __u32 ks_open_enforce(struct ks_open *e)
{
	__u32 pattern = e->pattern_id;
	__u32 *check;

	if (!ks_open_is_write(e->flags))
		return 0;
	check = bpf_map_lookup_elem(&enforce_patterns, &pattern);
	if (!check || *check == 0)
		return 0;
	return ks_enforce(*check - 1);
}

/*
 * Parks a matched record until the syscall's exit. A thread whose last exit was missed (the exit
 * program attached after its entry) leaves a stale entry: it is overwritten, not counted twice.
 */
static __always_inline bool ks_open_wait_for_exit(struct ks_open *e)
{
	__u64 thread = bpf_get_current_pid_tgid();
	__u32 zero = 0;
	__u64 *waiting = bpf_map_lookup_elem(&open_pending_count, &zero);
	long err;

	if (!waiting)
		return false;
	err = bpf_map_update_elem(&open_pending, &thread, e, BPF_NOEXIST);
	if (err == -17 /* EEXIST */)
		return bpf_map_update_elem(&open_pending, &thread, e, BPF_EXIST) == 0;
	if (err)
		return false;
	__sync_fetch_and_add(waiting, 1);
	return true;
}

/* The first stages run before anything else: most opens end after them. */
static __always_inline int ks_open_filter(const struct ks_open_call *call)
{
	struct ks_path_head head;
	struct ks_open *e;
	__u64 candidates;
	__u32 len;
	int matched;

	ks_path_head(&head, call->user_path);
	candidates = ks_path_candidates(head.word[0]);
	if (!candidates)
		return 0;
	candidates = ks_path_head_filter(&head, candidates);
	if (!candidates || ks_from_agent())
		return 0;
	e = ks_open_record();
	if (!e)
		return 0;
	len = ks_read_user_str(e->path, sizeof(e->path), call->user_path, &e->hdr);
	matched = ks_path_match(e, len, candidates);
	if (matched < 0)
		return 0;
	ks_fill_header(&e->hdr, KS_EVENT_OPEN, sizeof(*e));
	e->op = call->op;
	e->dirfd = call->dirfd;
	e->flags = call->flags;
	e->mode = call->mode;
	e->pattern_id = matched;
	e->ret = KS_OPEN_RET_UNKNOWN;
	e->path_source = KS_OPEN_PATH_CALLER;
	if (!ks_open_wait_for_exit(e))
		ks_open_emit(e); /* no room to wait: reported now, without its result, rather than lost */
	return 0;
}

/*
 * The call's arguments at exit, from the registers the syscall was entered with (x86-64 keeps them
 * in pt_regs; only the return value is overwritten). Needed only when the entry did not match.
 */
static __always_inline void ks_open_call_at_exit(__u32 op, struct ks_open_call *call)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	__u64 how_flags = 0;

	call->op = op;
	call->dirfd = KS_AT_FDCWD;
	switch (op) {
	case KS_OP_OPENAT:
	case KS_OP_OPENAT2:
		call->dirfd = PT_REGS_PARM1_CORE_SYSCALL(regs);
		call->user_path = (const void *)PT_REGS_PARM2_CORE_SYSCALL(regs);
		if (op == KS_OP_OPENAT2) {
			bpf_probe_read_user(&how_flags, sizeof(how_flags), (void *)PT_REGS_PARM3_CORE_SYSCALL(regs));
			call->flags = how_flags;
		} else {
			call->flags = PT_REGS_PARM3_CORE_SYSCALL(regs);
			call->mode = PT_REGS_PARM4_CORE_SYSCALL(regs);
		}
		break;
	case KS_OP_OPEN:
		call->user_path = (const void *)PT_REGS_PARM1_CORE_SYSCALL(regs);
		call->flags = PT_REGS_PARM2_CORE_SYSCALL(regs);
		call->mode = PT_REGS_PARM3_CORE_SYSCALL(regs);
		break;
	case KS_OP_CREAT:
		call->user_path = (const void *)PT_REGS_PARM1_CORE_SYSCALL(regs);
		call->flags = KS_O_CREAT | KS_O_WRONLY | KS_O_TRUNC;
		call->mode = PT_REGS_PARM2_CORE_SYSCALL(regs);
		break;
	}
}

/* Rebuilds the file's path into e->path and matches it; the pattern index or -1. */
static __always_inline int ks_open_match_resolved(struct ks_open *e, struct file *file, __u64 leaf_candidates)
{
	struct ks_path_head head;
	__u64 candidates;
	__u32 len;

	len = ks_task_file_path(bpf_get_current_task_btf(), file, e->path, &e->hdr);
	__builtin_memcpy(&head, e->path, sizeof(head));
	candidates = ks_path_candidates(head.word[0]) & leaf_candidates;
	if (!candidates)
		return -1;
	candidates = ks_path_head_filter(&head, candidates);
	return candidates ? ks_path_match(e, len, candidates) : -1;
}

extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

/*
 * The new fd's file and its name's first bytes, on every successful open, so with as few helper calls as
 * possible: BTF pointers are read with plain loads (faults read as 0), only the fd slot (an array indexed by
 * the fd, which the verifier does not allow on a BTF pointer) and the name bytes take a probe read. A racing
 * close leaves a stale or NULL file, as in lib/files.h; the walk that follows a gate hit reads it the same way.
 */
static __always_inline struct file *ks_new_fd_file(long fd)
{
	struct fdtable *fdt = bpf_get_current_task_btf()->files->fdt;
	struct file *file = NULL;

	if (fd < 0 || !fdt || fd >= fdt->max_fds)
		return NULL;
	bpf_probe_read_kernel(&file, sizeof(file), (void *)((unsigned long)fdt->fd + fd * sizeof(file)));
	return file;
}

static __always_inline __u64 ks_file_name_head(struct file *file)
{
	struct file *typed = bpf_rdonly_cast(file, bpf_core_type_id_kernel(struct file));
	__u64 head = 0;

	if (bpf_probe_read_kernel(&head, sizeof(head), typed->f_path.dentry->d_name.name)) {
		head = 0;
		bpf_probe_read_kernel_str(&head, sizeof(head), typed->f_path.dentry->d_name.name);
	}
	return head;
}

/*
 * The cheap part runs for every open: the pending count, and for a new fd its file's name against
 * the leaf index. Everything else only for a pending entry or a name some pattern ends with.
 */
static __always_inline int ks_open_exit(struct trace_event_raw_sys_exit *ctx, __u32 op)
{
	long ret = ctx->ret;
	__u64 thread = bpf_get_current_pid_tgid();
	__u32 zero = 0;
	__u64 *waiting = bpf_map_lookup_elem(&open_pending_count, &zero);
	struct ks_open *pending = NULL, *e;
	struct ks_open_call call = {};
	struct file *file = NULL;
	__u64 leaves = 0;
	int matched = -1;

	if (waiting && *waiting)
		pending = bpf_map_lookup_elem(&open_pending, &thread);
	if (ret >= 0) {
		file = ks_new_fd_file(ret);
		if (file)
			leaves = ks_head_candidates(&leaf_heads, &leaf_key_lens, ks_file_name_head(file));
	}
	if (!pending && !leaves)
		return 0;
	if (leaves && !ks_from_agent()) {
		e = ks_open_record();
		if (e)
			matched = ks_open_match_resolved(e, file, leaves);
		if (matched >= 0) {
			ks_fill_header(&e->hdr, KS_EVENT_OPEN, sizeof(*e));
			if (pending) {
				e->op = pending->op;
				e->dirfd = pending->dirfd;
				e->flags = pending->flags;
				e->mode = pending->mode;
				bpf_probe_read_kernel(e->caller_path, sizeof(e->caller_path), pending->path);
			} else {
				ks_open_call_at_exit(op, &call);
				e->op = call.op;
				e->dirfd = call.dirfd;
				e->flags = call.flags;
				e->mode = call.mode;
				ks_read_user_str(e->caller_path, sizeof(e->caller_path), call.user_path, &e->hdr);
			}
			e->pattern_id = matched;
			e->ret = ret;
			e->path_source = KS_OPEN_PATH_RESOLVED;
			e->hdr.flags |= ks_open_enforce(e);
			ks_open_emit(e);
		}
	}
	if (pending) {
		/* the caller's string matched another pattern than the file: rules of that one see it too */
		if (matched < 0 || (__u32)matched != pending->pattern_id) {
			pending->ret = ret;
			ks_open_emit(pending);
		}
		bpf_map_delete_elem(&open_pending, &thread);
		if (waiting)
			__sync_fetch_and_add(waiting, -1);
	}
	return 0;
}

/* openat(dirfd, path, flags, mode) */
SEC("tracepoint/syscalls/sys_enter_openat")
int sys_enter_openat__tp(struct trace_event_raw_sys_enter *ctx)
{
	struct ks_open_call call = {
		.op = KS_OP_OPENAT,
		.dirfd = KS_ARG(ctx, 0),
		.user_path = KS_ARG_PTR(ctx, 1),
		.flags = KS_ARG(ctx, 2),
		.mode = KS_ARG(ctx, 3),
	};

	return ks_open_filter(&call);
}

/* openat2(dirfd, path, how, size): struct open_how starts with u64 flags, u64 mode */
SEC("tracepoint/syscalls/sys_enter_openat2")
int sys_enter_openat2__tp(struct trace_event_raw_sys_enter *ctx)
{
	struct {
		__u64 flags;
		__u64 mode;
	} how = {};
	struct ks_open_call call = {
		.op = KS_OP_OPENAT2,
		.dirfd = KS_ARG(ctx, 0),
		.user_path = KS_ARG_PTR(ctx, 1),
	};

	bpf_probe_read_user(&how, sizeof(how), KS_ARG_PTR(ctx, 2));
	call.flags = how.flags;
	call.mode = how.mode;
	return ks_open_filter(&call);
}

/* open(path, flags, mode) */
SEC("tracepoint/syscalls/sys_enter_open")
int sys_enter_open__tp(struct trace_event_raw_sys_enter *ctx)
{
	struct ks_open_call call = {
		.op = KS_OP_OPEN,
		.dirfd = KS_AT_FDCWD,
		.user_path = KS_ARG_PTR(ctx, 0),
		.flags = KS_ARG(ctx, 1),
		.mode = KS_ARG(ctx, 2),
	};

	return ks_open_filter(&call);
}

/* creat(path, mode) is open(path, O_CREAT|O_WRONLY|O_TRUNC, mode) */
SEC("tracepoint/syscalls/sys_enter_creat")
int sys_enter_creat__tp(struct trace_event_raw_sys_enter *ctx)
{
	struct ks_open_call call = {
		.op = KS_OP_CREAT,
		.dirfd = KS_AT_FDCWD,
		.user_path = KS_ARG_PTR(ctx, 0),
		.flags = KS_O_CREAT | KS_O_WRONLY | KS_O_TRUNC,
		.mode = KS_ARG(ctx, 1),
	};

	return ks_open_filter(&call);
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
	ks_output(e, sizeof(*e), KS_EVENT_OPEN, true);
	return 0;
}
