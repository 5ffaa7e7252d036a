/* SPDX-License-Identifier: Apache-2.0 */
/*
 * KS-ESC-001 under a borrowed name: prctl(PR_SET_NAME, <comm>) (e.g. runc's "runc:[2:INIT]"), then
 * unshare(CLONE_NEWUSER). The name is the process's own choice; the detection must not depend on it.
 */
#include "sim.h"
#include <sched.h>
#include <sys/prctl.h>

int main(int argc, char **argv)
{
	if (argc != 2)
		return ks_usage(argv[0], "<comm>");
	if (prctl(PR_SET_NAME, argv[1], 0, 0, 0) < 0)
		return ks_setup_failed("renamed_userns", "prctl(PR_SET_NAME)");
	ks_report("renamed_userns", "unshare(CLONE_NEWUSER)", unshare(CLONE_NEWUSER));
	return 0;
}
