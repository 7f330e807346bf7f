/*
 * json.h - a small JSON writer into a dm_buf.
 *
 * Output only (TLS-RPT input is parsed with jansson).  Strings are escaped
 * per RFC 8259; bytes that are not valid UTF-8 become U+FFFD so the output
 * is always valid JSON whatever a report contained.  The caller writes
 * separators with the *_key helpers, which add the comma themselves.
 */
#ifndef DM_JSON_H
#define DM_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct dm_json {
	struct dm_buf *out;
	int need_comma;
	int rc; /* first error latched; the writer stops writing after it */
};

void dm_json_init(struct dm_json *j, struct dm_buf *out);
void dm_json_obj_begin(struct dm_json *j);
void dm_json_obj_end(struct dm_json *j);
void dm_json_arr_begin(struct dm_json *j);
void dm_json_arr_end(struct dm_json *j);
void dm_json_key(struct dm_json *j, const char *key);
void dm_json_str(struct dm_json *j, const char *s);		/* NULL -> null */
void dm_json_strn(struct dm_json *j, const char *s, size_t len);
void dm_json_int(struct dm_json *j, int64_t v);
void dm_json_uint(struct dm_json *j, uint64_t v);
void dm_json_double(struct dm_json *j, double v);
void dm_json_bool(struct dm_json *j, int v);
void dm_json_null(struct dm_json *j);
/* key, then v as a string, or null when v is NULL or "". */
void dm_json_key_str_or_null(struct dm_json *j, const char *key, const char *v);
/* Append raw, already valid JSON as a value. */
void dm_json_raw(struct dm_json *j, const char *raw);

/* Escape s into out as a JSON string with quotes (shared with writers
 * that do not use struct dm_json). */
int dm_json_escape(struct dm_buf *out, const char *s, size_t len) DM_WUR;

#endif
