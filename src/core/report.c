/*
 * report.c - helpers for the report model.
 *
 * Functions: dm_report_init, dm_report_reset, dm_report_free, dm_report_warn,
 * dm_record_dmarc_pass, dm_record_copy, dm_report_reporter, dm_report_claimable,
 * dm_report_identity_known,
 * dm_record_reasons_json, dm_record_dkim_json, dm_record_spf_json.
 */
#include "report.h"

#include "common/json.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void
dm_report_init(struct dm_report *r)
{
	memset(r, 0, sizeof *r);
	dm_arena_init(&r->arena);
	r->policy.pct = -1;
	r->xmlns = "";
}

void
dm_report_reset(struct dm_report *r)
{
	struct dm_arena a = r->arena;
	dm_arena_reset(&a);
	memset(r, 0, sizeof *r);
	r->arena = a;
	r->policy.pct = -1;
	r->xmlns = "";
}

void
dm_report_free(struct dm_report *r)
{
	dm_arena_free(&r->arena);
	memset(r, 0, sizeof *r);
}

void
dm_report_warn(struct dm_report *r, const char *fmt, ...)
{
	if (r->nwarnings >= DM_MAX_WARNINGS) {
		r->warnings_dropped++;
		return;
	}
	char msg[DM_MAX_ERROR_LEN];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* the same warning once per report is enough */
	for (unsigned i = 0; i < r->nwarnings; i++)
		if (strcmp(r->warnings[i], msg) == 0)
			return;
	r->warnings[r->nwarnings++] = dm_arena_strndup(&r->arena, msg, strlen(msg));
}

int
dm_record_dmarc_pass(const struct dm_record *rec)
{
	return (rec->dkim && strcmp(rec->dkim, "pass") == 0) ||
	       (rec->spf && strcmp(rec->spf, "pass") == 0);
}

static const char *
dup(struct dm_arena *a, const char *s)
{
	return s ? dm_arena_strndup(a, s, strlen(s)) : NULL;
}

void
dm_record_copy(struct dm_arena *a, struct dm_record *dst, const struct dm_record *src)
{
	*dst = *src;
	dst->ip_text = dup(a, src->ip_text);
	dst->disposition = dup(a, src->disposition);
	dst->dkim = dup(a, src->dkim);
	dst->spf = dup(a, src->spf);
	dst->header_from = dup(a, src->header_from);
	dst->envelope_from = dup(a, src->envelope_from);
	dst->envelope_to = dup(a, src->envelope_to);
	dst->reasons = NULL;
	dst->dkim_res = NULL;
	dst->spf_res = NULL;
	if (src->nreasons) {
		dst->reasons = dm_arena_alloc(a, src->nreasons * sizeof *dst->reasons);
		for (unsigned i = 0; i < src->nreasons; i++) {
			dst->reasons[i].type = dup(a, src->reasons[i].type);
			dst->reasons[i].comment = dup(a, src->reasons[i].comment);
		}
	}
	if (src->ndkim) {
		dst->dkim_res = dm_arena_alloc(a, src->ndkim * sizeof *dst->dkim_res);
		for (unsigned i = 0; i < src->ndkim; i++) {
			const struct dm_auth_dkim *s = &src->dkim_res[i];
			dst->dkim_res[i].domain = dup(a, s->domain);
			dst->dkim_res[i].selector = dup(a, s->selector);
			dst->dkim_res[i].result = dup(a, s->result);
			dst->dkim_res[i].human_result = dup(a, s->human_result);
		}
	}
	if (src->nspf) {
		dst->spf_res = dm_arena_alloc(a, src->nspf * sizeof *dst->spf_res);
		for (unsigned i = 0; i < src->nspf; i++) {
			const struct dm_auth_spf *s = &src->spf_res[i];
			dst->spf_res[i].domain = dup(a, s->domain);
			dst->spf_res[i].scope = dup(a, s->scope);
			dst->spf_res[i].result = dup(a, s->result);
			dst->spf_res[i].human_result = dup(a, s->human_result);
		}
	}
}

const char *
dm_report_reporter(struct dm_report *r)
{
	const char *src = r->org_name;
	if (!src || !*src) {
		const char *at = r->email ? strrchr(r->email, '@') : NULL;
		src = at ? at + 1 : (r->email ? r->email : "");
	}
	size_t n = strlen(src);
	char *out = dm_arena_alloc(&r->arena, n + 1);
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)src[i]);
	out[n] = '\0';
	return out;
}

void
dm_record_reasons_json(struct dm_json *j, const struct dm_record *rec)
{
	dm_json_arr_begin(j);
	for (unsigned i = 0; i < rec->nreasons; i++) {
		dm_json_obj_begin(j);
		dm_json_key(j, "type");
		dm_json_str(j, rec->reasons[i].type);
		dm_json_key(j, "comment");
		dm_json_str(j, rec->reasons[i].comment);
		dm_json_obj_end(j);
	}
	dm_json_arr_end(j);
}

/* One result: domain, selector or scope, result, and human_result when
 * there is one. */
static void
result_json(struct dm_json *j, const char *domain, const char *subkey, const char *sub,
	    const char *result, const char *human)
{
	dm_json_obj_begin(j);
	dm_json_key(j, "domain");
	dm_json_str(j, domain);
	dm_json_key(j, subkey);
	dm_json_str(j, sub);
	dm_json_key(j, "result");
	dm_json_str(j, result);
	if (human) {
		dm_json_key(j, "human_result");
		dm_json_str(j, human);
	}
	dm_json_obj_end(j);
}

void
dm_record_dkim_json(struct dm_json *j, const struct dm_record *rec)
{
	dm_json_arr_begin(j);
	for (unsigned i = 0; i < rec->ndkim; i++) {
		const struct dm_auth_dkim *d = &rec->dkim_res[i];
		result_json(j, d->domain, "selector", d->selector, d->result, d->human_result);
	}
	dm_json_arr_end(j);
}

void
dm_record_spf_json(struct dm_json *j, const struct dm_record *rec)
{
	dm_json_arr_begin(j);
	for (unsigned i = 0; i < rec->nspf; i++) {
		const struct dm_auth_spf *d = &rec->spf_res[i];
		result_json(j, d->domain, "scope", d->scope, d->result, d->human_result);
	}
	dm_json_arr_end(j);
}

int
dm_report_claimable(const struct dm_report *r)
{
	return (r->have & DM_HAVE_BEGIN) && (r->have & DM_HAVE_END) &&
	       (r->have & DM_HAVE_DOMAIN) && r->policy.domain && r->report_id && *r->report_id;
}

int
dm_report_identity_known(const struct dm_report *r)
{
	return dm_report_claimable(r) && ((r->org_name && *r->org_name) || r->email);
}
