/*
 * store_pg.h - the PostgreSQL store's own entry point (store_open_config
 * calls it with the URL and password of the configuration).
 */
#ifndef DM_STORE_PG_H
#define DM_STORE_PG_H

#include <stddef.h>

#include "store/store.h"

int store_pg_open(struct store *st, const char *url, const char *password, char *err,
                  size_t errlen);

extern const struct store_ops store_pg_ops;

#endif
