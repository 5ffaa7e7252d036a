/* SPDX-License-Identifier: Apache-2.0 */
/* KS-ESC-002: setns(2) into the namespace a path names (e.g. /proc/1/ns/mnt). */
#include "sim.h"
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 2)
		return ks_usage(argv[0], "/proc/<pid>/ns/<type>");
	int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ks_setup_failed("setns_path", argv[1]);
	ks_report("setns_path", "setns", setns(fd, 0));
	close(fd);
	return 0;
}
