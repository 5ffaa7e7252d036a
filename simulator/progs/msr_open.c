/* SPDX-License-Identifier: Apache-2.0 */
/* KS-MIN-001: open CPU 0's model-specific registers read-only (miners rewrite MSRs for RandomX); nothing is read. */
#include "sim.h"
#include <fcntl.h>
#include <unistd.h>

int main(void)
{
	int fd = open("/dev/cpu/0/msr", O_RDONLY | O_CLOEXEC);
	ks_report("msr_open", "/dev/cpu/0/msr", fd);
	if (fd >= 0)
		close(fd);
	return 0;
}
