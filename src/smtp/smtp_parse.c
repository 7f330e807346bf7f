/*
 * smtp_parse.c - reading what an SMTP client sends: the DATA scanner and
 * the MAIL/RCPT path parser (pure functions, no I/O).
 *
 * Functions: smtp_data_scan_init, smtp_data_scan, smtp_parse_path.
 *
 * The scanner's states (one per byte position within a line):
 *
 *            other             CR              LF
 *   BOL ---------------> MID ----> CR ------------------> BOL
 *    |  "."                ^        | other (bare CR: text)
 *    v                     +--------+
 *   DOT --other (stuffing dot dropped)--> MID
 *    | CR
 *    v
 *   DOTCR --LF--> end of message     --other--> MID (the CR is text)
 *
 * Logs nothing.
 */
#include "smtp/smtp_parse.h"

#include <string.h>
#include <strings.h>

#include "common/limits.h"

void
smtp_data_scan_init(struct smtp_data_scan *sc, void (*emit)(void *arg, const char *p, size_t n),
                    void *arg)
{
	memset(sc, 0, sizeof *sc);
	sc->state = SMTP_DS_BOL;
	sc->emit = emit;
	sc->arg = arg;
}

size_t
smtp_data_scan(struct smtp_data_scan *sc, const char *in, size_t n, int *end)
{
	size_t i = 0, run;

	*end = 0;
	while (i < n) {
		char c = in[i];

		switch (sc->state) {
		case SMTP_DS_MID:
			/* fast path: copy up to the next CR */
			{
				const char *cr = memchr(in + i, '\r', n - i);

				run = cr != NULL ? (size_t)(cr - (in + i)) : n - i;
			}
			if (run > 0) {
				sc->linelen += run;
				sc->emit(sc->arg, in + i, run);
				i += run;
				continue;
			}
			sc->state = SMTP_DS_CR;
			i++;
			continue;
		case SMTP_DS_CR:
			if (c == '\n') {
				sc->emit(sc->arg, "\r\n", 2);
				if (sc->linelen > DM_SMTP_MAX_DATA_LINE)
					sc->long_line = 1;
				sc->linelen = 0;
				sc->state = SMTP_DS_BOL;
				i++;
			} else {
				/* a bare CR is text, never a line end */
				sc->emit(sc->arg, "\r", 1);
				sc->linelen++;
				sc->state = SMTP_DS_MID;
			}
			continue;
		case SMTP_DS_BOL:
			if (c == '.') {
				sc->state = SMTP_DS_DOT;
				i++;
			} else {
				sc->state = SMTP_DS_MID;
			}
			continue;
		case SMTP_DS_DOT:
			if (c == '\r') {
				sc->state = SMTP_DS_DOTCR;
				i++;
			} else {
				/* the leading dot was stuffing: drop it */
				sc->state = SMTP_DS_MID;
			}
			continue;
		case SMTP_DS_DOTCR:
			if (c == '\n') {
				*end = 1;
				return i + 1;
			}
			/* ".\rX": the dot was stuffing, the CR is text */
			sc->emit(sc->arg, "\r", 1);
			sc->linelen++;
			sc->state = SMTP_DS_MID;
			continue;
		}
	}
	return i;
}

int
smtp_parse_path(char *arg, const char *kw, char **path, char **params)
{
	size_t kl = strlen(kw);
	char *p, *close;

	if (strncasecmp(arg, kw, kl) != 0)
		return -1;
	p = arg + kl;
	while (*p == ' ')
		p++; /* some clients send "FROM: <a>" */
	if (*p != '<')
		return -1;
	close = strchr(p, '>');
	if (close == NULL)
		return -1;
	*close = '\0';
	*path = p + 1;
	p = close + 1;
	if (*p != '\0' && *p != ' ')
		return -1;
	while (*p == ' ')
		p++;
	*params = p;
	if (strlen(*path) > DM_SMTP_MAX_ADDRESS)
		return -1;
	for (const char *c = *path; *c; c++)
		if ((unsigned char)*c < 0x21 || *c == 0x7f)
			return -1;
	return 0;
}
