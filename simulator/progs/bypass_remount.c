/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Review demonstration (enforcement bypass): mount(NULL, DIR, NULL, MS_REMOUNT, OPTIONS). With no filesystem type
 * the enforce_fstypes lookup finds nothing, yet a remount of a cgroup v1 hierarchy with release_agent=... sets its
 * release agent without any open of the release_agent file. Usage: bypass_remount DIR OPTIONS
 */
#include "sim.h"
#include <sys/mount.h>

int main(int argc, char **argv)
{
	if (argc != 3)
		return ks_usage(argv[0], "DIR OPTIONS");
	if (mount(NULL, argv[1], NULL, MS_REMOUNT, argv[2]) < 0)
		return ks_report("bypass_remount", "mount", -1), 1;
	printf("bypass_remount: %s remounted with %s: reached\n", argv[1], argv[2]);
	return 0;
}
