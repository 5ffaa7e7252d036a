/* SPDX-License-Identifier: Apache-2.0 */
/* A DNS A query for a name (RFC 1035 §4.1), for the simulator programs that send one. */
#ifndef KS_SIM_DNS_MESSAGE_H
#define KS_SIM_DNS_MESSAGE_H

#include <string.h>

/* Writes the query into msg (at least 12 bytes); returns its length, or 0 when the name does not fit or a label
 * is empty or over 63 bytes. */
static inline size_t ks_dns_query(unsigned char *msg, size_t size, const char *name)
{
	size_t off = 12;

	memset(msg, 0, 12);
	msg[0] = 0x4b, msg[1] = 0x53, msg[2] = 0x01, msg[5] = 1; /* id "KS", RD, one question */
	for (const char *label = name; *label;) {
		const char *dot = strchr(label, '.');
		size_t len = dot ? (size_t)(dot - label) : strlen(label);
		if (len == 0 || len > 63 || off + len + 6 > size)
			return 0;
		msg[off++] = (unsigned char)len;
		memcpy(msg + off, label, len);
		off += len;
		label += len + (dot ? 1 : 0);
	}
	msg[off++] = 0;
	msg[off++] = 0, msg[off++] = 1; /* QTYPE A */
	msg[off++] = 0, msg[off++] = 1; /* QCLASS IN */
	return off;
}

#endif
