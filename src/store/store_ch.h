/*
 * store_ch.h - the ClickHouse store's own entry point (store_open_config
 * calls it with the URL and password of the configuration).
 */
#ifndef DM_STORE_CH_H
#define DM_STORE_CH_H

#include <stddef.h>

#include "store/store.h"

/* url: clickhouse://USER@HOST:PORT/DATABASE (the HTTP interface's port);
 * data_dir names this node in its attempts, with the host's name. */
int store_ch_open(struct store *st, const char *url, const char *password, const char *data_dir,
                  char *err, size_t errlen);

extern const struct store_ops store_ch_ops;
extern const struct store_read_ops store_ch_read_ops;

/* What store_ch_read.c shares with the write side. */
struct dm_buf;
/* The open store's server: base URL (http://HOST:PORT/?database=DB), user
 * and password. */
void store_ch_endpoint(struct store *st, char *base, size_t baselen, char *user, size_t userlen,
                       char *password, size_t pwlen);
/* A TabSeparated field's escapes undone, in place. */
void store_ch_unescape(char *s);
/* s as the SQL literal of its stored form (invalid UTF-8 as U+FFFD, as
 * the writer stores it): unhex('...'), appended to q; tmp is scratch.
 * Non-zero when it does not fit. */
int store_ch_literal(struct dm_buf *q, struct dm_buf *tmp, const char *s);

#endif
