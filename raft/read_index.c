/*
 * read_index.c - linearizable reads without writing to the log (§6.4, C12).
 *
 *   1. The leader waits until an entry of its current term is committed:
 *      before that it does not know the commit index (C5, trap T1). Reads
 *      arriving earlier are held ("gated").
 *   2. read index = commit index.
 *   3. A heartbeat round confirms that no other leader was elected
 *      meanwhile. Every heartbeat broadcast is a numbered round, and a
 *      follower's answer acknowledges that round and all earlier ones. All
 *      reads queued between two Readies share one round (started at once if
 *      no periodic heartbeat is due). A round is confirmed once a quorum of
 *      voters acknowledged it. A single-voter cluster skips the round.
 *
 * Lease reads (opt-in, C13) skip the round while a lease holds. The lease is
 * measured from when a confirmed round was *sent* (§6.4.1), not from the
 * last CheckQuorum: every voter that acknowledged it refuses votes for an
 * election timeout after receiving it (C9), so no other leader can exist
 * before sent + E ticks. We stop one tick short, which assumes clock rates
 * agree within a tick per election timeout. A leadership transfer's votes
 * bypass C9, and its TIMEOUT_NOW may arrive late, even after the transfer
 * was abandoned: once a leader starts a transfer it serves no lease read
 * for the rest of its term. A configuration change drops the lease, and
 * rounds sent before a drop never revive it.
 *   4./5. The host waits until applied >= read index, then reads.
 * A follower forwards the request to the leader and relays the answer; when
 * its leader changes, or an answer does not come within two election
 * timeouts, it fails the read (index 0) so the host retries at once.
 */
#include <string.h>

#include "raft/internal.h"

static void respond(struct raft *r, uint64_t from, uint64_t context, uint64_t index)
{
	if (from == RAFT_NONE) {
		raft__read_state(r, context, index);
		return;
	}
	struct raft_message *m = raft__msg(r, RAFT_MSG_READ_INDEX_RESPONSE, from);
	m->index = index;
	m->context = context;
	m->reject = index == 0;
}

static bool single_voter(const struct raft *r)
{
	return r->conf.n_voters == 1 && r->conf.voters[0] == r->id;
}

static bool lease_valid(const struct raft *r)
{
	return r->cfg.read_mode == RAFT_READ_LEASE && r->transferee == RAFT_NONE && !r->lease_off &&
	       r->ticks < r->lease_until;
}

static void serve(struct raft *r, uint64_t from, uint64_t context)
{
	if (single_voter(r) || lease_valid(r)) {
		respond(r, from, context, r->commit);
		return;
	}
	RAFT_GROW(r->reads, r->n_reads, r->cap_reads);
	struct read_req *q = &r->reads[r->n_reads++];
	q->from = from;
	q->context = context;
	q->index = r->commit;
	q->round = 0;
	r->read_round_needed = true;
}

static void leader_read(struct raft *r, uint64_t from, uint64_t context)
{
	if (!raft__committed_in_term(r)) {
		RAFT_GROW(r->gated, r->n_gated, r->cap_gated);
		struct read_req *q = &r->gated[r->n_gated++];
		memset(q, 0, sizeof *q);
		q->from = from;
		q->context = context;
		return;
	}
	serve(r, from, context);
}

int raft_read_index(struct raft *r, uint64_t context)
{
	if (r->role == RAFT_LEADER) {
		leader_read(r, RAFT_NONE, context);
		return 0;
	}
	if (r->leader == RAFT_NONE)
		return RAFT_ENOLEADER;
	struct raft_message *m = raft__msg(r, RAFT_MSG_READ_INDEX, r->leader);
	m->context = context;
	RAFT_GROW(r->fwd, r->n_fwd, r->cap_fwd);
	r->fwd[r->n_fwd].context = context;
	r->fwd[r->n_fwd].tick = r->ticks;
	r->n_fwd++;
	return 0;
}

void raft__read_commit_advanced(struct raft *r)
{
	if (r->n_gated == 0 || !raft__committed_in_term(r))
		return;
	size_t n = r->n_gated;
	r->n_gated = 0;
	for (size_t i = 0; i < n; i++)
		serve(r, r->gated[i].from, r->gated[i].context);
}

uint64_t raft__read_round_start(struct raft *r)
{
	r->read_round_needed = false;
	r->read_round++;
	r->round_tick[r->read_round % 64] = r->ticks;
	for (size_t i = 0; i < r->n_reads; i++)
		if (r->reads[i].round == 0)
			r->reads[i].round = r->read_round;
	return r->read_round;
}

void raft__read_lease_reset(struct raft *r)
{
	r->lease_until = 0;
	r->lease_floor = r->read_round;
}

void raft__read_flush(struct raft *r)
{
	if (!r->read_round_needed)
		return;
	raft__bcast_heartbeat(r);
	raft__read_check(r);
}

void raft__read_check(struct raft *r)
{
	if (r->role != RAFT_LEADER)
		return;
	if (r->n_reads == 0 && r->cfg.read_mode != RAFT_READ_LEASE)
		return;
	/* The highest round a quorum of voters acknowledged. */
	uint64_t *v = r->scratch;
	size_t n = 0;
	for (size_t i = 0; i < r->n_prs; i++) {
		const struct progress *p = &r->prs[i];
		if (p->learner)
			continue;
		uint64_t a = p->id == r->id ? r->read_round : p->read_acked;
		size_t j = n++;
		while (j > 0 && v[j - 1] < a) {
			v[j] = v[j - 1];
			j--;
		}
		v[j] = a;
	}
	if (n == 0)
		return;
	uint64_t confirmed = v[raft__quorum(r) - 1];
	if (confirmed > r->lease_floor && r->read_round - confirmed < 64 &&
	    r->cfg.election_ticks > 1) {
		uint64_t until = r->round_tick[confirmed % 64] + r->cfg.election_ticks - 1;
		if (until > r->lease_until)
			r->lease_until = until;
	}
	size_t done = 0;
	while (done < r->n_reads && r->reads[done].round != 0 &&
	       r->reads[done].round <= confirmed) {
		respond(r, r->reads[done].from, r->reads[done].context, r->reads[done].index);
		done++;
	}
	if (done) {
		memmove(r->reads, r->reads + done, (r->n_reads - done) * sizeof *r->reads);
		r->n_reads -= done;
	}
}

void raft__read_fail_all(struct raft *r)
{
	for (size_t i = 0; i < r->n_reads; i++)
		respond(r, r->reads[i].from, r->reads[i].context, 0);
	for (size_t i = 0; i < r->n_gated; i++)
		respond(r, r->gated[i].from, r->gated[i].context, 0);
	r->n_reads = 0;
	r->n_gated = 0;
	r->read_round_needed = false;
	r->lease_until = 0;
}

void raft__read_leader_changed(struct raft *r)
{
	for (size_t i = 0; i < r->n_fwd; i++)
		raft__read_state(r, r->fwd[i].context, 0);
	r->n_fwd = 0;
}

void raft__read_tick(struct raft *r)
{
	uint64_t limit = 2 * (uint64_t)r->cfg.election_ticks;
	size_t keep = 0;
	for (size_t i = 0; i < r->n_fwd; i++) {
		if (r->ticks - r->fwd[i].tick > limit)
			raft__read_state(r, r->fwd[i].context, 0);
		else
			r->fwd[keep++] = r->fwd[i];
	}
	r->n_fwd = keep;
}

void raft__step_read_index(struct raft *r, const struct raft_message *m)
{
	if (r->role == RAFT_LEADER)
		leader_read(r, m->from, m->context);
	else
		respond(r, m->from, m->context, 0);
}

void raft__step_read_index_response(struct raft *r, const struct raft_message *m)
{
	for (size_t i = 0; i < r->n_fwd; i++) {
		if (r->fwd[i].context != m->context)
			continue;
		raft__read_state(r, m->context, m->reject ? 0 : m->index);
		r->fwd[i] = r->fwd[--r->n_fwd];
		return;
	}
}
