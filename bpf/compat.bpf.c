// SPDX-License-Identifier: GPL-2.0
/*
 * 32-bit (ia32 compat) system calls. On x86-64 a 64-bit process can still enter the kernel through int 0x80 (or a
 * 32-bit code segment's sysenter/syscall), and the syscalls/sys_enter_* tracepoints ignore such calls
 * (ARCH_TRACE_IGNORE_COMPAT_SYSCALLS: trace_get_syscall_nr() gives -1), so every other hook here is blind to them:
 * unshare, mount, setns, bpf, ptrace, ... through int 0x80 were neither recorded nor killed. The raw sys_enter
 * tracepoint fires for every syscall, compat ones included, with the syscall number as the entry used it.
 *
 * Every syscall on the node runs this program, so it returns at once unless the call is a compat one: the
 * task's TS_COMPAT status, which the 32-bit entry sets before the tracepoint and the exit to user mode clears (the
 * kernel's own in_ia32_syscall()), one load through the BTF task pointer. Then only a container process goes on:
 * one outside the host's mount namespace, as in hostfs.bpf.c.
 *
 * Enforcement: the i386 numbers of the enforced syscalls map to the checks of their 64-bit counterparts, decided
 * from the registers where the 64-bit check reads an argument register (unshare/clone flags, the ptrace request,
 * the bpf command), and on the call number alone where it reads user memory or a file (mount, fsopen, setns,
 * open_by_handle_at, init_module, finit_module): fail closed, since a 64-bit workload has no use for them through
 * the 32-bit entry. clone3's flags are in user memory; a read that fails kills as CLONE_NEWUSER would.
 */
#include "lib/common.h"

/* i386 syscall numbers (arch/x86/entry/syscalls/syscall_32.tbl): ABI, never renumbered. */
#define KS_I386_PTRACE 26
#define KS_I386_MOUNT 21
#define KS_I386_CLONE 120
#define KS_I386_INIT_MODULE 128
#define KS_I386_UNSHARE 310
#define KS_I386_OPEN_BY_HANDLE_AT 342
#define KS_I386_SETNS 346
#define KS_I386_FINIT_MODULE 350
#define KS_I386_BPF 357
#define KS_I386_FSOPEN 430
#define KS_I386_CLONE3 435

/*
 * The last record of a (cgroup, syscall number), and the calls since that were not recorded. A call an enforcement
 * check looks at (its arguments qualify, whether or not the container's rules kill) is keyed by its process too, so
 * that a harmless call of the same number (unshare(0)) cannot hide the next process's real one for the window.
 */
struct ks_compat_key {
	__u64 cgroup_id;
	__u32 nr;
	__u32 tgid; /* 0 for a call no check looks at */
};

struct ks_compat_seen {
	__u64 recorded_ns;
	__u64 repeats;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct ks_compat_key);
	__type(value, struct ks_compat_seen);
} compat_seen SEC(".maps");

/* KS_ENFORCE_RULE_MAX when enforcement has nothing to say about this call. */
static __always_inline __u32 ks_compat_check(__u32 nr, __u32 arg0)
{
	__u64 clone3_flags = 0;

	switch (nr) {
	case KS_I386_UNSHARE:
	case KS_I386_CLONE: /* i386 clone(flags, newsp, parent_tid, tls, child_tid): flags in ebx like unshare's */
		return arg0 & KS_CLONE_NEWUSER ? KS_ENFORCE_USER_NAMESPACE : KS_ENFORCE_RULE_MAX;
	case KS_I386_CLONE3: /* clone3(args, size): struct clone_args starts with the u64 flags */
		if (bpf_probe_read_user(&clone3_flags, sizeof(clone3_flags), (const void *)(unsigned long)arg0) != 0)
			return KS_ENFORCE_USER_NAMESPACE;
		return clone3_flags & KS_CLONE_NEWUSER ? KS_ENFORCE_USER_NAMESPACE : KS_ENFORCE_RULE_MAX;
	case KS_I386_SETNS:
		return KS_ENFORCE_SETNS_HOST; /* or the user namespace check: ks_compat_other_check() */
	case KS_I386_MOUNT:
	case KS_I386_FSOPEN:
		return KS_ENFORCE_SENSITIVE_MOUNT; /* or the cgroup mount check: ks_compat_other_check() */
	case KS_I386_INIT_MODULE:
	case KS_I386_FINIT_MODULE:
		return KS_ENFORCE_MODULE_LOAD;
	case KS_I386_PTRACE:
		return arg0 == KS_PTRACE_ATTACH || arg0 == KS_PTRACE_SEIZE ? KS_ENFORCE_PTRACE_ATTACH : KS_ENFORCE_RULE_MAX;
	case KS_I386_BPF:
		return arg0 == KS_BPF_PROG_LOAD ? KS_ENFORCE_BPF_PROG_LOAD : KS_ENFORCE_RULE_MAX;
	case KS_I386_OPEN_BY_HANDLE_AT:
		return KS_ENFORCE_OPEN_BY_HANDLE;
	}
	return KS_ENFORCE_RULE_MAX;
}

/*
 * The other check a call decided on its number alone also falls under, KS_ENFORCE_RULE_MAX for none: a mount or
 * fsopen may be a cgroup mount, and a setns may join another user namespace (killed where user namespaces are).
 */
static __always_inline __u32 ks_compat_other_check(__u32 check)
{
	if (check == KS_ENFORCE_SENSITIVE_MOUNT)
		return KS_ENFORCE_CGROUP_MOUNT;
	if (check == KS_ENFORCE_SETNS_HOST)
		return KS_ENFORCE_USER_NAMESPACE;
	return KS_ENFORCE_RULE_MAX;
}

/* Header flags of the enforcement decided for the call, 0 for none: under the first of its checks that kills. */
static __always_inline __u32 ks_compat_enforce(__u32 check)
{
	__u32 mode;

	if (check >= KS_ENFORCE_RULE_MAX)
		return 0;
	mode = ks_enforce_mode_for(check);
	if (mode == KS_ENFORCE_OFF) {
		check = ks_compat_other_check(check);
		if (check >= KS_ENFORCE_RULE_MAX)
			return 0;
		mode = ks_enforce_mode_for(check);
	}
	return ks_enforce_act(check, mode);
}

/*
 * Whether the call is a repeat within compat_repeat_window_ns of the last record of its container and number; a
 * repeat is counted for the next record. Otherwise returns false and sets *repeats to the count to report. Updated
 * without a lock: two CPUs racing may both record, never lose a count for good.
 */
static __always_inline bool ks_compat_repeat(__u32 nr, __u32 tgid, __u32 *repeats)
{
	struct ks_compat_key key = { .cgroup_id = bpf_get_current_cgroup_id(), .nr = nr, .tgid = tgid };
	struct ks_compat_seen *seen, fresh = {};
	__u64 now = bpf_ktime_get_ns(), missed;

	*repeats = 0;
	if (!compat_repeat_window_ns)
		return false;
	seen = bpf_map_lookup_elem(&compat_seen, &key);
	if (!seen) {
		fresh.recorded_ns = now;
		bpf_map_update_elem(&compat_seen, &key, &fresh, BPF_ANY);
		return false;
	}
	if (now - seen->recorded_ns < compat_repeat_window_ns) {
		__sync_fetch_and_add(&seen->repeats, 1);
		return true;
	}
	missed = __sync_lock_test_and_set(&seen->repeats, 0);
	*repeats = missed > 0xffffffffull ? 0xffffffffu : missed;
	seen->recorded_ns = now;
	return false;
}

static __noinline int ks_compat_syscall(struct task_struct *task, __u32 nr)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	struct ks_compat_syscall *e;
	__u32 check, enforced, repeats = 0;

	if (ks_from_agent())
		return 0;
	if (ks_in_host_mnt_ns())
		return 0;
	/* Decided before the record is reserved, so neither the repeat window nor a full ring can save the process. */
	check = ks_compat_check(nr, regs->bx);
	enforced = ks_compat_enforce(check);
	if (!enforced && ks_compat_repeat(nr, check < KS_ENFORCE_RULE_MAX ? task->tgid : 0, &repeats))
		return 0;
	e = ks_begin(KS_EVENT_COMPAT_SYSCALL, sizeof(*e));
	if (!e)
		return 0;
	e->hdr.flags |= enforced;
	e->nr = nr;
	e->repeats = repeats;
	e->args[0] = regs->bx;
	e->args[1] = regs->cx;
	e->args[2] = regs->dx;
	e->args[3] = regs->si;
	e->args[4] = regs->di;
	e->args[5] = regs->bp;
	ks_submit_urgent(e, sizeof(*e));
	return 0;
}

/* raw sys_enter: args[0] the entry's struct pt_regs *, args[1] the syscall number (i386 numbering for compat) */
SEC("raw_tp/sys_enter")
int sys_enter_compat__raw_tp(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();

	if (!(task->thread_info.status & KS_TS_COMPAT))
		return 0;
	return ks_compat_syscall(task, ctx->args[1]);
}
