/* SPDX-License-Identifier: Apache-2.0 */
/*
 * KS-MIN-001 evasions of a first-write-only payload check: send a stratum mining.subscribe (or, for the benign
 * counterparts, an ordinary message) on a fresh TCP connection to a listener this program opens on 127.0.0.1, cut
 * into writes in one of these ways:
 *   first-byte   a 1-byte write(), then the rest
 *   mid-method   two writes, cut inside "mining.subscribe"
 *   newline      a write of "\r\n" alone, then " " and the message
 *   writev       one writev() of a 1-byte iovec and the rest
 *   sendmsg      one sendmsg() of a 1-byte iovec and the rest
 *   http-first-byte, jsonrpc-writev   benign: an HTTP GET cut like first-byte, a non-mining JSON-RPC call by writev
 * Usage: stratum_split <mode> <port>
 */
#include "sim.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static const char SUBSCRIBE[] =
	"{\"id\":1,\"jsonrpc\":\"2.0\",\"method\":\"mining.subscribe\",\"params\":[\"kubesentry-simulator/1.0\"]}\n";
static const char HTTP_GET[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: probe/1.0\r\n\r\n";
static const char JSONRPC[] = "{\"id\":1,\"jsonrpc\":\"2.0\",\"method\":\"eth_blockNumber\",\"params\":[]}\n";

static long send_iovecs(int fd, const char *msg, size_t len, int use_sendmsg)
{
	struct iovec iov[2] = { { .iov_base = (void *)msg, .iov_len = 1 }, { .iov_base = (void *)(msg + 1), .iov_len = len - 1 } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };

	return use_sendmsg ? sendmsg(fd, &mh, MSG_NOSIGNAL) : writev(fd, iov, 2);
}

static long send_cut(int fd, const char *msg, size_t len, size_t cut)
{
	if (write(fd, msg, cut) != (ssize_t)cut)
		return -1;
	return write(fd, msg + cut, len - cut);
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	const char *usage = "first-byte|mid-method|newline|writev|sendmsg|http-first-byte|jsonrpc-writev <port>";
	if (argc != 3 || atoi(argv[2]) <= 0 || atoi(argv[2]) > 65535)
		return ks_usage(argv[0], usage);
	const char *mode = argv[1];
	size_t n = sizeof(SUBSCRIBE) - 1;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = htons(atoi(argv[2]));
	int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(listener, 1) < 0)
		return ks_setup_failed("stratum_split", "loopback listener");
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ks_setup_failed("stratum_split", "socket");
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return ks_report("stratum_split", "connect", -1);
	long rc;
	if (!strcmp(mode, "first-byte"))
		rc = send_cut(fd, SUBSCRIBE, n, 1);
	else if (!strcmp(mode, "mid-method"))
		rc = send_cut(fd, SUBSCRIBE, n, strstr(SUBSCRIBE, "subscribe") - SUBSCRIBE);
	else if (!strcmp(mode, "newline"))
		rc = write(fd, "\r\n", 2) == 2 && write(fd, " ", 1) == 1 ? write(fd, SUBSCRIBE, n) : -1;
	else if (!strcmp(mode, "writev"))
		rc = send_iovecs(fd, SUBSCRIBE, n, 0);
	else if (!strcmp(mode, "sendmsg"))
		rc = send_iovecs(fd, SUBSCRIBE, n, 1);
	else if (!strcmp(mode, "http-first-byte"))
		rc = send_cut(fd, HTTP_GET, sizeof(HTTP_GET) - 1, 1);
	else if (!strcmp(mode, "jsonrpc-writev"))
		rc = send_iovecs(fd, JSONRPC, sizeof(JSONRPC) - 1, 0);
	else
		return ks_usage(argv[0], usage);
	ks_report("stratum_split", mode, rc);
	close(fd);
	close(listener);
	return 0;
}
