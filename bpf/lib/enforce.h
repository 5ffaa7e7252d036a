/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Opt-in enforcement: SIGKILL to a container process at the syscall that starts an escape, decided here from maps
 * the agent fills (enforce_mode, enforce_cgroups), with no round trip through user space.
 *
 * What a signal at sys_enter does: bpf_send_signal() makes SIGKILL pending on the calling process; the syscall
 * still runs to completion (the namespace is created, the mount made, the exec done), and the process dies on its
 * way back to user space, so none of its next instructions run: the id map is never written, the release_agent
 * never set, the memfd's program never starts. It does not undo the syscall's own effect, nor stop another
 * process that shares the result (a mount is visible to the rest of the container). An LSM hook
 * (security_sb_mount, security_file_open, bprm_check_security) would refuse the call itself; this kernel refuses
 * BPF LSM programs, so enforcement runs on tracepoints (docs/enforcement.md).
 *
 * Never killed, whatever the maps say: the agent (agent_tgid), any task outside the cgroups the agent armed and
 * their descendants (the host's, a container whose workload has not started: the runtime's set-up), and any task in the host's mount
 * namespace (the runtime entering a running container for `exec` starts there). None of this looks at comm or
 * paths as written: the cgroup id, the mount namespace and the tgid are kernel facts the process cannot choose.
 */
#ifndef KS_LIB_ENFORCE_H
#define KS_LIB_ENFORCE_H

#define KS_ENFORCE_MAX_LEVEL 32

/*
 * The kill checks of the armed container the current task is in, at or below its cgroup: its ancestor at each
 * level where containers are armed (enforce_levels), nearest the root first. NULL when none.
 */
static __always_inline __u32 *ks_enforce_container_checks(void)
{
	__u32 zero = 0;
	__u64 *levels = bpf_map_lookup_elem(&enforce_levels, &zero);
	__u32 *checks;
	__u64 id;

	if (!levels || !*levels)
		return NULL;
	for (int level = 1; level < KS_ENFORCE_MAX_LEVEL; level++) {
		if (!(*levels & (1ull << level)))
			continue;
		id = bpf_get_current_ancestor_cgroup_id(level);
		if (!id) /* the task's cgroup is above this level */
			return NULL;
		checks = bpf_map_lookup_elem(&enforce_cgroups, &id);
		if (checks)
			return checks;
	}
	return NULL;
}

/*
 * The enforcement mode when `rule` kills in the current task's container, else KS_ENFORCE_OFF. Costs one array
 * lookup while enforcement is off; while it is on, a lookup of the task's ancestor cgroup at each level where
 * containers are armed (one, in a kubelet layout).
 */
static __always_inline __u32 ks_enforce_mode_for(__u32 rule)
{
	__u32 zero = 0;
	__u32 *mode = bpf_map_lookup_elem(&enforce_mode, &zero);
	__u32 *kill_rules;
	struct task_struct *task;

	if (!mode || *mode == KS_ENFORCE_OFF)
		return KS_ENFORCE_OFF;
	kill_rules = ks_enforce_container_checks();
	if (!kill_rules || !(*kill_rules & (1u << rule)))
		return KS_ENFORCE_OFF;
	if (ks_from_agent())
		return KS_ENFORCE_OFF;
	task = (struct task_struct *)bpf_get_current_task();
	if (host_mnt_ns_inum == 0 || BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum) == host_mnt_ns_inum)
		return KS_ENFORCE_OFF;
	return *mode;
}

/*
 * Acts on a decision of ks_enforce_mode_for(): sends SIGKILL (mode on) and counts the outcome, and returns the
 * header flags that tell user space (0 when nothing was decided). bpf_send_signal() can refuse (the task is the
 * global init, or a kernel thread): that is told as KS_HDR_FLAG_KILL_FAILED, never as a kill.
 */
static __always_inline __u32 ks_enforce_act(__u32 rule, __u32 mode)
{
	__u32 outcome = KS_ENFORCE_WOULD_KILL, flag = KS_HDR_FLAG_WOULD_KILL;
	__u32 slot;
	__u64 *count;

	if (mode == KS_ENFORCE_OFF || rule >= KS_ENFORCE_RULE_MAX)
		return 0;
	if (mode == KS_ENFORCE_ON) {
		if (bpf_send_signal(KS_SIGKILL) == 0) {
			outcome = KS_ENFORCE_KILLED;
			flag = KS_HDR_FLAG_KILLED;
		} else {
			outcome = KS_ENFORCE_KILL_FAILED;
			flag = KS_HDR_FLAG_KILL_FAILED;
		}
	}
	slot = rule * KS_ENFORCE_OUTCOMES + outcome;
	count = bpf_map_lookup_elem(&enforce_actions, &slot);
	if (count)
		*count += 1;
	return flag | (rule << KS_HDR_ENFORCE_RULE_SHIFT);
}

/* ks_enforce_act(rule, ks_enforce_mode_for(rule)): for checks with nothing else to look at first. */
static __always_inline __u32 ks_enforce(__u32 rule)
{
	return ks_enforce_act(rule, ks_enforce_mode_for(rule));
}

#endif /* KS_LIB_ENFORCE_H */
