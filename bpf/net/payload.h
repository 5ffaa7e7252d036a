/* SPDX-License-Identifier: GPL-2.0 */
/* struct ks_payload: the first KS_PAYLOAD_LEN bytes of one write (or iovec) a process sends. */
#ifndef KS_NET_PAYLOAD_H
#define KS_NET_PAYLOAD_H

#include "net/sockaddr.h"

static __always_inline void ks_emit_payload(__u32 op, __u32 kind, __s32 fd, const struct ks_peer *peer,
					    const void *user_buf, __u64 total_len, __u32 stream_offset)
{
	struct ks_payload *e;
	__u32 len = total_len < KS_PAYLOAD_LEN ? total_len : KS_PAYLOAD_LEN;

	if (ks_from_agent())
		return;
	e = ks_begin(KS_EVENT_PAYLOAD, sizeof(*e));
	if (!e)
		return;
	e->op = op;
	e->kind = kind;
	e->fd = fd;
	e->family = peer->family;
	e->port = peer->port;
	__builtin_memcpy(e->addr, peer->addr, sizeof(e->addr));
	e->total_len = total_len > 0xffffffffULL ? 0xffffffffU : total_len;
	e->stream_offset = stream_offset;
	len = ks_bounded(len, 2 * KS_PAYLOAD_LEN - 1);
	if (len > 0 && len <= KS_PAYLOAD_LEN && bpf_probe_read_user(e->data, len, user_buf) == 0)
		e->data_len = len;
	ks_submit(e, sizeof(*e));
}

#endif /* KS_NET_PAYLOAD_H */
