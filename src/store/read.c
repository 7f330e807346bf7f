/*
 * read.c - the engine-neutral parts of the store's read side: records
 * rebuilt from their JSON result columns, a source's DKIM and SPF parts,
 * a source row's short lists.
 *
 * Functions: read_record_init, read_record_free, read_record_start,
 * read_record_results, read_parts_clear, read_parts_free,
 * read_parts_record, read_parts_emit, read_list_add.
 *
 * The JSON columns were written by backend_record_json (backend.c); a
 * column that does not parse as an array is read as none.
 */
#include "store/read.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

void
read_record_init(struct read_record *b)
{
	dm_arena_init(&b->arena);
}

void
read_record_free(struct read_record *b)
{
	dm_arena_free(&b->arena);
}

void
read_record_start(struct read_record *b, struct dm_record *rec, const unsigned char *ip)
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	memset(rec, 0, sizeof *rec);
	dm_arena_reset(&b->arena);
	if (ip != NULL) {
		memcpy(rec->ip, ip, 16);
		rec->ip_family = memcmp(rec->ip, mapped, 12) == 0 ? 4 : 6;
	}
	rec->ip_text = "";
	rec->reasons = b->reasons;
	rec->dkim_res = b->dkim;
	rec->spf_res = b->spf;
}

static const char *
jstr(struct dm_arena *a, json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));
	return v ? dm_arena_strndup(a, v, strlen(v)) : NULL;
}

static json_t *
jarray(const char *p, size_t n)
{
	if (p == NULL || n == 0)
		return NULL;
	json_t *a = json_loadb(p, n, 0, NULL);
	if (a && !json_is_array(a)) {
		json_decref(a);
		return NULL;
	}
	return a;
}

void
read_record_results(struct read_record *b, struct dm_record *rec, const char *reasons,
                    size_t nreasons, const char *dkim, size_t ndkim, const char *spf, size_t nspf)
{
	json_t *a = jarray(reasons, nreasons);
	for (size_t i = 0; a && i < json_array_size(a) && rec->nreasons < DM_MAX_REASONS; i++) {
		json_t *o = json_array_get(a, i);
		b->reasons[rec->nreasons].type = jstr(&b->arena, o, "type");
		b->reasons[rec->nreasons++].comment = jstr(&b->arena, o, "comment");
	}
	json_decref(a);
	a = jarray(dkim, ndkim);
	for (size_t i = 0; a && i < json_array_size(a) && rec->ndkim < DM_MAX_DKIM_RESULTS; i++) {
		json_t *o = json_array_get(a, i);
		struct dm_auth_dkim *d = &b->dkim[rec->ndkim++];
		d->domain = jstr(&b->arena, o, "domain");
		d->selector = jstr(&b->arena, o, "selector");
		d->result = jstr(&b->arena, o, "result");
		d->human_result = jstr(&b->arena, o, "human_result");
	}
	json_decref(a);
	a = jarray(spf, nspf);
	for (size_t i = 0; a && i < json_array_size(a) && rec->nspf < DM_MAX_SPF_RESULTS; i++) {
		json_t *o = json_array_get(a, i);
		struct dm_auth_spf *d = &b->spf[rec->nspf++];
		d->domain = jstr(&b->arena, o, "domain");
		d->scope = jstr(&b->arena, o, "scope");
		d->result = jstr(&b->arena, o, "result");
		d->human_result = jstr(&b->arena, o, "human_result");
	}
	json_decref(a);
}

/* ---- a source's parts ------------------------------------------------------------- */

static int
str_eq(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

void
read_parts_clear(struct read_parts *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].name);
		free(p->v[i].sub);
		free(p->v[i].result);
	}
	p->n = 0;
}

void
read_parts_free(struct read_parts *p)
{
	read_parts_clear(p);
	free(p->v);
	p->v = NULL;
	p->cap = 0;
}

static void
part_add(struct read_parts *p, int kind, const char *name, const char *sub, const char *result,
         uint64_t messages)
{
	for (size_t i = 0; i < p->n; i++) {
		struct read_part *x = &p->v[i];
		if (x->kind == kind && str_eq(x->name, name) && str_eq(x->sub, sub) &&
		    str_eq(x->result, result)) {
			x->messages += messages;
			return;
		}
	}
	if (p->n >= DM_HTTP_MAX_SOURCE_PARTS)
		return; /* a source seen with more results than anyone reads */
	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 32;
		p->v = xrealloc(p->v, p->cap * sizeof *p->v);
	}
	struct read_part *x = &p->v[p->n++];
	x->kind = kind;
	x->name = xstrdup(name ? name : "");
	x->sub = xstrdup(sub ? sub : "");
	x->result = xstrdup(result ? result : "");
	x->messages = messages;
}

void
read_parts_record(struct read_parts *p, const struct dm_record *rec)
{
	for (unsigned i = 0; i < rec->ndkim; i++)
		part_add(p, STORE_PART_DKIM, rec->dkim_res[i].domain, rec->dkim_res[i].selector,
		         rec->dkim_res[i].result, (uint64_t)rec->count);
	for (unsigned i = 0; i < rec->nspf; i++)
		part_add(p, STORE_PART_SPF, rec->spf_res[i].domain, rec->spf_res[i].scope,
		         rec->spf_res[i].result, (uint64_t)rec->count);
}

static int
part_cmp(const void *a, const void *b)
{
	const struct read_part *x = a, *y = b;
	if (x->kind != y->kind)
		return x->kind - y->kind;
	if (x->messages != y->messages)
		return x->messages > y->messages ? -1 : 1;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->sub, y->sub);
}

int
read_parts_emit(struct read_parts *p, int (*fn)(void *arg, const struct store_part_row *r),
                void *arg)
{
	int n = 0;
	if (p->n > 1)
		qsort(p->v, p->n, sizeof *p->v, part_cmp);
	for (size_t i = 0; n == 0 && i < p->n; i++) {
		struct read_part *x = &p->v[i];
		struct store_part_row r = {.kind = x->kind,
		                           .name = x->name,
		                           .sub = x->sub,
		                           .result = x->result,
		                           .messages = x->messages};
		n = fn(arg, &r);
	}
	return n;
}

void
read_list_add(const char **list, size_t *n, const char *v, struct dm_arena *a)
{
	if (v == NULL || *n >= STORE_SOURCE_LIST)
		return;
	for (size_t i = 0; i < *n; i++)
		if (strcmp(list[i], v) == 0)
			return;
	list[(*n)++] = dm_arena_strndup(a, v, strlen(v));
}
