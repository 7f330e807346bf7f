/*
 * advise.c - the rollout advice of a domain (advise.h, docs/ADVICE.md).
 *
 * Functions: dm_advisor_new, dm_advisor_add, dm_advisor_finish,
 * dm_advisor_json, dm_advisor_text, dm_advisor_free.
 *
 * Every source (IP address) of the domain's records gets its counts
 * (messages, DMARC pass, aligned SPF and DKIM, messages with a forwarding
 * override, messages from subdomains) and, from its failing records, the
 * first DKIM results and envelope domain.  Finishing looks up who each
 * failing source is (the stored enrichment, then the service map by its
 * DKIM and envelope domains) and puts its failing volume in one group:
 *
 *   forwarders  a forwarding or mailing-list override (or ARC trusted by
 *               the receiver), or a service of type forwarder;
 *   services    a known sending service: it needs a fix, named from what
 *               failed (DKIM failing for a selector of the domain, DKIM
 *               signed with the service's domain only, no DKIM, SPF
 *               failing for an aligned envelope domain, an envelope
 *               domain of the service's);
 *   unknown     nothing known: likely spoofing.
 *
 * The next step is the first of p=none -> quarantine (-> quarantine at
 * 100% when pct is lower) -> reject -> sp=reject -> np=reject that the
 * published policy (of the newest report) has not reached.  It is safe
 * when the failing volume of known services is at most
 * DM_ADVISE_QUARANTINE_PER_100K (quarantine) or DM_ADVISE_REJECT_PER_100K
 * (reject, sp) of the legitimate mail (passing plus that volume; of the
 * subdomains' mail for sp), on at least DM_ADVISE_MIN_DAYS days and
 * DM_ADVISE_MIN_MESSAGES messages.  Forwarded and unknown mail never
 * blocks a step: forwarding is what ARC and the overrides are for, and
 * spoofing is what the policy is for.
 *
 * Everything from a report is attacker-controlled: it reaches JSON through
 * dm_json, and text output with every byte outside printable ASCII
 * replaced.
 */
#include "dns/advise.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/day.h"
#include "common/ip.h"
#include "common/json.h"
#include "common/limits.h"
#include "common/xalloc.h"
#include "dns/check.h"
#include "dns/dmarc_record.h"
#include "enrich/services.h"

#define NAME 128 /* a domain kept from a record (longer ones are cut) */
#define SRC_DKIM 2

enum group { G_NONE, G_FORWARDER, G_SERVICE, G_UNKNOWN };

/* What a failing source's records say, for its fix. */
struct dkim_seen {
	char domain[NAME], selector[64], result[16];
};

struct src {
	unsigned char ip[16];
	int used;
	uint64_t messages, pass, fwd, sub, sub_fail;
	struct dkim_seen dkim[SRC_DKIM];
	unsigned ndkim;
	char env[NAME], env_result[16];
	/* finish */
	enum group group;
	int svc; /* index into services, -1 */
};

/* One fix a service needs. */
enum action {
	A_DKIM_FAILS,
	A_DKIM_NOT_ALIGNED,
	A_NO_DKIM,
	A_SPF_INCLUDE,
	A_ENVELOPE_NOT_ALIGNED,
	A_COUNT
};

static const char *const action_code[A_COUNT] = {
        "dkim_fails", "dkim_not_aligned", "no_dkim", "spf_include_missing",
        "envelope_not_aligned"};

struct svc {
	char name[DM_SERVICE_NAME_MAX + 1], type[16], spf[NAME];
	uint64_t messages, failing;
	unsigned sources;
	int has[A_COUNT];
	char detail[A_COUNT][NAME + 64]; /* the first source's: selector, domain */
};

struct unk {
	const struct src *s;
	char ptr[NAME], as_name[NAME], country[3];
	uint32_t asn;
};

struct dm_advisor {
	char domain[DM_CHECK_NAME], org[DM_CHECK_NAME];
	int64_t from, to;
	/* the sources */
	struct src *tab;
	size_t cap, n;
	uint64_t lost; /* messages of sources past DM_ADVISE_MAX_SOURCES */
	/* totals */
	uint64_t reports, messages, pass;
	int64_t last_id, first_begin, last_end;
	/* the newest report's policy */
	char p[16], sp[16], np[16], adkim[4], aspf[4], fo[16];
	int pct, have_policy;
	/* groups */
	struct svc svcs[DM_ADVISE_MAX_SERVICES];
	size_t nsvc;
	uint64_t other_svc_failing; /* of services past DM_ADVISE_MAX_SERVICES */
	uint64_t fix_failing, sub_pass, sub_fix_failing;
	uint64_t fwd_messages, fwd_failing, unk_messages, unk_failing;
	unsigned fwd_sources, unk_sources;
	char fwd_names[8][DM_SERVICE_NAME_MAX + 1];
	size_t nfwd_names;
	struct unk top[DM_ADVISE_TOP_UNKNOWN];
	size_t ntop;
	/* the step */
	const char *step; /* quarantine, pct, reject, sp, np, done, hold */
	int safe;
	char why[512];
	char record[DM_DMARC_MAX_RECORD + 1], zone[2 * DM_DMARC_MAX_RECORD];
	struct {
		const char *code;
		char message[512];
	} block[8];
	size_t nblock;
};

/* ---- helpers -------------------------------------------------------------- */

static void
copy(char *dst, size_t len, const char *s)
{
	snprintf(dst, len, "%s", s ? s : "");
}

static void
lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* Is d aligned with the advisor's domain: the same, or (relaxed) of the
 * same Organizational Domain? */
static int
aligned(const struct dm_advisor *a, const char *d, const char *mode)
{
	if (d == NULL || *d == '\0')
		return 0;
	char x[DM_CHECK_NAME], org[DM_CHECK_NAME];
	copy(x, sizeof x, d);
	lower(x);
	size_t n = strlen(x);
	if (n > 0 && x[n - 1] == '.')
		x[n - 1] = '\0';
	if (strcmp(x, a->domain) == 0)
		return 1;
	if (mode && strcmp(mode, "s") == 0)
		return 0;
	dm_check_org_domain(x, org);
	return strcmp(org, a->org) == 0;
}

static int
strong(const char *p)
{
	return p && strcmp(p, "reject") == 0 ? 2 : p && strcmp(p, "quarantine") == 0 ? 1 : 0;
}

static size_t
hash_ip(const unsigned char ip[16])
{
	uint64_t h = 1469598103934665603ULL;
	for (int i = 0; i < 16; i++)
		h = (h ^ ip[i]) * 1099511628211ULL;
	return (size_t)h;
}

/* The source of ip, added when new; NULL past DM_ADVISE_MAX_SOURCES. */
static struct src *
source(struct dm_advisor *a, const unsigned char ip[16])
{
	if (a->n >= DM_ADVISE_MAX_SOURCES) {
		/* full: look only */
		for (size_t i = hash_ip(ip) & (a->cap - 1);; i = (i + 1) & (a->cap - 1)) {
			if (!a->tab[i].used)
				return NULL;
			if (memcmp(a->tab[i].ip, ip, 16) == 0)
				return &a->tab[i];
		}
	}
	if (2 * (a->n + 1) > a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 1024;
		struct src *old = a->tab;
		size_t oldcap = a->cap;
		a->tab = xcalloc(cap, sizeof *a->tab);
		a->cap = cap;
		for (size_t k = 0; k < oldcap; k++) {
			if (!old[k].used)
				continue;
			size_t i = hash_ip(old[k].ip) & (cap - 1);
			while (a->tab[i].used)
				i = (i + 1) & (cap - 1);
			a->tab[i] = old[k];
		}
		free(old);
	}
	size_t i = hash_ip(ip) & (a->cap - 1);
	while (a->tab[i].used) {
		if (memcmp(a->tab[i].ip, ip, 16) == 0)
			return &a->tab[i];
		i = (i + 1) & (a->cap - 1);
	}
	a->tab[i].used = 1;
	memcpy(a->tab[i].ip, ip, 16);
	a->tab[i].svc = -1;
	a->n++;
	return &a->tab[i];
}

/* ---- feeding ---------------------------------------------------------------- */

struct dm_advisor *
dm_advisor_new(const char *domain, int64_t from, int64_t to)
{
	struct dm_advisor *a = xcalloc(1, sizeof *a);
	copy(a->domain, sizeof a->domain, domain);
	lower(a->domain);
	dm_check_org_domain(a->domain, a->org);
	a->from = from;
	a->to = to;
	a->last_id = -1;
	a->pct = -1;
	return a;
}

void
dm_advisor_free(struct dm_advisor *a)
{
	if (!a)
		return;
	free(a->tab);
	free(a);
}

static int
forwarded(const struct dm_record *rec)
{
	for (unsigned i = 0; i < rec->nreasons; i++) {
		const char *t = rec->reasons[i].type, *c = rec->reasons[i].comment;
		if (!t)
			continue;
		if (strcmp(t, "forwarded") == 0 || strcmp(t, "mailing_list") == 0 ||
		    strcmp(t, "trusted_forwarder") == 0)
			return 1;
		/* receivers say they trusted an ARC chain this way */
		if (strcmp(t, "local_policy") == 0 && c && strcasestr(c, "arc"))
			return 1;
	}
	return 0;
}

int
dm_advisor_add(void *arg, const struct store_report_row *r, const struct dm_record *rec)
{
	struct dm_advisor *a = arg;
	if (r->id != a->last_id) {
		a->last_id = r->id;
		a->reports++;
		if (a->first_begin == 0 || r->begin < a->first_begin)
			a->first_begin = r->begin;
		if (r->end >= a->last_end) {
			a->last_end = r->end;
			a->have_policy = 1;
			copy(a->p, sizeof a->p, r->policy.p);
			copy(a->sp, sizeof a->sp, r->policy.sp);
			copy(a->np, sizeof a->np, r->policy.np);
			copy(a->adkim, sizeof a->adkim, r->policy.adkim);
			copy(a->aspf, sizeof a->aspf, r->policy.aspf);
			copy(a->fo, sizeof a->fo, r->policy.fo);
			a->pct = r->policy.pct;
		}
	}
	if (rec->count <= 0)
		return 0;
	uint64_t n = (uint64_t)rec->count;
	int pass = dm_record_dmarc_pass(rec);
	a->messages += n;
	a->pass += pass ? n : 0;
	struct src *s = source(a, rec->ip);
	if (s == NULL) {
		a->lost += pass ? 0 : n;
		return 0;
	}
	s->messages += n;
	s->pass += pass ? n : 0;
	if (forwarded(rec))
		s->fwd += n;
	int sub = rec->header_from && strcasecmp(rec->header_from, a->domain) != 0;
	if (sub) {
		s->sub += n;
		s->sub_fail += pass ? 0 : n;
	}
	if (pass)
		return 0;
	for (unsigned i = 0; i < rec->ndkim && s->ndkim < SRC_DKIM; i++) {
		const struct dm_auth_dkim *d = &rec->dkim_res[i];
		int dup = 0;
		for (unsigned k = 0; k < s->ndkim; k++)
			dup |= strcasecmp(s->dkim[k].domain, d->domain ? d->domain : "") == 0 &&
			       strcasecmp(s->dkim[k].selector, d->selector ? d->selector : "") == 0;
		if (dup)
			continue;
		struct dkim_seen *k = &s->dkim[s->ndkim++];
		copy(k->domain, sizeof k->domain, d->domain);
		copy(k->selector, sizeof k->selector, d->selector);
		copy(k->result, sizeof k->result, d->result);
	}
	if (!s->env[0]) {
		const struct dm_auth_spf *e = NULL;
		for (unsigned i = 0; i < rec->nspf && !e; i++)
			if (!rec->spf_res[i].scope || strcmp(rec->spf_res[i].scope, "mfrom") == 0)
				e = &rec->spf_res[i];
		if (e && e->domain && *e->domain) {
			copy(s->env, sizeof s->env, e->domain);
			copy(s->env_result, sizeof s->env_result, e->result);
		} else if (rec->envelope_from && *rec->envelope_from) {
			copy(s->env, sizeof s->env, rec->envelope_from);
			copy(s->env_result, sizeof s->env_result, rec->spf);
		}
	}
	return 0;
}

/* ---- finishing ---------------------------------------------------------------- */

static struct svc *
service_of(struct dm_advisor *a, const char *name, const char *type,
           const struct dm_services *map)
{
	for (size_t i = 0; i < a->nsvc; i++)
		if (strcmp(a->svcs[i].name, name) == 0)
			return &a->svcs[i];
	if (a->nsvc == DM_ADVISE_MAX_SERVICES)
		return NULL;
	struct svc *v = &a->svcs[a->nsvc++];
	memset(v, 0, sizeof *v);
	copy(v->name, sizeof v->name, name);
	copy(v->type, sizeof v->type, type);
	if (map)
		dm_services_spf_of(map, name, v->spf, sizeof v->spf);
	return v;
}

/* What s's failing records say its service must fix, into v. */
static void
fixes(const struct dm_advisor *a, const struct src *s, struct svc *v)
{
	int aligned_dkim = -1, other = -1;
	for (unsigned i = 0; i < s->ndkim; i++) {
		if (aligned(a, s->dkim[i].domain, a->adkim)) {
			if (aligned_dkim < 0 && strcmp(s->dkim[i].result, "pass") != 0)
				aligned_dkim = (int)i;
		} else if (other < 0) {
			other = (int)i;
		}
	}
	enum action d = aligned_dkim >= 0 ? A_DKIM_FAILS : other >= 0 ? A_DKIM_NOT_ALIGNED : A_NO_DKIM;
	if (!v->has[d]) {
		v->has[d] = 1;
		if (d == A_DKIM_FAILS)
			snprintf(v->detail[d], sizeof v->detail[d], "%s\t%s",
			         s->dkim[aligned_dkim].selector, s->dkim[aligned_dkim].domain);
		else if (d == A_DKIM_NOT_ALIGNED)
			snprintf(v->detail[d], sizeof v->detail[d], "%s", s->dkim[other].domain);
	}
	if (!s->env[0])
		return;
	if (aligned(a, s->env, a->aspf)) {
		if (strcmp(s->env_result, "pass") != 0 && !v->has[A_SPF_INCLUDE]) {
			v->has[A_SPF_INCLUDE] = 1;
			snprintf(v->detail[A_SPF_INCLUDE], sizeof v->detail[A_SPF_INCLUDE], "%s", s->env);
		}
	} else if (!v->has[A_ENVELOPE_NOT_ALIGNED]) {
		v->has[A_ENVELOPE_NOT_ALIGNED] = 1;
		snprintf(v->detail[A_ENVELOPE_NOT_ALIGNED], sizeof v->detail[0], "%s", s->env);
	}
}

/* The service s is: the stored one of its address, else the map's by its
 * reverse name, AS, DKIM domains or envelope domain. */
static const char *
who(const struct store_ip_info *info, const struct src *s, const struct dm_services *map,
    const char **type)
{
	*type = info->service_type;
	if (info->service && *info->service)
		return info->service;
	const struct dm_service *m = NULL;
	if (map) {
		if (info->ptr && *info->ptr)
			m = dm_services_by_ptr(map, info->ptr);
		if (!m && info->asn)
			m = dm_services_by_asn(map, info->asn);
		/* a signing or envelope domain of the service's own (listed
		 * as its DKIM domain, or as the base of its reverse names)
		 * that passed: a failing one anybody can write */
		for (unsigned i = 0; i < s->ndkim && !m; i++)
			if (strcmp(s->dkim[i].result, "pass") == 0 &&
			    !(m = dm_services_by_domain(map, s->dkim[i].domain)))
				m = dm_services_by_ptr(map, s->dkim[i].domain);
		if (!m && s->env[0] && strcmp(s->env_result, "pass") == 0 &&
		    !(m = dm_services_by_domain(map, s->env)))
			m = dm_services_by_ptr(map, s->env);
	}
	if (!m)
		return NULL;
	*type = dm_service_type_name(m->type);
	return m->name;
}

static int
cmp_svc(const void *x, const void *y)
{
	const struct svc *a = x, *b = y;
	return a->failing < b->failing ? 1 : a->failing > b->failing ? -1 : strcmp(a->name, b->name);
}

static void
block(struct dm_advisor *a, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
block(struct dm_advisor *a, const char *code, const char *fmt, ...)
{
	if (a->nblock == sizeof a->block / sizeof a->block[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	a->block[a->nblock].code = code;
	vsnprintf(a->block[a->nblock].message, sizeof a->block[0].message, fmt, ap);
	va_end(ap);
	a->nblock++;
}

/* Per 100,000, rounded up: a share that fails a limit never reads as 0. */
static uint64_t
per_100k(uint64_t part, uint64_t whole)
{
	return whole ? (part * 100000 + whole - 1) / whole : 0;
}

static void
decide(struct dm_advisor *a, const char *const *rua, size_t nrua)
{
	const char *p = a->p[0] ? a->p : "none";
	const char *sp = a->sp[0] ? a->sp : p;
	const char *np = a->np[0] ? a->np : sp;
	struct dm_dmarc_wish w;
	memset(&w, 0, sizeof w);
	w.p = p;
	w.sp = a->sp[0] ? a->sp : NULL;
	w.np = a->np[0] ? a->np : NULL;
	w.adkim = a->adkim[0] ? a->adkim : NULL;
	w.aspf = a->aspf[0] ? a->aspf : NULL;
	w.fo = a->fo[0] ? a->fo : NULL;
	for (size_t i = 0; i < nrua && i < DM_DMARC_MAX_URIS; i++)
		w.rua[w.nrua++] = rua[i];
	uint64_t legit = a->pass + a->fix_failing;
	uint64_t share = per_100k(a->fix_failing, legit);
	uint64_t limit = DM_ADVISE_REJECT_PER_100K;
	int64_t days = a->last_end > a->first_begin ? (a->last_end - a->first_begin + 86399) / 86400 : 0;
	if (strong(p) == 0) {
		a->step = "quarantine";
		w.p = "quarantine";
		limit = DM_ADVISE_QUARANTINE_PER_100K;
	} else if (strong(p) == 1 && a->pct >= 0 && a->pct < 100) {
		a->step = "pct";
		w.p = "quarantine";
		limit = DM_ADVISE_QUARANTINE_PER_100K;
	} else if (strong(p) == 1) {
		a->step = "reject";
		w.p = "reject";
	} else if (strong(sp) < 2) {
		a->step = "sp";
		w.sp = "reject";
		share = per_100k(a->sub_fix_failing, a->sub_pass + a->sub_fix_failing);
	} else if (strong(np) < 2) {
		a->step = "np";
		w.np = "reject";
		share = 0; /* no mail comes legitimately from names that do not exist */
	} else {
		a->step = "done";
	}
	if (strcmp(a->step, "done") == 0) {
		a->safe = 1;
		snprintf(a->why, sizeof a->why,
		         "p=reject, sp=reject and np=reject are published: the strongest policy;"
		         " keep watching the reports for new senders");
		return;
	}
	if (a->messages < DM_ADVISE_MIN_MESSAGES || days < DM_ADVISE_MIN_DAYS)
		block(a, "too_little_data",
		      "%" PRIu64 " messages over %lld days: wait for at least %d messages over %d"
		      " days",
		      a->messages, (long long)days, DM_ADVISE_MIN_MESSAGES, DM_ADVISE_MIN_DAYS);
	if (share > limit) {
		for (size_t i = 0; i < a->nsvc; i++)
			if (a->svcs[i].failing > 0)
				block(a, "service_fails",
				      "%s fails DMARC for %" PRIu64 " messages: fix it first (its actions)",
				      a->svcs[i].name, a->svcs[i].failing);
		if (a->other_svc_failing)
			block(a, "service_fails",
			      "other known services fail DMARC for %" PRIu64 " messages",
			      a->other_svc_failing);
	}
	if (a->lost * 100000 > limit * (legit ? legit : 1))
		block(a, "not_analysed",
		      "%" PRIu64 " failing messages from sources past the first %d were not analysed",
		      a->lost, DM_ADVISE_MAX_SOURCES);
	a->safe = a->nblock == 0;
	if (dm_dmarc_record_generate(&w, a->record, sizeof a->record) != 0 ||
	    dm_txt_zone_strings(a->record, a->zone, sizeof a->zone) != 0) {
		a->record[0] = a->zone[0] = '\0';
	}
	const char *of = strcmp(a->step, "sp") == 0 ? " of the subdomains" : "";
	double pc = (double)share / 1000.0, lim = (double)limit / 1000.0;
	if (a->safe)
		snprintf(a->why, sizeof a->why,
		         "%.3f%% of the legitimate mail%s fails DMARC, within the %.1f%% this step"
		         " allows; forwarded and unknown mail does not block it",
		         pc, of, lim);
	else if (share > limit)
		snprintf(a->why, sizeof a->why,
		         "%.3f%% of the legitimate mail%s fails DMARC, more than the %.1f%% this step"
		         " allows: fix the services first",
		         pc, of, lim);
	else
		snprintf(a->why, sizeof a->why,
		         "%.3f%% of the legitimate mail%s fails DMARC (this step allows %.1f%%), but"
		         " the window says too little yet",
		         pc, of, lim);
}

int
dm_advisor_finish(struct dm_advisor *a, struct store_reader *rd, const struct dm_services *map,
                  const char *const *rua, size_t nrua)
{
	for (size_t i = 0; i < a->cap; i++) {
		struct src *s = &a->tab[i];
		if (!s->used)
			continue;
		uint64_t fail = s->messages - s->pass;
		if (fail == 0) {
			a->sub_pass += s->sub - s->sub_fail;
			continue;
		}
		struct store_ip_info info;
		memset(&info, 0, sizeof info);
		if (rd && store_ip_info(rd, s->ip, &info) != 0)
			return -1;
		const char *type = NULL;
		const char *name = who(&info, s, map, &type);
		a->sub_pass += s->sub - s->sub_fail;
		if (s->fwd > 0 || (type && strcmp(type, "forwarder") == 0)) {
			s->group = G_FORWARDER;
			a->fwd_messages += s->messages;
			a->fwd_failing += fail;
			a->fwd_sources++;
			int dup = !name;
			for (size_t k = 0; k < a->nfwd_names && !dup; k++)
				dup = strcmp(a->fwd_names[k], name) == 0;
			if (!dup && a->nfwd_names < sizeof a->fwd_names / sizeof a->fwd_names[0])
				copy(a->fwd_names[a->nfwd_names++], sizeof a->fwd_names[0], name);
		} else if (name) {
			s->group = G_SERVICE;
			a->fix_failing += fail;
			a->sub_fix_failing += s->sub_fail;
			struct svc *v = service_of(a, name, type, map);
			if (!v) {
				a->other_svc_failing += fail;
				continue;
			}
			v->messages += s->messages;
			v->failing += fail;
			v->sources++;
			fixes(a, s, v);
		} else {
			s->group = G_UNKNOWN;
			a->unk_messages += s->messages;
			a->unk_failing += fail;
			a->unk_sources++;
			/* the top by failing volume, kept sorted */
			size_t k = a->ntop;
			if (k == DM_ADVISE_TOP_UNKNOWN) {
				const struct src *l = a->top[k - 1].s;
				if (l->messages - l->pass >= fail)
					continue;
				k--;
			} else {
				a->ntop++;
			}
			while (k > 0 && a->top[k - 1].s->messages - a->top[k - 1].s->pass < fail) {
				a->top[k] = a->top[k - 1];
				k--;
			}
			struct unk *u = &a->top[k];
			memset(u, 0, sizeof *u);
			u->s = s;
			copy(u->ptr, sizeof u->ptr, info.ptr);
			copy(u->as_name, sizeof u->as_name, info.as_org);
			copy(u->country, sizeof u->country, info.country);
			u->asn = info.asn;
		}
	}
	qsort(a->svcs, a->nsvc, sizeof a->svcs[0], cmp_svc);
	decide(a, rua, nrua);
	return 0;
}

uint64_t
dm_advisor_reports(const struct dm_advisor *a)
{
	return a->reports;
}

int
dm_advisor_safe(const struct dm_advisor *a)
{
	return a->safe;
}

/* ---- output ------------------------------------------------------------------ */

/* The words of one action of v. */
static void
action_text(const struct svc *v, enum action x, char *out, size_t len)
{
	char sel[64] = "", dom[NAME] = "";
	const char *tab = strchr(v->detail[x], '\t');
	if (tab) {
		snprintf(sel, sizeof sel, "%.*s", (int)(tab - v->detail[x]), v->detail[x]);
		snprintf(dom, sizeof dom, "%s", tab + 1);
	} else {
		snprintf(dom, sizeof dom, "%s", v->detail[x]);
	}
	switch (x) {
	case A_DKIM_FAILS:
		snprintf(out, len,
		         "DKIM of %s fails for selector %s: publish %s's key at %s._domainkey.%s",
		         dom, sel, v->name, sel, dom);
		break;
	case A_DKIM_NOT_ALIGNED:
		snprintf(out, len,
		         "%s signs with d=%s only: set up DKIM with your domain at %s (a custom"
		         " signing domain) and publish its key",
		         v->name, dom, v->name);
		break;
	case A_NO_DKIM:
		snprintf(out, len, "%s does not sign with DKIM: set up DKIM signing for your domain"
		                   " there and publish its key",
		         v->name);
		break;
	case A_SPF_INCLUDE:
		if (v->spf[0])
			snprintf(out, len, "SPF fails for %s: add include:%s to its SPF record", dom,
			         v->spf);
		else
			snprintf(out, len, "SPF fails for %s: add %s's SPF include to its SPF record",
			         dom, v->name);
		break;
	case A_ENVELOPE_NOT_ALIGNED:
		snprintf(out, len,
		         "%s sends with the envelope domain %s: set a return-path (bounce) domain"
		         " under yours at %s, or rely on DKIM",
		         v->name, dom, v->name);
		break;
	default:
		out[0] = '\0';
	}
}

static void
ip_text(const unsigned char ip[16], char *out, size_t len)
{
	dm_ip_format(ip, out, len);
}

static void
key_u(struct dm_json *j, const char *k, uint64_t v)
{
	dm_json_key(j, k);
	dm_json_uint(j, v);
}

void
dm_advisor_json(const struct dm_advisor *a, struct dm_json *j)
{
	char d0[11], d1[11], buf[512];
	dm_format_day(a->from, d0);
	dm_format_day(a->to, d1);
	dm_json_obj_begin(j);
	dm_json_key(j, "domain");
	dm_json_str(j, a->domain);
	dm_json_key(j, "from");
	dm_json_str(j, d0);
	dm_json_key(j, "to");
	dm_json_str(j, d1);
	key_u(j, "reports", a->reports);
	key_u(j, "messages", a->messages);
	key_u(j, "dmarc_pass", a->pass);
	dm_json_key(j, "pass_rate");
	dm_json_double(j, a->messages ? (double)a->pass / (double)a->messages : 0.0);
	dm_json_key(j, "policy");
	if (a->have_policy) {
		dm_json_obj_begin(j);
		dm_json_key_str_or_null(j, "p", a->p[0] ? a->p : NULL);
		dm_json_key_str_or_null(j, "sp", a->sp[0] ? a->sp : NULL);
		dm_json_key_str_or_null(j, "np", a->np[0] ? a->np : NULL);
		dm_json_key(j, "pct");
		if (a->pct >= 0)
			dm_json_int(j, a->pct);
		else
			dm_json_null(j);
		dm_json_obj_end(j);
	} else {
		dm_json_null(j);
	}
	dm_json_key(j, "failing");
	dm_json_obj_begin(j);
	key_u(j, "messages", a->messages - a->pass);
	key_u(j, "services", a->fix_failing);
	key_u(j, "forwarders", a->fwd_failing);
	key_u(j, "unknown", a->unk_failing);
	key_u(j, "not_analysed", a->lost);
	dm_json_obj_end(j);
	dm_json_key(j, "services");
	dm_json_arr_begin(j);
	for (size_t i = 0; i < a->nsvc; i++) {
		const struct svc *v = &a->svcs[i];
		dm_json_obj_begin(j);
		dm_json_key(j, "service");
		dm_json_str(j, v->name);
		dm_json_key(j, "type");
		dm_json_str(j, v->type);
		key_u(j, "messages", v->messages);
		key_u(j, "failing", v->failing);
		key_u(j, "sources", v->sources);
		dm_json_key(j, "actions");
		dm_json_arr_begin(j);
		for (int x = 0; x < A_COUNT; x++) {
			if (!v->has[x])
				continue;
			action_text(v, (enum action)x, buf, sizeof buf);
			dm_json_obj_begin(j);
			dm_json_key(j, "code");
			dm_json_str(j, action_code[x]);
			dm_json_key(j, "message");
			dm_json_str(j, buf);
			dm_json_obj_end(j);
		}
		dm_json_arr_end(j);
		dm_json_obj_end(j);
	}
	dm_json_arr_end(j);
	dm_json_key(j, "forwarders");
	dm_json_obj_begin(j);
	key_u(j, "messages", a->fwd_messages);
	key_u(j, "failing", a->fwd_failing);
	key_u(j, "sources", a->fwd_sources);
	dm_json_key(j, "services");
	dm_json_arr_begin(j);
	for (size_t i = 0; i < a->nfwd_names; i++)
		dm_json_str(j, a->fwd_names[i]);
	dm_json_arr_end(j);
	dm_json_obj_end(j);
	dm_json_key(j, "unknown");
	dm_json_obj_begin(j);
	key_u(j, "messages", a->unk_messages);
	key_u(j, "failing", a->unk_failing);
	key_u(j, "sources", a->unk_sources);
	dm_json_key(j, "top");
	dm_json_arr_begin(j);
	for (size_t i = 0; i < a->ntop; i++) {
		const struct unk *u = &a->top[i];
		ip_text(u->s->ip, buf, sizeof buf);
		dm_json_obj_begin(j);
		dm_json_key(j, "ip");
		dm_json_str(j, buf);
		key_u(j, "messages", u->s->messages);
		key_u(j, "failing", u->s->messages - u->s->pass);
		dm_json_key_str_or_null(j, "ptr", u->ptr[0] ? u->ptr : NULL);
		dm_json_key(j, "asn");
		if (u->asn)
			dm_json_uint(j, u->asn);
		else
			dm_json_null(j);
		dm_json_key_str_or_null(j, "as_name", u->as_name[0] ? u->as_name : NULL);
		dm_json_key_str_or_null(j, "country", u->country[0] ? u->country : NULL);
		dm_json_obj_end(j);
	}
	dm_json_arr_end(j);
	dm_json_obj_end(j);
	dm_json_key(j, "next");
	dm_json_obj_begin(j);
	dm_json_key(j, "step");
	dm_json_str(j, a->step);
	dm_json_key(j, "safe");
	dm_json_bool(j, a->safe);
	dm_json_key_str_or_null(j, "record", a->record[0] ? a->record : NULL);
	dm_json_key_str_or_null(j, "zone", a->zone[0] ? a->zone : NULL);
	dm_json_key(j, "why");
	dm_json_str(j, a->why);
	dm_json_key(j, "blockers");
	dm_json_arr_begin(j);
	for (size_t i = 0; i < a->nblock; i++) {
		dm_json_obj_begin(j);
		dm_json_key(j, "code");
		dm_json_str(j, a->block[i].code);
		dm_json_key(j, "message");
		dm_json_str(j, a->block[i].message);
		dm_json_obj_end(j);
	}
	dm_json_arr_end(j);
	dm_json_obj_end(j);
	dm_json_obj_end(j);
}

/* s on out with every byte outside printable ASCII as '?'. */
static void
say(FILE *out, const char *s)
{
	for (; *s; s++)
		fputc(*s >= 0x20 && *s < 0x7f ? *s : '?', out);
}

void
dm_advisor_text(const struct dm_advisor *a, FILE *out)
{
	char buf[512], d0[11], d1[11];
	dm_format_day(a->from, d0);
	dm_format_day(a->to, d1);
	fprintf(out, "%s, %s to %s: %" PRIu64 " messages in %" PRIu64 " reports, %.2f%% pass DMARC\n",
	        a->domain, d0, d1, a->messages, a->reports,
	        a->messages ? 100.0 * (double)a->pass / (double)a->messages : 0.0);
	if (a->have_policy) {
		fprintf(out, "published: p=");
		say(out, a->p[0] ? a->p : "(none)");
		if (a->sp[0]) {
			fprintf(out, " sp=");
			say(out, a->sp);
		}
		if (a->np[0]) {
			fprintf(out, " np=");
			say(out, a->np);
		}
		if (a->pct >= 0)
			fprintf(out, " pct=%d", a->pct);
		fputc('\n', out);
	}
	fprintf(out, "failing: %" PRIu64 " (services %" PRIu64 ", forwarders %" PRIu64
	             ", unknown %" PRIu64 ")\n",
	        a->messages - a->pass, a->fix_failing, a->fwd_failing, a->unk_failing);
	for (size_t i = 0; i < a->nsvc; i++) {
		const struct svc *v = &a->svcs[i];
		fprintf(out, "  service ");
		say(out, v->name);
		fprintf(out, " (%s): %" PRIu64 " of %" PRIu64 " messages fail\n", v->type, v->failing,
		        v->messages);
		for (int x = 0; x < A_COUNT; x++) {
			if (!v->has[x])
				continue;
			action_text(v, (enum action)x, buf, sizeof buf);
			fprintf(out, "    - ");
			say(out, buf);
			fputc('\n', out);
		}
	}
	if (a->fwd_sources)
		fprintf(out, "  forwarders and mailing lists: %" PRIu64 " failing from %u sources (ARC"
		             " and the receivers' overrides cover them)\n",
		        a->fwd_failing, a->fwd_sources);
	if (a->unk_sources) {
		fprintf(out, "  unknown sources (likely spoofing): %" PRIu64 " failing from %u\n",
		        a->unk_failing, a->unk_sources);
		for (size_t i = 0; i < a->ntop; i++) {
			ip_text(a->top[i].s->ip, buf, sizeof buf);
			fprintf(out, "    %s %" PRIu64, buf, a->top[i].s->messages - a->top[i].s->pass);
			if (a->top[i].as_name[0]) {
				fprintf(out, " ");
				say(out, a->top[i].as_name);
			}
			if (a->top[i].country[0]) {
				fprintf(out, " ");
				say(out, a->top[i].country);
			}
			fputc('\n', out);
		}
	}
	fprintf(out, "next step: %s (%s)\n", a->step, a->safe ? "safe" : "not yet");
	fprintf(out, "  ");
	say(out, a->why);
	fputc('\n', out);
	for (size_t i = 0; i < a->nblock; i++) {
		fprintf(out, "  blocked: ");
		say(out, a->block[i].message);
		fputc('\n', out);
	}
	if (a->record[0]) {
		fprintf(out, "publish at _dmarc.%s:\n  ", a->domain);
		say(out, a->zone);
		fputc('\n', out);
	}
}
