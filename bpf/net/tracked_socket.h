/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Sockets whose next payload we want, keyed by (tgid, fd) because write/send only name an fd:
 *  - a TCP socket whose connect() succeeded or is in progress: each write (each iovec) until the
 *    process has passed KS_STREAM_CAPTURE_BYTES or made KS_STREAM_CAPTURE_WRITES non-empty writes,
 *    then the entry goes (what a process says first on a fresh connection: a protocol, a mining
 *    login). More than the first write, because a first write of one byte, a leading newline or a
 *    JSON-RPC body split across writes would otherwise hide the rest; bounded, so an established
 *    connection costs nothing after its first few writes;
 *  - a UDP socket connected to port 53: every payload (DNS queries), until the fd is reused.
 * The entry keeps the struct file it was made for: an fd closed and reused for something else no
 * longer matches and the stale entry is dropped. LRU, so sockets never written to age out.
 */
#ifndef KS_NET_TRACKED_SOCKET_H
#define KS_NET_TRACKED_SOCKET_H

#include "lib/files.h"
#include "net/sockaddr.h"

struct ks_socket_key {
	__u32 tgid;
	__s32 fd;
};

struct ks_tracked_socket {
	__u64 file; /* struct file * at connect time */
	__u32 kind; /* KS_PAYLOAD_TCP_FIRST_BYTES or KS_PAYLOAD_DNS_QUERY */
	__u32 stream_offset; /* TCP: bytes passed so far, up to KS_STREAM_CAPTURE_BYTES */
	struct ks_peer peer;
	__u32 writes; /* TCP: non-empty writes (iovecs) so far */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct ks_socket_key);
	__type(value, struct ks_tracked_socket);
} tracked_sockets SEC(".maps");

/* connect() arguments from sys_enter to sys_exit, per thread */
struct ks_pending_connect {
	__s32 fd;
	__u32 _pad0;
	struct ks_peer peer;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct ks_pending_connect);
} pending_connect SEC(".maps");

/* SOCK_STREAM/SOCK_DGRAM of an fd's socket, 0 when the fd is not a socket. */
static __always_inline __u32 ks_socket_type(struct file *file)
{
	struct socket *sock = ks_file_socket(file);

	return sock ? BPF_CORE_READ(sock, type) : 0;
}

static __always_inline void ks_track_connected(__s32 fd, const struct ks_peer *peer)
{
	struct ks_socket_key key = { .tgid = bpf_get_current_pid_tgid() >> 32, .fd = fd };
	struct ks_tracked_socket tracked = { .peer = *peer };
	struct file *file = ks_fd_file(fd);
	__u32 type = ks_socket_type(file);

	if (type == KS_SOCK_STREAM)
		tracked.kind = KS_PAYLOAD_TCP_FIRST_BYTES;
	else if (type == KS_SOCK_DGRAM && peer->port == KS_DNS_PORT)
		tracked.kind = KS_PAYLOAD_DNS_QUERY;
	else
		return;
	tracked.file = (__u64)file;
	bpf_map_update_elem(&tracked_sockets, &key, &tracked, BPF_ANY);
}

/* The tracked entry for an fd about to be written, or NULL; a stale entry (the fd was reused) is dropped. */
static __always_inline struct ks_tracked_socket *ks_lookup_tracked(__s32 fd)
{
	struct ks_socket_key key = { .tgid = bpf_get_current_pid_tgid() >> 32, .fd = fd };
	struct ks_tracked_socket *tracked = bpf_map_lookup_elem(&tracked_sockets, &key);

	if (!tracked)
		return NULL;
	if (tracked->file != (__u64)ks_fd_file(fd)) {
		bpf_map_delete_elem(&tracked_sockets, &key);
		return NULL;
	}
	return tracked;
}

/*
 * Accounts one non-empty write of len bytes on a tracked TCP entry and returns its stream offset; the
 * entry goes once either capture bound is reached. Threads writing the same socket at once may both
 * see one offset: the records are then out of order, never lost.
 */
static __always_inline __u32 ks_advance_stream(__s32 fd, struct ks_tracked_socket *tracked, __u64 len)
{
	struct ks_socket_key key = { .tgid = bpf_get_current_pid_tgid() >> 32, .fd = fd };
	__u32 offset = tracked->stream_offset;
	/* len is the caller's count, any u64: clamped so the sum cannot wrap */
	__u64 next = offset + (len < KS_STREAM_CAPTURE_BYTES ? len : KS_STREAM_CAPTURE_BYTES);

	tracked->stream_offset = next > KS_STREAM_CAPTURE_BYTES ? KS_STREAM_CAPTURE_BYTES : next;
	tracked->writes++;
	if (next >= KS_STREAM_CAPTURE_BYTES || tracked->writes >= KS_STREAM_CAPTURE_WRITES)
		bpf_map_delete_elem(&tracked_sockets, &key);
	return offset;
}

#endif /* KS_NET_TRACKED_SOCKET_H */
