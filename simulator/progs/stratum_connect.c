/* SPDX-License-Identifier: Apache-2.0 */
/*
 * KS-MIN-001: send a stratum "mining.subscribe" as the first bytes of a TCP connection, then close. With no
 * arguments, or only a port, it listens on 127.0.0.1 itself (on 3333, a pool port, or the given one) and talks to
 * that listener, so nothing leaves the machine.
 */
#include "sim.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static const char SUBSCRIBE[] =
	"{\"id\":1,\"jsonrpc\":\"2.0\",\"method\":\"mining.subscribe\",\"params\":[\"kubesentry-simulator/1.0\"]}\n";

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	int listener = -1;
	if (argc == 3) {
		if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1 || atoi(argv[2]) <= 0 || atoi(argv[2]) > 65535)
			return ks_usage(argv[0], "[<port> | <ipv4> <port>]");
		addr.sin_port = htons(atoi(argv[2]));
	} else if (argc <= 2) {
		socklen_t len = sizeof(addr);
		if (argc == 2 && (atoi(argv[1]) <= 0 || atoi(argv[1]) > 65535))
			return ks_usage(argv[0], "[<port> | <ipv4> <port>]");
		addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		addr.sin_port = htons(argc == 2 ? atoi(argv[1]) : 3333);
		listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (listener < 0 || (bind(listener, (struct sockaddr *)&addr, sizeof(addr)) < 0 &&
				     (addr.sin_port = 0, bind(listener, (struct sockaddr *)&addr, sizeof(addr)) < 0)) ||
		    listen(listener, 1) < 0 || getsockname(listener, (struct sockaddr *)&addr, &len) < 0)
			return ks_setup_failed("stratum_connect", "loopback listener");
	} else {
		return ks_usage(argv[0], "[<port> | <ipv4> <port>]");
	}
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ks_setup_failed("stratum_connect", "socket");
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return ks_report("stratum_connect", "connect", -1);
	ks_report("stratum_connect", "send mining.subscribe", write(fd, SUBSCRIBE, sizeof(SUBSCRIBE) - 1));
	close(fd);
	if (listener >= 0)
		close(listener);
	return 0;
}
