// SPDX-License-Identifier: GPL-2.0
/*
 * A development loader for build/kubesentry.bpf.o, not the agent's (that is native/): loads one
 * variant per hook, attaches everything, optionally runs the snapshot iterator and a command, and
 * prints one line per record until the command exits and the ring is drained. For checking the
 * kernel side by hand:
 *
 *   ks-probe [--fallback] [--snapshot] [--quiet] [--pattern KIND:PREFIX[:SECOND]]...
 *            [--retarget PROGRAM=CATEGORY/NAME]... OBJECT [-- COMMAND...]
 *
 * --fallback autoloads the __tp/__raw_tp variants instead of __tp_btf.
 * --retarget attaches a syscall program to another syscall's tracepoint with the same argument
 *   layout, to exercise programs whose own tracepoint this kernel lacks (the module syscalls without
 *   CONFIG_MODULES): e.g. sys_enter_delete_module__tp=syscalls/sys_enter_chdir.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/wait.h>
#include <linux/types.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "../events.h"
#include "../open/path_index.h"

static const char *type_names[KS_EVENT_TYPE_MAX] = {
	[KS_EVENT_EXEC] = "exec",	   [KS_EVENT_FORK] = "fork",	   [KS_EVENT_EXIT] = "exit",
	[KS_EVENT_NAMESPACE] = "namespace", [KS_EVENT_SETNS] = "setns",   [KS_EVENT_MOUNT] = "mount",
	[KS_EVENT_ROOT_CHANGE] = "root",    [KS_EVENT_OPEN] = "open",	   [KS_EVENT_CONNECT] = "connect",
	[KS_EVENT_PAYLOAD] = "payload",	   [KS_EVENT_MODULE] = "module",   [KS_EVENT_PTRACE] = "ptrace",
	[KS_EVENT_BPF] = "bpf",		   [KS_EVENT_FD_CREATE] = "fd_create", [KS_EVENT_CREDS] = "creds",
	[KS_EVENT_CGROUP] = "cgroup",
};

static long counts[KS_EVENT_TYPE_MAX];
static bool quiet;

static void print_args(const char *args, unsigned len)
{
	for (unsigned i = 0; i < len; i++)
		putchar(args[i] ? args[i] : ' ');
}

static void print_hex(const __u8 *data, unsigned len)
{
	for (unsigned i = 0; i < len && i < 32; i++)
		printf("%02x", data[i]);
}

static void print_addr(__u16 family, const __u8 *addr, __u16 port)
{
	char text[INET6_ADDRSTRLEN] = "?";

	inet_ntop(family == KS_EVENT_CONNECT ? 0 : family, addr, text, sizeof(text));
	printf("%s port=%u", text, port);
}

static int on_record(void *ctx, void *data, size_t size)
{
	const struct ks_header *h = data;

	if (size < sizeof(*h) || h->size != size || h->type == 0 || h->type >= KS_EVENT_TYPE_MAX) {
		printf("BAD RECORD size=%zu hdr.size=%u type=%u\n", size, h->size, h->type);
		return 0;
	}
	counts[h->type]++;
	if (quiet)
		return 0;
	printf("%-9s tgid=%u start=%llu pid=%u uid=%u cg=%llx comm=%.16s flags=%x | ", type_names[h->type], h->tgid,
	       (unsigned long long)h->start_boottime_ns, h->pid, h->uid, (unsigned long long)h->cgroup_id, h->comm, h->flags);
	switch (h->type) {
	case KS_EVENT_EXEC: {
		const struct ks_exec *e = data;
		printf("path=%.*s argc=%u args=\"", e->path_len, e->path, e->argc);
		print_args(e->args, e->args_len);
		printf("\" ppid=%u euid=%u ino=%llu nlink=%u xflags=%x mnt=%u pid=%u net=%u user=%u uts=%u ipc=%u cgns=%u caps=%llx",
		       e->ppid, e->euid, (unsigned long long)e->exe_ino, e->exe_nlink, e->exe_flags, e->mnt_ns, e->pid_ns,
		       e->net_ns, e->user_ns, e->uts_ns, e->ipc_ns, e->cgroup_ns, (unsigned long long)e->cap_effective);
		break;
	}
	case KS_EVENT_FORK: {
		const struct ks_fork *e = data;
		printf("child=%u/%u flags=%llx start=%llu", e->child_tgid, e->child_pid,
		       (unsigned long long)e->clone_flags, (unsigned long long)e->child_start_boottime_ns);
		break;
	}
	case KS_EVENT_EXIT: {
		const struct ks_exit *e = data;
		printf("code=%d", e->exit_code);
		break;
	}
	case KS_EVENT_NAMESPACE: {
		const struct ks_namespace *e = data;
		printf("op=%u flags=%llx", e->op, (unsigned long long)e->flags);
		break;
	}
	case KS_EVENT_SETNS: {
		const struct ks_setns *e = data;
		printf("fd=%d nstype=%x target_ino=%u target_type=%x", e->fd, e->nstype, e->target_ns_ino, e->target_ns_type);
		break;
	}
	case KS_EVENT_MOUNT: {
		const struct ks_mount *e = data;
		printf("op=%u flags=%llx source=%s target=%s fstype=%s", e->op, (unsigned long long)e->flags, e->source,
		       e->target, e->fstype);
		break;
	}
	case KS_EVENT_ROOT_CHANGE: {
		const struct ks_root_change *e = data;
		printf("op=%u new_root=%s put_old=%s", e->op, e->new_root, e->put_old);
		break;
	}
	case KS_EVENT_OPEN: {
		const struct ks_open *e = data;
		/* the record's size varies with its strings (events.h); path_len bounds the read */
		printf("op=%u dirfd=%d flags=%x mode=%o pattern=%u path=%.*s", e->op, e->dirfd, e->flags, e->mode,
		       e->pattern_id, e->path_len < KS_PATH_LEN ? e->path_len : KS_PATH_LEN - 1, e->strings);
		break;
	}
	case KS_EVENT_CONNECT: {
		const struct ks_connect *e = data;
		printf("fd=%d family=%u type=%u proto=%u ", e->fd, e->family, e->sock_type, e->protocol);
		if (e->family == 1)
			printf("unix=%s%.*s", e->unix_path[0] ? "" : "@", KS_UNIX_PATH_LEN - 1,
			       e->unix_path[0] ? e->unix_path : e->unix_path + 1);
		else
			print_addr(e->family, e->addr, e->port);
		break;
	}
	case KS_EVENT_PAYLOAD: {
		const struct ks_payload *e = data;
		printf("op=%u kind=%u fd=%d ", e->op, e->kind, e->fd);
		print_addr(e->family, e->addr, e->port);
		printf(" total=%u data_len=%u data=", e->total_len, e->data_len);
		print_hex(e->data, e->data_len);
		break;
	}
	case KS_EVENT_MODULE: {
		const struct ks_module *e = data;
		printf("op=%u fd=%d flags=%x name=%s", e->op, e->fd, e->flags, e->name);
		break;
	}
	case KS_EVENT_PTRACE: {
		const struct ks_ptrace *e = data;
		printf("op=%u request=%lld target_tgid=%u pid_arg=%u addr=%llx", e->op, (long long)e->request,
		       e->target_tgid, e->target_pid_arg, (unsigned long long)e->addr);
		break;
	}
	case KS_EVENT_BPF: {
		const struct ks_bpf *e = data;
		printf("op=%u cmd=%u prog_type=%u target_pid=%d config=%llx", e->op, e->cmd, e->prog_type, e->target_pid,
		       (unsigned long long)e->config);
		break;
	}
	case KS_EVENT_FD_CREATE: {
		const struct ks_fd_create *e = data;
		printf("op=%u flags=%x name=%s", e->op, e->flags, e->name);
		break;
	}
	case KS_EVENT_CREDS: {
		const struct ks_creds *e = data;
		printf("op=%u args=%d,%d,%d euid_before=%u eff_before=%llx perm_before=%llx eff_new=%llx perm_new=%llx", e->op,
		       e->arg0, e->arg1, e->arg2, e->euid_before, (unsigned long long)e->cap_effective_before,
		       (unsigned long long)e->cap_permitted_before, (unsigned long long)e->cap_effective_new,
		       (unsigned long long)e->cap_permitted_new);
		break;
	}
	case KS_EVENT_CGROUP: {
		const struct ks_cgroup *e = data;
		printf("op=%u id=%llu level=%u path=%s", e->op, (unsigned long long)e->id, e->level, e->path);
		break;
	}
	}
	putchar('\n');
	return 0;
}

/* Sets a `const volatile` variable in .rodata before load, found by name through the object's BTF. */
static int set_rodata(struct bpf_object *obj, const char *name, const void *value, size_t size)
{
	struct bpf_map *rodata = bpf_object__find_map_by_name(obj, ".rodata");
	struct btf *btf = bpf_object__btf(obj);
	size_t data_size;
	char *data;
	int sec_id;

	if (!rodata || !btf)
		return -ENOENT;
	data = (char *)bpf_map__initial_value(rodata, &data_size);
	sec_id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
	if (!data || sec_id < 0)
		return -ENOENT;
	const struct btf_type *sec = btf__type_by_id(btf, sec_id);
	const struct btf_var_secinfo *var = btf_var_secinfos(sec);
	for (int i = 0; i < btf_vlen(sec); i++, var++) {
		const char *var_name = btf__name_by_offset(btf, btf__type_by_id(btf, var->type)->name_off);
		if (strcmp(var_name, name) == 0 && var->size == size && var->offset + size <= data_size) {
			memcpy(data + var->offset, value, size);
			return 0;
		}
	}
	return -ENOENT;
}

/* Which variant of each hook to load: "<hook>__tp_btf" unless --fallback, else "__tp"/"__raw_tp". */
struct retarget {
	const char *program;
	char category[64];
	char name[128];
};
static struct retarget retargets[8];
static int nretargets;

static const struct retarget *retarget_of(struct bpf_program *prog)
{
	for (int i = 0; i < nretargets; i++)
		if (strcmp(retargets[i].program, bpf_program__name(prog)) == 0)
			return &retargets[i];
	return NULL;
}

static bool tracepoint_exists(struct bpf_program *prog)
{
	const char *sec = bpf_program__section_name(prog);
	char path[256];

	if (strncmp(sec, "tracepoint/", 11) != 0 || retarget_of(prog))
		return true;
	snprintf(path, sizeof(path), "/sys/kernel/tracing/events/%s", sec + 11);
	if (access(path, F_OK) == 0)
		return true;
	fprintf(stderr, "skipping %s: no tracepoint %s\n", bpf_program__name(prog), sec + 11);
	return false;
}

static bool want_program(struct bpf_object *obj, struct bpf_program *prog, bool fallback)
{
	const char *name = bpf_program__name(prog);
	const char *sep = strstr(name, "__");
	char sibling[128];

	if (!sep)
		return false;
	if (!tracepoint_exists(prog))
		return false;
	if (strcmp(sep, "__iter") == 0)
		return true;
	if (strcmp(sep, "__tp_btf") == 0)
		return !fallback;
	snprintf(sibling, sizeof(sibling), "%.*s__tp_btf", (int)(sep - name), name);
	return fallback || !bpf_object__find_program_by_name(obj, sibling);
}

static int run_snapshot(struct bpf_program *prog)
{
	struct bpf_link *link = bpf_program__attach_iter(prog, NULL);
	char buf[4096];
	int fd;

	if (!link)
		return -errno;
	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0)
		return -errno;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
	bpf_link__destroy(link);
	return 0;
}

int main(int argc, char **argv)
{
	bool fallback = false, snapshot = false;
	struct ks_path_pattern patterns[KS_MAX_PATH_PATTERNS] = {};
	int npatterns = 0, i;
	const char *object = NULL;
	char **command = NULL;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--fallback"))
			fallback = true;
		else if (!strcmp(argv[i], "--snapshot"))
			snapshot = true;
		else if (!strcmp(argv[i], "--quiet"))
			quiet = true;
		else if (!strcmp(argv[i], "--pattern") && i + 1 < argc && npatterns < KS_MAX_PATH_PATTERNS) {
			char *spec = strdup(argv[++i]), *kind = strtok(spec, ":"), *prefix = strtok(NULL, ":"),
			     *second = strtok(NULL, ":");
			struct ks_path_pattern *p = &patterns[npatterns++];
			p->kind = atoi(kind);
			p->prefix_len = strlen(prefix);
			memcpy(p->prefix, prefix, p->prefix_len);
			if (second) {
				p->second_len = strlen(second);
				memcpy(p->second, second, p->second_len);
			}
		} else if (!strcmp(argv[i], "--retarget") && i + 1 < argc && nretargets < 8) {
			struct retarget *r = &retargets[nretargets++];
			char *spec = strdup(argv[++i]), *eq = strchr(spec, '='), *slash = eq ? strchr(eq, '/') : NULL;
			if (!slash) {
				fprintf(stderr, "--retarget wants PROGRAM=CATEGORY/NAME\n");
				return 2;
			}
			*eq = *slash = 0;
			r->program = spec;
			snprintf(r->category, sizeof(r->category), "%s", eq + 1);
			snprintf(r->name, sizeof(r->name), "%s", slash + 1);
		} else if (!strcmp(argv[i], "--")) {
			command = &argv[i + 1];
			break;
		} else
			object = argv[i];
	}
	if (!object) {
		fprintf(stderr, "usage: %s [--fallback] [--snapshot] [--quiet] [--pattern KIND:PREFIX[:SECOND]]... OBJECT [-- COMMAND...]\n", argv[0]);
		return 2;
	}

	struct bpf_object *obj = bpf_object__open_file(object, NULL);
	struct bpf_program *prog, *iter = NULL;
	if (!obj) {
		fprintf(stderr, "open %s: %s\n", object, strerror(errno));
		return 1;
	}
	bpf_object__for_each_program(prog, obj) {
		bool load = want_program(obj, prog, fallback);
		bpf_program__set_autoload(prog, load);
		if (load && strstr(bpf_program__name(prog), "__iter"))
			iter = prog;
	}
	__u32 self = getpid();
	__u64 batch = 0; /* wake on every record: this tool wants to see them at once */
	if (set_rodata(obj, "agent_tgid", &self, sizeof(self)) || set_rodata(obj, "wakeup_batch_bytes", &batch, sizeof(batch))) {
		fprintf(stderr, "cannot set tunables\n");
		return 1;
	}
	if (bpf_object__load(obj)) {
		fprintf(stderr, "load failed: %s\n", strerror(errno));
		return 1;
	}
	int patterns_fd = bpf_object__find_map_fd_by_name(obj, "path_patterns");
	for (__u32 k = 0; k < (__u32)npatterns; k++)
		bpf_map_update_elem(patterns_fd, &k, &patterns[k], BPF_ANY);
	if (npatterns && ks_path_index_write(obj, patterns, npatterns)) {
		fprintf(stderr, "cannot write the path pattern index\n");
		return 1;
	}

	int attached = 0;
	bpf_object__for_each_program(prog, obj) {
		if (!bpf_program__autoload(prog) || prog == iter)
			continue;
		const struct retarget *r = retarget_of(prog);
		if (!(r ? bpf_program__attach_tracepoint(prog, r->category, r->name) : bpf_program__attach(prog))) {
			fprintf(stderr, "attach %s failed: %s\n", bpf_program__name(prog), strerror(errno));
			return 1;
		}
		attached++;
	}
	fprintf(stderr, "attached %d programs (%s variants)\n", attached, fallback ? "fallback" : "btf");

	struct ring_buffer *ring = ring_buffer__new(bpf_object__find_map_fd_by_name(obj, "events"), on_record, NULL, NULL);
	if (snapshot && iter) {
		int err = run_snapshot(iter);
		if (err)
			fprintf(stderr, "snapshot: %s\n", strerror(-err));
	}
	pid_t child = -1;
	if (command) {
		child = fork();
		if (child == 0) {
			execvp(command[0], command);
			_exit(127);
		}
	}
	for (;;) {
		ring_buffer__poll(ring, 50);
		if (child > 0 && waitpid(child, NULL, WNOHANG) == child)
			break;
		if (!command && !snapshot)
			continue;
		if (!command)
			break;
	}
	ring_buffer__poll(ring, 200);
	ring_buffer__consume(ring);

	int drops_fd = bpf_object__find_map_fd_by_name(obj, "drops");
	int ncpu = libbpf_num_possible_cpus();
	__u64 per_cpu[ncpu];
	fprintf(stderr, "counts:");
	for (__u32 t = 1; t < KS_EVENT_TYPE_MAX; t++)
		if (counts[t])
			fprintf(stderr, " %s=%ld", type_names[t], counts[t]);
	fprintf(stderr, "\ndrops:");
	for (__u32 t = 0; t < KS_EVENT_TYPE_MAX; t++) {
		__u64 sum = 0;
		if (bpf_map_lookup_elem(drops_fd, &t, per_cpu) == 0)
			for (int c = 0; c < ncpu; c++)
				sum += per_cpu[c];
		if (sum)
			fprintf(stderr, " %s=%llu", type_names[t] ? type_names[t] : "?", (unsigned long long)sum);
	}
	fprintf(stderr, "\n");
	return 0;
}
