/*
 * rpc/buf.c - a growable byte buffer with a read offset.
 *
 * Out-buffers, reassembly buffers and write buffers are all this one type.
 * Appends go to the tail; consumers advance the head. When the head reaches
 * the tail both snap back to zero, so a buffer that is drained between uses
 * (the common case: one unary reply) never moves bytes; otherwise live bytes
 * are moved down only when that frees enough room, before growing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/internal.h"

int rpc__buf_reserve(struct rpc__buf *b, size_t n)
{
	if (b->cap - b->len >= n)
		return 0;
	size_t live = b->len - b->off;
	if (b->off > 0 && b->cap - live >= n && b->off >= live) {
		/* Compaction pays for itself: the live part is no bigger than the
		 * space it frees. */
		memmove(b->data, b->data + b->off, live);
		b->off = 0;
		b->len = live;
		return 0;
	}
	size_t need = live + n;
	if (need < live)
		return -ENOMEM;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need) {
		if (cap > SIZE_MAX / 2)
			return -ENOMEM;
		cap *= 2;
	}
	if (b->off > 0) {
		uint8_t *d = malloc(cap);
		if (!d)
			return -ENOMEM;
		memcpy(d, b->data + b->off, live);
		free(b->data);
		b->data = d;
		b->off = 0;
		b->len = live;
	} else {
		uint8_t *d = realloc(b->data, cap);
		if (!d)
			return -ENOMEM;
		b->data = d;
	}
	b->cap = cap;
	return 0;
}

int rpc__buf_append(struct rpc__buf *b, const void *p, size_t n)
{
	int rv = rpc__buf_reserve(b, n);
	if (rv)
		return rv;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

void rpc__buf_consume(struct rpc__buf *b, size_t n)
{
	b->off += n;
	if (b->off >= b->len)
		b->off = b->len = 0;
}

void rpc__buf_reset(struct rpc__buf *b)
{
	b->off = b->len = 0;
}

void rpc__buf_trim(struct rpc__buf *b, size_t keep)
{
	b->off = b->len = 0;
	if (b->cap > keep) {
		free(b->data);
		b->data = NULL;
		b->cap = 0;
	}
}

void rpc__buf_free(struct rpc__buf *b)
{
	free(b->data);
	b->data = NULL;
	b->off = b->len = b->cap = 0;
}
