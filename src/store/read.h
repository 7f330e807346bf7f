/*
 * read.h - what the backends' read sides share (store_sqlite_read.c,
 * store_pg_read.c): a record rebuilt from its stored columns, and the
 * DKIM and SPF results of one source summed over its records.  Private to
 * src/store/.
 */
#ifndef DM_STORE_READ_H
#define DM_STORE_READ_H

#include <stddef.h>
#include <stdint.h>

#include "common/limits.h"
#include "core/arena.h"
#include "core/report.h"
#include "store/store.h"

/* Where a record read back keeps its strings and results. */
struct read_record {
	struct dm_arena arena;
	struct dm_reason reasons[DM_MAX_REASONS];
	struct dm_auth_dkim dkim[DM_MAX_DKIM_RESULTS];
	struct dm_auth_spf spf[DM_MAX_SPF_RESULTS];
};

void read_record_init(struct read_record *b);
void read_record_free(struct read_record *b);

/* Start rec afresh (b's arena rewound): ip (16 bytes, or NULL) and the
 * results arrays pointing into b; the caller fills the plain columns. */
void read_record_start(struct read_record *b, struct dm_record *rec, const unsigned char *ip);

/* Fill rec's reasons, DKIM and SPF results from the three JSON array
 * columns the write side stores (NULL or empty: none). */
void read_record_results(struct read_record *b, struct dm_record *rec, const char *reasons,
                         size_t nreasons, const char *dkim, size_t ndkim, const char *spf,
                         size_t nspf);

/* A source's DKIM and SPF results (name, sub, result), summed while its
 * records are read; at most DM_HTTP_MAX_SOURCE_PARTS distinct ones. */
struct read_parts {
	struct read_part {
		int kind;
		char *name, *sub, *result;
		uint64_t messages;
	} * v;
	size_t n, cap;
};

void read_parts_clear(struct read_parts *p);
void read_parts_free(struct read_parts *p);
/* Count one of the source's records. */
void read_parts_record(struct read_parts *p, const struct dm_record *rec);
/* Sort (kind, most messages first, name, sub) and give each to fn; stops
 * at fn's first non-zero return and returns it. */
int read_parts_emit(struct read_parts *p, int (*fn)(void *arg, const struct store_part_row *r),
                    void *arg);

/* Add v to a source row's list (header_from, reporters) unless it is
 * there or the list is full; the copy lives in a. */
void read_list_add(const char **list, size_t *n, const char *v, struct dm_arena *a);

#endif
