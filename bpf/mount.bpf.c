// SPDX-License-Identifier: GPL-2.0
/*
 * Filesystem view changes: the mount family (old mount(2) and the new fsopen/fsconfig/fsmount/move_mount
 * API) and root changes (chroot, pivot_root). Container runtimes do all of these at container start;
 * a process doing them later inside a container is what detectors look for. Recorded at entry; the exits of
 * mount, fsopen and fsconfig look at what the kernel made and record only when that decides a kill.
 */
#include "lib/common.h"
#include "lib/syscall.h"
#include "lib/files.h"

#define KS_MS_REMOUNT 32ull
#define KS_MS_BIND 4096ull
/*
 * mount(2) flags with which no new filesystem instance is mounted (path_mount(): reconfigure, remount, bind,
 * propagation change, move), so its type argument is not used: MS_REMOUNT, MS_BIND, MS_MOVE, MS_UNBINDABLE,
 * MS_PRIVATE, MS_SLAVE, MS_SHARED.
 */
#define KS_MS_NOT_NEW (KS_MS_REMOUNT | KS_MS_BIND | 8192ull | (1ull << 17) | (1ull << 18) | (1ull << 19) | (1ull << 20))

/* Whether path_mount() parses mount(2)'s data: a new mount, or a remount that is not MS_REMOUNT | MS_BIND. */
static __always_inline bool ks_mount_parses_data(__u64 flags)
{
	return !(flags & KS_MS_NOT_NEW) || (flags & (KS_MS_REMOUNT | KS_MS_BIND)) == KS_MS_REMOUNT;
}

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
 * What the kernel reads from the caller's memory can sit in a page the caller never touched: bpf_probe_read_user()
 * cannot fault it in and fails, while the kernel's own copy then succeeds. Where a rule kills on what the argument
 * says, an argument that cannot be read is killed too (fails closed), and the record says it was unreadable.
 */

/* An unreadable filesystem type: killed under whichever mount check the container kills on. */
static __always_inline __u32 ks_enforce_unreadable_fstype(void)
{
	__u32 mode = ks_enforce_mode_for(KS_ENFORCE_SENSITIVE_MOUNT);

	if (mode != KS_ENFORCE_OFF)
		return ks_enforce_act(KS_ENFORCE_SENSITIVE_MOUNT, mode);
	return ks_enforce(KS_ENFORCE_CGROUP_MOUNT);
}

/*
 * The tasks whose mount or fsopen was already decided at entry (killed, or would have been): the exit, which
 * looks at what the kernel actually made, does not decide the same call twice. Keyed by pid_tgid.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u8);
} mount_decided_at_entry SEC(".maps");

static __always_inline void ks_mount_mark_decided(void)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u8 one = 1;

	bpf_map_update_elem(&mount_decided_at_entry, &id, &one, BPF_ANY);
}

/* copy_mount_options() copies at most a page of mount data; the kernel parses the first PAGE_SIZE - 1 bytes. */
#define KS_MOUNT_DATA_LEN 4096
#define KS_RELEASE_AGENT_KEY_LEN 13 /* strlen("release_agent") */

struct ks_mount_data {
	char bytes[KS_MOUNT_DATA_LEN + 16]; /* slack: a key compared at the last offsets stays inside the value */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ks_mount_data);
} mount_data_scratch SEC(".maps");

/* `key` is the cgroup v1 parameter that sets the release agent (cgroup1_parse_param matches it exactly). */
static __always_inline bool ks_is_release_agent_key(const char *key)
{
	const char name[KS_RELEASE_AGENT_KEY_LEN] = "release_agent";

#pragma unroll
	for (int i = 0; i < KS_RELEASE_AGENT_KEY_LEN; i++)
		if (key[i] != name[i])
			return false;
	return true;
}

struct ks_option_scan {
	__u32 len;
	bool found;
};

/*
 * Whether a `release_agent=` option starts at offset i. The kernel splits the data at every comma and takes what
 * precedes '=' as the key (generic_parse_monolithic), byte for byte: no spaces, quotes or case to normalise.
 */
static long ks_release_agent_option_step(__u64 i, struct ks_option_scan *scan)
{
	__u32 zero = 0;
	struct ks_mount_data *data = bpf_map_lookup_elem(&mount_data_scratch, &zero);
	__u32 at = i & (KS_MOUNT_DATA_LEN - 1);

	if (!data || at + KS_RELEASE_AGENT_KEY_LEN >= scan->len)
		return 1;
	if (at > 0 && data->bytes[(at - 1) & (KS_MOUNT_DATA_LEN - 1)] != ',')
		return 0;
	if (!ks_is_release_agent_key(&data->bytes[at]) || data->bytes[at + KS_RELEASE_AGENT_KEY_LEN] != '=')
		return 0;
	scan->found = true;
	return 1;
}

/* KS_MOUNT_FACT_DATA_UNREADABLE or KS_MOUNT_FACT_RELEASE_AGENT for mount(2)'s data string, else 0. */
static __always_inline __u32 ks_mount_data_facts(const void *data_arg)
{
	struct ks_option_scan scan = {};
	struct ks_mount_data *data;
	__u32 zero = 0;
	long copied;

	data = bpf_map_lookup_elem(&mount_data_scratch, &zero);
	if (!data)
		return 0;
	copied = bpf_probe_read_user_str(data->bytes, KS_MOUNT_DATA_LEN, data_arg);
	if (copied < 0)
		return KS_MOUNT_FACT_DATA_UNREADABLE;
	scan.len = copied;
	bpf_loop(KS_MOUNT_DATA_LEN, ks_release_agent_option_step, &scan, 0);
	return scan.found ? KS_MOUNT_FACT_RELEASE_AGENT : 0;
}

/*
 * mount(2) and fsopen(2) name the filesystem type: read it once, decide enforcement on it (before reserving, so a
 * full ring cannot save the process), then record it. The rest of the buffer stays zero: it is a map key.
 * mount(2)'s data may set a cgroup v1 release agent (`release_agent=`, on a new mount or a remount): that is
 * KS-ESC-004's release_agent check, like a write-open of the file. An unreadable type or data fails closed only
 * where the kernel uses it (type_used, data_arg set): a bind mount's type string is not looked at.
 */
static __always_inline int ks_emit_fstype_mount(__u32 op, __u64 flags, const void *fstype_arg, bool type_used,
						const void *source_arg, const void *target_arg, const void *data_arg)
{
	char fstype[KS_FSTYPE_LEN] = {};
	__u32 enforced = 0, facts = 0, *rule;
	struct ks_mount *e;
	char next = 0;
	long copied = 0;

	if (ks_from_agent())
		return 0;
	if (fstype_arg) {
		copied = bpf_probe_read_user_str(fstype, sizeof(fstype), fstype_arg);
		if (copied > 0) {
			rule = bpf_map_lookup_elem(&enforce_fstypes, fstype);
			if (rule)
				enforced = ks_enforce(*rule);
		} else if (type_used) {
			facts |= KS_MOUNT_FACT_TYPE_UNREADABLE;
			enforced = ks_enforce_unreadable_fstype();
		}
	}
	if (data_arg)
		facts |= ks_mount_data_facts(data_arg);
	if (!enforced && (facts & (KS_MOUNT_FACT_DATA_UNREADABLE | KS_MOUNT_FACT_RELEASE_AGENT)))
		enforced = ks_enforce(KS_ENFORCE_RELEASE_AGENT_WRITE);
	if (enforced)
		ks_mount_mark_decided();
	e = ks_mount_begin(op, flags);
	if (!e)
		return 0;
	e->hdr.flags |= enforced;
	e->facts = facts;
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
	__u64 flags = KS_ARG(ctx, 3);

	return ks_emit_fstype_mount(KS_OP_MOUNT, flags, KS_ARG_PTR(ctx, 2), !(flags & KS_MS_NOT_NEW), KS_ARG_PTR(ctx, 0),
				    KS_ARG_PTR(ctx, 1), ks_mount_parses_data(flags) ? KS_ARG_PTR(ctx, 4) : NULL);
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
	return ks_emit_fstype_mount(KS_OP_FSOPEN, KS_ARG(ctx, 1), KS_ARG_PTR(ctx, 0), true, NULL, NULL, NULL);
}

/*
 * The fs_context behind fd (fsopen or fspick made it), NULL when fd is not an fs_context file, recognised by its
 * anon inode's name, which only fsopen/fspick give.
 */
static __always_inline struct fs_context *ks_fd_fs_context(int fd)
{
	const char expected[] = "[fscontext]";
	char name[sizeof(expected)] = {};
	struct file *file = ks_fd_file(fd);

	if (!file)
		return NULL;
	if (bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(file, f_path.dentry, d_name.name)) != sizeof(name))
		return NULL;
#pragma unroll
	for (int i = 0; i < sizeof(expected); i++)
		if (name[i] != expected[i])
			return NULL;
	return BPF_CORE_READ(file, private_data);
}

/* The filesystem type's name (kernel memory) of the fs_context behind fd, NULL when there is none. */
static __always_inline const char *ks_fs_context_type_name(int fd)
{
	struct fs_context *fc = ks_fd_fs_context(fd);

	return fc ? BPF_CORE_READ(fc, fs_type, name) : NULL;
}

/*
 * fsconfig(fs_fd, cmd, key, value, aux): the new mount API's way to set an option, on a new filesystem (fsopen) or
 * one being reconfigured (fspick). A `release_agent` key is KS-ESC-004's release_agent check: the process dies
 * before FSCONFIG_CMD_RECONFIGURE/CREATE applies it. An unreadable key fails closed under the same check.
 */
SEC("tracepoint/syscalls/sys_enter_fsconfig")
int sys_enter_fsconfig__tp(struct trace_event_raw_sys_enter *ctx)
{
	const void *key_arg = KS_ARG_PTR(ctx, 2), *value_arg = KS_ARG_PTR(ctx, 3);
	char key[KS_RELEASE_AGENT_KEY_LEN + 1] = {};
	__u32 cmd = KS_ARG(ctx, 1), facts = 0, enforced = 0;
	struct ks_mount *e;
	long copied;

	if (ks_from_agent())
		return 0;
	if (key_arg) {
		copied = bpf_probe_read_user_str(key, sizeof(key), key_arg);
		if (copied < 0)
			facts |= KS_MOUNT_FACT_KEY_UNREADABLE;
		else if (copied == sizeof(key) && ks_is_release_agent_key(key))
			facts |= KS_MOUNT_FACT_RELEASE_AGENT;
	}
	if (facts)
		enforced = ks_enforce(KS_ENFORCE_RELEASE_AGENT_WRITE);
	if (enforced)
		ks_mount_mark_decided();
	e = ks_mount_begin(KS_OP_FSCONFIG, cmd);
	if (!e)
		return 0;
	e->hdr.flags |= enforced;
	e->facts = facts;
	if (key_arg)
		ks_read_user_str(e->source, sizeof(e->source), key_arg, &e->hdr);
	if (cmd == FSCONFIG_SET_STRING && value_arg)
		ks_read_user_str(e->target, sizeof(e->target), value_arg, &e->hdr);
	ks_read_kernel_str(e->fstype, sizeof(e->fstype), ks_fs_context_type_name((int)KS_ARG(ctx, 0)), &e->hdr);
	ks_submit_urgent(e, sizeof(*e));
	return 0;
}

/*
 * At exit, the filesystem type the kernel actually used: what the mount made, what the fs_context holds. The entry
 * decided on the caller's string, which another thread can rewrite between that read and the kernel's own copy;
 * this is the kernel's fact. The mount or fs_context exists by now; the process still dies before its next step.
 * A record is written only when this decides (the entry's record stands otherwise), with
 * KS_MOUNT_FACT_KERNEL_TYPE.
 */
static __always_inline int ks_enforce_kernel_fstype(__u32 op, __u64 flags, const char *kernel_type,
						    const void *target_arg)
{
	char fstype[KS_FSTYPE_LEN] = {};
	__u32 enforced, *rule;
	struct ks_mount *e;

	if (!kernel_type || bpf_probe_read_kernel_str(fstype, sizeof(fstype), kernel_type) <= 0)
		return 0;
	rule = bpf_map_lookup_elem(&enforce_fstypes, fstype);
	if (!rule)
		return 0;
	enforced = ks_enforce(*rule);
	if (!enforced)
		return 0;
	e = ks_mount_begin(op, flags);
	if (!e)
		return 0;
	e->hdr.flags |= enforced;
	e->facts = KS_MOUNT_FACT_KERNEL_TYPE;
	__builtin_memcpy(e->fstype, fstype, sizeof(fstype));
	if (target_arg)
		ks_read_user_str(e->target, sizeof(e->target), target_arg, &e->hdr);
	ks_submit_urgent(e, sizeof(*e));
	return 0;
}

/* Whether the exit has anything to decide: the entry did not, and the container kills on a mount check. */
static __always_inline bool ks_mount_exit_wanted(void)
{
	__u64 id = bpf_get_current_pid_tgid();

	if (bpf_map_delete_elem(&mount_decided_at_entry, &id) == 0)
		return false;
	return ks_enforce_mode_for(KS_ENFORCE_SENSITIVE_MOUNT) != KS_ENFORCE_OFF ||
	       ks_enforce_mode_for(KS_ENFORCE_CGROUP_MOUNT) != KS_ENFORCE_OFF;
}

/*
 * A new mount is added to the caller's mount namespace with the highest mount id there (ids only grow), which
 * the namespace keeps as mnt_last_node. Another thread's mount in the same namespace between the two can take
 * that place: then the newer mount's type is judged, and this one stands on the entry's decision.
 */
SEC("tracepoint/syscalls/sys_exit_mount")
int sys_exit_mount__tp(struct trace_event_raw_sys_exit *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs;
	struct mnt_namespace *ns;
	struct rb_node *last;
	struct mount *mnt;
	__u64 flags;

	if (!ks_mount_exit_wanted() || ctx->ret != 0)
		return 0;
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	flags = regs->r10; /* mount(2)'s 4th argument, as the syscall was entered (x86-64) */
	if (flags & KS_MS_NOT_NEW)
		return 0;
	ns = BPF_CORE_READ(task, nsproxy, mnt_ns);
	if (!bpf_core_field_exists(ns->mnt_last_node))
		return 0;
	last = BPF_CORE_READ(ns, mnt_last_node);
	if (!last)
		return 0;
	mnt = container_of(last, struct mount, mnt_node);
	return ks_enforce_kernel_fstype(KS_OP_MOUNT, flags, BPF_CORE_READ(mnt, mnt.mnt_sb, s_type, name),
					(const void *)regs->si);
}

SEC("tracepoint/syscalls/sys_exit_fsopen")
int sys_exit_fsopen__tp(struct trace_event_raw_sys_exit *ctx)
{
	if (!ks_mount_exit_wanted() || ctx->ret < 0)
		return 0;
	return ks_enforce_kernel_fstype(KS_OP_FSOPEN, 0, ks_fs_context_type_name(ctx->ret), NULL);
}

/* "cgroup" or "cpuset": the types whose fs_context is cgroup v1's (cgroup2 has no release_agent parameter) */
static __always_inline bool ks_is_cgroup_v1_type(const char *fstype)
{
	const char cgroup[] = "cgroup", cpuset[] = "cpuset";
	bool is_cgroup = true, is_cpuset = true;

#pragma unroll
	for (int i = 0; i < sizeof(cgroup); i++) {
		is_cgroup &= fstype[i] == cgroup[i];
		is_cpuset &= fstype[i] == cpuset[i];
	}
	return is_cgroup || is_cpuset;
}

/*
 * After a successful fsconfig, whether the fs_context now holds a release agent, from the kernel: a cgroup v1
 * context (the only kind with a release_agent parameter) whose cgroup_fs_context has one. This is what
 * FSCONFIG_CMD_RECONFIGURE/CREATE would apply, whatever key string the entry read (another thread can rewrite it
 * between that read and the kernel's copy). Killed under check 9 before the reconfigure.
 */
SEC("tracepoint/syscalls/sys_exit_fsconfig")
int sys_exit_fsconfig__tp(struct trace_event_raw_sys_exit *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 id = bpf_get_current_pid_tgid();
	struct cgroup_fs_context *cgroup_fc;
	char fstype[KS_FSTYPE_LEN] = {};
	struct fs_context *fc;
	struct pt_regs *regs;
	struct ks_mount *e;
	__u32 enforced;

	if (bpf_map_delete_elem(&mount_decided_at_entry, &id) == 0 || ctx->ret != 0)
		return 0;
	if (ks_enforce_mode_for(KS_ENFORCE_RELEASE_AGENT_WRITE) == KS_ENFORCE_OFF)
		return 0;
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	fc = ks_fd_fs_context((int)regs->di);
	if (!fc || bpf_probe_read_kernel_str(fstype, sizeof(fstype), BPF_CORE_READ(fc, fs_type, name)) <= 0)
		return 0;
	if (!ks_is_cgroup_v1_type(fstype))
		return 0;
	cgroup_fc = BPF_CORE_READ(fc, fs_private);
	if (!cgroup_fc || !BPF_CORE_READ(cgroup_fc, release_agent))
		return 0;
	enforced = ks_enforce(KS_ENFORCE_RELEASE_AGENT_WRITE);
	if (!enforced)
		return 0;
	e = ks_mount_begin(KS_OP_FSCONFIG, regs->si);
	if (!e)
		return 0;
	e->hdr.flags |= enforced;
	e->facts = KS_MOUNT_FACT_RELEASE_AGENT | KS_MOUNT_FACT_KERNEL_TYPE;
	__builtin_memcpy(e->fstype, fstype, sizeof(fstype));
	__builtin_memcpy(e->source, "release_agent", sizeof("release_agent"));
	ks_read_kernel_str(e->target, sizeof(e->target), BPF_CORE_READ(cgroup_fc, release_agent), &e->hdr);
	ks_submit_urgent(e, sizeof(*e));
	return 0;
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
