/*
 * progress.c - what the leader knows of each follower's log.
 *
 * A follower is in one of three states (etcd's tracker/state.go, canonical's
 * src/progress.h):
 *   probe      the match point is unknown: one append at a time, the next
 *              only after a response or a heartbeat round;
 *   replicate  the follower is in step: appends are pipelined, bounded by an
 *              in-flight window of messages and bytes;
 *   snapshot   the follower needs entries the leader has compacted: a
 *              snapshot is being streamed; appends wait.
 * The window is a ring of (last index, bytes) per unacknowledged append,
 * released in order as acknowledgements arrive.
 */
#include <stdlib.h>
#include <string.h>

#include "raft/internal.h"

void progress_init(struct progress *p, uint64_t id, bool learner, uint64_t next, unsigned cap)
{
	memset(p, 0, sizeof *p);
	p->id = id;
	p->learner = learner;
	p->state = RAFT_PROGRESS_PROBE;
	p->next = next;
	p->recent_active = true;
	p->infl_cap = cap ? cap : 1;
	p->infl = raft__xrealloc(NULL, p->infl_cap, sizeof *p->infl);
}

void progress_free(struct progress *p)
{
	free(p->infl);
	p->infl = NULL;
}

static void inflights_reset(struct progress *p)
{
	p->infl_start = 0;
	p->infl_count = 0;
	p->infl_bytes = 0;
}

void progress_become_probe(struct progress *p)
{
	if (p->state == RAFT_PROGRESS_SNAPSHOT) {
		/* The snapshot, if it arrived, covers up to pending_snapshot. */
		uint64_t n = p->pending_snapshot + 1;
		p->next = p->match + 1 > n ? p->match + 1 : n;
	} else {
		p->next = p->match + 1;
	}
	p->state = RAFT_PROGRESS_PROBE;
	p->pending_snapshot = 0;
	p->probe_sent = false;
	inflights_reset(p);
}

void progress_become_replicate(struct progress *p)
{
	p->state = RAFT_PROGRESS_REPLICATE;
	p->next = p->match + 1;
	p->pending_snapshot = 0;
	p->probe_sent = false;
	inflights_reset(p);
}

void progress_become_snapshot(struct progress *p, uint64_t index)
{
	p->state = RAFT_PROGRESS_SNAPSHOT;
	p->pending_snapshot = index;
	p->probe_sent = false;
	inflights_reset(p);
}

bool progress_inflights_full(const struct progress *p, uint64_t max_bytes)
{
	return p->infl_count == p->infl_cap || (max_bytes && p->infl_bytes >= max_bytes);
}

bool progress_is_paused(const struct progress *p, uint64_t max_bytes)
{
	switch (p->state) {
	case RAFT_PROGRESS_PROBE:
		return p->probe_sent;
	case RAFT_PROGRESS_REPLICATE:
		return progress_inflights_full(p, max_bytes);
	default:
		return true;
	}
}

void progress_inflights_add(struct progress *p, uint64_t index, uint64_t bytes)
{
	assert(p->infl_count < p->infl_cap);
	unsigned slot = (p->infl_start + p->infl_count) % p->infl_cap;
	p->infl[slot].index = index;
	p->infl[slot].bytes = bytes;
	p->infl_count++;
	p->infl_bytes += bytes;
}

void progress_inflights_free_to(struct progress *p, uint64_t index)
{
	while (p->infl_count > 0 && p->infl[p->infl_start].index <= index) {
		p->infl_bytes -= p->infl[p->infl_start].bytes;
		p->infl_start = (p->infl_start + 1) % p->infl_cap;
		p->infl_count--;
	}
	if (p->infl_count == 0)
		p->infl_start = 0;
}

bool progress_maybe_update(struct progress *p, uint64_t index)
{
	bool updated = false;
	if (p->match < index) {
		p->match = index;
		p->probe_sent = false;
		updated = true;
	}
	if (p->next < index + 1)
		p->next = index + 1;
	return updated;
}

bool progress_maybe_decr_to(struct progress *p, uint64_t rejected, uint64_t hint)
{
	if (p->state == RAFT_PROGRESS_REPLICATE) {
		/* A rejection at or below match is stale (reordered). Otherwise
		 * an append was lost or reordered: restart from match. */
		if (rejected <= p->match)
			return false;
		p->next = p->match + 1;
		return true;
	}
	/* In probe, only the answer to the latest probe counts. */
	if (p->next == 0 || p->next - 1 != rejected)
		return false;
	uint64_t next = hint + 1 < rejected ? hint + 1 : rejected;
	if (next < p->match + 1)
		next = p->match + 1;
	if (next < 1)
		next = 1;
	p->next = next;
	p->probe_sent = false;
	return true;
}
