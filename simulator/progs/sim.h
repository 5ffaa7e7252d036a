/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared by the attack-simulator programs. Each program triggers ONE kernel behaviour that a Kubesentry rule
 * watches, harmlessly: it makes the system call (which is what the kernel programs see) and reports the result.
 * A refusal (EPERM, EACCES, EROFS, ENOENT ...) is the normal outcome inside a container and still counts: the
 * attempt is what is detected. Exit status: 0 when the attempt was made, 2 on bad usage or failed set-up.
 */
#ifndef KS_SIM_H
#define KS_SIM_H

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Prints "<prog>: <what>: ok" or "<prog>: <what>: <error>" and returns 0: the attempt was made. */
static inline int ks_report(const char *prog, const char *what, long rc)
{
	if (rc < 0)
		printf("%s: %s: %s (errno %d)\n", prog, what, strerror(errno), errno);
	else
		printf("%s: %s: ok\n", prog, what);
	fflush(stdout);
	return 0;
}

static inline int ks_usage(const char *prog, const char *usage)
{
	fprintf(stderr, "usage: %s %s\n", prog, usage);
	return 2;
}

static inline int ks_setup_failed(const char *prog, const char *what)
{
	fprintf(stderr, "%s: set-up failed: %s: %s\n", prog, what, strerror(errno));
	return 2;
}

#endif
