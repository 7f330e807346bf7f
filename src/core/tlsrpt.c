/*
 * tlsrpt.c - helpers for the TLS report model.
 *
 * Functions: dm_tls_report_init, dm_tls_report_reset, dm_tls_report_free,
 * dm_tls_report_warn, dm_tls_report_claimable.  The same shape as the
 * aggregate report's helpers (report.c): one arena owns every string,
 * warnings are kept once each, up to DM_MAX_WARNINGS, then counted.
 */
#include "tlsrpt.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void
dm_tls_report_init(struct dm_tls_report *r)
{
	memset(r, 0, sizeof *r);
	dm_arena_init(&r->arena);
}

void
dm_tls_report_reset(struct dm_tls_report *r)
{
	struct dm_arena a = r->arena;
	dm_arena_reset(&a);
	memset(r, 0, sizeof *r);
	r->arena = a;
}

void
dm_tls_report_free(struct dm_tls_report *r)
{
	dm_arena_free(&r->arena);
	memset(r, 0, sizeof *r);
}

void
dm_tls_report_warn(struct dm_tls_report *r, const char *fmt, ...)
{
	char msg[DM_MAX_ERROR_LEN];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* the same warning once per report is enough */
	for (unsigned i = 0; i < r->nwarnings; i++)
		if (strcmp(r->warnings[i], msg) == 0)
			return;
	if (r->nwarnings >= DM_MAX_WARNINGS) {
		r->warnings_dropped++;
		return;
	}
	r->warnings[r->nwarnings++] = dm_arena_strndup(&r->arena, msg, strlen(msg));
}

int
dm_tls_report_claimable(const struct dm_tls_report *r)
{
	return r->have_begin && r->have_end && r->report_id && *r->report_id && r->org_name &&
	       *r->org_name;
}
