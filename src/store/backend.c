/*
 * backend.c - the write-side pieces the store backends share.
 *
 * Functions: backend_text, backend_field, backend_reporter,
 * backend_record_json, backend_warnings_json, backend_merge,
 * backend_src_days.
 */
#include "store/backend.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "common/json.h"

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
