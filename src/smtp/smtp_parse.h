/*
 * smtp_parse.h - the parts of an SMTP session that read the client's
 * bytes, kept apart from sockets and events so that unit tests and fuzzers
 * reach them directly: the DATA scanner and the MAIL/RCPT path parser.
 */
#ifndef DM_SMTP_PARSE_H
#define DM_SMTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* Where the DATA scanner is within a line. */
enum smtp_data_state {
	SMTP_DS_BOL,   /* at the start of a line (after CRLF) */
	SMTP_DS_MID,   /* inside a line */
	SMTP_DS_CR,    /* inside a line, just saw CR */
	SMTP_DS_DOT,   /* line started with "." */
	SMTP_DS_DOTCR, /* line is "." CR so far */
};

/* Message bytes (dots unstuffed) go to emit as they are found. */
struct smtp_data_scan {
	enum smtp_data_state state;
	uint64_t linelen; /* bytes of the current line */
	int long_line;    /* a line longer than DM_SMTP_MAX_DATA_LINE ended */
	void (*emit)(void *arg, const char *p, size_t n);
	void *arg;
};

/* Start a message: the scanner is at the start of a line. */
void smtp_data_scan_init(struct smtp_data_scan *sc,
                         void (*emit)(void *arg, const char *p, size_t n), void *arg);

/*
 * Scan in[0..n): unstuff dots, find CRLF "." CRLF.  Only that sequence
 * ends the message: a bare LF or CR never does (no SMTP smuggling), and a
 * bare CR is message text.  Returns the bytes consumed; *end is set when
 * the terminator was found (the bytes after it are not consumed).  Any
 * split of the input into calls gives the same output.
 */
size_t smtp_data_scan(struct smtp_data_scan *sc, const char *in, size_t n, int *end);

/*
 * "FROM:<path> params" (kw "FROM:" or "TO:", matched without regard to
 * case; spaces allowed before "<") -> *path (without the brackets) and
 * *params, both pointing into arg, which is cut with NULs.  The path
 * must be at most DM_SMTP_MAX_ADDRESS bytes of printable, non-space
 * characters; after ">" comes the end or a space.  Returns 0 or -1.
 */
int smtp_parse_path(char *arg, const char *kw, char **path, char **params);

#endif
