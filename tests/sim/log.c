/*
 * log.c - the simulated hosts' logs and the chain hash.
 *
 * A host log holds payloads (unlike the core's, which holds descriptors).
 * Each entry carries a chain hash over the whole log up to it, so that two
 * logs agree up to an index exactly when their chain hashes there agree.
 */
#include <stdlib.h>
#include <string.h>

#include "tests/sim/internal.h"

static uint64_t mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t sim_chain(uint64_t prev, uint64_t term, uint8_t type, const uint8_t *data, uint32_t size)
{
	uint64_t h = 1469598103934665603ull ^ type;
	for (uint32_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 1099511628211ull;
	uint64_t c = mix(prev + 0x9e3779b97f4a7c15ull) ^ mix(term * 31 + 7) ^ mix(h);
	return c ? c : 1;
}

uint64_t slog_last(const struct slog *l)
{
	return l->base + l->n;
}

struct sentry *slog_at(struct slog *l, uint64_t index)
{
	if (index <= l->base || index > slog_last(l))
		return NULL;
	return &l->v[index - l->base - 1];
}

uint64_t slog_chain_at(struct slog *l, uint64_t index)
{
	if (index == l->base)
		return l->base_chain;
	struct sentry *e = slog_at(l, index);
	return e ? e->chain : 0;
}

void slog_truncate(struct slog *l, uint64_t from)
{
	while (slog_last(l) >= from && l->n > 0) {
		free(l->v[l->n - 1].data);
		l->n--;
	}
}

void slog_append(struct slog *l, const struct sentry *e)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = sim_xrealloc(l->v, l->cap * sizeof *l->v);
	}
	struct sentry *d = &l->v[l->n++];
	*d = *e;
	d->data = sim_xrealloc(NULL, e->size);
	if (e->size)
		memcpy(d->data, e->data, e->size);
}

void slog_compact(struct slog *l, uint64_t upto)
{
	if (upto <= l->base)
		return;
	if (upto > slog_last(l))
		upto = slog_last(l);
	size_t drop = (size_t)(upto - l->base);
	struct sentry *last = &l->v[drop - 1];
	l->base_term = last->term;
	l->base_chain = last->chain;
	for (size_t i = 0; i < drop; i++)
		free(l->v[i].data);
	memmove(l->v, l->v + drop, (l->n - drop) * sizeof *l->v);
	l->n -= drop;
	l->base = upto;
}

void slog_reset(struct slog *l, uint64_t index, uint64_t term, uint64_t chain)
{
	slog_truncate(l, 0);
	l->n = 0;
	l->base = index;
	l->base_term = term;
	l->base_chain = chain;
}

void slog_free(struct slog *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].data);
	free(l->v);
	memset(l, 0, sizeof *l);
}

void slog_copy(struct slog *dst, const struct slog *src)
{
	slog_free(dst);
	dst->base = src->base;
	dst->base_term = src->base_term;
	dst->base_chain = src->base_chain;
	for (size_t i = 0; i < src->n; i++)
		slog_append(dst, &src->v[i]);
}

/* A snapshot installed on top of a log keeps the suffix if the log holds
 * the snapshot's last entry, else replaces everything. */
void slog_install(struct slog *l, const struct ssnap *s)
{
	struct sentry *e = slog_at(l, s->index);
	if (e && e->term == s->term && e->chain == s->chain)
		slog_compact(l, s->index);
	else if (!(l->base == s->index && l->base_chain == s->chain))
		slog_reset(l, s->index, s->term, s->chain);
}
