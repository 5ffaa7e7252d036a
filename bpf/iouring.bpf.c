// SPDX-License-Identifier: GPL-2.0
/*
 * io_uring: a ring created with io_uring_setup, and OPENAT/OPENAT2/CONNECT requests submitted to one.
 * A request submitted through a ring never enters the openat/connect syscalls, so the open filter and
 * the connect hook never see it; the default container seccomp profiles (RuntimeDefault in containerd
 * >= 1.7 and CRI-O) refuse io_uring_setup, so a ring in a container is itself worth a record.
 *
 * Setup is seen at syscall entry, as an attempt. Requests are seen on the io_uring_submit_req
 * tracepoint, after the kernel has prepared them (io_init_req ran the opcode's prep): the open's
 * filename is already a kernel copy, the connect's address still the caller's pointer. It fires in
 * the submitting task, or for an SQPOLL ring in its iou-sqp thread, which belongs to the same process
 * and cgroup. Not reported: every other opcode (READ/WRITE/SEND on files and sockets opened any way,
 * SOCKET, ACCEPT, RENAMEAT, UNLINKAT, ...); requests that fail before submission.
 */
#include "lib/common.h"
#include "lib/syscall.h"
#include "net/sockaddr.h"

/* io_uring_setup(entries, params) */
SEC("tracepoint/syscalls/sys_enter_io_uring_setup")
int sys_enter_io_uring_setup__tp(struct trace_event_raw_sys_enter *ctx)
{
	const struct io_uring_params *params = KS_ARG_PTR(ctx, 1);
	struct ks_io_uring *e;
	__u32 flags = 0;

	if (ks_from_agent())
		return 0;
	bpf_probe_read_user(&flags, sizeof(flags), &params->flags);
	e = ks_begin(KS_EVENT_IO_URING, sizeof(*e));
	if (!e)
		return 0;
	e->op = KS_OP_IO_URING_SETUP;
	e->flags = flags;
	e->fd = -1;
	ks_submit_urgent(e, sizeof(*e));
	return 0;
}

/* The opcode's own data lives in the request's first cache line (io_kiocb_to_cmd()). */
static __always_inline void *ks_io_cmd(struct io_kiocb *req)
{
	return (void *)req + bpf_core_field_offset(struct io_kiocb, cmd);
}

static __always_inline void ks_on_submit_req(struct io_kiocb *req)
{
	__u8 opcode = BPF_CORE_READ(req, opcode);
	struct ks_io_uring *e;
	struct ks_peer peer = {};

	if (opcode != IORING_OP_OPENAT && opcode != IORING_OP_OPENAT2 && opcode != IORING_OP_CONNECT)
		return;
	if (ks_from_agent())
		return;
	e = ks_begin(KS_EVENT_IO_URING, sizeof(*e));
	if (!e)
		return;
	e->op = KS_OP_IO_URING_SUBMIT;
	e->opcode = opcode;
	e->flags = (__u32)(BPF_CORE_READ(req, flags) & 0xff); /* REQ_F_* bits below 8 are the IOSQE_* bits */
	if (opcode == IORING_OP_CONNECT) {
		e->fd = BPF_CORE_READ(req, cqe.fd);
		if (bpf_core_type_exists(struct io_connect)) {
			struct io_connect *conn = ks_io_cmd(req);
			const void *user_addr = BPF_CORE_READ(conn, addr);

			if (ks_read_inet_peer(user_addr, BPF_CORE_READ(conn, addr_len), &peer)) {
				e->family = peer.family;
				e->port = peer.port;
				__builtin_memcpy(e->addr, peer.addr, sizeof(e->addr));
			}
		}
	} else if (bpf_core_type_exists(struct io_open)) {
		struct io_open *open = ks_io_cmd(req);

		e->fd = BPF_CORE_READ(open, dfd);
		ks_read_kernel_str(e->path, sizeof(e->path), BPF_CORE_READ(open, filename, name), &e->hdr);
	}
	ks_submit_urgent(e, sizeof(*e));
}

SEC("tp_btf/io_uring_submit_req")
int BPF_PROG(io_uring_submit_req__tp_btf, struct io_kiocb *req)
{
	ks_on_submit_req(req);
	return 0;
}

SEC("raw_tp/io_uring_submit_req")
int BPF_PROG(io_uring_submit_req__raw_tp, struct io_kiocb *req)
{
	ks_on_submit_req(req);
	return 0;
}
