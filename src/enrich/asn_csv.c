/*
 * asn_csv.c - the @ip-location-db/asn CSV files into an MMDB writer.
 *
 * The file is streamed line by line through a buffer of
 * DM_ASN_CSV_MAX_LINE bytes; each line is cut into its four fields by a
 * tokeniser that moves on only when a field is whole (RFC 4180 quoting:
 * "..." around a field, "" for a quote inside).  Addresses are read with
 * inet_pton; an IPv4 range goes to the writer as IPv4 (under ::/96).
 *
 * Functions: dm_asn_csv_import.  Logs nothing: the first bad line ends
 * the import with "FILE:LINE: reason" in the caller's err.
 */
#include "enrich/asn_csv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/limits.h"

/* An address field: the longest IPv6 text (with an IPv4 tail) is 45. */
#define ADDR_FIELD_MAX 63
/* An AS number field: at most 10 digits (4294967295). */
#define ASN_FIELD_MAX 15

/* One line of f into buf (cap bytes, NUL-terminated, newline and a CR
 * before it removed).  Returns 1 for a line, 0 at the end of the file,
 * DM_ELIMIT for a line longer than cap - 1, DM_EFORMAT for a NUL byte,
 * DM_EIO for a read error. */
static int
read_line(FILE *f, char *buf, size_t cap, size_t *len)
{
	size_t n = 0;
	int c, any = 0;
	while ((c = getc_unlocked(f)) != EOF) {
		any = 1;
		if (c == '\n')
			break;
		if (c == '\0')
			return DM_EFORMAT;
		if (n == cap - 1)
			return DM_ELIMIT;
		buf[n++] = (char)c;
	}
	if (c == EOF && ferror(f))
		return DM_EIO;
	if (!any)
		return 0;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	*len = n;
	return 1;
}

/* The field at *p (the line ends at end) into out, at most max bytes and
 * a NUL.  On success *p is past the field and its comma and *more says
 * whether a comma followed.  On failure *why says what is wrong and *p
 * has not moved. */
static int
field(const char **p, const char *end, char *out, size_t max, size_t *outlen, int *more,
      const char **why)
{
	const char *s = *p;
	size_t n = 0;
	if (s < end && *s == '"') {
		s++;
		for (;;) {
			char c;
			if (s == end) {
				*why = "a quoted field does not end";
				return DM_EFORMAT;
			}
			if (*s == '"') {
				if (s + 1 == end || s[1] != '"') {
					s++;
					break;
				}
				c = '"';
				s += 2;
			} else {
				c = *s++;
			}
			if (n == max) {
				*why = "field too long";
				return DM_ELIMIT;
			}
			out[n++] = c;
		}
		if (s < end && *s != ',') {
			*why = "text after the closing quote of a field";
			return DM_EFORMAT;
		}
	} else {
		for (; s < end && *s != ','; s++) {
			if (*s == '"') {
				*why = "a quote inside a field that is not quoted";
				return DM_EFORMAT;
			}
			if (n == max) {
				*why = "field too long";
				return DM_ELIMIT;
			}
			out[n++] = *s;
		}
	}
	out[n] = '\0';
	*outlen = n;
	*more = s < end;
	*p = *more ? s + 1 : s;
	return 0;
}

/* An address into ip (16 bytes; IPv4 as ::ffff:a.b.c.d): 4, 6 or 0. */
static int
parse_addr(const char *text, unsigned char ip[16])
{
	unsigned char v4[4];
	if (inet_pton(AF_INET, text, v4) == 1) {
		memset(ip, 0, 10);
		ip[10] = ip[11] = 0xff;
		memcpy(ip + 12, v4, 4);
		return 4;
	}
	if (inet_pton(AF_INET6, text, ip) == 1)
		return 6;
	return 0;
}

/* 1 to 10 digits, at most UINT32_MAX. */
static int
parse_asn(const char *s, size_t len, uint32_t *out)
{
	uint64_t v = 0;
	if (len == 0 || len > 10)
		return DM_EFORMAT;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return DM_EFORMAT;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > UINT32_MAX)
		return DM_EFORMAT;
	*out = (uint32_t)v;
	return 0;
}

/* One line into w; on failure *why says what is wrong. */
static int
import_line(struct dm_mmdb_writer *w, const char *line, size_t len, const char **why)
{
	const char *p = line, *end = line + len;
	char start[ADDR_FIELD_MAX + 1], stop[ADDR_FIELD_MAX + 1], asn_text[ASN_FIELD_MAX + 1];
	char org[DM_ASN_CSV_MAX_ORG + 1];
	size_t n;
	int more, rc;

	struct {
		char *out;
		size_t max;
		const char *too_long;
	} fields[4] = {{start, ADDR_FIELD_MAX, "start is not an IP address"},
	               {stop, ADDR_FIELD_MAX, "end is not an IP address"},
	               {asn_text, ASN_FIELD_MAX, "AS number is not a number from 0 to 4294967295"},
	               {org, DM_ASN_CSV_MAX_ORG,
	                "organisation longer than DM_ASN_CSV_MAX_ORG (255) bytes"}};
	for (int i = 0; i < 4; i++) {
		rc = field(&p, end, fields[i].out, fields[i].max, &n, &more, why);
		if (rc == DM_ELIMIT) {
			*why = fields[i].too_long;
			return i == 3 ? DM_ELIMIT : DM_EFORMAT;
		}
		if (rc != 0)
			return rc;
		if (i < 3 && !more) {
			*why = "4 fields expected (start,end,asn,org)";
			return DM_EFORMAT;
		}
	}
	if (more) {
		*why = "more than 4 fields (an organisation with a comma must be quoted)";
		return DM_EFORMAT;
	}

	unsigned char lo[16], hi[16];
	int fa = parse_addr(start, lo), fb = parse_addr(stop, hi);
	if (fa == 0) {
		*why = "start is not an IP address";
		return DM_EFORMAT;
	}
	if (fb == 0) {
		*why = "end is not an IP address";
		return DM_EFORMAT;
	}
	if (fa != fb) {
		*why = "start and end are not of the same address family";
		return DM_EFORMAT;
	}
	if (memcmp(lo, hi, 16) > 0) {
		*why = "start is after end";
		return DM_EFORMAT;
	}
	uint32_t asn;
	if (parse_asn(asn_text, strlen(asn_text), &asn) != 0) {
		*why = "AS number is not a number from 0 to 4294967295";
		return DM_EFORMAT;
	}
	rc = dm_mmdb_insert_range(w, lo, hi, fa == 4, asn, org);
	if (rc == DM_EINVAL)
		*why = "organisation is not valid UTF-8";
	else if (rc == DM_ELIMIT)
		*why = "the search tree passes DM_MMDB_MAX_NODES nodes";
	return rc;
}

int
dm_asn_csv_import(struct dm_mmdb_writer *w, const char *path, size_t *rows, char *err,
                  size_t errlen)
{
	char line[DM_ASN_CSV_MAX_LINE + 1];
	size_t len, lineno = 0, blank = 0;
	int rc = 0;
	*rows = 0;
	FILE *f = fopen(path, "re");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return errno == ENOENT ? DM_ENOTFOUND : DM_EIO;
	}
	for (;;) {
		int r = read_line(f, line, sizeof line, &len);
		if (r == 0)
			break;
		lineno++;
		if (r == DM_EIO) {
			snprintf(err, errlen, "%s:%zu: read error: %s", path, lineno,
			         strerror(errno));
			rc = r;
			break;
		}
		if (r < 0) {
			snprintf(err, errlen, "%s:%zu: %s", path, lineno,
			         r == DM_ELIMIT
			                 ? "line longer than DM_ASN_CSV_MAX_LINE (1024) bytes"
			                 : "a NUL byte in the line");
			rc = r;
			break;
		}
		if (len == 0) {
			/* fine at the end of the file only */
			if (blank == 0)
				blank = lineno;
			continue;
		}
		if (blank != 0) {
			snprintf(err, errlen, "%s:%zu: empty line", path, blank);
			rc = DM_EFORMAT;
			break;
		}
		if (*rows == DM_ASN_CSV_MAX_ROWS) {
			snprintf(err, errlen, "%s:%zu: more than DM_ASN_CSV_MAX_ROWS (%d) rows",
			         path, lineno, DM_ASN_CSV_MAX_ROWS);
			rc = DM_ELIMIT;
			break;
		}
		const char *why = "bad line";
		rc = import_line(w, line, len, &why);
		if (rc != 0) {
			snprintf(err, errlen, "%s:%zu: %s", path, lineno, why);
			break;
		}
		(*rows)++;
	}
	fclose(f);
	return rc;
}
