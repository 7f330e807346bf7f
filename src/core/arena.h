/*
 * arena.h - a bump allocator that owns the strings of one report.
 *
 * A parsed report and its current record keep every string in an arena,
 * freed (or reset for the next record) in one call (STYLE.md habit 4).
 */
#ifndef DM_ARENA_H
#define DM_ARENA_H

#include <stddef.h>

struct dm_arena_block;

struct dm_arena {
	struct dm_arena_block *head;
	size_t used_total;
};

void dm_arena_init(struct dm_arena *a);
/* Free every block but the first and rewind. */
void dm_arena_reset(struct dm_arena *a);
void dm_arena_free(struct dm_arena *a);
void *dm_arena_alloc(struct dm_arena *a, size_t n);
/* Copy len bytes of s and a NUL. */
char *dm_arena_strndup(struct dm_arena *a, const char *s, size_t len);

#endif
