// SPDX-License-Identifier: GPL-2.0
/*
 * Network: every connect() (IPv4, IPv6, unix), the first writes a process makes on a TCP connection
 * it opened (write, send/sendto, writev, sendmsg/sendmmsg; see net/tracked_socket.h for the bounds),
 * DNS queries over UDP (sent to port 53, or on a socket connected to it) and the answers received on
 * those sockets (recvfrom, recvmsg: which names a container's peers were resolved from); and every successful
 * listen() on an IPv4/IPv6 socket, with the port it listens on (the baseline's listening ports).
 * Other inbound data is out of scope. sendfile/splice and io_uring
 * sends are not seen.
 */
#include "lib/common.h"
#include "lib/syscall.h"
#include "net/sockaddr.h"
#include "net/tracked_socket.h"
#include "net/payload.h"

static __always_inline void ks_fill_unix_path(struct ks_connect *e, const void *user_addr, __u32 addrlen)
{
	/* sun_path follows the 2-byte family; abstract names start with NUL and are not terminated */
	__u32 len = addrlen > 2 ? addrlen - 2 : 0;

	if (len > KS_UNIX_PATH_LEN)
		len = KS_UNIX_PATH_LEN;
	len = ks_bounded(len, 255); /* a power of two above KS_UNIX_PATH_LEN */
	if (len > 0 && len <= KS_UNIX_PATH_LEN)
		bpf_probe_read_user(e->unix_path, len, (const char *)user_addr + 2);
}

/*
 * The socket's type and protocol, read from the socket the fd names when connect() is entered: the address the
 * caller passes says nothing of them (a UDP and a TCP connect to one port look alike). A unix socket's protocol
 * is left 0: unix_create() accepts 0 or PF_UNIX there, which means the same socket. An fd that names no socket
 * (connect fails with ENOTSOCK) leaves both 0.
 */
static __always_inline void ks_fill_socket_kind(struct ks_connect *e, __s32 fd, __u16 family)
{
	struct socket *sock = ks_file_socket(ks_fd_file(fd));
	struct sock *sk;

	if (!sock)
		return;
	e->sock_type = BPF_CORE_READ(sock, type);
	if (family == KS_AF_UNIX)
		return;
	sk = BPF_CORE_READ(sock, sk);
	if (sk)
		e->protocol = BPF_CORE_READ(sk, sk_protocol);
}

/* connect(fd, addr, addrlen) */
SEC("tracepoint/syscalls/sys_enter_connect")
int sys_enter_connect__tp(struct trace_event_raw_sys_enter *ctx)
{
	const void *user_addr = KS_ARG_PTR(ctx, 1);
	__u32 addrlen = KS_ARG(ctx, 2);
	struct ks_pending_connect pending = { .fd = KS_ARG(ctx, 0) };
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct ks_connect *e;
	__u16 family = 0;

	if (ks_from_agent() || bpf_probe_read_user(&family, sizeof(family), user_addr))
		return 0;
	if (family == KS_AF_INET || family == KS_AF_INET6) {
		if (!ks_read_inet_peer(user_addr, addrlen, &pending.peer))
			return 0;
	} else if (family != KS_AF_UNIX) {
		return 0;
	}
	e = ks_begin(KS_EVENT_CONNECT, sizeof(*e));
	if (!e)
		return 0;
	e->fd = pending.fd;
	e->family = family;
	ks_fill_socket_kind(e, pending.fd, family);
	if (family == KS_AF_UNIX) {
		ks_fill_unix_path(e, user_addr, addrlen);
	} else {
		e->port = pending.peer.port;
		__builtin_memcpy(e->addr, pending.peer.addr, sizeof(e->addr));
		bpf_map_update_elem(&pending_connect, &pid_tgid, &pending, BPF_ANY);
	}
	ks_submit(e, sizeof(*e));
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int sys_exit_connect__tp(struct trace_event_raw_sys_exit *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct ks_pending_connect *pending = bpf_map_lookup_elem(&pending_connect, &pid_tgid);
	long ret = KS_RET(ctx);

	if (!pending)
		return 0;
	/* a non-blocking connect returns EINPROGRESS and its first write may come before it completes */
	if (ret == 0 || ret == -KS_EINPROGRESS)
		ks_track_connected(pending->fd, &pending->peer);
	bpf_map_delete_elem(&pending_connect, &pid_tgid);
	return 0;
}

/* listen() arguments from sys_enter to sys_exit, per thread */
struct ks_pending_listen {
	__s32 fd;
	__s32 backlog;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct ks_pending_listen);
} pending_listen SEC(".maps");

/* listen(fd, backlog) */
SEC("tracepoint/syscalls/sys_enter_listen")
int sys_enter_listen__tp(struct trace_event_raw_sys_enter *ctx)
{
	struct ks_pending_listen pending = { .fd = KS_ARG(ctx, 0), .backlog = KS_ARG(ctx, 1) };
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (!ks_from_agent())
		bpf_map_update_elem(&pending_listen, &pid_tgid, &pending, BPF_ANY);
	return 0;
}

/*
 * Read at the exit, from the socket itself: a listen() on an unbound socket binds it to a port of the kernel's
 * choosing (inet_csk_listen_start -> get_port), which only exists once the call returned; and a listen that
 * failed (EADDRINUSE, EOPNOTSUPP on a datagram socket) opened nothing.
 */
SEC("tracepoint/syscalls/sys_exit_listen")
int sys_exit_listen__tp(struct trace_event_raw_sys_exit *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct ks_pending_listen *pending = bpf_map_lookup_elem(&pending_listen, &pid_tgid);
	struct ks_pending_listen args;
	struct socket *sock;
	struct sock *sk;
	struct ks_listen *e;
	__u16 family;

	if (!pending)
		return 0;
	args = *pending;
	bpf_map_delete_elem(&pending_listen, &pid_tgid);
	if (KS_RET(ctx) != 0)
		return 0;
	sock = ks_file_socket(ks_fd_file(args.fd));
	sk = sock ? BPF_CORE_READ(sock, sk) : NULL;
	if (!sk)
		return 0;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != KS_AF_INET && family != KS_AF_INET6)
		return 0;
	e = ks_begin(KS_EVENT_LISTEN, sizeof(*e));
	if (!e)
		return 0;
	e->op = KS_OP_LISTEN;
	e->fd = args.fd;
	e->backlog = args.backlog;
	e->family = family;
	e->port = BPF_CORE_READ(sk, __sk_common.skc_num);
	e->protocol = BPF_CORE_READ(sk, sk_protocol);
	e->sock_type = BPF_CORE_READ(sock, type);
	if (family == KS_AF_INET)
		bpf_core_read(e->addr, 4, &sk->__sk_common.skc_rcv_saddr);
	else
		bpf_core_read(e->addr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
	ks_submit(e, sizeof(*e));
	return 0;
}

/* One buffer written on a tracked socket: a DNS query whole, a TCP write with its stream offset. */
static __always_inline void ks_on_tracked_buffer(__u32 op, __s32 fd, struct ks_tracked_socket *tracked,
						 const void *user_buf, __u64 len)
{
	/* copied first: the entry may go in ks_advance_stream */
	struct ks_peer peer = tracked->peer;
	__u32 kind = tracked->kind;
	__u32 offset = 0;

	if (kind == KS_PAYLOAD_TCP_FIRST_BYTES) {
		if (len == 0)
			return;
		offset = ks_advance_stream(fd, tracked, len);
	}
	ks_emit_payload(op, kind, fd, &peer, user_buf, len, offset);
}

/* A write or send on a connected socket: the payload if the socket is tracked. */
static __always_inline void ks_on_send_connected(__u32 op, __s32 fd, const void *user_buf, __u64 len)
{
	struct ks_tracked_socket *tracked = ks_lookup_tracked(fd);

	if (tracked)
		ks_on_tracked_buffer(op, fd, tracked, user_buf, len);
}

/*
 * An iovec array written on a connected socket. A TCP stream is what the iovecs add up to, so each
 * one is a write of its own (up to KS_STREAM_IOVECS of them: a 1-byte first iovec hides nothing); a
 * DNS query is one datagram, its first iovec.
 */
#define KS_STREAM_IOVECS 4
static __always_inline void ks_on_send_iovecs(__u32 op, __s32 fd, const struct iovec *user_iov, __u64 iovlen)
{
	struct ks_tracked_socket *tracked = ks_lookup_tracked(fd);
	struct iovec v;

	if (!tracked)
		return;
	for (__u32 i = 0; i < KS_STREAM_IOVECS && i < iovlen; i++) {
		if (bpf_probe_read_user(&v, sizeof(v), &user_iov[i]))
			return;
		if (i > 0) {
			/* the entry may have gone at the capture bounds */
			tracked = ks_lookup_tracked(fd);
			if (!tracked || tracked->kind != KS_PAYLOAD_TCP_FIRST_BYTES)
				return;
		}
		ks_on_tracked_buffer(op, fd, tracked, v.iov_base, v.iov_len);
	}
}

/* A send with an explicit destination: a DNS query if it goes to port 53 over UDP. */
static __always_inline void ks_on_send_to(__u32 op, __s32 fd, const void *user_addr, __u32 addrlen,
					  const void *user_buf, __u64 len)
{
	struct ks_peer peer = {};

	if (!ks_read_inet_peer(user_addr, addrlen, &peer) || peer.port != KS_DNS_PORT)
		return;
	if (ks_socket_type(ks_fd_file(fd)) == KS_SOCK_DGRAM) {
		ks_emit_payload(op, KS_PAYLOAD_DNS_QUERY, fd, &peer, user_buf, len, 0);
		/* an unconnected resolver socket (musl, busybox): its answer comes back on the same fd */
		ks_track_connected(fd, &peer);
	}
}

/* write(fd, buf, count) */
SEC("tracepoint/syscalls/sys_enter_write")
int sys_enter_write__tp(struct trace_event_raw_sys_enter *ctx)
{
	ks_on_send_connected(KS_OP_WRITE, KS_ARG(ctx, 0), KS_ARG_PTR(ctx, 1), KS_ARG(ctx, 2));
	return 0;
}

/* writev(fd, iov, iovcnt) */
SEC("tracepoint/syscalls/sys_enter_writev")
int sys_enter_writev__tp(struct trace_event_raw_sys_enter *ctx)
{
	ks_on_send_iovecs(KS_OP_WRITEV, KS_ARG(ctx, 0), KS_ARG_PTR(ctx, 1), KS_ARG(ctx, 2));
	return 0;
}

/* sendto(fd, buf, len, flags, addr, addrlen); send(2) is sendto with no address */
SEC("tracepoint/syscalls/sys_enter_sendto")
int sys_enter_sendto__tp(struct trace_event_raw_sys_enter *ctx)
{
	const void *user_addr = KS_ARG_PTR(ctx, 4);

	if (user_addr)
		ks_on_send_to(KS_OP_SENDTO, KS_ARG(ctx, 0), user_addr, KS_ARG(ctx, 5), KS_ARG_PTR(ctx, 1), KS_ARG(ctx, 2));
	else
		ks_on_send_connected(KS_OP_SENDTO, KS_ARG(ctx, 0), KS_ARG_PTR(ctx, 1), KS_ARG(ctx, 2));
	return 0;
}

struct ks_user_msghdr {
	void *name;
	__u32 namelen;
	__u32 _pad0;
	struct iovec *iov;
	__u64 iovlen;
};

/* With an address only a DNS query is of interest, whose first iovec is captured; connected, the iovecs. */
static __always_inline void ks_on_msghdr(__s32 fd, const void *user_msghdr)
{
	struct ks_user_msghdr msg = {};
	struct iovec first = {};

	if (bpf_probe_read_user(&msg, sizeof(msg), user_msghdr) || msg.iovlen == 0)
		return;
	if (!msg.name)
		ks_on_send_iovecs(KS_OP_SENDMSG, fd, msg.iov, msg.iovlen);
	else if (bpf_probe_read_user(&first, sizeof(first), msg.iov) == 0)
		ks_on_send_to(KS_OP_SENDMSG, fd, msg.name, msg.namelen, first.iov_base, first.iov_len);
}

/* sendmsg(fd, msg, flags) */
SEC("tracepoint/syscalls/sys_enter_sendmsg")
int sys_enter_sendmsg__tp(struct trace_event_raw_sys_enter *ctx)
{
	ks_on_msghdr(KS_ARG(ctx, 0), KS_ARG_PTR(ctx, 1));
	return 0;
}

/* sendmmsg(fd, msgvec, vlen, flags): glibc's resolver sends its A and AAAA queries this way; the
 * first message is captured, as KS_OP_SENDMSG */
SEC("tracepoint/syscalls/sys_enter_sendmmsg")
int sys_enter_sendmmsg__tp(struct trace_event_raw_sys_enter *ctx)
{
	/* struct mmsghdr begins with its struct msghdr */
	if (KS_ARG(ctx, 2) > 0)
		ks_on_msghdr(KS_ARG(ctx, 0), KS_ARG_PTR(ctx, 1));
	return 0;
}

/* recvfrom/recvmsg arguments from sys_enter to sys_exit, per thread: a DNS socket's receive buffer */
struct ks_pending_recv {
	__u64 buf;
	__s32 fd;
	__u32 op;
	struct ks_peer peer;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct ks_pending_recv);
} pending_recv SEC(".maps");

/* The tracked entry of a socket a DNS query went out on, or NULL: the only receives worth a look. */
static __always_inline struct ks_tracked_socket *ks_dns_socket(__s32 fd)
{
	struct ks_tracked_socket *tracked = ks_lookup_tracked(fd);

	return tracked && tracked->kind == KS_PAYLOAD_DNS_QUERY ? tracked : NULL;
}

/* A receive on a DNS socket: remembered until the exit says how much arrived. */
static __always_inline void ks_on_recv(__u32 op, __s32 fd, const struct ks_tracked_socket *dns, const void *user_buf)
{
	struct ks_pending_recv pending = { .buf = (__u64)user_buf, .fd = fd, .op = op, .peer = dns->peer };
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (user_buf)
		bpf_map_update_elem(&pending_recv, &pid_tgid, &pending, BPF_ANY);
}

static __always_inline void ks_on_recv_exit(long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct ks_pending_recv *pending = bpf_map_lookup_elem(&pending_recv, &pid_tgid);
	struct ks_pending_recv copy;

	if (!pending)
		return;
	copy = *pending;
	bpf_map_delete_elem(&pending_recv, &pid_tgid);
	if (ret > 0)
		ks_emit_payload(copy.op, KS_PAYLOAD_DNS_ANSWER, copy.fd, &copy.peer, (const void *)copy.buf, ret, 0);
}

/* recvfrom(fd, buf, len, flags, addr, addrlen); recv(2) is recvfrom with no address */
SEC("tracepoint/syscalls/sys_enter_recvfrom")
int sys_enter_recvfrom__tp(struct trace_event_raw_sys_enter *ctx)
{
	struct ks_tracked_socket *dns = ks_dns_socket(KS_ARG(ctx, 0));

	if (dns)
		ks_on_recv(KS_OP_RECVFROM, KS_ARG(ctx, 0), dns, KS_ARG_PTR(ctx, 1));
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_recvfrom")
int sys_exit_recvfrom__tp(struct trace_event_raw_sys_exit *ctx)
{
	ks_on_recv_exit(KS_RET(ctx));
	return 0;
}

/* recvmsg(fd, msg, flags): the first iovec, where a resolver receives its datagram */
SEC("tracepoint/syscalls/sys_enter_recvmsg")
int sys_enter_recvmsg__tp(struct trace_event_raw_sys_enter *ctx)
{
	struct ks_tracked_socket *dns = ks_dns_socket(KS_ARG(ctx, 0));
	struct ks_user_msghdr msg = {};
	struct iovec first = {};

	if (!dns || bpf_probe_read_user(&msg, sizeof(msg), KS_ARG_PTR(ctx, 1)) || msg.iovlen == 0 ||
	    bpf_probe_read_user(&first, sizeof(first), msg.iov))
		return 0;
	ks_on_recv(KS_OP_RECVMSG, KS_ARG(ctx, 0), dns, first.iov_base);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_recvmsg")
int sys_exit_recvmsg__tp(struct trace_event_raw_sys_exit *ctx)
{
	ks_on_recv_exit(KS_RET(ctx));
	return 0;
}
