/*
 * store_pg.h - the PostgreSQL store's own entry point (store_open_config
 * calls it with the URL and password of the configuration), and what its
 * read side (store_pg_read.c) needs of it.
 */
#ifndef DM_STORE_PG_H
#define DM_STORE_PG_H

#include <stddef.h>

#include "store/store.h"

int store_pg_open(struct store *st, const char *url, const char *password, char *err,
                  size_t errlen);

/* "who: what: msg" on one line into out (libpq's messages have several):
 * how the PostgreSQL files word a failure. */
void store_pg_words(char *out, size_t outlen, const char *who, const char *what,
                    const char *msg);

struct dm_buf;
/* s as the server takes it, NUL-terminated in b: invalid UTF-8 bytes
 * become U+FFFD, as they are stored.  DM_ELIMIT when it does not fit. */
int store_pg_text(struct dm_buf *b, const char *s);

/* A new connection to st's database (a reader's own), or NULL with why in
 * err.  struct pg_conn is libpq's PGconn. */
struct pg_conn;
struct pg_conn *store_pg_connect(struct store *st, char *err, size_t errlen);

extern const struct store_ops store_pg_ops;
extern const struct store_read_ops store_pg_read_ops;

#endif
