/* SPDX-License-Identifier: Apache-2.0 */
/*
 * KS-ESC-020: create an io_uring with the raw syscalls (no liburing) and submit through it an OPENAT of <path> and a
 * CONNECT to 127.0.0.1:<port> (a listener this program opens itself), so neither goes through the openat or connect
 * syscalls. Under a seccomp profile that forbids io_uring_setup (the container default) the setup fails with EPERM
 * and that is reported. Usage: io_uring_ops <path> <port>
 */
#include "sim.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

struct ring {
	int fd;
	unsigned *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
};

static int ring_open(struct ring *r)
{
	struct io_uring_params p = { 0 };

	r->fd = syscall(__NR_io_uring_setup, 4, &p);
	if (r->fd < 0)
		return -1;
	size_t sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	/* one mapping for both rings when the kernel allows it (IORING_FEAT_SINGLE_MMAP, every kernel since 5.4) */
	if (cq_len > sq_len)
		sq_len = cq_len;
	char *sq = mmap(NULL, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
	r->sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
		       r->fd, IORING_OFF_SQES);
	if (sq == MAP_FAILED || r->sqes == MAP_FAILED || !(p.features & IORING_FEAT_SINGLE_MMAP))
		return -1;
	r->sq_tail = (unsigned *)(sq + p.sq_off.tail);
	r->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
	r->sq_array = (unsigned *)(sq + p.sq_off.array);
	r->cq_head = (unsigned *)(sq + p.cq_off.head);
	r->cq_tail = (unsigned *)(sq + p.cq_off.tail);
	r->cq_mask = (unsigned *)(sq + p.cq_off.ring_mask);
	r->cqes = (struct io_uring_cqe *)(sq + p.cq_off.cqes);
	return 0;
}

/* Submits one request and waits for its completion; returns its result (an fd, 0, or -errno). */
static int ring_run(struct ring *r, const struct io_uring_sqe *request)
{
	unsigned tail = *r->sq_tail, index = tail & *r->sq_mask;

	r->sqes[index] = *request;
	r->sq_array[index] = index;
	__atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
	if (syscall(__NR_io_uring_enter, r->fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
		return -errno;
	unsigned head = *r->cq_head;
	if (head == __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE))
		return -EAGAIN;
	int res = r->cqes[head & *r->cq_mask].res;
	__atomic_store_n(r->cq_head, head + 1, __ATOMIC_RELEASE);
	return res;
}

static long as_rc(int res)
{
	if (res < 0)
		errno = -res;
	return res;
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	struct ring r;

	if (argc != 3 || atoi(argv[2]) <= 0 || atoi(argv[2]) > 65535)
		return ks_usage(argv[0], "<path> <port>");
	if (ring_open(&r) < 0)
		return ks_report("io_uring_ops", "io_uring_setup", -1);
	ks_report("io_uring_ops", "io_uring_setup", 0);

	struct io_uring_sqe open_req = { .opcode = IORING_OP_OPENAT, .fd = AT_FDCWD, .addr = (unsigned long)argv[1] };
	open_req.open_flags = O_RDONLY;
	ks_report("io_uring_ops", "openat", as_rc(ring_run(&r, &open_req)));

	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = htons(atoi(argv[2]));
	int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listener < 0 || fd < 0 || bind(listener, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(listener, 1) < 0)
		return ks_setup_failed("io_uring_ops", "loopback listener");
	struct io_uring_sqe connect_req = { .opcode = IORING_OP_CONNECT, .fd = fd, .addr = (unsigned long)&addr };
	connect_req.off = sizeof(addr); /* addr2: the address length */
	ks_report("io_uring_ops", "connect", as_rc(ring_run(&r, &connect_req)));
	return 0;
}
