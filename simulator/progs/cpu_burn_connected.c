/* SPDX-License-Identifier: Apache-2.0 */
/*
 * KS-MIN-001 (CPU saturation with a long-lived outbound connection): hold a TCP connection to the container's own
 * non-loopback address (a listener this program opens there, so no packet leaves the container's network
 * namespace, yet the agent sees a connection that is not to loopback) and spin on the CPU for <seconds>.
 * Nothing is computed: the loop only burns the container's CPU share, which its quota bounds.
 */
#include "sim.h"
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int own_address(struct sockaddr_in *out)
{
	struct ifaddrs *all;
	if (getifaddrs(&all) < 0)
		return -1;
	int found = -1;
	for (struct ifaddrs *ifa = all; ifa && found < 0; ifa = ifa->ifa_next) {
		if (!ifa->ifa_addr || ifa->ifa_addr->sa_family != AF_INET)
			continue;
		struct sockaddr_in *in = (struct sockaddr_in *)ifa->ifa_addr;
		if ((ntohl(in->sin_addr.s_addr) >> 24) == 127)
			continue;
		*out = *in;
		found = 0;
	}
	freeifaddrs(all);
	return found;
}

int main(int argc, char **argv)
{
	if (argc != 2 || atoi(argv[1]) <= 0)
		return ks_usage(argv[0], "<seconds>");
	int seconds = atoi(argv[1]);
	struct sockaddr_in addr;
	socklen_t len = sizeof(addr);
	if (own_address(&addr) < 0) {
		errno = EADDRNOTAVAIL;
		return ks_setup_failed("cpu_burn_connected", "no non-loopback IPv4 address in this network namespace");
	}
	addr.sin_port = 0;
	int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(listener, 1) < 0 ||
	    getsockname(listener, (struct sockaddr *)&addr, &len) < 0)
		return ks_setup_failed("cpu_burn_connected", "listener");
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ks_setup_failed("cpu_burn_connected", "socket");
	ks_report("cpu_burn_connected", inet_ntoa(addr.sin_addr), connect(fd, (struct sockaddr *)&addr, sizeof(addr)));
	time_t end = time(NULL) + seconds;
	volatile unsigned long spins = 0;
	while (time(NULL) < end)
		for (int i = 0; i < 1000000; i++)
			spins++;
	close(fd);
	close(listener);
	return 0;
}
