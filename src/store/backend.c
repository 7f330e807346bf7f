/*
 * backend.c - the write-side pieces the store backends share.
 *
 * Functions: backend_text, backend_field, backend_reporter,
 * backend_record_json, backend_warnings_json, backend_merge,
 * backend_src_days.
 */
#include "store/backend.h"
#include "core/failure.h"
#include "core/tlsrpt.h"
#include "store/store.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/xalloc.h"

int
backend_text(struct dm_buf *b, const char *s, int escape)
{
	const unsigned char *u = (const unsigned char *)s;
	int bad = 0;
	while (*u) {
		unsigned char c = *u;
		size_t n = c < 0x80             ? 1
		           : (c & 0xe0) == 0xc0 ? 2
		           : (c & 0xf0) == 0xe0 ? 3
		           : (c & 0xf8) == 0xf0 ? 4
		                                : 0;
		for (size_t i = 1; i < n; i++)
			if ((u[i] & 0xc0) != 0x80)
				n = 0;
		if (n == 2 && c < 0xc2)
			n = 0;
		if (n == 0) {
			bad |= dm_buf_add(b, "\xef\xbf\xbd", 3);
			u++;
			continue;
		}
		if (escape && n == 1 && (c == '\\' || c == '\t' || c == '\n' || c == '\r')) {
			char e[2] = {'\\', c == '\\'   ? '\\'
			                   : c == '\t' ? 't'
			                   : c == '\n' ? 'n'
			                               : 'r'};
			bad |= dm_buf_add(b, e, 2);
		} else {
			bad |= dm_buf_add(b, u, n);
		}
		u += n;
	}
	return bad ? DM_ELIMIT : 0;
}

int
backend_field(struct dm_buf *b, const char *s, int last)
{
	int bad = s ? backend_text(b, s, 1) : dm_buf_add(b, "\\N", 2);
	bad |= dm_buf_addc(b, last ? '\n' : '\t');
	return bad ? DM_ELIMIT : 0;
}

void
backend_reporter(const struct dm_report *rep, char *out, size_t outlen)
{
	const char *src = rep->org_name;
	if (src == NULL || !*src) {
		const char *at = rep->email ? strrchr(rep->email, '@') : NULL;
		src = at ? at + 1 : (rep->email ? rep->email : "");
	}
	size_t n = 0;
	for (; src[n] && n < outlen - 1; n++)
		out[n] = (char)tolower((unsigned char)src[n]);
	out[n] = '\0';
}

int
backend_record_json(struct dm_buf *json, const struct dm_record *rec, size_t off[3], size_t len[3])
{
	struct dm_json j;
	dm_buf_reset(json);
	dm_json_init(&j, json);

	off[0] = json->len;
	dm_record_reasons_json(&j, rec);
	len[0] = json->len - off[0];

	j.need_comma = 0;
	off[1] = json->len;
	dm_record_dkim_json(&j, rec);
	len[1] = json->len - off[1];

	j.need_comma = 0;
	off[2] = json->len;
	dm_record_spf_json(&j, rec);
	len[2] = json->len - off[2];
	if (j.rc == 0 && dm_buf_addc(json, '\0') != 0)
		return DM_ELIMIT;
	return j.rc ? DM_ELIMIT : 0;
}

int
backend_warnings_json(struct dm_buf *json, const struct dm_report *rep)
{
	struct dm_json j;
	dm_buf_reset(json);
	dm_json_init(&j, json);
	dm_json_arr_begin(&j);
	for (unsigned i = 0; i < rep->nwarnings; i++)
		dm_json_str(&j, rep->warnings[i]);
	if (rep->warnings_dropped) {
		char more[64];
		snprintf(more, sizeof more, "%u more warnings", rep->warnings_dropped);
		dm_json_str(&j, more);
	}
	dm_json_arr_end(&j);
	if (j.rc == 0 && dm_buf_addc(json, '\0') != 0)
		return DM_ELIMIT;
	return j.rc ? DM_ELIMIT : 0;
}

static int
warnings_json(struct dm_buf *json, const char *const *w, unsigned n, unsigned dropped)
{
	struct dm_json j;
	dm_buf_reset(json);
	dm_json_init(&j, json);
	dm_json_arr_begin(&j);
	for (unsigned i = 0; i < n; i++)
		dm_json_str(&j, w[i]);
	if (dropped) {
		char more[64];
		snprintf(more, sizeof more, "%u more warnings", dropped);
		dm_json_str(&j, more);
	}
	dm_json_arr_end(&j);
	if (j.rc == 0 && dm_buf_addc(json, '\0') != 0)
		return DM_ELIMIT;
	return j.rc ? DM_ELIMIT : 0;
}

void
backend_tls_reporter(const struct dm_tls_report *rep, char *out, size_t outlen)
{
	const char *src = rep->org_name;
	if (src == NULL || !*src) {
		const char *at = rep->contact_info ? strrchr(rep->contact_info, '@') : NULL;
		src = at ? at + 1 : (rep->contact_info ? rep->contact_info : "");
	}
	size_t n = 0;
	for (; src[n] && n < outlen - 1; n++)
		out[n] = (char)tolower((unsigned char)src[n]);
	out[n] = '\0';
}

const char *
backend_tls_domain(const struct dm_tls_report *rep)
{
	return rep->policy_domain ? rep->policy_domain : "";
}

int64_t
backend_tls_day(const struct dm_tls_report *rep)
{
	int64_t t = rep->begin;
	return t - ((t % 86400) + 86400) % 86400;
}

int
backend_tls_warnings_json(struct dm_buf *json, const struct dm_tls_report *rep)
{
	return warnings_json(json, rep->warnings, rep->nwarnings, rep->warnings_dropped);
}

int
backend_merge(const struct rollup *report, struct rollup *daily, struct rollup *totals,
              const char *domain, const char *reporter, int64_t account, rollup_flush_fn flush,
              void *arg)
{
	int rc = 0;
	for (size_t i = 0; i < report->n && rc == 0; i++) {
		const struct rollup_cell *c = &report->cells[report->used[i]];
		rc = rollup_merge(daily, c, domain, reporter, account, 0, flush, arg);
		if (rc == 0)
			rc = rollup_merge(totals, c, domain, reporter, account, 1, flush, arg);
	}
	return rc;
}

static int
same_source_day(const struct backend_src_day *a, const struct rollup_cell *c)
{
	return a->day == c->day && a->account == c->account && a->ip_family == c->ip_family &&
	       memcmp(a->ip, c->ip, 16) == 0 && strcmp(a->domain, c->domain) == 0;
}

int
backend_src_days(struct rollup *daily, int (*fn)(void *arg, const struct backend_src_day *d),
                 void *arg)
{
	struct backend_src_day a;
	int rc = 0, open = 0;
	for (size_t i = 0; i < daily->n && rc == 0; i++) {
		const struct rollup_cell *c = rollup_cell(daily, i);
		if (open && !same_source_day(&a, c)) {
			rc = fn(arg, &a);
			open = 0;
		}
		if (rc == 0 && !open) {
			memset(&a, 0, sizeof a);
			a.domain = c->domain;
			a.account = c->account;
			a.day = c->day;
			a.ip = c->ip;
			a.ip_family = c->ip_family;
			open = 1;
		}
		a.messages += c->messages;
		if (c->dkim_pass || c->spf_pass)
			a.pass += c->messages;
		if (c->spf_pass)
			a.spf += c->messages;
		if (c->dkim_pass)
			a.dkim += c->messages;
		if (strcmp(c->disposition, "quarantine") == 0)
			a.quarantine += c->messages;
		else if (strcmp(c->disposition, "reject") == 0)
			a.reject += c->messages;
	}
	if (rc == 0 && open)
		rc = fn(arg, &a);
	return rc;
}

/* ---- the batch's sources ------------------------------------------------------ */

void
backend_ips_init(struct backend_ips *s, size_t max)
{
	memset(s, 0, sizeof *s);
	s->max = max;
	s->cap = 16;
	while (s->cap < 2 * max)
		s->cap *= 2;
	s->v = xcalloc(s->cap, sizeof *s->v);
	s->slot = xcalloc(max, sizeof *s->slot);
}

void
backend_ips_free(struct backend_ips *s)
{
	free(s->v);
	free(s->slot);
	memset(s, 0, sizeof *s);
}

void
backend_ips_clear(struct backend_ips *s)
{
	for (size_t i = 0; i < s->n; i++)
		s->v[s->slot[i]].updated = 0;
	s->n = 0;
}

int
backend_ptr_final(int ptr_state)
{
	return ptr_state == DM_PTR_CONFIRMED || ptr_state == DM_PTR_UNCONFIRMED ||
	       ptr_state == DM_PTR_NONE;
}

static uint64_t
fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

uint64_t
backend_ip_hash(const unsigned char ip[16])
{
	return fnv(1469598103934665603ull, ip, 16);
}

/* A string and its end (NULL and "" alike: both are stored as NULL). */
static uint64_t
fnv_str(uint64_t h, const char *s)
{
	if (s)
		h = fnv(h, s, strlen(s));
	return fnv(h, "", 1);
}

uint64_t
backend_ip_values_hash(const struct dm_enrichment *e)
{
	uint64_t h = fnv(1469598103934665603ull, &e->ptr_state, sizeof e->ptr_state);
	h = fnv(h, &e->asn, sizeof e->asn);
	h = fnv_str(h, e->ptr);
	h = fnv_str(h, e->base_domain);
	h = fnv_str(h, e->as_org);
	h = fnv_str(h, e->country);
	h = fnv_str(h, e->ip_service);
	h = fnv_str(h, e->ip_service_type);
	return h ? h : 1;
}

int
backend_ips_add(struct backend_ips *s, const struct dm_record *rec, int64_t now)
{
	if (!rec->enr || !rec->ip_family)
		return 0;
	size_t k = (size_t)backend_ip_hash(rec->ip) & (s->cap - 1);
	/* open addressing: a used entry has updated > 0 */
	while (s->v[k].updated && memcmp(s->v[k].ip, rec->ip, 16) != 0)
		k = (k + 1) & (s->cap - 1);
	struct backend_ip *x = &s->v[k];
	if (x->updated) {
		/* the same address again: what the row keeps of it (AS,
		 * country, the address's own service) is the same; only its
		 * reverse name may have moved on, and a final one stays */
		if (rec->enr->ptr_state != x->e.ptr_state && !backend_ptr_final(x->e.ptr_state))
			x->e = *rec->enr;
		x->updated = now;
		return 0;
	}
	if (s->n == s->max)
		return DM_ELIMIT;
	memcpy(x->ip, rec->ip, 16);
	x->e = *rec->enr;
	x->updated = now > 0 ? now : 1;
	s->slot[s->n++] = k;
	return 0;
}

static int
slot_cmp(const void *a, const void *b, void *arg)
{
	const struct backend_ips *s = arg;
	return memcmp(s->v[*(const size_t *)a].ip, s->v[*(const size_t *)b].ip, 16);
}

void
backend_ips_sort(struct backend_ips *s)
{
	if (s->n > 1)
		qsort_r(s->slot, s->n, sizeof *s->slot, slot_cmp, s);
}

const struct backend_ip *
backend_ips_at(const struct backend_ips *s, size_t i)
{
	return &s->v[s->slot[i]];
}

static const char *
or_null(const char *s)
{
	return s && *s ? s : NULL;
}

int
backend_enrich_fields(struct dm_buf *b, const struct dm_enrichment *e, int own, int last)
{
	int bad = backend_field(b, e ? or_null(e->ptr) : NULL, 0);
	bad |= backend_field(b, e ? or_null(e->base_domain) : NULL, 0);
	if (e && e->asn)
		bad |= dm_buf_printf(b, "%u\t", (unsigned)e->asn);
	else
		bad |= backend_field(b, NULL, 0);
	bad |= backend_field(b, e ? or_null(e->as_org) : NULL, 0);
	bad |= backend_field(b, e ? or_null(e->country) : NULL, 0);
	if (own) {
		bad |= backend_field(b, e ? e->ip_service : NULL, 0);
		bad |= backend_field(b, e ? e->ip_service_type : NULL, last);
	} else {
		bad |= backend_field(b, e ? e->service : NULL, last);
	}
	return bad ? DM_ELIMIT : 0;
}

/* ---- failure reports ------------------------------------------------------------ */

int64_t
backend_failure_day(const struct dm_failure_report *r, int64_t received_at)
{
	int64_t t = r->have_arrival_date ? r->arrival_date : received_at;
	return t - ((t % 86400) + 86400) % 86400;
}

int
backend_failure_warnings_json(struct dm_buf *json, const struct dm_failure_report *r)
{
	return warnings_json(json, r->warnings, r->nwarnings, r->warnings_dropped);
}

void
backend_failure_values(struct backend_failure_vals *fv, int64_t account_id,
		       const struct dm_failure_report *r, const char *headers,
		       const struct store_report_info *info, const char *warnings_json)
{
	long long n[8] = {account_id,
			  backend_failure_day(r, info->received_at),
			  info->received_at,
			  r->is_arf,
			  r->rcpt_to_count,
			  r->incidents,
			  r->arrival_date,
			  r->date};
	for (int i = 0; i < 8; i++)
		snprintf(fv->num[i], sizeof fv->num[i], "%lld", n[i]);
	const char *v[BACKEND_FAILURE_NCOLS] = {
		fv->num[0],
		info->content_hash,
		r->reported_domain ? r->reported_domain : "",
		fv->num[1],
		fv->num[2],
		info->archive_key,
		info->source,
		r->feedback_type ? r->feedback_type : "",
		fv->num[3],
		r->version,
		r->user_agent,
		r->auth_failure,
		r->delivery_result,
		r->source_ip_family ? r->source_ip_text : NULL,
		r->original_mail_from,
		r->original_rcpt_to,
		fv->num[4],
		r->original_envelope_id,
		r->reporting_mta,
		r->incidents >= 0 ? fv->num[5] : NULL,
		r->have_arrival_date ? fv->num[6] : NULL,
		r->authentication_results,
		r->identity_alignment,
		r->dkim_domain,
		r->dkim_identity,
		r->dkim_selector,
		r->spf_dns,
		r->subject,
		r->from,
		r->header_from_domain,
		r->to,
		r->message_id,
		r->have_date ? fv->num[7] : NULL,
		headers,
		warnings_json,
	};
	memcpy(fv->v, v, sizeof v);
}

static int64_t
col_num(const char *s)
{
	return s ? strtoll(s, NULL, 10) : 0;
}

void
backend_failure_row(struct store_failure_row *row, const char *const *c, int detail)
{
	memset(row, 0, sizeof *row);
	row->id = col_num(c[0]);
	row->account_id = col_num(c[1]);
	row->reported_domain = c[2];
	row->feedback_type = c[3];
	row->auth_failure = c[4];
	row->delivery_result = c[5];
	row->source_ip = c[6];
	row->original_mail_from = c[7];
	row->original_rcpt_to = c[8];
	row->reporting_mta = c[9];
	row->user_agent = c[10];
	row->identity_alignment = c[11];
	row->dkim_domain = c[12];
	row->dkim_selector = c[13];
	row->spf_dns = c[14];
	row->subject = c[15];
	row->header_from = c[16];
	row->header_from_domain = c[17];
	row->message_id = c[18];
	row->authentication_results = c[19];
	row->arrival_date = col_num(c[20]);
	row->date = col_num(c[21]);
	row->received_at = col_num(c[22]);
	row->is_arf = (int)col_num(c[23]);
	row->incidents = c[30] ? col_num(c[30]) : -1;
	if (detail) {
		row->headers = c[24];
		row->archive_key = c[25];
		row->warnings_json = c[26];
		row->version = c[27];
		row->dkim_identity = c[28];
		row->to = c[29];
	}
}
