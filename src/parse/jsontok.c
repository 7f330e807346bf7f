/*
 * jsontok.c - push JSON tokenizer.
 *
 * Functions: jsontok_new, jsontok_free, jsontok_reset, jsontok_feed,
 * jsontok_finish, jsontok_error, jsontok_offset, jsontok_depth.
 *
 * One byte at a time through a state machine, so a chunk boundary can
 * fall anywhere; the only thing kept between bytes is the state, the
 * container stack (DM_TLS_MAX_DEPTH bytes) and the token being read (one
 * bounded buffer, DM_TLS_MAX_TOKEN).  Runs of plain ASCII inside strings
 * are copied in one go.  Grammar states:
 *
 *   START --BOM--> VALUE                     (whitespace allowed between all)
 *   VALUE: '{' -> OBJ_FIRST   '[' -> ARR_FIRST   '"' -> STR   number, literal
 *   OBJ_FIRST: '"' -> STR(key) -> COLON -> VALUE     '}' -> close
 *   ARR_FIRST: value | ']' -> close
 *   after a value: AFTER (',' -> KEY or VALUE; '}' or ']' -> close),
 *                  or DONE at the top level (whitespace only).
 *
 * Lexical states inside a token: STR, ESC, HEX (\uXXXX), LOW_BS and
 * LOW_U (a high surrogate wants its low half), UTF8 (continuation bytes),
 * NUM (with its own small grammar), LIT (true, false, null).
 * Logs nothing; the reason of a failure is kept for the caller.
 */
#include "jsontok.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/limits.h"
#include "common/xalloc.h"

enum st {
	ST_START, /* nothing read: a BOM may come */
	ST_BOM1,
	ST_BOM2,
	ST_VALUE,     /* a value must come */
	ST_ARR_FIRST, /* a value or ']' */
	ST_OBJ_FIRST, /* a key or '}' */
	ST_KEY,       /* a key (after ',') */
	ST_COLON,
	ST_AFTER, /* ',' or the end of the container */
	ST_DONE,  /* the top-level value was read */
	ST_STR,
	ST_ESC,
	ST_HEX,
	ST_LOW_BS,
	ST_LOW_U,
	ST_UTF8,
	ST_NUM,
	ST_LIT,
};

enum num { N_MINUS, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP };

struct jsontok {
	jsontok_fn fn;
	void *arg;
	int rc; /* latched: 0 or the first error */
	enum st st;
	int seen; /* a value was started */
	int is_key;
	enum num num;
	const char *lit;
	int lit_pos;
	enum jsontok_ev lit_ev;
	unsigned hex_n;
	uint32_t hex;
	uint32_t high; /* a high surrogate waiting for its low half, or 0 */
	int utf_need;
	unsigned char utf_lo, utf_hi;
	int depth;
	unsigned char stack[DM_TLS_MAX_DEPTH]; /* '{' or '[' */
	struct dm_buf tok;
	uint64_t off;
	char error[DM_MAX_ERROR_LEN];
};

static int fail(struct jsontok *t, int rc, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int
fail(struct jsontok *t, int rc, const char *fmt, ...)
{
	if (t->rc)
		return t->rc;
	char msg[DM_MAX_ERROR_LEN - 40];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(t->error, sizeof t->error, "invalid JSON: %s at byte %llu", msg,
	         (unsigned long long)t->off);
	t->rc = rc;
	return rc;
}

/* A byte as an error message shows it: 'x' or 0xNN. */
static const char *
show(char out[8], unsigned char c)
{
	if (c > 0x20 && c < 0x7f && c != '\'')
		snprintf(out, 8, "'%c'", c);
	else
		snprintf(out, 8, "0x%02x", c);
	return out;
}

static int
emit(struct jsontok *t, enum jsontok_ev ev, const char *s, size_t n)
{
	int rc = t->fn(t->arg, ev, s, n);
	if (rc && !t->rc) {
		t->rc = rc < 0 ? rc : DM_EINVAL;
		t->error[0] = '\0';
	}
	return t->rc;
}

static int
add(struct jsontok *t, const void *p, size_t n)
{
	if (dm_buf_add(&t->tok, p, n) != 0)
		return fail(t, DM_ELIMIT, "%s longer than %d bytes",
		            t->st == ST_NUM ? "number" : "string", DM_TLS_MAX_TOKEN);
	return 0;
}

static int
add_cp(struct jsontok *t, uint32_t cp)
{
	unsigned char u[4];
	size_t n;
	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | (cp >> 6));
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | (cp >> 12));
		u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (unsigned char)(0xf0 | (cp >> 18));
		u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return add(t, u, n);
}

static int
is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* A value (scalar or container) ended. */
static void
value_done(struct jsontok *t)
{
	t->st = t->depth ? ST_AFTER : ST_DONE;
}

static int
open_container(struct jsontok *t, unsigned char c)
{
	if (t->depth >= DM_TLS_MAX_DEPTH)
		return fail(t, DM_ELIMIT, "nesting deeper than %d", DM_TLS_MAX_DEPTH);
	t->stack[t->depth++] = c;
	t->st = c == '{' ? ST_OBJ_FIRST : ST_ARR_FIRST;
	return emit(t, c == '{' ? JSONTOK_OBJ_BEGIN : JSONTOK_ARR_BEGIN, NULL, 0);
}

static int
close_container(struct jsontok *t)
{
	unsigned char c = t->stack[--t->depth];
	value_done(t);
	return emit(t, c == '{' ? JSONTOK_OBJ_END : JSONTOK_ARR_END, NULL, 0);
}

static int
start_value(struct jsontok *t, unsigned char c)
{
	char b[8];
	t->seen = 1;
	dm_buf_reset(&t->tok);
	switch (c) {
	case '{':
	case '[':
		return open_container(t, c);
	case '"':
		t->is_key = 0;
		t->st = ST_STR;
		return 0;
	case 't':
	case 'f':
	case 'n':
		t->lit = c == 't' ? "true" : c == 'f' ? "false" : "null";
		t->lit_ev = c == 't' ? JSONTOK_TRUE : c == 'f' ? JSONTOK_FALSE : JSONTOK_NULL;
		t->lit_pos = 1;
		t->st = ST_LIT;
		return 0;
	default:
		break;
	}
	if (c == '-' || is_digit(c)) {
		t->st = ST_NUM;
		t->num = c == '-' ? N_MINUS : c == '0' ? N_ZERO : N_INT;
		return add(t, &c, 1);
	}
	return fail(t, DM_EFORMAT, "unexpected %s where a value should be", show(b, c));
}

static int
start_key(struct jsontok *t)
{
	dm_buf_reset(&t->tok);
	t->is_key = 1;
	t->st = ST_STR;
	return 0;
}

/* Whitespace and punctuation between tokens. */
static int
grammar(struct jsontok *t, unsigned char c)
{
	char b[8];
	if (t->st == ST_START) {
		if (c == 0xef) {
			t->st = ST_BOM1;
			return 0;
		}
		t->st = ST_VALUE;
	}
	if (is_ws(c))
		return 0;
	switch (t->st) {
	case ST_VALUE:
		return start_value(t, c);
	case ST_ARR_FIRST:
		if (c == ']')
			return close_container(t);
		return start_value(t, c);
	case ST_OBJ_FIRST:
		if (c == '}')
			return close_container(t);
		if (c == '"')
			return start_key(t);
		return fail(t, DM_EFORMAT, "unexpected %s where a key or '}' should be",
		            show(b, c));
	case ST_KEY:
		if (c == '"')
			return start_key(t);
		return fail(t, DM_EFORMAT, "unexpected %s where a key should be", show(b, c));
	case ST_COLON:
		if (c == ':') {
			t->st = ST_VALUE;
			return 0;
		}
		return fail(t, DM_EFORMAT, "unexpected %s where ':' should be", show(b, c));
	case ST_AFTER: {
		unsigned char top = t->stack[t->depth - 1];
		if (c == ',') {
			t->st = top == '{' ? ST_KEY : ST_VALUE;
			return 0;
		}
		if ((c == '}' && top == '{') || (c == ']' && top == '['))
			return close_container(t);
		return fail(t, DM_EFORMAT, "unexpected %s where ',' or '%c' should be", show(b, c),
		            top == '{' ? '}' : ']');
	}
	case ST_DONE:
		return fail(t, DM_EFORMAT, "unexpected %s after the end of the document",
		            show(b, c));
	default:
		break;
	}
	return fail(t, DM_EFORMAT, "internal state %d", (int)t->st);
}

static int
str_byte(struct jsontok *t, unsigned char c)
{
	if (c == '"') {
		int key = t->is_key;
		if (key)
			t->st = ST_COLON;
		else
			value_done(t);
		return emit(t, key ? JSONTOK_KEY : JSONTOK_STRING, dm_buf_str(&t->tok), t->tok.len);
	}
	if (c == '\\') {
		t->st = ST_ESC;
		return 0;
	}
	if (c < 0x20)
		return fail(t, DM_EFORMAT, "control character 0x%02x in a string", c);
	if (c < 0x80)
		return add(t, &c, 1);
	/* the first byte of a multi-byte character fixes how many follow
	 * and the range of the next one (no overlong forms, no surrogates,
	 * nothing above U+10FFFF: RFC 3629) */
	t->utf_lo = 0x80;
	t->utf_hi = 0xbf;
	if (c >= 0xc2 && c <= 0xdf)
		t->utf_need = 1;
	else if (c >= 0xe0 && c <= 0xef) {
		t->utf_need = 2;
		if (c == 0xe0)
			t->utf_lo = 0xa0;
		else if (c == 0xed)
			t->utf_hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		t->utf_need = 3;
		if (c == 0xf0)
			t->utf_lo = 0x90;
		else if (c == 0xf4)
			t->utf_hi = 0x8f;
	} else
		return fail(t, DM_EFORMAT, "invalid UTF-8 byte 0x%02x in a string", c);
	t->st = ST_UTF8;
	return add(t, &c, 1);
}

static int
utf8_byte(struct jsontok *t, unsigned char c)
{
	if (c < t->utf_lo || c > t->utf_hi)
		return fail(t, DM_EFORMAT, "invalid UTF-8 sequence (byte 0x%02x) in a string", c);
	t->utf_lo = 0x80;
	t->utf_hi = 0xbf;
	if (--t->utf_need == 0)
		t->st = ST_STR;
	return add(t, &c, 1);
}

static int
esc_byte(struct jsontok *t, unsigned char c)
{
	char b[8];
	char out;
	switch (c) {
	case '"':
	case '\\':
	case '/':
		out = (char)c;
		break;
	case 'b':
		out = '\b';
		break;
	case 'f':
		out = '\f';
		break;
	case 'n':
		out = '\n';
		break;
	case 'r':
		out = '\r';
		break;
	case 't':
		out = '\t';
		break;
	case 'u':
		t->st = ST_HEX;
		t->hex_n = 0;
		t->hex = 0;
		return 0;
	default:
		return fail(t, DM_EFORMAT, "invalid escape \\%s in a string", show(b, c));
	}
	t->st = ST_STR;
	return add(t, &out, 1);
}

static int
hex_byte(struct jsontok *t, unsigned char c)
{
	char b[8];
	unsigned v;
	if (is_digit(c))
		v = c - '0';
	else if (c >= 'a' && c <= 'f')
		v = c - 'a' + 10;
	else if (c >= 'A' && c <= 'F')
		v = c - 'A' + 10;
	else
		return fail(t, DM_EFORMAT, "invalid \\u escape: %s is not a hex digit", show(b, c));
	t->hex = t->hex << 4 | v;
	if (++t->hex_n < 4)
		return 0;
	uint32_t cp = t->hex;
	if (t->high) {
		if (cp < 0xdc00 || cp > 0xdfff)
			return fail(t, DM_EFORMAT, "lone surrogate \\u%04X in a string",
			            (unsigned)t->high);
		cp = 0x10000 + ((t->high - 0xd800) << 10) + (cp - 0xdc00);
		t->high = 0;
	} else if (cp >= 0xd800 && cp <= 0xdbff) {
		t->high = cp;
		t->st = ST_LOW_BS;
		return 0;
	} else if (cp >= 0xdc00 && cp <= 0xdfff)
		return fail(t, DM_EFORMAT, "lone surrogate \\u%04X in a string", (unsigned)cp);
	t->st = ST_STR;
	return add_cp(t, cp);
}

/* 1: c belongs to the number; 0: the number ended before c; or an error. */
static int
num_byte(struct jsontok *t, unsigned char c)
{
	char b[8];
	int d = is_digit(c);
	switch (t->num) {
	case N_MINUS:
		if (!d)
			return fail(t, DM_EFORMAT, "'-' not followed by a digit");
		t->num = c == '0' ? N_ZERO : N_INT;
		break;
	case N_ZERO:
		if (d)
			return fail(t, DM_EFORMAT, "number with a leading zero");
		/* fall through */
	case N_INT:
		if (c == '.')
			t->num = N_DOT;
		else if (c == 'e' || c == 'E')
			t->num = N_E;
		else if (!d)
			return 0;
		break;
	case N_DOT:
		if (!d)
			return fail(t, DM_EFORMAT, "unexpected %s after '.' in a number",
			            show(b, c));
		t->num = N_FRAC;
		break;
	case N_FRAC:
		if (c == 'e' || c == 'E')
			t->num = N_E;
		else if (!d)
			return 0;
		break;
	case N_E:
		if (c == '+' || c == '-')
			t->num = N_ESIGN;
		else if (d)
			t->num = N_EXP;
		else
			return fail(t, DM_EFORMAT, "unexpected %s in a number's exponent",
			            show(b, c));
		break;
	case N_ESIGN:
		if (!d)
			return fail(t, DM_EFORMAT, "unexpected %s in a number's exponent",
			            show(b, c));
		t->num = N_EXP;
		break;
	case N_EXP:
		if (!d)
			return 0;
		break;
	}
	if (add(t, &c, 1))
		return t->rc;
	return 1;
}

static int
num_end(struct jsontok *t)
{
	value_done(t);
	return emit(t, JSONTOK_NUMBER, dm_buf_str(&t->tok), t->tok.len);
}

static int
step(struct jsontok *t, unsigned char c)
{
	char b[8];
	switch (t->st) {
	case ST_STR:
		return str_byte(t, c);
	case ST_UTF8:
		return utf8_byte(t, c);
	case ST_ESC:
		return esc_byte(t, c);
	case ST_HEX:
		return hex_byte(t, c);
	case ST_LOW_BS:
		if (c != '\\')
			return fail(t, DM_EFORMAT, "lone surrogate \\u%04X in a string",
			            (unsigned)t->high);
		t->st = ST_LOW_U;
		return 0;
	case ST_LOW_U:
		if (c != 'u')
			return fail(t, DM_EFORMAT, "lone surrogate \\u%04X in a string",
			            (unsigned)t->high);
		t->st = ST_HEX;
		t->hex_n = 0;
		t->hex = 0;
		return 0;
	case ST_LIT:
		if (c != (unsigned char)t->lit[t->lit_pos])
			return fail(t, DM_EFORMAT, "unexpected %s in the literal %s", show(b, c),
			            t->lit);
		if (t->lit[++t->lit_pos] == '\0') {
			value_done(t);
			return emit(t, t->lit_ev, NULL, 0);
		}
		return 0;
	case ST_BOM1:
		if (c != 0xbb)
			return fail(t, DM_EFORMAT, "invalid byte 0x%02x (not a BOM)", c);
		t->st = ST_BOM2;
		return 0;
	case ST_BOM2:
		if (c != 0xbf)
			return fail(t, DM_EFORMAT, "invalid byte 0x%02x (not a BOM)", c);
		t->st = ST_VALUE;
		return 0;
	case ST_NUM: {
		int r = num_byte(t, c);
		if (r != 0)
			return r < 0 ? r : 0;
		if (num_end(t))
			return t->rc;
		break; /* c comes after the number */
	}
	default:
		break;
	}
	return grammar(t, c);
}

struct jsontok *
jsontok_new(jsontok_fn fn, void *arg)
{
	struct jsontok *t = xcalloc(1, sizeof *t);
	t->fn = fn;
	t->arg = arg;
	dm_buf_init(&t->tok, DM_TLS_MAX_TOKEN);
	jsontok_reset(t);
	return t;
}

void
jsontok_free(struct jsontok *t)
{
	if (!t)
		return;
	dm_buf_free(&t->tok);
	free(t);
}

void
jsontok_reset(struct jsontok *t)
{
	t->rc = 0;
	t->st = ST_START;
	t->seen = 0;
	t->high = 0;
	t->depth = 0;
	t->off = 0;
	t->error[0] = '\0';
	dm_buf_reset(&t->tok);
}

int
jsontok_feed(struct jsontok *t, const void *buf, size_t len)
{
	const unsigned char *s = buf;
	size_t i = 0;
	while (i < len && !t->rc) {
		if (t->st == ST_STR) {
			/* fast path: a run of plain ASCII in a string */
			size_t j = i;
			while (j < len && s[j] >= 0x20 && s[j] < 0x80 && s[j] != '"' &&
			       s[j] != '\\')
				j++;
			if (j > i) {
				if (add(t, s + i, j - i))
					break;
				t->off += j - i;
				i = j;
				continue;
			}
		}
		if (step(t, s[i]))
			break;
		i++;
		t->off++;
	}
	return t->rc;
}

int
jsontok_finish(struct jsontok *t)
{
	if (t->rc)
		return t->rc;
	if (t->st == ST_NUM && t->num != N_MINUS && t->num != N_DOT && t->num != N_E &&
	    t->num != N_ESIGN) {
		if (num_end(t))
			return t->rc;
	}
	if (t->st == ST_DONE)
		return 0;
	if (!t->seen)
		return fail(t, DM_EFORMAT, "empty document");
	const char *where = "";
	switch (t->st) {
	case ST_STR:
	case ST_ESC:
	case ST_HEX:
	case ST_LOW_BS:
	case ST_LOW_U:
	case ST_UTF8:
		where = " inside a string";
		break;
	case ST_NUM:
		where = " inside a number";
		break;
	case ST_LIT:
		where = " inside a literal";
		break;
	default:
		break;
	}
	return fail(t, DM_ETRUNC, "document ends early%s (%d container(s) open)", where, t->depth);
}

const char *
jsontok_error(const struct jsontok *t)
{
	return t->error;
}

uint64_t
jsontok_offset(const struct jsontok *t)
{
	return t->off;
}

int
jsontok_depth(const struct jsontok *t)
{
	return t->depth;
}
