// SPDX-License-Identifier: GPL-2.0
/*
 * One kernel behaviour per subcommand, with known arguments, for the kernel-program tests
 * (test/bpf-programs.test.ts). Prints what the test cannot know in advance (a child's pid, an
 * address) as `key=value` lines on stdout. Failures of the syscall itself are fine where the hook
 * fires at syscall entry; the exit status says whether the trigger ran at all.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <linux/perf_event.h>
#include <linux/sched.h>
#include <netinet/in.h>
#include <sys/fsuid.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>

static int fail(const char *what)
{
	fprintf(stderr, "ks-trigger: %s: %s\n", what, strerror(errno));
	return 1;
}

static void *thread_body(void *arg)
{
	return arg;
}

static int copy_file(const char *from, int to_fd)
{
	char buf[65536];
	ssize_t n;
	int in = open(from, O_RDONLY);

	if (in < 0)
		return -1;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(to_fd, buf, n) != n)
			return -1;
	close(in);
	return n < 0 ? -1 : 0;
}

static char *const true_argv[] = { "true", NULL };
static char *const no_env[] = { NULL };

static int connect_inet(int family, int type, const char *host, int port, int nonblock)
{
	int fd = socket(family, type | (nonblock ? SOCK_NONBLOCK : 0), 0);
	struct sockaddr_storage ss = {};
	socklen_t len;

	if (family == AF_INET) {
		struct sockaddr_in *sin = (void *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		inet_pton(AF_INET, host, &sin->sin_addr);
		len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (void *)&ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		inet_pton(AF_INET6, host, &sin6->sin6_addr);
		len = sizeof(*sin6);
	}
	if (connect(fd, (void *)&ss, len) && errno != EINPROGRESS)
		return -1;
	return fd;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	const char *arg = argc > 2 ? argv[2] : "";

	if (!strcmp(cmd, "exit")) {
		exit(atoi(arg));
	} else if (!strcmp(cmd, "kill-self")) {
		raise(SIGKILL);
	} else if (!strcmp(cmd, "thread")) {
		pthread_t t;
		if (pthread_create(&t, NULL, thread_body, NULL))
			return fail("pthread_create");
		pthread_join(t, NULL);
	} else if (!strcmp(cmd, "fork")) {
		pid_t child = fork();
		if (child == 0)
			_exit(0);
		printf("child=%d\n", child);
		waitpid(child, NULL, 0);
	} else if (!strcmp(cmd, "memfd-exec")) {
		int fd = memfd_create(arg, 0);
		if (fd < 0 || copy_file("/bin/true", fd))
			return fail("memfd copy");
		syscall(SYS_execveat, fd, "", true_argv, no_env, AT_EMPTY_PATH);
		return fail("execveat memfd");
	} else if (!strcmp(cmd, "unlinked-exec")) {
		int out = open(arg, O_WRONLY | O_CREAT | O_TRUNC, 0755);
		if (out < 0 || copy_file("/bin/true", out))
			return fail("copy");
		close(out);
		int fd = open(arg, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || unlink(arg))
			return fail("open/unlink");
		syscall(SYS_execveat, fd, "", true_argv, no_env, AT_EMPTY_PATH);
		return fail("execveat unlinked");
	} else if (!strcmp(cmd, "unshare-uts")) {
		if (unshare(CLONE_NEWUTS))
			return fail("unshare");
	} else if (!strcmp(cmd, "clone3-uts")) {
		struct clone_args args = { .flags = CLONE_NEWUTS, .exit_signal = SIGCHLD };
		long child = syscall(SYS_clone3, &args, sizeof(args));
		if (child == 0)
			_exit(0);
		if (child < 0)
			return fail("clone3");
		waitpid(child, NULL, 0);
	} else if (!strcmp(cmd, "setns-uts")) {
		int fd = open("/proc/self/ns/uts", O_RDONLY);
		if (fd < 0 || setns(fd, CLONE_NEWUTS))
			return fail("setns");
		printf("fd=%d\n", fd);
	} else if (!strcmp(cmd, "setns-pidfd")) {
		int fd = syscall(SYS_pidfd_open, getpid(), 0);
		if (fd < 0)
			return fail("pidfd_open");
		setns(fd, CLONE_NEWUTS);
		printf("fd=%d\n", fd);
	} else if (!strcmp(cmd, "mounts")) {
		/* arg: an existing empty directory; everything happens in a private mount namespace */
		char put_old[4096];
		if (unshare(CLONE_NEWNS) || mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL))
			return fail("private mount namespace");
		if (mount("ks-source", arg, "tmpfs", MS_NOSUID, "size=1m"))
			return fail("mount");
		umount2(arg, MNT_DETACH);
		int fs = syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC);
		if (fs < 0)
			return fail("fsopen");
		syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0);
		int mnt = syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV);
		if (mnt < 0)
			return fail("fsmount");
		syscall(SYS_move_mount, mnt, "", AT_FDCWD, arg, MOVE_MOUNT_F_EMPTY_PATH);
		snprintf(put_old, sizeof(put_old), "%s/old", arg);
		mkdir(put_old, 0700);
		chroot("/");
		syscall(SYS_pivot_root, arg, put_old);
	} else if (!strcmp(cmd, "openat")) {
		close(openat(AT_FDCWD, arg, O_RDONLY));
	} else if (!strcmp(cmd, "openat2")) {
		struct open_how how = { .flags = O_RDONLY | O_CLOEXEC };
		close(syscall(SYS_openat2, AT_FDCWD, arg, &how, sizeof(how)));
	} else if (!strcmp(cmd, "open")) {
		close(syscall(SYS_open, arg, O_RDONLY));
	} else if (!strcmp(cmd, "creat")) {
		close(creat(arg, 0600));
	} else if (!strcmp(cmd, "open-by-handle")) {
		struct {
			struct file_handle fh;
			unsigned char bytes[128];
		} handle = { .fh.handle_bytes = 128 };
		int mount_id, root = open("/", O_RDONLY | O_DIRECTORY);
		name_to_handle_at(AT_FDCWD, arg, &handle.fh, &mount_id, 0);
		close(open_by_handle_at(root, &handle.fh, O_RDONLY));
		printf("mount_fd=%d\n", root);
	} else if (!strcmp(cmd, "tcp-send")) {
		/* arg: port on 127.0.0.1; two writes, only the first is a fresh connection's first bytes */
		int fd = connect_inet(AF_INET, SOCK_STREAM, "127.0.0.1", atoi(arg), 0);
		if (fd < 0)
			return fail("connect");
		write(fd, "FIRST-BYTES", 11);
		send(fd, "second", 6, 0);
		printf("fd=%d\n", fd);
	} else if (!strcmp(cmd, "tcp-iovecs")) {
		/* arg: port on 127.0.0.1; writev and sendmsg of two iovecs each, every iovec a write of the stream */
		int fd = connect_inet(AF_INET, SOCK_STREAM, "127.0.0.1", atoi(arg), 0);
		struct iovec wv[2] = { { .iov_base = "a", .iov_len = 1 }, { .iov_base = "bc", .iov_len = 2 } };
		struct iovec mv[2] = { { .iov_base = "d", .iov_len = 1 }, { .iov_base = "ef", .iov_len = 2 } };
		struct msghdr msg = { .msg_iov = mv, .msg_iovlen = 2 };
		if (fd < 0)
			return fail("connect");
		writev(fd, wv, 2);
		sendmsg(fd, &msg, MSG_NOSIGNAL);
		printf("fd=%d\n", fd);
	} else if (!strcmp(cmd, "tcp6-nonblock-send")) {
		int fd = connect_inet(AF_INET6, SOCK_STREAM, "::1", atoi(arg), 1);
		struct msghdr msg = {};
		struct iovec iov = { .iov_base = "v6-first", .iov_len = 8 };
		if (fd < 0)
			return fail("connect6");
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		/* sent as soon as the connection completes; until then EAGAIN, which still counts as an attempt */
		for (int i = 0; i < 1000 && sendmsg(fd, &msg, MSG_NOSIGNAL) < 0 && errno == EAGAIN; i++)
			usleep(1000);
		printf("fd=%d\n", fd);
	} else if (!strcmp(cmd, "dns")) {
		static const unsigned char query[] = "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
						     "\x07" "example" "\x03" "com" "\x00\x00\x01\x00\x01";
		struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(53) };
		int fd = socket(AF_INET, SOCK_DGRAM, 0);
		inet_pton(AF_INET, "127.0.0.53", &to.sin_addr);
		sendto(fd, query, sizeof(query) - 1, 0, (void *)&to, sizeof(to));
		int connected = connect_inet(AF_INET, SOCK_DGRAM, "127.0.0.1", 53, 0);
		write(connected, query, sizeof(query) - 1);
		printf("fd=%d\nconnected_fd=%d\n", fd, connected);
	} else if (!strcmp(cmd, "dns-answer")) {
		/* A resolver on 127.0.0.77:53 answers example.com A 203.0.113.50: to an unconnected socket read with
		 * recvfrom, and to one connected to it read with recvmsg. The server's own receives are not DNS
		 * answers (its socket sent no query). */
		static const unsigned char query[] = "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
						     "\x07" "example" "\x03" "com" "\x00\x00\x01\x00\x01";
		static const unsigned char answer[] = "\x12\x34\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00"
						      "\x07" "example" "\x03" "com" "\x00\x00\x01\x00\x01"
						      "\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\xcb\x00\x71\x32";
		struct sockaddr_in server_addr = { .sin_family = AF_INET, .sin_port = htons(53) };
		struct sockaddr_in from;
		socklen_t from_len = sizeof(from);
		unsigned char buf[512];
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
		int server = socket(AF_INET, SOCK_DGRAM, 0);
		int fd = socket(AF_INET, SOCK_DGRAM, 0);
		inet_pton(AF_INET, "127.0.0.77", &server_addr.sin_addr);
		if (bind(server, (void *)&server_addr, sizeof(server_addr)))
			return fail("bind 127.0.0.77:53");
		sendto(fd, query, sizeof(query) - 1, 0, (void *)&server_addr, sizeof(server_addr));
		recvfrom(server, buf, sizeof(buf), 0, (void *)&from, &from_len);
		sendto(server, answer, sizeof(answer) - 1, 0, (void *)&from, from_len);
		recvfrom(fd, buf, sizeof(buf), 0, NULL, NULL);
		int connected = connect_inet(AF_INET, SOCK_DGRAM, "127.0.0.77", 53, 0);
		write(connected, query, sizeof(query) - 1);
		from_len = sizeof(from);
		recvfrom(server, buf, sizeof(buf), 0, (void *)&from, &from_len);
		sendto(server, answer, sizeof(answer) - 1, 0, (void *)&from, from_len);
		recvmsg(connected, &msg, 0);
		printf("fd=%d\nconnected_fd=%d\nserver_fd=%d\nanswer_len=%zu\n", fd, connected, server, sizeof(answer) - 1);
	} else if (!strcmp(cmd, "listen")) {
		/* arg: a port. IPv4 bound to 127.0.0.1:port; IPv6 bound to ::1 with no port, then one not bound at all
		 * (the kernel picks the ports); a UDP
		 * socket, whose listen fails (EOPNOTSUPP) and opens nothing. */
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(atoi(arg)) };
		struct sockaddr_in6 picked = {};
		socklen_t picked_len = sizeof(picked);
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		int fd6 = socket(AF_INET6, SOCK_STREAM, 0);
		int udp = socket(AF_INET, SOCK_DGRAM, 0);
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
		if (bind(fd, (void *)&sin, sizeof(sin)) || listen(fd, 7))
			return fail("listen");
		struct sockaddr_in6 loop6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
		int bound6 = socket(AF_INET6, SOCK_STREAM, 0);
		struct sockaddr_in6 bound6_addr = {};
		socklen_t bound6_len = sizeof(bound6_addr);
		if (bind(bound6, (void *)&loop6, sizeof(loop6)) || listen(bound6, 5) ||
		    getsockname(bound6, (void *)&bound6_addr, &bound6_len))
			return fail("listen6 bound");
		if (listen(fd6, 3) || getsockname(fd6, (void *)&picked, &picked_len))
			return fail("listen6");
		listen(udp, 1);
		printf("fd=%d\nbound6=%d\nbound6_port=%d\nfd6=%d\nport6=%d\nudp_fd=%d\n", fd, bound6,
		       ntohs(bound6_addr.sin6_port), fd6, ntohs(picked.sin6_port), udp);
	} else if (!strcmp(cmd, "unix-connect")) {
		/* arg: a path, or @name for an abstract socket */
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		socklen_t len = offsetof(struct sockaddr_un, sun_path) + strlen(arg);
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		memcpy(sun.sun_path, arg, strlen(arg));
		if (arg[0] == '@')
			sun.sun_path[0] = 0;
		else
			len++;
		connect(fd, (void *)&sun, len);
	} else if (!strcmp(cmd, "ptrace-attach")) {
		pid_t child = fork();
		if (child == 0) {
			pause();
			_exit(0);
		}
		if (ptrace(PTRACE_ATTACH, child, 0, 0))
			return fail("ptrace attach");
		waitpid(child, NULL, 0);
		ptrace(PTRACE_PEEKDATA, child, (void *)0x1000, 0);
		ptrace(PTRACE_DETACH, child, 0, 0);
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		printf("child=%d\n", child);
	} else if (!strcmp(cmd, "process-vm-writev")) {
		static char target[16];
		struct iovec local = { .iov_base = "written", .iov_len = 8 };
		struct iovec remote = { .iov_base = target, .iov_len = 8 };
		if (process_vm_writev(getpid(), &local, 1, &remote, 1, 0) < 0)
			return fail("process_vm_writev");
		printf("addr=%lu\n", (unsigned long)target);
	} else if (!strcmp(cmd, "bpf-prog-load")) {
		struct bpf_insn insns[] = { { .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0 }, { .code = BPF_JMP | BPF_EXIT } };
		union bpf_attr attr = { .prog_type = BPF_PROG_TYPE_SOCKET_FILTER, .insns = (uintptr_t)insns, .insn_cnt = 2,
					.license = (uintptr_t)"GPL" };
		close(syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr)));
	} else if (!strcmp(cmd, "perf-event-open")) {
		struct perf_event_attr attr = { .type = PERF_TYPE_SOFTWARE, .size = sizeof(attr), .config = PERF_COUNT_SW_CPU_CLOCK };
		close(syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0));
	} else if (!strcmp(cmd, "userfaultfd")) {
		close(syscall(SYS_userfaultfd, O_CLOEXEC));
	} else if (!strcmp(cmd, "memfd")) {
		close(memfd_create(arg, MFD_CLOEXEC));
	} else if (!strcmp(cmd, "setresuid")) {
		if (setresuid(-1, 0, -1))
			return fail("setresuid");
		setreuid(0, -1);
		setfsuid(0);
		setgid(0);
	} else if (!strcmp(cmd, "capset-drop-sys-admin")) {
		struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3 };
		struct __user_cap_data_struct data[2] = {};
		if (syscall(SYS_capget, &header, data))
			return fail("capget");
		data[CAP_SYS_ADMIN / 32].effective &= ~(1u << (CAP_SYS_ADMIN % 32));
		if (syscall(SYS_capset, &header, data))
			return fail("capset");
	} else if (!strcmp(cmd, "module-stand-ins")) {
		/*
		 * For kernels without module tracepoints: ks-probe --retarget attaches the module programs to
		 * mkdir (as delete_module: name, flags), sync (as init_module) and lseek (as finit_module: fd,
		 * flags), whose arguments sit where the module syscalls' would. arg: a directory to create;
		 * argv[3]: a file to open.
		 */
		int fd;
		printf("pid=%d\n", getpid());
		fflush(stdout);
		if (mkdir(arg, 0700))
			return fail("mkdir");
		sync();
		fd = open(argc > 3 ? argv[3] : "", O_RDONLY);
		if (fd < 0)
			return fail("open");
		lseek(fd, 0, SEEK_END);
		printf("fd=%d\n", fd);
	} else {
		fprintf(stderr, "ks-trigger: unknown subcommand '%s'\n", cmd);
		return 2;
	}
	return 0;
}
