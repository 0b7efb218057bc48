/*
 * store/mvcc_arena.c - the bump allocator responses and events come from.
 *
 * Chunks are chained newest first; an allocation that does not fit the
 * current chunk takes a new one of max(chunk_size, size). A reset keeps
 * only the largest chunk, so an arena reset once per batch converges on a
 * single chunk big enough for the batch and stops calling malloc.
 */
#include <stdlib.h>
#include <string.h>

#include "store/mvcc_internal.h"

#define ARENA_ALIGN         16u
#define ARENA_DEFAULT_CHUNK (64u * 1024u)

struct store_mvcc_arena_chunk {
	struct store_mvcc_arena_chunk *prev;
	size_t cap;
	size_t pad; /* keeps data 16-aligned */
	_Alignas(16) unsigned char data[];
};

void store_mvcc_arena_init(struct store_mvcc_arena *a, size_t chunk_size)
{
	a->chunk = NULL;
	a->used = 0;
	a->chunk_size = chunk_size ? chunk_size : ARENA_DEFAULT_CHUNK;
	a->total = 0;
}

static struct store_mvcc_arena_chunk *arena__chunk_new(struct store_mvcc_arena *a, size_t size)
{
	size_t cap = size > a->chunk_size ? size : a->chunk_size;
	struct store_mvcc_arena_chunk *c = malloc(sizeof(*c) + cap);
	if (!c)
		return NULL;
	c->cap = cap;
	c->prev = a->chunk;
	a->chunk = c;
	a->used = 0;
	a->total += cap;
	return c;
}

void *store_mvcc_arena_alloc(struct store_mvcc_arena *a, size_t size)
{
	size_t need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	if (need == 0)
		need = ARENA_ALIGN;
	if (need < size)
		return NULL; /* overflow */
	if (!a->chunk || a->chunk->cap - a->used < need) {
		if (!arena__chunk_new(a, need))
			return NULL;
	}
	void *p = a->chunk->data + a->used;
	a->used += need;
	return p;
}

void store_mvcc_arena_reset(struct store_mvcc_arena *a)
{
	struct store_mvcc_arena_chunk *keep = NULL;
	for (struct store_mvcc_arena_chunk *c = a->chunk; c; c = c->prev)
		if (!keep || c->cap > keep->cap)
			keep = c;
	struct store_mvcc_arena_chunk *c = a->chunk;
	while (c) {
		struct store_mvcc_arena_chunk *prev = c->prev;
		if (c != keep)
			free(c);
		c = prev;
	}
	a->chunk = keep;
	a->used = 0;
	a->total = keep ? keep->cap : 0;
	if (keep)
		keep->prev = NULL;
}

void store_mvcc_arena_destroy(struct store_mvcc_arena *a)
{
	struct store_mvcc_arena_chunk *c = a->chunk;
	while (c) {
		struct store_mvcc_arena_chunk *prev = c->prev;
		free(c);
		c = prev;
	}
	a->chunk = NULL;
	a->used = 0;
	a->total = 0;
}

static void *arena__pb_alloc(void *data, size_t size)
{
	return store_mvcc_arena_alloc(data, size);
}

static void arena__pb_free(void *data, void *p)
{
	(void)data;
	(void)p;
}

ProtobufCAllocator store_mvcc_arena_allocator(struct store_mvcc_arena *a)
{
	ProtobufCAllocator al = {
	    .alloc = arena__pb_alloc,
	    .free = arena__pb_free,
	    .allocator_data = a,
	};
	return al;
}
