/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Maps and tunables shared by every program of build/kubesentry.bpf.o.
 *
 * Each bpf/<group>.bpf.c is compiled on its own and `bpftool gen object` links them; exactly one unit
 * (maps.bpf.c) defines KS_DEFINE_MAPS and so owns the definitions, the others see `extern`
 * declarations that the linker resolves to the same map. User space finds them by these names.
 */
#ifndef KS_LIB_MAPS_H
#define KS_LIB_MAPS_H

#include "open/path_index.h"

#ifdef KS_DEFINE_MAPS
#define KS_SHARED
#define KS_TUNABLE(type, name, value) const volatile type name = value
#else
#define KS_SHARED extern
#define KS_TUNABLE(type, name, value) extern const volatile type name
#endif

/* 8 MiB by default; user space may bpf_map__set_max_entries() before load (a power of two of pages). */
#define KS_EVENTS_RING_BYTES (8u << 20)

KS_SHARED struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, KS_EVENTS_RING_BYTES);
} events SEC(".maps");

/* drops[type]: records of that type lost because the ring buffer was full. */
KS_SHARED struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KS_EVENT_TYPE_MAX);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

/*
 * Why the kernel dropped a record (the reason member of struct ks_drop_key). Numbers are user space's contract
 * (src/receiver/kernel.ts DropReason); never renumber.
 */
enum ks_drop_reason {
	KS_DROP_RING_FULL = 0,	/* the ring had no room left */
	KS_DROP_HEADROOM = 1,	/* a hot record refused to keep the ring's last part for urgent ones (emit.h) */
	KS_DROP_RATE_LIMIT = 2, /* the container's hot records went past its token bucket (emit.h) */
	KS_DROP_REASON_MAX = 3,
};

struct ks_drop_key {
	__u64 cgroup_id; /* cgroup2 id of the task that would have caused the record */
	__u32 type;	 /* enum ks_event_type */
	__u32 reason;	 /* enum ks_drop_reason */
};

/*
 * cgroup_drops[{cgroup, type, reason}]: how many records the kernel dropped, counted with an atomic add. Never
 * deleted from by the kernel or the agent (a delete would race with a producer holding the element), so each
 * entry is monotonic and user space reports differences. A drop whose entry cannot be created because the map is
 * full is counted in drops_unattributed[reason] instead. drops[type] counts every drop whatever its reason.
 */
#define KS_CGROUP_DROPS_ENTRIES 16384
KS_SHARED struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KS_CGROUP_DROPS_ENTRIES);
	__type(key, struct ks_drop_key);
	__type(value, __u64);
} cgroup_drops SEC(".maps");

KS_SHARED struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KS_DROP_REASON_MAX);
	__type(key, __u32);
	__type(value, __u64);
} drops_unattributed SEC(".maps");

/*
 * hot_buckets[cgroup id]: the container's token bucket for hot records (emit.h), as the theoretical arrival time
 * of its next record (GCRA). LRU: a bucket evicted under pressure comes back full, which only forgives a burst.
 */
KS_SHARED struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} hot_buckets SEC(".maps");

/*
 * Sensitive-path patterns, written by user space before the open programs are attached.
 * Packed from index 0: the first KS_PATTERN_UNUSED entry ends the list, which keeps the
 * per-open scan as short as the configured list.
 */
KS_SHARED struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KS_MAX_PATH_PATTERNS);
	__type(key, __u32);
	__type(value, struct ks_path_pattern);
} path_patterns SEC(".maps");

/* The index over path_patterns' prefixes (bpf/open/path_index.h): bucket of a head key -> bitmask of pattern indexes. */
KS_SHARED struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KS_PATH_HEAD_BUCKETS);
	__type(key, __u32);
	__type(value, __u64);
} path_heads SEC(".maps");

/* [0]: bit n set when some key in path_heads is n bytes long; 0 while no pattern is configured. */
KS_SHARED struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} path_key_lens SEC(".maps");

/* The same index over the patterns' leaves (bpf/open/path_index.h), for the opened file's name at syscall exit. */
KS_SHARED struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KS_PATH_HEAD_BUCKETS);
	__type(key, __u32);
	__type(value, __u64);
} leaf_heads SEC(".maps");

/* [0]: bit n set when some key in leaf_heads is n bytes long; 0 while no pattern has a leaf. */
KS_SHARED struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} leaf_key_lens SEC(".maps");

/* Events caused by the agent itself would feed back into the ring; they are dropped, not counted. */
KS_TUNABLE(__u32, agent_tgid, 0);

/*
 * Wake the consumer only once this many bytes wait in the ring (0: on every record). A wakeup costs
 * microseconds here, so per-event wakeups would dominate; user space also polls with a short timeout,
 * which bounds the latency of a quiet ring.
 */
KS_TUNABLE(__u64, wakeup_batch_bytes, 64 * 1024);

/*
 * Records that may be a detection on their own (a namespace, mount, module, ptrace, bpf, credential change, a
 * write-mode open of a sensitive path) wake the consumer at once instead of waiting for the batch or the poll
 * interval, at most once per this many nanoseconds per CPU so a storm of them cannot turn into a wakeup each.
 * 0 disables urgent wakeups (every record is batched).
 */
KS_TUNABLE(__u64, urgent_wakeup_gap_ns, 1000 * 1000);

/*
 * Hot records (exec, fork, exit, connect, payload: what a busy or hostile container makes by the thousand) are
 * refused once the unread bytes would pass this percentage of the ring, so the rest stays free for the records that
 * may be a detection on their own (namespace, mount, module, credential changes, ...), which a flood would
 * otherwise hide. 100 disables the reserve.
 */
KS_TUNABLE(__u32, hot_ring_percent, 75);

/*
 * The host's mount namespace inode (user space reads /proc/2/ns/mnt): bpf/hostfs.bpf.c ignores its processes.
 * 0: not configured, the host-filesystem hooks emit nothing. With the other tunables so that every object built
 * on maps.bpf.c (the test objects too) takes the loader's settings.
 */
KS_TUNABLE(__u32, host_mnt_ns_inum, 0);

/*
 * s_dev of each host filesystem -> unused. Written by user space before attaching (src/receiver/hostFilesystems.ts);
 * read-only here. bpf/hostfs.bpf.c reports a container reaching one.
 */
KS_SHARED struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KS_MAX_HOST_FILESYSTEMS);
	__type(key, __u32);
	__type(value, __u8);
} host_filesystems SEC(".maps");

/*
 * The kubepods roots the agent has found (the cgroups the kubelet puts every pod's below): [i] their cgroup ids and
 * levels, id 0 ending the list. The open filter tells by them a container's process that joined the host's mount
 * namespace (nsenter -t 1 -m) from the host's own. Written level first, then id, as the agent finds them.
 */
#define KS_MAX_CONTAINER_ROOTS 4
KS_SHARED struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KS_MAX_CONTAINER_ROOTS);
	__type(key, __u32);
	__type(value, __u64);
} container_root_ids SEC(".maps");

KS_SHARED struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KS_MAX_CONTAINER_ROOTS);
	__type(key, __u32);
	__type(value, __u32);
} container_root_levels SEC(".maps");

/*
 * 1 when this kernel's verifier lets a tracing program read memory behind a BTF pointer that has no BTF type of its
 * own (an array of file pointers, a name's bytes) with plain loads, which read 0 on a fault; user space learns it by
 * loading build/probe.bpf.o's probe_untrusted_loads (src/receiver/probe.ts). 0: such reads take a probe-read helper
 * call each (~30 ns). Code under `if (untrusted_loads)` is never verified on a kernel where it is 0: the verifier
 * reads a frozen read-only map as a constant and skips the branch.
 */
KS_TUNABLE(__u32, untrusted_loads, 0);

/*
 * Each container (cgroup) may emit one hot record per hot_record_interval_ns on average, in bursts of up to
 * hot_burst_ns / hot_record_interval_ns records; past that they are dropped (counted, KS_DROP_RATE_LIMIT), so
 * one container cannot take the ring from the others. 0 disables the limit. User space sets both from a rate
 * and a burst (kernel.ts).
 */
KS_TUNABLE(__u64, hot_record_interval_ns, 0);
KS_TUNABLE(__u64, hot_burst_ns, 0);

/*
 * bpf/compat.bpf.c records one 32-bit syscall per container and syscall number (and process, for a call an
 * enforcement check looks at) in this many nanoseconds and counts the rest in the next record's `repeats`: a 32-bit
 * workload makes them by the million. 0 records every call.
 */
KS_TUNABLE(__u64, compat_repeat_window_ns, 1000ull * 1000 * 1000);

/*
 * Enforcement (lib/enforce.h). A map, not a tunable, so that a rules reload changes it without reloading programs.
 * [0]: enum ks_enforce_mode; 0 (off) until the agent writes it.
 */
KS_SHARED struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} enforce_mode SEC(".maps");

/*
 * enforce_cgroups[cgroup id]: bit n set when enum ks_enforce_rule n kills in that container (0: armed, nothing to
 * kill for). A container is armed at its workload's first exec, by whichever comes first: the exec hook, from
 * enforce_pending (lib/enforce.h), or the agent reading that exec. The agent then rewrites the entry with the
 * checks of the container's pod metadata, on every rules reload, and deletes it when the cgroup goes. A cgroup
 * with no entry (the host's, a container whose runtime is still setting it up) is never enforced.
 */
KS_SHARED struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KS_MAX_ENFORCED_CGROUPS);
	__type(key, __u64);
	__type(value, __u32);
} enforce_cgroups SEC(".maps");

/*
 * enforce_pending[cgroup id]: the checks the exec hook arms a container with when the cgroup is the container's
 * own or one of its ancestors (the nearest wins): a kubepods root, with the checks that do not depend on pod
 * metadata, or a container the agent knows before its workload runs. Written by the agent only.
 */
KS_SHARED struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KS_MAX_PENDING_CGROUPS);
	__type(key, __u64);
	__type(value, __u32);
} enforce_pending SEC(".maps");

/*
 * [enum ks_enforce_levels_slot]: bit n set when some enforce_cgroups (armed slots) or enforce_pending (pending
 * slot) entry is a cgroup at level n (the root is level 0). A container's processes may sit in cgroups it made
 * below its own (a nested runtime, or a process moving itself to dodge enforcement): the check looks its container
 * up as the task's ancestor at each armed level.
 */
KS_SHARED struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KS_ENFORCE_LEVELS_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} enforce_levels SEC(".maps");

/*
 * enforce_fstypes[fstype, zero-padded]: the enum ks_enforce_rule that a mount or fsopen of that filesystem type
 * falls under. The kernel finds a filesystem by exactly this name, so it cannot be disguised the way a path can.
 */
KS_SHARED struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, char[KS_FSTYPE_LEN]);
	__type(value, __u32);
} enforce_fstypes SEC(".maps");

/* host_namespaces[inode]: the host's namespaces (every type), which a setns from a container may not join. */
KS_SHARED struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u8);
} host_namespaces SEC(".maps");

/*
 * enforce_actions[rule * KS_ENFORCE_OUTCOMES + enum ks_enforce_outcome]: counted even when the record itself is
 * lost (ring full), so the agent's per-rule kill metric is exact.
 */
KS_SHARED struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KS_ENFORCE_RULE_MAX * KS_ENFORCE_OUTCOMES);
	__type(key, __u32);
	__type(value, __u64);
} enforce_actions SEC(".maps");

/* [0]: bpf_ktime_get_ns() of this CPU's last urgent wakeup. */
KS_SHARED struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} last_urgent_wakeup SEC(".maps");

/*
 * [0] per CPU: bytes this CPU has put in the ring since it last looked at how much the consumer has left unread
 * (emit.h ks_wakeup_flag()). Looking costs a read of the consumer's position, a cache line the consumer's CPU keeps
 * writing: ~70 ns on the development VM, a tenth of a sensitive open's program when it was done for every record.
 */
KS_SHARED struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} wakeup_unchecked_bytes SEC(".maps");

#endif /* KS_LIB_MAPS_H */
