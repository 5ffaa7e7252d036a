/* SPDX-License-Identifier: Apache-2.0 */
/*
 * KS-BL-001 (a connect's peer named by its DNS answer): resolve <name> through a resolver of our own on
 * 127.0.0.1:53, which answers with <ipv4>, then connect to that address and <port> (non-blocking: only the
 * attempt matters). The query goes out with sendto on an unconnected socket and the answer comes back with
 * recvfrom, as musl's and busybox's resolvers do.
 */
#include "sim.h"
#include "dns_message.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* Answers one query on `server` with an A record for `address`, owner name a pointer to the question. */
static void answer_one(int server, struct in_addr address)
{
	unsigned char msg[512];
	struct sockaddr_in from;
	socklen_t from_len = sizeof(from);
	ssize_t n = recvfrom(server, msg, sizeof(msg) - 16, 0, (struct sockaddr *)&from, &from_len);
	static const unsigned char record[] = { 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4 };

	if (n < 12)
		_exit(1);
	msg[2] |= 0x80, msg[3] = 0x80; /* a response, recursion available */
	msg[7] = 1;                    /* one answer */
	memcpy(msg + n, record, sizeof(record));
	memcpy(msg + n + sizeof(record), &address, 4);
	sendto(server, msg, n + sizeof(record) + 4, 0, (struct sockaddr *)&from, from_len);
	_exit(0);
}

int main(int argc, char **argv)
{
	struct sockaddr_in resolver = { .sin_family = AF_INET, .sin_port = htons(53) };
	struct sockaddr_in peer = { .sin_family = AF_INET };
	struct timeval timeout = { .tv_sec = 5 };
	unsigned char msg[512];
	size_t len;
	int server, fd, tcp;
	long rc;
	pid_t child;

	if (argc != 4 || inet_pton(AF_INET, argv[2], &peer.sin_addr) != 1 || atoi(argv[3]) <= 0)
		return ks_usage(argv[0], "<name> <ipv4> <port>");
	peer.sin_port = htons(atoi(argv[3]));
	if ((len = ks_dns_query(msg, sizeof(msg), argv[1])) == 0)
		return ks_usage(argv[0], "<name> <ipv4> <port>");
	resolver.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	server = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (server < 0 || bind(server, (struct sockaddr *)&resolver, sizeof(resolver)))
		return ks_setup_failed("dns_exchange", "bind 127.0.0.1:53");
	if ((child = fork()) == 0)
		answer_one(server, peer.sin_addr);
	close(server);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
	ks_report("dns_exchange", "query", sendto(fd, msg, len, 0, (struct sockaddr *)&resolver, sizeof(resolver)));
	ks_report("dns_exchange", "answer", recvfrom(fd, msg, sizeof(msg), 0, NULL, NULL));
	waitpid(child, NULL, 0);
	tcp = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (tcp < 0)
		return ks_setup_failed("dns_exchange", "socket");
	rc = connect(tcp, (struct sockaddr *)&peer, sizeof(peer));
	ks_report("dns_exchange", argv[2], rc < 0 && errno == EINPROGRESS ? 0 : rc);
	close(tcp);
	return 0;
}
