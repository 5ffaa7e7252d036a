/* SPDX-License-Identifier: Apache-2.0 */
/*
 * KS-ESC-002 without a namespace file: pidfd_open(<pid>), then setns(pidfd, CLONE_NEWNS) joins that process's mount
 * namespace (Linux 5.8+). No /proc/<pid>/ns path is opened, so nothing names the namespace but the process.
 */
#include "sim.h"
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 2)
		return ks_usage(argv[0], "<pid>");
	int fd = syscall(SYS_pidfd_open, atoi(argv[1]), 0);
	if (fd < 0)
		return ks_setup_failed("setns_pidfd", "pidfd_open");
	ks_report("setns_pidfd", "setns(pidfd, CLONE_NEWNS)", setns(fd, CLONE_NEWNS));
	close(fd);
	return 0;
}
