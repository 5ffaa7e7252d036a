/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Matching an opened path against the sensitive-path patterns in `path_patterns`.
 *
 * Opens are the busiest hook and almost none are sensitive, so matching is two-staged:
 *  1. ks_path_first_candidate(): the first 7 bytes of the path, read as one u64, are compared with
 *     each pattern's first bytes under a mask - a few instructions per configured pattern and no
 *     string copy. Paths that no prefix could start with stop here.
 *  2. ks_path_match(): only for candidates, the whole path is copied and each pattern from the
 *     first candidate on is checked in full (prefix, then exact/suffix/infix).
 */
#ifndef KS_OPEN_PATH_MATCH_H
#define KS_OPEN_PATH_MATCH_H

/* bytes of the path the first stage compares: 7, so that the string-copy fallback's NUL fits the u64 */
#define KS_PATH_HEAD_BYTES 7

/*
 * The path's first bytes as one u64. A plain 8-byte copy is cheaper than a string copy; bytes past a
 * short path's NUL are then garbage, which is harmless: the NUL itself already differs from any
 * prefix byte at that position. The copy faults only when a short path ends right before an
 * unmapped page, and the string copy covers that case.
 */
static __always_inline __u64 ks_path_head(const void *user_path)
{
	__u64 head = 0;

	if (bpf_probe_read_user(&head, sizeof(head), user_path))
		bpf_probe_read_user_str(&head, sizeof(head), user_path);
	return head;
}

/* Index of the first pattern whose prefix could match a path starting with `head`, or -1. */
static __always_inline int ks_path_first_candidate(__u64 head)
{
	for (__u32 i = 0; i < KS_MAX_PATH_PATTERNS; i++) {
		struct ks_path_pattern *pattern = bpf_map_lookup_elem(&path_patterns, &i);
		__u32 compared;
		__u64 mask;

		if (!pattern || pattern->kind == KS_PATTERN_UNUSED)
			return -1;
		compared = pattern->prefix_len < KS_PATH_HEAD_BYTES ? pattern->prefix_len : KS_PATH_HEAD_BYTES;
		/* little-endian: the path's first byte is the low byte of head */
		mask = compared ? ~0ULL >> (64 - 8 * compared) : 0;
		if (((head ^ *(__u64 *)pattern->prefix) & mask) == 0)
			return i;
	}
	return -1;
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
	for (__u32 i = 0; i < KS_PATTERN_LEN; i++) {
		if (i >= n)
			break;
		if (open->path[i] != pattern->prefix[i])
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
		if (open->path[ks_bounded(at + i, KS_PATH_LEN - 1)] != pattern->second[i])
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

static __always_inline bool ks_path_matches(const struct ks_open *open, __u32 len, const struct ks_path_pattern *pattern)
{
	__u32 prefix_len = pattern->prefix_len;
	__u32 second_len = pattern->second_len;

	if (!ks_path_has_prefix(open, len, pattern))
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
	__u32 first;
	int matched;
};

static long ks_pattern_scan_step(__u64 index, void *ctx)
{
	struct ks_pattern_scan *scan = ctx;
	__u32 i = scan->first + index;
	struct ks_path_pattern *pattern = bpf_map_lookup_elem(&path_patterns, &i);

	if (!pattern || pattern->kind == KS_PATTERN_UNUSED)
		return 1;
	if (ks_path_matches(scan->open, scan->len, pattern)) {
		scan->matched = i;
		return 1;
	}
	return 0;
}

/* Index of the first pattern, from `first` on, that the whole path (open->path) matches; -1 if none. */
static __always_inline int ks_path_match(const struct ks_open *open, __u32 len, __u32 first)
{
	struct ks_pattern_scan scan = { .open = open, .len = len, .first = first, .matched = -1 };

	bpf_loop(KS_MAX_PATH_PATTERNS, ks_pattern_scan_step, &scan, 0);
	return scan.matched;
}

#endif /* KS_OPEN_PATH_MATCH_H */
