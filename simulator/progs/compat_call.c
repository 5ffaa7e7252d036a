/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A 64-bit program making one i386 system call through the 32-bit entry (int 0x80), which the syscalls/sys_enter_*
 * tracepoints never see on x86-64 (KS-ESC-021). Numeric arguments only: ebx, ecx, edx, esi, edi as given (ebp is not set).
 *   compat_call [-n COUNT] [-p PAUSE_MS] NR [ARG...]
 * makes the call COUNT times (default 1); with -p it then pauses PAUSE_MS and makes it once more, so a test can see
 * the kernel fold repeats into the next record. Before that it makes the 64-bit getppid, which must not be taken
 * for a 32-bit call. Prints "compat_call: NR: ok" or the errno of the last call.
 */
#include "sim.h"
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

static long compat_syscall(long nr, const long *a)
{
	long ret;

	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(nr), "b"(a[0]), "c"(a[1]), "d"(a[2]), "S"(a[3]), "D"(a[4])
			 : "memory", "r8", "r9", "r10", "r11");
	return ret;
}

int main(int argc, char **argv)
{
	long args[5] = { 0 }, count = 1, pause_ms = -1, nr, rc = 0;
	int opt, i;

	while ((opt = getopt(argc, argv, "n:p:")) != -1) {
		if (opt == 'n')
			count = strtol(optarg, NULL, 0);
		else if (opt == 'p')
			pause_ms = strtol(optarg, NULL, 0);
		else
			return ks_usage("compat_call", "[-n COUNT] [-p PAUSE_MS] NR [ARG...]");
	}
	if (optind >= argc || argc - optind - 1 > 5 || count < 1)
		return ks_usage("compat_call", "[-n COUNT] [-p PAUSE_MS] NR [ARG...] (at most 5 arguments)");
	nr = strtol(argv[optind], NULL, 0);
	for (i = optind + 1; i < argc; i++)
		args[i - optind - 1] = strtol(argv[i], NULL, 0);
	syscall(SYS_getppid);
	for (i = 0; i < count; i++)
		rc = compat_syscall(nr, args);
	if (pause_ms >= 0) {
		struct timespec pause = { .tv_sec = pause_ms / 1000, .tv_nsec = (pause_ms % 1000) * 1000000L };

		nanosleep(&pause, NULL);
		rc = compat_syscall(nr, args);
	}
	if (rc < 0 && rc > -4096) {
		printf("compat_call: %ld: errno %ld\n", nr, -rc);
		return 1;
	}
	printf("compat_call: %ld: ok\n", nr);
	return 0;
}
