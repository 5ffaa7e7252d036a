/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A file's path rebuilt from its dentry chain, for programs where bpf_d_path() is refused (it wants a
 * trusted struct path, and a path reached through task->mm->exe_file is not trusted). Best effort:
 * at most KS_PATH_MAX_COMPONENTS names, crossing mounts up to the root of the task's mount
 * namespace, so a containerised process gets the path its container sees.
 */
#ifndef KS_LIB_PATH_H
#define KS_LIB_PATH_H

#define KS_PATH_MAX_COMPONENTS 32 /* a power of two: indexes are bounded by masking */
#define KS_PATH_WALK_STEPS 48     /* components plus mount crossings */

/* Twice KS_PATH_LEN: lets the verifier see that a copy of at most KS_PATH_LEN at an offset below it fits. */
struct ks_path_scratch {
	const unsigned char *names[KS_PATH_MAX_COMPONENTS];
	char buf[KS_PATH_LEN * 2];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ks_path_scratch);
} path_scratch SEC(".maps");

/* The walk runs under bpf_loop() so the verifier checks one step, not every path through 48. */
struct ks_path_walk {
	struct ks_path_scratch *scratch;
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	__u32 depth;
	__u32 len;
	bool truncated;
};

static long ks_path_walk_step(__u64 index, void *ctx)
{
	struct ks_path_walk *w = ctx;
	/* locals, not w->...: inside BPF_CORE_READ an expression on our own struct would become a relocation */
	struct dentry *dentry = w->dentry;
	struct mount *mnt = w->mnt;
	struct vfsmount *vfsmnt = w->vfsmnt;
	struct dentry *parent = BPF_CORE_READ(dentry, d_parent);

	if (dentry == BPF_CORE_READ(vfsmnt, mnt_root)) {
		struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);

		if (mnt_parent == mnt)
			return 1; /* the root of the mount namespace */
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = mnt_parent;
		w->vfsmnt = &mnt_parent->mnt;
		return 0;
	}
	if (dentry == parent)
		return 1;
	if (w->depth >= KS_PATH_MAX_COMPONENTS) {
		w->truncated = true;
		return 1;
	}
	w->scratch->names[ks_bounded(w->depth, KS_PATH_MAX_COMPONENTS - 1)] = BPF_CORE_READ(dentry, d_name.name);
	w->depth++;
	w->dentry = parent;
	return 0;
}

/* Appends "/name" for the components in root-to-leaf order (they were collected leaf first). */
static long ks_path_append_step(__u64 index, void *ctx)
{
	struct ks_path_walk *w = ctx;
	__u32 len = w->len;
	long copied;

	if (index >= w->depth)
		return 1;
	if (len >= KS_PATH_LEN - 1) {
		w->truncated = true;
		return 1;
	}
	len = ks_bounded(len, KS_PATH_LEN - 1);
	w->scratch->buf[len++] = '/';
	copied = bpf_probe_read_kernel_str(&w->scratch->buf[ks_bounded(len, KS_PATH_LEN * 2 - 1)], KS_PATH_LEN,
					   w->scratch->names[ks_bounded(w->depth - 1 - index, KS_PATH_MAX_COMPONENTS - 1)]);
	if (copied > 1)
		len += copied - 1;
	w->len = len;
	return 0;
}

/* Writes the path into out[KS_PATH_LEN] (NUL-terminated) and returns its length without the NUL. */
static __always_inline __u32 ks_file_path(struct file *file, char *out, struct ks_header *hdr)
{
	__u32 zero = 0, len;
	struct ks_path_walk w = {};

	w.scratch = bpf_map_lookup_elem(&path_scratch, &zero);
	w.dentry = BPF_CORE_READ(file, f_path.dentry);
	w.vfsmnt = BPF_CORE_READ(file, f_path.mnt);
	/* every vfsmount is embedded in a struct mount, which holds the mount tree links */
	w.mnt = container_of(w.vfsmnt, struct mount, mnt);
	if (!w.scratch || !w.dentry || !w.vfsmnt)
		return 0;
	bpf_loop(KS_PATH_WALK_STEPS, ks_path_walk_step, &w, 0);
	bpf_loop(KS_PATH_MAX_COMPONENTS, ks_path_append_step, &w, 0);
	len = w.len;
	if (len == 0)
		w.scratch->buf[len++] = '/';
	if (len > KS_PATH_LEN - 1) {
		len = KS_PATH_LEN - 1;
		w.truncated = true;
	}
	len = ks_bounded(len, KS_PATH_LEN - 1);
	w.scratch->buf[len] = 0;
	ks_mark_truncated_if(hdr, w.truncated);
	bpf_probe_read_kernel(out, KS_PATH_LEN, w.scratch->buf);
	return len;
}

#endif /* KS_LIB_PATH_H */
