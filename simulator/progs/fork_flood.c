/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fork_flood SECONDS WORKERS: WORKERS processes fork children that exit at once, for SECONDS. Each child is a fork
 * and an exit record, far past the agent's per-container rate for hot records (kernel.hotRecordsPerSecond), which
 * is what a flood meant to hide an escape behind looks like; the kernel drops the excess and the agent reports it.
 */
#include "sim.h"

#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long flood(double until)
{
	long children = 0;

	while (now_seconds() < until) {
		pid_t child = fork();

		if (child == 0)
			_exit(0);
		if (child < 0)
			continue;
		waitpid(child, NULL, 0);
		children++;
	}
	return children;
}

int main(int argc, char **argv)
{
	int seconds = argc > 1 ? atoi(argv[1]) : 0;
	int workers = argc > 2 ? atoi(argv[2]) : 0;
	double until;
	long children;

	if (argc != 3 || seconds <= 0 || workers <= 0 || workers > 64)
		return ks_usage("fork_flood", "SECONDS WORKERS (1-64)");
	until = now_seconds() + seconds;
	for (int i = 1; i < workers; i++) {
		pid_t worker = fork();

		if (worker < 0)
			return ks_setup_failed("fork_flood", "fork a worker");
		if (worker == 0)
			_exit(flood(until) > 0 ? 0 : 1);
	}
	children = flood(until);
	while (wait(NULL) > 0)
		;
	printf("fork_flood: %ld children from this worker in %d s: ok\n", children, seconds);
	return 0;
}
