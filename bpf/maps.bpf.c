// SPDX-License-Identifier: GPL-2.0
/*
 * The one unit that defines the shared maps and tunables (lib/maps.h) and the license; every other
 * unit declares them extern and `bpftool gen object` resolves them into one object.
 */
#define KS_DEFINE_MAPS
#include "lib/common.h"

char LICENSE[] SEC("license") = "GPL";

/*
 * Every record type (and enum) of events.h, in the object's BTF. Records are only ever handled through
 * pointers into the ring, which clang does not describe in BTF; user space checks its decoder
 * against these types (test/layout.test.ts), so they must be present. Never called, never loaded.
 */
struct ks_abi_records {
	struct ks_header header;
	struct ks_exec exec;
	struct ks_fork fork;
	struct ks_exit exit;
	struct ks_namespace namespace;
	struct ks_setns setns;
	struct ks_mount mount;
	struct ks_root_change root_change;
	struct ks_open open;
	struct ks_connect connect;
	struct ks_payload payload;
	struct ks_module module;
	struct ks_ptrace ptrace;
	struct ks_bpf bpf;
	struct ks_fd_create fd_create;
	struct ks_creds creds;
	struct ks_cgroup cgroup;
	struct ks_io_uring io_uring;
	struct ks_listen listen;
	struct ks_host_fs host_fs;
	struct ks_compat_syscall compat_syscall;
	struct ks_path_pattern path_pattern;
	enum ks_event_type event_type;
	enum ks_op op;
	enum ks_pattern_kind pattern_kind;
	enum ks_enforce_rule enforce_rule;
	enum ks_enforce_mode enforce_mode;
	enum ks_enforce_outcome enforce_outcome;
	enum ks_enforce_levels_slot enforce_levels_slot;
};

__noinline int ks_abi_records_btf_anchor(struct ks_abi_records *records)
{
	return records != 0;
}
