/* SPDX-License-Identifier: Apache-2.0 */
/*
 * clone3() while another thread flips CLONE_NEWUSER in the same clone_args: the kernel program reads the flags at
 * syscall entry, the kernel copies them a moment later, and the two can differ (a time-of-check/time-of-use race).
 * Runs ROUNDS racers, each a process of its own (enforcement kills the caller); a child that finds itself in a new
 * user namespace prints "reached". Usage: clone3_flag_race [ROUNDS] (default 20).
 */
#include "sim.h"
#include <linux/sched.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define CALLS_PER_RACER 2000

static struct clone_args args = { .exit_signal = SIGCHLD };
static volatile int racing = 1;

static void *flip(void *unused)
{
	(void)unused;
	while (racing)
		__atomic_store_n(&args.flags, args.flags ^ CLONE_NEWUSER, __ATOMIC_RELAXED);
	return NULL;
}

static ino_t user_ns(void)
{
	struct stat st;
	return stat("/proc/self/ns/user", &st) == 0 ? st.st_ino : 0;
}

static int racer(void)
{
	ino_t own = user_ns();
	pthread_t flipper;
	if (pthread_create(&flipper, NULL, flip, NULL) != 0)
		return ks_setup_failed("clone3_flag_race", "thread");
	for (int i = 0; i < CALLS_PER_RACER; i++) {
		long pid = syscall(SYS_clone3, &args, sizeof(args));
		if (pid == 0) {
			if (user_ns() != own) {
				printf("clone3_flag_race: reached (child in a new user namespace)\n");
				fflush(stdout);
			}
			_exit(0);
		}
		if (pid > 0)
			waitpid(pid, NULL, 0);
	}
	racing = 0;
	pthread_join(flipper, NULL);
	return 0;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 20, killed = 0;
	for (int round = 0; round < rounds; round++) {
		pid_t pid = fork();
		if (pid == 0)
			_exit(racer());
		int status = 0;
		waitpid(pid, &status, 0);
		if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
			killed++;
	}
	printf("clone3_flag_race: %d of %d racers killed\n", killed, rounds);
	return 0;
}
