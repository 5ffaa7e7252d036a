/* SPDX-License-Identifier: Apache-2.0 */
/* KS-ESC-010: perf_event_open of a software CPU clock counter on ourselves; closed at once. */
#include "sim.h"
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
	struct perf_event_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = PERF_TYPE_SOFTWARE;
	attr.config = PERF_COUNT_SW_CPU_CLOCK;
	attr.disabled = 1;
	attr.exclude_kernel = 1;
	long fd = syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
	ks_report("perf_event_open", "perf_event_open", fd);
	if (fd >= 0)
		close(fd);
	return 0;
}
