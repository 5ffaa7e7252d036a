/* SPDX-License-Identifier: Apache-2.0 */
/* KS-ESC-017: execute a copy of ourselves from /dev/shm (or the given directory); the copy deletes itself. */
#include "self_copy.h"
#include <limits.h>
#include <sys/stat.h>

int main(int argc, char **argv)
{
	if (argc > 2 && strcmp(argv[1], "--child") == 0) {
		unlink(argv[2]);
		puts("shm_exec: running from a scratch directory: ok");
		return 0;
	}
	const char *dir = argc > 1 ? argv[1] : "/dev/shm";
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/ks-sim-%d", dir, (int)getpid());
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
	if (fd < 0)
		return ks_setup_failed("shm_exec", path);
	int copied = ks_copy_self(fd);
	close(fd);
	if (copied < 0) {
		unlink(path);
		return ks_setup_failed("shm_exec", "copying /proc/self/exe");
	}
	char *child_argv[] = { path, "--child", path, NULL };
	char *envp[] = { NULL };
	execve(path, child_argv, envp);
	ks_report("shm_exec", path, -1); /* e.g. EACCES on a noexec /dev/shm: the exec attempt still happened */
	unlink(path);
	return 0;
}
