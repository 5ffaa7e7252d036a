/* SPDX-License-Identifier: Apache-2.0 */
/* KS-ESC-001: unshare(CLONE_NEWUSER), then write the new namespace's setgroups and uid_map. */
#include "sim.h"
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	if (fd < 0) {
		ks_report("userns_uidmap", path, -1);
		return;
	}
	ks_report("userns_uidmap", path, write(fd, text, strlen(text)));
	close(fd);
}

int main(void)
{
	char map[64];
	unsigned uid = getuid();

	ks_report("userns_uidmap", "unshare(CLONE_NEWUSER)", unshare(CLONE_NEWUSER));
	/* Maps only ourselves to root inside the new namespace: grants nothing outside it. */
	write_file("/proc/self/setgroups", "deny");
	snprintf(map, sizeof(map), "0 %u 1\n", uid);
	write_file("/proc/self/uid_map", map);
	return 0;
}
