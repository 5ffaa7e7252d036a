// SPDX-License-Identifier: GPL-2.0
/*
 * Opens of sensitive paths (service-account tokens, host credentials, runtime sockets, ...): the
 * open family is matched in the kernel against `path_patterns`, and only matches are emitted, so
 * the many ordinary opens never reach user space. The path is the caller's string, unresolved:
 * patterns are written for the paths processes actually pass (see bpf/README.md).
 * open_by_handle_at is always emitted: it bypasses paths altogether (the "shocker" escape).
 */
#include "lib/common.h"
#include "lib/syscall.h"
#include "open/path_match.h"

#define KS_AT_FDCWD (-100)
/* ks_open.pattern_id of records that no pattern produced (open_by_handle_at) */
#define KS_OPEN_NO_PATTERN 0xffffffffu

/* The record is built off-stack (it is larger than the stack allows) before we know it is wanted. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ks_open);
} open_scratch SEC(".maps");

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
	/* Reading a sensitive path is mostly routine; opening one to change it is what the rules raise on. */
	ks_output(e, sizeof(*e), KS_EVENT_OPEN, (call->flags & (KS_O_ACCMODE | KS_O_CREAT | KS_O_TRUNC)) != 0);
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

/* open_by_handle_at(mount_fd, handle, flags): no path to match, always emitted */
SEC("tracepoint/syscalls/sys_enter_open_by_handle_at")
int sys_enter_open_by_handle_at__tp(struct trace_event_raw_sys_enter *ctx)
{
	struct ks_open *e;

	if (ks_from_agent())
		return 0;
	e = ks_open_record();
	if (!e)
		return 0;
	ks_fill_header(&e->hdr, KS_EVENT_OPEN, sizeof(*e));
	e->op = KS_OP_OPEN_BY_HANDLE_AT;
	e->dirfd = KS_ARG(ctx, 0);
	e->flags = KS_ARG(ctx, 2);
	e->pattern_id = KS_OPEN_NO_PATTERN;
	ks_output(e, sizeof(*e), KS_EVENT_OPEN, true);
	return 0;
}
