/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A filesystem type rewritten under the check: the caller passes "tmpfs", and a second thread writes "proc" over
 * it a moment after the call starts. A program that reads the string at syscall entry sees "tmpfs" when the
 * write lands after its read, while the kernel's own copy, a moment later, sees "proc". The delay is swept from
 * long (the write lands after the kernel's copy: tmpfs, unmounted again) down to none (it lands before the entry
 * read), so the window between the two reads is passed through on the way. Prints "reached" once proc is
 * mounted. Usage: mount_type_race DIR
 */
#include "sim.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/vfs.h>

#define PROC_SUPER_MAGIC 0x9fa0
#define LONGEST_DELAY 200000 /* spins; far longer than a mount(2) on this VM */
#define DELAY_STEP 25

static _Atomic uint64_t fstype; /* the string, written 8 bytes at once so that it is never a mix of both */
static atomic_int delay = -1;   /* >= 0: a call is starting, write "proc" after this many spins */
static atomic_bool written;

static uint64_t word(const char *s)
{
	uint64_t w = 0;
	memcpy(&w, s, strlen(s) + 1);
	return w;
}

static void *rewrite(void *unused)
{
	uint64_t proc = word("proc");
	(void)unused;
	for (;;) {
		int spins;
		while ((spins = atomic_load(&delay)) < 0)
			;
		for (volatile int i = 0; i < spins; i++)
			;
		atomic_store(&fstype, proc);
		atomic_store(&delay, -1);
		atomic_store(&written, true);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t writer;
	struct statfs st;

	if (argc != 2)
		return ks_usage(argv[0], "DIR");
	if (pthread_create(&writer, NULL, rewrite, NULL) != 0)
		return ks_setup_failed("mount_type_race", "thread");
	for (int spins = LONGEST_DELAY; spins >= 0; spins -= DELAY_STEP) {
		atomic_store(&fstype, word("tmpfs"));
		atomic_store(&written, false);
		atomic_store(&delay, spins);
		int rc = mount("none", argv[1], (const char *)&fstype, 0, NULL);
		while (!atomic_load(&written))
			;
		if (rc < 0)
			continue;
		if (statfs(argv[1], &st) == 0 && st.f_type == PROC_SUPER_MAGIC) {
			printf("mount_type_race: proc mounted at %s with the write after %d spins: reached\n", argv[1], spins);
			return 0;
		}
		umount2(argv[1], MNT_DETACH);
	}
	printf("mount_type_race: proc never mounted\n");
	return 1;
}
