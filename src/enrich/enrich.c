/*
 * enrich.c - the reverse name, AS, country and sending service of a
 * source address (enrich.h; docs/ENRICH.md).
 *
 * The MMDB files are read with libmaxminddb: an ASN database with
 * MaxMind's GeoLite2-ASN fields (autonomous_system_number,
 * autonomous_system_organization; `dmarcd geoip build-asn` makes one from
 * the @ip-location-db CSVs), and a country database with either
 * ip-location-db's country_code or MaxMind's country.iso_code.
 *
 * Each enricher keeps the addresses it has met in a table of at most
 * DM_ENRICH_IP_CACHE entries (least recently used go first), each with
 * the state of its reverse name and until when that holds (the answers'
 * TTLs, at least DM_ENRICH_MIN_TTL, and DM_ENRICH_RETRY_TTL after a DNS
 * failure).  A PTR answer leads to an A or AAAA question for the first
 * name; the name is kept when that answer holds the address.
 *
 * Functions: dm_enrich_shared_new/free, dm_enricher_new/free,
 * dm_enricher_prefetch, dm_enricher_settle, dm_enricher_pending,
 * dm_enricher_get, dm_enricher_lookup, dm_enrich_describe.  Logs nothing.
 */
#include "enrich/enrich.h"

#include <arpa/inet.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "core/config.h"
#include "dns/check.h"
#include "dns/resolver.h"
#include "enrich/services.h"

struct dm_enrich_shared {
	MMDB_s asn, country;
	int have_asn, have_country;
	struct dm_services *services;
	struct dm_dns_cache *cache;
	int rdns;
	char resolver[512];
	int timeout_ms;
};

static int
mmdb_open(const char *path, MMDB_s *db, const char *what, char *err, size_t errlen)
{
	int rc = MMDB_open(path, MMDB_MODE_MMAP, db);
	if (rc != MMDB_SUCCESS) {
		snprintf(err, errlen, "%s database %s: %s", what, path, MMDB_strerror(rc));
		return -1;
	}
	return 0;
}

struct dm_enrich_shared *
dm_enrich_shared_new(const struct dm_enrich_conf *c, char *err, size_t errlen)
{
	struct dm_enrich_shared *s = xcalloc(1, sizeof(*s));
	if (c->asn_db && *c->asn_db) {
		if (mmdb_open(c->asn_db, &s->asn, "ASN", err, errlen) != 0)
			goto fail;
		s->have_asn = 1;
	}
	if (c->country_db && *c->country_db) {
		if (mmdb_open(c->country_db, &s->country, "country", err, errlen) != 0)
			goto fail;
		s->have_country = 1;
	}
	if (c->services && *c->services) {
		s->services = dm_services_load(c->services, err, errlen);
		if (!s->services)
			goto fail;
	}
	s->rdns = c->rdns;
	snprintf(s->resolver, sizeof(s->resolver), "%s", c->resolver ? c->resolver : "");
	s->timeout_ms = c->timeout_ms;
	s->cache = dm_dns_cache_new(0);
	return s;
fail:
	dm_enrich_shared_free(s);
	return NULL;
}

void
dm_enrich_shared_free(struct dm_enrich_shared *s)
{
	if (!s)
		return;
	if (s->have_asn)
		MMDB_close(&s->asn);
	if (s->have_country)
		MMDB_close(&s->country);
	dm_services_free(s->services);
	dm_dns_cache_free(s->cache);
	free(s);
}

/* path, unless it is the compiled-in default and is not there. */
static const char *
data_file(const char *path, const char *def, const char *what, char *note, size_t notelen)
{
	if (!*path)
		return "";
	if (strcmp(path, def) == 0 && access(path, R_OK) != 0) {
		size_t n = strlen(note);
		snprintf(note + n, notelen - n, "%sno %s (%s)", n ? "; " : "", what, path);
		return "";
	}
	return path;
}

struct dm_enrich_shared *
dm_enrich_from_config(const struct dm_config *cfg, char *note, size_t notelen, char *err,
                      size_t errlen)
{
	err[0] = '\0';
	note[0] = '\0';
	if (strcmp(cfg->enrich, "off") == 0)
		return NULL;
	struct dm_enrich_conf c = {
	        .asn_db = data_file(cfg->asn_db, DM_ASN_DB, "ASN database", note, notelen),
	        .country_db = data_file(cfg->country_db, DM_COUNTRY_DB, "country database", note,
	                                notelen),
	        .services = data_file(cfg->services_file, DM_SERVICES_FILE, "service map", note,
	                              notelen),
	        .rdns = strcmp(cfg->rdns, "on") == 0 ||
	                (strcmp(cfg->rdns, "auto") == 0 && cfg->resolver[0]),
	        .resolver = cfg->resolver,
	        .timeout_ms = (int)dm_config_int(cfg->dns_timeout_ms),
	};
	return dm_enrich_shared_new(&c, err, errlen);
}

int
dm_enrich_rdns(const struct dm_enrich_shared *s)
{
	return s->rdns;
}

void
dm_enrich_describe(const struct dm_enrich_shared *s, char *out, size_t outlen)
{
	snprintf(out, outlen, "ASN database %s, country database %s, %zu services, reverse DNS %s",
	         s->have_asn ? "yes" : "none", s->have_country ? "yes" : "none",
	         s->services ? dm_services_count(s->services) : 0, s->rdns ? "on" : "off");
}

/* ---- one thread's addresses ---------------------------------------- */

struct ipent {
	unsigned char ip[16];
	enum dm_ptr_state state;
	int asked; /* a question is out */
	char *ptr; /* the confirmed name */
	int64_t expires;
	struct ipent *hnext, *prev, *next;
};

struct dm_enricher {
	struct dm_enrich_shared *s;
	struct dm_resolver *r;
	struct ipent **tab;
	size_t nbuckets, n;
	struct ipent *head, *tail;
};

struct dm_enricher *
dm_enricher_new(struct dm_enrich_shared *s, char *err, size_t errlen)
{
	struct dm_enricher *e = xcalloc(1, sizeof(*e));
	e->s = s;
	if (s->rdns) {
		e->r = dm_resolver_new(s->resolver, s->timeout_ms, s->cache, err, errlen);
		if (!e->r) {
			free(e);
			return NULL;
		}
	}
	e->nbuckets = 1;
	while (e->nbuckets < DM_ENRICH_IP_CACHE)
		e->nbuckets *= 2;
	e->tab = xcalloc(e->nbuckets, sizeof(*e->tab));
	return e;
}

static size_t
ip_bucket(const struct dm_enricher *e, const unsigned char ip[16])
{
	uint64_t h = 1469598103934665603ull;
	for (int i = 0; i < 16; i++)
		h = (h ^ ip[i]) * 1099511628211ull;
	return (size_t)(h & (e->nbuckets - 1));
}

static void
lru_unlink(struct dm_enricher *e, struct ipent *x)
{
	if (x->prev)
		x->prev->next = x->next;
	else
		e->head = x->next;
	if (x->next)
		x->next->prev = x->prev;
	else
		e->tail = x->prev;
	x->prev = x->next = NULL;
}

static void
lru_front(struct dm_enricher *e, struct ipent *x)
{
	x->next = e->head;
	if (e->head)
		e->head->prev = x;
	e->head = x;
	if (!e->tail)
		e->tail = x;
}

static void
ipent_remove(struct dm_enricher *e, struct ipent *x)
{
	struct ipent **pp = &e->tab[ip_bucket(e, x->ip)];
	while (*pp != x)
		pp = &(*pp)->hnext;
	*pp = x->hnext;
	lru_unlink(e, x);
	free(x->ptr);
	free(x);
	e->n--;
}

void
dm_enricher_free(struct dm_enricher *e)
{
	if (!e)
		return;
	/* questions still out are answered (as timeouts) by the resolver's
	 * destruction, into entries that still exist */
	dm_resolver_free(e->r);
	while (e->head)
		ipent_remove(e, e->head);
	free(e->tab);
	free(e);
}

static struct ipent *
ipent_find(struct dm_enricher *e, const unsigned char ip[16])
{
	for (struct ipent *x = e->tab[ip_bucket(e, ip)]; x; x = x->hnext)
		if (memcmp(x->ip, ip, 16) == 0)
			return x;
	return NULL;
}

static struct ipent *
ipent_add(struct dm_enricher *e, const unsigned char ip[16])
{
	/* evict the least recently used entry that waits for nothing */
	if (e->n >= DM_ENRICH_IP_CACHE)
		for (struct ipent *x = e->tail; x; x = x->prev)
			if (!x->asked) {
				ipent_remove(e, x);
				break;
			}
	struct ipent *x = xcalloc(1, sizeof(*x));
	memcpy(x->ip, ip, 16);
	size_t b = ip_bucket(e, ip);
	x->hnext = e->tab[b];
	e->tab[b] = x;
	lru_front(e, x);
	e->n++;
	return x;
}

static int
is_v4(const unsigned char ip[16])
{
	static const unsigned char prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	return memcmp(ip, prefix, 12) == 0;
}

static void
ip_text(const unsigned char ip[16], char *out, size_t outlen)
{
	if (is_v4(ip))
		inet_ntop(AF_INET, ip + 12, out, (socklen_t)outlen);
	else
		inet_ntop(AF_INET6, ip, out, (socklen_t)outlen);
}

/* A question in flight: which enricher and address (the entry may be
 * gone by the time the answer comes). */
struct ask {
	struct dm_enricher *e;
	unsigned char ip[16];
	char name[256];
	uint32_t ttl;
};

static void
settle_entry(struct dm_enricher *e, const unsigned char ip[16], enum dm_ptr_state st,
             const char *name, uint32_t ttl)
{
	struct ipent *x = ipent_find(e, ip);
	if (!x)
		return;
	x->asked = 0;
	x->state = st;
	free(x->ptr);
	x->ptr = st == DM_PTR_CONFIRMED ? xstrdup(name) : NULL;
	if (st == DM_PTR_FAILED)
		ttl = DM_ENRICH_RETRY_TTL;
	else if (ttl < DM_ENRICH_MIN_TTL)
		ttl = DM_ENRICH_MIN_TTL;
	x->expires = dm_dns_now_ms() + (int64_t)ttl * 1000;
}

static void
forward_answered(void *arg, const char *name, enum dm_dns_type type, const struct dm_dns_answer *a)
{
	(void)name;
	(void)type;
	struct ask *q = arg;
	char want[64];
	ip_text(q->ip, want, sizeof(want));
	enum dm_ptr_state st = DM_PTR_UNCONFIRMED;
	if (a->status == DM_DNS_SERVFAIL || a->status == DM_DNS_TIMEOUT)
		st = DM_PTR_FAILED;
	for (size_t i = 0; i < a->n; i++) {
		unsigned char got[16];
		int fam = type == DM_DNS_A ? AF_INET : AF_INET6;
		unsigned char bin[16];
		if (inet_pton(fam, a->rr[i].data, bin) != 1)
			continue;
		if (fam == AF_INET) {
			memset(got, 0, 10);
			got[10] = got[11] = 0xff;
			memcpy(got + 12, bin, 4);
		} else {
			memcpy(got, bin, 16);
		}
		if (memcmp(got, q->ip, 16) == 0)
			st = DM_PTR_CONFIRMED;
	}
	uint32_t ttl = a->ttl < q->ttl ? a->ttl : q->ttl;
	settle_entry(q->e, q->ip, st, q->name, ttl);
	free(q);
}

/* A name as a reverse record may give it: letters, digits, '-', '_',
 * dots; lower-cased, no trailing dot. */
static int
host_name(const char *in, char out[256])
{
	size_t n = strlen(in);
	if (n && in[n - 1] == '.')
		n--;
	if (n == 0 || n > 253)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char ch = in[i];
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		      ch == '_' || ch == '.'))
			return -1;
		out[i] = ch;
	}
	out[n] = '\0';
	return 0;
}

static void
ptr_answered(void *arg, const char *name, enum dm_dns_type type, const struct dm_dns_answer *a)
{
	(void)name;
	(void)type;
	struct ask *q = arg;
	if (a->status == DM_DNS_OK && host_name(a->rr[0].data, q->name) == 0 && q->e->r) {
		q->ttl = a->ttl;
		/* the callback owns q from here */
		dm_dns_submit(q->e->r, q->name, is_v4(q->ip) ? DM_DNS_A : DM_DNS_AAAA,
		              forward_answered, q);
		return;
	}
	enum dm_ptr_state st = a->status == DM_DNS_OK ? DM_PTR_UNCONFIRMED /* a bad name */
	                       : a->status == DM_DNS_NXDOMAIN || a->status == DM_DNS_NODATA
	                               ? DM_PTR_NONE
	                               : DM_PTR_FAILED;
	settle_entry(q->e, q->ip, st, NULL, a->ttl);
	free(q);
}

void
dm_enricher_prefetch(struct dm_enricher *e, const unsigned char ip[16])
{
	struct ipent *x = ipent_find(e, ip);
	if (x) {
		lru_unlink(e, x);
		lru_front(e, x);
		if (x->asked || (x->state != DM_PTR_UNKNOWN && dm_dns_now_ms() < x->expires))
			return;
	} else {
		x = ipent_add(e, ip);
	}
	if (!e->r)
		return;
	/* no more questions out than a bound: a report of very many
	 * sources past its deadline reads what has come and asks on, or
	 * leaves the rest for reenrich */
	if (dm_dns_pending(e->r) >= DM_ENRICH_MAX_PENDING)
		dm_dns_poll(e->r, 0);
	if (dm_dns_pending(e->r) >= DM_ENRICH_MAX_PENDING)
		return;
	char text[64], rev[128];
	ip_text(ip, text, sizeof(text));
	if (dm_dns_reverse_name(text, rev, sizeof(rev)) != 0)
		return;
	struct ask *q = xcalloc(1, sizeof(*q));
	q->e = e;
	memcpy(q->ip, ip, 16);
	x->asked = 1;
	dm_dns_submit(e->r, rev, DM_DNS_PTR, ptr_answered, q);
}

void
dm_enricher_settle(struct dm_enricher *e, int64_t deadline_ms)
{
	if (e->r)
		dm_dns_poll(e->r, deadline_ms);
}

size_t
dm_enricher_pending(const struct dm_enricher *e)
{
	return e->r ? dm_dns_pending(e->r) : 0;
}

/* ---- the MMDB files ------------------------------------------------ */

static void
mmdb_sockaddr(const unsigned char ip[16], struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (is_v4(ip)) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, ip + 12, 4);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, ip, 16);
	}
}

static int
mmdb_find(MMDB_s *db, const unsigned char ip[16], MMDB_entry_s *entry)
{
	struct sockaddr_storage ss;
	int gai = 0, err = 0;
	mmdb_sockaddr(ip, &ss);
	MMDB_lookup_result_s r = MMDB_lookup_sockaddr(db, (struct sockaddr *)&ss, &err);
	if (gai || err != MMDB_SUCCESS || !r.found_entry)
		return -1;
	*entry = r.entry;
	return 0;
}

/* A UTF-8 string of the database, printable and bounded, into out. */
static void
copy_str(const MMDB_entry_data_s *d, char *out, size_t outlen)
{
	size_t n = d->data_size < outlen - 1 ? d->data_size : outlen - 1;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)d->utf8_string[i];
		out[k++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	out[k] = '\0';
}

static void
lookup_mmdb(struct dm_enrich_shared *s, const unsigned char ip[16], struct dm_enrichment *out)
{
	MMDB_entry_s entry;
	MMDB_entry_data_s d;
	if (s->have_asn && mmdb_find(&s->asn, ip, &entry) == 0) {
		if (MMDB_get_value(&entry, &d, "autonomous_system_number", NULL) == MMDB_SUCCESS &&
		    d.has_data && d.type == MMDB_DATA_TYPE_UINT32)
			out->asn = d.uint32;
		if (MMDB_get_value(&entry, &d, "autonomous_system_organization", NULL) ==
		            MMDB_SUCCESS &&
		    d.has_data && d.type == MMDB_DATA_TYPE_UTF8_STRING)
			copy_str(&d, out->as_org, sizeof(out->as_org));
	}
	if (s->have_country && mmdb_find(&s->country, ip, &entry) == 0) {
		int ok = MMDB_get_value(&entry, &d, "country_code", NULL) == MMDB_SUCCESS &&
		         d.has_data;
		if (!ok)
			ok = MMDB_get_value(&entry, &d, "country", "iso_code", NULL) ==
			             MMDB_SUCCESS &&
			     d.has_data;
		if (ok && d.type == MMDB_DATA_TYPE_UTF8_STRING && d.data_size == 2) {
			char cc[3];
			copy_str(&d, cc, sizeof(cc));
			if (cc[0] >= 'A' && cc[0] <= 'Z' && cc[1] >= 'A' && cc[1] <= 'Z')
				memcpy(out->country, cc, 3);
		}
	}
}

void
dm_enricher_get(struct dm_enricher *e, const unsigned char ip[16], const char *const *dkim_domains,
                size_t ndkim, struct dm_enrichment *out)
{
	memset(out, 0, sizeof(*out));
	lookup_mmdb(e->s, ip, out);
	struct ipent *x = ipent_find(e, ip);
	if (x && !x->asked) {
		out->ptr_state = x->state;
		if (x->state == DM_PTR_CONFIRMED && x->ptr) {
			snprintf(out->ptr, sizeof(out->ptr), "%s", x->ptr);
			dm_check_org_domain(out->ptr, out->base_domain);
		}
	}
	if (e->s->services) {
		const char *ptr = out->ptr[0] ? out->ptr : NULL;
		const struct dm_service *own =
		        dm_services_match(e->s->services, ptr, out->asn, NULL, 0);
		const struct dm_service *svc =
		        ndkim ? dm_services_match(e->s->services, ptr, out->asn, dkim_domains,
		                                  ndkim)
		              : own;
		if (svc) {
			out->service = svc->name;
			out->service_type = dm_service_type_name(svc->type);
		}
		if (own) {
			out->ip_service = own->name;
			out->ip_service_type = dm_service_type_name(own->type);
		}
	}
}

void
dm_enricher_lookup(struct dm_enricher *e, const unsigned char ip[16],
                   const char *const *dkim_domains, size_t ndkim, int timeout_ms,
                   struct dm_enrichment *out)
{
	dm_enricher_prefetch(e, ip);
	int64_t until = dm_dns_now_ms() + timeout_ms;
	while (e->r && dm_dns_now_ms() < until) {
		struct ipent *x = ipent_find(e, ip);
		if (!x || !x->asked)
			break;
		dm_enricher_settle(e, until);
	}
	dm_enricher_get(e, ip, dkim_domains, ndkim, out);
}
