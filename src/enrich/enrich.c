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
 * Reverse names are asked by one DNS thread for the process (rdns_main,
 * with a resolver of its own), from a queue the ingest threads fill
 * (dm_enricher_prefetch never waits), into a table of at most
 * DM_ENRICH_IP_CACHE addresses (least recently used go first) under one
 * mutex, each with the state of its reverse name and until when that
 * holds (the answers' TTLs, at least DM_ENRICH_MIN_TTL, and
 * DM_ENRICH_RETRY_TTL after a DNS failure).  A PTR answer leads to an A or
 * AAAA question for the first name; the name is kept when that answer
 * holds the address.  An ingest thread waits for the answers before it
 * writes a report (dm_enricher_settle) up to the report's deadline, and
 * in all no more than DM_ENRICH_WAIT_SHARE percent of its time: parsing
 * and DNS run side by side, on two cores where there are two.
 *
 * Functions: dm_enrich_shared_new/free, dm_enricher_new/free,
 * dm_enricher_prefetch, dm_enricher_settle, dm_enricher_wait, dm_enricher_pending,
 * dm_enricher_get, dm_enrich_describe.  Logs nothing.
 */
#include "enrich/enrich.h"

#include <arpa/inet.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "core/config.h"
#include "dns/check.h"
#include "dns/resolver.h"
#include "enrich/services.h"

struct rdns;
static struct rdns *rdns_new(struct dm_enrich_shared *s, char *err, size_t errlen);
static void rdns_free(struct rdns *d);

struct dm_enrich_shared {
	MMDB_s asn, country;
	int have_asn, have_country;
	struct dm_services *services;
	struct rdns *rd; /* NULL: no reverse names */
	int rdns;
	long rate; /* rdns_rate */
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
	s->rate = c->rate > 0 ? c->rate : DM_ENRICH_RDNS_RATE;
	if (s->rdns && (s->rd = rdns_new(s, err, errlen)) == NULL)
		goto fail;
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
	rdns_free(s->rd);
	dm_services_free(s->services);
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
	        .rate = dm_config_int(cfg->rdns_rate),
	};
	return dm_enrich_shared_new(&c, err, errlen);
}

const struct dm_services *
dm_enrich_services(const struct dm_enrich_shared *s)
{
	return s ? s->services : NULL;
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

/* ---- the reverse names: one DNS thread for the process -------------- */

struct ipent {
	unsigned char ip[16];
	enum dm_ptr_state state;
	int asked;  /* queued or out */
	char *ptr;  /* the confirmed name */
	char *base; /* its registrable domain */
	int64_t expires;
	struct ipent *hnext, *prev, *next;
};

/* Shared by every enricher: the table of addresses (LRU, at most
 * DM_ENRICH_IP_CACHE), the queue of addresses to ask, and the thread that
 * asks them through its own resolver. */
struct rdns {
	pthread_mutex_t mu;
	pthread_cond_t work; /* the thread waits here for the queue */
	pthread_cond_t done; /* enrichers wait here for answers */
	struct ipent **tab;
	size_t nbuckets, n;
	struct ipent *head, *tail;
	unsigned char (*queue)[16];
	size_t qhead, qlen;
	size_t asked; /* entries asked and not answered */
	int waiters;  /* enrichers waiting on done */
	int idle;     /* the thread waits on work */
	int quit;
	long rate;             /* addresses asked per second at most */
	struct dm_resolver *r; /* the thread's */
	pthread_t thr;
	int started;
};

static size_t
ip_bucket(const struct rdns *d, const unsigned char ip[16])
{
	uint64_t h = 1469598103934665603ull;
	for (int i = 0; i < 16; i++)
		h = (h ^ ip[i]) * 1099511628211ull;
	return (size_t)(h & (d->nbuckets - 1));
}

static void
lru_unlink(struct rdns *d, struct ipent *x)
{
	if (x->prev)
		x->prev->next = x->next;
	else
		d->head = x->next;
	if (x->next)
		x->next->prev = x->prev;
	else
		d->tail = x->prev;
	x->prev = x->next = NULL;
}

static void
lru_front(struct rdns *d, struct ipent *x)
{
	x->next = d->head;
	if (d->head)
		d->head->prev = x;
	d->head = x;
	if (!d->tail)
		d->tail = x;
}

static void
ipent_remove(struct rdns *d, struct ipent *x)
{
	struct ipent **pp = &d->tab[ip_bucket(d, x->ip)];
	while (*pp != x)
		pp = &(*pp)->hnext;
	*pp = x->hnext;
	lru_unlink(d, x);
	free(x->ptr);
	free(x->base);
	free(x);
	d->n--;
}

static struct ipent *
ipent_find(struct rdns *d, const unsigned char ip[16])
{
	for (struct ipent *x = d->tab[ip_bucket(d, ip)]; x; x = x->hnext)
		if (memcmp(x->ip, ip, 16) == 0)
			return x;
	return NULL;
}

/* A new entry, or NULL when the table is full of entries waiting for
 * their answer near its old end (at most 32 are looked at). */
static struct ipent *
ipent_add(struct rdns *d, const unsigned char ip[16])
{
	/* evict the least recently used entry that waits for nothing */
	if (d->n >= DM_ENRICH_IP_CACHE) {
		struct ipent *x = d->tail;
		for (int k = 0; x && x->asked && k < 32; k++)
			x = x->prev;
		if (!x || x->asked)
			return NULL;
		ipent_remove(d, x);
	}
	struct ipent *x = xcalloc(1, sizeof(*x));
	memcpy(x->ip, ip, 16);
	size_t b = ip_bucket(d, ip);
	x->hnext = d->tab[b];
	d->tab[b] = x;
	lru_front(d, x);
	d->n++;
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

/* A question in flight (the DNS thread's). */
struct ask {
	struct rdns *d;
	unsigned char ip[16];
	char name[256];
	uint32_t ttl;
};

/* The answer for ip: under the lock, in the DNS thread. */
static void
settle_entry(struct rdns *d, const unsigned char ip[16], enum dm_ptr_state st, const char *name,
             uint32_t ttl)
{
	char base[DM_CHECK_NAME] = "";
	if (st == DM_PTR_CONFIRMED)
		dm_check_org_domain(name, base); /* outside the lock: it reads the PSL */
	pthread_mutex_lock(&d->mu);
	struct ipent *x = ipent_find(d, ip);
	if (x) {
		if (x->asked && d->asked > 0)
			__atomic_fetch_sub(&d->asked, 1, __ATOMIC_RELAXED);
		x->asked = 0;
		x->state = st;
		free(x->ptr);
		free(x->base);
		x->ptr = st == DM_PTR_CONFIRMED ? xstrdup(name) : NULL;
		x->base = st == DM_PTR_CONFIRMED ? xstrdup(base) : NULL;
		if (st == DM_PTR_FAILED)
			ttl = DM_ENRICH_RETRY_TTL;
		else if (ttl < DM_ENRICH_MIN_TTL)
			ttl = DM_ENRICH_MIN_TTL;
		x->expires = dm_dns_now_ms() + (int64_t)ttl * 1000;
	}
	if (d->waiters && d->asked == 0)
		pthread_cond_broadcast(&d->done);
	pthread_mutex_unlock(&d->mu);
}

static void
forward_answered(void *arg, const char *name, enum dm_dns_type type, const struct dm_dns_answer *a)
{
	(void)name;
	struct ask *q = arg;
	enum dm_ptr_state st = DM_PTR_UNCONFIRMED;
	if (a->status == DM_DNS_SERVFAIL || a->status == DM_DNS_TIMEOUT)
		st = DM_PTR_FAILED;
	for (size_t i = 0; i < a->n; i++) {
		unsigned char got[16], bin[16];
		int fam = type == DM_DNS_A ? AF_INET : AF_INET6;
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
	settle_entry(q->d, q->ip, st, q->name, ttl);
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
	if (a->status == DM_DNS_OK && host_name(a->rr[0].data, q->name) == 0) {
		q->ttl = a->ttl;
		/* the callback owns q from here */
		dm_dns_submit(q->d->r, q->name, is_v4(q->ip) ? DM_DNS_A : DM_DNS_AAAA,
		              forward_answered, q);
		return;
	}
	enum dm_ptr_state st = a->status == DM_DNS_OK ? DM_PTR_UNCONFIRMED /* a bad name */
	                       : a->status == DM_DNS_NXDOMAIN || a->status == DM_DNS_NODATA
	                               ? DM_PTR_NONE
	                               : DM_PTR_FAILED;
	settle_entry(q->d, q->ip, st, NULL, a->ttl);
	free(q);
}

/* The DNS thread: takes the queue's addresses (at most
 * DM_ENRICH_MAX_PENDING questions out), reads the answers. */
static void *
rdns_main(void *arg)
{
	struct rdns *d = arg;
	unsigned char(*take)[16] = xcalloc(DM_ENRICH_MAX_PENDING, 16);
	/* paced: at most d->rate addresses a second, a token bucket that
	 * holds a second's worth */
	double tokens = (double)d->rate;
	int64_t last = dm_dns_now_ms();
	/* below the ingest threads: names that do not keep up are left for
	 * the fill, parsing is not slowed by them (Linux: per thread) */
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), DM_ENRICH_DNS_NICE) != 0)
		(void)0; /* not allowed: the thread runs at the process's priority */
	pthread_mutex_lock(&d->mu);
	while (!d->quit) {
		int64_t now = dm_dns_now_ms();
		tokens += (double)(now - last) * (double)d->rate / 1000.0;
		if (tokens > (double)d->rate)
			tokens = (double)d->rate;
		last = now;
		if (dm_dns_pending(d->r) == 0) {
			/* nothing out: sleep until there is work and a token for
			 * it; a few queued addresses wait 10 ms for company (an
			 * enricher that waits, or DM_ENRICH_KICK of them, wake
			 * the thread at once) */
			int64_t ms = -1;
			/* tokens in batches of DM_ENRICH_BATCH_MS' worth: one
			 * wake-up (and one socket: c-ares closes an idle one)
			 * for many questions */
			double batch = (double)d->rate * DM_ENRICH_BATCH_MS / 1000.0;
			if (batch < 1)
				batch = 1;
			int for_tokens = 0;
			if (d->qlen > 0 && tokens < batch && tokens < (double)d->qlen) {
				ms = (int64_t)((batch - tokens) * 1000.0 / (double)d->rate) + 1;
				for_tokens = 1;
			} else if (d->qlen > 0 && d->qlen < DM_ENRICH_KICK && !d->waiters) {
				ms = 10;
			} else if (d->qlen > 0) {
				ms = 0;
			}
			if (ms != 0) {
				/* waiting for tokens, more work changes nothing: the
				 * enrichers do not wake it (idle says whether to) */
				d->idle = !for_tokens;
				if (ms < 0) {
					pthread_cond_wait(&d->work, &d->mu);
				} else {
					struct timespec until;
					clock_gettime(CLOCK_REALTIME, &until);
					int64_t ns = until.tv_nsec + ms * 1000000;
					until.tv_sec += ns / 1000000000;
					until.tv_nsec = ns % 1000000000;
					pthread_cond_timedwait(&d->work, &d->mu, &until);
				}
				d->idle = 0;
				continue;
			}
		}
		size_t room = DM_ENRICH_MAX_PENDING - dm_dns_pending(d->r), n = 0;
		if (room > (size_t)tokens)
			room = (size_t)tokens;
		while (n < room && d->qlen > 0) {
			memcpy(take[n++], d->queue[d->qhead], 16);
			d->qhead = (d->qhead + 1) % DM_ENRICH_QUEUE;
			d->qlen--;
		}
		tokens -= (double)n;
		pthread_mutex_unlock(&d->mu);
		for (size_t i = 0; i < n; i++) {
			char text[64], rev[128];
			ip_text(take[i], text, sizeof(text));
			struct ask *q = xcalloc(1, sizeof(*q));
			q->d = d;
			memcpy(q->ip, take[i], 16);
			if (dm_dns_reverse_name(text, rev, sizeof(rev)) != 0) {
				settle_entry(d, q->ip, DM_PTR_FAILED, NULL, 0);
				free(q);
				continue;
			}
			dm_dns_submit(d->r, rev, DM_DNS_PTR, ptr_answered, q);
		}
		/* the answers, for a few milliseconds; then the queue again */
		if (dm_dns_pending(d->r) > 0)
			dm_dns_poll(d->r, dm_dns_now_ms() + 5);
		pthread_mutex_lock(&d->mu);
	}
	pthread_mutex_unlock(&d->mu);
	free(take);
	return NULL;
}

static struct rdns *
rdns_new(struct dm_enrich_shared *s, char *err, size_t errlen)
{
	struct rdns *d = xcalloc(1, sizeof(*d));
	/* no answer cache of its own: the table of addresses is one */
	d->r = dm_resolver_new(s->resolver, s->timeout_ms, NULL, err, errlen);
	if (!d->r) {
		free(d);
		return NULL;
	}
	d->rate = s->rate > 0 ? s->rate : 1;
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->work, NULL);
	pthread_cond_init(&d->done, NULL);
	d->nbuckets = 1;
	while (d->nbuckets < DM_ENRICH_IP_CACHE)
		d->nbuckets *= 2;
	d->tab = xcalloc(d->nbuckets, sizeof(*d->tab));
	d->queue = xcalloc(DM_ENRICH_QUEUE, 16);
	if (pthread_create(&d->thr, NULL, rdns_main, d) != 0) {
		snprintf(err, errlen, "cannot start the reverse DNS thread");
		dm_resolver_free(d->r);
		free(d->tab);
		free(d->queue);
		free(d);
		return NULL;
	}
	d->started = 1;
	return d;
}

static void
rdns_free(struct rdns *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->mu);
	d->quit = 1;
	pthread_cond_signal(&d->work);
	pthread_mutex_unlock(&d->mu);
	pthread_join(d->thr, NULL);
	/* questions still out are answered (as timeouts) now, into the
	 * table that still exists */
	dm_resolver_free(d->r);
	while (d->head)
		ipent_remove(d, d->head);
	free(d->tab);
	free(d->queue);
	pthread_cond_destroy(&d->work);
	pthread_cond_destroy(&d->done);
	pthread_mutex_destroy(&d->mu);
	free(d);
}

/* ---- one thread's enricher ------------------------------------------- */

/* What the MMDB files say of one address, kept by an enricher: a
 * source comes back in record after record and report after report, and
 * the lookups (two trees, three values) cost more than the rest of the
 * enrichment.  The AS name is kept where it is in the mapped file (which
 * stays open as long as the shared state), so an entry is 40 bytes. */
struct mmdb_memo {
	unsigned char ip[16];
	uint32_t asn;
	const char *org; /* in the ASN file, org_len bytes, not terminated */
	uint16_t org_len;
	char country[3];
	unsigned char used;
};

struct dm_enricher {
	struct dm_enrich_shared *s;
	/* the time waited for reverse names, against the time since the
	 * first record: waits stop at DM_ENRICH_WAIT_SHARE percent of it;
	 * the first report's wait (first) is its own and not in waited */
	int64_t t0, waited;
	int first;
	struct mmdb_memo *memo; /* DM_ENRICH_MEMO entries, direct-mapped */
};

struct dm_enricher *
dm_enricher_new(struct dm_enrich_shared *s, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	struct dm_enricher *e = xcalloc(1, sizeof(*e));
	e->s = s;
	e->memo = xcalloc(DM_ENRICH_MEMO, sizeof(*e->memo));
	return e;
}

void
dm_enricher_free(struct dm_enricher *e)
{
	if (e)
		free(e->memo);
	free(e);
}

void
dm_enricher_prefetch(struct dm_enricher *e, const unsigned char ip[16])
{
	struct rdns *d = e->s->rd;
	if (!d)
		return;
	if (!e->t0)
		e->t0 = dm_dns_now_ms();
	/* never held up by the DNS thread (it runs below the ingest threads
	 * and may hold the lock while it waits for the CPU): the address
	 * is then asked by the fill */
	if (pthread_mutex_trylock(&d->mu) != 0)
		return;
	struct ipent *x = ipent_find(d, ip);
	if (x) {
		lru_unlink(d, x);
		lru_front(d, x);
		if (x->asked || (x->state != DM_PTR_UNKNOWN && dm_dns_now_ms() < x->expires)) {
			pthread_mutex_unlock(&d->mu);
			return;
		}
	} else if (d->qlen < DM_ENRICH_QUEUE) {
		x = ipent_add(d, ip);
	}
	/* a full queue or table: left unknown, for the fill */
	if (x && d->qlen < DM_ENRICH_QUEUE) {
		memcpy(d->queue[(d->qhead + d->qlen) % DM_ENRICH_QUEUE], ip, 16);
		d->qlen++;
		x->asked = 1;
		__atomic_fetch_add(&d->asked, 1, __ATOMIC_RELAXED);
		/* one wake-up for a batch of addresses, not one each */
		if (d->idle && d->qlen >= DM_ENRICH_KICK)
			pthread_cond_signal(&d->work);
	}
	pthread_mutex_unlock(&d->mu);
}

void
dm_enricher_settle(struct dm_enricher *e, int64_t deadline_ms)
{
	struct rdns *d = e->s->rd;
	if (!d)
		return;
	int64_t now = dm_dns_now_ms();
	if (!e->t0)
		e->t0 = now;
	/* The first report of the thread waits up to its deadline (one
	 * report ingested alone gets its names).  The others, together, wait
	 * at most a share of the time since: a stream of reports of new
	 * sources is not slowed by their names, which the fill asks again.
	 * The first report's wait gives the others no credit: a credit of a
	 * deadline would let the first hundred reports of an import wait
	 * for their names one after the other, a second in all. */
	int first = !e->first;
	e->first = 1;
	if (!first) {
		int64_t allowed = (now - e->t0) * DM_ENRICH_WAIT_SHARE / 100 - e->waited;
		if (deadline_ms > now + allowed)
			deadline_ms = now + allowed;
	}
	/* a wait of a few milliseconds costs more in wake-ups than it brings */
	if (deadline_ms - now < DM_ENRICH_MIN_WAIT_MS)
		return;
	/* nor one for a queue longer than the pace can ask by the deadline:
	 * the report's names are behind it */
	pthread_mutex_lock(&d->mu);
	size_t queued = d->qlen;
	pthread_mutex_unlock(&d->mu);
	if ((double)queued > (double)d->rate * (double)(deadline_ms - now) / 1000.0)
		return;
	dm_enricher_wait(e, deadline_ms);
	if (!first)
		e->waited += dm_dns_now_ms() - now;
}

void
dm_enricher_wait(struct dm_enricher *e, int64_t deadline_ms)
{
	struct rdns *d = e->s->rd;
	int64_t now = dm_dns_now_ms();
	if (!d || deadline_ms <= now)
		return;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	int64_t ns = until.tv_nsec + (deadline_ms - now) * 1000000;
	until.tv_sec += ns / 1000000000;
	until.tv_nsec = ns % 1000000000;
	pthread_mutex_lock(&d->mu);
	if (d->idle && d->qlen > 0)
		pthread_cond_signal(&d->work); /* what is queued, now */
	d->waiters++;
	while (d->asked > 0 && !d->quit)
		if (pthread_cond_timedwait(&d->done, &d->mu, &until) != 0)
			break;
	d->waiters--;
	pthread_mutex_unlock(&d->mu);
}

int
dm_enricher_keeping_up(const struct dm_enricher *e)
{
	struct rdns *d = e->s->rd;
	if (!d)
		return 0;
	pthread_mutex_lock(&d->mu);
	size_t queued = d->qlen;
	pthread_mutex_unlock(&d->mu);
	return (double)queued <= (double)d->rate * DM_ENRICH_REPORT_WAIT_MS / 1000.0;
}

size_t
dm_enricher_pending(const struct dm_enricher *e)
{
	struct rdns *d = e->s->rd;
	if (!d)
		return 0;
	return __atomic_load_n(&d->asked, __ATOMIC_RELAXED);
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
	int err = 0;
	mmdb_sockaddr(ip, &ss);
	MMDB_lookup_result_s r = MMDB_lookup_sockaddr(db, (struct sockaddr *)&ss, &err);
	if (err != MMDB_SUCCESS || !r.found_entry)
		return -1;
	*entry = r.entry;
	return 0;
}

/* n bytes of a UTF-8 string of the database, printable and bounded,
 * into out. */
static void
copy_str(const char *in, size_t n, char *out, size_t outlen)
{
	if (n > outlen - 1)
		n = outlen - 1;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)in[i];
		out[k++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	out[k] = '\0';
}

/* The AS and country of ip into m (its AS name left in the file). */
static void
lookup_mmdb(struct dm_enrich_shared *s, const unsigned char ip[16], struct mmdb_memo *m)
{
	MMDB_entry_s entry;
	MMDB_entry_data_s d;
	m->asn = 0;
	m->org = NULL;
	m->org_len = 0;
	m->country[0] = '\0';
	if (s->have_asn && mmdb_find(&s->asn, ip, &entry) == 0) {
		if (MMDB_get_value(&entry, &d, "autonomous_system_number", NULL) == MMDB_SUCCESS &&
		    d.has_data && d.type == MMDB_DATA_TYPE_UINT32)
			m->asn = d.uint32;
		if (MMDB_get_value(&entry, &d, "autonomous_system_organization", NULL) ==
		            MMDB_SUCCESS &&
		    d.has_data && d.type == MMDB_DATA_TYPE_UTF8_STRING) {
			m->org = d.utf8_string;
			m->org_len = d.data_size < DM_ENRICH_ORG_MAX ? (uint16_t)d.data_size
			                                             : DM_ENRICH_ORG_MAX;
		}
	}
	if (s->have_country && mmdb_find(&s->country, ip, &entry) == 0) {
		int ok = MMDB_get_value(&entry, &d, "country_code", NULL) == MMDB_SUCCESS &&
		         d.has_data;
		if (!ok)
			ok = MMDB_get_value(&entry, &d, "country", "iso_code", NULL) ==
			             MMDB_SUCCESS &&
			     d.has_data;
		if (ok && d.type == MMDB_DATA_TYPE_UTF8_STRING && d.data_size == 2) {
			const char *cc = d.utf8_string;
			if (cc[0] >= 'A' && cc[0] <= 'Z' && cc[1] >= 'A' && cc[1] <= 'Z') {
				memcpy(m->country, cc, 2);
				m->country[2] = '\0';
			}
		}
	}
}

void
dm_enricher_get(struct dm_enricher *e, const unsigned char ip[16], const char *const *dkim_domains,
                size_t ndkim, struct dm_enrichment *out)
{
	memset(out, 0, sizeof(*out));
	uint64_t h = 1469598103934665603ULL;
	for (int i = 0; i < 16; i++)
		h = (h ^ ip[i]) * 1099511628211ULL;
	struct mmdb_memo *m = &e->memo[h & (DM_ENRICH_MEMO - 1)];
	if (!m->used || memcmp(m->ip, ip, 16) != 0) {
		lookup_mmdb(e->s, ip, m);
		memcpy(m->ip, ip, 16);
		m->used = 1;
	}
	out->asn = m->asn;
	copy_str(m->org ? m->org : "", m->org_len, out->as_org, sizeof(out->as_org));
	memcpy(out->country, m->country, sizeof(out->country));
	struct rdns *d = e->s->rd;
	/* as in dm_enricher_prefetch: a busy lock leaves the name unknown */
	if (d && pthread_mutex_trylock(&d->mu) == 0) {
		struct ipent *x = ipent_find(d, ip);
		if (x && !x->asked) {
			out->ptr_state = x->state;
			if (x->state == DM_PTR_CONFIRMED && x->ptr) {
				snprintf(out->ptr, sizeof(out->ptr), "%s", x->ptr);
				snprintf(out->base_domain, sizeof(out->base_domain), "%s", x->base);
			}
		}
		pthread_mutex_unlock(&d->mu);
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
