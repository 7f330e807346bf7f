/*
 * serve.h - `dmarcd serve`: intake, spool and workers in one process.
 */
#ifndef DM_SERVE_H
#define DM_SERVE_H

#include <stddef.h>

#include "common/err.h"
#include "core/config.h"

struct serve_options {
	const struct dm_config *cfg;
	const char *const *smtp; /* listen addresses (none: no SMTP) */
	size_t nsmtp;
	const char *lmtp; /* LMTP socket path or NULL */
	const char *const *http; /* HTTP listen addresses (none: no HTTP) */
	size_t nhttp;
	unsigned workers; /* >= 1 */
};

/* Run until SIGTERM or SIGINT.  Returns 0 after a clean stop, or a
 * negative code (with err) when it could not start. */
int serve_run(const struct serve_options *o, char *err, size_t errlen) DM_WUR;

#endif
