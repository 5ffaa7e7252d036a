/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The two reads of every successful open that have no BTF type to load through: the new fd's slot in the fd array
 * and the first bytes of the file's name. With plain loads (untrusted memory to the verifier; a fault reads 0) they
 * cost a few ns; a probe-read helper call each costs ~30 ns on the development VM. The 6.18 verifier accepts the
 * loads; older ones (before about 6.17) refuse them, and with them the whole object. So bpf/open.bpf.c takes them
 * only under the `untrusted_loads` tunable, and bpf/probe.bpf.c's probe_untrusted_loads asks this kernel's verifier
 * about these very instructions (src/receiver/probe.ts) before the agent sets it.
 *
 * `fdt` and `dentry` are BTF pointers (bpf_get_current_task_btf() or bpf_rdonly_cast()).
 */
#ifndef KS_OPEN_UNTRUSTED_LOADS_H
#define KS_OPEN_UNTRUSTED_LOADS_H

/* fds are below fs.nr_open, at most 1 << 30 */
#define KS_FD_MASK ((1u << 30) - 1)

static __always_inline struct file *ks_fd_slot_load(struct fdtable *fdt, long fd)
{
	return fdt->fd[fd & KS_FD_MASK];
}

/* A name shorter than 8 bytes brings the bytes after its NUL along, which the key compare allows (path_index.h). */
static __always_inline __u64 ks_name_head_load(struct dentry *dentry)
{
	return *(const __u64 *)dentry->d_name.name;
}

#endif /* KS_OPEN_UNTRUSTED_LOADS_H */
