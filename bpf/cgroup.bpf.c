// SPDX-License-Identifier: GPL-2.0
/*
 * cgroup2 directories appearing and going away: how user space learns of a new container's cgroup
 * (and so its id) without polling. Only the default (v2) hierarchy counts; on hybrid hosts the v1
 * hierarchies mirror every mkdir and would only add noise.
 */
#include "lib/common.h"

/* The default hierarchy is the first one registered: cgroup_init() gives it hierarchy id 0. */
#define KS_CGROUP_DFL_HIERARCHY_ID 0

static __always_inline void ks_emit_cgroup(__u32 op, struct cgroup *cgrp, const char *path)
{
	struct ks_cgroup *e;

	if (BPF_CORE_READ(cgrp, root, hierarchy_id) != KS_CGROUP_DFL_HIERARCHY_ID || ks_from_agent())
		return;
	e = ks_begin(KS_EVENT_CGROUP, sizeof(*e));
	if (!e)
		return;
	e->op = op;
	e->id = BPF_CORE_READ(cgrp, kn, id);
	e->level = BPF_CORE_READ(cgrp, level);
	ks_read_kernel_str(e->path, sizeof(e->path), path, &e->hdr);
	/*
	 * A new container's cgroup wakes the agent at once: it registers the container for enforcement (enforce_pending)
	 * between the runtime's create and start, so that the exec hook arms it with its own checks at the entrypoint.
	 */
	if (op == KS_OP_CGROUP_MKDIR)
		ks_submit_urgent(e, sizeof(*e));
	else
		ks_submit(e, sizeof(*e));
}

SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(cgroup_mkdir__tp_btf, struct cgroup *cgrp, const char *path)
{
	ks_emit_cgroup(KS_OP_CGROUP_MKDIR, cgrp, path);
	return 0;
}

SEC("raw_tp/cgroup_mkdir")
int BPF_PROG(cgroup_mkdir__raw_tp, struct cgroup *cgrp, const char *path)
{
	ks_emit_cgroup(KS_OP_CGROUP_MKDIR, cgrp, path);
	return 0;
}

SEC("tp_btf/cgroup_rmdir")
int BPF_PROG(cgroup_rmdir__tp_btf, struct cgroup *cgrp, const char *path)
{
	ks_emit_cgroup(KS_OP_CGROUP_RMDIR, cgrp, path);
	return 0;
}

SEC("raw_tp/cgroup_rmdir")
int BPF_PROG(cgroup_rmdir__raw_tp, struct cgroup *cgrp, const char *path)
{
	ks_emit_cgroup(KS_OP_CGROUP_RMDIR, cgrp, path);
	return 0;
}
