/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Review demonstration (enforcement bypass): the argument the BPF program reads from user memory at sys_enter lies
 * in a file mapping this process has never touched. bpf_probe_read_user() cannot fault a page in, so it fails and
 * the program decides nothing; the kernel's own copy then faults the page in and the call proceeds. Modes:
 *   clone3             clone3() with CLONE_NEWUSER; the child prints "reached" from the new user namespace
 *   mount FSTYPE DIR   mount(FSTYPE, DIR, FSTYPE) with FSTYPE in the untouched page, then print "reached"
 *   openat2 PATH DATA  openat2(PATH, O_WRONLY) with struct open_how in the untouched page (the entry program
 *                      records flags 0, which the exit then takes as a read-only open), then write DATA
 */
#include "sim.h"
#include <fcntl.h>
#include <linux/openat2.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void *untouched_copy(const void *data, size_t len)
{
	char path[] = "/tmp/ks-untouched-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0 || ftruncate(fd, 4096) < 0 || pwrite(fd, data, len, 0) != (ssize_t)len)
		return NULL;
	void *page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	unlink(path);
	return page == MAP_FAILED ? NULL : page;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "clone3") == 0) {
		struct clone_args args = { .flags = CLONE_NEWUSER, .exit_signal = SIGCHLD };
		void *page = untouched_copy(&args, sizeof(args));
		if (!page)
			return ks_setup_failed("bypass_untouched", "mapping");
		long pid = syscall(SYS_clone3, page, sizeof(args));
		if (pid == 0) {
			printf("bypass_untouched: clone3: reached (child in a new user namespace)\n");
			fflush(stdout);
			_exit(0);
		}
		if (pid < 0)
			return ks_report("bypass_untouched", "clone3", -1), 1;
		waitpid(pid, NULL, 0);
		return 0;
	}
	if (argc > 3 && strcmp(argv[1], "mount") == 0) {
		void *page = untouched_copy(argv[2], strlen(argv[2]) + 1);
		if (!page)
			return ks_setup_failed("bypass_untouched", "mapping");
		if (mount(page, argv[3], page, 0, NULL) < 0)
			return ks_report("bypass_untouched", "mount", -1), 1;
		printf("bypass_untouched: mount %s: reached\n", argv[2]);
		return 0;
	}
	if (argc > 3 && strcmp(argv[1], "openat2") == 0) {
		struct open_how how = { .flags = O_WRONLY };
		void *page = untouched_copy(&how, sizeof(how));
		if (!page)
			return ks_setup_failed("bypass_untouched", "mapping");
		long fd = syscall(SYS_openat2, AT_FDCWD, argv[2], page, sizeof(how));
		if (fd < 0)
			return ks_report("bypass_untouched", "openat2", -1), 1;
		ssize_t w = write(fd, argv[3], strlen(argv[3]));
		printf("bypass_untouched: openat2 %s: write %zd: %s\n", argv[2], w, w >= 0 ? "reached" : strerror(errno));
		return 0;
	}
	return ks_usage("bypass_untouched", "clone3 | mount FSTYPE DIR | openat2 PATH DATA");
}
