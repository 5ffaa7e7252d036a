/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Joins the user namespace of a killed unshare(CLONE_NEWUSER) (test/e2e/enforcement-userns.test.ts). The creator is
 * killed on its way back from unshare, but until its parent reaps it the zombie's /proc/<pid>/ns/user still names
 * the new namespace (userns_get() reads the task's credentials, which a zombie keeps). The parent opens it and
 * another child joins it with setns(); with every capability there it makes a network namespace and prints
 * `reached`. Where user namespaces kill, that setns is killed too.
 */
#include "sim.h"
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	pid_t creator = fork();
	if (creator == 0) {
		syscall(SYS_unshare, CLONE_NEWUSER);
		_exit(0); /* not killed (no agent): the zombie serves all the same */
	}
	siginfo_t info = { 0 };
	/* wait for the creator to die, without reaping it */
	if (waitid(P_PID, creator, &info, WEXITED | WSTOPPED | WNOWAIT) < 0)
		return ks_setup_failed("setns_killed_userns", "waitid");
	char path[64], own[64] = "", created[64] = "";
	snprintf(path, sizeof(path), "/proc/%d/ns/user", creator);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return ks_setup_failed("setns_killed_userns", "open of the zombie's ns/user");
	readlink("/proc/self/ns/user", own, sizeof(own) - 1);
	readlink(path, created, sizeof(created) - 1);
	printf("setns_killed_userns: creator %s (signal %d); its user namespace %s, ours %s\n",
	       info.si_code == CLD_KILLED ? "killed" : "exited", info.si_status, created, own);
	fflush(stdout);
	pid_t joiner = fork();
	if (joiner == 0) {
		if (setns(fd, CLONE_NEWUSER) < 0)
			return ks_report("setns_killed_userns", "setns", -1), 1;
		if (unshare(CLONE_NEWNET) < 0)
			return ks_report("setns_killed_userns", "unshare(CLONE_NEWNET) in the joined namespace", -1), 1;
		readlink("/proc/self/ns/user", own, sizeof(own) - 1);
		printf("setns_killed_userns: joined %s with CAP_SYS_ADMIN there (new network namespace made): reached\n", own);
		fflush(stdout);
		_exit(0);
	}
	int status;
	waitpid(joiner, &status, 0);
	printf("setns_killed_userns: joiner status 0x%x\n", status);
	waitpid(creator, &status, 0);
	return 0;
}
