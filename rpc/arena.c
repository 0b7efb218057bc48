/*
 * rpc/arena.c - a bump allocator for protobuf-c unpacking.
 *
 * protobuf_c_message_unpack() allocates the message, every sub-message,
 * repeated-field array and bytes field separately. Handlers look at a
 * request only during their callback (unless they ask for RPC_KEEP_MESSAGES),
 * so all of those allocations come from one chunk that is reset after the
 * callback: no malloc/free per message in the steady state. Blocks bigger
 * than a quarter of the chunk go to malloc and are freed at reset; the chunk
 * grows to the largest total seen, up to 1 MiB.
 */
#include <stdlib.h>

#include "rpc/internal.h"

#define ARENA_MIN   4096
#define ARENA_MAX   (1u << 20)
#define ARENA_ALIGN 16

static void *big_alloc(struct rpc__arena *a, size_t size)
{
	if (a->nbig == a->capbig) {
		size_t cap = a->capbig ? a->capbig * 2 : 8;
		void **p = realloc(a->big, cap * sizeof *p);
		if (!p)
			return NULL;
		a->big = p;
		a->capbig = cap;
	}
	void *p = malloc(size);
	if (p)
		a->big[a->nbig++] = p;
	return p;
}

static void *arena_alloc(void *data, size_t size)
{
	struct rpc__arena *a = data;
	size = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	if (size == 0)
		size = ARENA_ALIGN;
	if (a->cap - a->used >= size) {
		void *p = a->chunk + a->used;
		a->used += size;
		return p;
	}
	return big_alloc(a, size);
}

static void arena_free(void *data, void *p)
{
	/* Everything goes at reset. */
	(void)data;
	(void)p;
}

void rpc__arena_init(struct rpc__arena *a)
{
	*a = (struct rpc__arena){0};
	a->pa.alloc = arena_alloc;
	a->pa.free = arena_free;
	a->pa.allocator_data = a;
}

void rpc__arena_reset(struct rpc__arena *a)
{
	size_t spilled = 0;
	for (size_t i = 0; i < a->nbig; i++)
		free(a->big[i]);
	if (a->nbig)
		spilled = a->used + a->nbig * ARENA_MIN;
	a->nbig = 0;
	a->used = 0;
	a->in_use = false;
	if (!a->chunk || (spilled > a->cap && a->cap < ARENA_MAX)) {
		/* Grow so that the next message of this size fits in the chunk. */
		size_t cap = a->cap ? a->cap * 2 : ARENA_MIN;
		while (cap < spilled && cap < ARENA_MAX)
			cap *= 2;
		uint8_t *c = malloc(cap);
		if (c) {
			free(a->chunk);
			a->chunk = c;
			a->cap = cap;
		}
	}
}

void rpc__arena_free(struct rpc__arena *a)
{
	for (size_t i = 0; i < a->nbig; i++)
		free(a->big[i]);
	free(a->big);
	free(a->chunk);
	rpc__arena_init(a);
}
