/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Matching an opened path against the sensitive-path patterns in `path_patterns`.
 *
 * Opens are the busiest hook and almost none are sensitive, so matching is staged, cheapest first:
 *  1. ks_path_candidates(): one read of the path's first 32 bytes, then one array lookup per key
 *     length in use (bpf/open/path_index.h) gives the patterns whose prefix could match. Most paths
 *     have none and stop here, whatever the number of patterns.
 *  2. ks_path_head_filter(): each candidate's prefix is compared with the first KS_PATH_HEAD_BYTES
 *     bytes under a mask, still without a string copy (/usr/lib/... shares a key with /usr/libexec/...).
 *  3. ks_path_match(): only for what remains, the whole path is copied and each remaining candidate
 *     is checked in full (prefix, then exact/suffix/infix), lowest index first.
 */
#ifndef KS_OPEN_PATH_MATCH_H
#define KS_OPEN_PATH_MATCH_H

#include "open/path_index.h"

/*
 * Bytes of the path stage 2 compares: 31, so that the string-copy fallback's NUL fits the 32. As
 * cheap to read as 8, and long enough to part most near misses (/var/lib/kubelet/pods/ from
 * /var/lib/kubelet/plugins/) before the string copy.
 */
#define KS_PATH_HEAD_BYTES 31
#define KS_PATH_HEAD_WORDS 4

struct ks_path_head {
	__u64 word[KS_PATH_HEAD_WORDS]; /* little-endian: the path's first byte is the low byte of word[0] */
};

/*
 * A plain 16-byte copy is cheaper than a string copy; bytes past a short path's NUL are then
 * garbage, which is harmless: the NUL itself already differs from any prefix byte at that position.
 * The copy faults only when a short path ends right before an unmapped page, and the string copy
 * covers that case.
 */
static __always_inline void ks_path_head(struct ks_path_head *head, const void *user_path)
{
	if (bpf_probe_read_user(head, sizeof(*head), user_path)) {
		__builtin_memset(head, 0, sizeof(*head));
		bpf_probe_read_user_str(head, sizeof(*head), user_path);
	}
}

/* Bitmask of the patterns whose key in (heads, key_lens) the text starting with `first_word` shares. */
static __always_inline __u64 ks_head_candidates(void *heads, void *key_lens, __u64 first_word)
{
	__u32 zero = 0;
	__u64 *lengths = bpf_map_lookup_elem(key_lens, &zero);
	__u64 in_use, candidates = 0;

	if (!lengths || !*lengths)
		return 0;
	in_use = *lengths;
#pragma unroll
	for (__u32 len = 0; len <= KS_PATH_KEY_BYTES; len++) {
		__u32 bucket;
		__u64 *mask;

		if (!(in_use & (1ULL << len)))
			continue;
		bucket = ks_path_head_bucket(ks_path_head_key(first_word, len));
		mask = bpf_map_lookup_elem(heads, &bucket);
		if (mask)
			candidates |= *mask;
	}
	return candidates;
}

/* Bitmask of the patterns whose prefix's head key the path shares. */
static __always_inline __u64 ks_path_candidates(__u64 first_word)
{
	return ks_head_candidates(&path_heads, &path_key_lens, first_word);
}

static __always_inline __u64 ks_low_bytes_mask(__u32 bytes)
{
	if (bytes >= 8)
		return ~0ULL;
	return bytes ? ~0ULL >> (64 - 8 * bytes) : 0;
}

/* Does the pattern's prefix agree with the path's first KS_PATH_HEAD_BYTES bytes? */
static __always_inline bool ks_head_agrees(const struct ks_path_head *head, const struct ks_path_pattern *pattern)
{
	__u32 compared = pattern->prefix_len < KS_PATH_HEAD_BYTES ? pattern->prefix_len : KS_PATH_HEAD_BYTES;
	__u64 differs = 0;

#pragma unroll
	for (__u32 w = 0; w < KS_PATH_HEAD_WORDS; w++) {
		if (compared <= 8 * w)
			break;
		differs |= (head->word[w] ^ *(__u64 *)(pattern->prefix + 8 * w)) & ks_low_bytes_mask(compared - 8 * w);
	}
	return !differs;
}

/* The index of the only set bit of `bit`: the number of bits below it (a table-free popcount). */
static __always_inline __u32 ks_bit_index(__u64 bit)
{
	__u64 below = bit - 1;

	below -= (below >> 1) & 0x5555555555555555ULL;
	below = (below & 0x3333333333333333ULL) + ((below >> 2) & 0x3333333333333333ULL);
	below = (below + (below >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
	return (below * 0x0101010101010101ULL) >> 56;
}

/*
 * The candidates whose prefix agrees with the path's first KS_PATH_HEAD_BYTES bytes. It visits
 * only the set bits, lowest first, in a plain loop: bpf_loop's callback per pattern index cost
 * ~15 ns each, more than all the comparisons. The accumulated mask stays unknown to the verifier
 * (it is built from the map's bits, never from the loop counter), so the paths through one
 * iteration merge and the loop verifies in a few thousand instructions.
 */
static __always_inline __u64 ks_path_head_filter(const struct ks_path_head *head, __u64 candidates)
{
	__u64 remaining = candidates, agreeing = 0;

	for (__u32 n = 0; n < KS_MAX_PATH_PATTERNS; n++) {
		struct ks_path_pattern *pattern;
		__u64 lowest;
		__u32 i;

		if (!remaining)
			break;
		lowest = remaining & -remaining;
		remaining &= remaining - 1;
		i = ks_bit_index(lowest);
		pattern = bpf_map_lookup_elem(&path_patterns, &i);
		if (pattern && ks_head_agrees(head, pattern))
			agreeing |= lowest;
	}
	return agreeing;
}

/*
 * The two comparisons are global functions, which the verifier checks once each, on their own.
 * Inlined, every way a comparison loop can end (at each possible length) went on to verify all that
 * follows it separately: three quarters of a million instructions for one open program.
 * Their pointers are map values of exactly these types (open_scratch, path_patterns); NULL is
 * checked because a global function cannot know that.
 */
__noinline int ks_path_has_prefix(const struct ks_open *open, __u32 len, const struct ks_path_pattern *pattern)
{
	__u32 n;

	if (!open || !pattern)
		return 0;
	n = pattern->prefix_len;
	if (n > KS_PATTERN_LEN || n > len)
		return 0;
	/* by the 8-byte word, the last one masked to the prefix's bytes: a byte loop cost ~1 ns a byte */
	for (__u32 w = 0; w < KS_PATTERN_LEN / 8; w++) {
		if (8 * w >= n)
			break;
		if ((((const __u64 *)open->strings)[w] ^ ((const __u64 *)pattern->prefix)[w]) & ks_low_bytes_mask(n - 8 * w))
			return 0;
	}
	return 1;
}

/* Does `second` occur in the path at offset `at`? */
__noinline int ks_path_has_second_at(const struct ks_open *open, __u32 at, const struct ks_path_pattern *pattern)
{
	__u32 n;

	if (!open || !pattern)
		return 0;
	n = pattern->second_len;
	for (__u32 i = 0; i < KS_PATTERN_LEN; i++) {
		if (i >= n)
			break;
		if (open->strings[ks_bounded(at + i, KS_PATH_LEN - 1)] != pattern->second[i])
			return 0;
	}
	return 1;
}

struct ks_infix_search {
	const struct ks_open *open;
	const struct ks_path_pattern *pattern;
	__u32 from;
	__u32 last; /* the last offset where `second` still fits */
	bool found;
};

static long ks_infix_search_step(__u64 index, void *ctx)
{
	struct ks_infix_search *search = ctx;
	__u32 at = search->from + index;

	if (at > search->last)
		return 1;
	if (ks_path_has_second_at(search->open, at, search->pattern)) {
		search->found = true;
		return 1;
	}
	return 0;
}

/*
 * `verified`: how many of the path's first bytes stage 2 already compared with this very string (ks_head_agrees());
 * a prefix no longer than that agrees, and the path is at least as long (its NUL would have differed).
 */
static __always_inline bool ks_path_matches(const struct ks_open *open, __u32 len, const struct ks_path_pattern *pattern,
					    __u32 verified)
{
	__u32 prefix_len = pattern->prefix_len;
	__u32 second_len = pattern->second_len;

	if ((prefix_len > verified || prefix_len > len) && !ks_path_has_prefix(open, len, pattern))
		return false;
	switch (pattern->kind) {
	case KS_PATTERN_EXACT:
		return len == prefix_len;
	case KS_PATTERN_PREFIX:
		return true;
	case KS_PATTERN_PREFIX_SUFFIX:
		if (second_len > KS_PATTERN_LEN || len < prefix_len + second_len)
			return false;
		return ks_path_has_second_at(open, len - second_len, pattern);
	case KS_PATTERN_PREFIX_INFIX: {
		struct ks_infix_search search = {
			.open = open,
			.pattern = pattern,
			.from = prefix_len,
			.last = len - second_len,
		};

		if (second_len > KS_PATTERN_LEN || len < prefix_len + second_len)
			return false;
		bpf_loop(KS_PATH_LEN, ks_infix_search_step, &search, 0);
		return search.found;
	}
	}
	return false;
}

struct ks_pattern_scan {
	const struct ks_open *open;
	__u32 len;
	__u32 verified;
	__u64 remaining; /* candidates not yet checked */
	int matched;
};

/* One candidate per call, lowest index first, so the callbacks are as many as the candidates. */
static long ks_pattern_scan_step(__u64 index, void *ctx)
{
	struct ks_pattern_scan *scan = ctx;
	struct ks_path_pattern *pattern;
	__u64 lowest;
	__u32 i;

	if (!scan->remaining)
		return 1;
	lowest = scan->remaining & -scan->remaining;
	scan->remaining &= scan->remaining - 1;
	i = ks_bit_index(lowest);
	pattern = bpf_map_lookup_elem(&path_patterns, &i);
	if (!pattern || pattern->kind == KS_PATTERN_UNUSED)
		return 1;
	if (ks_path_matches(scan->open, scan->len, pattern, scan->verified)) {
		scan->matched = i;
		return 1;
	}
	return 0;
}

/*
 * Index of the lowest candidate pattern that the whole path (open->strings, the first string) matches; -1 if none.
 * `verified`: KS_PATH_HEAD_BYTES when the candidates passed ks_path_head_filter() on a copy of these very bytes, else 0
 * (the caller's string is read twice, and another thread may change it in between).
 */
static __always_inline int ks_path_match(const struct ks_open *open, __u32 len, __u64 candidates, __u32 verified)
{
	struct ks_pattern_scan scan = {
		.open = open, .len = len, .verified = verified, .remaining = candidates, .matched = -1,
	};

	bpf_loop(KS_MAX_PATH_PATTERNS, ks_pattern_scan_step, &scan, 0);
	return scan.matched;
}

#endif /* KS_OPEN_PATH_MATCH_H */
