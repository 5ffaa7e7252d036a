/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Opens a path read-only or for writing and closes it without reading or writing a byte: core_pattern,
 * /proc/self/exe, /dev/mem, kubelet credentials ... (KS-ESC-005, -012, -013, -015).
 */
#include "sim.h"
#include <fcntl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3 || (strcmp(argv[1], "r") && strcmp(argv[1], "w")))
		return ks_usage(argv[0], "r|w <path>");
	int fd = open(argv[2], (argv[1][0] == 'w' ? O_WRONLY : O_RDONLY) | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	ks_report("open_path", argv[2], fd);
	if (fd >= 0)
		close(fd);
	return 0;
}
