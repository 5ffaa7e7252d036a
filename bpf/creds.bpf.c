// SPDX-License-Identifier: GPL-2.0
/*
 * Credential changes: the setuid family and capset, with the caller's euid and capabilities before
 * the call so a detector can tell a privilege drop from an escalation. Recorded at entry; ids are
 * as passed, (u32)-1 meaning "unchanged" (and filling the arguments a call does not have).
 */
#include "lib/common.h"
#include "lib/syscall.h"
#include "lib/task.h"

#define KS_ID_UNCHANGED ((__u32)-1)

static __always_inline struct ks_creds *ks_creds_begin(__u32 op)
{
	const struct cred *cred;
	struct ks_creds *e;

	if (ks_from_agent())
		return NULL;
	e = ks_begin(KS_EVENT_CREDS, sizeof(*e));
	if (!e)
		return NULL;
	cred = ks_task_cred(ks_current_task());
	e->op = op;
	e->arg0 = e->arg1 = e->arg2 = KS_ID_UNCHANGED;
	e->euid_before = BPF_CORE_READ(cred, euid.val);
	e->cap_effective_before = ks_cap_effective(cred);
	e->cap_permitted_before = ks_cap_permitted(cred);
	return e;
}

static __always_inline void ks_emit_id_change(struct trace_event_raw_sys_enter *ctx, __u32 op, int nargs)
{
	struct ks_creds *e = ks_creds_begin(op);

	if (!e)
		return;
	e->arg0 = KS_ARG(ctx, 0);
	if (nargs > 1)
		e->arg1 = KS_ARG(ctx, 1);
	if (nargs > 2)
		e->arg2 = KS_ARG(ctx, 2);
	ks_submit_urgent(e, sizeof(*e));
}

SEC("tracepoint/syscalls/sys_enter_setuid")
int sys_enter_setuid__tp(struct trace_event_raw_sys_enter *ctx)
{
	ks_emit_id_change(ctx, KS_OP_SETUID, 1);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_setgid")
int sys_enter_setgid__tp(struct trace_event_raw_sys_enter *ctx)
{
	ks_emit_id_change(ctx, KS_OP_SETGID, 1);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_setreuid")
int sys_enter_setreuid__tp(struct trace_event_raw_sys_enter *ctx)
{
	ks_emit_id_change(ctx, KS_OP_SETREUID, 2);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_setregid")
int sys_enter_setregid__tp(struct trace_event_raw_sys_enter *ctx)
{
	ks_emit_id_change(ctx, KS_OP_SETREGID, 2);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_setresuid")
int sys_enter_setresuid__tp(struct trace_event_raw_sys_enter *ctx)
{
	ks_emit_id_change(ctx, KS_OP_SETRESUID, 3);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_setresgid")
int sys_enter_setresgid__tp(struct trace_event_raw_sys_enter *ctx)
{
	ks_emit_id_change(ctx, KS_OP_SETRESGID, 3);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_setfsuid")
int sys_enter_setfsuid__tp(struct trace_event_raw_sys_enter *ctx)
{
	ks_emit_id_change(ctx, KS_OP_SETFSUID, 1);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_setfsgid")
int sys_enter_setfsgid__tp(struct trace_event_raw_sys_enter *ctx)
{
	ks_emit_id_change(ctx, KS_OP_SETFSGID, 1);
	return 0;
}

/*
 * capset(header, data): header is {u32 version; int pid}, data an array of {effective, permitted,
 * inheritable} u32 triples, one for version 1 and two (low and high 32 capabilities) since.
 * arg0 is the target pid from the header.
 */
SEC("tracepoint/syscalls/sys_enter_capset")
int sys_enter_capset__tp(struct trace_event_raw_sys_enter *ctx)
{
	struct {
		__u32 version;
		__s32 pid;
	} header = {};
	struct {
		__u32 effective;
		__u32 permitted;
		__u32 inheritable;
	} data[2] = {};
	struct ks_creds *e = ks_creds_begin(KS_OP_CAPSET);

	if (!e)
		return 0;
	if (bpf_probe_read_user(&header, sizeof(header), KS_ARG_PTR(ctx, 0)) == 0)
		e->arg0 = header.pid;
	if (header.version == KS_LINUX_CAPABILITY_VERSION_1)
		bpf_probe_read_user(&data[0], sizeof(data[0]), KS_ARG_PTR(ctx, 1));
	else
		bpf_probe_read_user(&data, sizeof(data), KS_ARG_PTR(ctx, 1));
	e->cap_effective_new = (__u64)data[1].effective << 32 | data[0].effective;
	e->cap_permitted_new = (__u64)data[1].permitted << 32 | data[0].permitted;
	ks_submit_urgent(e, sizeof(*e));
	return 0;
}
