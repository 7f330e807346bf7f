/*
 * store_ch.h - the ClickHouse store's own entry point (store_open_config
 * calls it with the URL and password of the configuration).
 */
#ifndef DM_STORE_CH_H
#define DM_STORE_CH_H

#include <stddef.h>

#include "store/store.h"

/* url: clickhouse://USER@HOST:PORT/DATABASE (the HTTP interface's port);
 * data_dir names this node in its attempts, with the host's name.  With
 * a cluster (clickhouse_cluster, "" for one server) the data lives on its
 * shards (shards: their HTTP HOST:PORT, space-separated), where the
 * tables are made, and the store writes and reads through Distributed
 * tables. */
int store_ch_open(struct store *st, const char *url, const char *password, const char *data_dir,
                  const char *cluster, const char *shards, char *err, size_t errlen);

extern const struct store_ops store_ch_ops;
extern const struct store_read_ops store_ch_read_ops;

/* clickhouse://USER@HOST:PORT/DB: server (http://HOST:PORT/?), base
 * (server with database=DB), user ("default" when none) and database
 * (letters, digits and '_' only); DM_EUSAGE with why in err. */
int store_ch_parse_url(const char *url, char *server, size_t serverlen, char *base, size_t baselen,
                       char *user, size_t userlen, char *db, size_t dblen, char *err,
                       size_t errlen);

/* The URL of the server that holds the registry: url's, or with a
 * cluster the first shard's (every node names the same one). */
int store_ch_registry_url(const char *url, const char *cluster, const char *shards, char *out,
                          size_t outlen);

/* What store_ch_read.c shares with the write side. */
struct dm_buf;
/* The open store's server: base URL (http://HOST:PORT/?database=DB), user
 * and password; the suffix of the tables queried ("_d" on a cluster, sfx
 * holds 3 bytes) and the prefix naming a shard's own table in a subquery
 * ("DB."). */
void store_ch_endpoint(struct store *st, char *base, size_t baselen, char *user, size_t userlen,
                       char *password, size_t pwlen, char *sfx, char *dbq, size_t dbqlen);
/* A TabSeparated field's escapes undone, in place. */
void store_ch_unescape(char *s);
/* s as the SQL literal of its stored form (invalid UTF-8 as U+FFFD, as
 * the writer stores it): unhex('...'), appended to q; tmp is scratch.
 * Non-zero when it does not fit. */
int store_ch_literal(struct dm_buf *q, struct dm_buf *tmp, const char *s);

#endif
