/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What an opened file is, from the kernel's struct file: the files that let a container take over the host
 * (a cgroup v1 release_agent, core_pattern, ...) are recognised by their filesystem's magic and their dentry names
 * up to that filesystem's root, never by a path. A bind mount of core_pattern at /tmp/x, a cgroup hierarchy
 * mounted at /mnt/cg, a host /proc mounted at /host/proc all keep those facts; a tmpfs file named
 * notify_on_release has none of them.
 *
 * Read with plain BTF loads (open.bpf.c includes this after lib/path.h with KS_PATH_BTF_LOADS); a name's bytes with
 * one probe read each, only for a file whose name's first 8 bytes are one of the names below: every other open pays
 * the few comparisons of ks_file_name_may_be_control().
 */
#ifndef KS_OPEN_FILE_IDENTITY_H
#define KS_OPEN_FILE_IDENTITY_H

/* The first 8 bytes of a name as ks_file_name_head() reads them (little-endian), from a literal of 8 or more. */
#define KS_NAME_HEAD(s)                                                                                              \
	((__u64)(s)[0] | (__u64)(s)[1] << 8 | (__u64)(s)[2] << 16 | (__u64)(s)[3] << 24 | (__u64)(s)[4] << 32 |        \
	 (__u64)(s)[5] << 40 | (__u64)(s)[6] << 48 | (__u64)(s)[7] << 56)

static __always_inline bool ks_file_name_may_be_control(__u64 head)
{
	return head == KS_NAME_HEAD("release_") || head == KS_NAME_HEAD("notify_o") || head == KS_NAME_HEAD("core_pat") ||
	       head == KS_NAME_HEAD("modprobe") || head == KS_NAME_HEAD("hotplug\0") || head == KS_NAME_HEAD("uevent_h") ||
	       head == KS_NAME_HEAD("sysrq-tr");
}

#define KS_CONTROL_NAME_LEN 24 /* the longest name compared, with its NUL, fits */

union ks_control_name {
	char c[KS_CONTROL_NAME_LEN];
	__u64 w[KS_CONTROL_NAME_LEN / 8];
};

/* Whether the dentry's whole name is `want` (zero-padded; want_size counts its NUL). */
static __always_inline bool ks_dentry_name_is(struct dentry *dentry, const union ks_control_name *want, long want_size)
{
	union ks_control_name name = {};

	if (!dentry || bpf_probe_read_kernel_str(name.c, sizeof(name.c), ks_btf(struct dentry, dentry)->d_name.name) !=
			       want_size)
		return false;
	return name.w[0] == want->w[0] && name.w[1] == want->w[1] && name.w[2] == want->w[2];
}

#define KS_NAME_IS(dentry, literal)                                                                                  \
	({                                                                                                           \
		const union ks_control_name want_ = { .c = literal };                                                \
		ks_dentry_name_is(dentry, &want_, sizeof(literal));                                                  \
	})

static __always_inline struct dentry *ks_dentry_parent(struct dentry *dentry)
{
	return dentry ? ks_btf(struct dentry, dentry)->d_parent : NULL;
}

/* dentry/parent/.../root: `dir` is a directory right below its filesystem's root. */
static __always_inline bool ks_dentry_is_top_dir(struct dentry *dir, struct dentry *root)
{
	return dir && dir != root && ks_dentry_parent(dir) == root;
}

/* proc: sys/kernel/<name> for the tunables that make the kernel run a program; sysrq-trigger at its root. */
static __always_inline bool ks_proc_is_tunable(struct dentry *dentry, struct dentry *root)
{
	struct dentry *kernel = ks_dentry_parent(dentry);
	struct dentry *sys = ks_dentry_parent(kernel);

	if (kernel == root)
		return KS_NAME_IS(dentry, "sysrq-trigger");
	if (!ks_dentry_is_top_dir(sys, root) || !KS_NAME_IS(kernel, "kernel") || !KS_NAME_IS(sys, "sys"))
		return false;
	/* hotplug is uevent_helper's sysctl */
	return KS_NAME_IS(dentry, "core_pattern") || KS_NAME_IS(dentry, "modprobe") || KS_NAME_IS(dentry, "hotplug");
}

/* sysfs: kernel/uevent_helper */
static __always_inline bool ks_sysfs_is_tunable(struct dentry *dentry, struct dentry *root)
{
	struct dentry *kernel = ks_dentry_parent(dentry);

	return ks_dentry_is_top_dir(kernel, root) && KS_NAME_IS(kernel, "kernel") && KS_NAME_IS(dentry, "uevent_helper");
}

/* KS_OPEN_FACT_* of an opened file; `name_head` is its name's first 8 bytes (ks_file_name_head()). */
static __always_inline __u32 ks_open_file_facts(struct file *file, __u64 name_head)
{
	struct file *f = ks_btf(struct file, file);
	struct dentry *dentry = f->f_path.dentry;
	struct super_block *sb;
	__u32 facts = KS_OPEN_FACT_KNOWN;

	if (f->f_mode & KS_FMODE_WRITE)
		facts |= KS_OPEN_FACT_WRITE;
	if (!dentry || !ks_file_name_may_be_control(name_head))
		return facts;
	sb = ks_btf(struct dentry, dentry)->d_sb;
	switch (ks_btf(struct super_block, sb)->s_magic) {
	case KS_CGROUP_SUPER_MAGIC:
	case KS_CGROUP2_SUPER_MAGIC:
		if (KS_NAME_IS(dentry, "release_agent") || KS_NAME_IS(dentry, "notify_on_release"))
			facts |= KS_OPEN_FACT_CGROUP_CONTROL;
		break;
	case KS_PROC_SUPER_MAGIC:
		if (ks_proc_is_tunable(dentry, ks_btf(struct super_block, sb)->s_root))
			facts |= KS_OPEN_FACT_KERNEL_TUNABLE;
		break;
	case KS_SYSFS_MAGIC:
		if (ks_sysfs_is_tunable(dentry, ks_btf(struct super_block, sb)->s_root))
			facts |= KS_OPEN_FACT_KERNEL_TUNABLE;
		break;
	}
	return facts;
}

#define KS_OPEN_FACTS_IDENTIFIED (KS_OPEN_FACT_CGROUP_CONTROL | KS_OPEN_FACT_KERNEL_TUNABLE)

#endif /* KS_OPEN_FILE_IDENTITY_H */
