/*
 * day.h - days as the API and the command line write them: YYYY-MM-DD,
 * UTC, to and from the Unix time of their 00:00.
 */
#ifndef DM_COMMON_DAY_H
#define DM_COMMON_DAY_H

#include <stdint.h>

/* YYYY-MM-DD (a real date, 1970 or later) into the Unix time of its
 * 00:00 UTC.  0, or -1 when it is not one. */
int dm_parse_day(const char *s, int64_t *day);
/* The UTC day of t as YYYY-MM-DD. */
void dm_format_day(int64_t t, char out[11]);

#endif
