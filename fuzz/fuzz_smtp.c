/*
 * fuzz_smtp.c - libFuzzer target for what an SMTP client sends: the DATA
 * scanner and the MAIL/RCPT path parser (smtp_parse.c).
 *
 * Input: byte 0 picks a chunk size; byte 1 is how many of the remaining
 * bytes (times 4) are DATA, the rest is one command argument.
 *
 * The scanner is checked against a reference written here byte by byte,
 * from RFC 5321 4.5.2 and our rule that only CRLF "." CRLF ends a message:
 * fed in chunks of any size it must give the same text and stop at the
 * same byte.  The path parser must return a path inside its argument,
 * within DM_SMTP_MAX_ADDRESS, of printable characters only.  A mismatch
 * aborts (a crash for libFuzzer, a failure for the replay test).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/limits.h"
#include "smtp/smtp_parse.h"

#define TERM "\r\n.\r\n"

struct out {
	char *p;
	size_t n, cap;
};

static void
put(void *arg, const char *p, size_t n)
{
	struct out *o = arg;
	if (o->cap - o->n < n)
		abort(); /* more text than input: impossible */
	memcpy(o->p + o->n, p, n);
	o->n += n;
}

/* The reference: returns the bytes consumed (through the terminator). */
static size_t
reference(const char *in, size_t n, struct out *o)
{
	int bol = 1;
	size_t i = 0;
	while (i < n) {
		if (bol && in[i] == '.') {
			if (n - i >= 3 && in[i + 1] == '\r' && in[i + 2] == '\n')
				return i + 3;
			i++; /* a stuffing dot */
			bol = 0;
			continue;
		}
		bol = 0;
		if (in[i] == '\r' && n - i >= 2 && in[i + 1] == '\n') {
			put(o, "\r\n", 2);
			i += 2;
			bol = 1;
			continue;
		}
		put(o, in + i, 1);
		i++;
	}
	abort(); /* the input always ends with the terminator */
}

static void
check_data(const uint8_t *data, size_t size, size_t chunk)
{
	/* the message text, then a terminator, so both sides end */
	size_t n = size + sizeof TERM - 1;
	char *in = malloc(n + 8);
	memcpy(in, data, size);
	memcpy(in + size, TERM, sizeof TERM - 1);
	memcpy(in + n, "trailing", 8); /* after the end: never consumed */

	struct out want = {malloc(n), 0, n}, got = {malloc(n), 0, n};
	size_t want_used = reference(in, n, &want);

	struct smtp_data_scan sc;
	smtp_data_scan_init(&sc, put, &got);
	size_t used = 0;
	int end = 0;
	while (!end) {
		size_t left = n + 8 - used;
		size_t take = left < chunk ? left : chunk;
		if (take == 0)
			abort(); /* ran past the terminator */
		size_t u = smtp_data_scan(&sc, in + used, take, &end);
		if (u > take || (!end && u != take))
			abort();
		used += u;
	}
	if (used != want_used || got.n != want.n || memcmp(got.p, want.p, got.n) != 0 ||
	    sc.long_line)
		abort();
	free(in);
	free(want.p);
	free(got.p);
}

static void
check_path(const uint8_t *data, size_t size, const char *kw)
{
	char *arg = malloc(size + 1);
	memcpy(arg, data, size);
	arg[size] = '\0';
	char *path = NULL, *params = NULL;
	if (smtp_parse_path(arg, kw, &path, &params) == 0) {
		if (path < arg || path > arg + size || params < arg || params > arg + size)
			abort();
		size_t len = strlen(path);
		if (len > DM_SMTP_MAX_ADDRESS)
			abort();
		for (size_t i = 0; i < len; i++)
			if ((unsigned char)path[i] < 0x21 || path[i] == 0x7f)
				abort();
		if (*params == ' ')
			abort();
	}
	free(arg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t chunk = (size_t)data[0] % 17 + 1;
	size_t ndata = (size_t)data[1] * 4;
	data += 2;
	size -= 2;
	if (ndata > size)
		ndata = size;
	check_data(data, ndata, chunk);
	check_data(data, ndata, 65536);
	check_path(data + ndata, size - ndata, "FROM:");
	check_path(data + ndata, size - ndata, "TO:");
	return 0;
}
