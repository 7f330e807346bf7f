/*
 * store_sqlite.h - what the two files of the SQLite backend share
 * (store_sqlite.c writes, store_sqlite_read.c reads).  Private to them.
 */
#ifndef DM_STORE_SQLITE_H
#define DM_STORE_SQLITE_H

#include "store/store.h"

/* The database file of an open SQLite store. */
const char *store_sqlite_path(struct store *st);

#endif
