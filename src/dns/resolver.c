/*
 * resolver.c - DNS questions through c-ares, and a TTL cache shared by
 * threads.
 *
 * Each struct dm_resolver has a c-ares channel of its own and runs it
 * with poll() in the calling thread (dm_dns_wait): nothing here runs in
 * an event loop's thread.  Answers are read from the raw DNS message
 * (not c-ares' per-type parsers), because those drop the TTLs of TXT and
 * MX records and the SOA that says how long a "no such name" may be
 * remembered (RFC 2308 §5).
 *
 * The cache (struct dm_dns_cache) is a hash table with a least recently
 * used list, under one mutex: at most max answers, each kept no longer
 * than its TTL (DM_DNS_TTL_MAX, DM_DNS_NEG_TTL_MAX); failures and
 * timeouts are never kept.
 *
 * Functions: dm_dns_cache_new/free, dm_resolver_new/free,
 * dm_resolver_deadline, dm_dns_lookup, dm_dns_submit, dm_dns_wait,
 * dm_dns_answer_free, dm_dns_reverse_name, dm_dns_parse_answer.  Logs
 * nothing: callers say what an answer means to them.
 */
#include "dns/resolver.h"

#include <ares.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/limits.h"
#include "common/xalloc.h"

/* ---- answers ---------------------------------------------------------- */

/* One allocation: the header, n records, then their bytes. */
static struct dm_dns_answer *
answer_pack(enum dm_dns_status status, uint32_t ttl, size_t n, const struct dm_dns_rr *rr)
{
	size_t size = sizeof(struct dm_dns_answer) + n * sizeof(struct dm_dns_rr);
	for (size_t i = 0; i < n; i++)
		size += rr[i].len + 1;
	struct dm_dns_answer *a = xmalloc(size);
	a->status = status;
	a->ttl = ttl;
	a->n = n;
	char *p = (char *)&a->rr[n];
	for (size_t i = 0; i < n; i++) {
		a->rr[i].data = p;
		a->rr[i].len = rr[i].len;
		a->rr[i].pref = rr[i].pref;
		if (rr[i].len)
			memcpy(p, rr[i].data, rr[i].len);
		p[rr[i].len] = '\0';
		p += rr[i].len + 1;
	}
	return a;
}

static struct dm_dns_answer *
answer_dup(const struct dm_dns_answer *a)
{
	return answer_pack(a->status, a->ttl, a->n, a->rr);
}

void
dm_dns_answer_free(struct dm_dns_answer *a)
{
	free(a);
}

const char *
dm_dns_status_name(enum dm_dns_status s)
{
	switch (s) {
	case DM_DNS_OK:
		return "ok";
	case DM_DNS_NODATA:
		return "nodata";
	case DM_DNS_NXDOMAIN:
		return "nxdomain";
	case DM_DNS_SERVFAIL:
		return "servfail";
	case DM_DNS_TIMEOUT:
		return "timeout";
	case DM_DNS_ERROR:
		break;
	}
	return "error";
}

const char *
dm_dns_type_name(enum dm_dns_type t)
{
	switch (t) {
	case DM_DNS_A:
		return "A";
	case DM_DNS_CNAME:
		return "CNAME";
	case DM_DNS_PTR:
		return "PTR";
	case DM_DNS_MX:
		return "MX";
	case DM_DNS_TXT:
		return "TXT";
	case DM_DNS_AAAA:
		return "AAAA";
	}
	return "?";
}

int64_t
dm_dns_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the cache -------------------------------------------------------- */

struct centry {
	char *key; /* "TYPE name", the name in lower case */
	struct dm_dns_answer *a;
	int64_t expires; /* monotonic ms */
	struct centry *hnext;
	struct centry *prev, *next; /* LRU: head is the most recent */
};

struct dm_dns_cache {
	pthread_mutex_t mu;
	struct centry **tab;
	size_t nbuckets, n, max;
	struct centry *head, *tail;
};

static uint64_t
key_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

struct dm_dns_cache *
dm_dns_cache_new(size_t max)
{
	struct dm_dns_cache *c = xcalloc(1, sizeof(*c));
	pthread_mutex_init(&c->mu, NULL);
	c->max = max ? max : DM_DNS_CACHE_MAX;
	c->nbuckets = 64;
	while (c->nbuckets < c->max)
		c->nbuckets *= 2;
	c->tab = xcalloc(c->nbuckets, sizeof(*c->tab));
	return c;
}

static void
lru_unlink(struct dm_dns_cache *c, struct centry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void
lru_front(struct dm_dns_cache *c, struct centry *e)
{
	e->next = c->head;
	e->prev = NULL;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (!c->tail)
		c->tail = e;
}

static void
centry_remove(struct dm_dns_cache *c, struct centry *e)
{
	struct centry **pp = &c->tab[key_hash(e->key) & (c->nbuckets - 1)];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(c, e);
	free(e->key);
	dm_dns_answer_free(e->a);
	free(e);
	c->n--;
}

void
dm_dns_cache_free(struct dm_dns_cache *c)
{
	if (!c)
		return;
	while (c->head)
		centry_remove(c, c->head);
	free(c->tab);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

static void
cache_key(char *out, size_t outlen, const char *name, enum dm_dns_type type)
{
	int n = snprintf(out, outlen, "%d ", (int)type);
	for (size_t i = 0; name[i] && (size_t)n + i + 1 < outlen; i++) {
		char ch = name[i];
		out[n + i] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
		out[n + i + 1] = '\0';
	}
	/* a trailing dot names the same node */
	size_t l = strlen(out);
	if (l > (size_t)n && out[l - 1] == '.')
		out[l - 1] = '\0';
}

static struct dm_dns_answer *
cache_get(struct dm_dns_cache *c, const char *key)
{
	if (!c)
		return NULL;
	struct dm_dns_answer *out = NULL;
	pthread_mutex_lock(&c->mu);
	struct centry *e = c->tab[key_hash(key) & (c->nbuckets - 1)];
	while (e && strcmp(e->key, key) != 0)
		e = e->hnext;
	if (e) {
		int64_t now = dm_dns_now_ms();
		if (now >= e->expires) {
			centry_remove(c, e);
		} else {
			lru_unlink(c, e);
			lru_front(c, e);
			out = answer_dup(e->a);
			/* what is left of the TTL */
			out->ttl = (uint32_t)((e->expires - now + 999) / 1000);
		}
	}
	pthread_mutex_unlock(&c->mu);
	return out;
}

static void
cache_put(struct dm_dns_cache *c, const char *key, const struct dm_dns_answer *a)
{
	if (!c || a->ttl == 0 ||
	    (a->status != DM_DNS_OK && a->status != DM_DNS_NODATA && a->status != DM_DNS_NXDOMAIN))
		return;
	pthread_mutex_lock(&c->mu);
	size_t b = key_hash(key) & (c->nbuckets - 1);
	for (struct centry *e = c->tab[b]; e; e = e->hnext)
		if (strcmp(e->key, key) == 0) {
			centry_remove(c, e);
			break;
		}
	while (c->n >= c->max && c->tail)
		centry_remove(c, c->tail);
	struct centry *e = xcalloc(1, sizeof(*e));
	e->key = xstrdup(key);
	e->a = answer_dup(a);
	e->expires = dm_dns_now_ms() + (int64_t)a->ttl * 1000;
	e->hnext = c->tab[b];
	c->tab[b] = e;
	lru_front(c, e);
	c->n++;
	pthread_mutex_unlock(&c->mu);
}

/* ---- reading a DNS message ------------------------------------------- */

struct msg {
	const unsigned char *buf;
	int len;
	int off;
};

static int
msg_u16(struct msg *m, unsigned *v)
{
	if (m->len - m->off < 2)
		return -1;
	*v = (unsigned)m->buf[m->off] << 8 | m->buf[m->off + 1];
	m->off += 2;
	return 0;
}

static int
msg_u32(struct msg *m, uint32_t *v)
{
	if (m->len - m->off < 4)
		return -1;
	const unsigned char *p = m->buf + m->off;
	*v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	m->off += 4;
	return 0;
}

/* The name at m->off: into out (NULL: skipped). */
static int
msg_name(struct msg *m, char *out, size_t outlen)
{
	char *s = NULL;
	long enc = 0;
	if (m->off >= m->len ||
	    ares_expand_name(m->buf + m->off, m->buf, m->len, &s, &enc) != ARES_SUCCESS)
		return -1;
	int rc = 0;
	if (out) {
		size_t l = strlen(s);
		if (l >= outlen)
			rc = -1;
		else
			memcpy(out, s, l + 1);
	}
	ares_free_string(s);
	m->off += (int)enc;
	return rc;
}

struct rrs {
	struct dm_dns_rr rr[DM_DNS_MAX_RRS];
	char *data[DM_DNS_MAX_RRS];
	size_t n;
};

static void
rrs_add(struct rrs *v, const char *data, size_t len, unsigned pref)
{
	if (v->n == DM_DNS_MAX_RRS)
		return;
	if (len > DM_DNS_MAX_RDATA)
		len = DM_DNS_MAX_RDATA;
	v->data[v->n] = xmalloc(len + 1);
	memcpy(v->data[v->n], data, len);
	v->data[v->n][len] = '\0';
	v->rr[v->n] = (struct dm_dns_rr){.data = v->data[v->n], .len = len, .pref = pref};
	v->n++;
}

static void
rrs_free(struct rrs *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->data[i]);
}

/* The records of type in abuf's answer section (any owner: the server
 * followed CNAMEs), the smallest TTL on the way, and for an empty answer
 * the negative TTL from the SOA of the authority section. */
struct dm_dns_answer *
dm_dns_parse_answer(const unsigned char *abuf, int alen, enum dm_dns_type type,
                    enum dm_dns_status st)
{
	struct msg m = {abuf, alen, 0};
	unsigned id, flags, qd, an, ns, ar;
	if (msg_u16(&m, &id) || msg_u16(&m, &flags) || msg_u16(&m, &qd) || msg_u16(&m, &an) ||
	    msg_u16(&m, &ns) || msg_u16(&m, &ar))
		return answer_pack(DM_DNS_ERROR, 0, 0, NULL);
	for (unsigned i = 0; i < qd; i++) {
		unsigned t, c;
		if (msg_name(&m, NULL, 0) || msg_u16(&m, &t) || msg_u16(&m, &c))
			return answer_pack(DM_DNS_ERROR, 0, 0, NULL);
	}
	struct rrs v = {.n = 0};
	uint32_t ttl = DM_DNS_TTL_MAX;
	char host[1024];
	for (unsigned i = 0; i < an; i++) {
		unsigned t, c, rdlen;
		uint32_t rttl;
		if (msg_name(&m, NULL, 0) || msg_u16(&m, &t) || msg_u16(&m, &c) ||
		    msg_u32(&m, &rttl) || msg_u16(&m, &rdlen) || (unsigned)(m.len - m.off) < rdlen)
			goto bad;
		int end = m.off + (int)rdlen;
		if (rttl > INT32_MAX) /* RFC 2181 §8: a TTL with its top bit set is 0 */
			rttl = 0;
		if (c == 1 && (t == (unsigned)type || t == DM_DNS_CNAME) && rttl < ttl)
			ttl = rttl;
		if (c != 1 || t != (unsigned)type) {
			m.off = end;
			continue;
		}
		const unsigned char *p = m.buf + m.off;
		switch (type) {
		case DM_DNS_A:
		case DM_DNS_AAAA: {
			char txt[INET6_ADDRSTRLEN];
			if (rdlen != (type == DM_DNS_A ? 4u : 16u) ||
			    !inet_ntop(type == DM_DNS_A ? AF_INET : AF_INET6, p, txt, sizeof(txt)))
				goto bad;
			rrs_add(&v, txt, strlen(txt), 0);
			break;
		}
		case DM_DNS_TXT: {
			char *joined = xmalloc(rdlen + 1);
			size_t jl = 0;
			for (unsigned k = 0; k < rdlen;) {
				unsigned sl = p[k++];
				if (sl > rdlen - k) {
					free(joined);
					goto bad;
				}
				memcpy(joined + jl, p + k, sl);
				jl += sl;
				k += sl;
			}
			rrs_add(&v, joined, jl, 0);
			free(joined);
			break;
		}
		case DM_DNS_MX: {
			unsigned pref;
			if (msg_u16(&m, &pref) || msg_name(&m, host, sizeof(host)))
				goto bad;
			rrs_add(&v, host, strlen(host), pref);
			break;
		}
		case DM_DNS_PTR:
		case DM_DNS_CNAME:
			if (msg_name(&m, host, sizeof(host)))
				goto bad;
			rrs_add(&v, host, strlen(host), 0);
			break;
		}
		m.off = end;
	}
	if (v.n == 0) {
		/* negative: the SOA's own TTL and its minimum, the smaller */
		uint32_t neg = DM_DNS_NEG_TTL;
		for (unsigned i = 0; i < ns; i++) {
			unsigned t, c, rdlen;
			uint32_t rttl;
			if (msg_name(&m, NULL, 0) || msg_u16(&m, &t) || msg_u16(&m, &c) ||
			    msg_u32(&m, &rttl) || msg_u16(&m, &rdlen) ||
			    (unsigned)(m.len - m.off) < rdlen)
				break;
			int end = m.off + (int)rdlen;
			uint32_t serial, refresh, retry, expire, minimum;
			if (t == 6 && !msg_name(&m, NULL, 0) && !msg_name(&m, NULL, 0) &&
			    !msg_u32(&m, &serial) && !msg_u32(&m, &refresh) &&
			    !msg_u32(&m, &retry) && !msg_u32(&m, &expire) &&
			    !msg_u32(&m, &minimum)) {
				neg = rttl < minimum ? rttl : minimum;
				if (neg > INT32_MAX)
					neg = 0;
				break;
			}
			m.off = end;
		}
		if (neg > DM_DNS_NEG_TTL_MAX)
			neg = DM_DNS_NEG_TTL_MAX;
		return answer_pack(st == DM_DNS_NXDOMAIN ? DM_DNS_NXDOMAIN : DM_DNS_NODATA, neg, 0,
		                   NULL);
	}
	struct dm_dns_answer *a = answer_pack(DM_DNS_OK, ttl, v.n, v.rr);
	rrs_free(&v);
	return a;
bad:
	rrs_free(&v);
	return answer_pack(DM_DNS_ERROR, 0, 0, NULL);
}

/* ---- the resolver ----------------------------------------------------- */

struct dm_resolver {
	ares_channel ch;
	struct dm_dns_cache *cache;
	int64_t deadline;
	size_t pending;
	uint64_t sent;
};

struct question {
	struct dm_resolver *r;
	char key[300];
	char name[256];
	enum dm_dns_type type;
	dm_dns_cb cb;
	void *arg;
};

static pthread_once_t ares_once = PTHREAD_ONCE_INIT;
static int ares_init_rc;

static void
ares_once_init(void)
{
	ares_init_rc = ares_library_init(ARES_LIB_INIT_ALL);
}

struct dm_resolver *
dm_resolver_new(const char *servers, int timeout_ms, struct dm_dns_cache *cache, char *err,
                size_t errlen)
{
	pthread_once(&ares_once, ares_once_init);
	if (ares_init_rc != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares: %s", ares_strerror(ares_init_rc));
		return NULL;
	}
	struct dm_resolver *r = xcalloc(1, sizeof(*r));
	struct ares_options o;
	memset(&o, 0, sizeof(o));
	o.timeout = timeout_ms > 0 ? timeout_ms : DM_DNS_TIMEOUT_MS;
	o.tries = DM_DNS_TRIES;
	/* EDNS0 so long TXT answers come over UDP; c-ares asks again over
	 * TCP when an answer is truncated anyway */
	o.flags = ARES_FLAG_EDNS;
	o.ednspsz = 1232;
	int rc = ares_init_options(&r->ch, &o,
	                           ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS |
	                                   ARES_OPT_EDNSPSZ);
	if (rc != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
		free(r);
		return NULL;
	}
	if (servers && *servers) {
		rc = ares_set_servers_ports_csv(r->ch, servers);
		if (rc != ARES_SUCCESS) {
			snprintf(err, errlen,
			         "resolver '%.200s': %s (ADDR:PORT, [IPv6]:PORT, comma-separated)",
			         servers, ares_strerror(rc));
			ares_destroy(r->ch);
			free(r);
			return NULL;
		}
	}
	r->cache = cache;
	return r;
}

void
dm_resolver_free(struct dm_resolver *r)
{
	if (!r)
		return;
	/* callbacks of questions still out run now, with ARES_EDESTRUCTION */
	ares_destroy(r->ch);
	free(r);
}

void
dm_resolver_deadline(struct dm_resolver *r, int64_t deadline_ms)
{
	r->deadline = deadline_ms;
}

uint64_t
dm_resolver_sent(const struct dm_resolver *r)
{
	return r->sent;
}

static void
answered(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	(void)timeouts;
	struct question *q = arg;
	struct dm_dns_answer *a;
	switch (status) {
	case ARES_SUCCESS:
		a = dm_dns_parse_answer(abuf, alen, q->type, DM_DNS_OK);
		break;
	case ARES_ENODATA:
	case ARES_ENOTFOUND:
		if (abuf && alen > 0)
			a = dm_dns_parse_answer(abuf, alen, q->type,
			                        status == ARES_ENOTFOUND ? DM_DNS_NXDOMAIN
			                                                 : DM_DNS_NODATA);
		else
			a = answer_pack(status == ARES_ENOTFOUND ? DM_DNS_NXDOMAIN : DM_DNS_NODATA,
			                DM_DNS_NEG_TTL, 0, NULL);
		if (a->status == DM_DNS_OK) /* cannot be: no records */
			a->status = DM_DNS_NODATA;
		break;
	case ARES_ESERVFAIL:
	case ARES_EREFUSED:
	case ARES_ECONNREFUSED:
		a = answer_pack(DM_DNS_SERVFAIL, 0, 0, NULL);
		break;
	case ARES_ETIMEOUT:
	case ARES_ECANCELLED:
	case ARES_EDESTRUCTION:
		a = answer_pack(DM_DNS_TIMEOUT, 0, 0, NULL);
		break;
	default:
		a = answer_pack(DM_DNS_ERROR, 0, 0, NULL);
		break;
	}
	if (a->status == DM_DNS_OK && a->ttl > DM_DNS_TTL_MAX)
		a->ttl = DM_DNS_TTL_MAX;
	cache_put(q->r->cache, q->key, a);
	q->r->pending--;
	if (q->cb)
		q->cb(q->arg, q->name, q->type, a);
	dm_dns_answer_free(a);
	free(q);
}

/* A name c-ares will send: labels of 1 to 63 bytes, at most 253 bytes
 * without the trailing dot, no escapes. */
static int
name_ok(const char *name, size_t nl)
{
	if (nl && name[nl - 1] == '.')
		nl--;
	if (nl == 0 || nl > 253 || memchr(name, '\\', nl))
		return 0;
	size_t label = 0;
	for (size_t i = 0; i < nl; i++) {
		if (name[i] != '.')
			label++;
		else if (label == 0)
			return 0;
		else
			label = 0;
		if (label > 63)
			return 0;
	}
	return label > 0;
}

void
dm_dns_submit(struct dm_resolver *r, const char *name, enum dm_dns_type type, dm_dns_cb cb,
              void *arg)
{
	struct question *q = xcalloc(1, sizeof(*q));
	q->r = r;
	q->type = type;
	q->cb = cb;
	q->arg = arg;
	size_t nl = strlen(name);
	if (!name_ok(name, nl)) {
		struct dm_dns_answer *a = answer_pack(DM_DNS_ERROR, 0, 0, NULL);
		if (cb)
			cb(arg, name, type, a);
		dm_dns_answer_free(a);
		free(q);
		return;
	}
	memcpy(q->name, name, nl + 1);
	cache_key(q->key, sizeof(q->key), name, type);
	struct dm_dns_answer *hit = cache_get(r->cache, q->key);
	if (hit || (r->deadline && dm_dns_now_ms() >= r->deadline)) {
		if (!hit)
			hit = answer_pack(DM_DNS_TIMEOUT, 0, 0, NULL);
		if (cb)
			cb(arg, name, type, hit);
		dm_dns_answer_free(hit);
		free(q);
		return;
	}
	r->pending++;
	r->sent++;
	/* class IN */
	ares_query(r->ch, q->name, 1, (int)type, answered, q);
}

/* Read answers until none is pending or deadline_ms passes; then, with
 * cancel, what is left is answered DM_DNS_TIMEOUT.  Returns how many were
 * left. */
static size_t
run(struct dm_resolver *r, int64_t deadline_ms, int cancel)
{
	while (r->pending > 0) {
		int64_t now = dm_dns_now_ms();
		if (deadline_ms && now >= deadline_ms) {
			size_t left = r->pending;
			if (cancel)
				ares_cancel(r->ch); /* each is answered DM_DNS_TIMEOUT */
			return left;
		}
		ares_socket_t socks[ARES_GETSOCK_MAXNUM];
		int bits = ares_getsock(r->ch, socks, ARES_GETSOCK_MAXNUM);
		struct pollfd pfd[ARES_GETSOCK_MAXNUM];
		nfds_t np = 0;
		/* the bits by hand: c-ares' ARES_GETSOCK_WRITABLE shifts an int
		 * into its sign bit for the last socket */
		unsigned ubits = (unsigned)bits;
		for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
			short ev = 0;
			if (ubits & (1u << i))
				ev |= POLLIN;
			if (ubits & (1u << (i + ARES_GETSOCK_MAXNUM)))
				ev |= POLLOUT;
			if (!ev)
				continue;
			pfd[np].fd = socks[i];
			pfd[np].events = ev;
			pfd[np].revents = 0;
			np++;
		}
		struct timeval tv, *tvp = ares_timeout(r->ch, NULL, &tv);
		int64_t wait = tvp ? (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000 + 1 : 1000;
		if (deadline_ms && deadline_ms - now < wait)
			wait = deadline_ms - now;
		int n = poll(pfd, np, (int)wait);
		if (n <= 0) {
			ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
			continue;
		}
		for (nfds_t i = 0; i < np; i++) {
			if (!pfd[i].revents)
				continue;
			ares_socket_t rd = pfd[i].revents & (POLLIN | POLLERR | POLLHUP)
			                           ? pfd[i].fd
			                           : ARES_SOCKET_BAD;
			ares_socket_t wr = pfd[i].revents & POLLOUT ? pfd[i].fd : ARES_SOCKET_BAD;
			ares_process_fd(r->ch, rd, wr);
		}
	}
	return 0;
}

size_t
dm_dns_wait(struct dm_resolver *r, int64_t deadline_ms)
{
	if (!deadline_ms || (r->deadline && r->deadline < deadline_ms))
		deadline_ms = r->deadline;
	return run(r, deadline_ms, 1);
}

/* One pass without waiting: the answers that have arrived, and the
 * questions whose time is up. */
static void
pass(struct dm_resolver *r)
{
	ares_socket_t socks[ARES_GETSOCK_MAXNUM];
	unsigned bits = (unsigned)ares_getsock(r->ch, socks, ARES_GETSOCK_MAXNUM);
	struct pollfd pfd[ARES_GETSOCK_MAXNUM];
	nfds_t np = 0;
	for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++)
		if (bits & (1u << i)) {
			pfd[np].fd = socks[i];
			pfd[np].events = POLLIN;
			pfd[np].revents = 0;
			np++;
		}
	if (np == 0 || poll(pfd, np, 0) <= 0) {
		ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
		return;
	}
	for (nfds_t i = 0; i < np; i++)
		if (pfd[i].revents)
			ares_process_fd(r->ch, pfd[i].fd, ARES_SOCKET_BAD);
}

size_t
dm_dns_poll(struct dm_resolver *r, int64_t until_ms)
{
	if (r->pending > 0 && (until_ms <= 0 || until_ms <= dm_dns_now_ms()))
		pass(r);
	else if (r->pending > 0)
		run(r, until_ms, 0);
	return r->pending;
}

size_t
dm_dns_pending(const struct dm_resolver *r)
{
	return r->pending;
}

struct holder {
	struct dm_dns_answer *a;
};

static void
hold(void *arg, const char *name, enum dm_dns_type type, const struct dm_dns_answer *a)
{
	(void)name;
	(void)type;
	struct holder *h = arg;
	h->a = answer_dup(a);
}

struct dm_dns_answer *
dm_dns_lookup(struct dm_resolver *r, const char *name, enum dm_dns_type type)
{
	struct holder h = {NULL};
	dm_dns_submit(r, name, type, hold, &h);
	while (!h.a)
		dm_dns_wait(r, 0);
	return h.a;
}

int
dm_dns_reverse_name(const char *addr, char *out, size_t outlen)
{
	unsigned char b[16];
	if (inet_pton(AF_INET, addr, b) == 1)
		return snprintf(out, outlen, "%u.%u.%u.%u.in-addr.arpa", b[3], b[2], b[1], b[0]) <
		                       (int)outlen
		               ? 0
		               : -1;
	if (inet_pton(AF_INET6, addr, b) != 1 || outlen < 16 * 4 + sizeof("ip6.arpa"))
		return -1;
	static const char hex[] = "0123456789abcdef";
	char *p = out;
	for (int i = 15; i >= 0; i--) {
		*p++ = hex[b[i] & 15];
		*p++ = '.';
		*p++ = hex[b[i] >> 4];
		*p++ = '.';
	}
	memcpy(p, "ip6.arpa", sizeof("ip6.arpa"));
	return 0;
}
