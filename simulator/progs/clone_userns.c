/* SPDX-License-Identifier: Apache-2.0 */
/*
 * KS-ESC-001 through clone(2) instead of unshare(2): the child is born in a new user namespace and prints
 * "clone_userns: child ran"; the parent waits for it and reports the clone.
 */
#include "sim.h"
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static char child_stack[64 * 1024];

static int child(void *arg)
{
	(void)arg;
	puts("clone_userns: child ran");
	fflush(stdout);
	return 0;
}

int main(void)
{
	long pid = clone(child, child_stack + sizeof(child_stack), CLONE_NEWUSER | SIGCHLD, NULL);

	if (pid > 0)
		waitpid(pid, NULL, 0);
	return ks_report("clone_userns", "clone(CLONE_NEWUSER)", pid);
}
