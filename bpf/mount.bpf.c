// SPDX-License-Identifier: GPL-2.0
/*
 * Filesystem view changes: the mount family (old mount(2) and the new fsopen/fsconfig/fsmount/move_mount
 * API) and root changes (chroot, pivot_root). Container runtimes do all of these at container start;
 * a process doing them later inside a container is what detectors look for. Recorded at entry.
 */
#include "lib/common.h"
#include "lib/syscall.h"
#include "lib/files.h"

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
 * KS-ESC-004's release_agent check, like a write-open of the file.
 */
static __always_inline int ks_emit_fstype_mount(__u32 op, __u64 flags, const void *fstype_arg, const void *source_arg,
						const void *target_arg, const void *data_arg)
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
		} else {
			facts |= KS_MOUNT_FACT_TYPE_UNREADABLE;
			enforced = ks_enforce_unreadable_fstype();
		}
	}
	if (data_arg)
		facts |= ks_mount_data_facts(data_arg);
	if (!enforced && (facts & (KS_MOUNT_FACT_DATA_UNREADABLE | KS_MOUNT_FACT_RELEASE_AGENT)))
		enforced = ks_enforce(KS_ENFORCE_RELEASE_AGENT_WRITE);
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
	return ks_emit_fstype_mount(KS_OP_MOUNT, KS_ARG(ctx, 3), KS_ARG_PTR(ctx, 2), KS_ARG_PTR(ctx, 0), KS_ARG_PTR(ctx, 1),
				    KS_ARG_PTR(ctx, 4));
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
	return ks_emit_fstype_mount(KS_OP_FSOPEN, KS_ARG(ctx, 1), KS_ARG_PTR(ctx, 0), NULL, NULL, NULL);
}

/*
 * The filesystem type of the fs_context behind fd (fsopen or fspick made it), from the kernel: the fd must be an
 * fs_context file, recognised by its anon inode's name, which only fsopen/fspick give.
 */
static __always_inline void ks_read_fs_context_type(char *dst, int fd, struct ks_header *hdr)
{
	const char expected[] = "[fscontext]";
	char name[sizeof(expected)] = {};
	struct file *file = ks_fd_file(fd);
	struct fs_context *fc;

	if (!file)
		return;
	if (bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(file, f_path.dentry, d_name.name)) != sizeof(name))
		return;
#pragma unroll
	for (int i = 0; i < sizeof(expected); i++)
		if (name[i] != expected[i])
			return;
	fc = BPF_CORE_READ(file, private_data);
	ks_read_kernel_str(dst, KS_FSTYPE_LEN, BPF_CORE_READ(fc, fs_type, name), hdr);
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
	e = ks_mount_begin(KS_OP_FSCONFIG, cmd);
	if (!e)
		return 0;
	e->hdr.flags |= enforced;
	e->facts = facts;
	if (key_arg)
		ks_read_user_str(e->source, sizeof(e->source), key_arg, &e->hdr);
	if (cmd == FSCONFIG_SET_STRING && value_arg)
		ks_read_user_str(e->target, sizeof(e->target), value_arg, &e->hdr);
	ks_read_fs_context_type(e->fstype, (int)KS_ARG(ctx, 0), &e->hdr);
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
