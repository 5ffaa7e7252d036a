/* SPDX-License-Identifier: Apache-2.0 */
/*
 * KS-MIN-001 (pool port): open a listener on 127.0.0.1:<port>, connect to it and send <text> as the first bytes,
 * then close. A pool port carrying something that is not stratum is the weakest mining signal; nothing leaves the
 * container's own loopback.
 */
#include "sim.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3 || atoi(argv[1]) <= 0 || atoi(argv[1]) > 65535)
		return ks_usage(argv[0], "<port> <text>");
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[1])) };
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(listener, 1) < 0)
		return ks_setup_failed("tcp_hello", "loopback listener");
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ks_setup_failed("tcp_hello", "socket");
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return ks_report("tcp_hello", "connect", -1);
	ks_report("tcp_hello", "send", write(fd, argv[2], strlen(argv[2])));
	close(fd);
	close(listener);
	return 0;
}
