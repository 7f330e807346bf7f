/*
 * ip.h - source addresses as the store keeps them: 16 bytes, IPv6 or
 * IPv4-mapped IPv6 (::ffff:a.b.c.d), and their canonical text (dotted quad
 * for IPv4, RFC 5952 for IPv6).
 */
#ifndef DM_IP_H
#define DM_IP_H

#include <stddef.h>

/* Longest text dm_ip_format writes, NUL included (INET6_ADDRSTRLEN). */
#define DM_IP_TEXT 46

/* Parse an IPv4 or IPv6 address (nothing around it); returns 4 or 6 and
 * fills ip, or 0 when text is not an address.  An IPv4-mapped IPv6
 * address counts as IPv4, as in reports. */
int dm_ip_parse(const char *text, unsigned char ip[16]);

/* The canonical text of ip into out (at least DM_IP_TEXT bytes). */
void dm_ip_format(const unsigned char ip[16], char *out, size_t outlen);

#endif
