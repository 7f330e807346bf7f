/*
 * config.c - configuration table, defaults and "name = value" files.
 *
 * Functions: dm_config_defaults, dm_config_load, dm_config_set,
 * dm_config_write, dm_config_help.  Reports errors as "file:line: text".
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/limits.h"

#define OPT(field) offsetof(struct dm_config, field), sizeof(((struct dm_config *)0)->field)

const struct dm_config_opt dm_config_table[] = {
	{"data_dir", DM_CFG_STR, "./var", NULL, OPT(data_dir),
	 "folder holding the store, the archive and the spool"},
	{"store", DM_CFG_ENUM, "sqlite", "sqlite", OPT(store),
	 "analytics store backend (sqlite: <data_dir>/dmarcd.sqlite)"},
	{"archive", DM_CFG_ENUM, "fs", "fs", OPT(archive),
	 "raw report archive backend (fs: <data_dir>/archive/)"},
	{"log_level", DM_CFG_ENUM, "warn", "error|warn|info|debug", OPT(log_level),
	 "how much dmarcd logs on stderr"},
	{NULL, 0, NULL, NULL, 0, 0, NULL},
};

static int
choice_ok(const char *choices, const char *v)
{
	size_t n = strlen(v);
	const char *p = choices;
	while (*p) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		if (len == n && strncmp(p, v, n) == 0)
			return 1;
		if (!bar)
			break;
		p = bar + 1;
	}
	return 0;
}

int
dm_config_set(struct dm_config *c, const char *name, const char *value, char *err, size_t errlen)
{
	for (const struct dm_config_opt *o = dm_config_table; o->name; o++) {
		if (strcmp(o->name, name) != 0)
			continue;
		if (o->type == DM_CFG_ENUM && !choice_ok(o->choices, value)) {
			snprintf(err, errlen, "%s: '%s' is not one of %s", name, value, o->choices);
			return DM_EUSAGE;
		}
		size_t n = strlen(value);
		if (n == 0 || n >= o->size) {
			snprintf(err, errlen, "%s: value empty or too long", name);
			return DM_EUSAGE;
		}
		memcpy((char *)c + o->off, value, n + 1);
		return 0;
	}
	snprintf(err, errlen, "unknown option '%s'", name);
	return DM_EUSAGE;
}

void
dm_config_defaults(struct dm_config *c)
{
	char err[128];
	memset(c, 0, sizeof *c);
	for (const struct dm_config_opt *o = dm_config_table; o->name; o++)
		if (dm_config_set(c, o->name, o->def, err, sizeof err) != 0)
			abort(); /* a bad default is a bug */
}

static char *
trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

int
dm_config_load(struct dm_config *c, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return DM_EUSAGE;
	}
	char line[DM_MAX_CONFIG_LINE];
	unsigned lineno = 0;
	long total = 0;
	int rc = 0;
	while (fgets(line, sizeof line, f)) {
		lineno++;
		size_t n = strlen(line);
		total += (long)n;
		if (total > DM_MAX_CONFIG_BYTES) {
			snprintf(err, errlen, "%s:%u: file too large", path, lineno);
			rc = DM_EUSAGE;
			break;
		}
		if (n == sizeof line - 1 && line[n - 1] != '\n') {
			snprintf(err, errlen, "%s:%u: line too long", path, lineno);
			rc = DM_EUSAGE;
			break;
		}
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *s = trim(line);
		if (!*s)
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			snprintf(err, errlen, "%s:%u: expected 'name = value'", path, lineno);
			rc = DM_EUSAGE;
			break;
		}
		*eq = '\0';
		char msg[256];
		if (dm_config_set(c, trim(s), trim(eq + 1), msg, sizeof msg) != 0) {
			snprintf(err, errlen, "%s:%u: %s", path, lineno, msg);
			rc = DM_EUSAGE;
			break;
		}
	}
	fclose(f);
	return rc;
}

void
dm_config_write(const struct dm_config *c, FILE *out)
{
	for (const struct dm_config_opt *o = dm_config_table; o->name; o++)
		fprintf(out, "%s = %s\n", o->name, (const char *)c + o->off);
}

void
dm_config_help(FILE *out)
{
	for (const struct dm_config_opt *o = dm_config_table; o->name; o++) {
		fprintf(out, "  %-12s %s (default: %s", o->name, o->help, o->def);
		if (o->choices)
			fprintf(out, "; one of %s", o->choices);
		fprintf(out, ")\n");
	}
}
