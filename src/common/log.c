/*
 * log.c - the process-wide logger.
 *
 * Functions: dm_log_set_level, dm_log, dm_log_escape, dm_log_reopen.
 * Lines go to stderr; dm_log_reopen() points stderr at a file (and again
 * at a new file of the same name after log rotation), after which every
 * line carries its time and process id.  One fprintf per line: stdio
 * locks the stream, so lines of two threads never interleave.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"

static enum dm_log_level log_level = DM_LOG_WARN;
/* stderr is a log file (dm_log_reopen was called): stamp the lines */
static int log_stamped;

void
dm_log_set_level(enum dm_log_level level)
{
	log_level = level;
}

void
dm_log(enum dm_log_level level, const char *component, const char *fmt, ...)
{
	if (level > log_level)
		return;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (!__atomic_load_n(&log_stamped, __ATOMIC_RELAXED)) {
		fprintf(stderr, "dmarcd: %s: %s\n", component, line);
		return;
	}
	struct timespec ts;
	struct tm tm;
	char when[32];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ dmarcd[%ld]: %s: %s\n", when, ts.tv_nsec / 1000000L,
		(long)getpid(), component, line);
}

int
dm_log_reopen(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return dm_errno_code(errno);
	fflush(stderr);
	int rc = dup2(fd, STDERR_FILENO) < 0 ? dm_errno_code(errno) : 0;
	close(fd);
	if (rc == 0)
		__atomic_store_n(&log_stamped, 1, __ATOMIC_RELAXED);
	return rc;
}

void
dm_log_escape(char *out, size_t out_len, const char *in, size_t in_len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	if (out_len == 0)
		return;
	for (size_t i = 0; i < in_len; i++) {
		unsigned char c = (unsigned char)in[i];
		int plain = c >= 0x20 && c < 0x7f && c != '\\';
		size_t need = plain ? 1 : 4;
		if (out_len - o <= need + 3) {
			/* not enough room for this byte and an ellipsis */
			if (out_len - o > 3) {
				out[o++] = '.';
				out[o++] = '.';
				out[o++] = '.';
			}
			break;
		}
		if (plain) {
			out[o++] = (char)c;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
}
