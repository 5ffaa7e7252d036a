/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Opens a file for writing (without writing a byte) in the two ways a string matcher at syscall entry cannot
 * follow, for the resolved-path open filter (KS-ESC-004/-005 evasions):
 *   dirfd <dir> <name>   openat(fd of <dir>, <name>): the caller's string is a bare name
 *   unfaulted <path>     openat(AT_FDCWD, <path>) with the string in a page not yet faulted in, which a probe
 *                        reading user memory at entry cannot read (the kernel's own copy faults it in)
 */
#include "sim.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#define OPEN_FLAGS (O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)

/* The path in a shared file mapping never touched here: in the page cache, but not in this process's page tables. */
static const char *unfaulted_copy(const char *path)
{
	char scratch[] = "/tmp/ks-open-at-XXXXXX";
	int fd = mkstemp(scratch);
	size_t len = strlen(path) + 1;
	void *mapped;

	if (fd < 0 || write(fd, path, len) != (ssize_t)len)
		return NULL;
	mapped = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	unlink(scratch);
	close(fd);
	if (mapped == MAP_FAILED || madvise(mapped, len, MADV_DONTNEED))
		return NULL;
	return mapped;
}

int main(int argc, char **argv)
{
	int fd;

	if (argc == 4 && !strcmp(argv[1], "dirfd")) {
		int dir = open(argv[2], O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dir < 0)
			return ks_setup_failed("open_at", argv[2]);
		fd = openat(dir, argv[3], OPEN_FLAGS);
		ks_report("open_at", argv[3], fd);
	} else if (argc == 3 && !strcmp(argv[1], "unfaulted")) {
		const char *path = unfaulted_copy(argv[2]);
		if (!path)
			return ks_setup_failed("open_at", "an unfaulted copy of the path");
		fd = openat(AT_FDCWD, path, OPEN_FLAGS);
		ks_report("open_at", argv[2], fd);
	} else {
		return ks_usage(argv[0], "dirfd <dir> <name> | unfaulted <path>");
	}
	if (fd >= 0)
		close(fd);
	return 0;
}
