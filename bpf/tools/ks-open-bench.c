// SPDX-License-Identifier: GPL-2.0
/*
 * What the sensitive-path filter costs an ordinary open: openat()+close() of paths that match no
 * pattern, timed with nothing on sys_exit_openat, with an empty program there, and with
 * sys_exit_openat__tp (the open filter: the caller's string and the resolved path, both at exit) and a
 * realistic pattern list. Prints ns per call and the ratios that matter;
 * absolute numbers depend on the machine. Wall-clock numbers drown in noise on a busy machine, so it
 * also reports the kernel's own accounting of time spent inside each program (BPF_STATS_RUN_TIME).
 *
 *   ks-open-bench OBJECT [ITERATIONS]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <linux/perf_event.h>
#include <linux/types.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "../events.h"
#include "../open/path_index.h"

static const char *ordinary_paths[] = {
	"/usr/lib/x86_64-linux-gnu/libc.so.6", "/etc/hosts", "/proc/self/stat", "/etc/ld.so.cache",
	"/sys/fs/cgroup/unified/cgroup.controllers", "/dev/null", "bench-relative-missing", "/tmp/bench-missing",
};

static const struct {
	__u32 kind;
	const char *prefix, *second;
} patterns[] = {
	{ KS_PATTERN_EXACT, "/etc/shadow", NULL },
	{ KS_PATTERN_EXACT, "/etc/sudoers", NULL },
	{ KS_PATTERN_PREFIX, "/etc/kubernetes/", NULL },
	{ KS_PATTERN_PREFIX, "/var/run/secrets/kubernetes.io/", NULL },
	{ KS_PATTERN_PREFIX, "/run/secrets/kubernetes.io/", NULL },
	{ KS_PATTERN_PREFIX, "/var/lib/kubelet/pods/", NULL },
	{ KS_PATTERN_PREFIX, "/root/.ssh/", NULL },
	{ KS_PATTERN_PREFIX_INFIX, "/home/", "/.ssh/" },
	{ KS_PATTERN_PREFIX_SUFFIX, "/var/lib/etcd/", ".db" },
	{ KS_PATTERN_EXACT, "/run/containerd/containerd.sock", NULL },
	{ KS_PATTERN_EXACT, "/var/run/docker.sock", NULL },
	{ KS_PATTERN_EXACT, "/run/crio/crio.sock", NULL },
	{ KS_PATTERN_PREFIX, "/etc/pki/", NULL },
	{ KS_PATTERN_PREFIX, "/var/lib/kubelet/pki/", NULL },
	{ KS_PATTERN_EXACT, "/etc/crontab", NULL },
	{ KS_PATTERN_PREFIX, "/var/spool/cron/", NULL },
};

static double ns_per_open(long iterations)
{
	struct timespec start, end;
	size_t npaths = sizeof(ordinary_paths) / sizeof(ordinary_paths[0]);

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (long i = 0; i < iterations; i++) {
		int fd = openat(AT_FDCWD, ordinary_paths[i % npaths], O_RDONLY);
		if (fd >= 0)
			close(fd);
	}
	clock_gettime(CLOCK_MONOTONIC, &end);
	return ((end.tv_sec - start.tv_sec) * 1e9 + (end.tv_nsec - start.tv_nsec)) / iterations;
}

/* best of several runs: the least disturbed by other work on the machine */
static double best_ns_per_open(long iterations)
{
	double best = 1e18;

	for (int run = 0; run < 5; run++) {
		double ns = ns_per_open(iterations);
		if (ns < best)
			best = ns;
	}
	return best;
}

/* mean ns per run of a program, from the kernel's run-time statistics */
static double ns_per_run(int prog_fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len) || info.run_cnt == 0)
		return -1;
	return (double)info.run_time_ns / info.run_cnt;
}

static int empty_prog_fd = -1;

static int attach_empty_program(void)
{
	struct bpf_insn insns[] = {
		{ .code = 0xb7, .dst_reg = 0, .imm = 0 }, /* r0 = 0 */
		{ .code = 0x95 },			  /* exit */
	};
	char id_text[32] = {};
	int prog = bpf_prog_load(BPF_PROG_TYPE_TRACEPOINT, "empty_openat", "GPL", insns, 2, NULL);
	int id_fd = open("/sys/kernel/tracing/events/syscalls/sys_exit_openat/id", O_RDONLY);
	struct perf_event_attr attr = { .type = PERF_TYPE_TRACEPOINT, .size = sizeof(attr), .sample_period = 1 };
	int event;

	empty_prog_fd = prog;
	if (prog < 0 || id_fd < 0 || read(id_fd, id_text, sizeof(id_text) - 1) <= 0)
		return -1;
	attr.config = strtoull(id_text, NULL, 10);
	event = syscall(SYS_perf_event_open, &attr, -1, 0, -1, 0);
	if (event < 0 || ioctl(event, PERF_EVENT_IOC_SET_BPF, prog) || ioctl(event, PERF_EVENT_IOC_ENABLE, 0))
		return -1;
	return event;
}

int main(int argc, char **argv)
{
	long iterations = argc > 2 ? atol(argv[2]) : 200000;

	if (argc < 2) {
		fprintf(stderr, "usage: %s OBJECT [ITERATIONS]\n", argv[0]);
		return 2;
	}
	libbpf_set_print(NULL);
	int stats = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (stats < 0) {
		fprintf(stderr, "cannot enable BPF run-time stats: %s\n", strerror(errno));
		return 1;
	}
	double none = best_ns_per_open(iterations);

	int empty = attach_empty_program();
	if (empty < 0) {
		fprintf(stderr, "cannot attach the empty program: %s\n", strerror(errno));
		return 1;
	}
	double with_empty = best_ns_per_open(iterations);
	double empty_run = ns_per_run(empty_prog_fd);
	close(empty);

	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	struct bpf_program *prog;
	if (!obj)
		return 1;
	bpf_object__for_each_program(prog, obj)
		bpf_program__set_autoload(prog, strcmp(bpf_program__name(prog), "sys_exit_openat__tp") == 0);
	if (bpf_object__load(obj)) {
		fprintf(stderr, "load failed: %s\n", strerror(errno));
		return 1;
	}
	int patterns_fd = bpf_object__find_map_fd_by_name(obj, "path_patterns");
	struct ks_path_pattern configured[sizeof(patterns) / sizeof(patterns[0])] = {};
	for (__u32 i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
		struct ks_path_pattern *p = &configured[i];
		p->kind = patterns[i].kind;
		p->prefix_len = strlen(patterns[i].prefix);
		memcpy(p->prefix, patterns[i].prefix, p->prefix_len);
		if (patterns[i].second) {
			p->second_len = strlen(patterns[i].second);
			memcpy(p->second, patterns[i].second, p->second_len);
		}
		bpf_map_update_elem(patterns_fd, &i, p, BPF_ANY);
	}
	if (ks_path_index_write(obj, configured, sizeof(patterns) / sizeof(patterns[0]))) {
		fprintf(stderr, "cannot write the path pattern index\n");
		return 1;
	}
	struct bpf_link *link = bpf_program__attach(bpf_object__find_program_by_name(obj, "sys_exit_openat__tp"));
	if (!link) {
		fprintf(stderr, "attach failed: %s\n", strerror(errno));
		return 1;
	}
	double with_filter = best_ns_per_open(iterations);
	double filter_run = ns_per_run(bpf_program__fd(bpf_object__find_program_by_name(obj, "sys_exit_openat__tp")));
	bpf_link__destroy(link);
	bpf_object__close(obj);

	printf("openat+close, %ld iterations, best of 5, %zu patterns, no path matching:\n", iterations,
	       sizeof(patterns) / sizeof(patterns[0]));
	printf("  no program      %8.1f ns\n  empty program   %8.1f ns\n  path filter     %8.1f ns\n", none,
	       with_empty, with_filter);
	printf("  filter overhead / empty-program overhead: %.2f  (filter: +%.1f ns, empty: +%.1f ns)\n",
	       (with_filter - none) / (with_empty - none), with_filter - none, with_empty - none);
	printf("time inside the program per run (kernel stats): empty %.1f ns, path filter %.1f ns, ratio %.2f\n",
	       empty_run, filter_run, filter_run / empty_run);
	return 0;
}
