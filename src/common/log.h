/*
 * log.h - one line per event on stderr, grep-able by message.
 *
 * Lines read "dmarcd: <component>: <message>" on stderr.  Once
 * dm_log_reopen() sent them to a file (log_file), each line starts with
 * the UTC time and the process id instead, as a log file needs:
 * "2026-12-06T12:00:00.123Z dmarcd[4242]: <component>: <message>".
 * Text that came from the outside world is passed through dm_log_escape()
 * first so a report cannot write terminal escapes or fake log lines.  The
 * log level is process-wide (one of the few named globals, STYLE.md
 * habit 10).
 */
#ifndef DM_LOG_H
#define DM_LOG_H

#include <stddef.h>

#include "err.h"

/* DM_LOG_NOTICE: what the operator is always told (ready, stopping,
 * reloaded), whatever log_level says. */
enum dm_log_level { DM_LOG_NOTICE, DM_LOG_ERROR, DM_LOG_WARN, DM_LOG_INFO, DM_LOG_DEBUG };

void dm_log_set_level(enum dm_log_level level);
void dm_log(enum dm_log_level level, const char *component, const char *fmt, ...)
	DM_PRINTF(3, 4);

/* Send stderr (and so every log line) to path, appending; called again
 * after the file was rotated away, it starts a new one. */
int dm_log_reopen(const char *path) DM_WUR;

/* Copy at most out_len-1 bytes of in (in_len bytes) to out, replacing
 * control characters, backslash and bytes >= 0x7f with \xNN, and cutting
 * the result short with "..." when it does not fit. */
void dm_log_escape(char *out, size_t out_len, const char *in, size_t in_len);

#endif
