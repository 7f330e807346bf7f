/*
 * arena.c - bump allocator.
 *
 * Functions: dm_arena_init, dm_arena_reset, dm_arena_free, dm_arena_alloc,
 * dm_arena_strndup.  Blocks grow to fit large strings; reset keeps the
 * first block so a per-record arena does not call malloc per record.
 */
#include "arena.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

#define ARENA_BLOCK 8192

struct dm_arena_block {
	struct dm_arena_block *next;
	size_t size;
	size_t used;
	_Alignas(16) unsigned char data[];
};

void
dm_arena_init(struct dm_arena *a)
{
	a->head = NULL;
	a->used_total = 0;
}

void
dm_arena_reset(struct dm_arena *a)
{
	struct dm_arena_block *b = a->head;
	if (!b)
		return;
	/* keep the oldest block (the last in the list) */
	while (b->next) {
		struct dm_arena_block *n = b->next;
		free(b);
		b = n;
	}
	b->used = 0;
	a->head = b;
	a->used_total = 0;
}

void
dm_arena_free(struct dm_arena *a)
{
	struct dm_arena_block *b = a->head;
	while (b) {
		struct dm_arena_block *n = b->next;
		free(b);
		b = n;
	}
	a->head = NULL;
	a->used_total = 0;
}

void *
dm_arena_alloc(struct dm_arena *a, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	struct dm_arena_block *b = a->head;
	if (!b || b->size - b->used < n) {
		size_t size = n > ARENA_BLOCK ? n : ARENA_BLOCK;
		struct dm_arena_block *nb = xmalloc(sizeof *nb + size);
		nb->size = size;
		nb->used = 0;
		nb->next = a->head;
		a->head = nb;
		b = nb;
	}
	void *p = b->data + b->used;
	b->used += n;
	a->used_total += n;
	return p;
}

char *
dm_arena_strndup(struct dm_arena *a, const char *s, size_t len)
{
	char *d = dm_arena_alloc(a, len + 1);
	if (len)
		memcpy(d, s, len);
	d[len] = '\0';
	return d;
}
