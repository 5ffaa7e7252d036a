/* SPDX-License-Identifier: Apache-2.0 */
/*
 * KS-ESC-008: connect to a unix socket path (a runtime API socket) or an IPv4 address and port, then close.
 * udp: the same connect from a datagram socket (KS-BL-001 learns a connect with its protocol).
 */
#include "sim.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define USAGE "unix <path> | tcp|udp <ipv4> <port>"

int main(int argc, char **argv)
{
	int fd;
	long rc;
	if (argc == 3 && strcmp(argv[1], "unix") == 0) {
		struct sockaddr_un addr = { .sun_family = AF_UNIX };
		if (strlen(argv[2]) >= sizeof(addr.sun_path))
			return ks_usage(argv[0], USAGE);
		strcpy(addr.sun_path, argv[2]);
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			return ks_setup_failed("connect_to", "socket");
		rc = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
	} else if (argc == 4 && (strcmp(argv[1], "tcp") == 0 || strcmp(argv[1], "udp") == 0)) {
		struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[3])) };
		int type = strcmp(argv[1], "tcp") == 0 ? SOCK_STREAM : SOCK_DGRAM;
		if (inet_pton(AF_INET, argv[2], &addr.sin_addr) != 1)
			return ks_usage(argv[0], USAGE);
		if ((fd = socket(AF_INET, type | SOCK_CLOEXEC, 0)) < 0)
			return ks_setup_failed("connect_to", "socket");
		rc = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
	} else {
		return ks_usage(argv[0], USAGE);
	}
	ks_report("connect_to", argv[2], rc);
	close(fd);
	return 0;
}
