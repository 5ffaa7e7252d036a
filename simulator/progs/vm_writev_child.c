/* SPDX-License-Identifier: Apache-2.0 */
/* KS-ESC-009: process_vm_writev into our own child's copy of a buffer, then end the child. */
#include "sim.h"
#include <signal.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static char buffer[16] = "original";

int main(void)
{
	pid_t child = fork();
	if (child < 0)
		return ks_setup_failed("vm_writev_child", "fork");
	if (child == 0) {
		for (;;)
			pause();
	}
	char text[16] = "written";
	struct iovec local = { .iov_base = text, .iov_len = sizeof(text) };
	struct iovec remote = { .iov_base = buffer, .iov_len = sizeof(buffer) }; /* same address after fork */
	ks_report("vm_writev_child", "process_vm_writev", process_vm_writev(child, &local, 1, &remote, 1, 0));
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	return 0;
}
