/*
 * ip.c - source addresses between their stored and their text form.
 *
 * Functions: dm_ip_parse, dm_ip_format.  Logs nothing.
 */
#include "ip.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int
dm_ip_parse(const char *text, unsigned char ip[16])
{
	unsigned char a4[4];

	if (strlen(text) >= DM_IP_TEXT)
		return 0;
	if (inet_pton(AF_INET, text, a4) == 1) {
		memcpy(ip, v4mapped, 12);
		memcpy(ip + 12, a4, 4);
		return 4;
	}
	if (inet_pton(AF_INET6, text, ip) == 1)
		return memcmp(ip, v4mapped, 12) == 0 ? 4 : 6;
	return 0;
}

void
dm_ip_format(const unsigned char ip[16], char *out, size_t outlen)
{
	char text[DM_IP_TEXT];

	if (memcmp(ip, v4mapped, 12) == 0)
		inet_ntop(AF_INET, ip + 12, text, sizeof text);
	else
		inet_ntop(AF_INET6, ip, text, sizeof text);
	snprintf(out, outlen, "%s", text);
}
