/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Races the open filter's read of the new fd's slot at sys_exit (test/e2e/open-gate.test.ts): a second thread copies
 * the new fd the moment the kernel installs it (dup2 to a high fd) and puts a harmless file of the image in its
 * slot, so the program at syscall exit may judge the harmless file, for which the caller's string is not read.
 * Opens <prefix><i><suffix> for i in [0, count) read-only, each a name of the same file, and prints one line per
 * attempt: "<i> <bytes read through the copy>".
 */
#include "sim.h"
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#define COPY_FD 900

static atomic_int go;
static int slot, harmless;

static void *racer(void *unused)
{
	(void)unused;
	for (;;) {
		while (!atomic_load_explicit(&go, memory_order_acquire))
			;
		while (dup2(slot, COPY_FD) < 0)
			;
		dup2(harmless, slot);
		atomic_store_explicit(&go, 0, memory_order_release);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t thread;
	char path[256], buf[64];

	if (argc != 5)
		return ks_usage(argv[0], "<harmless file> <prefix> <suffix> <count>");
	harmless = open(argv[1], O_RDONLY);
	if (harmless < 0)
		return ks_report("open_swap_race", argv[1], -1), 2;
	slot = dup(0); /* the lowest free fd, which every open below gets */
	close(slot);
	if (pthread_create(&thread, NULL, racer, NULL))
		return 2;
	for (int i = 0, count = atoi(argv[4]); i < count; i++) {
		snprintf(path, sizeof(path), "%s%d%s", argv[2], i, argv[3]);
		atomic_store_explicit(&go, 1, memory_order_release);
		int fd = open(path, O_RDONLY);
		if (fd != slot) {
			fprintf(stderr, "open %s gave fd %d, not %d\n", path, fd, slot);
			return 2;
		}
		while (atomic_load_explicit(&go, memory_order_acquire))
			;
		ssize_t n = pread(COPY_FD, buf, sizeof(buf), 0);
		printf("%d %zd\n", i, n);
		close(COPY_FD);
		close(slot);
	}
	fflush(stdout);
	return 0;
}
