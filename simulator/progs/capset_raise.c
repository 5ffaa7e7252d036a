/* SPDX-License-Identifier: Apache-2.0 */
/* KS-ESC-016: capset asking for CAP_SYS_ADMIN as a non-root user without it (refused with EPERM). */
#include "drop_root.h"
#include <linux/capability.h>
#include <sys/syscall.h>

int main(void)
{
	if (ks_drop_root("capset_raise"))
		return 2;
	struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof(data));
	data[0].effective = data[0].permitted = 1u << CAP_SYS_ADMIN;
	ks_report("capset_raise", "capset(CAP_SYS_ADMIN)", syscall(SYS_capset, &header, data));
	return 0;
}
