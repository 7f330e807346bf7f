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

#endif
