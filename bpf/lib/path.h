/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A file's path rebuilt from its dentry chain, for programs where bpf_d_path() is refused (it wants a
 * trusted struct path, and a path reached through task->mm->exe_file is not trusted). Best effort:
 * at most KS_PATH_MAX_COMPONENTS names, crossing mounts up to the root of the task's mount
 * namespace, so a containerised process gets the path its container sees. ks_task_file_path() stops
 * earlier, at the task's own root (chroot), as d_path() does: the path the task itself would use.
 */
#ifndef KS_LIB_PATH_H
#define KS_LIB_PATH_H

#define KS_PATH_MAX_COMPONENTS 32 /* a power of two: indexes are bounded by masking */
#define KS_PATH_WALK_STEPS 48     /* components plus mount crossings */

/*
 * How the walk reads a field of a kernel object. A unit that defines KS_PATH_BTF_LOADS before including this reads
 * through bpf_rdonly_cast(): a plain load per field (a fault reads as 0; the verifier turns the cast into a register
 * move) instead of a helper call each, which was most of a sensitive open's cost (kernel run-time stats: the walk of
 * a 2-component path ~1 us). Only one unit can: the libbpf linker of bpftool gen object cannot merge one extern
 * kfunc declared in several units ("failed to resolve size of underlying type"). The others use BPF_CORE_READ.
 */
#ifdef KS_PATH_BTF_LOADS
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;
#define ks_btf(type, ptr) ((type *)bpf_rdonly_cast((const void *)(ptr), bpf_core_type_id_kernel(type)))
#define KS_PATH_READ(type, ptr, field) (ks_btf(type, ptr)->field)
#else
#define KS_PATH_READ(type, ptr, field) BPF_CORE_READ((type *)(ptr), field)
#endif

/*
 * Twice KS_PATH_LEN: lets the verifier see that a copy of at most KS_PATH_LEN at an offset below it fits.
 *
 * depth and len live here, in map memory, rather than in the walk's stack struct: the verifier tracks a stack
 * counter as an exact constant, so each bpf_loop() iteration (depth 0, 1, 2 ...) is a new state that never
 * converges with the last, and with the mount-crossing branch the callbacks alone passed the 1M instruction limit
 * on 6.18.44 ("BPF program is too large"). A value read from a map is an unknown scalar, so the callback is
 * verified once for all depths; every use is bounded by a check or a mask anyway.
 */
struct ks_path_scratch {
	const unsigned char *names[KS_PATH_MAX_COMPONENTS];
	struct dentry *dentries[KS_PATH_MAX_COMPONENTS]; /* whose names these are (the inline-name copy needs them) */
	char buf[KS_PATH_LEN * 2];
	__u32 depth;
	__u32 len;
};

/* weak: every unit that walks paths (exec, snapshot, open) includes this, and the linker keeps one map */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ks_path_scratch);
} path_scratch SEC(".maps") __weak;

/* The walk runs under bpf_loop() so the verifier checks one step, not every path through 48. */
struct ks_path_walk {
	struct ks_path_scratch *scratch;
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	/* where the walk stops before the namespace root: the task's fs->root; NULL for none */
	struct dentry *root_dentry;
	struct vfsmount *root_mnt;
	bool truncated;
};

/*
 * One step of a leaf-first walk inside a filesystem: stops at its root (a dentry that is its own parent) or past
 * KS_PATH_MAX_COMPONENTS (setting truncated), else records dentry's name and moves to parent. Shared by the walk
 * across mounts below and bpf/hostfs.bpf.c's walk to the superblock's root.
 */
static __always_inline long ks_path_record_component(struct ks_path_walk *w, struct dentry *dentry, struct dentry *parent)
{
	struct ks_path_scratch *scratch = w->scratch;
	__u32 depth = scratch->depth;

	if (dentry == parent)
		return 1;
	if (depth >= KS_PATH_MAX_COMPONENTS) {
		w->truncated = true;
		return 1;
	}
	scratch->names[ks_bounded(depth, KS_PATH_MAX_COMPONENTS - 1)] = KS_PATH_READ(struct dentry, dentry, d_name.name);
	scratch->dentries[ks_bounded(depth, KS_PATH_MAX_COMPONENTS - 1)] = dentry;
	scratch->depth = depth + 1;
	w->dentry = parent;
	return 0;
}

static long ks_path_walk_step(__u64 index, void *ctx)
{
	struct ks_path_walk *w = ctx;
	/* locals, not w->...: inside BPF_CORE_READ an expression on our own struct would become a relocation */
	struct dentry *dentry = w->dentry;
	struct mount *mnt = w->mnt;
	struct vfsmount *vfsmnt = w->vfsmnt;
	struct dentry *parent = KS_PATH_READ(struct dentry, dentry, d_parent);

	if (dentry == w->root_dentry && vfsmnt == w->root_mnt)
		return 1;
	if (dentry == KS_PATH_READ(struct vfsmount, vfsmnt, mnt_root)) {
		struct mount *mnt_parent = KS_PATH_READ(struct mount, mnt, mnt_parent);

		if (mnt_parent == mnt)
			return 1; /* the root of the mount namespace */
		w->dentry = KS_PATH_READ(struct mount, mnt, mnt_mountpoint);
		w->mnt = mnt_parent;
		w->vfsmnt = &mnt_parent->mnt;
		return 0;
	}
	return ks_path_record_component(w, dentry, parent);
}

/* Appends "/name" for the components in root-to-leaf order (they were collected leaf first). */
static long ks_path_append_step(__u64 index, void *ctx)
{
	struct ks_path_walk *w = ctx;
	struct ks_path_scratch *scratch = w->scratch;
	__u32 depth = scratch->depth;
	__u32 len = scratch->len;
	long copied;

	if (index >= depth)
		return 1;
	if (len >= KS_PATH_LEN - 1) {
		w->truncated = true;
		return 1;
	}
	len = ks_bounded(len, KS_PATH_LEN - 1);
	scratch->buf[len++] = '/';
#ifdef KS_PATH_BTF_LOADS
	{
		/*
		 * A name shorter than 40 bytes lives inside its dentry (d_shortname, 6.14+): five word loads and
		 * stores instead of a helper call per component. The length comes from d_name, bounded to the
		 * store; a rename racing with the walk can garble the name, as it can the helper's copy.
		 */
		struct dentry *dentry = ks_btf(struct dentry, scratch->dentries[ks_bounded(depth - 1 - index, KS_PATH_MAX_COMPONENTS - 1)]);
		__u32 at = ks_bounded(len, KS_PATH_LEN - 1), name_len;

		if (bpf_core_field_exists(dentry->d_shortname) &&
		    (unsigned long)dentry->d_name.name == (unsigned long)&dentry->d_shortname) {
			name_len = dentry->d_name.len;
			if (name_len > sizeof(dentry->d_shortname.string) - 1)
				name_len = sizeof(dentry->d_shortname.string) - 1;
			/* x86-64 BPF stores need no alignment; `at` < KS_PATH_LEN keeps the 40 bytes inside buf */
			*(__u64 *)&scratch->buf[at] = dentry->d_shortname.words[0];
			*(__u64 *)&scratch->buf[at + 8] = dentry->d_shortname.words[1];
			*(__u64 *)&scratch->buf[at + 16] = dentry->d_shortname.words[2];
			*(__u64 *)&scratch->buf[at + 24] = dentry->d_shortname.words[3];
			*(__u64 *)&scratch->buf[at + 32] = dentry->d_shortname.words[4];
			scratch->len = len + name_len;
			return 0;
		}
	}
#endif
	copied = bpf_probe_read_kernel_str(&scratch->buf[ks_bounded(len, KS_PATH_LEN * 2 - 1)], KS_PATH_LEN,
					   scratch->names[ks_bounded(depth - 1 - index, KS_PATH_MAX_COMPONENTS - 1)]);
	if (copied > 1)
		len += copied - 1;
	scratch->len = len;
	return 0;
}

/*
 * Copies the path and its NUL into out[KS_PATH_LEN], by the 8-byte word up to the NUL's: most paths are a few words
 * of the 32. The rest of the NUL's word (older paths' bytes in the scratch) is zeroed; out's later words are left as
 * they are (a reserved record is zeroed, and ks_open emits only the bytes its strings use).
 */
static __always_inline void ks_path_copy_out(char *out, char *buf, __u32 len)
{
	__u32 last_word = ks_bounded(len / 8, KS_PATH_LEN / 8 - 1);
	__u64 *from = (__u64 *)buf, *to = (__u64 *)out;

	from[last_word] &= ~0ULL >> (64 - 8 * ((len & 7) + 1));
	for (__u32 i = 0; i < KS_PATH_LEN / 8; i++) {
		if (i > last_word)
			break;
		to[i] = from[i];
	}
}

static __always_inline __u32 ks_file_path_walk(struct ks_path_walk *w, struct file *file, char *out,
						 struct ks_header *hdr)
{
	__u32 zero = 0, len;

	w->scratch = bpf_map_lookup_elem(&path_scratch, &zero);
	w->dentry = KS_PATH_READ(struct file, file, f_path.dentry);
	w->vfsmnt = KS_PATH_READ(struct file, file, f_path.mnt);
	/* every vfsmount is embedded in a struct mount, which holds the mount tree links */
	w->mnt = container_of(w->vfsmnt, struct mount, mnt);
	if (!w->scratch || !w->dentry || !w->vfsmnt)
		return 0;
	w->scratch->depth = 0;
	w->scratch->len = 0;
	bpf_loop(KS_PATH_WALK_STEPS, ks_path_walk_step, w, 0);
	bpf_loop(KS_PATH_MAX_COMPONENTS, ks_path_append_step, w, 0);
	len = w->scratch->len;
	if (len == 0)
		w->scratch->buf[len++] = '/';
	if (len > KS_PATH_LEN - 1) {
		len = KS_PATH_LEN - 1;
		w->truncated = true;
	}
	len = ks_bounded(len, KS_PATH_LEN - 1);
	w->scratch->buf[len] = 0;
	ks_mark_truncated_if(hdr, w->truncated);
	ks_path_copy_out(out, w->scratch->buf, len);
	return len;
}

/* Writes the path into out[KS_PATH_LEN] (NUL-terminated) and returns its length without the NUL. */
static __always_inline __u32 ks_file_path(struct file *file, char *out, struct ks_header *hdr)
{
	struct ks_path_walk w = {};

	return ks_file_path_walk(&w, file, out, hdr);
}

/*
 * ks_file_path() up to `task`'s root instead of the mount namespace's: after chroot(/host) a file
 * under it reads /etc/shadow, not /host/etc/shadow. A file outside that root (an fd from before the
 * chroot, a /proc/<pid>/root link) still gets its path from the namespace root.
 */
static __always_inline __u32 ks_task_file_path(struct task_struct *task, struct file *file, char *out,
					       struct ks_header *hdr)
{
	struct fs_struct *fs = KS_PATH_READ(struct task_struct, task, fs);
	struct ks_path_walk w = {};

	w.root_dentry = KS_PATH_READ(struct fs_struct, fs, root.dentry);
	w.root_mnt = KS_PATH_READ(struct fs_struct, fs, root.mnt);
	return ks_file_path_walk(&w, file, out, hdr);
}

#endif /* KS_LIB_PATH_H */
