/*
 * check.c - a domain's DMARC, SPF and DKIM records read from the DNS and
 * checked (`dmarcd record check`; what it does is in check.h, the codes
 * in docs/RECORDS.md).
 *
 * The questions are asked one after another through one resolver: a
 * check asks a few dozen at most (DM_CHECK_MAX_QUERIES), answered from
 * the cache when asked twice, and ends by DM_CHECK_DEADLINE_MS whatever
 * the servers do.  The SPF walk goes on past RFC 7208's 10 lookups, to
 * show where a record spends them, within DM_SPF_WALK_DEPTH levels and
 * the query budget; an include of a name already on the path is a loop
 * and is not followed again.
 *
 * Functions: dm_check_domain_name, dm_check_org_domain, dm_check_run,
 * dm_check_free, dm_check_json, dm_check_text.  Logs nothing.
 */
#include "dns/check.h"

#include <libpsl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "core/report.h"
#include "store/store.h"

/* ---- names ------------------------------------------------------------ */

int
dm_check_domain_name(const char *in, char out[DM_CHECK_NAME], char *err, size_t errlen)
{
	size_t n = strlen(in);
	if (n && in[n - 1] == '.')
		n--;
	if (n == 0 || n > 253) {
		snprintf(err, errlen, "a domain name is 1 to 253 characters");
		return -1;
	}
	size_t label = 0;
	for (size_t i = 0; i < n; i++) {
		char ch = in[i];
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if (ch == '.') {
			if (label == 0) {
				snprintf(err, errlen, "an empty label in the domain name");
				return -1;
			}
			label = 0;
		} else if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		           ch == '_') {
			if (++label > 63) {
				snprintf(err, errlen,
				         "a label of the domain name is over 63 characters");
				return -1;
			}
		} else {
			snprintf(err, errlen,
			         "the domain name has a character other than letters, digits, '-', "
			         "'_' and '.' (write an internationalised name as its A-labels, "
			         "xn--)");
			return -1;
		}
		out[i] = ch;
	}
	out[n] = '\0';
	return 0;
}

static pthread_once_t psl_once = PTHREAD_ONCE_INIT;
static psl_ctx_t *psl_ctx;

static void
psl_load(void)
{
	/* the system's list (Debian's publicsuffix) when newer than the one
	 * built into libpsl */
	psl_ctx = (psl_ctx_t *)psl_latest(NULL);
	if (!psl_ctx)
		psl_ctx = (psl_ctx_t *)psl_builtin();
}

void
dm_check_org_domain(const char *name, char out[DM_CHECK_NAME])
{
	pthread_once(&psl_once, psl_load);
	const char *org = psl_ctx ? psl_registrable_domain(psl_ctx, name) : NULL;
	snprintf(out, DM_CHECK_NAME, "%.*s", DM_CHECK_NAME - 1, org ? org : name);
}

static size_t
nlabels(const char *d)
{
	size_t n = 1;
	for (; *d; d++)
		n += *d == '.';
	return n;
}

/* The last k labels of d. */
static const char *
last_labels(const char *d, size_t k)
{
	size_t n = nlabels(d);
	while (n > k) {
		d = strchr(d, '.') + 1;
		n--;
	}
	return d;
}

/* ---- findings --------------------------------------------------------- */

static void DM_PRINTF(5, 6) add(struct dm_check *c, const char *where, enum dm_finding_severity s,
                                const char *code, const char *fmt, ...)
{
	if (c->nfindings % 32 == 0)
		c->findings = xrealloc(c->findings, (c->nfindings + 32) * sizeof(*c->findings));
	struct dm_check_finding *f = &c->findings[c->nfindings++];
	memset(f, 0, sizeof(*f));
	snprintf(f->where, sizeof(f->where), "%s", where);
	f->f.severity = s;
	f->f.code = code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(f->f.message, sizeof(f->f.message), fmt, ap);
	va_end(ap);
	if (s == DM_FINDING_ERROR)
		c->nerrors++;
	else if (s == DM_FINDING_WARNING)
		c->nwarnings++;
}

/* A record's own findings, under where. */
static void
add_all(struct dm_check *c, const char *where, const struct dm_finding *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		add(c, where, v[i].severity, v[i].code, "%s", v[i].message);
}

/* ---- asking ----------------------------------------------------------- */

struct ctx {
	struct dm_resolver *r;
	struct dm_check *c;
};

static struct dm_dns_answer *
ask(struct ctx *x, const char *name, enum dm_dns_type type)
{
	x->c->queries++;
	return dm_dns_lookup(x->r, name, type);
}

static int
is_dmarc_text(const char *s, size_t n)
{
	/* v=DMARC1 first, *WSP around '=' (SPECS REC-2); the parser says
	 * the rest */
	size_t i = 0;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (n - i < 1 || (s[i] != 'v' && s[i] != 'V'))
		return 0;
	i++;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i >= n || s[i] != '=')
		return 0;
	i++;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (n - i < 6 || strncasecmp(s + i, "DMARC1", 6) != 0)
		return 0;
	i += 6;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return i == n || s[i] == ';';
}

static int
is_spf_text(const char *s, size_t n)
{
	return n >= 6 && strncasecmp(s, "v=spf1", 6) == 0 && (n == 6 || s[6] == ' ');
}

static int
is_dkim_text(const char *s, size_t n)
{
	struct dm_dkim_record *k = xcalloc(1, sizeof(*k));
	dm_dkim_record_parse(s, n, k);
	int ok = k->is_dkim;
	free(k);
	return ok;
}

/* The TXT records at name that are of a kind: how many, the first. */
static void
read_txt(struct ctx *x, const char *name, int (*kind)(const char *, size_t), struct dm_check_txt *t)
{
	snprintf(t->name, sizeof(t->name), "%s", name);
	struct dm_dns_answer *a = ask(x, name, DM_DNS_TXT);
	t->dns = a->status;
	for (size_t i = 0; i < a->n; i++) {
		if (!kind(a->rr[i].data, a->rr[i].len))
			continue;
		if (t->nrecords++ == 0) {
			t->text = xstrndup(a->rr[i].data, a->rr[i].len);
			t->len = a->rr[i].len;
		}
	}
	dm_dns_answer_free(a);
}

static int
dns_failed(enum dm_dns_status s)
{
	return s == DM_DNS_SERVFAIL || s == DM_DNS_TIMEOUT || s == DM_DNS_ERROR;
}

/* ---- DMARC ------------------------------------------------------------ */

struct found {
	char name[DM_CHECK_NAME];
	struct dm_dmarc_record *rec;
};

/* One DMARC record at _dmarc.d into *rec (allocated), or NULL when none
 * or several; *dns what the DNS said. */
static struct dm_dmarc_record *
dmarc_at(struct ctx *x, const char *d, enum dm_dns_status *dns, size_t *count)
{
	char name[DM_CHECK_NAME + 16];
	snprintf(name, sizeof(name), "_dmarc.%s", d);
	struct dm_check_txt t = {.nrecords = 0};
	read_txt(x, name, is_dmarc_text, &t);
	*dns = t.dns;
	if (count)
		*count = t.nrecords;
	struct dm_dmarc_record *rec = NULL;
	if (t.nrecords == 1) {
		rec = xcalloc(1, sizeof(*rec));
		dm_dmarc_record_parse(t.text, t.len, rec);
	}
	free(t.text);
	return rec;
}

/* What rec says for d when found at at: p at the domain itself, else sp. */
static void
policy_for(const struct dm_dmarc_record *rec, const char *d, const char *at, char out[16])
{
	snprintf(out, 16, "%s", strcmp(d, at) == 0 ? rec->eff.p : rec->eff.sp);
}

/* RFC 7489 §6.6.3: the domain, then its Organizational Domain by PSL. */
static void
discover_psl(struct ctx *x, struct dm_check *c)
{
	struct dm_check_discovery *o = &c->psl;
	dm_check_org_domain(c->domain, o->org);
	if (c->dmarc_rec) {
		snprintf(o->record_at, sizeof(o->record_at), "%s", c->domain);
		policy_for(c->dmarc_rec, c->domain, c->domain, o->policy);
		return;
	}
	if (c->dmarc.nrecords > 1 || strcmp(o->org, c->domain) == 0)
		return;
	enum dm_dns_status dns;
	struct dm_dmarc_record *rec = dmarc_at(x, o->org, &dns, NULL);
	if (rec) {
		snprintf(o->record_at, sizeof(o->record_at), "%s", o->org);
		policy_for(rec, c->domain, o->org, o->policy);
		if (!c->applied)
			c->applied = rec;
		else
			free(rec);
	}
}

/* RFC 9989 §4.10: the tree walk, at most 8 names; a name with several
 * records counts as none; a psd=y or psd=n record ends it. */
static void
discover_walk(struct ctx *x, struct dm_check *c)
{
	struct dm_check_discovery *o = &c->walk;
	struct found found[8];
	size_t nfound = 0;
	size_t n = nlabels(c->domain);
	const char *names[8];
	size_t nn = 0;
	names[nn++] = c->domain;
	for (size_t k = n >= 8 ? 7 : n - 1; k >= 1 && nn < 8; k--)
		names[nn++] = last_labels(c->domain, k);
	for (size_t i = 0; i < nn; i++) {
		snprintf(o->names[o->nnames++], DM_CHECK_NAME, "%s", names[i]);
		struct dm_dmarc_record *rec;
		if (i == 0) {
			rec = NULL;
			if (c->dmarc_rec) {
				rec = xcalloc(1, sizeof(*rec));
				memcpy(rec, c->dmarc_rec, sizeof(*rec));
			}
		} else {
			enum dm_dns_status dns;
			rec = dmarc_at(x, names[i], &dns, NULL);
		}
		if (!rec)
			continue;
		snprintf(found[nfound].name, DM_CHECK_NAME, "%s", names[i]);
		found[nfound++].rec = rec;
		if (strcmp(rec->eff.psd, "y") == 0 || strcmp(rec->eff.psd, "n") == 0)
			break;
	}
	/* §4.10.2: the Organizational Domain */
	const char *org = NULL;
	for (size_t i = 0; i < nfound && !org; i++) {
		if (strcmp(found[i].rec->eff.psd, "n") == 0)
			org = found[i].name;
		else if (strcmp(found[i].rec->eff.psd, "y") == 0 && i > 0 &&
		         strcmp(found[i].name, c->domain) != 0)
			org = last_labels(c->domain, nlabels(found[i].name) + 1);
	}
	if (!org && nfound)
		org = found[nfound - 1].name;
	snprintf(o->org, sizeof(o->org), "%s", org ? org : c->domain);
	/* the policy: the domain's own record, else the Organizational
	 * Domain's, else a PSD's */
	const struct found *use = NULL;
	if (nfound && strcmp(found[0].name, c->domain) == 0)
		use = &found[0];
	for (size_t i = 0; i < nfound && !use; i++)
		if (strcmp(found[i].name, o->org) == 0)
			use = &found[i];
	for (size_t i = 0; i < nfound && !use; i++)
		if (strcmp(found[i].rec->eff.psd, "y") == 0)
			use = &found[i];
	if (use) {
		snprintf(o->record_at, sizeof(o->record_at), "%s", use->name);
		policy_for(use->rec, c->domain, use->name, o->policy);
	}
	for (size_t i = 0; i < nfound; i++) {
		if (use == &found[i] && !c->dmarc_rec) {
			/* the tree walk's record is the one RFC 9989 applies */
			free(c->applied);
			c->applied = found[i].rec;
		} else
			free(found[i].rec);
	}
}

/* Is host within the Organizational Domain org? */
static int
within_org(const char *host, const char *org)
{
	char h[DM_CHECK_NAME];
	dm_check_org_domain(host, h);
	return strcasecmp(h, org) == 0;
}

static void
check_dest(struct ctx *x, struct dm_check *c, const char *policy_domain, const char *org,
           const struct dm_report_uri *u, int ruf, const struct dm_check_args *a)
{
	if (c->ndests == sizeof(c->dests) / sizeof(c->dests[0]))
		return;
	for (size_t i = 0; i < c->ndests; i++)
		if (c->dests[i].ruf == ruf && strcmp(c->dests[i].uri, u->uri) == 0)
			return;
	if (strlen(u->host) >= DM_CHECK_NAME)
		return; /* no domain name: the record's own finding says so */
	struct dm_check_dest *d = &c->dests[c->ndests++];
	snprintf(d->uri, sizeof(d->uri), "%s", u->uri);
	snprintf(d->host, sizeof(d->host), "%.*s", DM_CHECK_NAME - 1, u->host);
	d->ruf = ruf;
	for (size_t i = 0; i < a->nours; i++)
		if (u->mailto && strcasecmp(u->address, a->ours[i]) == 0)
			d->ours = 1;
	if (!u->mailto || !u->host[0] || within_org(u->host, org))
		return;
	d->external = 1;
	char where[DM_CHECK_NAME + 16];
	snprintf(where, sizeof(where), "%s:%s", ruf ? "ruf" : "rua", d->host);
	char name[600];
	int nl = snprintf(name, sizeof(name), "%s._report._dmarc.%s", policy_domain, u->host);
	if (nl < 0 || nl > 253) {
		snprintf(d->auth.name, sizeof(d->auth.name), "(over 253 characters)");
		add(c, where, DM_FINDING_ERROR, "ext_name_too_long",
		    "%s._report._dmarc.%s is longer than a DNS name may be: %s cannot authorize "
		    "reports for %s, so receivers send them nowhere",
		    policy_domain, u->host, u->host, policy_domain);
		return;
	}
	read_txt(x, name, is_dmarc_text, &d->auth);
	if (d->auth.nrecords > 0) {
		d->authorized = 1;
		struct dm_dmarc_record *ov = xcalloc(1, sizeof(*ov));
		dm_dmarc_record_parse(d->auth.text, d->auth.len, ov);
		const struct dm_report_uri *v = ruf ? ov->ruf : ov->rua;
		size_t nv = ruf ? ov->nruf : ov->nrua;
		if (nv > 0) {
			snprintf(d->override, sizeof(d->override), "%s", v[0].uri);
			int same = 1;
			for (size_t i = 0; i < nv; i++)
				if (strcasecmp(v[i].host, u->host) != 0)
					same = 0;
			if (same)
				add(c, where, DM_FINDING_INFO, "ext_override",
				    "%s's authorization record replaces %s with its own %s=",
				    u->host, u->uri, ruf ? "ruf" : "rua");
			else {
				d->authorized = 0;
				add(c, where, DM_FINDING_ERROR, "ext_override_elsewhere",
				    "%s's authorization record names a %s= on another host: "
				    "neither it "
				    "nor %s may be used",
				    u->host, ruf ? "ruf" : "rua", u->uri);
			}
		}
		free(ov);
	} else if (dns_failed(d->auth.dns)) {
		add(c, where, DM_FINDING_WARNING, "ext_dns_error",
		    "could not read %s (%s): whether %s accepts reports for %s is unknown", name,
		    dm_dns_status_name(d->auth.dns), u->host, policy_domain);
	} else {
		add(c, where, DM_FINDING_ERROR, "ext_not_authorized",
		    "%s is outside %s and has not authorized its reports: receivers drop %s. "
		    "In %s's zone: %s TXT \"v=DMARC1\"",
		    u->host, org, u->uri, u->host, name);
	}
}

static void
check_dmarc(struct ctx *x, struct dm_check *c, const struct dm_check_args *a)
{
	char name[DM_CHECK_NAME + 16];
	snprintf(name, sizeof(name), "_dmarc.%s", c->domain);
	read_txt(x, name, is_dmarc_text, &c->dmarc);
	if (c->dmarc.nrecords == 1) {
		c->dmarc_rec = xcalloc(1, sizeof(*c->dmarc_rec));
		dm_dmarc_record_parse(c->dmarc.text, c->dmarc.len, c->dmarc_rec);
		add_all(c, "dmarc", c->dmarc_rec->findings, c->dmarc_rec->nfindings);
	} else if (c->dmarc.nrecords > 1) {
		add(c, "dmarc", DM_FINDING_ERROR, "several_records",
		    "%zu DMARC records at %s: receivers apply none of them (RFC 7489), or look "
		    "further up (RFC 9989); publish one",
		    c->dmarc.nrecords, name);
	} else if (dns_failed(c->dmarc.dns)) {
		add(c, "dmarc", DM_FINDING_ERROR, "dns_error",
		    "could not read %s: %s; receivers that cannot either treat the domain as "
		    "having no policy or defer its mail",
		    name, dm_dns_status_name(c->dmarc.dns));
	}
	discover_psl(x, c);
	discover_walk(x, c);
	if (!c->dmarc_rec && c->dmarc.nrecords == 0 && !dns_failed(c->dmarc.dns)) {
		if (!c->psl.record_at[0] && !c->walk.record_at[0])
			add(c, "dmarc", DM_FINDING_ERROR, "no_record",
			    "no DMARC record at %s nor above it: no policy applies and nobody "
			    "sends "
			    "reports. Publish one (dmarcd record generate --domain %s)",
			    name, c->domain);
		else {
			const char *at =
			        c->walk.record_at[0] ? c->walk.record_at : c->psl.record_at;
			const char *pol = c->walk.record_at[0] ? c->walk.policy : c->psl.policy;
			add(c, "dmarc", DM_FINDING_INFO, "inherited",
			    "no record at %s: the record at _dmarc.%s applies (policy %s for "
			    "subdomains)",
			    name, at, pol[0] ? pol : "none");
		}
	}
	if (strcmp(c->psl.record_at, c->walk.record_at) != 0 ||
	    strcmp(c->psl.org, c->walk.org) != 0)
		add(c, "dmarc", DM_FINDING_WARNING, "discovery_differs",
		    "receivers disagree: by the Public Suffix List (RFC 7489) the Organizational "
		    "Domain is %s and the policy is %s's; by the DNS tree walk (RFC 9989) they "
		    "are %s and %s's",
		    c->psl.org, c->psl.record_at[0] ? c->psl.record_at : "nobody", c->walk.org,
		    c->walk.record_at[0] ? c->walk.record_at : "nobody");
	/* destinations of the record that applies, from where it was found */
	const struct dm_dmarc_record *rec = c->dmarc_rec ? c->dmarc_rec : c->applied;
	const char *pdom = c->dmarc_rec           ? c->domain
	                   : c->walk.record_at[0] ? c->walk.record_at
	                                          : c->psl.record_at;
	if (!rec)
		return;
	char org[DM_CHECK_NAME];
	dm_check_org_domain(pdom, org);
	for (size_t i = 0; i < rec->nrua; i++)
		check_dest(x, c, pdom, org, &rec->rua[i], 0, a);
	for (size_t i = 0; i < rec->nruf; i++)
		check_dest(x, c, pdom, org, &rec->ruf[i], 1, a);
	if (a->nours > 0) {
		int here = 0;
		for (size_t i = 0; i < c->ndests; i++)
			here |= !c->dests[i].ruf && c->dests[i].ours;
		if (!here)
			add(c, "dmarc", DM_FINDING_WARNING, "not_reporting_here",
			    "the record's rua= does not name %s: this instance receives no reports "
			    "for %s",
			    a->ours[0], c->domain);
	}
}

/* ---- SPF -------------------------------------------------------------- */

static struct dm_spf_node *
node_new(const char *name, const char *via)
{
	struct dm_spf_node *n = xcalloc(1, sizeof(*n));
	snprintf(n->name, sizeof(n->name), "%s", name);
	snprintf(n->via, sizeof(n->via), "%s", via);
	return n;
}

static void
node_free(struct dm_spf_node *n)
{
	while (n) {
		struct dm_spf_node *next = n->next;
		node_free(n->child);
		free(n->record);
		free(n->parsed);
		free(n);
		n = next;
	}
}

struct spf_walk {
	struct ctx *x;
	const char *path[DM_SPF_WALK_DEPTH + 2];
	size_t depth;
};

static int
budget_left(struct ctx *x)
{
	return x->c->queries < DM_CHECK_MAX_QUERIES;
}

static void
set_status(struct dm_spf_node *n, const char *s)
{
	snprintf(n->status, sizeof(n->status), "%s", s);
}

static void spf_record(struct spf_walk *w, struct dm_spf_node *n);

/* The target of a, mx and exists: the value without its cidr, or the
 * record's own domain. */
static void
term_target(const struct dm_spf_term *t, const char *self, char out[DM_CHECK_NAME])
{
	size_t l = strcspn(t->value, "/");
	if (l == 0)
		snprintf(out, DM_CHECK_NAME, "%s", self);
	else
		snprintf(out, DM_CHECK_NAME, "%.*s", (int)l, t->value);
}

/* One lookup term of a record read at parent. */
static struct dm_spf_node *
spf_term(struct spf_walk *w, struct dm_spf_node *parent, const struct dm_spf_term *t)
{
	struct dm_check *c = w->x->c;
	char target[DM_CHECK_NAME];
	const char *via = dm_spf_kind_name(t->kind);
	term_target(t, parent->name, target);
	struct dm_spf_node *n = node_new(target, via);
	n->lookups = 1;
	char where[DM_CHECK_NAME + 16];
	snprintf(where, sizeof(where), "spf:%s", parent->name);
	if (t->kind == DM_SPF_PTR) {
		set_status(n, "ok"); /* needs the sender's address: not asked */
		return n;
	}
	if (strchr(target, '%')) {
		set_status(n, "macro"); /* depends on the message: not asked */
		return n;
	}
	if (!budget_left(w->x)) {
		set_status(n, "skipped");
		return n;
	}
	if (t->kind == DM_SPF_INCLUDE || t->kind == DM_SPF_REDIRECT) {
		for (size_t i = 0; i < w->depth; i++)
			if (strcasecmp(w->path[i], target) == 0) {
				set_status(n, "loop");
				add(c, where, DM_FINDING_ERROR, "spf_loop",
				    "%s=%s leads back to %s: receivers answer permerror (or stop "
				    "at 10 "
				    "lookups)",
				    via, target, target);
				return n;
			}
		if (w->depth >= DM_SPF_WALK_DEPTH) {
			set_status(n, "too_deep");
			return n;
		}
		spf_record(w, n);
		return n;
	}
	/* a, mx, exists: an address or MX answer */
	enum dm_dns_type type = t->kind == DM_SPF_MX ? DM_DNS_MX : DM_DNS_A;
	struct dm_dns_answer *ans = ask(w->x, target, type);
	enum dm_dns_status st = ans->status;
	n->answers = ans->n;
	dm_dns_answer_free(ans);
	if (t->kind == DM_SPF_A && st != DM_DNS_OK && !dns_failed(st)) {
		ans = ask(w->x, target, DM_DNS_AAAA);
		if (ans->status == DM_DNS_OK) {
			st = DM_DNS_OK;
			n->answers = ans->n;
		}
		dm_dns_answer_free(ans);
	}
	if (st == DM_DNS_OK) {
		set_status(n, "ok");
		if (t->kind == DM_SPF_MX && n->answers > 10)
			add(c, where, DM_FINDING_ERROR, "spf_mx_too_many",
			    "mx:%s has %zu MX records; more than 10 is a permerror (RFC 7208 "
			    "§4.6.4)",
			    target, n->answers);
	} else if (dns_failed(st)) {
		set_status(n, dm_dns_status_name(st));
		add(c, where, DM_FINDING_WARNING, "spf_dns_error",
		    "%s:%s could not be read (%s): receivers answer temperror", via, target,
		    dm_dns_status_name(st));
	} else {
		set_status(n, "void");
		n->voids = 1;
		add(c, where, DM_FINDING_WARNING, "spf_void_lookup",
		    "%s:%s finds nothing (%s): a void lookup; more than 2 are a permerror", via,
		    target, dm_dns_status_name(st));
	}
	return n;
}

/* The SPF record at n->name and everything it leads to. */
static void
spf_record(struct spf_walk *w, struct dm_spf_node *n)
{
	struct dm_check *c = w->x->c;
	struct dm_check_txt t = {.nrecords = 0};
	read_txt(w->x, n->name, is_spf_text, &t);
	char where[DM_CHECK_NAME + 16];
	snprintf(where, sizeof(where), "spf:%s", n->name);
	int top = w->depth == 0;
	if (t.nrecords == 0) {
		free(t.text);
		if (dns_failed(t.dns)) {
			set_status(n, dm_dns_status_name(t.dns));
			add(c, where, top ? DM_FINDING_ERROR : DM_FINDING_WARNING, "spf_dns_error",
			    "could not read the SPF record of %s (%s): receivers answer temperror",
			    n->name, dm_dns_status_name(t.dns));
			return;
		}
		set_status(n, "none");
		if (!top && (t.dns == DM_DNS_NXDOMAIN || t.dns == DM_DNS_NODATA))
			n->voids = 1;
		if (top)
			add(c, where, DM_FINDING_WARNING, "no_spf",
			    "no SPF record at %s: SPF gives none for its mail, and DMARC rests on "
			    "DKIM alone",
			    n->name);
		else
			add(c, where, DM_FINDING_ERROR, "include_no_spf",
			    "%s=%s: %s has no SPF record: receivers answer permerror", n->via,
			    n->name, n->name);
		return;
	}
	n->record = t.text;
	if (t.nrecords > 1) {
		set_status(n, "several");
		add(c, where, DM_FINDING_ERROR, "several_spf",
		    "%zu SPF records at %s: receivers answer permerror; publish one", t.nrecords,
		    n->name);
		return;
	}
	set_status(n, "ok");
	n->parsed = xcalloc(1, sizeof(*n->parsed));
	dm_spf_record_parse(t.text, t.len, n->parsed);
	for (size_t i = 0; i < n->parsed->nfindings; i++)
		if (strcmp(n->parsed->findings[i].code, "lookups_over_limit") != 0)
			add(c, where, n->parsed->findings[i].severity, n->parsed->findings[i].code,
			    "%s", n->parsed->findings[i].message);
	w->path[w->depth++] = n->name;
	struct dm_spf_node **tail = &n->child;
	int has_all = 0;
	for (size_t i = 0; i < n->parsed->nterms; i++)
		has_all |= n->parsed->terms[i].kind == DM_SPF_ALL;
	for (size_t i = 0; i < n->parsed->nterms; i++) {
		const struct dm_spf_term *term = &n->parsed->terms[i];
		if (!term->lookup || (term->kind == DM_SPF_REDIRECT && has_all))
			continue;
		struct dm_spf_node *ch = spf_term(w, n, term);
		n->lookups += ch->lookups;
		n->voids += ch->voids;
		*tail = ch;
		tail = &ch->next;
	}
	w->depth--;
}

static void
check_spf(struct ctx *x, struct dm_check *c)
{
	struct spf_walk w = {.x = x, .depth = 0};
	c->spf = node_new(c->domain, "");
	spf_record(&w, c->spf);
	c->spf_lookups = c->spf->lookups;
	c->spf_voids = c->spf->voids;
	char where[DM_CHECK_NAME + 16];
	snprintf(where, sizeof(where), "spf:%s", c->domain);
	if (c->spf_lookups > 10)
		add(c, where, DM_FINDING_ERROR, "spf_lookups",
		    "%d DNS lookups counted over includes and redirects; RFC 7208 allows 10: "
		    "receivers answer permerror, so SPF fails for all of %s's mail",
		    c->spf_lookups, c->domain);
	else if (c->spf_lookups >= 9)
		add(c, where, DM_FINDING_WARNING, "spf_lookups_near_limit",
		    "%d DNS lookups of the 10 RFC 7208 allows: one more include breaks SPF",
		    c->spf_lookups);
	if (c->spf_voids > 2)
		add(c, where, DM_FINDING_ERROR, "spf_void_lookups",
		    "%d lookups find nothing; RFC 7208 §4.6.4 allows 2: receivers answer permerror",
		    c->spf_voids);
}

/* ---- DKIM ------------------------------------------------------------- */

static void
check_dkim(struct ctx *x, struct dm_check *c, const struct dm_check_args *a)
{
	for (size_t i = 0; i < a->nselectors && c->ndkim < DM_CHECK_MAX_SELECTORS; i++) {
		const char *sel = a->selectors[i];
		char where[DM_CHECK_NAME + 16];
		snprintf(where, sizeof(where), "dkim:%.63s", sel);
		struct dm_check_dkim *k = &c->dkim[c->ndkim++];
		snprintf(k->selector, sizeof(k->selector), "%s", sel);
		char name[DM_CHECK_NAME * 2];
		int nl = snprintf(name, sizeof(name), "%s._domainkey.%s", sel, c->domain);
		if (nl < 0 || nl > 253 || strlen(sel) > 63 || !sel[0]) {
			snprintf(k->txt.name, sizeof(k->txt.name), "%.250s", name);
			k->txt.dns = DM_DNS_ERROR;
			add(c, where, DM_FINDING_ERROR, "dkim_bad_selector",
			    "selector '%.63s' does not make a DNS name with %s", sel, c->domain);
			continue;
		}
		read_txt(x, name, is_dkim_text, &k->txt);
		if (k->txt.nrecords == 0) {
			if (dns_failed(k->txt.dns))
				add(c, where, DM_FINDING_WARNING, "dkim_dns_error",
				    "could not read %s (%s)", name, dm_dns_status_name(k->txt.dns));
			else
				add(c, where, DM_FINDING_ERROR, "dkim_missing",
				    "no DKIM key at %s: mail signed with selector %s fails DKIM",
				    name, sel);
			continue;
		}
		if (k->txt.nrecords > 1)
			add(c, where, DM_FINDING_ERROR, "dkim_several",
			    "%zu key records at %s: verifiers may pick either", k->txt.nrecords,
			    name);
		k->rec = xcalloc(1, sizeof(*k->rec));
		dm_dkim_record_parse(k->txt.text, k->txt.len, k->rec);
		add_all(c, where, k->rec->findings, k->rec->nfindings);
	}
}

/* ---- selectors seen in reports ---------------------------------------- */

struct seen {
	const char *domain;
	struct seen_sel {
		char name[64];
		uint64_t messages;
	} v[4 * DM_CHECK_MAX_SELECTORS];
	size_t n;
};

/* A selector that makes a DNS name: labels of letters, digits, '-' and
 * '_', at most 63 characters in all. */
static int
selector_ok(const char *s)
{
	size_t n = strlen(s), label = 0;
	if (n == 0 || n > 63 || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (ch == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		           (ch >= '0' && ch <= '9') || ch == '-' || ch == '_') {
			label++;
		} else {
			return 0;
		}
	}
	return 1;
}

static int
seen_record(void *arg, const struct store_report_row *r, const struct dm_record *rec)
{
	(void)r;
	struct seen *s = arg;
	for (unsigned i = 0; i < rec->ndkim; i++) {
		const struct dm_auth_dkim *k = &rec->dkim_res[i];
		if (!k->domain || !k->selector || strcasecmp(k->domain, s->domain) != 0 ||
		    !selector_ok(k->selector))
			continue;
		size_t j = 0;
		while (j < s->n && strcasecmp(s->v[j].name, k->selector) != 0)
			j++;
		if (j == s->n) {
			/* more distinct selectors than are checked: keep the
			 * first ones seen, later ones only add to those */
			if (s->n == sizeof(s->v) / sizeof(s->v[0]))
				continue;
			snprintf(s->v[j].name, sizeof(s->v[j].name), "%s", k->selector);
			for (char *p = s->v[j].name; *p; p++)
				if (*p >= 'A' && *p <= 'Z')
					*p = (char)(*p - 'A' + 'a');
			s->n++;
		}
		s->v[j].messages += rec->count > 0 ? (uint64_t)rec->count : 0;
	}
	return 0;
}

static int
seen_cmp(const void *a, const void *b)
{
	const struct seen_sel *x = a, *y = b;
	if (x->messages != y->messages)
		return x->messages > y->messages ? -1 : 1;
	return strcmp(x->name, y->name);
}

int
dm_check_seen_selectors(struct store_reader *rd, const struct store_scope *sc, const char *domain,
                        int days, char sel[][64], size_t *n)
{
	static struct seen empty;
	struct seen *s = xmalloc(sizeof(*s));
	*s = empty;
	s->domain = domain;
	int64_t today = (int64_t)time(NULL) / 86400 * 86400;
	struct store_filter f = {.domain = domain,
	                         .from = today - (int64_t)days * 86400,
	                         .to = STORE_OPEN,
	                         .reporter = NULL};
	int rc = store_export(sc, rd, &f, seen_record, s);
	*n = 0;
	if (rc == 0) {
		qsort(s->v, s->n, sizeof(s->v[0]), seen_cmp);
		for (size_t i = 0; i < s->n && i < DM_CHECK_MAX_SELECTORS; i++)
			snprintf(sel[(*n)++], 64, "%s", s->v[i].name);
	}
	free(s);
	return rc;
}

/* ---- the whole check -------------------------------------------------- */

void
dm_check_run(struct dm_resolver *r, const struct dm_check_args *a, struct dm_check *c)
{
	int64_t t0 = dm_dns_now_ms();
	snprintf(c->domain, sizeof(c->domain), "%s", a->domain);
	dm_resolver_deadline(r, t0 + DM_CHECK_DEADLINE_MS);
	struct ctx x = {r, c};
	check_dmarc(&x, c, a);
	check_spf(&x, c);
	check_dkim(&x, c, a);
	dm_resolver_deadline(r, 0);
	c->took_ms = dm_dns_now_ms() - t0;
}

void
dm_check_free(struct dm_check *c)
{
	free(c->dmarc.text);
	free(c->dmarc_rec);
	free(c->applied);
	for (size_t i = 0; i < c->ndests; i++)
		free(c->dests[i].auth.text);
	node_free(c->spf);
	for (size_t i = 0; i < c->ndkim; i++) {
		free(c->dkim[i].txt.text);
		free(c->dkim[i].rec);
	}
	free(c->findings);
	memset(c, 0, sizeof(*c));
}

/* ---- JSON ------------------------------------------------------------- */

static void
json_txt(struct dm_json *j, const struct dm_check_txt *t)
{
	dm_json_key(j, "name");
	dm_json_str(j, t->name);
	dm_json_key(j, "dns");
	dm_json_str(j, dm_dns_status_name(t->dns));
	dm_json_key(j, "records");
	dm_json_uint(j, t->nrecords);
	dm_json_key(j, "text");
	if (t->text)
		dm_json_strn(j, t->text, t->len);
	else
		dm_json_null(j);
}

static void
json_discovery(struct dm_json *j, const char *key, const struct dm_check_discovery *d)
{
	dm_json_key(j, key);
	dm_json_obj_begin(j);
	dm_json_key(j, "org_domain");
	dm_json_str(j, d->org);
	dm_json_key(j, "record_at");
	dm_json_str(j, d->record_at[0] ? d->record_at : NULL);
	dm_json_key(j, "policy");
	dm_json_str(j, d->policy[0] ? d->policy : NULL);
	if (d->nnames) {
		dm_json_key(j, "asked");
		dm_json_arr_begin(j);
		for (size_t i = 0; i < d->nnames; i++) {
			char name[DM_CHECK_NAME + 8];
			snprintf(name, sizeof(name), "_dmarc.%s", d->names[i]);
			dm_json_str(j, name);
		}
		dm_json_arr_end(j);
	}
	dm_json_obj_end(j);
}

static void
json_spf_node(struct dm_json *j, const struct dm_spf_node *n)
{
	dm_json_obj_begin(j);
	dm_json_key(j, "name");
	dm_json_str(j, n->name);
	if (n->via[0]) {
		dm_json_key(j, "via");
		dm_json_str(j, n->via);
	}
	dm_json_key(j, "status");
	dm_json_str(j, n->status);
	dm_json_key(j, "lookups");
	dm_json_int(j, n->lookups);
	dm_json_key(j, "void_lookups");
	dm_json_int(j, n->voids);
	if (strcmp(n->via, "a") == 0 || strcmp(n->via, "mx") == 0 ||
	    strcmp(n->via, "exists") == 0) {
		dm_json_key(j, "answers");
		dm_json_uint(j, n->answers);
	}
	if (n->record) {
		dm_json_key(j, "record");
		dm_json_str(j, n->record);
	}
	if (n->child) {
		dm_json_key(j, "children");
		dm_json_arr_begin(j);
		for (const struct dm_spf_node *ch = n->child; ch; ch = ch->next)
			json_spf_node(j, ch);
		dm_json_arr_end(j);
	}
	dm_json_obj_end(j);
}

void
dm_check_json(const struct dm_check *c, struct dm_json *j)
{
	dm_json_obj_begin(j);
	dm_json_key(j, "domain");
	dm_json_str(j, c->domain);
	dm_json_key(j, "valid");
	dm_json_bool(j, c->nerrors == 0);
	dm_json_key(j, "errors");
	dm_json_uint(j, c->nerrors);
	dm_json_key(j, "warnings");
	dm_json_uint(j, c->nwarnings);

	dm_json_key(j, "dmarc");
	dm_json_obj_begin(j);
	json_txt(j, &c->dmarc);
	dm_json_key(j, "record");
	if (c->dmarc_rec)
		dm_dmarc_record_json(c->dmarc_rec, j);
	else
		dm_json_null(j);
	json_discovery(j, "psl", &c->psl);
	json_discovery(j, "tree_walk", &c->walk);
	dm_json_key(j, "applies");
	{
		const struct dm_check_discovery *d = c->walk.record_at[0] ? &c->walk : &c->psl;
		dm_json_obj_begin(j);
		dm_json_key(j, "record_at");
		dm_json_str(j, d->record_at[0] ? d->record_at : NULL);
		dm_json_key(j, "policy");
		dm_json_str(j, d->policy[0] ? d->policy : NULL);
		dm_json_obj_end(j);
	}
	dm_json_key(j, "destinations");
	dm_json_arr_begin(j);
	for (size_t i = 0; i < c->ndests; i++) {
		const struct dm_check_dest *d = &c->dests[i];
		dm_json_obj_begin(j);
		dm_json_key(j, "uri");
		dm_json_str(j, d->uri);
		dm_json_key(j, "tag");
		dm_json_str(j, d->ruf ? "ruf" : "rua");
		dm_json_key(j, "host");
		dm_json_str(j, d->host);
		dm_json_key(j, "ours");
		dm_json_bool(j, d->ours);
		dm_json_key(j, "external");
		dm_json_bool(j, d->external);
		if (d->external) {
			dm_json_key(j, "authorization");
			dm_json_obj_begin(j);
			json_txt(j, &d->auth);
			dm_json_obj_end(j);
			dm_json_key(j, "authorized");
			dm_json_bool(j, d->authorized);
			if (d->override[0]) {
				dm_json_key(j, "override");
				dm_json_str(j, d->override);
			}
		}
		dm_json_obj_end(j);
	}
	dm_json_arr_end(j);
	dm_json_obj_end(j);

	dm_json_key(j, "spf");
	dm_json_obj_begin(j);
	dm_json_key(j, "lookups");
	dm_json_int(j, c->spf_lookups);
	dm_json_key(j, "void_lookups");
	dm_json_int(j, c->spf_voids);
	dm_json_key(j, "record");
	if (c->spf && c->spf->parsed)
		dm_spf_record_json(c->spf->parsed, j);
	else
		dm_json_null(j);
	dm_json_key(j, "tree");
	if (c->spf)
		json_spf_node(j, c->spf);
	else
		dm_json_null(j);
	dm_json_obj_end(j);

	dm_json_key(j, "dkim");
	dm_json_arr_begin(j);
	for (size_t i = 0; i < c->ndkim; i++) {
		const struct dm_check_dkim *k = &c->dkim[i];
		dm_json_obj_begin(j);
		dm_json_key(j, "selector");
		dm_json_str(j, k->selector);
		json_txt(j, &k->txt);
		dm_json_key(j, "key");
		if (k->rec)
			dm_dkim_record_json(k->rec, j);
		else
			dm_json_null(j);
		dm_json_obj_end(j);
	}
	dm_json_arr_end(j);

	dm_json_key(j, "findings");
	dm_json_arr_begin(j);
	for (size_t i = 0; i < c->nfindings; i++) {
		const struct dm_check_finding *f = &c->findings[i];
		dm_json_obj_begin(j);
		dm_json_key(j, "severity");
		dm_json_str(j, dm_finding_severity_name(f->f.severity));
		dm_json_key(j, "code");
		dm_json_str(j, f->f.code);
		dm_json_key(j, "where");
		dm_json_str(j, f->where);
		dm_json_key(j, "message");
		dm_json_str(j, f->f.message);
		dm_json_obj_end(j);
	}
	dm_json_arr_end(j);
	dm_json_key(j, "dns_questions");
	dm_json_uint(j, c->queries);
	dm_json_key(j, "took_ms");
	dm_json_int(j, c->took_ms);
	dm_json_obj_end(j);
}

/* ---- text ------------------------------------------------------------- */

/* s (from the DNS) with control bytes and non-ASCII escaped. */
static const char *
safe(const char *s, size_t n, char *buf, size_t buflen)
{
	dm_log_escape(buf, buflen, s, n);
	return buf;
}

static void
text_spf_node(const struct dm_spf_node *n, int depth, FILE *out)
{
	char b[1200];
	fprintf(out, "  %*s%s%s%s  [%s, %d lookup%s", depth * 2, "", n->via, n->via[0] ? " " : "",
	        safe(n->name, strlen(n->name), b, sizeof(b)), n->status, n->lookups,
	        n->lookups == 1 ? "" : "s");
	if (n->voids)
		fprintf(out, ", %d void", n->voids);
	fprintf(out, "]\n");
	for (const struct dm_spf_node *ch = n->child; ch; ch = ch->next)
		text_spf_node(ch, depth + 1, out);
}

void
dm_check_text(const struct dm_check *c, FILE *out)
{
	char b[DM_DNS_MAX_RDATA * 4 + 1];
	fprintf(out, "%s: %zu error%s, %zu warning%s\n", c->domain, c->nerrors,
	        c->nerrors == 1 ? "" : "s", c->nwarnings, c->nwarnings == 1 ? "" : "s");
	fprintf(out, "\nDMARC  %s: %s\n", c->dmarc.name,
	        c->dmarc.nrecords == 1  ? (c->dmarc_rec && c->dmarc_rec->valid ? "valid" : "errors")
	        : c->dmarc.nrecords > 1 ? "several records"
	                                : dm_dns_status_name(c->dmarc.dns));
	if (c->dmarc.text)
		fprintf(out, "  %s\n", safe(c->dmarc.text, c->dmarc.len, b, sizeof(b)));
	fprintf(out, "  by the Public Suffix List: organisational domain %s, policy %s%s%s\n",
	        c->psl.org, c->psl.policy[0] ? c->psl.policy : "none found",
	        c->psl.record_at[0] ? " from _dmarc." : "", c->psl.record_at);
	fprintf(out, "  by the DNS tree walk:      organisational domain %s, policy %s%s%s\n",
	        c->walk.org, c->walk.policy[0] ? c->walk.policy : "none found",
	        c->walk.record_at[0] ? " from _dmarc." : "", c->walk.record_at);
	for (size_t i = 0; i < c->ndests; i++) {
		const struct dm_check_dest *d = &c->dests[i];
		fprintf(out, "  %s %s: %s%s\n", d->ruf ? "ruf" : "rua",
		        safe(d->uri, strlen(d->uri), b, sizeof(b)),
		        !d->external    ? "within the domain"
		        : d->authorized ? "authorized by "
		                        : "NOT authorized at ",
		        d->external ? d->auth.name : "");
	}
	fprintf(out, "\nSPF  %s: %d lookup%s of 10, %d void of 2\n", c->domain, c->spf_lookups,
	        c->spf_lookups == 1 ? "" : "s", c->spf_voids);
	if (c->spf && c->spf->record)
		fprintf(out, "  %s\n", safe(c->spf->record, strlen(c->spf->record), b, sizeof(b)));
	if (c->spf && c->spf->child)
		text_spf_node(c->spf, 0, out);
	if (c->ndkim)
		fprintf(out, "\nDKIM\n");
	for (size_t i = 0; i < c->ndkim; i++) {
		const struct dm_check_dkim *k = &c->dkim[i];
		if (k->rec)
			fprintf(out, "  %s: %s %s%d bits%s\n", k->txt.name,
			        k->rec->key_type[0] ? k->rec->key_type : "?",
			        k->rec->revoked ? "revoked, " : "", k->rec->bits,
			        k->rec->valid ? "" : ", errors");
		else
			fprintf(out, "  %s: %s\n", k->txt.name, dm_dns_status_name(k->txt.dns));
	}
	if (c->nfindings)
		fprintf(out, "\n");
	for (size_t i = 0; i < c->nfindings; i++) {
		const struct dm_check_finding *f = &c->findings[i];
		char w[sizeof(f->where) * 4 + 1];
		fprintf(out, "%-7s %-22s %s: %s\n", dm_finding_severity_name(f->f.severity),
		        f->f.code, safe(f->where, strlen(f->where), w, sizeof(w)),
		        safe(f->f.message, strlen(f->f.message), b, sizeof(b)));
	}
}
