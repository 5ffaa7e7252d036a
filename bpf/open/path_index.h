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
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

/*
 * For the C tools: fills the index for patterns[0..count) already written to `path_patterns`.
 * The key lengths go last, so the kernel never looks up a length whose buckets are still missing.
 * Returns 0 or a negative errno from the map updates.
 */
static inline int ks_path_index_write(struct bpf_object *obj, const struct ks_path_pattern *patterns, __u32 count)
{
	int heads_fd = bpf_object__find_map_fd_by_name(obj, "path_heads");
	int lengths_fd = bpf_object__find_map_fd_by_name(obj, "path_key_lens");
	__u64 lengths = 0;
	__u32 zero = 0;

	if (heads_fd < 0 || lengths_fd < 0)
		return -ENOENT;
	for (__u32 i = 0; i < count; i++) {
		__u32 len = ks_path_key_len(patterns[i].prefix_len), bucket;
		__u64 head = 0, mask = 0;

		for (__u32 b = 0; b < len; b++)
			head |= (__u64)(unsigned char)patterns[i].prefix[b] << (8 * b);
		bucket = ks_path_head_bucket(ks_path_head_key(head, len));
		if (bpf_map_lookup_elem(heads_fd, &bucket, &mask))
			return -errno;
		mask |= 1ULL << i;
		if (bpf_map_update_elem(heads_fd, &bucket, &mask, BPF_ANY))
			return -errno;
		lengths |= 1ULL << len;
	}
	return bpf_map_update_elem(lengths_fd, &zero, &lengths, BPF_ANY) ? -errno : 0;
}
#endif

#endif /* KS_OPEN_PATH_INDEX_H */
