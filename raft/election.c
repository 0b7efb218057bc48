/*
 * election.c - ticks, elections and role transitions (§3.4, §3.6.1, §9.6).
 *
 * A follower that hears nothing for its randomized timeout (drawn from
 * [E, 2E) after every reset) starts an election. With PreVote (§9.6) it
 * first asks, without touching any persistent state, whether a majority
 * would vote for it at term + 1; only then does it raise its term.
 *
 * A candidate counts its own vote only once the host reports the Ready that
 * carried (term, vote) durable: vote requests go out at once ("send now"),
 * so a crash before the write must not leave a vote that was counted but
 * never recorded (C1).
 *
 * Votes are answered without consulting the local configuration (§4.1, C7):
 * a learner promoted by an entry it has not yet applied still votes.
 * With CheckQuorum, a node that heard from a leader within the election
 * timeout ignores vote requests unless they come from a leadership transfer
 * (§4.2.3, C9); a leader steps down when a quorum has not answered within an
 * election timeout (§6.2, C11).
 */
#include "raft/internal.h"

void raft__reset_timeout(struct raft *r)
{
	unsigned e = r->cfg.election_ticks;
	r->election_elapsed = 0;
	r->heartbeat_elapsed = 0;
	r->randomized_timeout = e + (unsigned)(raft__rand(r) % e);
}

static void reset_votes(struct raft *r)
{
	for (size_t i = 0; i < r->n_prs; i++)
		r->prs[i].vote = 0;
	r->self_vote_counted = false;
}

/* Common to every transition: the term only grows, and the vote is cleared
 * only together with a term increase (T3). */
static void reset(struct raft *r, uint64_t term)
{
	assert(term >= r->term);
	if (term != r->term) {
		r->term = term;
		r->vote = RAFT_NONE;
	}
	raft__reset_timeout(r);
	raft__transfer_abort(r);
	reset_votes(r);
}

void raft__become_follower(struct raft *r, uint64_t term, uint64_t leader)
{
	bool was_leader = r->role == RAFT_LEADER;
	uint64_t old_leader = r->leader;
	reset(r, term);
	r->role = RAFT_FOLLOWER;
	r->leader = leader;
	if (was_leader)
		raft__read_fail_all(r);
	if (old_leader != leader)
		raft__read_leader_changed(r);
}

static void become_pre_candidate(struct raft *r)
{
	/* No term change, no vote change: PreVote touches nothing durable. */
	uint64_t old_leader = r->leader;
	raft__reset_timeout(r);
	reset_votes(r);
	r->role = RAFT_PRE_CANDIDATE;
	r->leader = RAFT_NONE;
	if (old_leader != RAFT_NONE)
		raft__read_leader_changed(r);
}

static void become_candidate(struct raft *r)
{
	uint64_t old_leader = r->leader;
	reset(r, r->term + 1);
	r->vote = r->id;
	r->role = RAFT_CANDIDATE;
	r->leader = RAFT_NONE;
	if (old_leader != RAFT_NONE)
		raft__read_leader_changed(r);
}

void raft__become_leader(struct raft *r)
{
	assert(r->role == RAFT_CANDIDATE);
	raft__reset_timeout(r);
	raft__transfer_abort(r);
	r->role = RAFT_LEADER;
	r->leader = r->id;

	uint64_t last = rlog_last_index(&r->log);
	for (size_t i = 0; i < r->n_prs; i++) {
		struct progress *p = &r->prs[i];
		p->match = 0;
		p->next = last + 1;
		p->state = RAFT_PROGRESS_PROBE;
		p->probe_sent = false;
		p->pending_snapshot = 0;
		p->recent_active = p->id == r->id;
		p->read_acked = 0;
		p->sent_commit = 0;
		progress_inflights_free_to(p, UINT64_MAX);
	}
	struct progress *self = raft__progress(r, r->id);
	if (self) {
		self->state = RAFT_PROGRESS_REPLICATE;
		self->match = r->stable;
	}

	/* etcd's becomeLeader: a change appended by an earlier leader may still
	 * be unapplied, so the next change waits until everything present at
	 * election is applied. */
	r->pending_conf_index = last;
	r->uncommitted_bytes = 0;
	r->uncommitted_from = last + 1;
	r->read_round_needed = false;
	raft__read_lease_reset(r);
	r->lease_off = false;

	/* §6.4 step 1 / C5: a no-op of the new term, so that the commit index
	 * becomes known (Figure 8: older entries commit only through it). */
	raft__append_local(r, RAFT_ENTRY_NORMAL, 0);
}

/* Counts votes among voters: 1 won, -1 lost, 0 pending. */
static int tally(struct raft *r)
{
	size_t granted = 0, rejected = 0, voters = 0;
	for (size_t i = 0; i < r->n_prs; i++) {
		const struct progress *p = &r->prs[i];
		if (p->learner)
			continue;
		voters++;
		if (p->vote > 0)
			granted++;
		else if (p->vote < 0)
			rejected++;
	}
	size_t q = raft__quorum(r);
	if (granted >= q)
		return 1;
	if (voters - rejected < q)
		return -1;
	return 0;
}

static void campaign(struct raft *r, bool pre, bool transfer);

static void evaluate(struct raft *r)
{
	int res = tally(r);
	if (res > 0) {
		if (r->role == RAFT_PRE_CANDIDATE)
			campaign(r, false, false);
		else if (r->self_vote_counted)
			/* Even with a majority of peers, lead only once our own
			 * term is durable: a leader that crashed before writing
			 * it could win the same term again after restart (its
			 * voters would grant the same candidate twice) and
			 * issue different entries under the same (index, term). */
			raft__become_leader(r);
	} else if (res < 0) {
		raft__become_follower(r, r->term, RAFT_NONE);
	}
}

static void campaign(struct raft *r, bool pre, bool transfer)
{
	uint64_t term;
	uint8_t type;
	if (pre) {
		become_pre_candidate(r);
		term = r->term + 1;
		type = RAFT_MSG_PRE_VOTE;
	} else {
		become_candidate(r);
		term = r->term;
		type = RAFT_MSG_VOTE;
	}
	for (size_t i = 0; i < r->n_prs; i++) {
		const struct progress *p = &r->prs[i];
		if (p->learner || p->id == r->id)
			continue;
		struct raft_message *m = raft__msg(r, type, p->id);
		m->term = term;
		m->index = rlog_last_index(&r->log);
		m->log_term = rlog_last_term(&r->log);
		m->transfer = transfer;
	}
	if (pre) {
		/* Our own pre-vote is volatile: count it now. */
		raft__progress(r, r->id)->vote = 1;
		evaluate(r);
	}
	/* A real vote counts once durable: raft__self_vote_durable(). */
}

void raft__self_vote_durable(struct raft *r)
{
	if (r->role != RAFT_CANDIDATE || r->self_vote_counted)
		return;
	if (r->durable_term != r->term || r->durable_vote != r->id)
		return;
	struct progress *self = raft__progress(r, r->id);
	if (!self)
		return;
	r->self_vote_counted = true;
	self->vote = 1;
	evaluate(r);
}

/* Configuration changes committed but not yet applied: with apply-time
 * semantics our view of the voters may be stale, so wait (etcd's hup). */
static bool conf_pending(const struct raft *r)
{
	for (uint64_t i = r->applied + 1; i <= r->commit; i++) {
		const struct rlog_entry *e = rlog_at(&r->log, i);
		if (e && e->type == RAFT_ENTRY_CONF_CHANGE)
			return true;
	}
	return false;
}

void raft__hup(struct raft *r, bool transfer)
{
	if (r->role == RAFT_LEADER || !raft__promotable(r) || conf_pending(r))
		return;
	campaign(r, r->cfg.pre_vote && !transfer, transfer);
}

int raft_campaign(struct raft *r)
{
	if (!raft__promotable(r))
		return RAFT_ENOTVOTER;
	if (r->role == RAFT_LEADER)
		return 0;
	/* Our own vote is bound by C9 like anyone's: voting for ourselves
	 * while we still hear a leader would cut its lease short. */
	if (r->cfg.read_mode == RAFT_READ_LEASE && r->leader != RAFT_NONE &&
	    r->election_elapsed < r->cfg.election_ticks)
		return RAFT_ENOTREADY;
	raft__hup(r, false);
	return 0;
}

void raft__tick_election(struct raft *r)
{
	if (r->election_elapsed < (1u << 30))
		r->election_elapsed++;
	if (raft__promotable(r) && r->election_elapsed >= r->randomized_timeout) {
		r->election_elapsed = 0;
		raft__hup(r, false);
	}
}

static bool quorum_active(const struct raft *r)
{
	size_t active = 0;
	for (size_t i = 0; i < r->n_prs; i++) {
		const struct progress *p = &r->prs[i];
		if (!p->learner && (p->recent_active || p->id == r->id))
			active++;
	}
	return active >= raft__quorum(r);
}

void raft__tick_heartbeat(struct raft *r)
{
	r->heartbeat_elapsed++;
	r->election_elapsed++;
	if (r->election_elapsed >= r->cfg.election_ticks) {
		r->election_elapsed = 0;
		if (r->cfg.check_quorum) {
			if (!quorum_active(r)) {
				raft__become_follower(r, r->term, RAFT_NONE);
				return;
			}
			for (size_t i = 0; i < r->n_prs; i++)
				if (r->prs[i].id != r->id)
					r->prs[i].recent_active = false;
		}
		/* C14: a transfer that did not finish within an election
		 * timeout is abandoned and proposals resume. */
		if (r->transferee != RAFT_NONE)
			raft__transfer_abort(r);
	}
	if (r->heartbeat_elapsed >= r->cfg.heartbeat_ticks) {
		r->heartbeat_elapsed = 0;
		raft__bcast_heartbeat(r);
	}
}

void raft__step_vote_request(struct raft *r, const struct raft_message *m)
{
	bool pre = m->type == RAFT_MSG_PRE_VOTE;
	/* C3: one vote per term; a pre-vote for a future term promises
	 * nothing, so it is judged on the log alone. */
	bool can_vote = r->vote == m->from || (r->vote == RAFT_NONE && r->leader == RAFT_NONE) ||
	                (pre && m->term > r->term);
	uint8_t type = pre ? RAFT_MSG_PRE_VOTE_RESPONSE : RAFT_MSG_VOTE_RESPONSE;
	if (can_vote && rlog_up_to_date(&r->log, m->log_term, m->index)) {
		struct raft_message *resp = raft__msg(r, type, m->from);
		resp->term = m->term;
		if (!pre) {
			r->election_elapsed = 0;
			r->vote = m->from;
		}
	} else {
		struct raft_message *resp = raft__msg(r, type, m->from);
		resp->reject = true;
	}
}

void raft__step_vote_response(struct raft *r, const struct raft_message *m)
{
	bool pre = m->type == RAFT_MSG_PRE_VOTE_RESPONSE;
	if (pre ? r->role != RAFT_PRE_CANDIDATE : r->role != RAFT_CANDIDATE)
		return;
	/* A granted pre-vote names the term we would campaign in. */
	if (pre && !m->reject && m->term != r->term + 1)
		return;
	struct progress *p = raft__progress(r, m->from);
	if (!p || p->learner || p->vote != 0)
		return;
	p->vote = m->reject ? -1 : 1;
	evaluate(r);
}
