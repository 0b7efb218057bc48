/*
 * transfer.c - leadership transfer (§3.10, C14).
 *
 * The leader stops accepting proposals, brings the target's log up to date,
 * then sends TIMEOUT_NOW; the target campaigns at once, skipping PreVote and
 * flagging its vote requests so that voters who still hear the old leader
 * do not deny them (C9's bypass). If the target has not taken over within
 * an election timeout, the transfer is abandoned and proposals resume.
 */
#include "raft/internal.h"

int raft_transfer_leadership(struct raft *r, uint64_t target)
{
	if (r->role != RAFT_LEADER)
		return RAFT_ENOTLEADER;
	if (target == r->id)
		return RAFT_EINVAL;
	if (!raft__is_voter(r, target))
		return RAFT_ENOTVOTER;
	if (r->transferee == target)
		return 0;
	r->transferee = target;
	raft__read_lease_reset(r);
	r->lease_off = true;
	/* The abort deadline is one election timeout from now. */
	r->election_elapsed = 0;
	struct progress *p = raft__progress(r, target);
	raft__transfer_check(r, p);
	r->bcast_pending = true;
	return 0;
}

void raft__transfer_check(struct raft *r, struct progress *p)
{
	if (r->transferee != p->id || p->match != rlog_last_index(&r->log))
		return;
	raft__msg(r, RAFT_MSG_TIMEOUT_NOW, p->id);
}

void raft__transfer_abort(struct raft *r)
{
	r->transferee = RAFT_NONE;
}

void raft__step_timeout_now(struct raft *r, const struct raft_message *m)
{
	(void)m;
	if (r->role != RAFT_FOLLOWER)
		return;
	raft__hup(r, true);
}
