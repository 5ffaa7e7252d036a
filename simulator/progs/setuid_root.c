/* SPDX-License-Identifier: Apache-2.0 */
/* KS-ESC-016: setuid(0) as a non-root user (drops root first, so the call is refused with EPERM). */
#include "drop_root.h"

int main(void)
{
	if (ks_drop_root("setuid_root"))
		return 2;
	ks_report("setuid_root", "setuid(0)", setuid(0));
	return 0;
}
