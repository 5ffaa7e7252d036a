// SPDX-License-Identifier: Apache-2.0
/*
 * Runs a command in which every epoll_wait(2) asking for exactly MAXEVENTS events fails with ERRNO, so a test can
 * make the agent's ring reader thread fail for real (its epoll_wait asks for 2; libuv's loop uses epoll_pwait with
 * 1024) without any fault-injection code in the agent:
 *
 *   fail-epoll-wait MAXEVENTS ERRNO COMMAND [ARG...]
 *
 * A seccomp filter (SECCOMP_RET_ERRNO), installed with no_new_privs, is inherited by every thread and child of
 * COMMAND. Exits 2 with a one-line message on bad arguments, 1 if the filter cannot be installed or COMMAND run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static unsigned long parse_number(const char *text, const char *what, unsigned long max)
{
	char *end;
	unsigned long value = strtoul(text, &end, 10);

	if (*text == '\0' || *end != '\0' || value == 0 || value > max) {
		fprintf(stderr, "fail-epoll-wait: %s must be an integer from 1 to %lu, got '%s'\n", what, max, text);
		exit(2);
	}
	return value;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: fail-epoll-wait MAXEVENTS ERRNO COMMAND [ARG...]\n");
		return 2;
	}
	unsigned int maxevents = parse_number(argv[1], "MAXEVENTS", 0x7fffffff);
	unsigned int error = parse_number(argv[2], "ERRNO", SECCOMP_RET_DATA);
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_epoll_wait, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		/* maxevents is an int: the low 32 bits of the third argument (little-endian) */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, maxevents, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | error),
	};
	struct sock_fprog program = { .len = sizeof(filter) / sizeof(filter[0]), .filter = filter };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) != 0) {
		fprintf(stderr, "fail-epoll-wait: cannot install the seccomp filter: %s\n", strerror(errno));
		return 1;
	}
	execvp(argv[3], argv + 3);
	fprintf(stderr, "fail-epoll-wait: cannot run %s: %s\n", argv[3], strerror(errno));
	return 1;
}
