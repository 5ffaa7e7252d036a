/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A copy of a system call's argument in a file mapping this process has never touched: a BPF program's
 * bpf_probe_read_user() of it fails (it cannot fault the page in), while the kernel's own copy succeeds.
 */
#ifndef KS_SIM_UNTOUCHED_H
#define KS_SIM_UNTOUCHED_H

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static inline void *ks_untouched_copy(const void *data, size_t len)
{
	char path[] = "/tmp/ks-untouched-XXXXXX";
	int fd = mkstemp(path);
	void *page;

	if (fd < 0 || ftruncate(fd, 4096) < 0 || pwrite(fd, data, len, 0) != (ssize_t)len)
		return NULL;
	page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	unlink(path);
	return page == MAP_FAILED ? NULL : page;
}

#endif
