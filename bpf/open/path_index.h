/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The index that lets an open be rejected without looking at every pattern.
 *
 * A path's "head key" is its first min(prefix length, KS_PATH_KEY_BYTES) bytes, zero-padded into a
 * u64, with that byte count in the top byte (so "/run/" as a 5-byte key never equals the 6-byte key
 * of a path that starts "/run/" followed by a NUL). Keys are hashed into KS_PATH_HEAD_BUCKETS
 * buckets of `path_heads`; each bucket holds the bitmask of the patterns whose prefix's key lands
 * there. `path_key_lens` holds the bitmask of the key lengths in use. The kernel hashes the path's
 * key for each length in use (usually one or two) and ORs those buckets: a superset of the patterns
 * whose prefix could match, usually empty. Two keys sharing a bucket only add candidates, which the
 * next stage's prefix compare removes; an array lookup is inlined by the verifier, where a hash
 * map's would be a helper call that cost as much as the whole old linear scan.
 *
 * The same keys index the patterns a second time, by their LEAF: the literal start of the path's
 * final component (core_pattern, release_agent, sd of /dev/sd*). At syscall exit the opened file's
 * own name (its dentry's d_name) is looked up in `leaf_heads`/`leaf_key_lens`, and only a file whose
 * name could end some pattern has its full path rebuilt from its dentries. A pattern whose final
 * component starts with a star (/etc/kubernetes/pki/<any>, /run/<any>.sock) has no leaf and is matched on
 * the caller's string only; so is a file below a prefix pattern's leaf (/dev/sdx/y for the prefix /dev/sd).
 *
 * Included by the BPF programs and by the C development tools, so both compute keys the same way;
 * src/receiver/kernel.ts mirrors it for the agent.
 */
#ifndef KS_OPEN_PATH_INDEX_H
#define KS_OPEN_PATH_INDEX_H

/*
 * 6: long enough to tell /usr/bin from /usr/lib and /etc/kubernetes from /etc/ld.so.cache, short
 * enough that few patterns have a shorter prefix (each distinct shorter length costs a lookup).
 */
#define KS_PATH_KEY_BYTES 6
/* 64 patterns' keys in 1024 buckets: a random path lands on a used one at most 1 time in 16 */
#define KS_PATH_HEAD_BUCKET_BITS 10
#define KS_PATH_HEAD_BUCKETS (1u << KS_PATH_HEAD_BUCKET_BITS)

/* `head`: the path's first bytes, the first one in the low byte. `len` <= 7. */
static inline __u64 ks_path_head_key(__u64 head, __u32 len)
{
	__u64 kept = len ? head & (~0ULL >> (64 - 8 * len)) : 0;

	return kept | ((__u64)len << 56);
}

/*
 * MurmurHash3's 64-bit finalizer: a plain multiplication (Fibonacci hashing) left "/etc/l" and
 * "/dev/n" in one bucket, since keys differ only in a few low bytes; this mixes every bit into all.
 */
static inline __u32 ks_path_head_bucket(__u64 key)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdULL;
	key ^= key >> 33;
	key *= 0xc4ceb9fe1a85ec53ULL;
	key ^= key >> 33;
	return key >> (64 - KS_PATH_HEAD_BUCKET_BITS);
}

static inline __u32 ks_path_key_len(__u32 prefix_len)
{
	return prefix_len < KS_PATH_KEY_BYTES ? prefix_len : KS_PATH_KEY_BYTES;
}

#ifndef __bpf__
#include <errno.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

/*
 * The literal start of a pattern's final component, or NULL (*len 0) when it has none; mirrors
 * pathPatternLeaf() in src/receiver/kernel.ts. `second` holds the suffix for PREFIX_SUFFIX.
 */
static inline const char *ks_pattern_leaf(const struct ks_path_pattern *pattern, __u32 *len)
{
	const char *slash;

	*len = 0;
	if (pattern->kind == KS_PATTERN_PREFIX_SUFFIX && memchr(pattern->second, '/', pattern->second_len)) {
		slash = memrchr(pattern->second, '/', pattern->second_len);
		*len = pattern->second + pattern->second_len - slash - 1;
		return slash + 1;
	}
	if (pattern->kind == KS_PATTERN_PREFIX_INFIX)
		return NULL; /* ends in '*' */
	slash = memrchr(pattern->prefix, '/', pattern->prefix_len);
	if (!slash)
		return NULL;
	*len = pattern->prefix + pattern->prefix_len - slash - 1;
	return *len ? slash + 1 : NULL;
}

static inline int ks_head_index_add(int heads_fd, const char *text, __u32 text_len, __u32 index, __u64 *lengths)
{
	__u32 len = ks_path_key_len(text_len), bucket;
	__u64 head = 0, mask = 0;

	for (__u32 b = 0; b < len; b++)
		head |= (__u64)(unsigned char)text[b] << (8 * b);
	bucket = ks_path_head_bucket(ks_path_head_key(head, len));
	if (bpf_map_lookup_elem(heads_fd, &bucket, &mask))
		return -errno;
	mask |= 1ULL << index;
	if (bpf_map_update_elem(heads_fd, &bucket, &mask, BPF_ANY))
		return -errno;
	*lengths |= 1ULL << len;
	return 0;
}

/*
 * For the C tools: fills both indexes (prefixes, leaves) for patterns[0..count) already written to
 * `path_patterns`. The key lengths go last, so the kernel never looks up a length whose buckets are
 * still missing. Returns 0 or a negative errno from the map updates.
 */
static inline int ks_path_index_write(struct bpf_object *obj, const struct ks_path_pattern *patterns, __u32 count)
{
	int heads_fd = bpf_object__find_map_fd_by_name(obj, "path_heads");
	int lengths_fd = bpf_object__find_map_fd_by_name(obj, "path_key_lens");
	int leaf_heads_fd = bpf_object__find_map_fd_by_name(obj, "leaf_heads");
	int leaf_lengths_fd = bpf_object__find_map_fd_by_name(obj, "leaf_key_lens");
	__u64 lengths = 0, leaf_lengths = 0;
	__u32 zero = 0;
	int err;

	if (heads_fd < 0 || lengths_fd < 0 || leaf_heads_fd < 0 || leaf_lengths_fd < 0)
		return -ENOENT;
	for (__u32 i = 0; i < count; i++) {
		__u32 leaf_len;
		const char *leaf = ks_pattern_leaf(&patterns[i], &leaf_len);

		err = ks_head_index_add(heads_fd, patterns[i].prefix, patterns[i].prefix_len, i, &lengths);
		if (!err && leaf)
			err = ks_head_index_add(leaf_heads_fd, leaf, leaf_len, i, &leaf_lengths);
		if (err)
			return err;
	}
	if (bpf_map_update_elem(leaf_lengths_fd, &zero, &leaf_lengths, BPF_ANY))
		return -errno;
	return bpf_map_update_elem(lengths_fd, &zero, &lengths, BPF_ANY) ? -errno : 0;
}
#endif

#endif /* KS_OPEN_PATH_INDEX_H */
