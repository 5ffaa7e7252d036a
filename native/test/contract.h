/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The loader's contract for the stand-in objects (the maps and .rodata tunables openKernelSource writes or reads),
 * so a fixture fails only where its test means it to. A fixture that needs a larger ring defines
 * KS_TEST_RING_BYTES before including this.
 */
#ifndef KS_TEST_CONTRACT_H
#define KS_TEST_CONTRACT_H

#include "../../bpf/events.h"

#ifndef KS_TEST_RING_BYTES
#define KS_TEST_RING_BYTES 4096
#endif

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, KS_TEST_RING_BYTES);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KS_EVENT_TYPE_MAX);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KS_MAX_PATH_PATTERNS);
	__type(key, __u32);
	__type(value, struct ks_path_pattern);
} path_patterns SEC(".maps");

const volatile __u32 agent_tgid = 0;
const volatile __u64 wakeup_batch_bytes = 0;
/* set by the loader wherever the verifier allows (bpf/lib/maps.h) */
const volatile __u32 untrusted_loads = 0;

#endif /* KS_TEST_CONTRACT_H */
