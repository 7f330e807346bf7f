/*
 * config.h - the configuration table and file.
 *
 * One row per option (name, type, default, range, help), so the file
 * parser, `dmarcd config check` and the documentation come from the same
 * place (STYLE.md habit 8).  The file is "name = value" lines with #
 * comments; errors say "file:line: ...".  Command-line flags override it.
 */
#ifndef DM_CONFIG_H
#define DM_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdio.h>

#include "common/err.h"

struct dm_config {
	char data_dir[PATH_MAX - 256];
	char store[32];
	char archive[32];
	char log_level[16];
};

enum dm_config_type { DM_CFG_STR, DM_CFG_ENUM };

struct dm_config_opt {
	const char *name;
	enum dm_config_type type;
	const char *def;
	const char *choices; /* "a|b|c" for DM_CFG_ENUM */
	size_t off, size;
	const char *help;
};

extern const struct dm_config_opt dm_config_table[];

void dm_config_defaults(struct dm_config *c);
/* Load path over the current values. */
int dm_config_load(struct dm_config *c, const char *path, char *err, size_t errlen) DM_WUR;
/* Set one option by name (used by the file parser and by flags). */
int dm_config_set(struct dm_config *c, const char *name, const char *value, char *err,
		  size_t errlen) DM_WUR;
void dm_config_write(const struct dm_config *c, FILE *out);
void dm_config_help(FILE *out);

#endif
