/* SPDX-License-Identifier: Apache-2.0 */
/*
 * KS-ESC-004: open a cgroup v1 release_agent for writing; nothing is ever written. Without an argument it uses
 * the first /sys/fs/cgroup/<controller>/release_agent that exists (cgroup v1 only has it at hierarchy roots).
 */
#include "sim.h"
#include <fcntl.h>
#include <glob.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *path = "/sys/fs/cgroup/rdma/release_agent";
	glob_t found = { 0 };
	if (argc > 1)
		path = argv[1];
	else if (glob("/sys/fs/cgroup/*/release_agent", 0, NULL, &found) == 0 && found.gl_pathc > 0)
		path = found.gl_pathv[0];
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ks_report("release_agent", path, fd);
	if (fd >= 0)
		close(fd);
	globfree(&found);
	return 0;
}
