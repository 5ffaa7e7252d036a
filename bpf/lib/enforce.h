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
 * Never killed, whatever the maps say: the agent (agent_tgid), any task outside the armed cgroups and their
 * descendants (the host's, a container whose workload has not started: the runtime's set-up; a container is armed
 * at its workload's first exec, by ks_enforce_arm_at_exec() or by the agent), and any task in the host's mount
 * namespace (the runtime entering a running container for `exec` starts there). None of this looks at comm or
 * paths as written: the cgroup id, the mount namespace and the tgid are kernel facts the process cannot choose.
 */
#ifndef KS_LIB_ENFORCE_H
#define KS_LIB_ENFORCE_H

#define KS_ENFORCE_MAX_LEVEL 32

static __always_inline __u64 ks_enforce_levels(__u32 slot)
{
	__u64 *levels = bpf_map_lookup_elem(&enforce_levels, &slot);

	return levels ? *levels : 0;
}

/*
 * The kill checks of the armed container the current task is in, at or below its cgroup: its ancestor at each
 * level where containers are armed (enforce_levels), nearest the root first. NULL when none.
 */
static __always_inline __u32 *ks_enforce_container_checks(void)
{
	__u64 levels = ks_enforce_levels(KS_ENFORCE_LEVELS_ARMED_BY_AGENT) | ks_enforce_levels(KS_ENFORCE_LEVELS_ARMED_BY_KERNEL);
	__u32 *checks;
	__u64 id;

	if (!levels)
		return NULL;
	for (int level = 1; level < KS_ENFORCE_MAX_LEVEL; level++) {
		if (!(levels & (1ull << level)))
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
 * Closes the arming window: the agent reads a container's first exec a ring poll later, and an entrypoint that is
 * itself the escape (`unshare -U -r ...` as the container's command, a memfd exec as PID 1's first act) would be
 * done by then. So the exec hook arms the task's cgroup itself, at the first exec outside the host's mount
 * namespace of a task with no armed container, when that cgroup or an ancestor has an enforce_pending entry (the
 * nearest wins: a container the agent already knows, else its kubepods root).
 *
 * Why the mount namespace, and nothing else, tells the runtime's set-up from the workload: it is the rule the
 * agent arms by (src/enforcement/ContainerEnforcement.ts). runc, crun and their kin execute themselves (from a
 * sealed memfd copy, too) in the host's mount namespace, enter the container's by unshare or setns without
 * another exec, and the next exec is the entrypoint's (or, for `exec` into a container, the command's), inside
 * the container's mount namespace. The agent's list of runtime binaries (dev+inode) only ever applies to execs in
 * the host's mount namespace, which never arm, so the kernel needs no copy of it. Every exec of the set-up, and
 * so its mounts, namespaces and memfd exec, happens before the container is armed. The task's cgroup at that
 * exec is the container's: the runtime moved its init there before it entered the container, and a cgroup below
 * the container's can only be made by the workload, which is not running yet.
 *
 * Costs nothing while enforcement is off (the agent then arms at the exec it reads), and for a task with no
 * pending ancestor a lookup per pending level.
 */
static __always_inline void ks_enforce_arm_at_exec(struct task_struct *task)
{
	__u32 zero = 0, *mode = bpf_map_lookup_elem(&enforce_mode, &zero);
	__u64 pending_levels, id, *kernel_levels;
	__u32 *checks = NULL, slot = KS_ENFORCE_LEVELS_ARMED_BY_KERNEL;
	int level;

	if (!mode || *mode == KS_ENFORCE_OFF)
		return;
	pending_levels = ks_enforce_levels(KS_ENFORCE_LEVELS_PENDING);
	if (!pending_levels || ks_in_host_mnt_ns() || ks_enforce_container_checks())
		return;
	for (int i = KS_ENFORCE_MAX_LEVEL - 1; i >= 0; i--) {
		if (!(pending_levels & (1ull << i)))
			continue;
		id = bpf_get_current_ancestor_cgroup_id(i);
		if (!id) /* the task's cgroup is above this level */
			continue;
		checks = bpf_map_lookup_elem(&enforce_pending, &id);
		if (checks)
			break;
	}
	if (!checks)
		return;
	level = BPF_CORE_READ(task, cgroups, dfl_cgrp, level);
	if (level < 1 || level >= KS_ENFORCE_MAX_LEVEL)
		return;
	id = bpf_get_current_cgroup_id();
	/*
	 * NOEXIST: an entry written meanwhile wins (the agent's holds the pod metadata's checks). Its level is set all
	 * the same, in case it is another thread's first exec still on its way to setting it.
	 */
	if (bpf_map_update_elem(&enforce_cgroups, &id, checks, BPF_NOEXIST) != 0 && !bpf_map_lookup_elem(&enforce_cgroups, &id))
		return;
	kernel_levels = bpf_map_lookup_elem(&enforce_levels, &slot);
	if (kernel_levels)
		__sync_fetch_and_or(kernel_levels, 1ull << level);
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

	if (!mode || *mode == KS_ENFORCE_OFF)
		return KS_ENFORCE_OFF;
	kill_rules = ks_enforce_container_checks();
	if (!kill_rules || !(*kill_rules & (1u << rule)))
		return KS_ENFORCE_OFF;
	if (ks_from_agent())
		return KS_ENFORCE_OFF;
	if (ks_in_host_mnt_ns())
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
