/*
 * api.c - the handlers of /api/v1/ (docs/API.md): parameters in, store
 * reads, JSON or CSV out.
 *
 * Functions: api_route_find, api_error, api_thread_init, api_thread_free,
 * api_healthz, and one static handler per endpoint.
 *
 * Handlers run on a query thread with the request's scope; every read
 * goes through the store's scoped functions (store.h), never SQL.  JSON
 * is written with dm_json into a buffer handed to out_write() every
 * API_FLUSH bytes, so a long answer (a report of millions of records, an
 * export) is streamed.  Every value that came from a report is escaped by
 * the writer (JSON) or quoted (CSV); a CSV cell that a spreadsheet would
 * take for a formula (=, +, -, @ first) gets a leading apostrophe.
 *
 * Logs (component "http"): store failures, with the reader's reason.
 */
#include "http/api.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "alert/alert.h"
#include "common/day.h"
#include "common/ip.h"
#include "common/json.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/xalloc.h"
#include "dns/advise.h"
#include "dns/check.h"
#include "dns/dmarc_record.h"
#include "dns/resolver.h"

#define API_FLUSH (32 * 1024)
#define DAY 86400

/* ---- output ----------------------------------------------------------------------- */

/* A JSON answer being written. */
struct jw {
	struct api_call *c;
	struct dm_buf b;
	struct dm_json j;
	int gone;
};

static void
jw_init(struct jw *w, struct api_call *c)
{
	w->c = c;
	w->gone = 0;
	/* one row must fit: a record with 128 DKIM results of 1 KiB fields */
	dm_buf_init(&w->b, 16 * 1024 * 1024);
	dm_json_init(&w->j, &w->b);
}

/* Hand what is buffered to the client when there is enough (or at the
 * end); non-zero once the client is gone. */
static int
jw_flush(struct jw *w, int force)
{
	if (w->gone || (!force && w->b.len < API_FLUSH))
		return w->gone;
	if (w->b.len > 0 && out_write(w->c->out, w->b.data, w->b.len) != 0)
		w->gone = 1;
	dm_buf_reset(&w->b);
	return w->gone;
}

static void
jw_free(struct jw *w)
{
	dm_buf_free(&w->b);
}

void
api_error(struct api_call *c, int code, const char *msg)
{
	if (out_started(c->out)) {
		out_abort(c->out);
		return;
	}
	struct dm_buf b;
	struct dm_json j;
	dm_buf_init(&b, 4096);
	dm_json_init(&j, &b);
	dm_json_obj_begin(&j);
	dm_json_key(&j, "error");
	dm_json_str(&j, msg);
	dm_json_obj_end(&j);
	if (dm_buf_addc(&b, '\n') != 0)
		dm_buf_reset(&b);
	out_clear_headers(c->out);
	out_status(c->out, code, "application/json");
	if (code == 401)
		out_header(c->out, "WWW-Authenticate", "Bearer");
	(void)out_write(c->out, b.data ? b.data : "", b.len);
	dm_buf_free(&b);
}

/* A failed read: 404 for "not found or not yours", else 503. */
static void
store_error(struct api_call *c, int rc)
{
	if (rc == DM_ENOTFOUND) {
		api_error(c, 404, "not found");
		return;
	}
	if (rc > 0)
		return; /* a callback stopped the read: the client is gone */
	dm_log(DM_LOG_ERROR, "http", "store read failed: %s (%s)", dm_strerror(rc),
	       store_reader_error(c->t->rd));
	api_error(c, 503, "the store cannot be read");
}

/* ---- parameters ------------------------------------------------------------------- */

static const char *
param(const struct api_call *c, const char *key)
{
	for (size_t i = 0; i < c->nparams; i++)
		if (strcmp(c->params[i].key, key) == 0)
			return c->params[i].value;
	return NULL;
}

static int
bad_param(struct api_call *c, const char *name, const char *expected)
{
	char msg[160];
	snprintf(msg, sizeof msg, "bad '%s': expected %s", name, expected);
	api_error(c, 400, msg);
	return -1;
}

/* A domain or reporter parameter, lower-cased into out. */
static int
lower_param(struct api_call *c, const char *name, size_t max, char *out, size_t outlen)
{
	const char *v = param(c, name);
	if (v == NULL) {
		out[0] = '\0';
		return 0;
	}
	size_t n = strlen(v);
	if (n == 0 || n > max || n >= outlen)
		return bad_param(c, name, max == DM_MAX_DOMAIN_LEN ? "a domain name" : "a name");
	for (size_t i = 0; i <= n; i++)
		out[i] = (char)tolower((unsigned char)v[i]);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x20)
			return bad_param(c, name, "printable characters");
	return 0;
}

struct query {
	struct store_filter f;
	char domain[DM_MAX_DOMAIN_LEN + 1];
	char reporter[DM_MAX_ID_LEN + 1];
	const char *from_s, *to_s; /* as given, for the answer */
};

/* domain, from, to, reporter; need_domain: the domain is required. */
static int
read_filter(struct api_call *c, struct query *q, int need_domain)
{
	memset(q, 0, sizeof *q);
	q->f.from = q->f.to = STORE_OPEN;
	if (lower_param(c, "domain", DM_MAX_DOMAIN_LEN, q->domain, sizeof q->domain) != 0)
		return -1;
	if (q->domain[0])
		q->f.domain = q->domain;
	else if (need_domain)
		return bad_param(c, "domain", "a domain name (required)");
	if (lower_param(c, "reporter", DM_MAX_ID_LEN, q->reporter, sizeof q->reporter) != 0)
		return -1;
	if (q->reporter[0])
		q->f.reporter = q->reporter;
	q->from_s = param(c, "from");
	q->to_s = param(c, "to");
	if (q->from_s && dm_parse_day(q->from_s, &q->f.from) != 0)
		return bad_param(c, "from", "YYYY-MM-DD");
	if (q->to_s && dm_parse_day(q->to_s, &q->f.to) != 0)
		return bad_param(c, "to", "YYYY-MM-DD");
	if (q->from_s && q->to_s && q->f.from > q->f.to)
		return bad_param(c, "to", "a day not before 'from'");
	return 0;
}

static int
uint_param(struct api_call *c, const char *name, unsigned def, unsigned min, unsigned max,
           unsigned *out)
{
	const char *v = param(c, name);
	*out = def;
	if (v == NULL)
		return 0;
	char *end;
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	if (errno || end == v || *end || !isdigit((unsigned char)v[0]) || n < min || n > max) {
		char exp[64];
		snprintf(exp, sizeof exp, "an integer in %u..%u", min, max);
		return bad_param(c, name, exp);
	}
	*out = (unsigned)n;
	return 0;
}

/* The common head of a domain answer: "domain", "from", "to". */
static void
echo_filter(struct jw *w, const struct query *q)
{
	dm_json_key(&w->j, "domain");
	dm_json_str(&w->j, q->f.domain);
	dm_json_key(&w->j, "from");
	dm_json_str(&w->j, q->from_s);
	dm_json_key(&w->j, "to");
	dm_json_str(&w->j, q->to_s);
}

static void
json_counts(struct dm_json *j, const struct store_counts *c, int aligned)
{
	dm_json_key(j, "messages");
	dm_json_uint(j, c->messages);
	dm_json_key(j, "dmarc_pass");
	dm_json_uint(j, c->dmarc_pass);
	dm_json_key(j, "dmarc_fail");
	dm_json_uint(j, c->dmarc_fail);
	if (aligned) {
		dm_json_key(j, "spf_aligned");
		dm_json_uint(j, c->spf_aligned);
		dm_json_key(j, "dkim_aligned");
		dm_json_uint(j, c->dkim_aligned);
	}
}

/* Start a JSON answer: 200, application/json. */
static void
json_begin(struct jw *w)
{
	out_status(w->c->out, 200, "application/json");
	dm_json_obj_begin(&w->j);
}

/* End it; a read error after the start cuts the answer short. */
static void
json_end(struct jw *w, int rc)
{
	if (rc != 0) {
		if (!out_started(w->c->out)) {
			dm_buf_reset(&w->b);
			store_error(w->c, rc);
		} else {
			out_abort(w->c->out);
		}
		return;
	}
	dm_json_obj_end(&w->j);
	if (dm_buf_addc(&w->b, '\n') != 0 || w->j.rc != 0) {
		api_error(w->c, 503, "answer too large");
		return;
	}
	(void)jw_flush(w, 1);
}

/* ---- handlers ---------------------------------------------------------------------- */

static int
domain_row(void *arg, const struct store_domain_row *r)
{
	struct jw *w = arg;
	char first[11], last[11];
	dm_format_day(r->first_day, first);
	dm_format_day(r->last_day, last);
	dm_json_obj_begin(&w->j);
	dm_json_key(&w->j, "domain");
	dm_json_str(&w->j, r->domain);
	dm_json_key(&w->j, "reports");
	dm_json_uint(&w->j, r->reports);
	json_counts(&w->j, &r->c, 0);
	dm_json_key(&w->j, "first");
	dm_json_str(&w->j, first);
	dm_json_key(&w->j, "last");
	dm_json_str(&w->j, last);
	dm_json_obj_end(&w->j);
	return jw_flush(w, 0);
}

static void
h_domains(struct api_call *c)
{
	struct jw w;
	jw_init(&w, c);
	json_begin(&w);
	dm_json_key(&w.j, "domains");
	dm_json_arr_begin(&w.j);
	int rc = store_domains(&c->scope, c->t->rd, domain_row, &w);
	dm_json_arr_end(&w.j);
	json_end(&w, rc);
	jw_free(&w);
}

static void
h_summary(struct api_call *c)
{
	struct query q;
	if (read_filter(c, &q, 1) != 0)
		return;
	uint64_t reports = 0;
	struct store_counts t;
	int rc = store_summary(&c->scope, c->t->rd, &q.f, &reports, &t);
	if (rc) {
		store_error(c, rc);
		return;
	}
	struct jw w;
	jw_init(&w, c);
	json_begin(&w);
	echo_filter(&w, &q);
	dm_json_key(&w.j, "reports");
	dm_json_uint(&w.j, reports);
	json_counts(&w.j, &t, 1);
	dm_json_key(&w.j, "disposition");
	dm_json_obj_begin(&w.j);
	dm_json_key(&w.j, "none");
	dm_json_uint(&w.j, t.none);
	dm_json_key(&w.j, "quarantine");
	dm_json_uint(&w.j, t.quarantine);
	dm_json_key(&w.j, "reject");
	dm_json_uint(&w.j, t.reject);
	dm_json_obj_end(&w.j);
	json_end(&w, 0);
	jw_free(&w);
}

static int
day_row(void *arg, const struct store_day_row *r)
{
	struct jw *w = arg;
	char d[11];
	dm_format_day(r->day, d);
	dm_json_obj_begin(&w->j);
	dm_json_key(&w->j, "date");
	dm_json_str(&w->j, d);
	json_counts(&w->j, &r->c, 0);
	dm_json_key(&w->j, "quarantine");
	dm_json_uint(&w->j, r->c.quarantine);
	dm_json_key(&w->j, "reject");
	dm_json_uint(&w->j, r->c.reject);
	dm_json_obj_end(&w->j);
	return jw_flush(w, 0);
}

static void
h_timeseries(struct api_call *c)
{
	struct query q;
	if (read_filter(c, &q, 1) != 0)
		return;
	struct jw w;
	jw_init(&w, c);
	json_begin(&w);
	echo_filter(&w, &q);
	dm_json_key(&w.j, "points");
	dm_json_arr_begin(&w.j);
	int rc = store_timeseries(&c->scope, c->t->rd, &q.f, day_row, &w);
	dm_json_arr_end(&w.j);
	json_end(&w, rc);
	jw_free(&w);
}

struct sources_ctx {
	struct jw w;
	int opened; /* "items": [ written */
	uint64_t total;
};

static void
sources_open(struct sources_ctx *s)
{
	if (s->opened)
		return;
	s->opened = 1;
	dm_json_key(&s->w.j, "total");
	dm_json_uint(&s->w.j, s->total);
	dm_json_key(&s->w.j, "items");
	dm_json_arr_begin(&s->w.j);
}

/* "who": the source's enrichment (docs/ENRICH.md), null when unknown. */
static void
json_who(struct dm_json *j, const struct store_ip_info *w)
{
	static const char *const ptr_states[] = {"unknown", "confirmed", "unconfirmed", "none",
	                                         "failed"};
	dm_json_key(j, "who");
	if (!w->known) {
		dm_json_null(j);
		return;
	}
	dm_json_obj_begin(j);
	dm_json_key(j, "ptr");
	dm_json_str(j, w->ptr);
	dm_json_key(j, "ptr_state");
	dm_json_str(j, w->ptr_state >= 0 && w->ptr_state < 5 ? ptr_states[w->ptr_state] : "unknown");
	dm_json_key(j, "base_domain");
	dm_json_str(j, w->base_domain);
	dm_json_key(j, "asn");
	if (w->asn)
		dm_json_uint(j, w->asn);
	else
		dm_json_null(j);
	dm_json_key(j, "as_org");
	dm_json_str(j, w->as_org);
	dm_json_key(j, "country");
	dm_json_str(j, w->country);
	dm_json_key(j, "service");
	dm_json_str(j, w->service);
	dm_json_key(j, "service_type");
	dm_json_str(j, w->service_type);
	dm_json_obj_end(j);
}

static int
source_row(void *arg, const struct store_source_row *r)
{
	struct sources_ctx *s = arg;
	char ip[DM_IP_TEXT];
	sources_open(s);
	dm_ip_format(r->ip, ip, sizeof ip);
	struct dm_json *j = &s->w.j;
	dm_json_obj_begin(j);
	dm_json_key(j, "ip");
	dm_json_str(j, ip);
	json_counts(j, &r->c, 1);
	dm_json_key(j, "header_from");
	dm_json_arr_begin(j);
	for (size_t i = 0; i < r->nheader_from; i++)
		dm_json_str(j, r->header_from[i]);
	dm_json_arr_end(j);
	dm_json_key(j, "reporters");
	dm_json_arr_begin(j);
	for (size_t i = 0; i < r->nreporters; i++)
		dm_json_str(j, r->reporters[i]);
	dm_json_arr_end(j);
	json_who(j, &r->info);
	dm_json_obj_end(j);
	return jw_flush(&s->w, 0);
}

static void
h_sources(struct api_call *c)
{
	struct query q;
	unsigned limit, offset;
	if (read_filter(c, &q, 1) != 0 || uint_param(c, "limit", 100, 1, 1000, &limit) != 0 ||
	    uint_param(c, "offset", 0, 0, 1000000, &offset) != 0)
		return;
	const char *sort = param(c, "sort");
	enum store_source_sort by = STORE_SORT_MESSAGES;
	if (sort == NULL || strcmp(sort, "messages") == 0)
		by = STORE_SORT_MESSAGES;
	else if (strcmp(sort, "dmarc_fail") == 0)
		by = STORE_SORT_FAIL;
	else if (strcmp(sort, "dmarc_pass") == 0)
		by = STORE_SORT_PASS;
	else if (strcmp(sort, "ip") == 0)
		by = STORE_SORT_IP;
	else {
		bad_param(c, "sort", "messages, dmarc_fail, dmarc_pass or ip");
		return;
	}
	struct sources_ctx s = {.opened = 0};
	jw_init(&s.w, c);
	json_begin(&s.w);
	int rc = store_sources(&c->scope, c->t->rd, &q.f, by, limit, offset, &s.total, source_row,
	                       &s);
	if (rc == 0) {
		sources_open(&s);
		dm_json_arr_end(&s.w.j);
	}
	json_end(&s.w, rc);
	jw_free(&s.w);
}

/* sources/{ip}: the parts arrive kind by kind (reporters, header_from,
 * DKIM, SPF); each kind is its own array. */
struct source_ctx {
	struct jw w;
	int kind; /* the array open now, -1 none */
	int days_open;
	const struct store_counts *total; /* known before the first row */
	int total_done;
};

/* The source's totals, once, before its first array. */
static void
sd_totals(struct source_ctx *s)
{
	if (s->total_done)
		return;
	s->total_done = 1;
	json_counts(&s->w.j, s->total, 1);
}

static const char *const part_keys[] = {"reporters", "header_from", "dkim", "spf"};

static int
sd_day(void *arg, const struct store_day_row *r)
{
	struct source_ctx *s = arg;
	char d[11];
	sd_totals(s);
	if (!s->days_open) {
		s->days_open = 1;
		dm_json_key(&s->w.j, "days");
		dm_json_arr_begin(&s->w.j);
	}
	dm_format_day(r->day, d);
	dm_json_obj_begin(&s->w.j);
	dm_json_key(&s->w.j, "date");
	dm_json_str(&s->w.j, d);
	json_counts(&s->w.j, &r->c, 0);
	dm_json_obj_end(&s->w.j);
	return jw_flush(&s->w, 0);
}

static void
sd_close_days(struct source_ctx *s)
{
	sd_totals(s);
	if (!s->days_open) {
		dm_json_key(&s->w.j, "days");
		dm_json_arr_begin(&s->w.j);
	}
	if (s->days_open >= 0)
		dm_json_arr_end(&s->w.j);
	s->days_open = -1;
}

/* Open the arrays up to kind (empty ones for kinds without rows). */
static void
sd_to_kind(struct source_ctx *s, int kind)
{
	sd_close_days(s);
	while (s->kind < kind) {
		if (s->kind >= 0)
			dm_json_arr_end(&s->w.j);
		s->kind++;
		dm_json_key(&s->w.j, part_keys[s->kind]);
		dm_json_arr_begin(&s->w.j);
	}
}

static int
sd_part(void *arg, const struct store_part_row *r)
{
	struct source_ctx *s = arg;
	struct dm_json *j = &s->w.j;
	sd_to_kind(s, (int)r->kind);
	dm_json_obj_begin(j);
	switch (r->kind) {
	case STORE_PART_REPORTER:
		dm_json_key(j, "reporter");
		dm_json_str(j, r->name);
		break;
	case STORE_PART_HEADER_FROM:
		dm_json_key(j, "domain");
		dm_json_str(j, r->name);
		break;
	case STORE_PART_DKIM:
		dm_json_key(j, "domain");
		dm_json_str(j, r->name);
		dm_json_key(j, "selector");
		dm_json_str(j, r->sub);
		dm_json_key(j, "result");
		dm_json_str(j, r->result);
		break;
	case STORE_PART_SPF:
		dm_json_key(j, "domain");
		dm_json_str(j, r->name);
		dm_json_key(j, "scope");
		dm_json_str(j, r->sub);
		dm_json_key(j, "result");
		dm_json_str(j, r->result);
		break;
	}
	dm_json_key(j, "messages");
	dm_json_uint(j, r->messages);
	dm_json_obj_end(j);
	return jw_flush(&s->w, 0);
}

static void
h_source(struct api_call *c)
{
	struct query q;
	unsigned char ip[16];
	if (read_filter(c, &q, 1) != 0)
		return;
	if (c->arg == NULL || dm_ip_parse(c->arg, ip) == 0) {
		api_error(c, 404, "not found");
		return;
	}
	struct store_counts t;
	struct source_ctx s = {.kind = -1, .total = &t};
	char canon[DM_IP_TEXT];
	dm_ip_format(ip, canon, sizeof canon);
	jw_init(&s.w, c);
	json_begin(&s.w);
	dm_json_key(&s.w.j, "ip");
	dm_json_str(&s.w.j, canon);
	echo_filter(&s.w, &q);
	int rc = store_source(&c->scope, c->t->rd, &q.f, ip, &t, sd_day, sd_part, &s);
	if (rc == 0) {
		sd_to_kind(&s, STORE_PART_SPF);
		dm_json_arr_end(&s.w.j);
		/* asked only once the scope has shown the source */
		struct store_ip_info who;
		rc = store_ip_info(c->t->rd, ip, &who);
		if (rc == 0)
			json_who(&s.w.j, &who);
	}
	json_end(&s.w, rc);
	jw_free(&s.w);
}

static int
reporter_row(void *arg, const struct store_reporter_row *r)
{
	struct jw *w = arg;
	dm_json_obj_begin(&w->j);
	dm_json_key(&w->j, "reporter");
	dm_json_str(&w->j, r->reporter);
	dm_json_key(&w->j, "reports");
	dm_json_uint(&w->j, r->reports);
	json_counts(&w->j, &r->c, 0);
	dm_json_obj_end(&w->j);
	return jw_flush(w, 0);
}

static void
h_reporters(struct api_call *c)
{
	struct query q;
	if (read_filter(c, &q, 1) != 0)
		return;
	struct jw w;
	jw_init(&w, c);
	json_begin(&w);
	echo_filter(&w, &q);
	dm_json_key(&w.j, "reporters");
	dm_json_arr_begin(&w.j);
	int rc = store_reporters(&c->scope, c->t->rd, &q.f, reporter_row, &w);
	dm_json_arr_end(&w.j);
	json_end(&w, rc);
	jw_free(&w);
}

static void
report_fields(struct dm_json *j, const struct store_report_row *r)
{
	dm_json_key(j, "id");
	dm_json_int(j, r->id);
	dm_json_key(j, "org_name");
	dm_json_str(j, r->org_name);
	dm_json_key(j, "report_id");
	dm_json_str(j, r->report_id);
	dm_json_key(j, "policy_domain");
	dm_json_str(j, r->policy_domain);
	dm_json_key(j, "begin");
	dm_json_int(j, r->begin);
	dm_json_key(j, "end");
	dm_json_int(j, r->end);
	dm_json_key(j, "records");
	dm_json_uint(j, r->records);
	dm_json_key(j, "messages");
	dm_json_uint(j, r->messages);
	dm_json_key(j, "received_at");
	dm_json_int(j, r->received_at);
}

struct reports_ctx {
	struct jw w;
	int opened;
	uint64_t total;
};

static void
reports_open(struct reports_ctx *s)
{
	if (s->opened)
		return;
	s->opened = 1;
	dm_json_key(&s->w.j, "total");
	dm_json_uint(&s->w.j, s->total);
	dm_json_key(&s->w.j, "items");
	dm_json_arr_begin(&s->w.j);
}

/* The filter and the page (limit, offset) of a list. */
static int
read_page(struct api_call *c, struct query *q, unsigned *limit, unsigned *offset)
{
	if (read_filter(c, q, 0) != 0 || uint_param(c, "limit", 100, 1, 1000, limit) != 0 ||
	    uint_param(c, "offset", 0, 0, 1000000, offset) != 0)
		return -1;
	return 0;
}

static int
report_row(void *arg, const struct store_report_row *r)
{
	struct reports_ctx *s = arg;
	reports_open(s);
	dm_json_obj_begin(&s->w.j);
	report_fields(&s->w.j, r);
	dm_json_obj_end(&s->w.j);
	return jw_flush(&s->w, 0);
}

static void
h_reports(struct api_call *c)
{
	struct query q;
	unsigned limit, offset;
	if (read_page(c, &q, &limit, &offset) != 0)
		return;
	struct reports_ctx s = {.opened = 0};
	jw_init(&s.w, c);
	json_begin(&s.w);
	int rc = store_reports(&c->scope, c->t->rd, &q.f, limit, offset, &s.total, report_row, &s);
	if (rc == 0) {
		reports_open(&s);
		dm_json_arr_end(&s.w.j);
	}
	json_end(&s.w, rc);
	jw_free(&s.w);
}

static int
parse_id(const char *s, int64_t *id)
{
	if (s == NULL || !isdigit((unsigned char)s[0]) || strlen(s) > 18 || (s[0] == '0' && s[1]))
		return -1;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v < 1)
		return -1;
	*id = v;
	return 0;
}

/* The policy as published, in a report's detail. */
static void
json_policy(struct dm_json *j, const struct dm_policy_published *p)
{
	dm_json_key(j, "policy_published");
	dm_json_obj_begin(j);
	dm_json_key(j, "domain");
	dm_json_str(j, p->domain);
	dm_json_key(j, "adkim");
	dm_json_str(j, p->adkim);
	dm_json_key(j, "aspf");
	dm_json_str(j, p->aspf);
	dm_json_key(j, "p");
	dm_json_str(j, p->p);
	dm_json_key(j, "sp");
	dm_json_str(j, p->sp);
	dm_json_key(j, "np");
	dm_json_str(j, p->np);
	dm_json_key(j, "pct");
	if (p->pct >= 0)
		dm_json_int(j, p->pct);
	else
		dm_json_null(j);
	dm_json_key(j, "fo");
	dm_json_str(j, p->fo);
	dm_json_key(j, "testing");
	dm_json_str(j, p->testing);
	dm_json_key(j, "discovery_method");
	dm_json_str(j, p->discovery_method);
	dm_json_obj_end(j);
}

static int
detail_meta(void *arg, const struct store_report_row *r)
{
	struct jw *w = arg;
	struct dm_json *j = &w->j;
	report_fields(j, r);
	dm_json_key(j, "email");
	dm_json_str(j, r->email);
	dm_json_key(j, "extra_contact_info");
	dm_json_str(j, r->extra_contact_info);
	dm_json_key(j, "generator");
	dm_json_str(j, r->generator);
	dm_json_key(j, "version");
	dm_json_str(j, r->version);
	dm_json_key(j, "schema");
	dm_json_str(j, r->schema);
	dm_json_key(j, "xmlns");
	dm_json_str(j, r->xmlns);
	dm_json_key(j, "report_error");
	dm_json_str(j, r->report_error);
	dm_json_key(j, "archive_key");
	dm_json_str(j, r->archive_key);
	json_policy(j, &r->policy);
	dm_json_key(j, "warnings");
	/* written by the store as a JSON array of strings */
	if (r->warnings_json != NULL && r->warnings_json[0] == '[')
		dm_json_raw(j, r->warnings_json);
	else {
		dm_json_arr_begin(j);
		dm_json_arr_end(j);
	}
	dm_json_key(j, "rows");
	dm_json_arr_begin(j);
	return jw_flush(w, 0);
}

static void
json_record(struct dm_json *j, const struct dm_record *rec)
{
	char ip[DM_IP_TEXT];
	dm_json_obj_begin(j);
	dm_json_key(j, "ip");
	if (rec->ip_family) {
		dm_ip_format(rec->ip, ip, sizeof ip);
		dm_json_str(j, ip);
	} else {
		dm_json_null(j);
	}
	dm_json_key(j, "count");
	dm_json_int(j, rec->count);
	dm_json_key(j, "disposition");
	dm_json_str(j, rec->disposition);
	dm_json_key(j, "dkim");
	dm_json_str(j, rec->dkim);
	dm_json_key(j, "spf");
	dm_json_str(j, rec->spf);
	dm_json_key(j, "dmarc_pass");
	dm_json_bool(j, dm_record_dmarc_pass(rec));
	dm_json_key(j, "header_from");
	dm_json_str(j, rec->header_from);
	dm_json_key(j, "envelope_from");
	dm_json_str(j, rec->envelope_from);
	dm_json_key(j, "envelope_to");
	dm_json_str(j, rec->envelope_to);
	dm_json_key(j, "reasons");
	dm_record_reasons_json(j, rec);
	dm_json_key(j, "dkim_results");
	dm_record_dkim_json(j, rec);
	dm_json_key(j, "spf_results");
	dm_record_spf_json(j, rec);
	dm_json_obj_end(j);
}

static int
detail_record(void *arg, const struct store_report_row *r, const struct dm_record *rec)
{
	struct jw *w = arg;
	(void)r;
	json_record(&w->j, rec);
	return jw_flush(w, 0);
}

static void
h_report(struct api_call *c)
{
	int64_t id;
	if (parse_id(c->arg, &id) != 0) {
		api_error(c, 404, "not found");
		return;
	}
	struct jw w;
	jw_init(&w, c);
	json_begin(&w);
	int rc = store_report(&c->scope, c->t->rd, id, detail_meta, detail_record, &w);
	if (rc == 0)
		dm_json_arr_end(&w.j);
	json_end(&w, rc);
	jw_free(&w);
}

/* ---- the raw file ------------------------------------------------------------------ */

struct raw_meta {
	char key[DM_ARCHIVE_KEY_MAX];
	char name[256];
};

/* Keep [A-Za-z0-9.-] of s (a report's own words) for a file name. */
static void
name_part(char *out, size_t outlen, const char *s)
{
	size_t o = 0;
	for (; s && *s && o + 1 < outlen && o < 64; s++) {
		unsigned char ch = (unsigned char)*s;
		out[o++] = (isalnum(ch) || ch == '.' || ch == '-') ? (char)ch : '_';
	}
	out[o] = '\0';
}

/* The key of a report's file and the name it is downloaded under:
 * <reporter>!<domain>!<begin>!<end>.<ext>, as reporters name them. */
static void
raw_name(struct raw_meta *m, const char *key, const char *org_name, const char *domain,
         int64_t begin, int64_t end)
{
	char org[72], dom[72];
	snprintf(m->key, sizeof m->key, "%s", key ? key : "");
	name_part(org, sizeof org, org_name);
	name_part(dom, sizeof dom, domain);
	const char *dot = strrchr(m->key, '.');
	snprintf(m->name, sizeof m->name, "%s!%s!%" PRId64 "!%" PRId64 "%s", org, dom, begin, end,
	         dot ? dot : "");
}

static int
raw_meta(void *arg, const struct store_report_row *r)
{
	raw_name(arg, r->archive_key, r->org_name, r->policy_domain, r->begin, r->end);
	return 0;
}

static void raw_send(struct api_call *c, int64_t id, const struct raw_meta *m);

static void
h_report_raw(struct api_call *c)
{
	int64_t id;
	struct raw_meta m;
	memset(&m, 0, sizeof m);
	if (parse_id(c->arg, &id) != 0) {
		api_error(c, 404, "not found");
		return;
	}
	int rc = store_report(&c->scope, c->t->rd, id, raw_meta, NULL, &m);
	if (rc) {
		store_error(c, rc);
		return;
	}
	raw_send(c, id, &m);
}

/* The archived file of the report id (m: its key and a file name). */
static void
raw_send(struct api_call *c, int64_t id, const struct raw_meta *m)
{
	struct archive_blob *blob;
	if (!m->key[0] || archive_blob_open(c->t->cfg->archive, m->key, &blob) != 0) {
		char esc[160];
		dm_log_escape(esc, sizeof esc, m->key, strlen(m->key));
		dm_log(DM_LOG_ERROR, "http", "report %" PRId64 ": archived file %s not found", id,
		       esc);
		api_error(c, 404, "not found");
		return;
	}
	static const struct {
		const char *ext, *type;
	} types[] = {{".gz", "application/gzip"},
	             {".zip", "application/zip"},
	             {".xml", "application/xml"},
	             {".json", "application/json"},
	             {".txt", "text/plain; charset=utf-8"}};
	const char *type = "application/octet-stream";
	const char *dot = strrchr(m->key, '.');
	for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
		if (strcmp(dot, types[i].ext) == 0)
			type = types[i].type;
	char disp[320];
	snprintf(disp, sizeof disp, "attachment; filename=\"%s\"", m->name);
	out_status(c->out, 200, type);
	out_header(c->out, "Content-Disposition", disp);
	struct dm_reader *r = archive_blob_reader(blob);
	char *buf = xmalloc(API_FLUSH);
	for (;;) {
		ssize_t n = dm_reader_read(r, buf, API_FLUSH);
		if (n < 0) {
			api_error(c, 503, "cannot read the archived file");
			break;
		}
		if (n == 0) {
			if (!out_started(c->out))
				(void)out_write(c->out, "", 0);
			break;
		}
		if (out_write(c->out, buf, (size_t)n) != 0)
			break;
	}
	free(buf);
	archive_blob_close(blob);
}

/* ---- SMTP TLS reports ---------------------------------------------------------------- */

/* Failure groups on the TLS page. */
#define API_TLS_GROUPS 100

static int
tls_domain_row(void *arg, const struct store_tls_domain_row *r)
{
	struct jw *w = arg;
	char first[11], last[11];
	dm_format_day(r->first_day, first);
	dm_format_day(r->last_day, last);
	dm_json_obj_begin(&w->j);
	dm_json_key(&w->j, "domain");
	dm_json_str(&w->j, r->domain);
	dm_json_key(&w->j, "reports");
	dm_json_uint(&w->j, r->reports);
	dm_json_key(&w->j, "success");
	dm_json_uint(&w->j, r->success);
	dm_json_key(&w->j, "failure");
	dm_json_uint(&w->j, r->failure);
	dm_json_key(&w->j, "first_day");
	dm_json_str(&w->j, first);
	dm_json_key(&w->j, "last_day");
	dm_json_str(&w->j, last);
	dm_json_obj_end(&w->j);
	return jw_flush(w, 0);
}

/* GET /api/v1/tls/domains: the domains with TLS reports in scope. */
static void
h_tls_domains(struct api_call *c)
{
	struct jw w;
	jw_init(&w, c);
	json_begin(&w);
	dm_json_key(&w.j, "domains");
	dm_json_arr_begin(&w.j);
	int rc = store_tls_domains(&c->scope, c->t->rd, tls_domain_row, &w);
	dm_json_arr_end(&w.j);
	json_end(&w, rc);
	jw_free(&w);
}

struct tls_ctx {
	struct jw w;
	uint64_t success, failure;
};

static int
tls_day_row(void *arg, const struct store_tls_day_row *r)
{
	struct tls_ctx *t = arg;
	char d[11];
	dm_format_day(r->day, d);
	t->success += r->success;
	t->failure += r->failure;
	dm_json_obj_begin(&t->w.j);
	dm_json_key(&t->w.j, "date");
	dm_json_str(&t->w.j, d);
	dm_json_key(&t->w.j, "success");
	dm_json_uint(&t->w.j, r->success);
	dm_json_key(&t->w.j, "failure");
	dm_json_uint(&t->w.j, r->failure);
	dm_json_obj_end(&t->w.j);
	return jw_flush(&t->w, 0);
}

static int
tls_group_row(void *arg, const struct store_tls_failure_group *r)
{
	struct tls_ctx *t = arg;
	dm_json_obj_begin(&t->w.j);
	dm_json_key(&t->w.j, "result_type");
	dm_json_str(&t->w.j, r->result_type);
	dm_json_key(&t->w.j, "mx");
	dm_json_str(&t->w.j, r->mx);
	dm_json_key(&t->w.j, "sessions");
	dm_json_uint(&t->w.j, r->sessions);
	dm_json_obj_end(&t->w.j);
	return jw_flush(&t->w, 0);
}

/* GET /api/v1/tls?domain=D&from=&to=: sessions per day, the totals, and
 * the failed sessions by result type and MX (docs/API.md). */
static void
h_tls(struct api_call *c)
{
	struct query q;
	if (read_filter(c, &q, 1) != 0)
		return;
	struct tls_ctx t = {.success = 0};
	jw_init(&t.w, c);
	json_begin(&t.w);
	echo_filter(&t.w, &q);
	dm_json_key(&t.w.j, "points");
	dm_json_arr_begin(&t.w.j);
	int rc = store_tls_days(&c->scope, c->t->rd, &q.f, tls_day_row, &t);
	dm_json_arr_end(&t.w.j);
	if (rc == 0) {
		dm_json_key(&t.w.j, "success");
		dm_json_uint(&t.w.j, t.success);
		dm_json_key(&t.w.j, "failure");
		dm_json_uint(&t.w.j, t.failure);
		dm_json_key(&t.w.j, "failures");
		dm_json_arr_begin(&t.w.j);
		rc = store_tls_failures(&c->scope, c->t->rd, &q.f, API_TLS_GROUPS, tls_group_row, &t);
		dm_json_arr_end(&t.w.j);
	}
	json_end(&t.w, rc);
	jw_free(&t.w);
}

static void
tls_report_fields(struct dm_json *j, const struct store_tls_report_row *r)
{
	dm_json_key(j, "id");
	dm_json_int(j, r->id);
	dm_json_key(j, "org_name");
	dm_json_str(j, r->org_name);
	dm_json_key(j, "contact_info");
	dm_json_str(j, r->contact_info);
	dm_json_key(j, "report_id");
	dm_json_str(j, r->report_id);
	dm_json_key(j, "policy_domain");
	dm_json_str(j, r->policy_domain);
	dm_json_key(j, "begin");
	dm_json_int(j, r->begin);
	dm_json_key(j, "end");
	dm_json_int(j, r->end);
	dm_json_key(j, "policies");
	dm_json_uint(j, r->policies);
	dm_json_key(j, "failure_details");
	dm_json_uint(j, r->failure_details);
	dm_json_key(j, "success");
	dm_json_uint(j, r->success);
	dm_json_key(j, "failure");
	dm_json_uint(j, r->failure);
	dm_json_key(j, "received_at");
	dm_json_int(j, r->received_at);
}

static int
tls_report_row(void *arg, const struct store_tls_report_row *r)
{
	struct reports_ctx *s = arg;
	reports_open(s);
	dm_json_obj_begin(&s->w.j);
	tls_report_fields(&s->w.j, r);
	dm_json_obj_end(&s->w.j);
	return jw_flush(&s->w, 0);
}

/* GET /api/v1/tls/reports?domain=&from=&to=&limit=&offset= */
static void
h_tls_reports(struct api_call *c)
{
	struct query q;
	unsigned limit, offset;
	if (read_page(c, &q, &limit, &offset) != 0)
		return;
	struct reports_ctx s = {.opened = 0};
	jw_init(&s.w, c);
	json_begin(&s.w);
	int rc = store_tls_reports(&c->scope, c->t->rd, &q.f, limit, offset, &s.total,
	                           tls_report_row, &s);
	if (rc == 0) {
		reports_open(&s);
		dm_json_arr_end(&s.w.j);
	}
	json_end(&s.w, rc);
	jw_free(&s.w);
}

struct tls_detail {
	struct jw w;
	int in_failures;
};

static int
tls_detail_meta(void *arg, const struct store_tls_report_row *r)
{
	struct tls_detail *d = arg;
	struct dm_json *j = &d->w.j;
	tls_report_fields(j, r);
	dm_json_key(j, "archive_key");
	dm_json_str(j, r->archive_key);
	dm_json_key(j, "warnings");
	if (r->warnings_json != NULL && r->warnings_json[0] == '[')
		dm_json_raw(j, r->warnings_json);
	else {
		dm_json_arr_begin(j);
		dm_json_arr_end(j);
	}
	dm_json_key(j, "policies");
	dm_json_arr_begin(j);
	return jw_flush(&d->w, 0);
}

static int
tls_detail_policy(void *arg, const struct store_tls_policy_row *p)
{
	struct tls_detail *d = arg;
	struct dm_json *j = &d->w.j;
	dm_json_obj_begin(j);
	dm_json_key(j, "index");
	dm_json_uint(j, p->idx);
	dm_json_key(j, "policy_type");
	dm_json_str(j, p->type);
	dm_json_key(j, "policy_domain");
	dm_json_str(j, p->domain);
	dm_json_key(j, "mx_host");
	dm_json_str(j, p->mx_host);
	dm_json_key(j, "policy_string");
	dm_json_str(j, p->policy_string);
	dm_json_key(j, "success");
	dm_json_uint(j, p->success);
	dm_json_key(j, "failure");
	dm_json_uint(j, p->failure);
	dm_json_obj_end(j);
	return jw_flush(&d->w, 0);
}

static int
tls_detail_failure(void *arg, const struct store_tls_failure_row *f)
{
	struct tls_detail *d = arg;
	struct dm_json *j = &d->w.j;
	if (!d->in_failures) {
		d->in_failures = 1;
		dm_json_arr_end(j);
		dm_json_key(j, "failures");
		dm_json_arr_begin(j);
	}
	dm_json_obj_begin(j);
	dm_json_key(j, "policy");
	dm_json_uint(j, f->policy);
	dm_json_key(j, "result_type");
	dm_json_str(j, f->result_type);
	dm_json_key(j, "sending_mta_ip");
	dm_json_str(j, f->sending_ip);
	dm_json_key(j, "receiving_mx_hostname");
	dm_json_str(j, f->receiving_mx_hostname);
	dm_json_key(j, "receiving_mx_helo");
	dm_json_str(j, f->receiving_mx_helo);
	dm_json_key(j, "receiving_ip");
	dm_json_str(j, f->receiving_ip);
	dm_json_key(j, "additional_information");
	dm_json_str(j, f->additional_info);
	dm_json_key(j, "failure_reason_code");
	dm_json_str(j, f->failure_reason_code);
	dm_json_key(j, "failed_session_count");
	dm_json_uint(j, f->sessions);
	dm_json_obj_end(j);
	return jw_flush(&d->w, 0);
}

/* GET /api/v1/tls/reports/ID: the report, its policies and failures. */
static void
h_tls_report(struct api_call *c)
{
	int64_t id;
	if (parse_id(c->arg, &id) != 0) {
		api_error(c, 404, "not found");
		return;
	}
	struct tls_detail d = {.in_failures = 0};
	jw_init(&d.w, c);
	json_begin(&d.w);
	int rc = store_tls_report(&c->scope, c->t->rd, id, tls_detail_meta, tls_detail_policy,
	                          tls_detail_failure, &d);
	if (rc == 0) {
		if (!d.in_failures) {
			dm_json_arr_end(&d.w.j);
			dm_json_key(&d.w.j, "failures");
			dm_json_arr_begin(&d.w.j);
		}
		dm_json_arr_end(&d.w.j);
	}
	json_end(&d.w, rc);
	jw_free(&d.w);
}

static int
tls_raw_meta(void *arg, const struct store_tls_report_row *r)
{
	raw_name(arg, r->archive_key, r->org_name, r->policy_domain, r->begin, r->end);
	return 0;
}

/* GET /api/v1/tls/reports/ID/raw: the file as it came. */
static void
h_tls_report_raw(struct api_call *c)
{
	int64_t id;
	struct raw_meta m;
	memset(&m, 0, sizeof m);
	if (parse_id(c->arg, &id) != 0) {
		api_error(c, 404, "not found");
		return;
	}
	int rc = store_tls_report(&c->scope, c->t->rd, id, tls_raw_meta, NULL, NULL, &m);
	if (rc) {
		store_error(c, rc);
		return;
	}
	raw_send(c, id, &m);
}

/* ---- failure reports ----------------------------------------------------------------- */

static void
failure_fields(struct dm_json *j, const struct store_failure_row *r)
{
	dm_json_key(j, "id");
	dm_json_int(j, r->id);
	dm_json_key(j, "reported_domain");
	dm_json_str(j, r->reported_domain);
	dm_json_key(j, "arrival_date");
	if (r->arrival_date)
		dm_json_int(j, r->arrival_date);
	else
		dm_json_null(j);
	dm_json_key(j, "received_at");
	dm_json_int(j, r->received_at);
	dm_json_key(j, "arf");
	dm_json_bool(j, r->is_arf);
	dm_json_key(j, "feedback_type");
	dm_json_str(j, r->feedback_type);
	dm_json_key(j, "auth_failure");
	dm_json_str(j, r->auth_failure);
	dm_json_key(j, "delivery_result");
	dm_json_str(j, r->delivery_result);
	dm_json_key(j, "source_ip");
	dm_json_str(j, r->source_ip);
	dm_json_key(j, "original_mail_from");
	dm_json_str(j, r->original_mail_from);
	dm_json_key(j, "original_rcpt_to");
	dm_json_str(j, r->original_rcpt_to);
	dm_json_key(j, "reporting_mta");
	dm_json_str(j, r->reporting_mta);
	dm_json_key(j, "user_agent");
	dm_json_str(j, r->user_agent);
	dm_json_key(j, "identity_alignment");
	dm_json_str(j, r->identity_alignment);
	dm_json_key(j, "dkim_domain");
	dm_json_str(j, r->dkim_domain);
	dm_json_key(j, "dkim_selector");
	dm_json_str(j, r->dkim_selector);
	dm_json_key(j, "spf_dns");
	dm_json_str(j, r->spf_dns);
	dm_json_key(j, "authentication_results");
	dm_json_str(j, r->authentication_results);
	dm_json_key(j, "subject");
	dm_json_str(j, r->subject);
	dm_json_key(j, "header_from");
	dm_json_str(j, r->header_from);
	dm_json_key(j, "header_from_domain");
	dm_json_str(j, r->header_from_domain);
	dm_json_key(j, "message_id");
	dm_json_str(j, r->message_id);
	dm_json_key(j, "date");
	if (r->date)
		dm_json_int(j, r->date);
	else
		dm_json_null(j);
}

static int
failure_row(void *arg, const struct store_failure_row *r)
{
	struct reports_ctx *s = arg;
	reports_open(s);
	dm_json_obj_begin(&s->w.j);
	failure_fields(&s->w.j, r);
	dm_json_obj_end(&s->w.j);
	return jw_flush(&s->w, 0);
}

/* GET /api/v1/failures?domain=&from=&to=&ip=&limit=&offset=: failure
 * reports newest first (days: of their arrival), of one source with ip. */
static void
h_failures(struct api_call *c)
{
	struct query q;
	unsigned limit, offset;
	unsigned char ip[16];
	const char *ips = param(c, "ip");
	if (read_page(c, &q, &limit, &offset) != 0)
		return;
	if (ips != NULL && dm_ip_parse(ips, ip) == 0) {
		(void)bad_param(c, "ip", "an IPv4 or IPv6 address");
		return;
	}
	struct reports_ctx s = {.opened = 0};
	jw_init(&s.w, c);
	json_begin(&s.w);
	int rc = store_failures(&c->scope, c->t->rd, &q.f, ips ? ip : NULL, limit, offset, &s.total,
	                        failure_row, &s);
	if (rc == 0) {
		reports_open(&s);
		dm_json_arr_end(&s.w.j);
	}
	json_end(&s.w, rc);
	jw_free(&s.w);
}

static int
failure_detail(void *arg, const struct store_failure_row *r)
{
	struct jw *w = arg;
	struct dm_json *j = &w->j;
	failure_fields(j, r);
	dm_json_key(j, "version");
	dm_json_str(j, r->version);
	dm_json_key(j, "dkim_identity");
	dm_json_str(j, r->dkim_identity);
	dm_json_key(j, "to");
	dm_json_str(j, r->to);
	dm_json_key(j, "incidents");
	if (r->incidents >= 0)
		dm_json_int(j, r->incidents);
	else
		dm_json_null(j);
	dm_json_key(j, "archive_key");
	dm_json_str(j, r->archive_key);
	dm_json_key(j, "headers");
	dm_json_str(j, r->headers);
	dm_json_key(j, "warnings");
	if (r->warnings_json != NULL && r->warnings_json[0] == '[')
		dm_json_raw(j, r->warnings_json);
	else {
		dm_json_arr_begin(j);
		dm_json_arr_end(j);
	}
	return jw_flush(w, 0);
}

/* GET /api/v1/failures/ID: one failure report with its original headers
 * (as redacted when stored). */
static void
h_failure(struct api_call *c)
{
	int64_t id;
	if (parse_id(c->arg, &id) != 0) {
		api_error(c, 404, "not found");
		return;
	}
	struct jw w;
	jw_init(&w, c);
	json_begin(&w);
	int rc = store_failure(&c->scope, c->t->rd, id, failure_detail, &w);
	json_end(&w, rc);
	jw_free(&w);
}

static int
failure_raw_meta(void *arg, const struct store_failure_row *r)
{
	struct raw_meta *m = arg;
	char dom[72];
	snprintf(m->key, sizeof m->key, "%s", r->archive_key ? r->archive_key : "");
	name_part(dom, sizeof dom, r->reported_domain);
	snprintf(m->name, sizeof m->name, "failure!%s!%" PRId64 ".txt", dom,
	         r->arrival_date ? r->arrival_date : r->received_at);
	return 0;
}

/* GET /api/v1/failures/ID/raw: what was kept of it (the fields and the
 * redacted headers, never the original message). */
static void
h_failure_raw(struct api_call *c)
{
	int64_t id;
	struct raw_meta m;
	memset(&m, 0, sizeof m);
	if (parse_id(c->arg, &id) != 0) {
		api_error(c, 404, "not found");
		return;
	}
	int rc = store_failure(&c->scope, c->t->rd, id, failure_raw_meta, &m);
	if (rc) {
		store_error(c, rc);
		return;
	}
	raw_send(c, id, &m);
}

/* ---- alerts ------------------------------------------------------------------------- */

static int
alert_json_row(void *arg, const struct alert_row *r)
{
	struct jw *w = arg;
	struct dm_json *j = &w->j;
	dm_json_obj_begin(j);
	dm_json_key(j, "id");
	dm_json_int(j, r->id);
	dm_json_key(j, "rule");
	dm_json_str(j, r->rule);
	dm_json_key(j, "domain");
	dm_json_str(j, r->domain);
	dm_json_key(j, "subject");
	dm_json_str(j, r->subject);
	dm_json_key(j, "message");
	dm_json_str(j, r->message);
	dm_json_key(j, "opened_at");
	dm_json_int(j, r->opened_at);
	dm_json_key(j, "resolved_at");
	if (r->resolved_at)
		dm_json_int(j, r->resolved_at);
	else
		dm_json_null(j);
	dm_json_obj_end(j);
	return jw_flush(w, 0);
}

/* GET /api/v1/alerts?open=1&limit=N: the scope's alerts, newest first
 * (src/alert/alert.h); the state is the local node's alerts.sqlite. */
static void
h_alerts(struct api_call *c)
{
	unsigned limit, open;
	char err[256];
	if (uint_param(c, "limit", 100, 1, 1000, &limit) != 0 ||
	    uint_param(c, "open", 0, 0, 1, &open) != 0)
		return;
	if (c->t->cfg->data_dir == NULL) {
		api_error(c, 503, "no alerts here");
		return;
	}
	struct jw w;
	jw_init(&w, c);
	json_begin(&w);
	dm_json_key(&w.j, "items");
	dm_json_arr_begin(&w.j);
	int rc = alert_list(c->t->cfg->data_dir, c->scope.account, c->scope.admin, (int)open, limit,
	                    alert_json_row, &w, err, sizeof err);
	dm_json_arr_end(&w.j);
	if (rc)
		dm_log(DM_LOG_ERROR, "http", "alerts: %s", err);
	json_end(&w, rc ? DM_EIO : 0);
	jw_free(&w);
}

/* ---- export ----------------------------------------------------------------------- */

static const char *const csv_columns[] = {"xml_schema",
                                          "org_name",
                                          "org_email",
                                          "org_extra_contact_info",
                                          "report_id",
                                          "begin_date",
                                          "end_date",
                                          "normalized_timespan",
                                          "errors",
                                          "domain",
                                          "adkim",
                                          "aspf",
                                          "p",
                                          "sp",
                                          "pct",
                                          "fo",
                                          "source_ip_address",
                                          "source_country",
                                          "source_reverse_dns",
                                          "source_base_domain",
                                          "source_name",
                                          "source_type",
                                          "count",
                                          "spf_aligned",
                                          "dkim_aligned",
                                          "dmarc_aligned",
                                          "disposition",
                                          "policy_override_reasons",
                                          "policy_override_comments",
                                          "envelope_from",
                                          "header_from",
                                          "envelope_to",
                                          "dkim_domains",
                                          "dkim_selectors",
                                          "dkim_results",
                                          "spf_domains",
                                          "spf_scopes",
                                          "spf_results",
                                          NULL};

struct export_ctx {
	struct jw w; /* the buffer (JSON writer for export.json) */
	int csv;
	int rows;
};

/* One CSV cell: quoted when needed (RFC 4180); a text a spreadsheet would
 * run as a formula is prefixed with an apostrophe. */
static void
csv_cell(struct dm_buf *b, const char *s, int first, int *rc)
{
	if (!first)
		*rc |= dm_buf_addc(b, ',');
	if (s == NULL || !*s)
		return;
	int formula = strchr("=+-@\t\r", s[0]) != NULL;
	int quote = formula || strpbrk(s, ",\"\r\n") != NULL;
	if (quote)
		*rc |= dm_buf_addc(b, '"');
	if (formula)
		*rc |= dm_buf_addc(b, '\'');
	for (const char *p = s; *p; p++) {
		if (*p == '"')
			*rc |= dm_buf_addc(b, '"');
		*rc |= dm_buf_addc(b, *p);
	}
	if (quote)
		*rc |= dm_buf_addc(b, '"');
}

static void
csv_num(struct dm_buf *b, int64_t v, int *rc)
{
	*rc |= dm_buf_printf(b, ",%" PRId64, v);
}

/* Several values of one column joined with '|'. */
static void
join_into(char *out, size_t outlen, const char *const *v, size_t n)
{
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		int w = snprintf(out + o, outlen - o, "%s%s", i ? "|" : "", v[i] ? v[i] : "");
		if (w < 0 || (size_t)w >= outlen - o)
			break;
		o += (size_t)w;
	}
}

static void
time_text(int64_t t, char out[20])
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, 20, "%Y-%m-%d %H:%M:%S", &tm);
}

static const char *
xml_schema(const struct store_report_row *r)
{
	if (r->version != NULL && *r->version)
		return r->version;
	return "draft";
}

static int
export_row(void *arg, const struct store_report_row *r, const struct dm_record *rec)
{
	struct export_ctx *e = arg;
	char ip[DM_IP_TEXT] = "", begin[20], end[20];
	const char *v[DM_MAX_DKIM_RESULTS];
	char reasons[2048], comments[4096], dd[4096], ds[2048], dr[1024], sd[2048], ss[512],
	        sr[512];
	if (rec->ip_family)
		dm_ip_format(rec->ip, ip, sizeof ip);
	time_text(r->begin, begin);
	time_text(r->end, end);
	int spf = rec->spf && strcmp(rec->spf, "pass") == 0;
	int dkim = rec->dkim && strcmp(rec->dkim, "pass") == 0;
	if (!e->csv) {
		struct dm_json *j = &e->w.j;
		dm_json_obj_begin(j);
		dm_json_key(j, "xml_schema");
		dm_json_str(j, xml_schema(r));
		dm_json_key(j, "org_name");
		dm_json_str(j, r->org_name);
		dm_json_key(j, "org_email");
		dm_json_str(j, r->email);
		dm_json_key(j, "org_extra_contact_info");
		dm_json_str(j, r->extra_contact_info);
		dm_json_key(j, "report_id");
		dm_json_str(j, r->report_id);
		dm_json_key(j, "begin_date");
		dm_json_str(j, begin);
		dm_json_key(j, "end_date");
		dm_json_str(j, end);
		dm_json_key(j, "normalized_timespan");
		dm_json_bool(j, 0);
		dm_json_key(j, "errors");
		dm_json_arr_begin(j);
		if (r->report_error)
			dm_json_str(j, r->report_error);
		dm_json_arr_end(j);
		dm_json_key(j, "domain");
		dm_json_str(j, r->policy.domain);
		dm_json_key(j, "adkim");
		dm_json_str(j, r->policy.adkim);
		dm_json_key(j, "aspf");
		dm_json_str(j, r->policy.aspf);
		dm_json_key(j, "p");
		dm_json_str(j, r->policy.p);
		dm_json_key(j, "sp");
		dm_json_str(j, r->policy.sp);
		dm_json_key(j, "pct");
		if (r->policy.pct >= 0)
			dm_json_int(j, r->policy.pct);
		else
			dm_json_null(j);
		dm_json_key(j, "fo");
		dm_json_str(j, r->policy.fo);
		dm_json_key(j, "source_ip_address");
		dm_json_str(j, rec->ip_family ? ip : NULL);
		static const char *const enrich[] = {"source_country", "source_reverse_dns",
		                                     "source_base_domain", "source_name",
		                                     "source_type"};
		for (size_t i = 0; i < sizeof enrich / sizeof enrich[0]; i++) {
			dm_json_key(j, enrich[i]);
			dm_json_null(j);
		}
		dm_json_key(j, "count");
		dm_json_int(j, rec->count);
		dm_json_key(j, "spf_aligned");
		dm_json_bool(j, spf);
		dm_json_key(j, "dkim_aligned");
		dm_json_bool(j, dkim);
		dm_json_key(j, "dmarc_aligned");
		dm_json_bool(j, spf || dkim);
		dm_json_key(j, "disposition");
		dm_json_str(j, rec->disposition);
		dm_json_key(j, "policy_override_reasons");
		dm_json_arr_begin(j);
		for (unsigned i = 0; i < rec->nreasons; i++)
			dm_json_str(j, rec->reasons[i].type);
		dm_json_arr_end(j);
		dm_json_key(j, "policy_override_comments");
		dm_json_arr_begin(j);
		for (unsigned i = 0; i < rec->nreasons; i++)
			dm_json_str(j, rec->reasons[i].comment);
		dm_json_arr_end(j);
		dm_json_key(j, "envelope_from");
		dm_json_str(j, rec->envelope_from);
		dm_json_key(j, "header_from");
		dm_json_str(j, rec->header_from);
		dm_json_key(j, "envelope_to");
		dm_json_str(j, rec->envelope_to);
		static const char *const dk[] = {"dkim_domains", "dkim_selectors", "dkim_results"};
		for (int k = 0; k < 3; k++) {
			dm_json_key(j, dk[k]);
			dm_json_arr_begin(j);
			for (unsigned i = 0; i < rec->ndkim; i++)
				dm_json_str(j, k == 0   ? rec->dkim_res[i].domain
				               : k == 1 ? rec->dkim_res[i].selector
				                        : rec->dkim_res[i].result);
			dm_json_arr_end(j);
		}
		static const char *const sk[] = {"spf_domains", "spf_scopes", "spf_results"};
		for (int k = 0; k < 3; k++) {
			dm_json_key(j, sk[k]);
			dm_json_arr_begin(j);
			for (unsigned i = 0; i < rec->nspf; i++)
				dm_json_str(j, k == 0   ? rec->spf_res[i].domain
				               : k == 1 ? rec->spf_res[i].scope
				                        : rec->spf_res[i].result);
			dm_json_arr_end(j);
		}
		dm_json_obj_end(j);
		e->rows++;
		return jw_flush(&e->w, 0);
	}
	struct dm_buf *b = &e->w.b;
	int rc = 0;
	for (unsigned i = 0; i < rec->nreasons; i++)
		v[i] = rec->reasons[i].type;
	join_into(reasons, sizeof reasons, v, rec->nreasons);
	for (unsigned i = 0; i < rec->nreasons; i++)
		v[i] = rec->reasons[i].comment;
	join_into(comments, sizeof comments, v, rec->nreasons);
	for (unsigned i = 0; i < rec->ndkim; i++)
		v[i] = rec->dkim_res[i].domain;
	join_into(dd, sizeof dd, v, rec->ndkim);
	for (unsigned i = 0; i < rec->ndkim; i++)
		v[i] = rec->dkim_res[i].selector;
	join_into(ds, sizeof ds, v, rec->ndkim);
	for (unsigned i = 0; i < rec->ndkim; i++)
		v[i] = rec->dkim_res[i].result;
	join_into(dr, sizeof dr, v, rec->ndkim);
	for (unsigned i = 0; i < rec->nspf; i++)
		v[i] = rec->spf_res[i].domain;
	join_into(sd, sizeof sd, v, rec->nspf);
	for (unsigned i = 0; i < rec->nspf; i++)
		v[i] = rec->spf_res[i].scope;
	join_into(ss, sizeof ss, v, rec->nspf);
	for (unsigned i = 0; i < rec->nspf; i++)
		v[i] = rec->spf_res[i].result;
	join_into(sr, sizeof sr, v, rec->nspf);
	csv_cell(b, xml_schema(r), 1, &rc);
	csv_cell(b, r->org_name, 0, &rc);
	csv_cell(b, r->email, 0, &rc);
	csv_cell(b, r->extra_contact_info, 0, &rc);
	csv_cell(b, r->report_id, 0, &rc);
	csv_cell(b, begin, 0, &rc);
	csv_cell(b, end, 0, &rc);
	csv_cell(b, "False", 0, &rc);
	csv_cell(b, r->report_error, 0, &rc);
	csv_cell(b, r->policy.domain, 0, &rc);
	csv_cell(b, r->policy.adkim, 0, &rc);
	csv_cell(b, r->policy.aspf, 0, &rc);
	csv_cell(b, r->policy.p, 0, &rc);
	csv_cell(b, r->policy.sp, 0, &rc);
	if (r->policy.pct >= 0)
		csv_num(b, r->policy.pct, &rc);
	else
		csv_cell(b, NULL, 0, &rc);
	csv_cell(b, r->policy.fo, 0, &rc);
	csv_cell(b, ip, 0, &rc);
	for (int i = 0; i < 5; i++) /* enrichment: not yet */
		csv_cell(b, NULL, 0, &rc);
	csv_num(b, rec->count, &rc);
	csv_cell(b, spf ? "True" : "False", 0, &rc);
	csv_cell(b, dkim ? "True" : "False", 0, &rc);
	csv_cell(b, spf || dkim ? "True" : "False", 0, &rc);
	csv_cell(b, rec->disposition, 0, &rc);
	csv_cell(b, reasons, 0, &rc);
	csv_cell(b, comments, 0, &rc);
	csv_cell(b, rec->envelope_from, 0, &rc);
	csv_cell(b, rec->header_from, 0, &rc);
	csv_cell(b, rec->envelope_to, 0, &rc);
	csv_cell(b, dd, 0, &rc);
	csv_cell(b, ds, 0, &rc);
	csv_cell(b, dr, 0, &rc);
	csv_cell(b, sd, 0, &rc);
	csv_cell(b, ss, 0, &rc);
	csv_cell(b, sr, 0, &rc);
	rc |= dm_buf_add(b, "\r\n", 2);
	if (rc)
		return DM_ELIMIT;
	e->rows++;
	return jw_flush(&e->w, 0);
}

static void export(struct api_call *c, int csv)
{
	struct query q;
	if (read_filter(c, &q, 0) != 0)
		return;
	struct export_ctx e = {.csv = csv};
	jw_init(&e.w, c);
	char name[128];
	snprintf(name, sizeof name, "attachment; filename=\"dmarc-aggregate.%s\"",
	         csv ? "csv" : "json");
	out_status(c->out, 200, csv ? "text/csv; charset=utf-8" : "application/json");
	out_header(c->out, "Content-Disposition", name);
	int rc = 0;
	if (csv) {
		for (int i = 0; csv_columns[i]; i++)
			rc |= dm_buf_printf(&e.w.b, "%s%s", i ? "," : "", csv_columns[i]);
		rc |= dm_buf_add(&e.w.b, "\r\n", 2);
	} else {
		dm_json_arr_begin(&e.w.j);
	}
	if (rc == 0)
		rc = store_export(&c->scope, c->t->rd, &q.f, export_row, &e);
	if (rc != 0) {
		if (!out_started(c->out)) {
			dm_buf_reset(&e.w.b);
			store_error(c, rc);
		} else {
			out_abort(c->out);
		}
	} else {
		if (!csv) {
			dm_json_arr_end(&e.w.j);
			rc = dm_buf_addc(&e.w.b, '\n');
		}
		(void)jw_flush(&e.w, 1);
	}
	jw_free(&e.w);
}

static void
h_export_csv(struct api_call *c)
{
	export(c, 1);
}

static void
h_export_json(struct api_call *c)
{
	export(c, 0);
}

/* ---- upload ----------------------------------------------------------------------- */

static void
upload_result(void *arg, const struct ingest_result *r)
{
	struct api_thread *t = arg;
	struct dm_json j;
	dm_json_init(&j, &t->results);
	j.need_comma = t->nresults > 0;
	ingest_result_json(&j, r);
	t->nresults++;
	if (strcmp(r->status, "stored") == 0) {
		dm_metric_add(DM_M_REPORTS_STORED, 1);
		dm_metric_add(DM_M_RECORDS_STORED, (int64_t)r->records);
	} else if (strcmp(r->status, "duplicate") == 0) {
		dm_metric_add(DM_M_REPORTS_DUPLICATE, 1);
	} else if (strcmp(r->status, "empty") == 0) {
		dm_metric_add(DM_M_REPORTS_EMPTY, 1);
	} else if (strcmp(r->status, "ignored") == 0) {
		dm_metric_add(DM_M_REPORTS_IGNORED, 1);
	} else {
		dm_metric_add(dm_metric_reject_reason(r->kind, r->error), 1);
	}
}

static int64_t
upload_account_for(void *arg, const char *policy_domain)
{
	struct api_thread *t = arg;
	if (t->upload_account <= 0 || policy_domain == NULL || t->hooks->upload_account == NULL)
		return 0;
	return t->hooks->upload_account(t->hooks->arg, t->upload_account, policy_domain);
}

static void
h_upload(struct api_call *c)
{
	struct api_thread *t = c->t;
	if (c->body == NULL || evbuffer_get_length(c->body) == 0) {
		api_error(c, 400, "empty body: send the report file or mail as the body");
		return;
	}
	/* into an unlinked file: the pipeline reads files (seeks, re-reads) */
	char tmpl[PATH_MAX];
	snprintf(tmpl, sizeof tmpl, "%s/upload-XXXXXX", t->cfg->tmp_dir);
	int fd = mkostemp(tmpl, O_CLOEXEC);
	if (fd >= 0) {
		unlink(tmpl);
		while (evbuffer_get_length(c->body) > 0)
			if (evbuffer_write(c->body, fd) < 0) {
				close(fd);
				fd = -1;
				break;
			}
	}
	if (fd < 0) {
		dm_log(DM_LOG_ERROR, "http", "cannot keep an upload in %s: %s", t->cfg->tmp_dir,
		       strerror(errno));
		api_error(c, 503, "cannot keep the upload");
		return;
	}
	if (t->job == NULL) {
		struct ingest_env env = {
		        .store = t->cfg->store,
		        .archive = t->cfg->archive,
		        .tmp_dir = t->cfg->tmp_dir,
		        .data_dir = t->cfg->data_dir,
		        .failure_redact = t->cfg->failure_redact,
		        .on_result = upload_result,
		        .arg = t,
		        .account_for = upload_account_for,
		};
		t->job = ingest_job_new(&env);
	}
	dm_buf_reset(&t->results);
	t->nresults = 0;
	t->upload_account = c->scope.admin ? 0 : c->scope.account;
	int rc = ingest_fd(t->job, fd, "upload", 0);
	close(fd);
	char why[DM_MAX_ERROR_LEN] = "";
	if (rc == 0 && (rc = store_sync(t->cfg->store, why, sizeof why)) == 0 &&
	    (rc = archive_sync(t->cfg->archive)) != 0)
		snprintf(why, sizeof why, "archive: %s", dm_strerror(rc));
	if (rc != 0) {
		/* not durable: the client must send it again (a second copy is
		 * recognised as a duplicate) */
		const char *e = why[0] ? why : ingest_job_error(t->job);
		char esc[DM_MAX_ERROR_LEN];
		dm_log_escape(esc, sizeof esc, e, strlen(e));
		dm_log(DM_LOG_ERROR, "http", "upload not stored: %s", esc);
		api_error(c, 503, "not stored: the store failed; send it again later");
		return;
	}
	struct dm_buf b;
	dm_buf_init(&b, t->results.max + 64);
	int e = dm_buf_printf(&b, "{\"results\":[%s]}\n", dm_buf_str(&t->results));
	out_status(c->out, 200, "application/json");
	if (e == 0)
		(void)out_write(c->out, b.data, b.len);
	else
		api_error(c, 503, "answer too large");
	dm_buf_free(&b);
}

/* ---- health ----------------------------------------------------------------------- */

void
api_healthz(struct api_call *c)
{
	if (c->t->rd == NULL || store_reader_ping(c->t->rd) != 0) {
		out_status(c->out, 503, "text/plain");
		(void)out_write(c->out, "store unavailable\n", 18);
		return;
	}
	out_status(c->out, 200, "text/plain");
	(void)out_write(c->out, "ok\n", 3);
}

/* ---- routes and threads ----------------------------------------------------------------- */

static const char *const p_none[] = {NULL};
static const char *const p_range[] = {"domain", "from", "to", NULL};
static const char *const p_tls_reports[] = {"domain", "from", "to", "limit", "offset", NULL};
static const char *const p_alerts[] = {"open", "limit", NULL};
static const char *const p_failures[] = {"domain", "from", "to", "ip", "limit", "offset", NULL};
static const char *const p_advice[] = {"domain", "days", NULL};
static const char *const p_dns[] = {"domain", "selector", NULL};
static const char *const p_record[] = {"domain", "p", "sp", "np", "adkim", "aspf", "fo", "t", NULL};
static const char *const p_sources[] = {"domain", "from", "to", "sort", "limit", "offset", NULL};
static const char *const p_reports[] = {"domain", "from",   "to", "reporter",
                                        "limit",  "offset", NULL};
static const char *const p_export[] = {"domain", "from", "to", "reporter", NULL};

static size_t our_addresses(struct api_call *c, const char *dom,
                            char addr[][DM_REGISTRY_MAX_ADDRESS + 1]);

/* GET /api/v1/advice?domain=D&days=N: the rollout advice of the domain
 * from its records of the last N days (default 30) in scope; the record
 * carries the domain's report addresses of the caller's account. */
static void
h_advice(struct api_call *c)
{
	char dom[DM_MAX_DOMAIN_LEN + 1];
	if (lower_param(c, "domain", DM_MAX_DOMAIN_LEN, dom, sizeof dom) != 0)
		return;
	if (!dom[0]) {
		(void)bad_param(c, "domain", "a domain name (required)");
		return;
	}
	long days = 30;
	const char *d = param(c, "days");
	if (d) {
		char *end;
		days = strtol(d, &end, 10);
		if (*d == '\0' || *end || days < 1 || days > 3660) {
			(void)bad_param(c, "days", "1 to 3660");
			return;
		}
	}
	int64_t today = (int64_t)time(NULL) / DAY * DAY;
	struct store_filter f = {.domain = dom, .from = today - (days - 1) * DAY, .to = today};
	struct dm_advisor *adv = dm_advisor_new(dom, f.from, today);
	int rc = store_export(&c->scope, c->t->rd, &f, dm_advisor_add, adv);
	if (rc == 0 && dm_advisor_reports(adv) == 0)
		rc = DM_ENOTFOUND;
	char addr[DM_DMARC_MAX_URIS][DM_REGISTRY_MAX_ADDRESS + 1];
	const char *rua[DM_DMARC_MAX_URIS];
	size_t n = 0;
	if (rc == 0)
		n = our_addresses(c, dom, addr);
	for (size_t i = 0; i < n; i++)
		rua[i] = addr[i];
	if (rc == 0 && dm_advisor_finish(adv, c->t->rd, c->t->cfg->services, rua, n) != 0)
		rc = DM_ESTORE;
	if (rc) {
		dm_advisor_free(adv);
		store_error(c, rc);
		return;
	}
	struct jw w;
	jw_init(&w, c);
	out_status(c->out, 200, "application/json");
	dm_advisor_json(adv, &w.j);
	dm_advisor_free(adv);
	if (dm_buf_addc(&w.b, '\n') != 0 || w.j.rc != 0)
		api_error(c, 503, "answer too large");
	else
		(void)jw_flush(&w, 1);
	jw_free(&w);
}

/* The domain's report addresses of the caller's account (any account's
 * for an admin token), at most DM_DMARC_MAX_URIS: their number. */
static size_t
our_addresses(struct api_call *c, const char *dom, char addr[][DM_REGISTRY_MAX_ADDRESS + 1])
{
	if (!c->t->hooks || !c->t->hooks->domain_addresses)
		return 0;
	return c->t->hooks->domain_addresses(c->t->hooks->arg, c->scope.admin ? 0 : c->scope.account,
	                                     dom, addr, DM_DMARC_MAX_URIS);
}

/* The domain parameter (required, lower case) of a domain the caller has
 * reports of; else the error is answered (404 when not in scope: a
 * tenant never learns of another's domains).  0 or -1. */
static int
scoped_domain(struct api_call *c, char dom[DM_MAX_DOMAIN_LEN + 1])
{
	if (lower_param(c, "domain", DM_MAX_DOMAIN_LEN, dom, DM_MAX_DOMAIN_LEN + 1) != 0)
		return -1;
	if (!dom[0])
		return bad_param(c, "domain", "a domain name (required)");
	struct store_filter f = {.domain = dom, .from = STORE_OPEN, .to = STORE_OPEN};
	uint64_t reports = 0;
	struct store_counts t;
	int rc = store_summary(&c->scope, c->t->rd, &f, &reports, &t);
	if (rc) {
		store_error(c, rc);
		return -1;
	}
	return 0;
}

/* GET /api/v1/dns?domain=D[&selector=S]: `dmarcd record check` of a
 * domain in scope, from the DNS (the configured resolver), with the DKIM
 * selectors of its reports of the last DM_CHECK_SEEN_DAYS days.  It runs
 * on this query thread (its own c-ares channel, never the loop) and ends
 * within DM_CHECK_DEADLINE_MS. */
static void
h_dns(struct api_call *c)
{
	char dom[DM_MAX_DOMAIN_LEN + 1], name[DM_CHECK_NAME], err[512] = "";
	if (scoped_domain(c, dom) != 0)
		return;
	if (dm_check_domain_name(dom, name, err, sizeof err) != 0) {
		(void)bad_param(c, "domain", "a domain name");
		return;
	}
	struct dm_check_args ca;
	memset(&ca, 0, sizeof ca);
	ca.domain = name;
	const char *sel = param(c, "selector");
	if (sel && *sel)
		ca.selectors[ca.nselectors++] = sel;
	char seen[DM_CHECK_MAX_SELECTORS][64];
	size_t nseen = 0;
	if (dm_check_seen_selectors(c->t->rd, &c->scope, name, DM_CHECK_SEEN_DAYS, seen, &nseen) !=
	    0)
		nseen = 0;
	for (size_t i = 0; i < nseen && ca.nselectors < DM_CHECK_MAX_SELECTORS; i++)
		if (!(sel && strcasecmp(sel, seen[i]) == 0))
			ca.selectors[ca.nselectors++] = seen[i];
	char addr[DM_DMARC_MAX_URIS][DM_REGISTRY_MAX_ADDRESS + 1];
	size_t n = our_addresses(c, name, addr);
	for (size_t i = 0; i < n; i++)
		ca.ours[ca.nours++] = addr[i];
	const struct http_config *cfg = c->t->cfg;
	struct dm_resolver *r = dm_resolver_new(cfg->resolver ? cfg->resolver : "",
	                                        cfg->dns_timeout_ms > 0 ? cfg->dns_timeout_ms : 2000,
	                                        NULL, err, sizeof err);
	if (!r) {
		dm_log(DM_LOG_ERROR, "http", "record check: %s", err);
		api_error(c, 503, "the DNS cannot be asked");
		return;
	}
	struct dm_check *chk = xcalloc(1, sizeof *chk);
	dm_check_run(r, &ca, chk);
	dm_resolver_free(r);
	struct jw w;
	jw_init(&w, c);
	out_status(c->out, 200, "application/json");
	dm_check_json(chk, &w.j);
	dm_check_free(chk);
	free(chk);
	if (dm_buf_addc(&w.b, '\n') != 0 || w.j.rc != 0)
		api_error(c, 503, "answer too large");
	else
		(void)jw_flush(&w, 1);
	jw_free(&w);
}

/* GET /api/v1/record?domain=D&p=&sp=&np=&adkim=&aspf=&fo=&t=: the record
 * `dmarcd record generate` makes for a domain in scope, with the caller's
 * report addresses as rua, read back tag by tag (its findings). */
static void
h_record(struct api_call *c)
{
	char dom[DM_MAX_DOMAIN_LEN + 1];
	if (scoped_domain(c, dom) != 0)
		return;
	static const char *const keys[] = {"p", "sp", "np", "adkim", "aspf", "fo"};
	static const char *const allowed[] = {"none quarantine reject", "none quarantine reject",
	                                      "none quarantine reject", "r s", "r s", NULL};
	const char *v[6];
	for (int i = 0; i < 6; i++) {
		v[i] = param(c, keys[i]);
		if (v[i] && !*v[i])
			v[i] = NULL;
		if (!v[i] || !allowed[i])
			continue;
		/* one word of the list */
		const char *a = allowed[i];
		size_t len = strlen(v[i]);
		int ok = 0;
		for (const char *p = a; *p; p += strcspn(p, " "), p += *p == ' ') {
			size_t w = strcspn(p, " ");
			ok |= w == len && strncmp(p, v[i], len) == 0;
		}
		if (!ok) {
			(void)bad_param(c, keys[i], allowed[i]);
			return;
		}
	}
	if (v[5] && (strlen(v[5]) > 16 || strspn(v[5], "01ds:") != strlen(v[5]))) {
		(void)bad_param(c, "fo", "0, 1, d, s joined by ':'");
		return;
	}
	const char *t = param(c, "t");
	if (t && *t && strcmp(t, "y") != 0 && strcmp(t, "n") != 0) {
		(void)bad_param(c, "t", "y or n");
		return;
	}
	struct dm_dmarc_wish w;
	memset(&w, 0, sizeof w);
	w.p = v[0] ? v[0] : "none";
	w.sp = v[1];
	w.np = v[2];
	w.adkim = v[3];
	w.aspf = v[4];
	w.fo = v[5];
	w.testing = t && strcmp(t, "y") == 0;
	char addr[DM_DMARC_MAX_URIS][DM_REGISTRY_MAX_ADDRESS + 1];
	size_t n = our_addresses(c, dom, addr);
	for (size_t i = 0; i < n; i++)
		w.rua[w.nrua++] = addr[i];
	char text[DM_DMARC_MAX_RECORD + 1], zone[2 * DM_DMARC_MAX_RECORD];
	if (dm_dmarc_record_generate(&w, text, sizeof text) != 0 ||
	    dm_txt_zone_strings(text, zone, sizeof zone) != 0) {
		api_error(c, 400, "the record would be too long");
		return;
	}
	struct dm_dmarc_record *r = xcalloc(1, sizeof *r);
	dm_dmarc_record_parse(text, strlen(text), r);
	struct jw jw;
	jw_init(&jw, c);
	json_begin(&jw);
	dm_json_key(&jw.j, "domain");
	dm_json_str(&jw.j, dom);
	dm_json_key(&jw.j, "name");
	char at[DM_MAX_DOMAIN_LEN + 8];
	snprintf(at, sizeof at, "_dmarc.%s", dom);
	dm_json_str(&jw.j, at);
	dm_json_key(&jw.j, "record");
	dm_json_str(&jw.j, text);
	dm_json_key(&jw.j, "zone");
	dm_json_str(&jw.j, zone);
	dm_json_key(&jw.j, "parsed");
	dm_dmarc_record_json(r, &jw.j);
	free(r);
	json_end(&jw, 0);
	jw_free(&jw);
}

static const struct api_route routes[] = {
        {"/api/v1/domains", NULL, API_GET, h_domains, NULL, p_none},
        {"/api/v1/summary", NULL, API_GET, h_summary, NULL, p_range},
        {"/api/v1/timeseries", NULL, API_GET, h_timeseries, NULL, p_range},
        {"/api/v1/sources", NULL, API_GET, h_sources, NULL, p_sources},
        {"/api/v1/sources/", "", API_GET, h_source, NULL, p_range},
        {"/api/v1/reporters", NULL, API_GET, h_reporters, NULL, p_range},
        {"/api/v1/advice", NULL, API_GET, h_advice, NULL, p_advice},
        {"/api/v1/dns", NULL, API_GET, h_dns, NULL, p_dns},
        {"/api/v1/record", NULL, API_GET, h_record, NULL, p_record},
        {"/api/v1/reports", NULL, API_GET | API_POST, h_reports, h_upload, p_reports},
        {"/api/v1/reports/", "", API_GET, h_report, NULL, p_none},
        {"/api/v1/reports/", "/raw", API_GET, h_report_raw, NULL, p_none},
        {"/api/v1/tls", NULL, API_GET, h_tls, NULL, p_range},
        {"/api/v1/tls/domains", NULL, API_GET, h_tls_domains, NULL, p_none},
        {"/api/v1/tls/reports", NULL, API_GET, h_tls_reports, NULL, p_tls_reports},
        {"/api/v1/tls/reports/", "", API_GET, h_tls_report, NULL, p_none},
        {"/api/v1/tls/reports/", "/raw", API_GET, h_tls_report_raw, NULL, p_none},
        {"/api/v1/alerts", NULL, API_GET, h_alerts, NULL, p_alerts},
        {"/api/v1/failures", NULL, API_GET, h_failures, NULL, p_failures},
        {"/api/v1/failures/", "", API_GET, h_failure, NULL, p_none},
        {"/api/v1/failures/", "/raw", API_GET, h_failure_raw, NULL, p_none},
        {"/api/v1/export.csv", NULL, API_GET, h_export_csv, NULL, p_export},
        {"/api/v1/export.json", NULL, API_GET, h_export_json, NULL, p_export},
};

const struct api_route *
api_route_find(const char *path, const char **arg, size_t *arglen)
{
	*arg = NULL;
	*arglen = 0;
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
		const struct api_route *r = &routes[i];
		if (r->after == NULL) {
			if (strcmp(path, r->path) == 0)
				return r;
			continue;
		}
		size_t pl = strlen(r->path);
		if (strncmp(path, r->path, pl) != 0)
			continue;
		const char *a = path + pl;
		size_t n = strcspn(a, "/");
		if (n == 0 || n > DM_HTTP_MAX_PARAM || strcmp(a + n, r->after) != 0)
			continue;
		*arg = a;
		*arglen = n;
		return r;
	}
	return NULL;
}

int
api_thread_init(struct api_thread *t, const struct http_config *cfg, const struct http_hooks *hooks,
                char *err, size_t errlen)
{
	memset(t, 0, sizeof *t);
	t->cfg = cfg;
	t->hooks = hooks;
	/* the answer to one upload: a zip of 16 reports, or an mbox */
	dm_buf_init(&t->results, 8 * 1024 * 1024);
	t->rd = store_reader_open(cfg->store, err, errlen);
	return t->rd != NULL ? 0 : DM_ESTORE;
}

void
api_thread_free(struct api_thread *t)
{
	store_reader_close(t->rd);
	ingest_job_free(t->job);
	dm_buf_free(&t->results);
	t->rd = NULL;
	t->job = NULL;
}
