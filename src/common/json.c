/*
 * json.c - JSON writer.
 *
 * Functions: dm_json_init, dm_json_obj_begin/end, dm_json_arr_begin/end,
 * dm_json_key, dm_json_str, dm_json_strn, dm_json_int, dm_json_uint,
 * dm_json_double, dm_json_bool, dm_json_null, dm_json_raw, dm_json_escape.
 * Errors (a full buffer) latch in j->rc.
 */
#include "json.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

void
dm_json_init(struct dm_json *j, struct dm_buf *out)
{
	j->out = out;
	j->need_comma = 0;
	j->rc = 0;
}

static void
put(struct dm_json *j, const char *s, size_t len)
{
	if (j->rc == 0)
		j->rc = dm_buf_add(j->out, s, len);
}

static void
sep(struct dm_json *j)
{
	if (j->need_comma)
		put(j, ",", 1);
	j->need_comma = 1;
}

void dm_json_obj_begin(struct dm_json *j) { sep(j); put(j, "{", 1); j->need_comma = 0; }
void dm_json_obj_end(struct dm_json *j) { put(j, "}", 1); j->need_comma = 1; }
void dm_json_arr_begin(struct dm_json *j) { sep(j); put(j, "[", 1); j->need_comma = 0; }
void dm_json_arr_end(struct dm_json *j) { put(j, "]", 1); j->need_comma = 1; }

void
dm_json_key(struct dm_json *j, const char *key)
{
	sep(j);
	if (j->rc == 0)
		j->rc = dm_json_escape(j->out, key, strlen(key));
	put(j, ":", 1);
	j->need_comma = 0;
}

/* Length of the valid UTF-8 sequence at s (max n bytes), or 0. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	uint32_t cp;
	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0) {
		len = 2;
		cp = c & 0x1f;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3;
		cp = c & 0x0f;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* Bytes that can be copied as they are: printable ASCII but '"' and '\\'. */
static int
plain(unsigned char c)
{
	return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

int
dm_json_escape(struct dm_buf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	int rc = dm_buf_addc(out, '"');
	size_t i = 0;
	while (rc == 0 && i < len) {
		/* copy a run of plain bytes at once */
		size_t run = i;
		while (run < len && plain(p[run]))
			run++;
		if (run > i) {
			rc = dm_buf_add(out, p + i, run - i);
			i = run;
			continue;
		}
		unsigned char c = p[i];
		if (c >= 0x80) {
			size_t n = utf8_len(p + i, len - i);
			if (n == 0) {
				rc = dm_buf_add(out, "\xef\xbf\xbd", 3);
				i++;
			} else {
				rc = dm_buf_add(out, p + i, n);
				i += n;
			}
			continue;
		}
		switch (c) {
		case '"': rc = dm_buf_add(out, "\\\"", 2); break;
		case '\\': rc = dm_buf_add(out, "\\\\", 2); break;
		case '\n': rc = dm_buf_add(out, "\\n", 2); break;
		case '\r': rc = dm_buf_add(out, "\\r", 2); break;
		case '\t': rc = dm_buf_add(out, "\\t", 2); break;
		default: {
			char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			rc = dm_buf_add(out, esc, 6);
		}
		}
		i++;
	}
	if (rc == 0)
		rc = dm_buf_addc(out, '"');
	return rc;
}

void
dm_json_strn(struct dm_json *j, const char *s, size_t len)
{
	sep(j);
	if (j->rc == 0)
		j->rc = dm_json_escape(j->out, s, len);
}

void
dm_json_str(struct dm_json *j, const char *s)
{
	if (!s)
		dm_json_null(j);
	else
		dm_json_strn(j, s, strlen(s));
}

void
dm_json_int(struct dm_json *j, int64_t v)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof tmp, "%" PRId64, v);
	sep(j);
	put(j, tmp, (size_t)n);
}

void
dm_json_uint(struct dm_json *j, uint64_t v)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof tmp, "%" PRIu64, v);
	sep(j);
	put(j, tmp, (size_t)n);
}

void
dm_json_double(struct dm_json *j, double v)
{
	char tmp[40];
	int n;
	if (!isfinite(v))
		n = snprintf(tmp, sizeof tmp, "null");
	else
		n = snprintf(tmp, sizeof tmp, "%.6g", v);
	sep(j);
	put(j, tmp, (size_t)n);
}

void
dm_json_bool(struct dm_json *j, int v)
{
	sep(j);
	put(j, v ? "true" : "false", v ? 4 : 5);
}

void
dm_json_null(struct dm_json *j)
{
	sep(j);
	put(j, "null", 4);
}

void
dm_json_key_str_or_null(struct dm_json *j, const char *key, const char *v)
{
	dm_json_key(j, key);
	dm_json_str(j, v && *v ? v : NULL);
}

void
dm_json_raw(struct dm_json *j, const char *raw)
{
	sep(j);
	put(j, raw, strlen(raw));
}
