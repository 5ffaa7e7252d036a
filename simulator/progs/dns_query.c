/* SPDX-License-Identifier: Apache-2.0 */
/* KS-MIN-001: send one DNS A query for a mining-pool domain (or for each name given) over UDP to 127.0.0.1:53; no
 * answer is awaited. Many names in one process: the baseline bench's flood of distinct domains without an exec each. */
#include "sim.h"
#include "dns_message.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static int query(int fd, const char *name)
{
	unsigned char msg[512];
	size_t off = ks_dns_query(msg, sizeof(msg), name);

	if (off == 0)
		return -1;
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
