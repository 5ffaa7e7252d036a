/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Review demonstration (enforcement bypass): a #! script executed from a memfd. The exec's mm->exe_file is the
 * interpreter (/bin/sh), not the memfd, so the memfd test never sees the fileless payload, which runs.
 */
#include "sim.h"
#include <sys/mman.h>
#include <unistd.h>

int main(void)
{
	static const char script[] = "#!/bin/sh\necho 'bypass_memfd_script: reached (script from a memfd)'\n";
	int fd = memfd_create("ks-script", 0);
	if (fd < 0 || write(fd, script, sizeof(script) - 1) != (ssize_t)(sizeof(script) - 1))
		return ks_setup_failed("bypass_memfd_script", "memfd");
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	char *child_argv[] = { "payload", NULL };
	char *envp[] = { NULL };
	execve(path, child_argv, envp);
	return ks_report("bypass_memfd_script", "execve", -1);
}
