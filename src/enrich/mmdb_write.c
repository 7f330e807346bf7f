/*
 * mmdb_write.c - MaxMind DB (format 2.0) writer for AS number databases.
 *
 * The writer holds a binary trie over the 128 bits of an IPv6 address in
 * flat arrays: node n's children are child[2n] (bit 0) and child[2n + 1]
 * (bit 1), node 0 is the root.  A child slot is empty (0), a node number,
 * or a data record (SLOT_DATA | index).  An inclusive range is split into
 * CIDR prefixes; each prefix walks down from the root, splitting a data
 * slot into a node whose two children repeat it when it must go deeper,
 * and stores its record in the slot at the prefix's depth (whatever was
 * under that slot is left unreachable: a later range overrides).
 *
 * Data records are deduplicated twice: an organisation string is kept
 * once (interned), and an asn+org pair is one record.  In the file, the
 * two map keys and each organisation are written once and referred to by
 * data-section pointers afterwards, as MaxMind's own databases do.
 *
 * dm_mmdb_write() lays the file out from the specification:
 *
 *   search tree   node_count nodes of two records (24, 28 or 32 bits)
 *   16 zero bytes the data section separator
 *   data section  one map per reachable asn+org record
 *   "\xab\xcd\xefMaxMind.com" then the metadata map
 *
 * Before numbering the nodes it folds any node whose two children are the
 * same record (or both empty) into that record, and points ::ffff:0:0/96
 * at the IPv4 subtree (::/96) so IPv4-mapped addresses find IPv4 data;
 * that alias is undone afterwards, so more ranges may be inserted.
 *
 * Functions: dm_mmdb_writer_new, dm_mmdb_writer_free, dm_mmdb_insert_range,
 * dm_mmdb_write, dm_mmdb_writer_stats.  Logs nothing: errors go to the
 * caller's err buffer.
 */
#include "enrich/mmdb_write.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/limits.h"
#include "common/xalloc.h"

#define SLOT_EMPTY 0u
#define SLOT_DATA 0x80000000u
#define IS_NODE(v) ((v) != SLOT_EMPTY && !((v)&SLOT_DATA))
#define UNSET UINT32_MAX

/* MaxMind DB data types (specification, "Output Data Section"). */
enum {
	MT_POINTER = 1,
	MT_UTF8 = 2,
	MT_UINT16 = 5,
	MT_UINT32 = 6,
	MT_MAP = 7,
	MT_UINT64 = 9,
	MT_ARRAY = 11,
};

static const char KEY_ASN[] = "autonomous_system_number";
static const char KEY_ORG[] = "autonomous_system_organization";

struct org_str {
	uint32_t off; /* into pool */
	uint32_t len;
};

struct record {
	uint32_t asn;
	uint32_t org; /* index into orgs */
};

struct dm_mmdb_writer {
	uint32_t *child; /* 2 slots per node */
	uint32_t nnodes, capnodes;

	char *pool; /* the organisation strings, back to back */
	size_t poollen, poolcap;
	struct org_str *orgs;
	uint32_t norgs, caporgs;
	uint32_t *org_hash; /* open addressing: org index + 1, 0 free */
	uint32_t org_hcap;

	struct record *recs;
	uint32_t nrecs, caprecs;
	uint32_t *rec_hash; /* record index + 1, 0 free */
	uint32_t rec_hcap;

	struct dm_mmdb_stats st;
};

/* A growable byte string for the data section and the metadata. */
struct bytes {
	unsigned char *p;
	size_t len, cap;
};

static void
bytes_add(struct bytes *b, const void *p, size_t len)
{
	if (len == 0)
		return;
	if (b->cap - b->len < len) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap - b->len < len)
			cap *= 2;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, len);
	b->len += len;
}

static void
bytes_addc(struct bytes *b, unsigned c)
{
	unsigned char ch = (unsigned char)c;
	bytes_add(b, &ch, 1);
}

struct dm_mmdb_writer *
dm_mmdb_writer_new(void)
{
	struct dm_mmdb_writer *w = xcalloc(1, sizeof *w);
	w->capnodes = 1024;
	w->child = xcalloc(2 * (size_t)w->capnodes, sizeof *w->child);
	w->nnodes = 1; /* the root, both children empty */
	w->org_hcap = 1024;
	w->org_hash = xcalloc(w->org_hcap, sizeof *w->org_hash);
	w->rec_hcap = 1024;
	w->rec_hash = xcalloc(w->rec_hcap, sizeof *w->rec_hash);
	return w;
}

void
dm_mmdb_writer_free(struct dm_mmdb_writer *w)
{
	if (!w)
		return;
	free(w->child);
	free(w->pool);
	free(w->orgs);
	free(w->org_hash);
	free(w->recs);
	free(w->rec_hash);
	free(w);
}

void
dm_mmdb_writer_stats(const struct dm_mmdb_writer *w, struct dm_mmdb_stats *st)
{
	*st = w->st;
	st->trie_nodes = w->nnodes;
	st->data_seen = w->nrecs;
}

/* ---- interning ------------------------------------------------------- */

static uint32_t
hash_bytes(const void *p, size_t len, uint32_t seed)
{
	const unsigned char *s = p;
	uint32_t h = 2166136261u ^ seed; /* FNV-1a */
	for (size_t i = 0; i < len; i++) {
		h ^= s[i];
		h *= 16777619u;
	}
	h ^= h >> 15; /* spread the low bits the table index uses */
	h *= 0x2c1b3c6du;
	h ^= h >> 12;
	return h;
}

static uint32_t
org_hash_of(const struct dm_mmdb_writer *w, uint32_t i)
{
	return hash_bytes(w->pool + w->orgs[i].off, w->orgs[i].len, 0);
}

static uint32_t
rec_hash_of(uint32_t asn, uint32_t org)
{
	uint32_t k[2] = {asn, org};
	return hash_bytes(k, sizeof k, 1);
}

/* Put index i (its hash h) into table t of capacity cap (a power of 2). */
static void
table_put(uint32_t *t, uint32_t cap, uint32_t h, uint32_t i)
{
	uint32_t j = h & (cap - 1);
	while (t[j] != 0)
		j = (j + 1) & (cap - 1);
	t[j] = i + 1;
}

/* The index of org (len bytes), added when new. */
static int
intern_org(struct dm_mmdb_writer *w, const char *org, size_t len, uint32_t *out)
{
	uint32_t h = hash_bytes(org, len, 0);
	uint32_t j = h & (w->org_hcap - 1);
	for (; w->org_hash[j] != 0; j = (j + 1) & (w->org_hcap - 1)) {
		const struct org_str *o = &w->orgs[w->org_hash[j] - 1];
		if (o->len == len && memcmp(w->pool + o->off, org, len) == 0) {
			*out = w->org_hash[j] - 1;
			return 0;
		}
	}
	if (w->poollen > UINT32_MAX - len || w->norgs == UINT32_MAX / 4)
		return DM_ELIMIT;
	if (w->poolcap - w->poollen < len) {
		size_t cap = w->poolcap ? w->poolcap : 65536;
		while (cap - w->poollen < len)
			cap *= 2;
		w->pool = xrealloc(w->pool, cap);
		w->poolcap = cap;
	}
	if (w->norgs == w->caporgs) {
		w->caporgs = w->caporgs ? 2 * w->caporgs : 1024;
		w->orgs = xrealloc(w->orgs, w->caporgs * sizeof *w->orgs);
	}
	if (len > 0) /* the pool is NULL until a first non-empty name */
		memcpy(w->pool + w->poollen, org, len);
	w->orgs[w->norgs] = (struct org_str){(uint32_t)w->poollen, (uint32_t)len};
	w->poollen += len;
	*out = w->norgs++;
	/* keep the table at most half full */
	if (2 * (size_t)w->norgs > w->org_hcap) {
		free(w->org_hash);
		w->org_hcap *= 2;
		w->org_hash = xcalloc(w->org_hcap, sizeof *w->org_hash);
		for (uint32_t i = 0; i < w->norgs; i++)
			table_put(w->org_hash, w->org_hcap, org_hash_of(w, i), i);
	} else {
		w->org_hash[j] = *out + 1;
	}
	return 0;
}

/* The record of asn+org, added when new. */
static int
intern_record(struct dm_mmdb_writer *w, uint32_t asn, uint32_t org, uint32_t *out)
{
	uint32_t h = rec_hash_of(asn, org);
	uint32_t j = h & (w->rec_hcap - 1);
	for (; w->rec_hash[j] != 0; j = (j + 1) & (w->rec_hcap - 1)) {
		const struct record *r = &w->recs[w->rec_hash[j] - 1];
		if (r->asn == asn && r->org == org) {
			*out = w->rec_hash[j] - 1;
			return 0;
		}
	}
	if (w->nrecs == UINT32_MAX / 4)
		return DM_ELIMIT;
	if (w->nrecs == w->caprecs) {
		w->caprecs = w->caprecs ? 2 * w->caprecs : 1024;
		w->recs = xrealloc(w->recs, w->caprecs * sizeof *w->recs);
	}
	w->recs[w->nrecs] = (struct record){asn, org};
	*out = w->nrecs++;
	if (2 * (size_t)w->nrecs > w->rec_hcap) {
		free(w->rec_hash);
		w->rec_hcap *= 2;
		w->rec_hash = xcalloc(w->rec_hcap, sizeof *w->rec_hash);
		for (uint32_t i = 0; i < w->nrecs; i++)
			table_put(w->rec_hash, w->rec_hcap,
			          rec_hash_of(w->recs[i].asn, w->recs[i].org), i);
	} else {
		w->rec_hash[j] = *out + 1;
	}
	return 0;
}

/* Is s (len bytes) valid UTF-8 (no overlong forms, surrogates or code
 * points above U+10FFFF)? */
static int
valid_utf8(const unsigned char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		unsigned c = s[i];
		size_t n;
		uint32_t cp, min;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 2, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n = 3, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			n = 4, cp = c & 0x07, min = 0x10000;
		} else {
			return 0;
		}
		if (len - i < n)
			return 0;
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n;
	}
	return 1;
}

/* ---- the trie ------------------------------------------------------- */

/* A new node whose two children are v; its number in *out. */
static int
new_node(struct dm_mmdb_writer *w, uint32_t v, uint32_t *out)
{
	if (w->nnodes >= DM_MMDB_MAX_NODES)
		return DM_ELIMIT;
	if (w->nnodes == w->capnodes) {
		uint32_t cap =
		        w->capnodes > DM_MMDB_MAX_NODES / 2 ? DM_MMDB_MAX_NODES : 2 * w->capnodes;
		w->child = xrealloc(w->child, 2 * (size_t)cap * sizeof *w->child);
		w->capnodes = cap;
	}
	w->child[2 * (size_t)w->nnodes] = v;
	w->child[2 * (size_t)w->nnodes + 1] = v;
	*out = w->nnodes++;
	return 0;
}

static unsigned
bit_at(const unsigned char a[16], unsigned depth)
{
	return (a[depth >> 3] >> (7 - (depth & 7))) & 1;
}

/* Set the slot of prefix a/plen (plen 1..128) to v.  *slot and *old (when
 * not NULL) get the slot's index in child[] and what it held. */
static int
set_prefix(struct dm_mmdb_writer *w, const unsigned char a[16], unsigned plen, uint32_t v,
           size_t *slot, uint32_t *old)
{
	uint32_t cur = 0;
	for (unsigned d = 0;; d++) {
		size_t s = 2 * (size_t)cur + bit_at(a, d);
		uint32_t c = w->child[s];
		if (d + 1 == plen) {
			if (slot)
				*slot = s;
			if (old)
				*old = c;
			w->child[s] = v;
			return 0;
		}
		if (!IS_NODE(c)) {
			int rc = new_node(w, c, &c);
			if (rc != 0)
				return rc;
			w->child[s] = c;
		}
		cur = c;
	}
}

typedef unsigned __int128 u128;

static u128
to_u128(const unsigned char a[16])
{
	u128 v = 0;
	for (int i = 0; i < 16; i++)
		v = (v << 8) | a[i];
	return v;
}

static void
from_u128(u128 v, unsigned char a[16])
{
	for (int i = 15; i >= 0; i--) {
		a[i] = (unsigned char)v;
		v >>= 8;
	}
}

int
dm_mmdb_insert_range(struct dm_mmdb_writer *w, const unsigned char lo[16],
                     const unsigned char hi[16], int is_v4, uint32_t asn, const char *org)
{
	size_t olen = strlen(org);
	if (olen > DM_ASN_CSV_MAX_ORG)
		return DM_ELIMIT;
	if (!valid_utf8((const unsigned char *)org, olen))
		return DM_EINVAL;
	u128 a, b;
	if (is_v4) {
		a = ((u128)lo[12] << 24) | ((u128)lo[13] << 16) | ((u128)lo[14] << 8) | lo[15];
		b = ((u128)hi[12] << 24) | ((u128)hi[13] << 16) | ((u128)hi[14] << 8) | hi[15];
	} else {
		a = to_u128(lo);
		b = to_u128(hi);
	}
	if (a > b)
		return DM_EINVAL;
	uint32_t oi, ri;
	int rc = intern_org(w, org, olen, &oi);
	if (rc == 0)
		rc = intern_record(w, asn, oi, &ri);
	if (rc != 0)
		return rc;
	uint32_t v = SLOT_DATA | ri;
	/* Split a..b into the largest aligned blocks, lowest first. */
	for (;;) {
		unsigned k = 0; /* the block has 2^k addresses */
		while (k < 128) {
			u128 mask = (k + 1 == 128) ? ~(u128)0 : (((u128)1 << (k + 1)) - 1);
			if ((a & mask) != 0 || (a | mask) > b)
				break;
			k++;
		}
		u128 last = k == 128 ? ~(u128)0 : (a | (((u128)1 << k) - 1));
		if (k == 128) {
			/* the whole address space: both halves of the root */
			w->child[0] = v;
			w->child[1] = v;
		} else {
			unsigned char p[16];
			from_u128(a, p);
			rc = set_prefix(w, p, 128 - k, v, NULL, NULL);
			if (rc != 0)
				return rc;
		}
		w->st.prefixes++;
		if (last >= b)
			break;
		a = last + 1;
	}
	w->st.ranges++;
	return 0;
}

/* Fold the subtree under node n: a node whose children are the same
 * record, or both empty, becomes that slot.  Returns n's new slot value.
 * Depth is at most 128. */
static uint32_t
fold(struct dm_mmdb_writer *w, uint32_t n)
{
	for (int b = 0; b < 2; b++) {
		uint32_t c = w->child[2 * (size_t)n + b];
		if (IS_NODE(c))
			w->child[2 * (size_t)n + b] = fold(w, c);
	}
	uint32_t l = w->child[2 * (size_t)n], r = w->child[2 * (size_t)n + 1];
	return l == r && !IS_NODE(l) ? l : n;
}

/* ---- the data section -------------------------------------------------- */

/* A control byte (and extended type and size bytes) for type, size. */
static void
put_ctrl(struct bytes *b, unsigned type, uint32_t size)
{
	unsigned s5;
	uint32_t ext = 0;
	int extn = 0;
	if (size < 29) {
		s5 = size;
	} else if (size < 29 + 256) {
		s5 = 29, ext = size - 29, extn = 1;
	} else if (size < 285 + 65536) {
		s5 = 30, ext = size - 285, extn = 2;
	} else {
		s5 = 31, ext = size - 65821, extn = 3;
	}
	bytes_addc(b, ((type <= 7 ? type : 0) << 5) | s5);
	if (type > 7)
		bytes_addc(b, type - 7);
	for (int i = extn - 1; i >= 0; i--)
		bytes_addc(b, (ext >> (8 * i)) & 0xff);
}

static void
put_uint(struct bytes *b, unsigned type, uint64_t v)
{
	unsigned n = 0;
	while (n < 8 && (v >> (8 * n)) != 0)
		n++;
	put_ctrl(b, type, n);
	for (int i = (int)n - 1; i >= 0; i--)
		bytes_addc(b, (unsigned)(v >> (8 * i)) & 0xff);
}

static void
put_str(struct bytes *b, const char *s, size_t len)
{
	put_ctrl(b, MT_UTF8, (uint32_t)len);
	bytes_add(b, s, len);
}

/* A pointer to offset off of the data section. */
static void
put_pointer(struct bytes *b, uint32_t off)
{
	if (off < 2048) {
		bytes_addc(b, 0x20 | (off >> 8));
		bytes_addc(b, off & 0xff);
	} else if (off < 2048 + (1u << 19)) {
		uint32_t v = off - 2048;
		bytes_addc(b, 0x28 | (v >> 16));
		bytes_addc(b, (v >> 8) & 0xff);
		bytes_addc(b, v & 0xff);
	} else if (off < 526336 + (1u << 27)) {
		uint32_t v = off - 526336;
		bytes_addc(b, 0x30 | (v >> 24));
		bytes_addc(b, (v >> 16) & 0xff);
		bytes_addc(b, (v >> 8) & 0xff);
		bytes_addc(b, v & 0xff);
	} else {
		bytes_addc(b, 0x38);
		for (int i = 3; i >= 0; i--)
			bytes_addc(b, (off >> (8 * i)) & 0xff);
	}
}

/* A key or string written once and pointed to afterwards. */
static void
put_shared_str(struct bytes *b, const char *s, size_t len, uint32_t *at)
{
	if (*at != UNSET) {
		put_pointer(b, *at);
		return;
	}
	*at = (uint32_t)b->len;
	put_str(b, s, len);
}

/* ---- the file ---------------------------------------------------------- */

struct out {
	int fd;
	int rc;
	size_t n;
	uint64_t total;
	unsigned char buf[1 << 16];
};

static void
out_flush(struct out *o)
{
	if (o->rc == 0 && o->n > 0)
		o->rc = dm_write_all(o->fd, o->buf, o->n);
	o->n = 0;
}

static void
out_add(struct out *o, const void *p, size_t len)
{
	const unsigned char *s = p;
	o->total += len;
	while (len > 0 && o->rc == 0) {
		size_t k = sizeof o->buf - o->n;
		if (k > len)
			k = len;
		memcpy(o->buf + o->n, s, k);
		o->n += k;
		s += k;
		len -= k;
		if (o->n == sizeof o->buf)
			out_flush(o);
	}
}

/* The record value a slot becomes in the file. */
static uint32_t
slot_value(uint32_t v, const uint32_t *num, const uint32_t *data_off, uint32_t node_count)
{
	if (v == SLOT_EMPTY)
		return node_count;
	if (v & SLOT_DATA)
		return node_count + 16 + data_off[v & ~SLOT_DATA];
	return num[v];
}

static void
put_node(struct out *o, unsigned record_size, uint32_t l, uint32_t r)
{
	unsigned char p[8];
	size_t n;
	if (record_size == 24) {
		p[0] = l >> 16, p[1] = l >> 8, p[2] = l;
		p[3] = r >> 16, p[4] = r >> 8, p[5] = r;
		n = 6;
	} else if (record_size == 28) {
		p[0] = l >> 16, p[1] = l >> 8, p[2] = l;
		p[3] = ((l >> 20) & 0xf0) | ((r >> 24) & 0x0f);
		p[4] = r >> 16, p[5] = r >> 8, p[6] = r;
		n = 7;
	} else {
		p[0] = l >> 24, p[1] = l >> 16, p[2] = l >> 8, p[3] = l;
		p[4] = r >> 24, p[5] = r >> 16, p[6] = r >> 8, p[7] = r;
		n = 8;
	}
	out_add(o, p, n);
}

static void
put_metadata(struct bytes *m, const char *db_type, const char *description, uint32_t node_count,
             unsigned record_size)
{
	static const unsigned char marker[] = "\xab\xcd\xefMaxMind.com";
	bytes_add(m, marker, sizeof marker - 1);
	put_ctrl(m, MT_MAP, 9);
	put_str(m, "binary_format_major_version", 27);
	put_uint(m, MT_UINT16, 2);
	put_str(m, "binary_format_minor_version", 27);
	put_uint(m, MT_UINT16, 0);
	put_str(m, "build_epoch", 11);
	put_uint(m, MT_UINT64, (uint64_t)time(NULL));
	put_str(m, "database_type", 13);
	put_str(m, db_type, strlen(db_type));
	put_str(m, "description", 11);
	put_ctrl(m, MT_MAP, 1);
	put_str(m, "en", 2);
	put_str(m, description, strlen(description));
	put_str(m, "ip_version", 10);
	put_uint(m, MT_UINT16, 6);
	put_str(m, "languages", 9);
	put_ctrl(m, MT_ARRAY, 1);
	put_str(m, "en", 2);
	put_str(m, "node_count", 10);
	put_uint(m, MT_UINT32, node_count);
	put_str(m, "record_size", 11);
	put_uint(m, MT_UINT16, record_size);
}

/* Number the nodes reachable from the root in preorder (a node reached
 * twice, through the ::ffff:0:0/96 alias, keeps its first number) and
 * mark the records they use.  Returns the node count. */
static uint32_t
number_nodes(const struct dm_mmdb_writer *w, uint32_t *num, uint32_t *order, uint32_t *data_off)
{
	/* each level leaves at most one sibling and one alias target pending */
	uint32_t stack[4 * 129];
	size_t sp = 0;
	uint32_t count = 0;
	stack[sp++] = 0;
	while (sp > 0) {
		uint32_t n = stack[--sp];
		if (num[n] != UNSET)
			continue;
		num[n] = count;
		order[count++] = n;
		for (int b = 1; b >= 0; b--) {
			uint32_t c = w->child[2 * (size_t)n + b];
			if (IS_NODE(c) && num[c] == UNSET) {
				assert(sp < sizeof stack / sizeof stack[0]);
				stack[sp++] = c;
			} else if (c & SLOT_DATA)
				data_off[c & ~SLOT_DATA] = 0; /* used; placed later */
		}
	}
	return count;
}

int
dm_mmdb_write(struct dm_mmdb_writer *w, const char *path, const char *db_type,
              const char *description, char *err, size_t errlen)
{
	int rc = 0;
	char tmp[PATH_MAX];
	int fd = -1, tmp_made = 0;
	struct out *o = NULL;
	struct bytes data = {0}, meta = {0};
	uint32_t *num = NULL, *order = NULL, *data_off = NULL;
	size_t alias_slot = 0;
	uint32_t alias_old = 0;
	int aliased = 0;

	if (strlen(db_type) > 256 || strlen(description) > 4096) {
		snprintf(err, errlen, "database type or description too long");
		return DM_EINVAL;
	}
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
		snprintf(err, errlen, "%s: path too long", path);
		return DM_EINVAL;
	}

	(void)fold(w, 0); /* the root stays a node */

	/* ::ffff:0:0/96 -> the IPv4 subtree at ::/96 */
	uint32_t v4 = 0, cur = 0;
	for (unsigned d = 0; d < 96; d++) {
		v4 = w->child[2 * (size_t)cur];
		if (!IS_NODE(v4))
			break;
		cur = v4;
	}
	if (v4 != SLOT_EMPTY) {
		static const unsigned char mapped[16] = {0, 0, 0,    0,    0, 0, 0, 0,
		                                         0, 0, 0xff, 0xff, 0, 0, 0, 0};
		rc = set_prefix(w, mapped, 96, v4, &alias_slot, &alias_old);
		if (rc != 0) {
			snprintf(err, errlen, "more than %u search tree nodes",
			         (unsigned)DM_MMDB_MAX_NODES);
			goto out;
		}
		aliased = 1;
	}

	num = xmalloc(w->nnodes * sizeof *num);
	memset(num, 0xff, w->nnodes * sizeof *num);
	order = xmalloc(w->nnodes * sizeof *order);
	data_off = xmalloc((w->nrecs ? w->nrecs : 1) * sizeof *data_off);
	memset(data_off, 0xff, (w->nrecs ? w->nrecs : 1) * sizeof *data_off);
	uint32_t node_count = number_nodes(w, num, order, data_off);

	/* The data section: one map per used record, in insertion order. */
	uint32_t *org_at = xmalloc((w->norgs ? w->norgs : 1) * sizeof *org_at);
	memset(org_at, 0xff, (w->norgs ? w->norgs : 1) * sizeof *org_at);
	uint32_t key_asn_at = UNSET, key_org_at = UNSET, ndata = 0;
	for (uint32_t i = 0; i < w->nrecs; i++) {
		if (data_off[i] == UNSET)
			continue;
		if (data.len > UINT32_MAX - 16 - (uint64_t)node_count - 1024)
			break; /* reported below */
		const struct record *r = &w->recs[i];
		const struct org_str *os = &w->orgs[r->org];
		data_off[i] = (uint32_t)data.len;
		ndata++;
		/* GeoLite2-ASN leaves the organisation out when unknown */
		put_ctrl(&data, MT_MAP, os->len ? 2 : 1);
		put_shared_str(&data, KEY_ASN, sizeof KEY_ASN - 1, &key_asn_at);
		put_uint(&data, MT_UINT32, r->asn);
		if (os->len) {
			put_shared_str(&data, KEY_ORG, sizeof KEY_ORG - 1, &key_org_at);
			put_shared_str(&data, w->pool + os->off, os->len, &org_at[r->org]);
		}
	}
	free(org_at);
	uint64_t max_value = (uint64_t)node_count + 16 + data.len;
	if (max_value > UINT32_MAX - 1024) {
		snprintf(err, errlen, "database too large (%u nodes, %zu bytes of data)",
		         node_count, data.len);
		rc = DM_ELIMIT;
		goto out;
	}
	unsigned record_size = max_value < (1u << 24) ? 24 : max_value < (1u << 28) ? 28 : 32;
	put_metadata(&meta, db_type, description, node_count, record_size);

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = dm_errno_code(errno);
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	tmp_made = 1;
	o = xmalloc(sizeof *o);
	o->fd = fd;
	o->rc = 0;
	o->n = 0;
	o->total = 0;
	for (uint32_t i = 0; i < node_count; i++) {
		uint32_t n = order[i];
		put_node(o, record_size,
		         slot_value(w->child[2 * (size_t)n], num, data_off, node_count),
		         slot_value(w->child[2 * (size_t)n + 1], num, data_off, node_count));
	}
	static const unsigned char separator[16];
	out_add(o, separator, sizeof separator);
	out_add(o, data.p, data.len);
	out_add(o, meta.p, meta.len);
	out_flush(o);
	if (o->rc != 0 || fsync(fd) != 0) {
		int e = errno;
		rc = o->rc ? o->rc : dm_errno_code(e);
		snprintf(err, errlen, "%s: %s", tmp, strerror(e));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = dm_errno_code(errno);
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		rc = dm_errno_code(errno);
		snprintf(err, errlen, "rename %s: %s", tmp, strerror(errno));
		goto out;
	}
	tmp_made = 0;
	/* the folder of path, so the rename is durable */
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(dir, sizeof dir, ".");
	else if (slash == path)
		snprintf(dir, sizeof dir, "/");
	else
		snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
	if (dm_fsync_dir(dir) != 0) {
		rc = DM_EIO;
		snprintf(err, errlen, "%s: fsync: %s", dir, strerror(errno));
		goto out;
	}
	w->st.nodes = node_count;
	w->st.data = ndata;
	w->st.record_size = record_size;
	w->st.bytes = o->total;

out:
	if (fd >= 0)
		close(fd);
	if (tmp_made)
		unlink(tmp);
	if (aliased)
		w->child[alias_slot] = alias_old;
	free(o);
	free(num);
	free(order);
	free(data_off);
	free(data.p);
	free(meta.p);
	return rc;
}
