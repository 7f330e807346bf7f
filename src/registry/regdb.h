/*
 * regdb.h - the registry's database, whichever it is: the SQLite file
 * <data_dir>/registry.sqlite (regdb.c) or, with registry_use_postgres(),
 * the schema dmarcd_registry of a PostgreSQL database shared by every
 * node (regdb_pg.c).  registry.c writes its SQL once for both: "?N"
 * parameters (sent as $N to PostgreSQL), COLLATE BINARY where byte order
 * matters ("C" in PostgreSQL), lower() for names compared without case;
 * an INSERT's new id comes from regdb_last_id().  Private to
 * src/registry/.
 */
#ifndef DM_REGISTRY_REGDB_H
#define DM_REGISTRY_REGDB_H

#include <stddef.h>
#include <stdint.h>

struct regdb;
struct regdb_stmt;

/* regdb_step's answers besides a DM_E* failure. */
#define REGDB_ROW 1000
#define REGDB_DONE 1001
#define REGDB_CONSTRAINT 1002 /* a UNIQUE key taken */

/* 1 when the registry is shared: in PostgreSQL or ClickHouse. */
int regdb_remote(void);

/* Is there a registry (with its tables) yet?  *yes = 0 and 0 returned
 * when not; a failure to look is a DM_E* code with why in err. */
int regdb_exists(const char *data_dir, int *yes, char *err, size_t errlen);

/* Open to read (*db NULL and 0 returned when there is no registry yet),
 * in one consistent snapshot. */
int regdb_open_read(const char *data_dir, struct regdb **db, char *err, size_t errlen);
/* Open to write, creating the registry and its tables, in a transaction
 * that excludes other writers. */
int regdb_open_write(const char *data_dir, struct regdb **db, char *err, size_t errlen);
/* Bump the generation (every reader's sign of a change) and commit. */
int regdb_commit(struct regdb *db, char *err, size_t errlen);
/* Close, rolling back what is not committed.  db may be NULL. */
void regdb_close(struct regdb *db);

/* Does table exist (a file written before it existed has none)? */
int regdb_has_table(struct regdb *db, const char *table, int *yes, char *err, size_t errlen);

int regdb_prepare(struct regdb *db, const char *sql, struct regdb_stmt **st, char *err,
                  size_t errlen);
/* Parameters 1..REGDB_MAX_PARAMS; a text or blob is copied. */
#define REGDB_MAX_PARAMS 8
void regdb_bind_text(struct regdb_stmt *st, int i, const char *s);
void regdb_bind_int64(struct regdb_stmt *st, int i, int64_t v);
void regdb_bind_blob(struct regdb_stmt *st, int i, const void *p, size_t n);
/* REGDB_ROW, REGDB_DONE, REGDB_CONSTRAINT, or a DM_E* failure (why:
 * regdb_error). */
int regdb_step(struct regdb_stmt *st);
/* Columns of the current row, from 0; a NULL reads as 0 or NULL. */
int64_t regdb_int64(struct regdb_stmt *st, int i);
const char *regdb_text(struct regdb_stmt *st, int i);
const void *regdb_blob(struct regdb_stmt *st, int i, size_t *n);
void regdb_finalize(struct regdb_stmt *st);

/* The id the last INSERT made; rows the last UPDATE changed. */
int64_t regdb_last_id(struct regdb *db);
int64_t regdb_changes(struct regdb *db);
/* The last failure's words, with the database's name. */
const char *regdb_error(struct regdb *db);

/* The PostgreSQL side (regdb_pg.c): the same calls. */
struct regdb_ops {
	int (*exists)(int *yes, char *err, size_t errlen);
	int (*open)(int write, struct regdb **db, char *err, size_t errlen);
	int (*commit)(struct regdb *db, char *err, size_t errlen);
	void (*close)(struct regdb *db);
	int (*prepare)(struct regdb *db, const char *sql, struct regdb_stmt **st, char *err,
	               size_t errlen);
	void (*bind_text)(struct regdb_stmt *st, int i, const char *s);
	void (*bind_int64)(struct regdb_stmt *st, int i, int64_t v);
	void (*bind_blob)(struct regdb_stmt *st, int i, const void *p, size_t n);
	int (*step)(struct regdb_stmt *st);
	int64_t (*int64)(struct regdb_stmt *st, int i);
	const char *(*text)(struct regdb_stmt *st, int i);
	const void *(*blob)(struct regdb_stmt *st, int i, size_t *n);
	void (*finalize)(struct regdb_stmt *st);
	int64_t (*last_id)(struct regdb *db);
	int64_t (*changes)(struct regdb *db);
	const char *(*error)(struct regdb *db);
};

/* Set by registry_use_postgres. */
int regdb_pg_use(const char *url, const char *password);
extern const struct regdb_ops regdb_pg_ops;

/* The ClickHouse side (regdb_ch.c), set by registry_use_clickhouse. */
int regdb_ch_use(const char *url, const char *password, char *err, size_t errlen);
/* The newest generation published (*gen, 0: none); when it is not
 * `have`, its file is written to path (by rename). */
int regdb_ch_sync(const char *path, int64_t have, int64_t *gen, char *err, size_t errlen);
/* The file at path published as generation gen; DM_EBUSY when another
 * node's change took that generation first (nothing published). */
int regdb_ch_publish(int64_t gen, const char *path, char *err, size_t errlen);

#endif
