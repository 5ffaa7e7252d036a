// SPDX-License-Identifier: GPL-2.0
/*
 * Compiles and is rejected at load: it dereferences a map lookup without the NULL check the
 * verifier demands. The loader's tests use it to check that a verifier refusal reaches user space as a
 * clear error carrying the verifier log.
 */
/*
 * The agent's real maps, tunables, license and record BTF, so the loader's configuration and the layout check
 * pass and the verifier is what refuses this object.
 */
#include "maps.bpf.c"

struct {
	__uint(type, BPF_MAP_TYPE_HASH); /* array lookups with a constant key are known non-NULL on 6.x */
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} rejected_counter SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getpid")
int verifier_reject__tp(void *ctx)
{
	__u32 key = 0;
	__u64 *count = bpf_map_lookup_elem(&rejected_counter, &key);

	*count += 1; /* no NULL check: "invalid mem access 'map_value_or_null'" */
	return 0;
}
