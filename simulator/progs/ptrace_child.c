/* SPDX-License-Identifier: Apache-2.0 */
/* KS-ESC-009: PTRACE_ATTACH to our own child, then detach and end it. */
#include "sim.h"
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	pid_t child = fork();
	if (child < 0)
		return ks_setup_failed("ptrace_child", "fork");
	if (child == 0) {
		for (;;)
			pause();
	}
	long rc = ptrace(PTRACE_ATTACH, child, NULL, NULL);
	ks_report("ptrace_child", "PTRACE_ATTACH", rc);
	if (rc == 0) {
		waitpid(child, NULL, 0);
		ptrace(PTRACE_DETACH, child, NULL, NULL);
	}
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	return 0;
}
