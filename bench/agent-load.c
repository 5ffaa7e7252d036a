// SPDX-License-Identifier: Apache-2.0
/*
 * Steady load for bench/agent.ts: kernel events the agent receives and decodes, plus detections, at fixed rates.
 *
 *   agent-load OPENS_PER_S DETECTIONS_PER_S SECONDS PATH
 *
 * Opens: openat(PATH, O_RDONLY) OPENS_PER_S times a second. PATH is one the kernel filter reports (a pattern of
 * some rule) but no rule raises for a read-only open, so each is one record the agent decodes and dismisses.
 * Detections: a child process per detection calls unshare(CLONE_NEWUSER) and exits (KS-ESC-001 when this runs in
 * a container cgroup). A child each, because a process can nest user namespaces only 32 deep, and because the rule
 * raises once per process.
 *
 * Work is paced in 1 ms ticks against absolute deadlines, so a late tick catches up instead of lowering the rate.
 * Prints one line at the end: `opens=N detections=M failed=K seconds=S` (failed: children whose unshare failed).
 * Exits non-zero with a one-line message on bad arguments.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TICK_NS 1000000LL

static double parse_number(const char *text, const char *what)
{
	char *end;
	double value = strtod(text, &end);

	if (*text == '\0' || *end != '\0' || value < 0) {
		fprintf(stderr, "agent-load: %s must be a non-negative number, got '%s'\n", what, text);
		exit(2);
	}
	return value;
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long reaped_ok, reaped_failed;

static void reap(int options)
{
	int status;

	while (waitpid(-1, &status, options) > 0) {
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			reaped_ok++;
		else
			reaped_failed++;
	}
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: agent-load OPENS_PER_S DETECTIONS_PER_S SECONDS PATH\n");
		return 2;
	}
	double opens_per_s = parse_number(argv[1], "OPENS_PER_S");
	double detections_per_s = parse_number(argv[2], "DETECTIONS_PER_S");
	double seconds = parse_number(argv[3], "SECONDS");
	const char *path = argv[4];
	long long start = now_ns();
	long long end = start + (long long)(seconds * 1e9);
	long opens = 0, forks = 0;

	for (long long tick = start; tick < end; tick += TICK_NS) {
		struct timespec due = { .tv_sec = tick / 1000000000LL, .tv_nsec = tick % 1000000000LL };

		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, NULL);
		double elapsed = (double)(now_ns() - start) / 1e9;
		if (elapsed > seconds)
			elapsed = seconds;
		long opens_due = (long)(elapsed * opens_per_s);
		long forks_due = (long)(elapsed * detections_per_s);

		for (; opens < opens_due; opens++) {
			int fd = openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC);

			if (fd >= 0)
				close(fd);
		}
		for (; forks < forks_due; forks++) {
			pid_t pid = fork();

			if (pid == 0)
				_exit(unshare(CLONE_NEWUSER) == 0 ? 0 : 1);
			if (pid < 0) {
				fprintf(stderr, "agent-load: fork: errno %d\n", errno);
				return 1;
			}
		}
		reap(WNOHANG);
	}
	reap(0);
	printf("opens=%ld detections=%ld failed=%ld seconds=%.3f\n", opens, reaped_ok, reaped_failed,
	       (double)(now_ns() - start) / 1e9);
	return 0;
}
