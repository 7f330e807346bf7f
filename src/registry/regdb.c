/*
 * regdb.c - the registry's database calls (regdb.h): the SQLite file
 * <data_dir>/registry.sqlite here, or PostgreSQL (regdb_pg.c) once
 * registry_use_postgres() chose it, or, once registry_use_clickhouse()
 * chose ClickHouse, the local copy <data_dir>/registry.ch.sqlite of the
 * registry published there (regdb_ch.c): brought up to date before every
 * use; a writer changes a private copy of it and publishes that as the
 * next generation at commit.
 *
 * Functions: regdb_remote, regdb_exists, regdb_open_read,
 * regdb_open_write, regdb_commit, regdb_close, regdb_has_table,
 * regdb_prepare, regdb_bind_text, regdb_bind_int64, regdb_bind_blob,
 * regdb_step, regdb_int64, regdb_text, regdb_blob, regdb_finalize,
 * regdb_last_id, regdb_changes, regdb_error, registry_use_postgres,
 * registry_use_clickhouse.
 *
 * The file is opened for each use: a reader neither creates it nor
 * checkpoints on close (registry.c tells changes by the identity of the
 * file and its -wal); a writer makes it (WAL, synchronous=FULL: it is
 * configuration, small and written rarely) and holds BEGIN IMMEDIATE, so
 * writers queue for DM_REG_BUSY_MS.
 */
#include "registry/regdb.h"

#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/fsutil.h"
#include "common/xalloc.h"
#include "registry/registry.h"

/* 2: the tokens table */
#define SCHEMA_VERSION 2
/* Management commands wait this long for another writer (the CLI run
 * twice at once); the server only reads. */
#define DM_REG_BUSY_MS 5000

static const char schema_sql[] =
        "CREATE TABLE IF NOT EXISTS accounts("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " name TEXT NOT NULL COLLATE NOCASE UNIQUE,"
        " catch_all INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL);"
        "CREATE TABLE IF NOT EXISTS domains("
        " id INTEGER PRIMARY KEY, domain TEXT NOT NULL UNIQUE,"
        " account_id INTEGER NOT NULL REFERENCES accounts(id), created_at INTEGER NOT NULL);"
        "CREATE TABLE IF NOT EXISTS addresses("
        " id INTEGER PRIMARY KEY, address TEXT NOT NULL UNIQUE,"
        " account_id INTEGER NOT NULL REFERENCES accounts(id),"
        " domain_id INTEGER REFERENCES domains(id), created_at INTEGER NOT NULL);"
        "CREATE TABLE IF NOT EXISTS tokens("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " account_id INTEGER NOT NULL, admin INTEGER NOT NULL, name TEXT NOT NULL,"
        " hash BLOB NOT NULL, created_at INTEGER NOT NULL, revoked_at INTEGER);"
        "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);";

static int remote; /* set once, before any use, by registry_use_postgres */
static int mirror; /* ... by registry_use_clickhouse */

/* the local copy of the registry published in ClickHouse */
#define MIRROR_FILE "registry.ch.sqlite"

struct regdb {
	sqlite3 *db;
	char err[512];
	/* a writer of the ClickHouse registry: its private copy, and the
	 * generation it was made from */
	char work[PATH_MAX], copy[PATH_MAX];
	int64_t base;
};

/* from to a new file to (a copy of the registry: small) */
static int
copy_file(const char *from, const char *to)
{
	FILE *in = fopen(from, "rbe"), *out = in ? fopen(to, "wbe") : NULL;
	char buf[65536];
	size_t n;
	int bad = out == NULL;
	while (!bad && (n = fread(buf, 1, sizeof buf, in)) > 0)
		bad = fwrite(buf, 1, n, out) != n;
	bad |= in == NULL || ferror(in);
	if (in)
		fclose(in);
	if (out && fclose(out) != 0)
		bad = 1;
	return bad ? -1 : 0;
}

struct regdb_stmt {
	struct regdb *db;
	sqlite3_stmt *s;
};

int
registry_use_postgres(const char *url, const char *password)
{
	int rc = regdb_pg_use(url, password);
	if (rc == 0)
		remote = 1;
	return rc;
}

int
registry_use_clickhouse(const char *url, const char *password, char *err, size_t errlen)
{
	int rc = regdb_ch_use(url, password, err, errlen);
	if (rc == 0)
		mirror = 1;
	return rc;
}

int
regdb_remote(void)
{
	return remote || mirror;
}

static int
path_of(char *out, size_t outlen, const char *data_dir)
{
	int n = snprintf(out, outlen, "%s/%s", data_dir, mirror ? MIRROR_FILE : REGISTRY_FILE);
	return n < 0 || (size_t)n >= outlen ? DM_EINVAL : 0;
}

/* The generation of the local copy at path (0: none, or unreadable). */
static int64_t
copy_generation(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t g = 0;
	if (access(path, F_OK) == 0 &&
	    sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) ==
	            SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key='generation'", -1, &st,
	                       NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		g = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return g;
}

/* The local copy brought up to date: *gen is the newest generation
 * published (0: no registry yet, and no copy). */
static int
mirror_sync(const char *data_dir, int64_t *gen, char *err, size_t errlen)
{
	char path[PATH_MAX];
	if (path_of(path, sizeof path, data_dir) != 0) {
		snprintf(err, errlen, "data folder name too long");
		return DM_EINVAL;
	}
	if (dm_mkdir_p(data_dir, 0750) != 0) {
		snprintf(err, errlen, "cannot create %s: %s", data_dir, strerror(errno));
		return DM_EIO;
	}
	int rc = regdb_ch_sync(path, copy_generation(path), gen, err, errlen);
	if (rc == 0 && *gen == 0)
		unlink(path); /* none published (a database made anew) */
	return rc;
}

/* The SQLite result rc as a DM_E* code, with why in db's message. */
static int
map_rc(struct regdb *d, int rc)
{
	snprintf(d->err, sizeof d->err, "%s: %s", REGISTRY_FILE,
	         d->db ? sqlite3_errmsg(d->db) : "out of memory");
	switch (rc & 0xff) {
	case SQLITE_FULL:
		return DM_ENOSPC;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return DM_EBUSY;
	case SQLITE_IOERR:
		return DM_EIO;
	default:
		return DM_ESTORE;
	}
}

/* A failure on d: its words into err, d closed. */
static int
give_up(struct regdb *d, int rc, char *err, size_t errlen)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", d->err);
	regdb_close(d);
	return rc;
}

int
regdb_exists(const char *data_dir, int *yes, char *err, size_t errlen)
{
	char path[PATH_MAX];
	if (remote)
		return regdb_pg_ops.exists(yes, err, errlen);
	*yes = 0;
	if (mirror) {
		int64_t gen;
		int rc = mirror_sync(data_dir, &gen, err, errlen);
		*yes = rc == 0 && gen > 0;
		return rc;
	}
	if (path_of(path, sizeof path, data_dir) != 0) {
		snprintf(err, errlen, "data folder name too long");
		return DM_EINVAL;
	}
	if (access(path, F_OK) == 0) {
		*yes = 1;
		return 0;
	}
	if (errno == ENOENT)
		return 0;
	snprintf(err, errlen, "%s: %s", path, strerror(errno));
	return DM_EIO;
}

int
regdb_has_table(struct regdb *d, const char *table, int *yes, char *err, size_t errlen)
{
	*yes = 1;
	if (remote)
		return 0; /* made whole, never by an older version */
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(
	        d->db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?1", -1, &st, NULL);
	if (rc != SQLITE_OK) {
		rc = map_rc(d, rc);
		snprintf(err, errlen, "%s", d->err);
		return rc;
	}
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	int s = sqlite3_step(st);
	*yes = s == SQLITE_ROW;
	rc = 0;
	if (s != SQLITE_ROW && s != SQLITE_DONE) {
		rc = map_rc(d, s);
		snprintf(err, errlen, "%s", d->err);
	}
	sqlite3_finalize(st);
	return rc;
}

int
regdb_open_read(const char *data_dir, struct regdb **db, char *err, size_t errlen)
{
	char path[PATH_MAX];
	*db = NULL;
	if (remote)
		return regdb_pg_ops.open(0, db, err, errlen);
	int yes;
	int rc = regdb_exists(data_dir, &yes, err, errlen);
	if (rc || !yes)
		return rc;
	path_of(path, sizeof path, data_dir);
	struct regdb *d = xcalloc(1, sizeof *d);
	rc = sqlite3_open_v2(path, &d->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		if (rc == SQLITE_CANTOPEN && access(path, F_OK) != 0) {
			regdb_close(d);
			return 0; /* removed meanwhile */
		}
		return give_up(d, map_rc(d, rc), err, errlen);
	}
	sqlite3_busy_timeout(d->db, DM_REG_BUSY_MS);
	sqlite3_db_config(d->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
	rc = regdb_has_table(d, "addresses", &yes, err, errlen);
	if (rc || !yes) {
		regdb_close(d);
		return rc;
	}
	rc = sqlite3_exec(d->db, "BEGIN", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return give_up(d, map_rc(d, rc), err, errlen);
	*db = d;
	return 0;
}

int
regdb_open_write(const char *data_dir, struct regdb **db, char *err, size_t errlen)
{
	char path[PATH_MAX];
	*db = NULL;
	if (remote)
		return regdb_pg_ops.open(1, db, err, errlen);
	if (dm_mkdir_p(data_dir, 0750) != 0) {
		snprintf(err, errlen, "cannot create %s: %s", data_dir, strerror(errno));
		return DM_EIO;
	}
	if (path_of(path, sizeof path, data_dir) != 0) {
		snprintf(err, errlen, "data folder name too long");
		return DM_EINVAL;
	}
	struct regdb *d = xcalloc(1, sizeof *d);
	int rc;
	if (mirror) {
		/* a private copy of the newest generation, published at commit */
		if ((rc = mirror_sync(data_dir, &d->base, err, errlen)) != 0) {
			free(d);
			return rc;
		}
		snprintf(d->copy, sizeof d->copy, "%s", path);
		snprintf(d->work, sizeof d->work, "%.*s.w%ld", (int)(sizeof d->work - 32), path,
		         (long)getpid());
		if (d->base > 0 && copy_file(path, d->work) != 0) {
			snprintf(err, errlen, "cannot copy %s: %s", path, strerror(errno));
			unlink(d->work);
			free(d);
			return DM_EIO;
		}
		snprintf(path, sizeof path, "%s", d->work);
	}
	rc = sqlite3_open_v2(path, &d->db,
	                     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK)
		return give_up(d, map_rc(d, rc), err, errlen);
	sqlite3_busy_timeout(d->db, DM_REG_BUSY_MS);
	/* switching to WAL can answer BUSY without calling the busy handler
	 * when two processes create the file at once: retry (the private
	 * copy of a ClickHouse writer is one file: no WAL) */
	for (int tries = 0;; tries++) {
		rc = sqlite3_exec(d->db, mirror ? "PRAGMA journal_mode=DELETE" : "PRAGMA journal_mode=WAL",
		                  NULL, NULL, NULL);
		if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || tries * 50 >= DM_REG_BUSY_MS)
			break;
		usleep(50 * 1000);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(d->db, mirror ? "PRAGMA synchronous=OFF" : "PRAGMA synchronous=FULL",
		                  NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(d->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(d->db, schema_sql, NULL, NULL, NULL);
	if (rc == SQLITE_OK) {
		char pragma[64];
		snprintf(pragma, sizeof pragma, "PRAGMA user_version=%d", SCHEMA_VERSION);
		rc = sqlite3_exec(d->db, pragma, NULL, NULL, NULL);
	}
	if (rc != SQLITE_OK)
		return give_up(d, map_rc(d, rc), err, errlen);
	*db = d;
	return 0;
}

int
regdb_commit(struct regdb *d, char *err, size_t errlen)
{
	if (remote)
		return regdb_pg_ops.commit(d, err, errlen);
	if (mirror) {
		/* the copy becomes generation base + 1, then is published */
		char sql[160];
		snprintf(sql, sizeof sql,
		         "INSERT INTO meta(key, value) VALUES('generation', %lld)"
		         " ON CONFLICT(key) DO UPDATE SET value = excluded.value; COMMIT",
		         (long long)d->base + 1);
		int rc = sqlite3_exec(d->db, sql, NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			rc = map_rc(d, rc);
			snprintf(err, errlen, "%s", d->err);
			return rc;
		}
		/* the caller finalizes its statements after the commit: the
		 * connection goes with the last of them */
		sqlite3_close_v2(d->db);
		d->db = NULL;
		rc = regdb_ch_publish(d->base + 1, d->work, err, errlen);
		if (rc == 0) {
			/* the local copy is the new generation at once */
			if (rename(d->work, d->copy) == 0)
				d->work[0] = '\0';
		}
		return rc;
	}
	int rc = sqlite3_exec(d->db,
	                      "INSERT INTO meta(key, value) VALUES('generation', 1)"
	                      " ON CONFLICT(key) DO UPDATE SET value = value + 1;"
	                      "COMMIT",
	                      NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		return 0;
	rc = map_rc(d, rc);
	snprintf(err, errlen, "%s", d->err);
	return rc;
}

void
regdb_close(struct regdb *d)
{
	if (!d)
		return;
	if (remote) {
		regdb_pg_ops.close(d);
		return;
	}
	if (d->db && !sqlite3_get_autocommit(d->db))
		sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(d->db);
	if (d->work[0]) {
		/* a ClickHouse writer's copy not published */
		char j[PATH_MAX + 16];
		snprintf(j, sizeof j, "%s-journal", d->work);
		unlink(j);
		unlink(d->work);
	}
	free(d);
}

int
regdb_prepare(struct regdb *d, const char *sql, struct regdb_stmt **st, char *err, size_t errlen)
{
	if (remote)
		return regdb_pg_ops.prepare(d, sql, st, err, errlen);
	*st = xcalloc(1, sizeof **st);
	(*st)->db = d;
	int rc = sqlite3_prepare_v2(d->db, sql, -1, &(*st)->s, NULL);
	if (rc == SQLITE_OK)
		return 0;
	free(*st);
	*st = NULL;
	rc = map_rc(d, rc);
	snprintf(err, errlen, "%s", d->err);
	return rc;
}

void
regdb_bind_text(struct regdb_stmt *st, int i, const char *s)
{
	if (remote)
		regdb_pg_ops.bind_text(st, i, s);
	else
		sqlite3_bind_text(st->s, i, s, -1, SQLITE_TRANSIENT);
}

void
regdb_bind_int64(struct regdb_stmt *st, int i, int64_t v)
{
	if (remote)
		regdb_pg_ops.bind_int64(st, i, v);
	else
		sqlite3_bind_int64(st->s, i, (sqlite3_int64)v);
}

void
regdb_bind_blob(struct regdb_stmt *st, int i, const void *p, size_t n)
{
	if (remote)
		regdb_pg_ops.bind_blob(st, i, p, n);
	else
		sqlite3_bind_blob(st->s, i, p, (int)n, SQLITE_TRANSIENT);
}

int
regdb_step(struct regdb_stmt *st)
{
	if (remote)
		return regdb_pg_ops.step(st);
	int s = sqlite3_step(st->s);
	if (s == SQLITE_ROW)
		return REGDB_ROW;
	if (s == SQLITE_DONE)
		return REGDB_DONE;
	if ((s & 0xff) == SQLITE_CONSTRAINT) {
		map_rc(st->db, s);
		return REGDB_CONSTRAINT;
	}
	return map_rc(st->db, s);
}

int64_t
regdb_int64(struct regdb_stmt *st, int i)
{
	return remote ? regdb_pg_ops.int64(st, i) : sqlite3_column_int64(st->s, i);
}

const char *
regdb_text(struct regdb_stmt *st, int i)
{
	return remote ? regdb_pg_ops.text(st, i) : (const char *)sqlite3_column_text(st->s, i);
}

const void *
regdb_blob(struct regdb_stmt *st, int i, size_t *n)
{
	if (remote)
		return regdb_pg_ops.blob(st, i, n);
	const void *p = sqlite3_column_blob(st->s, i);
	*n = p ? (size_t)sqlite3_column_bytes(st->s, i) : 0;
	return p;
}

void
regdb_finalize(struct regdb_stmt *st)
{
	if (!st)
		return;
	if (remote) {
		regdb_pg_ops.finalize(st);
		return;
	}
	sqlite3_finalize(st->s);
	free(st);
}

int64_t
regdb_last_id(struct regdb *d)
{
	return remote ? regdb_pg_ops.last_id(d) : sqlite3_last_insert_rowid(d->db);
}

int64_t
regdb_changes(struct regdb *d)
{
	return remote ? regdb_pg_ops.changes(d) : sqlite3_changes(d->db);
}

const char *
regdb_error(struct regdb *d)
{
	return remote ? regdb_pg_ops.error(d) : d->err;
}
