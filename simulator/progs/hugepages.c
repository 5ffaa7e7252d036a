/* SPDX-License-Identifier: Apache-2.0 */
/* KS-MIN-001: open /proc/sys/vm/nr_hugepages for writing (read-only /proc/sys in a container); nothing is written. */
#include "sim.h"
#include <fcntl.h>
#include <unistd.h>

int main(void)
{
	int fd = open("/proc/sys/vm/nr_hugepages", O_WRONLY | O_CLOEXEC);
	ks_report("hugepages", "/proc/sys/vm/nr_hugepages", fd);
	if (fd >= 0)
		close(fd);
	return 0;
}
