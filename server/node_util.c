/*
 * node_util.c - the node's small containers: a u64 -> pointer hash map
 * (request IDs and wait IDs to waits), growable byte buffers, and the
 * monotonic clock the lessor uses.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/node_internal.h"

static size_t slot_of(uint64_t key, size_t cap)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdull;
	key ^= key >> 33;
	return (size_t)key & (cap - 1);
}

static int u64map_grow(struct u64map *m)
{
	size_t cap = m->cap ? m->cap * 2 : 64;
	uint64_t *keys = calloc(cap, sizeof *keys);
	void **vals = calloc(cap, sizeof *vals);
	if (!keys || !vals) {
		free(keys);
		free(vals);
		return -1;
	}
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->keys[i])
			continue;
		size_t s = slot_of(m->keys[i], cap);
		while (keys[s])
			s = (s + 1) & (cap - 1);
		keys[s] = m->keys[i];
		vals[s] = m->vals[i];
	}
	free(m->keys);
	free(m->vals);
	m->keys = keys;
	m->vals = vals;
	m->cap = cap;
	return 0;
}

int u64map_put(struct u64map *m, uint64_t key, void *val)
{
	if ((m->n + 1) * 2 > m->cap && u64map_grow(m))
		return -1;
	size_t s = slot_of(key, m->cap);
	while (m->keys[s] && m->keys[s] != key)
		s = (s + 1) & (m->cap - 1);
	if (!m->keys[s])
		m->n++;
	m->keys[s] = key;
	m->vals[s] = val;
	return 0;
}

void *u64map_get(const struct u64map *m, uint64_t key)
{
	if (!m->cap || !key)
		return NULL;
	size_t s = slot_of(key, m->cap);
	while (m->keys[s]) {
		if (m->keys[s] == key)
			return m->vals[s];
		s = (s + 1) & (m->cap - 1);
	}
	return NULL;
}

void *u64map_del(struct u64map *m, uint64_t key)
{
	if (!m->cap || !key)
		return NULL;
	size_t s = slot_of(key, m->cap);
	while (m->keys[s] && m->keys[s] != key)
		s = (s + 1) & (m->cap - 1);
	if (!m->keys[s])
		return NULL;
	void *val = m->vals[s];
	m->keys[s] = 0;
	m->vals[s] = NULL;
	m->n--;
	/* Re-insert the rest of the cluster (linear probing deletion). */
	size_t i = (s + 1) & (m->cap - 1);
	while (m->keys[i]) {
		uint64_t k = m->keys[i];
		void *v = m->vals[i];
		m->keys[i] = 0;
		m->vals[i] = NULL;
		size_t t = slot_of(k, m->cap);
		while (m->keys[t])
			t = (t + 1) & (m->cap - 1);
		m->keys[t] = k;
		m->vals[t] = v;
		i = (i + 1) & (m->cap - 1);
	}
	return val;
}

void u64map_free(struct u64map *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof *m);
}

int bytes_reserve(struct bytes *b, size_t extra)
{
	if (b->len + extra <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + extra)
		cap *= 2;
	uint8_t *p = realloc(b->p, cap);
	if (!p)
		return -1;
	b->p = p;
	b->cap = cap;
	return 0;
}

void bytes_free(struct bytes *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

int64_t node_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

bool node__trace_raft(void)
{
	static int trace = -1;
	if (trace < 0)
		trace = getenv("CAIRN_TRACE_RAFT") != NULL;
	return trace == 1;
}
