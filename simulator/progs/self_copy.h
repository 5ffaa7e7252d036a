/* SPDX-License-Identifier: Apache-2.0 */
/* Copy our own (static) executable into an fd, so it can be executed from somewhere unusual. */
#ifndef KS_SIM_SELF_COPY_H
#define KS_SIM_SELF_COPY_H
#include "sim.h"
#include <fcntl.h>
#include <unistd.h>

static inline int ks_copy_self(int out)
{
	char buf[65536];
	ssize_t n;
	int in = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -1;
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		if (write(out, buf, n) != n) {
			close(in);
			return -1;
		}
	}
	close(in);
	return n < 0 ? -1 : 0;
}
#endif
