/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Review demonstration (enforcement bypass): the same system calls through the 32-bit entry (int 0x80). On x86-64
 * the syscalls/sys_enter_* tracepoints ignore compat system calls (ARCH_TRACE_IGNORE_COMPAT_SYSCALLS), so no
 * program sees them. Modes:
 *   unshare            unshare(CLONE_NEWUSER), then print "reached"
 *   mount FSTYPE DIR   mount(FSTYPE, DIR, FSTYPE, 0, NULL), then print "reached"
 * Pointers given to int 0x80 must be below 4 GiB: static, non-PIE data is.
 */
#include "sim.h"
#include <sched.h>

#define I386_MOUNT 21
#define I386_UNSHARE 310

static char fstype_buf[64], target_buf[256];

static long compat_syscall(long nr, long a, long b, long c, long d, long e)
{
	long ret;
	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(nr), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e)
			 : "memory", "r8", "r9", "r10", "r11");
	return ret;
}

int main(int argc, char **argv)
{
	long rc;

	if (argc > 1 && strcmp(argv[1], "unshare") == 0) {
		rc = compat_syscall(I386_UNSHARE, CLONE_NEWUSER, 0, 0, 0, 0);
	} else if (argc > 3 && strcmp(argv[1], "mount") == 0) {
		strncpy(fstype_buf, argv[2], sizeof(fstype_buf) - 1);
		strncpy(target_buf, argv[3], sizeof(target_buf) - 1);
		rc = compat_syscall(I386_MOUNT, (long)fstype_buf, (long)target_buf, (long)fstype_buf, 0, 0);
	} else {
		return ks_usage("bypass_compat", "unshare | mount FSTYPE DIR");
	}
	if (rc < 0) {
		printf("bypass_compat: %s: errno %ld\n", argv[1], -rc);
		return 1;
	}
	printf("bypass_compat: %s: reached\n", argv[1]);
	return 0;
}
