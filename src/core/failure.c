/*
 * failure.c - helpers for the failure-report model.
 *
 * Functions: dm_failure_init, dm_failure_free, dm_failure_reset,
 * dm_failure_warn.  Logs nothing.
 */
#include "failure.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void
blank(struct dm_failure_report *r)
{
	struct dm_arena a = r->arena;
	memset(r, 0, sizeof *r);
	r->arena = a;
	r->incidents = -1;
	r->source_ip_text = "";
}

void
dm_failure_init(struct dm_failure_report *r)
{
	memset(r, 0, sizeof *r);
	dm_arena_init(&r->arena);
	blank(r);
}

void
dm_failure_reset(struct dm_failure_report *r)
{
	dm_arena_reset(&r->arena);
	blank(r);
}

void
dm_failure_free(struct dm_failure_report *r)
{
	dm_arena_free(&r->arena);
	memset(r, 0, sizeof *r);
}

void
dm_failure_warn(struct dm_failure_report *r, const char *fmt, ...)
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
	for (unsigned i = 0; i < r->nwarnings; i++)
		if (strcmp(r->warnings[i], msg) == 0)
			return;
	r->warnings[r->nwarnings++] = dm_arena_strndup(&r->arena, msg, strlen(msg));
}
