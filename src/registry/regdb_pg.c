/*
 * regdb_pg.c - the registry in PostgreSQL (libpq), for several nodes
 * that share one database: the schema dmarcd_registry beside the store's
 * tables, with the same tables as the SQLite file (regdb.c).
 *
 * Functions: regdb_pg_use and the regdb_pg_ops table (regdb.h).
 *
 * A connection is made for each use (the CLI's commands, a server's
 * reload, its check for a change once a second) and closed after it.  A
 * reader reads in one REPEATABLE READ READ ONLY transaction; a writer
 * takes a transaction-level advisory lock first, so writers queue, and
 * creates the schema under it (CREATE ... IF NOT EXISTS run by two at once
 * would collide).  ids come from sequences (bigserial), never reused, as
 * AUTOINCREMENT does in the file.  SQL arrives in registry.c's dialect:
 * ?N becomes $N, COLLATE BINARY becomes COLLATE "C", and an INSERT gets
 * RETURNING id for regdb_last_id.  A unique violation (23505) is
 * REGDB_CONSTRAINT.  Logs nothing.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/xalloc.h"
#include "registry/regdb.h"
#include "store/store_pg.h"

#define REG_LOCK_KEY "4242002" /* the writers' advisory lock */

static const char schema_sql[] =
        "CREATE SCHEMA IF NOT EXISTS dmarcd_registry;"
        "SET LOCAL search_path = dmarcd_registry;"
        "CREATE TABLE IF NOT EXISTS accounts("
        " id bigserial PRIMARY KEY, name text NOT NULL,"
        " catch_all integer NOT NULL DEFAULT 0, created_at bigint NOT NULL);"
        "CREATE UNIQUE INDEX IF NOT EXISTS accounts_name ON accounts(lower(name));"
        "CREATE TABLE IF NOT EXISTS domains("
        " id bigserial PRIMARY KEY, domain text NOT NULL UNIQUE,"
        " account_id bigint NOT NULL REFERENCES accounts(id), created_at bigint NOT NULL);"
        "CREATE TABLE IF NOT EXISTS addresses("
        " id bigserial PRIMARY KEY, address text NOT NULL UNIQUE,"
        " account_id bigint NOT NULL REFERENCES accounts(id),"
        " domain_id bigint REFERENCES domains(id), created_at bigint NOT NULL);"
        "CREATE TABLE IF NOT EXISTS tokens("
        " id bigserial PRIMARY KEY, account_id bigint NOT NULL, admin integer NOT NULL,"
        " name text NOT NULL, hash bytea NOT NULL, created_at bigint NOT NULL,"
        " revoked_at bigint);"
        "CREATE TABLE IF NOT EXISTS meta(key text PRIMARY KEY, value bigint NOT NULL);";

static char *pg_url;
static char pg_password[256];

struct regdb {
	PGconn *c;
	int64_t last_id, changes;
	char err[512];
};

struct regdb_stmt {
	struct regdb *db;
	char *sql;
	int insert;
	char *v[REGDB_MAX_PARAMS];
	int n;
	PGresult *r;
	int row;
	unsigned char *blob; /* the last bytea column read */
};

int
regdb_pg_use(const char *url, const char *password)
{
	free(pg_url);
	pg_url = xstrdup(url);
	snprintf(pg_password, sizeof pg_password, "%s", password ? password : "");
	return 0;
}

static void
set_err(struct regdb *d, const char *what, const char *msg)
{
	store_pg_words(d->err, sizeof d->err, "registry in postgres", what, msg);
}

static int
code_of(struct regdb *d, PGresult *r)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	if (state && (strcmp(state, "40P01") == 0 || strcmp(state, "40001") == 0 ||
	              strcmp(state, "55P03") == 0))
		return DM_EBUSY;
	return PQstatus(d->c) == CONNECTION_OK ? DM_ESTORE : DM_EIO;
}

/* Run sql; 0 or the failure (why in d->err). */
static int
ex(struct regdb *d, const char *sql, const char *what)
{
	PGresult *r = PQexec(d->c, sql);
	ExecStatusType s = PQresultStatus(r);
	int rc = 0;
	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
		set_err(d, what, PQresultErrorMessage(r));
		rc = code_of(d, r);
	}
	PQclear(r);
	return rc;
}

static void
pg_close(struct regdb *d)
{
	if (!d)
		return;
	PQfinish(d->c); /* an open transaction ends with the connection: rolled back */
	free(d);
}

static struct regdb *
pg_connect(char *err, size_t errlen, int *rc)
{
	const char *keys[6] = {
	        "dbname", "connect_timeout", "application_name", "client_encoding", NULL, NULL};
	const char *vals[6] = {pg_url, "10", "dmarcd-registry", "UTF8", NULL, NULL};
	if (pg_password[0]) {
		keys[4] = "password";
		vals[4] = pg_password;
	}
	struct regdb *d = xcalloc(1, sizeof *d);
	d->c = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(d->c) != CONNECTION_OK) {
		set_err(d, "cannot connect", PQerrorMessage(d->c));
		snprintf(err, errlen, "%s", d->err);
		pg_close(d);
		*rc = DM_EIO;
		return NULL;
	}
	*rc = 0;
	return d;
}

/* Is the schema there?  (On d's connection.) */
static int
has_schema(struct regdb *d, int *yes)
{
	PGresult *r = PQexec(d->c, "SELECT to_regclass('dmarcd_registry.meta') IS NOT NULL");
	int rc = 0;
	*yes = 0;
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		*yes = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	else {
		set_err(d, "look for the registry", PQresultErrorMessage(r));
		rc = code_of(d, r);
	}
	PQclear(r);
	return rc;
}

static int
pg_exists(int *yes, char *err, size_t errlen)
{
	int rc;
	*yes = 0;
	struct regdb *d = pg_connect(err, errlen, &rc);
	if (!d)
		return rc;
	rc = has_schema(d, yes);
	if (rc)
		snprintf(err, errlen, "%s", d->err);
	pg_close(d);
	return rc;
}

static int
pg_open(int write, struct regdb **db, char *err, size_t errlen)
{
	int rc, yes = 0;
	*db = NULL;
	struct regdb *d = pg_connect(err, errlen, &rc);
	if (!d)
		return rc;
	if (write) {
		rc = ex(d, "BEGIN", "begin");
		if (rc == 0)
			rc = ex(d, "SELECT pg_advisory_xact_lock(" REG_LOCK_KEY ")",
			        "wait for writers");
		if (rc == 0)
			rc = ex(d, schema_sql, "create the registry");
		yes = 1;
	} else {
		rc = has_schema(d, &yes);
		if (rc == 0 && yes)
			rc = ex(d, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "begin");
	}
	if (rc == 0 && yes)
		rc = ex(d, "SET LOCAL search_path = dmarcd_registry", "begin");
	if (rc || !yes) {
		if (rc)
			snprintf(err, errlen, "%s", d->err);
		pg_close(d);
		return rc;
	}
	*db = d;
	return 0;
}

static int
pg_commit(struct regdb *d, char *err, size_t errlen)
{
	int rc = ex(d,
	            "INSERT INTO meta(key, value) VALUES('generation', 1)"
	            " ON CONFLICT(key) DO UPDATE SET value = meta.value + 1;"
	            "COMMIT",
	            "commit");
	if (rc)
		snprintf(err, errlen, "%s", d->err);
	return rc;
}

/* registry.c's SQL in PostgreSQL's words. */
static char *
translate(const char *sql, int *insert)
{
	static const char binary[] = "COLLATE BINARY";
	struct dm_buf b;
	dm_buf_init(&b, 64 * 1024);
	int bad = 0;
	for (const char *p = sql; *p;) {
		if (*p == '?') {
			bad |= dm_buf_addc(&b, '$');
			p++;
		} else if (strncmp(p, binary, sizeof binary - 1) == 0) {
			bad |= dm_buf_add(&b, "COLLATE \"C\"", 11);
			p += sizeof binary - 1;
		} else {
			bad |= dm_buf_addc(&b, *p++);
		}
	}
	*insert = strncmp(sql, "INSERT", 6) == 0 && strstr(sql, "ON CONFLICT") == NULL;
	if (*insert)
		bad |= dm_buf_add(&b, " RETURNING id", 13);
	bad |= dm_buf_addc(&b, '\0');
	if (bad) {
		dm_buf_free(&b);
		return NULL;
	}
	return b.data; /* the caller frees it */
}

static int
pg_prepare(struct regdb *d, const char *sql, struct regdb_stmt **out, char *err, size_t errlen)
{
	struct regdb_stmt *st = xcalloc(1, sizeof *st);
	st->db = d;
	st->sql = translate(sql, &st->insert);
	st->row = -1;
	if (!st->sql) {
		free(st);
		snprintf(err, errlen, "registry in postgres: statement too long");
		return DM_EINVAL;
	}
	*out = st;
	return 0;
}

static void
set_param(struct regdb_stmt *st, int i, char *v)
{
	if (i < 1 || i > REGDB_MAX_PARAMS) {
		free(v);
		return;
	}
	free(st->v[i - 1]);
	st->v[i - 1] = v;
	if (st->n < i)
		st->n = i;
}

static void
pg_bind_text(struct regdb_stmt *st, int i, const char *s)
{
	set_param(st, i, s ? xstrdup(s) : NULL);
}

static void
pg_bind_int64(struct regdb_stmt *st, int i, int64_t v)
{
	char n[24];
	snprintf(n, sizeof n, "%lld", (long long)v);
	set_param(st, i, xstrdup(n));
}

static void
pg_bind_blob(struct regdb_stmt *st, int i, const void *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = p;
	char *s = xmalloc(2 * n + 3);
	s[0] = '\\';
	s[1] = 'x';
	for (size_t k = 0; k < n; k++) {
		s[2 + 2 * k] = hex[u[k] >> 4];
		s[3 + 2 * k] = hex[u[k] & 15];
	}
	s[2 + 2 * n] = '\0';
	set_param(st, i, s);
}

static int
pg_step(struct regdb_stmt *st)
{
	struct regdb *d = st->db;
	if (st->r == NULL) {
		st->r = PQexecParams(d->c, st->sql, st->n, NULL, (const char *const *)st->v, NULL,
		                     NULL, 0);
		ExecStatusType s = PQresultStatus(st->r);
		if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
			const char *state = PQresultErrorField(st->r, PG_DIAG_SQLSTATE);
			set_err(d, "query", PQresultErrorMessage(st->r));
			if (state && strcmp(state, "23505") == 0)
				return REGDB_CONSTRAINT;
			return code_of(d, st->r);
		}
		d->changes = strtoll(PQcmdTuples(st->r), NULL, 10);
		if (st->insert) {
			if (PQntuples(st->r) == 1)
				d->last_id = strtoll(PQgetvalue(st->r, 0, 0), NULL, 10);
			return REGDB_DONE;
		}
	}
	if (st->insert)
		return REGDB_DONE;
	st->row++;
	return st->row < PQntuples(st->r) ? REGDB_ROW : REGDB_DONE;
}

static int64_t
pg_col_int64(struct regdb_stmt *st, int i)
{
	if (!st->r || st->row < 0 || PQgetisnull(st->r, st->row, i))
		return 0;
	return strtoll(PQgetvalue(st->r, st->row, i), NULL, 10);
}

static const char *
pg_col_text(struct regdb_stmt *st, int i)
{
	if (!st->r || st->row < 0 || PQgetisnull(st->r, st->row, i))
		return NULL;
	return PQgetvalue(st->r, st->row, i);
}

static const void *
pg_col_blob(struct regdb_stmt *st, int i, size_t *n)
{
	*n = 0;
	if (st->blob)
		PQfreemem(st->blob);
	st->blob = NULL;
	if (!st->r || st->row < 0 || PQgetisnull(st->r, st->row, i))
		return NULL;
	size_t len = 0;
	st->blob = PQunescapeBytea((const unsigned char *)PQgetvalue(st->r, st->row, i), &len);
	*n = len;
	return st->blob;
}

static void
pg_finalize(struct regdb_stmt *st)
{
	for (int i = 0; i < REGDB_MAX_PARAMS; i++)
		free(st->v[i]);
	PQclear(st->r);
	if (st->blob)
		PQfreemem(st->blob);
	free(st->sql);
	free(st);
}

static int64_t
pg_last_id(struct regdb *d)
{
	return d->last_id;
}

static int64_t
pg_changes(struct regdb *d)
{
	return d->changes;
}

static const char *
pg_error(struct regdb *d)
{
	return d->err;
}

const struct regdb_ops regdb_pg_ops = {
        .exists = pg_exists,
        .open = pg_open,
        .commit = pg_commit,
        .close = pg_close,
        .prepare = pg_prepare,
        .bind_text = pg_bind_text,
        .bind_int64 = pg_bind_int64,
        .bind_blob = pg_bind_blob,
        .step = pg_step,
        .int64 = pg_col_int64,
        .text = pg_col_text,
        .blob = pg_col_blob,
        .finalize = pg_finalize,
        .last_id = pg_last_id,
        .changes = pg_changes,
        .error = pg_error,
};
