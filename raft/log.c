/*
 * log.c - the core's view of the Raft log.
 *
 * The core never holds payloads: per entry it keeps the term, the payload
 * size (for flow control) and the type (to find configuration changes), 16
 * bytes. Entries live in one array with a moving head so that compaction is
 * O(1) amortized and lookups are O(1). The entry just before the first one
 * described is the compaction point (snap_index, snap_term): the boundary
 * of a snapshot, or index 0 for a log that was never compacted.
 */
#include <stdlib.h>
#include <string.h>

#include "raft/internal.h"

void rlog_init(struct rlog *l, uint64_t snap_index, uint64_t snap_term)
{
	memset(l, 0, sizeof *l);
	l->snap_index = snap_index;
	l->snap_term = snap_term;
}

void rlog_free(struct rlog *l)
{
	free(l->ents);
	memset(l, 0, sizeof *l);
}

uint64_t rlog_last_index(const struct rlog *l)
{
	return l->snap_index + l->len;
}

uint64_t rlog_last_term(const struct rlog *l)
{
	return l->len ? l->ents[l->head + l->len - 1].term : l->snap_term;
}

const struct rlog_entry *rlog_at(const struct rlog *l, uint64_t index)
{
	if (index <= l->snap_index || index > rlog_last_index(l))
		return NULL;
	return &l->ents[l->head + (index - l->snap_index - 1)];
}

bool rlog_term(const struct rlog *l, uint64_t index, uint64_t *term)
{
	if (index == l->snap_index) {
		*term = l->snap_term;
		return true;
	}
	const struct rlog_entry *e = rlog_at(l, index);
	if (!e)
		return false;
	*term = e->term;
	return true;
}

uint64_t rlog_term_or0(const struct rlog *l, uint64_t index)
{
	uint64_t t = 0;
	return rlog_term(l, index, &t) ? t : 0;
}

void rlog_append(struct rlog *l, uint64_t term, uint32_t size, uint8_t type)
{
	assert(term >= rlog_last_term(l));
	if (l->head + l->len == l->cap) {
		/* Slide the live entries down before growing: compaction leaves
		 * room at the front. */
		if (l->head > 0 && l->head >= l->len) {
			memmove(l->ents, l->ents + l->head, l->len * sizeof *l->ents);
			l->head = 0;
		} else {
			size_t cap = l->cap ? l->cap * 2 : 64;
			l->ents = raft__xrealloc(l->ents, cap, sizeof *l->ents);
			l->cap = cap;
		}
	}
	struct rlog_entry *e = &l->ents[l->head + l->len++];
	e->term = term;
	e->size = size;
	e->type = type;
}

void rlog_truncate(struct rlog *l, uint64_t index)
{
	assert(index > l->snap_index);
	if (index > rlog_last_index(l))
		return;
	l->len = index - l->snap_index - 1;
}

void rlog_compact(struct rlog *l, uint64_t index)
{
	assert(index >= l->snap_index && index <= rlog_last_index(l));
	if (index == l->snap_index)
		return;
	uint64_t term = rlog_term_or0(l, index);
	size_t drop = (size_t)(index - l->snap_index);
	l->head += drop;
	l->len -= drop;
	l->snap_index = index;
	l->snap_term = term;
	if (l->len == 0)
		l->head = 0;
}

void rlog_reset(struct rlog *l, uint64_t index, uint64_t term)
{
	l->snap_index = index;
	l->snap_term = term;
	l->head = 0;
	l->len = 0;
}

uint64_t rlog_find_conflict_by_term(const struct rlog *l, uint64_t index, uint64_t term)
{
	uint64_t last = rlog_last_index(l);
	if (index > last)
		index = last;
	/* Terms only grow along the log, so walk back until one is <= term.
	 * This costs one step per entry of a skipped term, done locally; the
	 * network pays one round trip per term. */
	while (index > l->snap_index) {
		if (rlog_at(l, index)->term <= term)
			return index;
		index--;
	}
	return index;
}

bool rlog_up_to_date(const struct rlog *l, uint64_t last_term, uint64_t last_index)
{
	uint64_t t = rlog_last_term(l);
	return last_term > t || (last_term == t && last_index >= rlog_last_index(l));
}
