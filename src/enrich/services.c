/*
 * services.c - the sending-service map (services.h): data/services.conf
 * read into hash tables, and the lookups made for every report record.
 *
 * Functions: dm_service_type_name, dm_services_load, dm_services_free,
 * dm_services_count, dm_services_by_ptr, dm_services_by_asn,
 * dm_services_by_spf, dm_services_by_domain, dm_services_match.
 *
 * The file is read whole (at most DM_SERVICES_MAX_FILE bytes) and kept:
 * service names and the names listed under them point into it, so a map
 * is four allocations and a few tables, freed in one call.  Each kind of
 * name (service names, ptr, asn, spf, dkim) has its own open-addressing
 * hash table, case-insensitive, of indexes into one array of entries.  A
 * suffix lookup ("the longest base domain the name ends with") probes the
 * table with the whole name, then with what follows each dot in turn:
 * the first hit is the longest base, and the cost is one probe per label,
 * whatever the number of services.
 *
 * Logs nothing: the loader's errors go to the caller as "file:line: reason".
 */
#include "enrich/services.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "common/limits.h"
#include "common/xalloc.h"

/* The tables, one per kind of name. */
enum { T_NAME, T_PTR, T_ASN, T_SPF, T_DKIM, T_COUNT };

static const char *const table_key[T_COUNT] = {"name", "ptr", "asn", "spf", "dkim"};

/* One service name, base domain or AS number of the file. */
struct entry {
	const char *key; /* into the file's text; NULL for an AS number */
	size_t len;
	uint32_t asn;
	uint32_t svc; /* index into dm_services.svc */
	unsigned line;
};

struct table {
	uint32_t *slot; /* entry index + 1; 0 is an empty slot */
	size_t size;    /* a power of two, 0 before the first entry */
	size_t used;
};

struct dm_services {
	char *text; /* the file, NUL-terminated line by line */
	struct dm_service *svc;
	size_t nsvc, svc_cap;
	struct entry *ent;
	size_t nent, ent_cap;
	size_t nnames; /* entries other than service names (DM_SERVICES_MAX_NAMES) */
	struct table tab[T_COUNT];
};

static const char *const type_names[] = {
        [DM_SVC_MAILBOX] = "mailbox",     [DM_SVC_ESP] = "esp",
        [DM_SVC_MARKETING] = "marketing", [DM_SVC_CRM] = "crm",
        [DM_SVC_SUPPORT] = "support",     [DM_SVC_FORWARDER] = "forwarder",
        [DM_SVC_SECURITY] = "security",   [DM_SVC_HOSTING] = "hosting",
        [DM_SVC_OTHER] = "other",
};

const char *
dm_service_type_name(enum dm_service_type t)
{
	return (unsigned)t < sizeof type_names / sizeof type_names[0] ? type_names[t] : "?";
}

/* ---- hash tables --------------------------------------------------------- */

/* FNV-1a over the bytes in lower case. */
static uint64_t
hash_name(const char *s, size_t n)
{
	uint64_t h = 14695981039346656037ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)tolower((unsigned char)s[i]);
		h *= 1099511628211ULL;
	}
	return h;
}

static uint64_t
hash_asn(uint32_t asn)
{
	uint64_t h = (uint64_t)asn * 0x9e3779b97f4a7c15ULL;
	return h ^ (h >> 29);
}

static uint64_t
entry_hash(const struct entry *e)
{
	return e->key ? hash_name(e->key, e->len) : hash_asn(e->asn);
}

/* The entry of table t named s[0..n), or NULL. */
static const struct entry *
find_name(const struct dm_services *s, int t, const char *name, size_t n)
{
	const struct table *tab = &s->tab[t];
	if (tab->size == 0)
		return NULL;
	size_t mask = tab->size - 1;
	for (size_t i = (size_t)hash_name(name, n) & mask; tab->slot[i]; i = (i + 1) & mask) {
		const struct entry *e = &s->ent[tab->slot[i] - 1];
		if (e->len == n && strncasecmp(e->key, name, n) == 0)
			return e;
	}
	return NULL;
}

static const struct entry *
find_asn(const struct dm_services *s, uint32_t asn)
{
	const struct table *tab = &s->tab[T_ASN];
	if (tab->size == 0)
		return NULL;
	size_t mask = tab->size - 1;
	for (size_t i = (size_t)hash_asn(asn) & mask; tab->slot[i]; i = (i + 1) & mask) {
		const struct entry *e = &s->ent[tab->slot[i] - 1];
		if (e->asn == asn)
			return e;
	}
	return NULL;
}

/* Put entry idx into table t, whose size stays at least twice its use. */
static void
table_put(struct dm_services *s, int t, uint32_t idx)
{
	struct table *tab = &s->tab[t];
	if ((tab->used + 1) * 2 > tab->size) {
		size_t size = tab->size ? tab->size * 2 : 64;
		uint32_t *slot = xcalloc(size, sizeof *slot);
		for (size_t i = 0; i < tab->size; i++) {
			if (!tab->slot[i])
				continue;
			size_t j = (size_t)entry_hash(&s->ent[tab->slot[i] - 1]) & (size - 1);
			while (slot[j])
				j = (j + 1) & (size - 1);
			slot[j] = tab->slot[i];
		}
		free(tab->slot);
		tab->slot = slot;
		tab->size = size;
	}
	size_t mask = tab->size - 1;
	size_t j = (size_t)entry_hash(&s->ent[idx]) & mask;
	while (tab->slot[j])
		j = (j + 1) & mask;
	tab->slot[j] = idx + 1;
	tab->used++;
}

/* The entry of table t whose key is the name or a suffix of it that
 * begins after a dot, the longest such; NULL if none.  A trailing dot of
 * the name is ignored. */
static const struct entry *
find_suffix(const struct dm_services *s, int t, const char *name)
{
	if (!s || !name)
		return NULL;
	size_t n = strnlen(name, DM_MAX_DOMAIN_LEN + 2); /* the bound: a name of any length */
	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n == 0 || n > DM_MAX_DOMAIN_LEN)
		return NULL;
	const char *p = name, *end = name + n;
	for (;;) {
		const struct entry *e = find_name(s, t, p, (size_t)(end - p));
		if (e)
			return e;
		const char *dot = memchr(p, '.', (size_t)(end - p));
		if (!dot)
			return NULL;
		p = dot + 1;
	}
}

/* ---- the file ------------------------------------------------------------ */

/* What the loader knows about the file it reads. */
struct loader {
	struct dm_services *s;
	const char *path;
	unsigned line;
	char *err;
	size_t errlen;
	int in_section;    /* a [service] line was read */
	int has_type;      /* ... and its type */
	unsigned sec_line; /* the line of that [service] */
};

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static char *
trim(char *s)
{
	while (is_space(*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && is_space(s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* Say "file:line: message" in the caller's err; DM_EINVAL.  Quoted
 * file text is cut at 64 bytes ("%.64s"). */
static int DM_PRINTF(2, 3) fail(struct loader *l, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (l->err && l->errlen)
		snprintf(l->err, l->errlen, "%s:%u: %s", l->path, l->line, msg);
	return DM_EINVAL;
}

static struct entry *
add_entry(struct dm_services *s)
{
	if (s->nent == s->ent_cap) {
		s->ent_cap = s->ent_cap ? s->ent_cap * 2 : 256;
		s->ent = xrealloc(s->ent, s->ent_cap * sizeof *s->ent);
	}
	struct entry *e = &s->ent[s->nent++];
	memset(e, 0, sizeof *e);
	return e;
}

/* The end of the current section: it must have had a type. */
static int
end_section(struct loader *l)
{
	if (!l->in_section || l->has_type)
		return 0;
	unsigned line = l->line;
	l->line = l->sec_line;
	fail(l, "[%s] has no type", l->s->svc[l->s->nsvc - 1].name);
	l->line = line;
	return DM_EINVAL;
}

/* "[name]": a new service. */
static int
section(struct loader *l, char *text)
{
	struct dm_services *s = l->s;
	size_t n = strlen(text);
	if (n < 2 || text[n - 1] != ']')
		return fail(l, "expected '[service name]': '%.64s'", text);
	text[n - 1] = '\0';
	char *name = trim(text + 1);
	n = strlen(name);
	if (end_section(l) != 0)
		return DM_EINVAL;
	if (n == 0)
		return fail(l, "an empty service name");
	if (n > DM_SERVICE_NAME_MAX)
		return fail(l, "a service name over %d bytes: '%.64s...'", DM_SERVICE_NAME_MAX,
		            name);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return fail(l, "a control character in a service name");
	const struct entry *dup = find_name(s, T_NAME, name, n);
	if (dup) {
		return fail(l, "service [%s] listed twice (first at line %u)", name, dup->line);
	}
	if (s->nsvc == DM_SERVICES_MAX)
		return fail(l, "more than %d services", DM_SERVICES_MAX);
	if (s->nsvc == s->svc_cap) {
		s->svc_cap = s->svc_cap ? s->svc_cap * 2 : 64;
		s->svc = xrealloc(s->svc, s->svc_cap * sizeof *s->svc);
	}
	s->svc[s->nsvc].name = name;
	s->svc[s->nsvc].type = DM_SVC_OTHER;
	struct entry *e = add_entry(s);
	e->key = name;
	e->len = n;
	e->svc = (uint32_t)s->nsvc++;
	e->line = l->line;
	table_put(s, T_NAME, (uint32_t)(s->nent - 1));
	l->in_section = 1;
	l->has_type = 0;
	l->sec_line = l->line;
	return 0;
}

/* A base domain: labels of letters, digits, '-' and '_' (for names like
 * _spf.google.com), 1 to 63 bytes each, two labels at least (a bare
 * top-level name would match every name under it). */
static int
valid_domain(const char *d, size_t n)
{
	if (n == 0 || n > DM_MAX_DOMAIN_LEN)
		return 0;
	size_t label = 0, labels = 1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)d[i];
		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
			labels++;
			continue;
		}
		if (!isalnum(c) && c != '-' && c != '_')
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0 && labels >= 2;
}

/* "15169" or "AS15169": 1 to 4294967295. */
static int
parse_asn(const char *v, uint32_t *asn)
{
	if ((v[0] == 'A' || v[0] == 'a') && (v[1] == 'S' || v[1] == 's'))
		v += 2;
	size_t n = strlen(v);
	if (n == 0 || n > 10)
		return 0;
	uint64_t x = 0;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)v[i]))
			return 0;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	if (x == 0 || x > UINT32_MAX)
		return 0;
	*asn = (uint32_t)x;
	return 1;
}

/* One value of a ptr, asn, spf or dkim line. */
static int
value(struct loader *l, int t, char *v)
{
	struct dm_services *s = l->s;
	uint32_t asn = 0;
	size_t n = strlen(v);
	const struct entry *dup;
	if (t == T_ASN) {
		if (!parse_asn(v, &asn))
			return fail(l, "not an AS number: '%.64s'", v);
		dup = find_asn(s, asn);
	} else {
		if (n > 1 && v[n - 1] == '.')
			v[--n] = '\0';
		if (!valid_domain(v, n))
			return fail(l, "not a domain of two labels or more: '%.64s'", v);
		dup = find_name(s, t, v, n);
	}
	if (dup) {
		return fail(l, "%s %.64s is already listed for [%s] at line %u", table_key[t], v,
		            s->svc[dup->svc].name, dup->line);
	}
	if (s->nnames == DM_SERVICES_MAX_NAMES)
		return fail(l, "more than %d names", DM_SERVICES_MAX_NAMES);
	s->nnames++;
	struct entry *e = add_entry(s);
	e->key = t == T_ASN ? NULL : v;
	e->len = t == T_ASN ? 0 : n;
	e->asn = asn;
	e->svc = (uint32_t)(s->nsvc - 1);
	e->line = l->line;
	table_put(s, t, (uint32_t)(s->nent - 1));
	return 0;
}

/* "key = value...". */
static int
key_value(struct loader *l, char *text)
{
	char *eq = strchr(text, '=');
	if (!eq)
		return fail(l, "expected '[service name]' or 'key = value': '%.64s'", text);
	*eq = '\0';
	char *key = trim(text), *val = trim(eq + 1);
	if (!l->in_section)
		return fail(l, "'%.64s' outside a [service] section", key);
	if (*val == '\0')
		return fail(l, "'%.64s' without a value", key);
	if (strcasecmp(key, "type") == 0) {
		if (l->has_type)
			return fail(l, "a second type");
		for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
			if (strcasecmp(val, type_names[i]) == 0) {
				l->s->svc[l->s->nsvc - 1].type = (enum dm_service_type)i;
				l->has_type = 1;
				return 0;
			}
		return fail(
		        l,
		        "unknown type '%.64s' (mailbox, esp, marketing, crm, support, forwarder,"
		        " security, hosting, other)",
		        val);
	}
	int t = -1;
	for (int i = T_PTR; i < T_COUNT; i++)
		if (strcasecmp(key, table_key[i]) == 0)
			t = i;
	if (t < 0)
		return fail(l, "unknown key '%.64s' (type, ptr, asn, spf, dkim)", key);
	/* space-separated values, cut in place */
	char *p = val;
	while (*p) {
		char *v = p;
		while (*p && !is_space(*p))
			p++;
		if (*p)
			*p++ = '\0';
		while (is_space(*p))
			p++;
		if (value(l, t, v) != 0)
			return DM_EINVAL;
	}
	return 0;
}

static int
parse(struct loader *l, char *text, size_t size)
{
	char *p = text, *end = text + size;
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *eol = nl ? nl : end;
		*eol = '\0';
		l->line++;
		if (strlen(p) != (size_t)(eol - p))
			return fail(l, "a NUL byte");
		char *s = trim(p);
		p = eol + 1;
		if (*s == '\0' || *s == '#')
			continue;
		if ((*s == '[' ? section(l, s) : key_value(l, s)) != 0)
			return DM_EINVAL;
	}
	return end_section(l);
}

/* The whole file into *text (NUL-terminated), at most
 * DM_SERVICES_MAX_FILE bytes. */
static int
read_file(struct loader *l, char **text, size_t *size)
{
	FILE *f = fopen(l->path, "r");
	if (!f) {
		snprintf(l->err, l->errlen, "%s: %s", l->path, strerror(errno));
		return DM_EIO;
	}
	size_t cap = 64 * 1024, n = 0;
	char *buf = xmalloc(cap + 1);
	for (;;) {
		if (n == cap) {
			if (cap > DM_SERVICES_MAX_FILE)
				break; /* one byte past the limit is enough to say so */
			cap = cap * 2 > DM_SERVICES_MAX_FILE ? DM_SERVICES_MAX_FILE + 1 : cap * 2;
			buf = xrealloc(buf, cap + 1);
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		snprintf(l->err, l->errlen, "%s: read error", l->path);
		free(buf);
		return DM_EIO;
	}
	if (n > DM_SERVICES_MAX_FILE) {
		snprintf(l->err, l->errlen, "%s: larger than %d bytes", l->path,
		         DM_SERVICES_MAX_FILE);
		free(buf);
		return DM_ELIMIT;
	}
	buf[n] = '\0';
	*text = buf;
	*size = n;
	return 0;
}

struct dm_services *
dm_services_load(const char *path, char *err, size_t errlen)
{
	struct loader l = {.path = path, .err = err, .errlen = err ? errlen : 0};
	char *text;
	size_t size;
	if (read_file(&l, &text, &size) != 0)
		return NULL;
	struct dm_services *s = xcalloc(1, sizeof *s);
	s->text = text;
	l.s = s;
	if (parse(&l, text, size) != 0) {
		dm_services_free(s);
		return NULL;
	}
	return s;
}

void
dm_services_free(struct dm_services *s)
{
	if (!s)
		return;
	for (int t = 0; t < T_COUNT; t++)
		free(s->tab[t].slot);
	free(s->ent);
	free(s->svc);
	free(s->text);
	free(s);
}

size_t
dm_services_count(const struct dm_services *s)
{
	return s ? s->nsvc : 0;
}

/* ---- lookups ------------------------------------------------------------- */

static const struct dm_service *
service_of(const struct dm_services *s, const struct entry *e)
{
	return e ? &s->svc[e->svc] : NULL;
}

const struct dm_service *
dm_services_by_ptr(const struct dm_services *s, const char *ptr)
{
	return service_of(s, find_suffix(s, T_PTR, ptr));
}

const struct dm_service *
dm_services_by_asn(const struct dm_services *s, uint32_t asn)
{
	if (!s || asn == 0)
		return NULL;
	return service_of(s, find_asn(s, asn));
}

const struct dm_service *
dm_services_by_spf(const struct dm_services *s, const char *include)
{
	return service_of(s, find_suffix(s, T_SPF, include));
}

void
dm_services_spf_of(const struct dm_services *s, const char *name, char *out, size_t outlen)
{
	out[0] = '\0';
	size_t k = 0;
	while (k < s->nsvc && strcasecmp(s->svc[k].name, name) != 0)
		k++;
	if (k == s->nsvc)
		return;
	/* the first in the file: keys point into its text */
	const struct entry *best = NULL;
	const struct table *t = &s->tab[T_SPF];
	for (size_t i = 0; i < t->size; i++) {
		if (!t->slot[i])
			continue;
		const struct entry *e = &s->ent[t->slot[i] - 1];
		if (e->svc == k && e->key && (!best || e->key < best->key))
			best = e;
	}
	if (best)
		snprintf(out, outlen, "%.*s", (int)best->len, best->key);
}

const struct dm_service *
dm_services_by_domain(const struct dm_services *s, const char *domain)
{
	return service_of(s, find_suffix(s, T_DKIM, domain));
}

const struct dm_service *
dm_services_match(const struct dm_services *s, const char *ptr, uint32_t asn,
                  const char *const *dkim_domains, size_t ndkim)
{
	const struct dm_service *svc = NULL;
	if (ptr)
		svc = dm_services_by_ptr(s, ptr);
	for (size_t i = 0; !svc && dkim_domains && i < ndkim; i++)
		svc = dm_services_by_domain(s, dkim_domains[i]);
	if (!svc)
		svc = dm_services_by_asn(s, asn);
	return svc;
}
