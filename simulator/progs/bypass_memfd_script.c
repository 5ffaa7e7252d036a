/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Review demonstration (enforcement bypass): a #! script executed from a memfd. The exec's mm->exe_file is the
 * interpreter (/bin/sh), not the memfd, so a test of the executed file alone never sees the fileless payload.
 * Usage: bypass_memfd_script [execveat]: execve("/proc/self/fd/N") (default), or execveat(N, "", AT_EMPTY_PATH),
 * which the kernel names /dev/fd/N for the interpreter.
 */
#include "sim.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	static const char script[] = "#!/bin/sh\necho 'bypass_memfd_script: reached (script from a memfd)'\n";
	int fd = memfd_create("ks-script", 0);
	if (fd < 0 || write(fd, script, sizeof(script) - 1) != (ssize_t)(sizeof(script) - 1))
		return ks_setup_failed("bypass_memfd_script", "memfd");
	char *child_argv[] = { "payload", NULL };
	char *envp[] = { NULL };
	if (argc > 1 && strcmp(argv[1], "execveat") == 0) {
		syscall(SYS_execveat, fd, "", child_argv, envp, AT_EMPTY_PATH);
		return ks_report("bypass_memfd_script", "execveat", -1);
	}
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	execve(path, child_argv, envp);
	return ks_report("bypass_memfd_script", "execve", -1);
}
