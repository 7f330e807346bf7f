/*
 * hash.c - SHA-256 through OpenSSL's EVP interface.
 *
 * Functions: dm_sha256_new, dm_sha256_update, dm_sha256_final_hex,
 * dm_sha256_free, dm_hmac_sha256.
 */
#include "hash.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct dm_sha256 {
	EVP_MD_CTX *ctx;
};

struct dm_sha256 *
dm_sha256_new(void)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		fprintf(stderr, "dmarcd: fatal: SHA-256 unavailable\n");
		abort();
	}
	struct dm_sha256 *h = malloc(sizeof *h);
	if (!h)
		abort();
	h->ctx = ctx;
	return h;
}

void
dm_sha256_update(struct dm_sha256 *h, const void *p, size_t len)
{
	EVP_DigestUpdate(h->ctx, p, len);
}

void
dm_sha256_final_hex(struct dm_sha256 *h, char hex[DM_SHA256_HEX])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	EVP_DigestFinal_ex(h->ctx, md, &n);
	for (unsigned int i = 0; i < DM_SHA256_LEN; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[DM_SHA256_HEX - 1] = '\0';
}

void
dm_sha256_free(struct dm_sha256 *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

void
dm_hmac_sha256(const void *key, size_t keylen, const void *p, size_t len,
               unsigned char mac[DM_SHA256_LEN])
{
	static const unsigned char nokey;
	unsigned int n = DM_SHA256_LEN;
	if (keylen > (size_t)INT32_MAX)
		keylen = INT32_MAX;
	if (!HMAC(EVP_sha256(), keylen ? key : &nokey, (int)keylen, len ? p : (const void *)&nokey,
	          len, mac, &n) ||
	    n != DM_SHA256_LEN) {
		fprintf(stderr, "dmarcd: fatal: HMAC-SHA256 unavailable\n");
		abort();
	}
}
