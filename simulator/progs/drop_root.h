/* SPDX-License-Identifier: Apache-2.0 */
/* Become uid/gid 65534 (nobody) when started as root, so a rule about non-root processes applies. */
#ifndef KS_SIM_DROP_ROOT_H
#define KS_SIM_DROP_ROOT_H
#include "sim.h"
#include <grp.h>
#include <unistd.h>

static inline int ks_drop_root(const char *prog)
{
	if (geteuid() != 0)
		return 0;
	if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
		return ks_setup_failed(prog, "dropping root to uid 65534");
	return 0;
}
#endif
