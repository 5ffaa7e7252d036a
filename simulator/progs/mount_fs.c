/* SPDX-License-Identifier: Apache-2.0 */
/* KS-ESC-004 / KS-ESC-006: mount a proc, sysfs, cgroup or cgroup2 filesystem on a scratch directory, then unmount. */
#include "sim.h"
#include <sys/mount.h>
#include <sys/stat.h>

int main(int argc, char **argv)
{
	if (argc != 3)
		return ks_usage(argv[0], "proc|sysfs|cgroup|cgroup2 <target-dir>");
	const char *fstype = argv[1], *target = argv[2];
	if (strcmp(fstype, "proc") && strcmp(fstype, "sysfs") && strcmp(fstype, "cgroup") && strcmp(fstype, "cgroup2"))
		return ks_usage(argv[0], "proc|sysfs|cgroup|cgroup2 <target-dir>");
	if (mkdir(target, 0700) < 0 && errno != EEXIST)
		return ks_setup_failed("mount_fs", target);
	/* cgroup v1 needs a controller; "rdma" is the one least likely to be in use. */
	const char *data = strcmp(fstype, "cgroup") == 0 ? "rdma" : NULL;
	long rc = mount(fstype, target, fstype, MS_NOSUID | MS_NODEV | MS_NOEXEC, data);
	ks_report("mount_fs", fstype, rc);
	if (rc == 0)
		umount2(target, MNT_DETACH);
	return 0;
}
