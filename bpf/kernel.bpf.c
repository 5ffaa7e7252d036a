// SPDX-License-Identifier: GPL-2.0
/*
 * Reaching into the kernel or into other processes: kernel modules, ptrace and process_vm_writev,
 * bpf() and perf_event_open, and the fd types that fileless malware and exploits lean on
 * (memfd_create, userfaultfd). All rare on a healthy node, so every call is recorded.
 *
 * The module syscalls have no tracepoints on kernels built without CONFIG_MODULES (this VM): the
 * programs load but cannot attach there, and the loader skips them.
 */
#include "lib/common.h"
#include "lib/syscall.h"
#include "lib/files.h"
#include "lib/task.h"

/* Loading a module is enforced; removing one is only recorded (it cannot be an escape's next step). */
static __always_inline struct ks_module *ks_module_begin(__u32 op, int fd, __u32 flags)
{
	struct ks_module *e;
	__u32 enforced = 0;

	if (ks_from_agent())
		return NULL;
	if (op != KS_OP_DELETE_MODULE)
		enforced = ks_enforce(KS_ENFORCE_MODULE_LOAD);
	e = ks_begin(KS_EVENT_MODULE, sizeof(*e));
	if (!e)
		return NULL;
	e->hdr.flags |= enforced;
	e->op = op;
	e->fd = fd;
	e->flags = flags;
	return e;
}

/* init_module(image, len, params): the image is anonymous memory, so no name and no fd */
SEC("tracepoint/syscalls/sys_enter_init_module")
int sys_enter_init_module__tp(struct trace_event_raw_sys_enter *ctx)
{
	struct ks_module *e = ks_module_begin(KS_OP_INIT_MODULE, -1, 0);

	if (e)
		ks_submit_urgent(e, sizeof(*e));
	return 0;
}

/* finit_module(fd, params, flags): the name is the module file's */
SEC("tracepoint/syscalls/sys_enter_finit_module")
int sys_enter_finit_module__tp(struct trace_event_raw_sys_enter *ctx)
{
	int fd = KS_ARG(ctx, 0);
	struct ks_module *e = ks_module_begin(KS_OP_FINIT_MODULE, fd, KS_ARG(ctx, 2));
	struct file *file;

	if (!e)
		return 0;
	file = ks_fd_file(fd);
	if (file)
		ks_read_kernel_str(e->name, sizeof(e->name), BPF_CORE_READ(file, f_path.dentry, d_name.name), &e->hdr);
	ks_submit_urgent(e, sizeof(*e));
	return 0;
}

/* delete_module(name, flags) */
SEC("tracepoint/syscalls/sys_enter_delete_module")
int sys_enter_delete_module__tp(struct trace_event_raw_sys_enter *ctx)
{
	struct ks_module *e = ks_module_begin(KS_OP_DELETE_MODULE, -1, KS_ARG(ctx, 1));

	if (!e)
		return 0;
	ks_read_user_str(e->name, sizeof(e->name), KS_ARG_PTR(ctx, 0), &e->hdr);
	ks_submit_urgent(e, sizeof(*e));
	return 0;
}

/*
 * ptrace is recorded at exit, from the arguments saved at entry. Its pid argument is a number in the
 * caller's pid namespace; the tracepoint cannot look pids up, but a tracee sits on its tracer's
 * ptraced list, so the host tgid is found there: at exit for PTRACE_ATTACH/SEIZE (the tracee joins
 * the list during the call), at entry for PTRACE_DETACH (it leaves it), either for the rest.
 */
struct ks_pending_ptrace {
	__s64 request;
	__u64 pid_arg;
	__u64 addr;
	__u32 target_tgid_at_entry;
	__u32 enforced; /* header flags of the enforcement decided at entry */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64); /* pid_tgid of the calling thread */
	__type(value, struct ks_pending_ptrace);
} pending_ptrace SEC(".maps");

#define KS_PTRACED_SCAN_MAX 32

struct ks_ptrace_lookup {
	struct list_head *head;
	struct list_head *node;
	unsigned int level;
	__u32 vpid;
	__u32 tgid;
};

static long ks_ptraced_scan_step(__u64 index, void *ctx)
{
	struct ks_ptrace_lookup *l = ctx;
	struct list_head *node = l->node;
	struct task_struct *tracee;

	if (!node || node == l->head)
		return 1;
	tracee = container_of(node, struct task_struct, ptrace_entry);
	if (ks_task_vnr_at(tracee, l->level) == l->vpid) {
		l->tgid = BPF_CORE_READ(tracee, tgid);
		return 1;
	}
	l->node = BPF_CORE_READ(node, next);
	return 0;
}

/* The host tgid of the caller's tracee whose pid, in the caller's namespace, is vpid; 0 if none. */
static __always_inline __u32 ks_ptrace_target_tgid(__s64 request, __u32 vpid)
{
	struct task_struct *tracer = ks_current_task();
	struct ks_ptrace_lookup l = {};

	if (request == KS_PTRACE_TRACEME)
		return BPF_CORE_READ(tracer, real_parent, tgid);
	l.head = &tracer->ptraced;
	l.node = BPF_CORE_READ(tracer, ptraced.next);
	l.level = ks_task_pid_ns_level(tracer);
	l.vpid = vpid;
	bpf_loop(KS_PTRACED_SCAN_MAX, ks_ptraced_scan_step, &l, 0);
	return l.tgid;
}

/* ptrace(request, pid, addr, data) */
SEC("tracepoint/syscalls/sys_enter_ptrace")
int sys_enter_ptrace__tp(struct trace_event_raw_sys_enter *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct ks_pending_ptrace pending = {
		.request = KS_ARG(ctx, 0),
		.pid_arg = KS_ARG(ctx, 1),
		.addr = KS_ARG(ctx, 2),
	};

	if (ks_from_agent())
		return 0;
	pending.target_tgid_at_entry = ks_ptrace_target_tgid(pending.request, pending.pid_arg);
	/* At entry: the attach completes, but the tracer dies before it can read or write the tracee. */
	if (pending.request == KS_PTRACE_ATTACH || pending.request == KS_PTRACE_SEIZE)
		pending.enforced = ks_enforce(KS_ENFORCE_PTRACE_ATTACH);
	bpf_map_update_elem(&pending_ptrace, &pid_tgid, &pending, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_ptrace")
int sys_exit_ptrace__tp(struct trace_event_raw_sys_exit *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct ks_pending_ptrace *pending = bpf_map_lookup_elem(&pending_ptrace, &pid_tgid);
	struct ks_ptrace *e;

	if (!pending)
		return 0;
	e = ks_begin(KS_EVENT_PTRACE, sizeof(*e));
	if (e) {
		e->hdr.flags |= pending->enforced;
		e->op = KS_OP_PTRACE;
		e->request = pending->request;
		e->target_pid_arg = pending->pid_arg;
		e->addr = pending->addr;
		e->target_tgid = pending->target_tgid_at_entry;
		if (!e->target_tgid)
			e->target_tgid = ks_ptrace_target_tgid(e->request, e->target_pid_arg);
		ks_submit_urgent(e, sizeof(*e));
	}
	bpf_map_delete_elem(&pending_ptrace, &pid_tgid);
	return 0;
}

/*
 * process_vm_writev(pid, local_iov, liovcnt, remote_iov, riovcnt, flags): addr is where the first
 * remote iovec points. The pid is not resolved to a host tgid (target_tgid 0): unlike a tracee,
 * the target has no link to the caller that a program could follow.
 */
SEC("tracepoint/syscalls/sys_enter_process_vm_writev")
int sys_enter_process_vm_writev__tp(struct trace_event_raw_sys_enter *ctx)
{
	struct ks_ptrace *e;
	__u64 remote_base = 0;

	if (ks_from_agent())
		return 0;
	e = ks_begin(KS_EVENT_PTRACE, sizeof(*e));
	if (!e)
		return 0;
	e->op = KS_OP_PROCESS_VM_WRITEV;
	e->target_pid_arg = KS_ARG(ctx, 0);
	if (KS_ARG(ctx, 4) > 0 && bpf_probe_read_user(&remote_base, sizeof(remote_base), KS_ARG_PTR(ctx, 3)) == 0)
		e->addr = remote_base;
	ks_submit_urgent(e, sizeof(*e));
	return 0;
}

/* bpf(cmd, attr, size): for BPF_PROG_LOAD, attr starts with the u32 program type */
SEC("tracepoint/syscalls/sys_enter_bpf")
int sys_enter_bpf__tp(struct trace_event_raw_sys_enter *ctx)
{
	struct ks_bpf *e;
	__u32 prog_type = 0, enforced = 0;

	if (ks_from_agent())
		return 0;
	if (KS_ARG(ctx, 0) == KS_BPF_PROG_LOAD)
		enforced = ks_enforce(KS_ENFORCE_BPF_PROG_LOAD);
	e = ks_begin(KS_EVENT_BPF, sizeof(*e));
	if (!e)
		return 0;
	e->hdr.flags |= enforced;
	e->op = KS_OP_BPF;
	e->cmd = KS_ARG(ctx, 0);
	if (e->cmd == BPF_PROG_LOAD && bpf_probe_read_user(&prog_type, sizeof(prog_type), KS_ARG_PTR(ctx, 1)) == 0)
		e->prog_type = prog_type;
	ks_submit_urgent(e, sizeof(*e));
	return 0;
}

/* perf_event_open(attr, pid, cpu, group_fd, flags): attr begins u32 type, u32 size, u64 config */
SEC("tracepoint/syscalls/sys_enter_perf_event_open")
int sys_enter_perf_event_open__tp(struct trace_event_raw_sys_enter *ctx)
{
	struct {
		__u32 type;
		__u32 size;
		__u64 config;
	} attr = {};
	struct ks_bpf *e;

	if (ks_from_agent())
		return 0;
	e = ks_begin(KS_EVENT_BPF, sizeof(*e));
	if (!e)
		return 0;
	e->op = KS_OP_PERF_EVENT_OPEN;
	e->target_pid = KS_ARG(ctx, 1);
	if (bpf_probe_read_user(&attr, sizeof(attr), KS_ARG_PTR(ctx, 0)) == 0) {
		e->cmd = attr.type;
		e->config = attr.config;
	}
	ks_submit_urgent(e, sizeof(*e));
	return 0;
}

/* memfd_create(name, flags) */
SEC("tracepoint/syscalls/sys_enter_memfd_create")
int sys_enter_memfd_create__tp(struct trace_event_raw_sys_enter *ctx)
{
	struct ks_fd_create *e;

	if (ks_from_agent())
		return 0;
	e = ks_begin(KS_EVENT_FD_CREATE, sizeof(*e));
	if (!e)
		return 0;
	e->op = KS_OP_MEMFD_CREATE;
	e->flags = KS_ARG(ctx, 1);
	ks_read_user_str(e->name, sizeof(e->name), KS_ARG_PTR(ctx, 0), &e->hdr);
	ks_submit_urgent(e, sizeof(*e));
	return 0;
}

/* userfaultfd(flags) */
SEC("tracepoint/syscalls/sys_enter_userfaultfd")
int sys_enter_userfaultfd__tp(struct trace_event_raw_sys_enter *ctx)
{
	struct ks_fd_create *e;

	if (ks_from_agent())
		return 0;
	e = ks_begin(KS_EVENT_FD_CREATE, sizeof(*e));
	if (!e)
		return 0;
	e->op = KS_OP_USERFAULTFD;
	e->flags = KS_ARG(ctx, 0);
	ks_submit_urgent(e, sizeof(*e));
	return 0;
}
