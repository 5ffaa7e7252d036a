/* SPDX-License-Identifier: Apache-2.0 */
/* KS-MIN-001: send one DNS A query for a mining-pool domain (or for each name given) over UDP to 127.0.0.1:53; no
 * answer is awaited. Many names in one process: the baseline bench's flood of distinct domains without an exec each. */
#include "sim.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static int query(int fd, const char *name)
{
	unsigned char msg[512] = { 0x4b, 0x53, 0x01, 0x00, 0x00, 0x01 }; /* id "KS", RD, one question */
	size_t off = 12;
	for (const char *label = name; *label;) {
		const char *dot = strchr(label, '.');
		size_t len = dot ? (size_t)(dot - label) : strlen(label);
		if (len == 0 || len > 63 || off + len + 6 > sizeof(msg))
			return -1;
		msg[off++] = (unsigned char)len;
		memcpy(msg + off, label, len);
		off += len;
		label += len + (dot ? 1 : 0);
	}
	msg[off++] = 0;
	msg[off++] = 0, msg[off++] = 1; /* QTYPE A */
	msg[off++] = 0, msg[off++] = 1; /* QCLASS IN */
	struct sockaddr_in server = { .sin_family = AF_INET, .sin_port = htons(53) };
	server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ks_report("dns_query", name, sendto(fd, msg, off, 0, (struct sockaddr *)&server, sizeof(server)));
	return 0;
}

int main(int argc, char **argv)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ks_setup_failed("dns_query", "socket");
	if (argc < 2)
		return query(fd, "pool.supportxmr.com") < 0 ? 2 : 0;
	for (int i = 1; i < argc; i++)
		if (query(fd, argv[i]) < 0)
			return ks_usage(argv[0], "[<domain name>...]");
	close(fd);
	return 0;
}
