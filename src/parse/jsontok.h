/*
 * jsontok.h - a push (streaming) JSON tokenizer, strict RFC 8259.
 *
 * Fed arbitrary chunks (a boundary may fall anywhere: inside a string, an
 * escape, a \uXXXX, a multi-byte UTF-8 character or a number), it calls
 * one function per event.  Strings (keys and values) arrive complete and
 * unescaped, as UTF-8; numbers arrive as the text they were written in,
 * checked against the grammar.  Memory is bounded by the token limit and
 * the depth limit, never by the document (limits.h: DM_TLS_MAX_TOKEN,
 * DM_TLS_MAX_DEPTH).
 *
 * Refused, with a one-line reason and the byte offset: invalid UTF-8
 * (overlong forms, surrogates, code points above U+10FFFF), a lone
 * surrogate escape, control characters in strings, leading zeros, any
 * syntax error, bytes other than whitespace after the top-level value.
 * A UTF-8 BOM at the very start is skipped (offsets still count it).
 *
 * Usage:
 *
 *     t = jsontok_new(on_event, arg);
 *     while (data) rc = jsontok_feed(t, buf, len);   // stop on rc < 0
 *     rc = jsontok_finish(t);                        // the value is complete
 *     jsontok_free(t);
 */
#ifndef DM_JSONTOK_H
#define DM_JSONTOK_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

enum jsontok_ev {
	JSONTOK_OBJ_BEGIN,
	JSONTOK_OBJ_END,
	JSONTOK_ARR_BEGIN,
	JSONTOK_ARR_END,
	JSONTOK_KEY,    /* s, len: the key, unescaped */
	JSONTOK_STRING, /* s, len: the value, unescaped */
	JSONTOK_NUMBER, /* s, len: the number as written */
	JSONTOK_TRUE,
	JSONTOK_FALSE,
	JSONTOK_NULL,
};

/* One event.  For keys, strings and numbers s holds len bytes followed
 * by a NUL; a string may itself contain NULs (\u0000), hence len.  s is
 * valid during the call only; it is NULL for the other events.  Return 0
 * to go on or a negative code to stop: the tokenizer then fails with
 * that code and an empty reason (the caller keeps its own). */
typedef int (*jsontok_fn)(void *arg, enum jsontok_ev ev, const char *s, size_t len);

struct jsontok;

struct jsontok *jsontok_new(jsontok_fn fn, void *arg);
void jsontok_free(struct jsontok *t);
/* Make t ready for a new document. */
void jsontok_reset(struct jsontok *t);

/* Feed the next bytes: 0, or a negative code once the document is known
 * to be bad (DM_EFORMAT: not JSON; DM_ELIMIT: a token or the depth over
 * its limit; or the callback's code).  Feeding after an error is harmless
 * and returns the same code. */
int jsontok_feed(struct jsontok *t, const void *buf, size_t len) DM_WUR;

/* End of input: 0 when one complete value was read, DM_ETRUNC when the
 * document stops in the middle, DM_EFORMAT when it was empty. */
int jsontok_finish(struct jsontok *t) DM_WUR;

/* One-line reason for the failure, with its byte offset ("" when none,
 * or when the callback stopped the tokenizer). */
const char *jsontok_error(const struct jsontok *t);

/* Offset of the byte being read (during a callback: the byte that ended
 * the token, or the first byte after it for numbers). */
uint64_t jsontok_offset(const struct jsontok *t);

/* Nesting depth now (0 at the top level). */
int jsontok_depth(const struct jsontok *t);

#endif
