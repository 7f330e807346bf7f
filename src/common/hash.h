/*
 * hash.h - SHA-256 of a byte stream (OpenSSL's libcrypto).
 *
 * The archive names each attachment by the SHA-256 of its bytes, so two
 * reporters' report.xml.gz never collide and a re-sent copy lands on the
 * same key.  dm_hmac_sha256 makes keyed tokens.
 */
#ifndef DM_HASH_H
#define DM_HASH_H

#include <stddef.h>

#define DM_SHA256_LEN 32
#define DM_SHA256_HEX (DM_SHA256_LEN * 2 + 1)

struct dm_sha256;

struct dm_sha256 *dm_sha256_new(void);
void dm_sha256_update(struct dm_sha256 *h, const void *p, size_t len);
/* Finish; writes 64 hex digits and a NUL to hex.  h may not be reused. */
void dm_sha256_final_hex(struct dm_sha256 *h, char hex[DM_SHA256_HEX]);
void dm_sha256_free(struct dm_sha256 *h);

/* HMAC-SHA256 of p under key, into mac (DM_SHA256_LEN bytes): keyed
 * tokens that cannot be reversed without the key (the redaction of
 * addresses in failure reports, parse/arf.c). */
void dm_hmac_sha256(const void *key, size_t keylen, const void *p, size_t len,
		    unsigned char mac[DM_SHA256_LEN]);

#endif
