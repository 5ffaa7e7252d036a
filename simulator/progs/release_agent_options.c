/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sets a cgroup v1 hierarchy's release agent without opening its release_agent file. Modes:
 *   remount-untouched DIR OPTIONS  mount(NULL, DIR, NULL, MS_REMOUNT, OPTIONS), OPTIONS in a page never touched
 *   fsconfig DIR NAME VALUE        fspick(DIR); fsconfig: flag "none", "name" NAME (a reconfigure must repeat the
 *                                  named hierarchy's options), "release_agent" VALUE; fsconfig(RECONFIGURE)
 *   fsconfig-untouched DIR NAME VALUE  the same with the key "release_agent" in a page never touched
 * Each prints "reached" once the call that applies the option returned.
 */
#include "sim.h"
#include "untouched.h"
#include <fcntl.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sys/syscall.h>

static int set_by_fsconfig(const char *dir, const char *name, const char *key, const char *value)
{
	int fs = syscall(SYS_fspick, AT_FDCWD, dir, FSPICK_CLOEXEC);

	if (fs < 0)
		return ks_report("release_agent_options", "fspick", -1), 1;
	if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_FLAG, "none", NULL, 0) < 0 ||
	    syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "name", name, 0) < 0)
		return ks_report("release_agent_options", "fsconfig none,name", -1), 1;
	if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, key, value, 0) < 0)
		return ks_report("release_agent_options", "fsconfig set", -1), 1;
	if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_RECONFIGURE, NULL, NULL, 0) < 0)
		return ks_report("release_agent_options", "fsconfig reconfigure", -1), 1;
	printf("release_agent_options: fsconfig %s: reached\n", dir);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "remount-untouched") == 0) {
		void *options = ks_untouched_copy(argv[3], strlen(argv[3]) + 1);
		if (!options)
			return ks_setup_failed("release_agent_options", "mapping");
		if (mount(NULL, argv[2], NULL, MS_REMOUNT, options) < 0)
			return ks_report("release_agent_options", "remount", -1), 1;
		printf("release_agent_options: remount %s: reached\n", argv[2]);
		return 0;
	}
	if (argc == 5 && strcmp(argv[1], "fsconfig") == 0)
		return set_by_fsconfig(argv[2], argv[3], "release_agent", argv[4]);
	if (argc == 5 && strcmp(argv[1], "fsconfig-untouched") == 0) {
		void *key = ks_untouched_copy("release_agent", sizeof("release_agent"));
		if (!key)
			return ks_setup_failed("release_agent_options", "mapping");
		return set_by_fsconfig(argv[2], argv[3], key, argv[4]);
	}
	return ks_usage(argv[0], "remount-untouched DIR OPTIONS | fsconfig[-untouched] DIR NAME VALUE");
}
