/*
 * test_resolver.c - the c-ares resolver and its TTL/LRU cache
 * (src/dns/resolver.c) against a DNS responder of the test's own.
 *
 * The responder is a test double for malformed and counted answers: a
 * thread with a UDP socket on 127.0.0.1 (port 0) that answers each
 * question as the first label of its name says, and counts the queries
 * it received, so a test can tell an answer from the cache from one sent
 * over the wire.  The real resolver against a real server (knotd) is
 * tested in tests/dns; what is here is what a real server cannot be
 * made to do: a cut-off record, a TTL of four months, silence.
 *
 *   ttlN      TXT "v=test" (A 192.0.2.1 for A questions) with TTL N
 *   multi     three TXTs: "first", "abc" "def", "x\0y"
 *   cname     CNAME target.example (TTL 50), TXT there (TTL 20)
 *   nx        NXDOMAIN, SOA TTL 100 minimum 7
 *   nodata    NOERROR, no answer, SOA TTL 100 minimum 5
 *   servfail  SERVFAIL
 *   bad       NOERROR, ancount 1, the record cut off after its name
 *   silent    no answer at all
 *   hugettl   TXT with TTL 10,000,000
 *   hugeneg   NXDOMAIN, SOA TTL and minimum 999999
 *   nxnosoa   NXDOMAIN without an SOA
 *   many      70 TXTs, more than DM_DNS_MAX_RRS
 *   badtxt    a TXT whose character-string runs past its rdata
 *   bada      an A record of 5 bytes
 *   (other)   REFUSED
 *
 * "ttl0" is ttlN too: an answer that must not be kept.
 */

/* cmocka needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/limits.h"
#include "dns/resolver.h"

/* ---- the responder ---------------------------------------------------- */

struct responder {
	int fd;
	int port;
	pthread_t thread;
	atomic_int stop;
	atomic_ulong queries; /* datagrams received */
};

static struct responder dns;

struct reply {
	unsigned char buf[1500];
	size_t len;
};

static void
put8(struct reply *o, unsigned v)
{
	if (o->len < sizeof(o->buf))
		o->buf[o->len++] = (unsigned char)v;
}

static void
put16(struct reply *o, unsigned v)
{
	put8(o, v >> 8 & 0xff);
	put8(o, v & 0xff);
}

static void
put32(struct reply *o, uint32_t v)
{
	put16(o, v >> 16);
	put16(o, v & 0xffff);
}

static void
putbytes(struct reply *o, const void *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		put8(o, ((const unsigned char *)p)[i]);
}

/* A name in text ("target.example") as labels. */
static void
putname(struct reply *o, const char *name)
{
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);
		put8(o, (unsigned)l);
		putbytes(o, name, l);
		name += l;
		if (*name == '.')
			name++;
	}
	put8(o, 0);
}

/* The question's name: a pointer to offset 12. */
static void
putqname(struct reply *o)
{
	put16(o, 0xc00c);
}

/* type, class IN, ttl; the caller writes rdlength and rdata */
static void
putrr(struct reply *o, unsigned type, uint32_t ttl)
{
	put16(o, type);
	put16(o, 1);
	put32(o, ttl);
}

static void
put_txt(struct reply *o, uint32_t ttl, const char *s)
{
	size_t l = strlen(s);
	putqname(o);
	putrr(o, DM_DNS_TXT, ttl);
	put16(o, (unsigned)(l + 1));
	put8(o, (unsigned)l);
	putbytes(o, s, l);
}

static void
put_soa(struct reply *o, uint32_t ttl, uint32_t minimum)
{
	struct reply rd = {.len = 0};
	putname(&rd, "ns.example");
	putname(&rd, "hostmaster.example");
	put32(&rd, 1);     /* serial */
	put32(&rd, 3600);  /* refresh */
	put32(&rd, 600);   /* retry */
	put32(&rd, 86400); /* expire */
	put32(&rd, minimum);
	putname(o, "example");
	putrr(o, 6, ttl);
	put16(o, (unsigned)rd.len);
	putbytes(o, rd.buf, rd.len);
}

/* Header counts are at fixed places: set them once the records are in. */
static void
set16(struct reply *o, size_t at, unsigned v)
{
	o->buf[at] = (unsigned char)(v >> 8);
	o->buf[at + 1] = (unsigned char)v;
}

/* The answer to the query q (len bytes) into o; -1: say nothing. */
static int
respond(const unsigned char *q, size_t len, struct reply *o)
{
	if (len < 12 || q[4] != 0 || q[5] != 1)
		return -1;
	/* the question: labels without compression, then type and class */
	char first[64] = "";
	size_t off = 12;
	int label = 0;
	while (off < len && q[off] != 0) {
		size_t l = q[off];
		if (l > 63 || len - off - 1 < l)
			return -1;
		if (label++ == 0) {
			for (size_t i = 0; i < l; i++) {
				char ch = (char)q[off + 1 + i];
				first[i] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
			}
			first[l] = '\0';
		}
		off += 1 + l;
	}
	if (len - off < 5)
		return -1;
	off++;
	unsigned qtype = (unsigned)q[off] << 8 | q[off + 1];
	off += 4;

	unsigned rcode = 0, an = 0, ns = 0;
	o->len = 0;
	putbytes(o, q, 2); /* id */
	put16(o, 0);       /* flags, set below */
	put16(o, 1);
	put16(o, 0); /* ancount */
	put16(o, 0); /* nscount */
	put16(o, 0); /* arcount: the query's OPT is not answered */
	putbytes(o, q + 12, off - 12);

	if (strncmp(first, "ttl", 3) == 0 && first[3] >= '0' && first[3] <= '9') {
		char *end;
		unsigned long ttl = strtoul(first + 3, &end, 10);
		if (*end || ttl > UINT32_MAX)
			return -1;
		if (qtype == DM_DNS_A) {
			putqname(o);
			putrr(o, DM_DNS_A, (uint32_t)ttl);
			put16(o, 4);
			putbytes(o, "\xc0\x00\x02\x01", 4);
			an = 1;
		} else if (qtype == DM_DNS_TXT) {
			put_txt(o, (uint32_t)ttl, "v=test");
			an = 1;
		}
	} else if (strcmp(first, "multi") == 0) {
		put_txt(o, 300, "first");
		putqname(o);
		putrr(o, DM_DNS_TXT, 300);
		put16(o, 8);
		putbytes(o, "\003abc\003def", 8);
		putqname(o);
		putrr(o, DM_DNS_TXT, 300);
		put16(o, 4);
		putbytes(o, "\003x\0y", 4);
		an = 3;
	} else if (strcmp(first, "cname") == 0) {
		struct reply target = {.len = 0};
		putname(&target, "target.example");
		putqname(o);
		putrr(o, DM_DNS_CNAME, 50);
		put16(o, (unsigned)target.len);
		putbytes(o, target.buf, target.len);
		putname(o, "target.example");
		putrr(o, DM_DNS_TXT, 20);
		put16(o, 7);
		putbytes(o, "\006v=test", 7);
		an = 2;
	} else if (strcmp(first, "nx") == 0) {
		rcode = 3;
		put_soa(o, 100, 7);
		ns = 1;
	} else if (strcmp(first, "nodata") == 0) {
		put_soa(o, 100, 5);
		ns = 1;
	} else if (strcmp(first, "servfail") == 0) {
		rcode = 2;
	} else if (strcmp(first, "bad") == 0) {
		/* one record announced, cut off after its name and half its type */
		putqname(o);
		put8(o, 0);
		an = 1;
	} else if (strcmp(first, "silent") == 0) {
		return -1;
	} else if (strcmp(first, "nxnosoa") == 0) {
		rcode = 3;
	} else if (strcmp(first, "many") == 0) {
		for (an = 0; an < 70; an++) {
			char s[8];
			snprintf(s, sizeof(s), "r%u", an);
			put_txt(o, 300, s);
		}
	} else if (strcmp(first, "badtxt") == 0) {
		putqname(o);
		putrr(o, DM_DNS_TXT, 300);
		put16(o, 4);
		putbytes(o, "\011abc", 4); /* says 9 bytes, has 3 */
		an = 1;
	} else if (strcmp(first, "bada") == 0) {
		putqname(o);
		putrr(o, DM_DNS_A, 300);
		put16(o, 5);
		putbytes(o, "\xc0\x00\x02\x01\x01", 5);
		an = 1;
	} else if (strcmp(first, "hugettl") == 0) {
		put_txt(o, 10000000, "v=test");
		an = 1;
	} else if (strcmp(first, "hugeneg") == 0) {
		/* the SOA's own TTL as large, or it would be the smaller */
		rcode = 3;
		put_soa(o, 999999, 999999);
		ns = 1;
	} else {
		rcode = 5;
	}
	/* QR, the query's opcode, RD, RA */
	set16(o, 2, 0x8000 | (q[2] & 0x78) << 8 | 0x0100 | 0x0080 | rcode);
	set16(o, 6, an);
	set16(o, 8, ns);
	return 0;
}

static void *
responder_run(void *arg)
{
	struct responder *d = arg;
	while (!atomic_load(&d->stop)) {
		struct pollfd pfd = {.fd = d->fd, .events = POLLIN};
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		unsigned char q[1500];
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(d->fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fl);
		if (n <= 0)
			continue;
		atomic_fetch_add(&d->queries, 1);
		struct reply o;
		if (respond(q, (size_t)n, &o) == 0)
			sendto(d->fd, o.buf, o.len, 0, (struct sockaddr *)&from, fl);
	}
	return NULL;
}

static int
responder_start(void **state)
{
	(void)state;
	dns.fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (dns.fd < 0)
		return -1;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t sl = sizeof(sa);
	if (bind(dns.fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    getsockname(dns.fd, (struct sockaddr *)&sa, &sl) != 0)
		return -1;
	dns.port = ntohs(sa.sin_port);
	atomic_init(&dns.stop, 0);
	atomic_init(&dns.queries, 0);
	return pthread_create(&dns.thread, NULL, responder_run, &dns) == 0 ? 0 : -1;
}

static int
responder_stop(void **state)
{
	(void)state;
	atomic_store(&dns.stop, 1);
	pthread_join(dns.thread, NULL);
	close(dns.fd);
	return 0;
}

static unsigned long
queries(void)
{
	return atomic_load(&dns.queries);
}

/* ---- helpers ---------------------------------------------------------- */

static struct dm_resolver *
resolver(struct dm_dns_cache *cache)
{
	char servers[64], err[256] = "";
	snprintf(servers, sizeof(servers), "127.0.0.1:%d", dns.port);
	struct dm_resolver *r = dm_resolver_new(servers, 200, cache, err, sizeof(err));
	if (!r)
		fail_msg("dm_resolver_new: %s", err);
	return r;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, ms % 1000 * 1000000};
	while (nanosleep(&ts, &ts) != 0)
		;
}

/* Asks name and checks status and record count; the answer for more. */
static struct dm_dns_answer *
ask(struct dm_resolver *r, const char *name, enum dm_dns_type type, enum dm_dns_status st, size_t n)
{
	struct dm_dns_answer *a = dm_dns_lookup(r, name, type);
	assert_non_null(a);
	if (a->status != st)
		fail_msg("%s %s: status %s, expected %s", dm_dns_type_name(type), name,
		         dm_dns_status_name(a->status), dm_dns_status_name(st));
	assert_int_equal(a->n, n);
	return a;
}

static void
ask_free(struct dm_resolver *r, const char *name, enum dm_dns_type type, enum dm_dns_status st)
{
	dm_dns_answer_free(ask(r, name, type, st, st == DM_DNS_OK ? 1 : 0));
}

/* ---- 1. what each answer becomes ------------------------------------- */

static void
test_ttl_txt_and_a(void **state)
{
	(void)state;
	struct dm_resolver *r = resolver(NULL);
	struct dm_dns_answer *a = ask(r, "ttl300.example", DM_DNS_TXT, DM_DNS_OK, 1);
	assert_int_equal(a->ttl, 300);
	assert_int_equal(a->rr[0].len, 6);
	assert_string_equal(a->rr[0].data, "v=test");
	dm_dns_answer_free(a);

	a = ask(r, "ttl1.example", DM_DNS_TXT, DM_DNS_OK, 1);
	assert_int_equal(a->ttl, 1);
	dm_dns_answer_free(a);

	a = ask(r, "ttl60.example", DM_DNS_A, DM_DNS_OK, 1);
	assert_int_equal(a->ttl, 60);
	assert_int_equal(a->rr[0].len, strlen("192.0.2.1"));
	assert_string_equal(a->rr[0].data, "192.0.2.1");
	dm_dns_answer_free(a);
	dm_resolver_free(r);
}

static void
test_multi_txt(void **state)
{
	(void)state;
	struct dm_resolver *r = resolver(NULL);
	struct dm_dns_answer *a = ask(r, "multi.example", DM_DNS_TXT, DM_DNS_OK, 3);
	assert_int_equal(a->ttl, 300);
	/* in the server's order */
	assert_int_equal(a->rr[0].len, 5);
	assert_string_equal(a->rr[0].data, "first");
	/* two character-strings joined */
	assert_int_equal(a->rr[1].len, 6);
	assert_string_equal(a->rr[1].data, "abcdef");
	/* a NUL inside: len counts past it, and data still ends in one */
	assert_int_equal(a->rr[2].len, 3);
	assert_memory_equal(a->rr[2].data, "x\0y", 3);
	assert_int_equal(a->rr[2].data[3], '\0');
	dm_dns_answer_free(a);
	dm_resolver_free(r);
}

static void
test_cname_smallest_ttl(void **state)
{
	(void)state;
	struct dm_resolver *r = resolver(NULL);
	struct dm_dns_answer *a = ask(r, "cname.example", DM_DNS_TXT, DM_DNS_OK, 1);
	assert_string_equal(a->rr[0].data, "v=test");
	assert_int_equal(a->ttl, 20);
	dm_dns_answer_free(a);
	dm_resolver_free(r);
}

static void
test_negative_ttl_from_soa(void **state)
{
	(void)state;
	struct dm_resolver *r = resolver(NULL);
	struct dm_dns_answer *a = ask(r, "nx.example", DM_DNS_TXT, DM_DNS_NXDOMAIN, 0);
	assert_int_equal(a->ttl, 7); /* the minimum, smaller than the SOA's TTL */
	dm_dns_answer_free(a);

	a = ask(r, "nodata.example", DM_DNS_TXT, DM_DNS_NODATA, 0);
	assert_int_equal(a->ttl, 5);
	dm_dns_answer_free(a);

	/* no SOA to say how long */
	a = ask(r, "nxnosoa.example", DM_DNS_TXT, DM_DNS_NXDOMAIN, 0);
	assert_int_equal(a->ttl, DM_DNS_NEG_TTL);
	dm_dns_answer_free(a);
	dm_resolver_free(r);
}

static void
test_failures(void **state)
{
	(void)state;
	struct dm_resolver *r = resolver(NULL);
	ask_free(r, "servfail.example", DM_DNS_TXT, DM_DNS_SERVFAIL);
	ask_free(r, "bad.example", DM_DNS_TXT, DM_DNS_ERROR);
	ask_free(r, "badtxt.example", DM_DNS_TXT, DM_DNS_ERROR);
	ask_free(r, "bada.example", DM_DNS_A, DM_DNS_ERROR);
	ask_free(r, "silent.example", DM_DNS_TXT, DM_DNS_TIMEOUT);
	dm_resolver_free(r);
}

static void
test_rr_bound(void **state)
{
	(void)state;
	struct dm_resolver *r = resolver(NULL);
	struct dm_dns_answer *a = ask(r, "many.example", DM_DNS_TXT, DM_DNS_OK, DM_DNS_MAX_RRS);
	assert_string_equal(a->rr[0].data, "r0");
	assert_string_equal(a->rr[DM_DNS_MAX_RRS - 1].data, "r63");
	dm_dns_answer_free(a);
	dm_resolver_free(r);
}

static void
test_ttl_caps(void **state)
{
	(void)state;
	struct dm_resolver *r = resolver(NULL);
	struct dm_dns_answer *a = ask(r, "hugettl.example", DM_DNS_TXT, DM_DNS_OK, 1);
	assert_int_equal(a->ttl, DM_DNS_TTL_MAX);
	dm_dns_answer_free(a);

	a = ask(r, "hugeneg.example", DM_DNS_TXT, DM_DNS_NXDOMAIN, 0);
	assert_int_equal(a->ttl, DM_DNS_NEG_TTL_MAX);
	dm_dns_answer_free(a);
	dm_resolver_free(r);
}

/* ---- 2-5. the cache --------------------------------------------------- */

static void
test_cache_hit_case_and_dot(void **state)
{
	(void)state;
	struct dm_dns_cache *c = dm_dns_cache_new(0);
	struct dm_resolver *r = resolver(c);
	unsigned long q0 = queries();

	ask_free(r, "ttl300.example", DM_DNS_TXT, DM_DNS_OK);
	struct dm_dns_answer *a = ask(r, "ttl300.example", DM_DNS_TXT, DM_DNS_OK, 1);
	assert_string_equal(a->rr[0].data, "v=test");
	assert_true(a->ttl > 0 && a->ttl <= 300); /* what is left of it */
	dm_dns_answer_free(a);
	assert_int_equal(dm_resolver_sent(r), 1);
	assert_int_equal(queries() - q0, 1);

	/* the same node, another spelling */
	ask_free(r, "TTL300.Example.", DM_DNS_TXT, DM_DNS_OK);
	assert_int_equal(dm_resolver_sent(r), 1);
	assert_int_equal(queries() - q0, 1);

	/* another type of the same name is another question */
	ask_free(r, "ttl300.example", DM_DNS_A, DM_DNS_OK);
	assert_int_equal(dm_resolver_sent(r), 2);
	assert_int_equal(queries() - q0, 2);

	/* and the other way round: asked first with capitals and a dot */
	ask_free(r, "TTL300.Other.", DM_DNS_TXT, DM_DNS_OK);
	ask_free(r, "ttl300.other", DM_DNS_TXT, DM_DNS_OK);
	assert_int_equal(dm_resolver_sent(r), 3);
	assert_int_equal(queries() - q0, 3);

	dm_resolver_free(r);
	dm_dns_cache_free(c);
}

static void
test_cache_ttl_expiry(void **state)
{
	(void)state;
	struct dm_dns_cache *c = dm_dns_cache_new(0);
	struct dm_resolver *r = resolver(c);
	unsigned long q0 = queries();

	ask_free(r, "ttl1.example", DM_DNS_TXT, DM_DNS_OK);
	ask_free(r, "ttl1.example", DM_DNS_TXT, DM_DNS_OK); /* within the second */
	assert_int_equal(dm_resolver_sent(r), 1);
	sleep_ms(1200);
	ask_free(r, "ttl1.example", DM_DNS_TXT, DM_DNS_OK);
	assert_int_equal(dm_resolver_sent(r), 2);
	assert_int_equal(queries() - q0, 2);

	/* a TTL of 0 is not kept at all */
	struct dm_dns_answer *a = ask(r, "ttl0.example", DM_DNS_TXT, DM_DNS_OK, 1);
	assert_int_equal(a->ttl, 0);
	dm_dns_answer_free(a);
	ask_free(r, "ttl0.example", DM_DNS_TXT, DM_DNS_OK);
	assert_int_equal(dm_resolver_sent(r), 4);
	assert_int_equal(queries() - q0, 4);

	dm_resolver_free(r);
	dm_dns_cache_free(c);
}

static void
test_cache_negative_kept_failures_not(void **state)
{
	(void)state;
	struct dm_dns_cache *c = dm_dns_cache_new(0);
	struct dm_resolver *r = resolver(c);
	unsigned long q0 = queries();

	struct dm_dns_answer *a = ask(r, "nx.example", DM_DNS_TXT, DM_DNS_NXDOMAIN, 0);
	dm_dns_answer_free(a);
	a = ask(r, "nx.example", DM_DNS_TXT, DM_DNS_NXDOMAIN, 0);
	assert_true(a->ttl > 0 && a->ttl <= 7);
	dm_dns_answer_free(a);
	ask_free(r, "nodata.example", DM_DNS_TXT, DM_DNS_NODATA);
	ask_free(r, "nodata.example", DM_DNS_TXT, DM_DNS_NODATA);
	assert_int_equal(dm_resolver_sent(r), 2);
	assert_int_equal(queries() - q0, 2);

	/* c-ares may ask a failing server again (DM_DNS_TRIES), so the
	 * responder sees at least one datagram per question */
	ask_free(r, "servfail.example", DM_DNS_TXT, DM_DNS_SERVFAIL);
	unsigned long q1 = queries();
	ask_free(r, "servfail.example", DM_DNS_TXT, DM_DNS_SERVFAIL);
	assert_int_equal(dm_resolver_sent(r), 4);
	assert_true(queries() > q1);

	ask_free(r, "bad.example", DM_DNS_TXT, DM_DNS_ERROR);
	q1 = queries();
	ask_free(r, "bad.example", DM_DNS_TXT, DM_DNS_ERROR);
	assert_int_equal(dm_resolver_sent(r), 6);
	assert_true(queries() > q1);

	ask_free(r, "silent.example", DM_DNS_TXT, DM_DNS_TIMEOUT);
	q1 = queries();
	ask_free(r, "silent.example", DM_DNS_TXT, DM_DNS_TIMEOUT);
	assert_int_equal(dm_resolver_sent(r), 8);
	assert_true(queries() > q1);

	dm_resolver_free(r);
	dm_dns_cache_free(c);
}

static void
test_cache_lru_bound(void **state)
{
	(void)state;
	struct dm_dns_cache *c = dm_dns_cache_new(2);
	struct dm_resolver *r = resolver(c);
	unsigned long q0 = queries();

	ask_free(r, "ttl300.a", DM_DNS_TXT, DM_DNS_OK);
	ask_free(r, "ttl300.b", DM_DNS_TXT, DM_DNS_OK);
	ask_free(r, "ttl300.c", DM_DNS_TXT, DM_DNS_OK);
	assert_int_equal(dm_resolver_sent(r), 3);
	ask_free(r, "ttl300.a", DM_DNS_TXT, DM_DNS_OK); /* evicted by c */
	assert_int_equal(dm_resolver_sent(r), 4);
	ask_free(r, "ttl300.c", DM_DNS_TXT, DM_DNS_OK); /* still there */
	assert_int_equal(dm_resolver_sent(r), 4);
	assert_int_equal(queries() - q0, 4);

	/* a use makes an entry the most recent: now b (gone) and a, c kept;
	 * touch a, add d: c goes, a stays */
	ask_free(r, "ttl300.a", DM_DNS_TXT, DM_DNS_OK);
	ask_free(r, "ttl300.d", DM_DNS_TXT, DM_DNS_OK);
	assert_int_equal(dm_resolver_sent(r), 5);
	ask_free(r, "ttl300.a", DM_DNS_TXT, DM_DNS_OK);
	assert_int_equal(dm_resolver_sent(r), 5);
	ask_free(r, "ttl300.c", DM_DNS_TXT, DM_DNS_OK);
	assert_int_equal(dm_resolver_sent(r), 6);
	assert_int_equal(queries() - q0, 6);

	dm_resolver_free(r);
	dm_dns_cache_free(c);
}

/* ---- 6. many questions at once ---------------------------------------- */

#define MANY 50

struct tally {
	int calls[MANY];
	int ok[MANY];
	int other;
};

static void
count_cb(void *arg, const char *name, enum dm_dns_type type, const struct dm_dns_answer *a)
{
	struct tally *t = arg;
	unsigned long i;
	char *end;
	/* "ttl300.nI" */
	if (type != DM_DNS_TXT || strncmp(name, "ttl300.n", 8) != 0 ||
	    (i = strtoul(name + 8, &end, 10), *end) || i >= MANY) {
		t->other++;
		return;
	}
	t->calls[i]++;
	if (a->status == DM_DNS_OK && a->n == 1 && strcmp(a->rr[0].data, "v=test") == 0)
		t->ok[i]++;
}

static void
test_submit_many(void **state)
{
	(void)state;
	struct dm_dns_cache *c = dm_dns_cache_new(0);
	struct dm_resolver *r = resolver(c);
	unsigned long q0 = queries();
	struct tally t;
	memset(&t, 0, sizeof(t));

	for (int i = 0; i < MANY; i++) {
		char name[32];
		snprintf(name, sizeof(name), "ttl300.n%d", i);
		dm_dns_submit(r, name, DM_DNS_TXT, count_cb, &t);
	}
	assert_int_equal(dm_dns_wait(r, 0), 0);
	assert_int_equal(t.other, 0);
	for (int i = 0; i < MANY; i++) {
		assert_int_equal(t.calls[i], 1);
		assert_int_equal(t.ok[i], 1);
	}
	assert_int_equal(dm_resolver_sent(r), MANY);
	assert_int_equal(queries() - q0, MANY);

	/* again: all from the cache, passed at once by dm_dns_submit */
	memset(&t, 0, sizeof(t));
	for (int i = 0; i < MANY; i++) {
		char name[32];
		snprintf(name, sizeof(name), "ttl300.n%d", i);
		dm_dns_submit(r, name, DM_DNS_TXT, count_cb, &t);
		assert_int_equal(t.ok[i], 1);
	}
	assert_int_equal(dm_dns_wait(r, 0), 0);
	assert_int_equal(dm_resolver_sent(r), MANY);

	dm_resolver_free(r);
	dm_dns_cache_free(c);
}

/* ---- 7. deadlines ----------------------------------------------------- */

static void
test_deadline_past_not_sent(void **state)
{
	(void)state;
	struct dm_dns_cache *c = dm_dns_cache_new(0);
	struct dm_resolver *r = resolver(c);
	unsigned long q0 = queries();

	ask_free(r, "ttl300.cached", DM_DNS_TXT, DM_DNS_OK);
	dm_resolver_deadline(r, dm_dns_now_ms() - 1);
	ask_free(r, "ttl300.fresh", DM_DNS_TXT, DM_DNS_TIMEOUT);
	/* the cache still answers */
	ask_free(r, "ttl300.cached", DM_DNS_TXT, DM_DNS_OK);
	assert_int_equal(dm_resolver_sent(r), 1);
	assert_int_equal(queries() - q0, 1);

	dm_resolver_free(r);
	dm_dns_cache_free(c);
}

static void
timeout_cb(void *arg, const char *name, enum dm_dns_type type, const struct dm_dns_answer *a)
{
	(void)name;
	(void)type;
	int *timeouts = arg;
	if (a->status == DM_DNS_TIMEOUT)
		(*timeouts)++;
}

static void
test_deadline_cuts_wait(void **state)
{
	(void)state;
	struct dm_resolver *r = resolver(NULL);

	/* c-ares alone would wait 200 ms, then 400 ms for a second try */
	int64_t t0 = dm_dns_now_ms();
	dm_resolver_deadline(r, t0 + 100);
	ask_free(r, "silent.example", DM_DNS_TXT, DM_DNS_TIMEOUT);
	int64_t took = dm_dns_now_ms() - t0;
	assert_true(took >= 90 && took < 400);
	assert_int_equal(dm_resolver_sent(r), 1);

	/* dm_dns_wait's own deadline, left ones answered DM_DNS_TIMEOUT */
	dm_resolver_deadline(r, 0);
	int timeouts = 0;
	dm_dns_submit(r, "silent.one", DM_DNS_TXT, timeout_cb, &timeouts);
	dm_dns_submit(r, "silent.two", DM_DNS_TXT, timeout_cb, &timeouts);
	t0 = dm_dns_now_ms();
	assert_int_equal(dm_dns_wait(r, t0 + 100), 2);
	assert_int_equal(timeouts, 2);
	assert_true(dm_dns_now_ms() - t0 < 400);
	dm_resolver_free(r);
}

/* ---- 8. reverse names ------------------------------------------------- */

static void
test_reverse_name(void **state)
{
	(void)state;
	char out[128];
	assert_int_equal(dm_dns_reverse_name("192.0.2.1", out, sizeof(out)), 0);
	assert_string_equal(out, "1.2.0.192.in-addr.arpa");
	assert_int_equal(dm_dns_reverse_name("2001:db8::1", out, sizeof(out)), 0);
	assert_string_equal(out, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"
	                         ".ip6.arpa");
	assert_int_equal(dm_dns_reverse_name("not-an-address", out, sizeof(out)), -1);
	assert_int_equal(dm_dns_reverse_name("192.0.2.256", out, sizeof(out)), -1);
	assert_int_equal(dm_dns_reverse_name("", out, sizeof(out)), -1);
	/* too small a buffer is an error, not a cut name */
	assert_int_equal(dm_dns_reverse_name("192.0.2.1", out, 10), -1);
	assert_int_equal(dm_dns_reverse_name("2001:db8::1", out, 40), -1);
}

/* ---- 9. names refused before they are asked ---------------------------- */

static void
test_bad_names_not_sent(void **state)
{
	(void)state;
	struct dm_resolver *r = resolver(NULL);
	unsigned long q0 = queries();

	char longname[300];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	for (size_t i = 60; i < sizeof(longname) - 1; i += 60)
		longname[i] = '.';
	ask_free(r, longname, DM_DNS_TXT, DM_DNS_ERROR);
	longname[256] = '\0'; /* just over 255 */
	ask_free(r, longname, DM_DNS_TXT, DM_DNS_ERROR);
	ask_free(r, "ttl300\\.example", DM_DNS_TXT, DM_DNS_ERROR);
	ask_free(r, "ttl300.ex\\097mple", DM_DNS_TXT, DM_DNS_ERROR);
	ask_free(r, "", DM_DNS_TXT, DM_DNS_ERROR);
	assert_int_equal(dm_resolver_sent(r), 0);
	assert_int_equal(queries() - q0, 0);
	dm_resolver_free(r);
}

/*
 * Names that pass the resolver's own check (under 256 bytes, no
 * backslash) but that c-ares refuses to put in a query: 254 and 255
 * bytes (more than 255 on the wire), a label of 64 bytes, an empty
 * label.  They are answered DM_DNS_ERROR and nothing reaches the
 * server, but dm_resolver_sent ("questions sent to the servers") counts
 * each: dm_dns_submit adds to r->sent before ares_query, which answers
 * them at once with ARES_EBADNAME / ARES_EBADQUERY.
 */
static void
test_unsendable_names_not_counted(void **state)
{
	(void)state;
	struct dm_resolver *r = resolver(NULL);
	unsigned long q0 = queries();
	char name[300];
	for (size_t len = 254; len <= 255; len++) {
		memset(name, 'a', len);
		name[len] = '\0';
		for (size_t i = 50; i < len; i += 50)
			name[i] = '.';
		ask_free(r, name, DM_DNS_TXT, DM_DNS_ERROR);
	}
	memset(name, 'b', 64);
	memcpy(name + 64, ".example", sizeof(".example"));
	ask_free(r, name, DM_DNS_TXT, DM_DNS_ERROR);
	ask_free(r, "ttl300..example", DM_DNS_TXT, DM_DNS_ERROR);
	assert_int_equal(queries() - q0, 0);
	uint64_t sent = dm_resolver_sent(r);
	dm_resolver_free(r); /* before failing, for ASan's leak check */
	if (sent != 0)
		fail_msg("BUG resolver.c: dm_resolver_sent is %llu for 4 names c-ares refused "
		         "to send (expected 0)",
		         (unsigned long long)sent);
}

/* A resolver freed with questions out answers each once, DM_DNS_TIMEOUT,
 * and keeps nothing (ASan's leak check sees the rest). */
static void
test_free_with_questions_out(void **state)
{
	(void)state;
	struct dm_resolver *r = resolver(NULL);
	int timeouts = 0;
	dm_dns_submit(r, "silent.free", DM_DNS_TXT, timeout_cb, &timeouts);
	dm_dns_submit(r, "ttl300.free", DM_DNS_TXT, timeout_cb, &timeouts);
	assert_int_equal(timeouts, 0);
	dm_resolver_free(r);
	assert_int_equal(timeouts, 2);
}

/* ---- two threads, one cache ------------------------------------------- */

#define THREAD_NAMES 24
#define THREAD_ROUNDS 4

struct worker {
	struct dm_dns_cache *cache;
	int port;
	int bad; /* answers not as expected: cmocka cannot fail off its thread */
	uint64_t sent;
};

static void
worker_cb(void *arg, const char *name, enum dm_dns_type type, const struct dm_dns_answer *a)
{
	(void)name;
	(void)type;
	struct worker *w = arg;
	if (a->status != DM_DNS_OK || a->n != 1 || strcmp(a->rr[0].data, "v=test") != 0)
		w->bad++;
}

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	char servers[64], err[256];
	snprintf(servers, sizeof(servers), "127.0.0.1:%d", w->port);
	struct dm_resolver *r = dm_resolver_new(servers, 200, w->cache, err, sizeof(err));
	if (!r) {
		w->bad++;
		return NULL;
	}
	for (int round = 0; round < THREAD_ROUNDS; round++) {
		for (int i = 0; i < THREAD_NAMES; i++) {
			char name[32];
			snprintf(name, sizeof(name), "ttl300.t%d", i);
			struct dm_dns_answer *a = dm_dns_lookup(r, name, DM_DNS_TXT);
			worker_cb(w, name, DM_DNS_TXT, a);
			dm_dns_answer_free(a);
			a = dm_dns_lookup(r, "nx.threads", DM_DNS_TXT);
			if (a->status != DM_DNS_NXDOMAIN)
				w->bad++;
			dm_dns_answer_free(a);
		}
		for (int i = 0; i < THREAD_NAMES; i++) {
			char name[32];
			snprintf(name, sizeof(name), "TTL300.T%d.", THREAD_NAMES - 1 - i);
			dm_dns_submit(r, name, DM_DNS_TXT, worker_cb, w);
		}
		if (dm_dns_wait(r, 0) != 0)
			w->bad++;
	}
	w->sent = dm_resolver_sent(r);
	dm_resolver_free(r);
	return NULL;
}

static void
test_two_threads_one_cache(void **state)
{
	(void)state;
	/* smaller than the names asked, so the threads also evict each
	 * other's entries */
	struct dm_dns_cache *c = dm_dns_cache_new(THREAD_NAMES / 2);
	struct worker w[2];
	pthread_t th[2];
	for (int i = 0; i < 2; i++) {
		w[i] = (struct worker){.cache = c, .port = dns.port};
		assert_int_equal(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(w[0].bad, 0);
	assert_int_equal(w[1].bad, 0);
	assert_true(w[0].sent > 0 && w[1].sent > 0);
	dm_dns_cache_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_ttl_txt_and_a),
	        cmocka_unit_test(test_multi_txt),
	        cmocka_unit_test(test_cname_smallest_ttl),
	        cmocka_unit_test(test_negative_ttl_from_soa),
	        cmocka_unit_test(test_failures),
	        cmocka_unit_test(test_rr_bound),
	        cmocka_unit_test(test_ttl_caps),
	        cmocka_unit_test(test_cache_hit_case_and_dot),
	        cmocka_unit_test(test_cache_ttl_expiry),
	        cmocka_unit_test(test_cache_negative_kept_failures_not),
	        cmocka_unit_test(test_cache_lru_bound),
	        cmocka_unit_test(test_submit_many),
	        cmocka_unit_test(test_deadline_past_not_sent),
	        cmocka_unit_test(test_deadline_cuts_wait),
	        cmocka_unit_test(test_reverse_name),
	        cmocka_unit_test(test_bad_names_not_sent),
	        cmocka_unit_test(test_free_with_questions_out),
	        cmocka_unit_test(test_two_threads_one_cache),
	        /* fails: see its comment */
	        cmocka_unit_test(test_unsendable_names_not_counted),
	};
	return cmocka_run_group_tests(tests, responder_start, responder_stop);
}
