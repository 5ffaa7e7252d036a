/* SPDX-License-Identifier: GPL-2.0 */
/* A peer address as the caller passed it in a struct sockaddr, reduced to what the records carry. */
#ifndef KS_NET_SOCKADDR_H
#define KS_NET_SOCKADDR_H

struct ks_peer {
	__u16 family;
	__u16 port; /* host byte order */
	__u8 addr[16];
};

/* struct sockaddr_in / sockaddr_in6 up to the address: family, port, (v6: flowinfo), address */
struct ks_sockaddr_inet {
	__u16 family;
	__be16 port;
	union {
		__u8 v4[4];
		struct {
			__u32 flowinfo;
			__u8 v6[16];
		};
	};
};

/* Reads an AF_INET/AF_INET6 peer; false for other families or unreadable memory. */
static __always_inline bool ks_read_inet_peer(const void *user_addr, __u32 addrlen, struct ks_peer *peer)
{
	struct ks_sockaddr_inet sa = {};

	if (!user_addr || addrlen < 8 || bpf_probe_read_user(&sa, sizeof(sa.family) + sizeof(sa.port) + 4, user_addr))
		return false;
	if (sa.family == KS_AF_INET) {
		__builtin_memcpy(peer->addr, sa.v4, 4);
	} else if (sa.family == KS_AF_INET6 && addrlen >= 24 &&
		   bpf_probe_read_user(&sa, 24, user_addr) == 0) {
		__builtin_memcpy(peer->addr, sa.v6, 16);
	} else {
		return false;
	}
	peer->family = sa.family;
	peer->port = bpf_ntohs(sa.port);
	return true;
}

#endif /* KS_NET_SOCKADDR_H */
