/*
 * xalloc.h - allocation that aborts on failure, in one place.
 *
 * Error paths in dmarcd are for real failures (bad input, full disk);
 * running out of memory is not recoverable in a sensible way, so it ends
 * the process with one log line (STYLE.md habit 3).
 */
#ifndef DM_XALLOC_H
#define DM_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
