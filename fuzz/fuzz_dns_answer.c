/*
 * fuzz_dns_answer.c - libFuzzer target for the reading of DNS answers
 * (dm_dns_parse_answer): what a DNS server sends is untrusted.
 *
 * The first byte picks the type asked (A, AAAA, TXT, MX, PTR, CNAME) and
 * whether c-ares called the answer empty; the rest is the message.
 * Checked after every input: the records stay within DM_DNS_MAX_RRS and
 * DM_DNS_MAX_RDATA, each is NUL-terminated at its length, an address
 * record is a printable address, an empty answer is never "ok", and the
 * TTL is within its cap.  A violation aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/limits.h"
#include "dns/resolver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum dm_dns_type types[] = {DM_DNS_A,  DM_DNS_AAAA, DM_DNS_TXT,
	                                         DM_DNS_MX, DM_DNS_PTR,  DM_DNS_CNAME};
	if (size < 1 || size > 65536)
		return 0;
	enum dm_dns_type type = types[data[0] % 6];
	enum dm_dns_status st = (data[0] / 6) % 3 == 0   ? DM_DNS_OK
	                        : (data[0] / 6) % 3 == 1 ? DM_DNS_NXDOMAIN
	                                                 : DM_DNS_NODATA;
	struct dm_dns_answer *a = dm_dns_parse_answer(data + 1, (int)(size - 1), type, st);
	if (!a || a->n > DM_DNS_MAX_RRS)
		abort();
	if (a->status == DM_DNS_OK && a->n == 0)
		abort();
	if (a->status != DM_DNS_OK && a->n != 0)
		abort();
	if ((a->status == DM_DNS_NXDOMAIN || a->status == DM_DNS_NODATA) &&
	    a->ttl > DM_DNS_NEG_TTL_MAX)
		abort();
	for (size_t i = 0; i < a->n; i++) {
		const struct dm_dns_rr *r = &a->rr[i];
		if (r->len > DM_DNS_MAX_RDATA || r->data[r->len] != '\0')
			abort();
		if (type == DM_DNS_A || type == DM_DNS_AAAA)
			for (size_t k = 0; k < r->len; k++)
				if (!strchr("0123456789abcdef.:", r->data[k]))
					abort();
	}
	dm_dns_answer_free(a);
	return 0;
}
