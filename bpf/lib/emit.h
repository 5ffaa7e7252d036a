/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Getting a record into the ring: the agent filter, reservation with drop counting, the common
 * header, bounded strings, and submission with batched wakeups.
 */
#ifndef KS_LIB_EMIT_H
#define KS_LIB_EMIT_H

/*
 * `value & mask` that survives optimisation: clang drops a mask it can prove redundant from an
 * earlier comparison, but the verifier tracks bounds through masks more reliably than through
 * branches, so variable offsets into buffers are bounded with this.
 */
static __always_inline __u32 ks_bounded(__u32 value, __u32 mask)
{
	barrier_var(value);
	return value & mask;
}

static __always_inline bool ks_from_agent(void)
{
	return (__u32)(bpf_get_current_pid_tgid() >> 32) == agent_tgid;
}

/*
 * The current task is in the host's mount namespace (host_mnt_ns_inum): the host's own work, which the host-fs hooks
 * ignore and enforcement never kills. Unknown (0), and an exiting task (no nsproxy), count as the host's: no hook
 * acts on them. Every successful open of every process on the node asks this, so the three loads go through the BTF
 * task pointer, inline memory reads rather than a helper call each as BPF_CORE_READ makes them (146 -> 69 ns per
 * host open in the kernel's run-time stats, where an empty program costs ~65).
 */
static __always_inline bool ks_in_host_mnt_ns(void)
{
	struct nsproxy *nsproxy = bpf_get_current_task_btf()->nsproxy;

	return host_mnt_ns_inum == 0 || !nsproxy || nsproxy->mnt_ns->ns.inum == host_mnt_ns_inum;
}

/*
 * Counts one dropped record of `type` caused by the current task: in drops[type] (every reason) and in
 * cgroup_drops under the task's cgroup and the reason, which is what the agent's telemetry-gap detection names.
 */
static __always_inline void ks_count_drop_reason(__u32 type, __u32 reason)
{
	struct ks_drop_key key = { .cgroup_id = bpf_get_current_cgroup_id(), .type = type, .reason = reason };
	__u64 *count = bpf_map_lookup_elem(&drops, &type);
	__u64 one = 1;

	if (count)
		*count += 1;
	count = bpf_map_lookup_elem(&cgroup_drops, &key);
	if (count) {
		__sync_fetch_and_add(count, 1);
		return;
	}
	if (bpf_map_update_elem(&cgroup_drops, &key, &one, BPF_NOEXIST) == 0)
		return;
	/* Another CPU created it first (EEXIST), or the map is full. */
	count = bpf_map_lookup_elem(&cgroup_drops, &key);
	if (count) {
		__sync_fetch_and_add(count, 1);
		return;
	}
	count = bpf_map_lookup_elem(&drops_unattributed, &reason);
	if (count)
		*count += 1;
}

/* A record lost because the ring was full. */
static __always_inline void ks_count_drop(__u32 type)
{
	ks_count_drop_reason(type, KS_DROP_RING_FULL);
}

/*
 * The types a busy or hostile container produces by the thousand. Every other type is rare unless something
 * is wrong, and may be a detection on its own: those keep the reserve (hot_ring_percent) and no bucket limits
 * them. A unit adding a type a workload can emit at high rates adds it here.
 */
static __always_inline bool ks_is_hot(__u32 type)
{
	return type == KS_EVENT_EXEC || type == KS_EVENT_FORK || type == KS_EVENT_EXIT || type == KS_EVENT_CONNECT ||
	       type == KS_EVENT_PAYLOAD || type == KS_EVENT_LISTEN;
}

/*
 * The current container's token bucket (GCRA): a record is admitted when the bucket's theoretical arrival time
 * is no more than hot_burst_ns ahead of now, and moves it one interval on. Updated without a lock: two CPUs
 * racing on one container's bucket may both admit a record, which over-admits by a record, never drops wrongly.
 */
static __always_inline bool ks_hot_bucket_admits(void)
{
	__u64 cgroup_id = bpf_get_current_cgroup_id();
	__u64 now = bpf_ktime_get_ns();
	__u64 *arrival = bpf_map_lookup_elem(&hot_buckets, &cgroup_id);
	__u64 next;

	if (!arrival) {
		next = now + hot_record_interval_ns;
		bpf_map_update_elem(&hot_buckets, &cgroup_id, &next, BPF_ANY);
		return true;
	}
	next = *arrival > now ? *arrival : now;
	if (next - now > hot_burst_ns)
		return false;
	*arrival = next + hot_record_interval_ns;
	return true;
}

/*
 * Whether a record of `type` and `size` may go into the ring; a refusal is counted with its reason. Urgent
 * types always may (the ring itself may still be full). Hot types are refused past hot_ring_percent of the
 * ring, so a flood leaves room for urgent records, then limited per container. The fill is read without a
 * lock, so concurrent producers can pass the limit by a record each; the reserve is far larger than that.
 */
static __always_inline bool ks_admit(__u32 type, __u32 size)
{
	__u64 ring_size, limit;

	if (!ks_is_hot(type))
		return true;
	if (hot_ring_percent < 100) {
		ring_size = bpf_ringbuf_query(&events, BPF_RB_RING_SIZE);
		limit = ring_size / 100 * hot_ring_percent;
		if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) + size > limit) {
			ks_count_drop_reason(type, KS_DROP_HEADROOM);
			return false;
		}
	}
	if (hot_record_interval_ns && !ks_hot_bucket_admits()) {
		ks_count_drop_reason(type, KS_DROP_RATE_LIMIT);
		return false;
	}
	return true;
}

/*
 * Reserves ring room without admission (ks_admit): for records made on behalf of another task, e.g. the
 * snapshot, which the agent asks for once and whose per-container bucket would be the agent's.
 */
static __always_inline void *ks_reserve(__u32 type, __u32 size)
{
	void *record = bpf_ringbuf_reserve(&events, size, 0);

	if (!record)
		ks_count_drop(type);
	return record;
}

/*
 * Wakes the consumer once the unread bytes have reached wakeup_batch_bytes, not on every record past it: a consumer
 * that is busy or deliberately waiting (it coalesces reads) would otherwise be woken by each record, at a cost to the
 * process that made it. The unread bytes are looked at only after this CPU has written a sixteenth of
 * wakeup_batch_bytes since it last looked (wakeup_unchecked_bytes): each look reads the consumer's position, a cache
 * line another CPU writes. So the consumer is woken at most that late, and at most once a sixteenth per CPU while it
 * lags; the poll interval covers the rest.
 */
static __always_inline __u64 ks_wakeup_flag(__u32 size)
{
	__u32 zero = 0;
	__u64 *unchecked;

	if (!wakeup_batch_bytes)
		return BPF_RB_FORCE_WAKEUP;
	unchecked = bpf_map_lookup_elem(&wakeup_unchecked_bytes, &zero);
	if (unchecked) {
		*unchecked += size;
		if (*unchecked < wakeup_batch_bytes / 16)
			return BPF_RB_NO_WAKEUP;
		*unchecked = 0;
	}
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) + size >= wakeup_batch_bytes ? BPF_RB_FORCE_WAKEUP
											 : BPF_RB_NO_WAKEUP;
}

/* ks_wakeup_flag(), or a forced wakeup when the last urgent one on this CPU is urgent_wakeup_gap_ns old. */
static __always_inline __u64 ks_urgent_wakeup_flag(__u32 size)
{
	__u32 zero = 0;
	__u64 *last, now;

	if (!urgent_wakeup_gap_ns)
		return ks_wakeup_flag(size);
	last = bpf_map_lookup_elem(&last_urgent_wakeup, &zero);
	if (!last)
		return ks_wakeup_flag(size);
	now = bpf_ktime_get_ns();
	if (now - *last < urgent_wakeup_gap_ns)
		return ks_wakeup_flag(size);
	*last = now;
	return BPF_RB_FORCE_WAKEUP;
}

static __always_inline void ks_submit(void *record, __u32 size)
{
	bpf_ringbuf_submit(record, ks_wakeup_flag(size));
}

/* For records that may be a detection on their own: the consumer sees them without the batching delay. */
static __always_inline void ks_submit_urgent(void *record, __u32 size)
{
	bpf_ringbuf_submit(record, ks_urgent_wakeup_flag(size));
}

/* For records assembled in a per-CPU scratch buffer (too big for the stack, or built before we know we emit). */
static __always_inline void ks_output(void *record, __u32 size, __u32 type, bool urgent)
{
	__u64 flag;

	if (!ks_admit(type, size))
		return;
	flag = urgent ? ks_urgent_wakeup_flag(size) : ks_wakeup_flag(size);
	if (bpf_ringbuf_output(&events, record, size, flag) < 0)
		ks_count_drop(type);
}

/*
 * The header for an event caused by the current task. Every field but the time is a plain load through the BTF task
 * pointer rather than a helper call each (bpf_get_current_pid_tgid, _uid_gid, _cgroup_id, _comm): each such call cost
 * 35-60 ns on the development VM (kernel run-time stats), ~200 ns a record, a sensitive open's largest fixed cost.
 * The values are the same: kuid/kgid are the ids as the initial user namespace sees them, the cgroup id is the
 * default hierarchy's (what bpf_get_current_cgroup_id() reads), comm is NUL-padded by the kernel. de_thread() gives
 * an exec'ing thread its old leader's start, so start_boottime_ns is the process's for its whole life.
 */
static __always_inline void ks_fill_header(struct ks_header *hdr, __u16 type, __u16 size)
{
	struct task_struct *task = bpf_get_current_task_btf();
	const struct cred *cred = task->cred;
	__u64 *comm = (__u64 *)task->comm;

	hdr->type = type;
	hdr->size = size;
	hdr->ktime_ns = bpf_ktime_get_boot_ns();
	hdr->cgroup_id = task->cgroups->dfl_cgrp->kn->id;
	hdr->tgid = task->tgid;
	hdr->pid = task->pid;
	hdr->uid = cred->uid.val;
	hdr->gid = cred->gid.val;
	((__u64 *)hdr->comm)[0] = comm[0];
	((__u64 *)hdr->comm)[1] = comm[1];
	hdr->start_boottime_ns = task->group_leader->start_boottime;
}

/*
 * Reserves a record of `size` bytes, zeroes it (reserved ring memory holds older records' bytes) and
 * fills its header for the current task. NULL, counted as a drop with its reason, when the ring is full or
 * ks_admit() refuses the record.
 */
static __always_inline void *ks_begin(__u16 type, __u16 size)
{
	struct ks_header *hdr;

	if (!ks_admit(type, size))
		return NULL;
	hdr = ks_reserve(type, size);
	if (!hdr)
		return NULL;
	__builtin_memset(hdr, 0, size);
	ks_fill_header(hdr, type, size);
	return hdr;
}

static __always_inline void ks_mark_truncated_if(struct ks_header *hdr, bool truncated)
{
	if (truncated)
		hdr->flags |= KS_HDR_FLAG_TRUNCATED;
}

/*
 * Copies a user string into a zeroed field of `size` bytes and returns its length without the NUL.
 * A string that filled the field is truncated only if the caller's string goes on past it.
 */
static __always_inline __u32 ks_read_user_str(char *dst, __u32 size, const void *src, struct ks_header *hdr)
{
	long copied = bpf_probe_read_user_str(dst, size, src);
	char next = 0;

	if (copied <= 0)
		return 0;
	if (copied == size && bpf_probe_read_user(&next, 1, (const char *)src + size - 1) == 0)
		ks_mark_truncated_if(hdr, next != 0);
	return copied - 1;
}

static __always_inline __u32 ks_read_kernel_str(char *dst, __u32 size, const void *src, struct ks_header *hdr)
{
	long copied = bpf_probe_read_kernel_str(dst, size, src);
	char next = 0;

	if (copied <= 0)
		return 0;
	if (copied == size && bpf_probe_read_kernel(&next, 1, (const char *)src + size - 1) == 0)
		ks_mark_truncated_if(hdr, next != 0);
	return copied - 1;
}

#endif /* KS_LIB_EMIT_H */
