/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A filesystem type rewritten under the check: a second thread flips the type string between "tmpfs" and "proc"
 * while the first mounts with it, so that a program reading the string at syscall entry can see "tmpfs" while
 * the kernel's own copy, a moment later, says "proc". Retries (unmounting tmpfs) until proc is mounted, then
 * prints "reached". Usage: mount_type_race DIR
 */
#include "sim.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/vfs.h>

#define PROC_SUPER_MAGIC 0x9fa0
#define ATTEMPTS 20000

static _Atomic uint64_t fstype; /* the string, written 8 bytes at a time so that it is never a mix of both */
static atomic_bool done;

static uint64_t word(const char *s)
{
	uint64_t w = 0;
	memcpy(&w, s, strlen(s) + 1);
	return w;
}

static void *flip(void *unused)
{
	uint64_t tmpfs = word("tmpfs"), proc = word("proc");
	(void)unused;
	while (!atomic_load_explicit(&done, memory_order_relaxed)) {
		atomic_store_explicit(&fstype, tmpfs, memory_order_relaxed);
		atomic_store_explicit(&fstype, proc, memory_order_relaxed);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t flipper;
	struct statfs st;

	if (argc != 2)
		return ks_usage(argv[0], "DIR");
	atomic_store(&fstype, word("tmpfs"));
	if (pthread_create(&flipper, NULL, flip, NULL) != 0)
		return ks_setup_failed("mount_type_race", "thread");
	for (int i = 0; i < ATTEMPTS; i++) {
		if (mount("none", argv[1], (const char *)&fstype, 0, NULL) < 0)
			continue;
		if (statfs(argv[1], &st) == 0 && st.f_type == PROC_SUPER_MAGIC) {
			atomic_store(&done, true);
			printf("mount_type_race: proc mounted at %s after %d attempts: reached\n", argv[1], i + 1);
			return 0;
		}
		umount2(argv[1], MNT_DETACH);
	}
	atomic_store(&done, true);
	printf("mount_type_race: proc never mounted in %d attempts\n", ATTEMPTS);
	return 1;
}
