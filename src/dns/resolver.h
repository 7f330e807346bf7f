/*
 * resolver.h - DNS questions through c-ares, with a cache shared between
 * threads that honours TTLs.
 *
 * A struct dm_resolver belongs to one thread (a c-ares channel is not
 * shared); its questions are asked and answered in that thread, so it
 * is used by the CLI and by worker threads, never by the SMTP or HTTP
 * event loop.  Several resolvers may share one struct dm_dns_cache.
 *
 * Answers are copied out: the caller owns what dm_dns_lookup returns
 * and frees it with dm_dns_answer_free.  Everything in an answer came
 * from the network: bounded (DM_DNS_MAX_RRS, DM_DNS_MAX_RDATA) but
 * untrusted.
 */
#ifndef DM_DNS_RESOLVER_H
#define DM_DNS_RESOLVER_H

#include <stddef.h>
#include <stdint.h>

enum dm_dns_type {
	DM_DNS_A = 1,
	DM_DNS_CNAME = 5,
	DM_DNS_PTR = 12,
	DM_DNS_MX = 15,
	DM_DNS_TXT = 16,
	DM_DNS_AAAA = 28
};

enum dm_dns_status {
	DM_DNS_OK,       /* at least one record of the type asked */
	DM_DNS_NODATA,   /* the name exists, no record of that type */
	DM_DNS_NXDOMAIN, /* no such name */
	DM_DNS_SERVFAIL, /* the server failed or refused */
	DM_DNS_TIMEOUT,  /* no answer in time */
	DM_DNS_ERROR     /* a bad name, a malformed answer, ... */
};

struct dm_dns_rr {
	char *data;    /* NUL-terminated; TXT: the strings joined; A/AAAA:
	                  the address as text; MX, PTR, CNAME: the host */
	size_t len;    /* bytes of data (a TXT may hold a NUL) */
	unsigned pref; /* MX preference */
};

struct dm_dns_answer {
	enum dm_dns_status status;
	uint32_t ttl;
	size_t n;
	struct dm_dns_rr rr[]; /* n records, in the server's order */
};

struct dm_dns_cache;
struct dm_resolver;

/* A cache of at most max answers (0: DM_DNS_CACHE_MAX). */
struct dm_dns_cache *dm_dns_cache_new(size_t max);
void dm_dns_cache_free(struct dm_dns_cache *c);

/* servers: "ADDR:PORT,ADDR:PORT" ([v6]:PORT), or "" for the system's
 * (/etc/resolv.conf); timeout_ms per try (0: DM_DNS_TIMEOUT_MS); cache
 * may be NULL (nothing kept).  NULL with err set when servers cannot be
 * read. */
struct dm_resolver *dm_resolver_new(const char *servers, int timeout_ms, struct dm_dns_cache *cache,
                                    char *err, size_t errlen);
void dm_resolver_free(struct dm_resolver *r);

/* From now on every question not answered by deadline (CLOCK_MONOTONIC
 * milliseconds, 0 = none) is a timeout, and those asked after it are not
 * sent at all. */
void dm_resolver_deadline(struct dm_resolver *r, int64_t deadline_ms);

/* Questions sent to the servers (not answered from the cache). */
uint64_t dm_resolver_sent(const struct dm_resolver *r);

/* Ask name's records of type, waiting for the answer (or the cache).
 * Always an answer, whose status says what came back. */
struct dm_dns_answer *dm_dns_lookup(struct dm_resolver *r, const char *name, enum dm_dns_type type);

/* Many questions at once: each answer is passed to cb (which does not
 * keep it) as it arrives, from dm_dns_wait; answers from the cache are
 * passed at once. */
typedef void (*dm_dns_cb)(void *arg, const char *name, enum dm_dns_type type,
                          const struct dm_dns_answer *a);
void dm_dns_submit(struct dm_resolver *r, const char *name, enum dm_dns_type type, dm_dns_cb cb,
                   void *arg);
/* Run until every question submitted is answered or deadline_ms
 * (monotonic, 0 = the resolver's deadline) passes; those left are
 * answered DM_DNS_TIMEOUT.  Returns how many timed out so. */
size_t dm_dns_wait(struct dm_resolver *r, int64_t deadline_ms);

/* Like dm_dns_wait, but questions still out at until_ms stay asked (their
 * answers are read by a later call): for callers that must not wait long
 * but want the answers eventually.  until_ms 0: read what has arrived.
 * Returns how many are still out. */
size_t dm_dns_poll(struct dm_resolver *r, int64_t until_ms);
size_t dm_dns_pending(const struct dm_resolver *r);

void dm_dns_answer_free(struct dm_dns_answer *a);

const char *dm_dns_status_name(enum dm_dns_status s); /* "ok", "nxdomain", ... */
const char *dm_dns_type_name(enum dm_dns_type t);     /* "TXT", ... */

/* The reverse name of an address ("4.3.2.1.in-addr.arpa", the nibbles of
 * an IPv6 one), for a PTR question. 0, or -1 when addr is no address. */
int dm_dns_reverse_name(const char *addr, char *out, size_t outlen);

/* Read a DNS message (len bytes, from a server: untrusted) for the
 * records of type in its answer section; st is what c-ares said of it
 * (DM_DNS_OK, or DM_DNS_NXDOMAIN / DM_DNS_NODATA for an empty answer).
 * Used by the resolver, and by fuzz/fuzz_dns_answer.c. */
struct dm_dns_answer *dm_dns_parse_answer(const unsigned char *msg, int len, enum dm_dns_type type,
                                          enum dm_dns_status st);

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t dm_dns_now_ms(void);

#endif
