/* SPDX-License-Identifier: Apache-2.0 */
/* KS-ESC-014: userfaultfd(2) as a non-root user (drops root first); closed at once. */
#include "drop_root.h"
#include <fcntl.h>
#include <sys/syscall.h>

int main(void)
{
	if (ks_drop_root("userfaultfd"))
		return 2;
	long fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	ks_report("userfaultfd", "userfaultfd", fd);
	if (fd >= 0)
		close(fd);
	return 0;
}
