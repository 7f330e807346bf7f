/*
 * fuzz_config.c - libFuzzer target for the configuration file parser
 * (dm_config_read, the body of dm_config_load).
 *
 * Checked after every input, accepted or not: each option is still a
 * NUL-terminated string within its field; after an accepted file every
 * integer option lies in its range and every enum option is one of its
 * choices.  A violation aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

static void
check(const struct dm_config *c, int accepted)
{
	for (const struct dm_config_opt *o = dm_config_table; o->name; o++) {
		const char *v = (const char *)c + o->off;
		if (memchr(v, '\0', o->size) == NULL)
			abort();
		if (!accepted || o->type != DM_CFG_INT)
			continue;
		char *end;
		long lo = strtol(o->choices, &end, 10), hi = strtol(end + 2, NULL, 10);
		long x = dm_config_int(v);
		if (x < lo || x > hi)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dm_config c;
	char err[512];
	if (size == 0)
		return 0;
	FILE *f = fmemopen((void *)data, size, "r");
	if (f == NULL)
		return 0;
	dm_config_defaults(&c);
	int rc = dm_config_read(&c, f, "fuzz.conf", err, sizeof err);
	fclose(f);
	if (rc != 0 && memchr(err, '\0', sizeof err) == NULL)
		abort();
	check(&c, rc == 0);
	return 0;
}
