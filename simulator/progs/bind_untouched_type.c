/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A bind mount whose (unused) type string lies in a page never touched: the kernel ignores the type of a bind
 * mount, so enforcement, which fails closed on an unreadable type, must not kill it. Usage: bind_untouched_type SRC DIR
 */
#include "sim.h"
#include "untouched.h"
#include <sys/mount.h>

int main(int argc, char **argv)
{
	if (argc != 3)
		return ks_usage(argv[0], "SRC DIR");
	void *type = ks_untouched_copy("none", sizeof("none"));
	if (!type)
		return ks_setup_failed("bind_untouched_type", "mapping");
	if (mount(argv[1], argv[2], type, MS_BIND, NULL) < 0)
		return ks_report("bind_untouched_type", "mount", -1), 1;
	printf("bind_untouched_type: %s bound at %s: reached\n", argv[1], argv[2]);
	return 0;
}
