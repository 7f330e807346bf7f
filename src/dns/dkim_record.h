/*
 * dkim_record.h - a DKIM public key record (the TXT at
 * SELECTOR._domainkey.DOMAIN, RFC 6376 §3.6.1, Ed25519 keys of RFC 8463)
 * read tag by tag, without DNS: its tags as written, the key's type and
 * size, whether it is revoked or in testing, and every problem its text
 * shows (RFC 8301 on key sizes and hashes).  Looking the record up is for
 * `dmarcd record check`.
 */
#ifndef DM_DNS_DKIM_RECORD_H
#define DM_DNS_DKIM_RECORD_H

#include <stddef.h>

#include "common/limits.h"
#include "dns/dmarc_record.h"

struct dm_dkim_record {
	int is_dkim; /* looks like a DKIM key record: v=DKIM1 first, or no v= but a p= tag */
	int valid;   /* no finding of severity error */
	/* as written, lower case, "" when absent (k: "" means rsa by default) */
	char v[16], k[16], h[64], s[64], t[16];
	char key_type[16]; /* "rsa", "ed25519", or the unknown k= value quoted safely;
	                      "" when no key */
	int bits;          /* key size in bits, 0 when unknown */
	int revoked;       /* p= present and empty */
	int testing;       /* t has y */
	struct dm_finding findings[DM_DMARC_MAX_FINDINGS];
	size_t nfindings, nerrors;
	int findings_dropped;
};

/* Read text (len bytes; the TXT strings of one record already joined). */
void dm_dkim_record_parse(const char *text, size_t len, struct dm_dkim_record *r);

/* r as one JSON object: is_dkim, valid, tags (as written), key_type, bits,
 * revoked, testing, findings. */
void dm_dkim_record_json(const struct dm_dkim_record *r, struct dm_json *j);

#endif
