// SPDX-License-Identifier: Apache-2.0
/*
 * Makes kernel events cheaply, for test/kernel*.test.ts and bench/kernel.ts:
 *
 *   loadgen [--wait] unshare N          N x unshare(CLONE_NEWUTS): one namespace record each
 *   loadgen [--wait] unshare-every US N N x unshare(CLONE_NEWUTS), one every US microseconds (a trickle)
 *   loadgen [--wait] open PATH N        N x openat(AT_FDCWD, PATH, O_RDONLY) (closing what opens)
 *   loadgen [--wait] getppid N          N x getppid(): the cheapest syscall the fixture object reports
 *   loadgen [--wait] getppid-storm THREADS SECONDS
 *                                       getppid() as fast as THREADS threads can for SECONDS, then prints
 *                                       `calls=N`: exactly how many it made (one fixture record each)
 *   loadgen time-open PATH N            prints the mean nanoseconds of one openat(PATH) over N calls
 *   loadgen time-open-unshared PATH N   the same from a new mount namespace whose root is an overlay of the host's
 *                                       (chroot), as a container's process opens a file of its image
 *   loadgen time-getppid N              prints the mean nanoseconds of one getppid() over N calls (from a new mount
 *                                       namespace, so a program that skips host processes does not stop early)
 *   loadgen time-enforced CALL N        in a new mount namespace (so enforcement's host check passes), prints the
 *                                       mean nanoseconds of one CALL over N: setns (into its own uts namespace),
 *                                       mount (of proc on a missing target: ENOENT), bpf (BPF_PROG_LOAD, no attr:
 *                                       EFAULT), unshare (CLONE_NEWUSER with CLONE_PTRACE, which unshare does not
 *                                       take: EINVAL, the user-namespace check all the same), exec (posix_spawn of
 *                                       /bin/true and its wait), fork (fork, _exit in the child, wait), open (openat
 *                                       of /usr/lib/os-release, an ordinary file, and close). Each is a call an
 *                                       enforcement check looks at (bench/kernel.ts).
 *   loadgen hold-bpf-stats              turns the kernel's BPF run-time statistics on (BPF_ENABLE_STATS), prints
 *                                       `on`, and keeps them on until stdin closes. The statistics are
 *                                       reference-counted, unlike the kernel.bpf_stats_enabled sysctl, which
 *                                       another bench putting it back to 0 turns off under this one.
 *
 * --wait blocks until a byte arrives on stdin, so the caller can learn the pid and configure the kernel side
 * for it before the first event. Exits non-zero with a one-line message on bad arguments or a failing call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/bpf.h>
#include <time.h>
#include <unistd.h>

static long parse_count(const char *text)
{
	char *end;
	long count = strtol(text, &end, 10);

	if (*text == '\0' || *end != '\0' || count <= 0) {
		fprintf(stderr, "loadgen: count must be a positive integer, got '%s'\n", text);
		exit(2);
	}
	return count;
}

static void open_once(const char *path)
{
	int fd = openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC);

	if (fd >= 0)
		close(fd);
}

/*
 * Into a new mount namespace whose root is an overlay of the host's / (upper layer on a tmpfs), as a container's
 * image is: what the open filter treats as a container's own files. The tmpfs is mounted over /tmp inside the
 * namespace, so nothing is left on the host when the process exits.
 */
static int enter_overlay_root(void)
{
	if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount("tmpfs", "/tmp", "tmpfs", 0, NULL) != 0 || mkdir("/tmp/upper", 0700) != 0 ||
	    mkdir("/tmp/work", 0700) != 0 || mkdir("/tmp/merged", 0700) != 0 ||
	    mount("overlay", "/tmp/merged", "overlay", 0, "lowerdir=/,upperdir=/tmp/upper,workdir=/tmp/work") != 0 ||
	    chroot("/tmp/merged") != 0 || chdir("/") != 0) {
		perror("loadgen: an overlay root in a new mount namespace");
		return -1;
	}
	return 0;
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static atomic_bool storm_over;

/* Counts in the thread, not with a shared atomic: the count must be exact and must not slow the calls down. */
static void *storm_thread(void *calls)
{
	long made = 0;

	while (!atomic_load_explicit(&storm_over, memory_order_relaxed)) {
		syscall(SYS_getppid);
		made++;
	}
	*(long *)calls = made;
	return NULL;
}

static int getppid_storm(long threads, long seconds)
{
	pthread_t ids[threads];
	long calls[threads];
	long total = 0;
	struct timespec duration = { .tv_sec = seconds };

	for (long i = 0; i < threads; i++) {
		int err = pthread_create(&ids[i], NULL, storm_thread, &calls[i]);

		if (err != 0) {
			fprintf(stderr, "loadgen: pthread_create: %s\n", strerror(err));
			return 1;
		}
	}
	while (nanosleep(&duration, &duration) != 0 && errno == EINTR)
		;
	atomic_store(&storm_over, true);
	for (long i = 0; i < threads; i++) {
		pthread_join(ids[i], NULL);
		total += calls[i];
	}
	printf("calls=%ld\n", total);
	return 0;
}

extern char **environ;

/* Fails the run rather than timing a call that did not happen: a failed fork or exec would be much cheaper. */
static long wait_child(pid_t pid)
{
	int status;

	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "loadgen: the child did not run and exit 0\n");
		exit(1);
	}
	return 0;
}

static long spawn_true(void)
{
	char *argv[] = { "/bin/true", NULL };
	pid_t pid;
	int err = posix_spawn(&pid, argv[0], NULL, NULL, argv, environ);

	if (err != 0) {
		fprintf(stderr, "loadgen: posix_spawn /bin/true: %s\n", strerror(err));
		exit(1);
	}
	return wait_child(pid);
}

static long fork_and_wait(void)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	return wait_child(pid);
}

static const char *const ENFORCED_CALLS[] = { "setns", "mount", "bpf", "unshare", "exec", "fork", "open" };

static long enforced_call(const char *call, int uts_fd)
{
	if (strcmp(call, "setns") == 0)
		return setns(uts_fd, CLONE_NEWUTS);
	if (strcmp(call, "mount") == 0)
		return syscall(SYS_mount, "none", "/nonexistent/kubesentry-bench", "proc", 0UL, NULL);
	if (strcmp(call, "unshare") == 0)
		return syscall(SYS_unshare, CLONE_NEWUSER | CLONE_PTRACE);
	if (strcmp(call, "exec") == 0)
		return spawn_true();
	if (strcmp(call, "fork") == 0)
		return fork_and_wait();
	if (strcmp(call, "open") == 0) {
		open_once("/usr/lib/os-release");
		return 0;
	}
	return syscall(SYS_bpf, 5 /* BPF_PROG_LOAD */, NULL, 0);
}

static int time_enforced(const char *call, long count)
{
	long long start;
	int uts_fd;
	bool known = false;

	for (size_t i = 0; i < sizeof(ENFORCED_CALLS) / sizeof(ENFORCED_CALLS[0]); i++)
		known |= strcmp(call, ENFORCED_CALLS[i]) == 0;
	if (!known) {
		fprintf(stderr, "loadgen: time-enforced takes setns, mount, bpf, unshare, exec, fork or open, got '%s'\n", call);
		return 2;
	}
	if (unshare(CLONE_NEWNS) != 0) {
		perror("loadgen: unshare(CLONE_NEWNS)");
		return 1;
	}
	uts_fd = open("/proc/self/ns/uts", O_RDONLY | O_CLOEXEC);
	if (uts_fd < 0) {
		perror("loadgen: /proc/self/ns/uts");
		return 1;
	}
	for (long i = 0; i < count / 10 + 1; i++)
		enforced_call(call, uts_fd);
	start = now_ns();
	for (long i = 0; i < count; i++)
		enforced_call(call, uts_fd);
	printf("%.1f\n", (double)(now_ns() - start) / count);
	return 0;
}

int main(int argc, char **argv)
{
	int arg = 1;

	if (arg < argc && strcmp(argv[arg], "--wait") == 0) {
		char byte;

		arg++;
		if (read(0, &byte, 1) != 1) {
			fprintf(stderr, "loadgen: stdin closed before the go byte\n");
			return 2;
		}
	}
	if (arg + 2 == argc && strcmp(argv[arg], "unshare") == 0) {
		long count = parse_count(argv[arg + 1]);

		for (long i = 0; i < count; i++) {
			if (unshare(CLONE_NEWUTS) != 0) {
				fprintf(stderr, "loadgen: unshare(CLONE_NEWUTS): %s\n", strerror(errno));
				return 1;
			}
		}
		return 0;
	}
	if (arg + 3 == argc && strcmp(argv[arg], "unshare-every") == 0) {
		long gap_us = parse_count(argv[arg + 1]);
		long count = parse_count(argv[arg + 2]);
		struct timespec gap = { .tv_sec = gap_us / 1000000, .tv_nsec = (gap_us % 1000000) * 1000 };

		for (long i = 0; i < count; i++) {
			if (i > 0)
				nanosleep(&gap, NULL);
			if (unshare(CLONE_NEWUTS) != 0) {
				fprintf(stderr, "loadgen: unshare(CLONE_NEWUTS): %s\n", strerror(errno));
				return 1;
			}
		}
		return 0;
	}
	if (arg + 2 == argc && strcmp(argv[arg], "getppid") == 0) {
		long count = parse_count(argv[arg + 1]);

		/* syscall() rather than getppid() so no libc could ever answer from a cache */
		for (long i = 0; i < count; i++)
			syscall(SYS_getppid);
		return 0;
	}
	if (arg + 3 == argc && strcmp(argv[arg], "getppid-storm") == 0)
		return getppid_storm(parse_count(argv[arg + 1]), parse_count(argv[arg + 2]));
	if (arg + 3 == argc && strcmp(argv[arg], "open") == 0) {
		long count = parse_count(argv[arg + 2]);

		for (long i = 0; i < count; i++)
			open_once(argv[arg + 1]);
		return 0;
	}
	if (arg + 1 == argc && strcmp(argv[arg], "hold-bpf-stats") == 0) {
		union bpf_attr attr;
		char byte;
		int fd;

		memset(&attr, 0, sizeof(attr));
		attr.enable_stats.type = BPF_STATS_RUN_TIME;
		fd = syscall(SYS_bpf, BPF_ENABLE_STATS, &attr, sizeof(attr));
		if (fd < 0) {
			fprintf(stderr, "loadgen: BPF_ENABLE_STATS: %s\n", strerror(errno));
			return 1;
		}
		printf("on\n");
		fflush(stdout);
		while (read(0, &byte, 1) > 0)
			;
		return 0;
	}
	if (arg + 3 == argc && (strcmp(argv[arg], "time-open") == 0 || strcmp(argv[arg], "time-open-unshared") == 0)) {
		long count = parse_count(argv[arg + 2]);
		long long start;

		if (strcmp(argv[arg], "time-open-unshared") == 0 && enter_overlay_root() != 0)
			return 1;

		for (long i = 0; i < count / 10 + 1; i++) /* warm the dentry cache and the branch predictors */
			open_once(argv[arg + 1]);
		start = now_ns();
		for (long i = 0; i < count; i++)
			open_once(argv[arg + 1]);
		printf("%.1f\n", (double)(now_ns() - start) / count);
		return 0;
	}
	if (arg + 2 == argc && strcmp(argv[arg], "time-getppid") == 0) {
		long count = parse_count(argv[arg + 1]);
		long long start;

		if (unshare(CLONE_NEWNS) != 0) {
			perror("loadgen: unshare(CLONE_NEWNS)");
			return 1;
		}
		for (long i = 0; i < count / 10 + 1; i++)
			syscall(SYS_getppid);
		start = now_ns();
		for (long i = 0; i < count; i++)
			syscall(SYS_getppid);
		printf("%.1f\n", (double)(now_ns() - start) / count);
		return 0;
	}
	if (arg + 3 == argc && strcmp(argv[arg], "time-enforced") == 0)
		return time_enforced(argv[arg + 1], parse_count(argv[arg + 2]));
	fprintf(stderr, "usage: loadgen time-enforced setns|mount|bpf|unshare|exec|fork|open N | [--wait] unshare N | [--wait] unshare-every US N | [--wait] getppid N | [--wait] getppid-storm THREADS SECONDS | [--wait] open PATH N | time-open[-unshared] PATH N | time-getppid N | hold-bpf-stats\n");
	return 2;
}
