/* SPDX-License-Identifier: Apache-2.0 */
/* KS-ESC-017: execute a copy of ourselves from a memfd (fileless execution); the copy only prints and exits. */
#include "self_copy.h"
#include <sys/mman.h>

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--child") == 0) {
		puts("memfd_exec: running from a memfd: ok");
		return 0;
	}
	int fd = memfd_create("ks-sim", MFD_CLOEXEC);
	if (fd < 0)
		return ks_setup_failed("memfd_exec", "memfd_create");
	if (ks_copy_self(fd) < 0)
		return ks_setup_failed("memfd_exec", "copying /proc/self/exe");
	char *child_argv[] = { "memfd_exec", "--child", NULL };
	char *envp[] = { NULL };
	fexecve(fd, child_argv, envp);
	return ks_report("memfd_exec", "fexecve", -1);
}
